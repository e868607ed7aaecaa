import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase } from './testing.ts';

test('database conventions are the same on PGlite and PostgreSQL', async () => {
  const db = await createTestDatabase();
  try {
    await db.exec('CREATE TABLE conv (id int8 PRIMARY KEY, doc jsonb, tags text[], at timestamptz)');
    await db.query('INSERT INTO conv VALUES ($1, $2::jsonb, $3::text[], $4)', [1, JSON.stringify({ a: [1, { b: 'x' }] }), ['a', 'b,c', 'd"e'], new Date('2026-01-02T03:04:05.678Z')]);
    const { rows } = await db.query<{ id: number; doc: unknown; tags: string[]; at: Date }>('SELECT * FROM conv');
    assert.equal(rows[0]!.id, 1);
    assert.deepEqual(rows[0]!.doc, { a: [1, { b: 'x' }] });
    assert.deepEqual(rows[0]!.tags, ['a', 'b,c', 'd"e']);
    assert.equal(rows[0]!.at.toISOString(), '2026-01-02T03:04:05.678Z');
    await assert.rejects(db.transaction(async (tx) => {
      await tx.query('INSERT INTO conv (id) VALUES (2)');
      throw new Error('boom');
    }));
    const n = await db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM conv');
    assert.equal(n.rows[0]!.n, 1, 'a failed transaction changes nothing');
    assert.equal(await db.ping(), true);
  } finally {
    await db.close();
  }
});

test('an embedded data directory is used by one process at a time (lock file beside it, stale locks taken over)', async () => {
  const { mkdtempSync, writeFileSync, existsSync, readFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { spawnSync } = await import('node:child_process');
  const { openPGlite } = await import('./pglite.ts');
  const root = mkdtempSync(join(tmpdir(), 'tessera-lock-'));
  const dir = join(root, 'pg');
  try {
    // A live process holds it (our parent, the test runner, is alive): refused with a clear message.
    writeFileSync(`${dir}.lock`, String(process.ppid));
    await assert.rejects(openPGlite({ dataDir: dir }), /in use by process \d+/);
    // A process that is gone left it: taken over, and released on close.
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    writeFileSync(`${dir}.lock`, gone);
    const db = await openPGlite({ dataDir: dir });
    assert.equal(readFileSync(`${dir}.lock`, 'utf8'), String(process.pid));
    await db.query('SELECT 1');
    await db.close();
    assert.equal(existsSync(`${dir}.lock`), false);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
