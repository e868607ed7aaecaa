// Random mutations of the HL7 v2 and NCPDP corpora (seeded, so failures reproduce): the converters must
// return a ConversionResult for every input — never throw, never hang, never emit an invalid bundle entry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertHl7v2, convertHl7v2Batch, parseHl7v2, buildAck } from '../../../src/documents/hl7v2/index.ts';
import { convertNcpdp } from '../../../src/documents/ncpdp/index.ts';
import type { ConversionResult } from '../../../src/documents/types.ts';
import { seededRandom } from '../../../src/platform/random.ts';
import { validateResource } from '../../../src/fhir/validation/index.ts';

// The HL7 v2 converter emits every resource valid by construction (not run through the validator by
// default): the fuzz cases check that claim with the validator on everything it emits.
function checkByConstruction(r: ConversionResult, label: string): number {
  let n = 0;
  for (const e of r.bundle.entry) {
    n++;
    const errors = validateResource(e.resource).filter((i) => i.severity === 'error');
    assert.deepEqual(errors, [], `${label}: ${e.resource.resourceType} emitted without validation is invalid: ${JSON.stringify(e.resource)}`);
  }
  return n;
}

const HERE = fileURLToPath(new URL('.', import.meta.url));
const CORPORA = resolve(HERE, '../../../../shared/corpora');
const SEED = Number(process.env.FUZZ_SEED ?? 20240611);
const HL7_CASES = Number(process.env.FUZZ_HL7_CASES ?? 3000);
const NCPDP_CASES = Number(process.env.FUZZ_NCPDP_CASES ?? 1000);

function files(dir: string, ext: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const n of readdirSync(dir).sort()) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) files(p, ext, out);
    else if (n.endsWith(ext)) out.push(p);
  }
  return out;
}

const rng = seededRandom;

function mutate(src: string, rand: () => number, alphabet: string[]): string {
  let s = src;
  const rounds = 1 + Math.floor(rand() * 6);
  for (let k = 0; k < rounds; k++) {
    const i = Math.floor(rand() * (s.length + 1));
    const j = Math.min(s.length, i + Math.floor(rand() * 64));
    switch (Math.floor(rand() * 9)) {
      case 0: s = s.slice(0, i) + s.slice(j); break; // delete a range
      case 1: s = s.slice(0, i) + s.slice(i, j) + s.slice(i); break; // duplicate a range
      case 2: s = s.slice(0, i) + alphabet[Math.floor(rand() * alphabet.length)]! + s.slice(i); break; // insert a delimiter
      case 3: s = s.slice(0, i) + String.fromCharCode(Math.floor(rand() * 0x3000)) + s.slice(i + 1); break; // replace a char
      case 4: s = s.slice(0, i); break; // truncate
      case 5: s = s.slice(0, i) + s.slice(i, j).repeat(1 + Math.floor(rand() * 50)) + s.slice(j); break; // repeat a range
      case 6: s = s.slice(0, i) + s.slice(i, j).replace(/\d/g, () => String(Math.floor(rand() * 10))) + s.slice(j); break; // digits
      case 7: { // swap two ranges
        const a = s.slice(i, j);
        const p = Math.floor(rand() * (s.length + 1));
        s = s.slice(0, i) + s.slice(j);
        s = s.slice(0, p) + a + s.slice(p);
        break;
      }
      default: s = s.slice(0, i) + alphabet[Math.floor(rand() * alphabet.length)]!.repeat(1 + Math.floor(rand() * 200)) + s.slice(i); // delimiter run
    }
  }
  return s;
}

function checkResult(r: ConversionResult, label: string): void {
  assert.equal(typeof r.ok, 'boolean', label);
  assert.equal(r.bundle.resourceType, 'Bundle', label);
  assert.equal(r.outcome.resourceType, 'OperationOutcome', label);
  assert.ok(r.outcome.issue.length > 0, label);
  if (!r.ok) assert.equal(r.bundle.entry.length, 0, `${label}: a failed conversion must not carry a partial bundle`);
  for (const e of r.bundle.entry) {
    assert.ok(typeof e.resource.resourceType === 'string' && /^[A-Za-z0-9\-.]{1,64}$/.test(e.resource.id ?? ''), label);
  }
}

const hl7Sources = files(join(CORPORA, 'hl7v2'), '.hl7').map((f) => readFileSync(f, 'utf8'));
const ncpdpSources = [
  ...files(join(CORPORA, 'ncpdp'), '.xml'), ...files(resolve(HERE, '../../fixtures/ncpdp'), '.xml'),
].map((f) => readFileSync(f, 'utf8'));

test(`HL7 v2: ${HL7_CASES} mutated messages never throw (seed ${SEED})`, { skip: hl7Sources.length === 0 && 'corpus absent' }, () => {
  const rand = rng(SEED);
  const alphabet = ['|', '^', '~', '\\', '&', '\r', '\n', '\r\n', 'MSH|^~\\&|', '\rPID|', '\rOBX|1|NM|', '\\X', '""', '\u000b', '\u001c', '\uD800', '\uDFFF'];
  let ok = 0;
  let checked = 0;
  for (let n = 0; n < HL7_CASES; n++) {
    const src = hl7Sources[Math.floor(rand() * hl7Sources.length)]!;
    const input = mutate(src, rand, alphabet);
    const label = `hl7 case ${n}`;
    try {
      const r = n % 4 === 0 ? convertHl7v2Batch(input) : [convertHl7v2(input)];
      for (const x of r) {
        checkResult(x, label);
        checked += checkByConstruction(x, label);
        // A segment that failed with an exception is a converter bug, even though the message survives it.
        const bug = x.outcome.issue.find((i) => i.code === 'exception');
        assert.equal(bug, undefined, `${label}: ${bug?.diagnostics}\ninput: ${JSON.stringify(input.slice(0, 300))}`);
        if (x.ok) ok++;
      }
      if (n % 10 === 0) buildAck(parseHl7v2(input), 'AE', 'fuzz');
    } catch (e) {
      assert.fail(`${label} threw: ${(e as Error).stack}\ninput: ${JSON.stringify(input.slice(0, 500))}`);
    }
  }
  assert.ok(ok > HL7_CASES / 4, `only ${ok} conversions succeeded; mutations should mostly stay convertible`);
  assert.ok(checked > HL7_CASES, `only ${checked} valid-by-construction resources checked`);
});

test(`NCPDP: ${NCPDP_CASES} mutated messages never throw (seed ${SEED})`, { skip: ncpdpSources.length === 0 && 'corpus absent' }, () => {
  const rand = rng(SEED + 1);
  const alphabet = ['<', '>', '&', '</', '/>', '<MedicationDispensed>', '<Patient>', '&amp;', '&#x', ']]>', '<!DOCTYPE x>', '"', '\u0000'];
  for (let n = 0; n < NCPDP_CASES; n++) {
    const input = mutate(ncpdpSources[Math.floor(rand() * ncpdpSources.length)]!, rand, alphabet);
    try {
      checkResult(convertNcpdp(input, { asOf: '2024-12-01T00:00:00Z' }), `ncpdp case ${n}`);
    } catch (e) {
      assert.fail(`ncpdp case ${n} threw: ${(e as Error).stack}\ninput: ${JSON.stringify(input.slice(0, 500))}`);
    }
  }
});
