import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { upiCommand } from '../../src/upi/cli.ts';

async function run(argv: string[]): Promise<{ code: number; stderr: string }> {
  const chunks: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((c: string | Uint8Array) => (chunks.push(String(c)), true)) as typeof process.stderr.write;
  try {
    return { code: await upiCommand(argv), stderr: chunks.join('') };
  } finally {
    process.stderr.write = write;
  }
}

test('upi link: maps columns (several into one field), writes record_id,upid, reports metrics', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'upi-cli-'));
  try {
    const csv = join(dir, 'people.csv');
    writeFileSync(csv, '\ufeffid,first,last,dob,num,street,zip,who\n' +
      'a1,Robert,Allen,1971-06-24,12,Oak Street,62701,1\n' +
      'a2,Bob,"Allen",19710624,12,"Oak St, Apt 3",62701-4411,1\n' +
      'b1,Jacob,Allen,2001-02-03,12,Oak St,62701,2\n' +
      'b2,Ethan,Allen,2001-02-03,12,Oak St,62701,3\n');
    const out = join(dir, 'out.csv');
    const { code, stderr } = await run(['link', csv, '--map', 'first=given,last=family,dob=birthDate', '--map', 'num=line', '--map', 'street=line', '--map', 'zip=postalCode', '--id', 'id', '--truth', 'who', '--out', out]);
    assert.equal(code, 0, stderr);
    const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => l.split(','));
    assert.deepEqual(rows[0], ['record_id', 'upid']);
    const upid = Object.fromEntries(rows.slice(1).map(([id, u]) => [id, u]));
    assert.equal(upid.a1, upid.a2);
    assert.notEqual(upid.b1, upid.b2); // twins
    assert.notEqual(upid.a1, upid.b1);
    assert.match(stderr, /pairwise precision 1\.0000\s+recall 1\.0000/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('upi link: usage errors exit 2 with a message', async () => {
  assert.equal((await run(['link'])).code, 2);
  const bad = await run(['link', 'x.csv', '--map', 'a=nosuchfield']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /nosuchfield/);
  const dir = mkdtempSync(join(tmpdir(), 'upi-cli-'));
  try {
    writeFileSync(join(dir, 'p.csv'), 'a,b\n1,2\n');
    const missing = await run(['link', join(dir, 'p.csv'), '--map', 'given_name=given']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /given_name/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
