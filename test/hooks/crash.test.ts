// Crash test: worker processes running the dispatcher and deliveries are SIGKILLed again and again while 10,000
// resources are written by 8 concurrent writers. Afterwards every (resource, hook) pair whose filter matches
// was delivered at least once, and nothing that does not match was ever delivered.
// Needs PostgreSQL (DATABASE_URL): PGlite is one process's embedded database and cannot be shared with a
// worker process. CI runs the suite on PostgreSQL too, where this test runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { openPostgres } from '../../src/db/postgres.ts';
import { migrate } from '../../src/db/migrate.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { loadKeyRing } from '../../src/access/keys.ts';
import { HookStore } from '../../src/hooks/index.ts';
import { startReceiver, writeResources } from './helpers.ts';

const url = process.env.DATABASE_URL;
const TOTAL = Number(process.env.HOOKS_CRASH_RESOURCES ?? 10_000);
const workerScript = fileURLToPath(new URL('./crash-worker.ts', import.meta.url));

interface Obs { code: string; value: number; seq: number }
const hooksSpec: { filter: string; builder: 'A' | 'B'; matches: (o: Obs) => boolean }[] = [
  { builder: 'A', filter: '.resourceType == "Observation" and .valueQuantity.value > 90', matches: (o) => o.value > 90 },
  { builder: 'A', filter: '.code.coding[0].code == "8867-4"', matches: (o) => o.code === '8867-4' },
  { builder: 'A', filter: '(.identifier[0].value | tonumber) % 13 == 0', matches: (o) => o.seq % 13 === 0 },
  { builder: 'A', filter: 'false', matches: () => false },
  // another builder's hook: A's resources must never reach it
  { builder: 'B', filter: 'true', matches: () => false },
];

test('SIGKILLed workers lose nothing and invent nothing', { skip: url ? false : 'needs DATABASE_URL (PostgreSQL): PGlite cannot be shared between processes', timeout: 240_000 }, async () => {
  const schema = `t_crash_${randomBytes(5).toString('hex')}`;
  const admin = await openPostgres({ url: url!, max: 1 });
  await admin.exec(`CREATE SCHEMA ${schema}`);
  const db = await openPostgres({ url: url!, schema, max: 12 });
  const rx = await startReceiver();
  const children = new Set<ChildProcess>();
  let kills = 0;
  try {
    await migrate(db);
    const keys = await loadKeyRing(db, undefined);
    const store = new HookStore(db, systemClock, keys, { allowHttp: true, allowPrivateTargets: true });
    const builders = { A: randomUUID(), B: randomUUID() };
    const hookIds: string[] = [];
    for (const [i, spec] of hooksSpec.entries()) {
      const { hook } = await store.create(builders[spec.builder], { webhookUrl: `${rx.url}/h/${i}`, filter: spec.filter, auth: { type: 'basic', username: 'u', password: 'p' } });
      hookIds.push(hook.id);
    }

    let writing = true;
    const MIN_KILLS = 5;
    /** Starts a worker; while writes go on (and until MIN_KILLS), it is SIGKILLed 0.2-1.5 s after it is ready and replaced. */
    const spawnWorker = (chaos: boolean) => {
      const child = spawn(process.execPath, ['--import', 'tsx', workerScript], {
        env: { ...process.env, DATABASE_URL: url, HOOKS_SCHEMA: schema, NODE_ENV: 'test' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.add(child);
      child.on('exit', () => children.delete(child));
      child.stdout!.once('data', () => {
        if (!chaos) return;
        setTimeout(() => {
          if ((!writing && kills >= MIN_KILLS) || child.exitCode !== null) return;
          if (child.kill('SIGKILL')) kills++;
          spawnWorker(true);
        }, 200 + Math.random() * 1300);
      });
      return child;
    };
    // Two workers at a time, each killed soon after it starts working.
    spawnWorker(true);
    spawnWorker(true);

    const observations: Obs[] = [];
    const ids: string[] = [];
    let next = 0;
    // 8 concurrent writers, 20 resources per transaction: commits interleave, so the outbox has in-flight gaps.
    const writer = async () => {
      for (;;) {
        const first = next;
        next += 20;
        if (first >= TOTAL) return;
        const batch: Obs[] = [];
        for (let seq = first; seq < Math.min(first + 20, TOTAL); seq++) {
          const o: Obs = { seq, code: seq % 20 === 0 ? '8867-4' : '29463-7', value: (seq * 37) % 100 };
          observations[seq] = o;
          batch.push(o);
        }
        const written = await writeResources(db, batch.map((o) => ({
          resourceType: 'Observation', builderId: builders.A, upid: `upid-${o.seq % 50}`,
          content: { status: 'final', identifier: [{ value: String(o.seq) }], code: { coding: [{ system: 'http://loinc.org', code: o.code }] }, valueQuantity: { value: o.value } },
        })));
        written.forEach((w, i) => (ids[batch[i]!.seq] = w.id));
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 8 }, writer));
    writing = false;
    const writeSeconds = (performance.now() - t0) / 1000;
    while (kills < MIN_KILLS) await new Promise((r) => setTimeout(r, 100));

    // One last worker finishes the backlog (claims of killed workers become due when their leases end).
    for (const c of children) c.kill('SIGKILL');
    const finisher = spawnWorker(false);
    const deadline = Date.now() + 90_000;
    for (;;) {
      const state = await db.query<{ pending: number; behind: number }>(
        `SELECT (SELECT count(*)::int FROM queue_jobs WHERE status = 'pending') AS pending,
                (SELECT count(*)::int FROM outbox WHERE seq > (SELECT last_seq FROM hook_dispatch_cursor WHERE name = 'hooks')) AS behind`);
      const s = state.rows[0]!;
      if (s.pending === 0 && s.behind === 0) break;
      if (Date.now() > deadline) {
        const f = await db.query('SELECT last_error, count(*)::int AS n FROM queue_jobs WHERE status = $1 GROUP BY 1', ['pending']);
        throw new Error(`not drained: ${JSON.stringify(s)} ${JSON.stringify(f.rows)}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    finisher.kill('SIGKILL');
    const drainSeconds = (performance.now() - t0) / 1000 - writeSeconds;

    const expected = new Set<string>();
    for (const [i, spec] of hooksSpec.entries()) {
      for (const o of observations) if (spec.matches(o)) expected.add(`${i} Observation/${ids[o.seq]}`);
    }
    const received = new Map<string, number>();
    const messageIds = new Map<string, Set<string>>();
    for (const r of rx.requests) {
      const key = `${r.path.split('/').pop()} ${r.json.resourceId}`;
      received.set(key, (received.get(key) ?? 0) + 1);
      messageIds.set(key, (messageIds.get(key) ?? new Set()).add(r.json.message_id));
    }
    const missing = [...expected].filter((k) => !received.has(k));
    const unexpected = [...received.keys()].filter((k) => !expected.has(k));
    const duplicates = [...received.values()].filter((n) => n > 1).length;
    const { rows: [dbState] } = await db.query<{ jobs: number; dup: number }>(
      `SELECT count(*)::int AS jobs, (SELECT count(*)::int FROM (SELECT dedupe_key FROM queue_jobs GROUP BY dedupe_key HAVING count(*) > 1) d) AS dup FROM queue_jobs`);
    console.log(`# crash test: ${TOTAL} writes in ${writeSeconds.toFixed(1)} s (drained ${drainSeconds.toFixed(1)} s later), ${kills} SIGKILLs, ${expected.size} expected deliveries, ${rx.requests.length} requests received, ${duplicates} pairs delivered more than once, ${dbState!.jobs} delivery rows`);
    assert.ok(kills >= MIN_KILLS, `workers were killed (${kills})`);
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} matching pairs never delivered`);
    assert.deepEqual(unexpected.slice(0, 5), [], `${unexpected.length} non-matching pairs delivered`);
    assert.equal(dbState!.jobs, expected.size, 'exactly one delivery recorded per (event, hook)');
    assert.equal(dbState!.dup, 0);
    for (const [k, set] of messageIds) assert.equal(set.size, 1, `one message_id per delivery (${k})`);
    assert.equal(hookIds.length, hooksSpec.length);
  } finally {
    for (const c of children) c.kill('SIGKILL');
    await rx.close();
    await db.close();
    await admin.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await admin.close();
  }
});
