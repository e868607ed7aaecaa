// HL7 v2 and NCPDP SCRIPT cases: every message of ../shared/corpora/hl7v2 (batches split into
// messages) and every NCPDP fixture (corpus + test/fixtures/ncpdp). The HL7 v2 peer is
// @medplum/core's Hl7Message.parse (parse only: no FHIR conversion exists there), so the table also
// shows our parse with every field split the way the peer's is, to compare like with like, and, as a
// floor, JSON.parse of the bundles we produce.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hl7Message } from '@medplum/core';
import { convertHl7v2, isHl7Error, parseHl7v2, splitMessages } from '../../src/documents/hl7v2/index.ts';
import { convertNcpdp } from '../../src/documents/ncpdp/index.ts';
import type { BenchCase } from './harness.ts';

const CORPORA = resolve(fileURLToPath(new URL('../../../shared/corpora', import.meta.url)));
const OUR_NCPDP = resolve(fileURLToPath(new URL('../../test/fixtures/ncpdp', import.meta.url)));

/** Files under `dir` (recursively, sorted) whose names end with `ext`; none when `dir` is absent. */
export function files(dir: string, ext: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith(ext)) out.push(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

export function hl7v2Cases(): BenchCase[] {
  const dir = join(CORPORA, 'hl7v2');
  if (!existsSync(dir)) return [];
  const messages = files(dir, '.hl7').flatMap((f) => splitMessages(readFileSync(f, 'utf8')));
  const subjects = [...hl7Subjects(), outputFloor(messages)];
  return [
    { title: 'HL7 v2 → FHIR (every corpus message)', inputs: messages, unit: 'messages', subjects },
    // Most corpus messages are test messages that fill nearly every field (up to 8.6 KB, 55 resources);
    // feeds mostly send 0.5–2 KB ADT messages, measured apart.
    { title: 'HL7 v2 → FHIR (corpus messages under 2 KB)', inputs: messages.filter((m) => m.length < 2000), unit: 'messages', subjects },
  ];
}

function hl7Subjects(): BenchCase['subjects'] {
  return [
    // Default: every HL7 v2 resource is valid by construction (no validator; a size check only for very long
    // messages), so it is the same path as 'off'; 'all' runs the validator on every resource.
    { name: 'tessera convertHl7v2 (parse, convert, validate; default)', run: (x: string) => { const r = convertHl7v2(x); return r.ok ? r.bundle.entry.length : false; } },
    { name: "tessera convertHl7v2, validate: 'all'", run: (x: string) => { const r = convertHl7v2(x, { validate: 'all' }); return r.ok ? r.bundle.entry.length : false; } },
    { name: 'tessera convertHl7v2, validation off', run: (x: string) => { const r = convertHl7v2(x, { validate: false }); return r.ok ? r.bundle.entry.length : false; } },
    // Our parse is lazy (fields split when first read): alone it measures little more than line splitting.
    { name: 'tessera parseHl7v2 (parse only, lazy)', run: (x: string) => !isHl7Error(parseHl7v2(x)) },
    // Like for like with the peer's parse, which splits every field into repetitions and components.
    { name: 'tessera parseHl7v2, every field split into repetitions and components', run: (x: string) => {
      const m = parseHl7v2(x);
      if (isHl7Error(m)) return false;
      let n = 0;
      for (const seg of m.segments) for (let i = 1; i < seg.fields.length; i++) for (const f of seg.reps(i)) n += f.components().length;
      return n > 0;
    } },
    // Medplum splits on CR only; give it CR-separated text so it is measured on what it supports.
    { name: '@medplum/core 4.5.2 Hl7Message.parse (parse only)', run: (x: string) => Hl7Message.parse(x.replace(/\r?\n/g, '\r')).segments.length > 0 },
  ];
}

/**
 * Not a converter: JSON.parse of the bundle tessera builds for each message, i.e. the cost of materialising the
 * output objects alone (no HL7 parsing, no mapping, no ids). A floor the conversion is compared with.
 */
function outputFloor(messages: string[]): BenchCase['subjects'][number] {
  const json = new Map<string, string>();
  for (const m of messages) {
    const r = convertHl7v2(m);
    if (r.ok) json.set(m, JSON.stringify(r.bundle));
  }
  return { name: 'reference: JSON.parse of the bundle tessera builds (output objects alone)', run: (x: string) => {
    const j = json.get(x);
    return j === undefined ? false : (JSON.parse(j) as { entry: unknown[] }).entry.length;
  } };
}

export function ncpdpCases(): BenchCase[] {
  const inputs = [...files(join(CORPORA, 'ncpdp'), '.xml'), ...files(OUR_NCPDP, '.xml')].map((f) => readFileSync(f, 'utf8'));
  if (inputs.length === 0) return [];
  return [{
    title: 'NCPDP SCRIPT → FHIR (corpus + RxHistoryResponse fixtures)',
    inputs,
    unit: 'messages',
    subjects: [
      { name: 'tessera convertNcpdp', run: (x: string) => { const r = convertNcpdp(x, { patientReference: 'Patient/p' }); return r.ok ? r.bundle.entry.length : false; } },
    ],
  }];
}
