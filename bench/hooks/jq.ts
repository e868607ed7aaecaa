// Filter evaluations per second for typical hook filters on real (Synthea) resources, next to
// hand-written JavaScript predicates doing the same test. Run: npm run bench:jq
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cpus } from 'node:os';
import { compileJq } from '../../src/hooks/jq/index.ts';

const root = resolve(new URL('../..', import.meta.url).pathname, '../shared/corpora/synthea/R4/SYNTHEA');
if (!existsSync(root)) {
  console.log(`synthea corpus not found at ${root}; skipping`);
  process.exit(0);
}
type R = Record<string, any>;
const bundles: R[] = readdirSync(root).filter((f) => f.endsWith('.json')).slice(0, 10)
  .map((f) => JSON.parse(readFileSync(join(root, f), 'utf8')));
const all: R[] = bundles.flatMap((b) => b.entry.map((e: R) => e.resource));
const SOURCE_TAG = { system: 'https://zusapi.com/thirdparty/source', code: 'bamboohealth' };
const UPID_URL = 'https://zusapi.com/fhir/identifier/universal-id';
// Give a share of the resources the Zus meta tag / UPID extension the filters look for.
all.forEach((r, i) => {
  if (i % 3 === 0) r.meta = { ...(r.meta ?? {}), tag: [{ system: 'http://example.org/x', code: 'y' }, ...(i % 6 === 0 ? [SOURCE_TAG] : [])] };
  if (i % 4 === 0) r.extension = [...(r.extension ?? []), { url: UPID_URL, valueString: ['a', 'b', 'c', 'z'][i % 4 === 0 ? (i / 4) % 4 : 0] }];
});
const pick = (type: string, n: number) => all.filter((r) => r.resourceType === type).slice(0, n);
// Synthea has no heart-rate (8867-4) observations: relabel every fourth one so the §6 filters match sometimes.
const observations = pick('Observation', 200).map((o, i) => (i % 4 === 0 ? { ...o, code: { ...o.code, coding: [{ ...o.code.coding[0], code: '8867-4' }] } } : o));
const encounters = pick('Encounter', 100);
const mixed = [...observations.slice(0, 100), ...encounters, ...pick('Condition', 50), ...pick('Patient', 10), ...pick('Procedure', 40)];
const sizeOf = (rs: R[]) => Math.round(rs.reduce((n, r) => n + JSON.stringify(r).length, 0) / rs.length);

interface Case { name: string; filter: string; inputs: R[]; js: (r: R) => boolean; run?: boolean }
const anyCoding = (r: R, f: (c: R) => boolean) => Array.isArray(r.code?.coding) && r.code.coding.some(f);
const cases: Case[] = [
  {
    name: 'type + status',
    filter: '.resourceType == "Encounter" and .status == "finished"',
    inputs: mixed,
    js: (r) => r.resourceType === 'Encounter' && r.status === 'finished',
  },
  {
    name: 'meta.tag select (Zus source tag)',
    filter: 'select(.meta.tag[]? | .system == "https://zusapi.com/thirdparty/source" and .code == "bamboohealth")',
    inputs: mixed,
    js: (r) => Array.isArray(r.meta?.tag) && r.meta.tag.some((t: R) => t.system === SOURCE_TAG.system && t.code === SOURCE_TAG.code),
  },
  {
    name: 'UPID extension IN(…)',
    filter: '.extension[]? | select(.url == "https://zusapi.com/fhir/identifier/universal-id") | .valueString | IN("a","b","c")',
    inputs: mixed,
    js: (r) => Array.isArray(r.extension) && ['a', 'b', 'c'].includes(r.extension.find((x: R) => x.url === UPID_URL)?.valueString),
  },
  {
    name: 'any coding, LOINC regex',
    filter: 'any(.code.coding[]?; .system == "http://loinc.org" and (.code | test("^8867")))',
    inputs: mixed,
    js: (r) => anyCoding(r, (c) => c.system === 'http://loinc.org' && /^8867/.test(c.code)),
  },
  {
    name: 'same, matching code (^8302, body height)',
    filter: 'any(.code.coding[]?; .system == "http://loinc.org" and (.code | test("^8302")))',
    inputs: mixed,
    js: (r) => anyCoding(r, (c) => c.system === 'http://loinc.org' && /^8302/.test(c.code)),
  },
  {
    name: 'peers §6 predicate (Observation 8867-4)',
    filter: '.resourceType == "Observation" and any(.code.coding[]; .code == "8867-4")',
    inputs: observations,
    js: (r) => r.resourceType === 'Observation' && anyCoding(r, (c) => c.code === '8867-4'),
  },
  {
    name: 'peers §6 F1 (select + object, run)',
    filter: 'select(.resourceType=="Observation" and any(.code.coding[]; .code=="8867-4")) | {id, v: .valueQuantity.value}',
    inputs: observations,
    js: (r) => r.resourceType === 'Observation' && anyCoding(r, (c) => c.code === '8867-4'),
    run: true,
  },
];

function measure(fn: (r: R) => unknown, inputs: R[], ms = 700): number {
  // warm-up, then count evaluations in a fixed time window (best of 3)
  for (let i = 0; i < 20000; i++) fn(inputs[i % inputs.length]!);
  let best = 0;
  for (let round = 0; round < 3; round++) {
    let n = 0;
    const start = performance.now();
    let now = start;
    while (now - start < ms) {
      for (let i = 0; i < 1000; i++) fn(inputs[(n + i) % inputs.length]!);
      n += 1000;
      now = performance.now();
    }
    best = Math.max(best, n / ((now - start) / 1000));
  }
  return best;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
console.log(`jq filter engine — Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; one core`);
console.log(`inputs: ${mixed.length} mixed resources (avg ${sizeOf(mixed)} B), ${observations.length} Observations (avg ${sizeOf(observations)} B)\n`);
console.log('| filter | jq evals/s | µs/eval | JS predicate evals/s | matched | agree |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const c of cases) {
  const f = compileJq(c.filter);
  let agree = true, matched = 0;
  for (const r of c.inputs) {
    const m = c.run ? f.run(r).length > 0 : f.matches(r).matched;
    if (m) matched++;
    if (m !== c.js(r)) agree = false;
  }
  const jq = measure(c.run ? (r) => f.run(r) : (r) => f.matches(r), c.inputs);
  const js = measure(c.js, c.inputs);
  console.log(`| ${c.name} | ${fmt(jq)} | ${(1e6 / jq).toFixed(2)} | ${fmt(js)} | ${matched}/${c.inputs.length} | ${agree ? 'yes' : 'NO'} |`);
}
// Whole-bundle filter (peers §6 F2) over a Synthea transaction bundle.
const bundle = bundles[0]!;
const f2 = compileJq('[.entry[].resource | select(any(.code.coding[]?; .code=="8867-4")) | .valueQuantity.value] | add');
const bundleSize = JSON.stringify(bundle).length;
const perSec = measure(() => f2.run(bundle), [bundle], 1000);
console.log(`\npeers §6 F2 on one Synthea bundle (${bundle.entry.length} resources, ${(bundleSize / 1024).toFixed(0)} KiB): ${(1000 / perSec).toFixed(2)} ms/eval (${fmt(perSec)}/s)`);
const compileStart = performance.now();
for (let i = 0; i < 1000; i++) compileJq(cases[i % cases.length]!.filter);
console.log(`compile: ${((performance.now() - compileStart) / 1000 * 1000).toFixed(1)} µs/filter`);
