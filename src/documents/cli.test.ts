import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertCommand, type ConvertIo } from './cli.ts';

const DOC = `<ClinicalDocument xmlns="urn:hl7-org:v3"><id root="1.2.3" extension="d1"/><code code="34133-9" codeSystem="2.16.840.1.113883.6.1"/><title>T</title><effectiveTime value="20200301"/>
<recordTarget><patientRole><id root="1.2.3.4" extension="p1"/><patient><name><given>A</given><family>B</family></name><administrativeGenderCode code="M"/><birthTime value="19800101"/></patient></patientRole></recordTarget>
<author><time value="20200301"/><assignedAuthor><id root="2.16.840.1.113883.4.6" extension="1234567893"/><assignedPerson><name><family>Doc</family></name></assignedPerson></assignedAuthor></author>
<component><structuredBody/></component></ClinicalDocument>`;

function capture(stdin = ''): ConvertIo & { out: string; err: string } {
  const io = { out: '', err: '', stdout: (s: string) => { io.out += s; }, stderr: (s: string) => { io.err += s; }, readStdin: async () => stdin };
  return io;
}

describe('tessera convert', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-convert-'));
  const good = join(dir, 'a.xml');
  const bad = join(dir, 'b.xml');
  writeFileSync(good, DOC);
  writeFileSync(bad, '<ClinicalDocument>');
  mkdirSync(join(dir, 'folder'));
  writeFileSync(join(dir, 'folder', 'x.xml'), DOC);
  writeFileSync(join(dir, 'folder', 'y.ccda'), DOC);

  test('one input → pretty Bundle JSON, exit 0', async () => {
    const io = capture();
    assert.equal(await convertCommand(['ccda', good], io), 0);
    const bundle = JSON.parse(io.out);
    assert.equal(bundle.resourceType, 'Bundle');
    assert.equal(bundle.type, 'collection');
    assert.ok(io.out.includes('\n  "'));
  });

  test('a folder → NDJSON, one bundle per line', async () => {
    const io = capture();
    assert.equal(await convertCommand(['ccda', join(dir, 'folder')], io), 0);
    const lines = io.out.trim().split('\n');
    assert.equal(lines.length, 2);
    for (const l of lines) assert.equal(JSON.parse(l).resourceType, 'Bundle');
  });

  test('--summary with a failing input → one line each, exit 1', async () => {
    const io = capture();
    assert.equal(await convertCommand(['ccda', good, bad, '--summary'], io), 1);
    const lines = io.out.trim().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0], /\tok\tresources=\d+ .*Patient=1.*\tdropped=0\terrors=0/);
    assert.match(lines[1], /\tFAILED\t.*errors=1 \(/);
  });

  test('stdin and usage errors', async () => {
    const io = capture(DOC);
    assert.equal(await convertCommand(['ccda', '-'], io), 0);
    assert.equal(JSON.parse(io.out).type, 'collection');
    assert.equal(await convertCommand(['pdf', good], capture()), 2);
    assert.equal(await convertCommand(['ccda'], capture()), 2);
    const missing = capture();
    assert.equal(await convertCommand(['ccda', join(dir, 'nope.xml')], missing), 1);
    assert.match(missing.err, /cannot read/);
  });

  test('hl7v2 and ncpdp dispatch to their converters', async () => {
    const v2 = join(dir, 'adt.hl7');
    writeFileSync(v2, 'MSH|^~\\&|A|B|C|D|20200101120000||ADT^A01|1|P|2.5\rPID|1||123^^^H^MR||Doe^John||19800101|M\rPV1|1|I\r');
    const io = capture();
    assert.equal(await convertCommand(['hl7v2', v2, '--summary'], io), 0);
    assert.match(io.out, /Patient=1/);
    const nc = capture();
    await convertCommand(['ncpdp', bad, '--summary'], nc);
    assert.match(nc.out, /FAILED/);
  });
});
