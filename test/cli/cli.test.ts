// The `tessera` command as an operator runs it: a real subprocess through bin/tessera.js.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CORPORA } from '../../src/networks/sim/cli.ts';

const root = new URL('../../', import.meta.url).pathname;
const run = (args: string[], input?: string) => spawnSync(process.execPath, [join(root, 'bin/tessera.js'), ...args], { cwd: root, input, encoding: 'utf8', timeout: 120_000 });

test('help lists every operator command; unknown commands fail', () => {
  const r = run(['--help']);
  assert.equal(r.status, 0);
  for (const c of ['serve', 'worker', 'migrate', 'network-sim', 'builder', 'client', 'grant', 'convert', 'jq', 'upi']) assert.match(r.stdout, new RegExp(`\\b${c}\\b`));
  assert.equal(run(['frobnicate']).status, 2);
});

test('jq evaluates a filter over stdin like the jq command', () => {
  const r = run(['jq', '.entry[] | .resource.resourceType'], '{"entry":[{"resource":{"resourceType":"Patient"}},{"resource":{"resourceType":"Observation"}}]}');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['"Patient"', '"Observation"']);
});

test('convert prints a FHIR collection bundle', { skip: existsSync(DEFAULT_CORPORA) ? false : 'corpora not found' }, () => {
  const file = join(DEFAULT_CORPORA, 'ccda/ms-fhir-converter/SampleData/Ccda/CCD.ccda');
  const r = run(['convert', 'ccda', file]);
  assert.equal(r.status, 0, r.stderr);
  const bundle = JSON.parse(r.stdout);
  assert.equal(bundle.resourceType, 'Bundle');
  assert.equal(bundle.type, 'collection');
  assert.ok(bundle.entry.some((e: { resource: { resourceType: string } }) => e.resource.resourceType === 'Patient'));
  const s = run(['convert', 'ccda', '--summary', file]);
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stdout, /Patient/);
});
