// UPI bench: bulk linking speed + accuracy on 100k synthetic records, single-record match
// latency against an in-memory index of 1M records, and accuracy on the Splink corpora.
// Usage: npm run bench:upi [-- --records 100000 --index 1000000 --queries 2000 --seed 42]
//        npm run bench:upi -- --only write   (Patient writes against a 1 M-patient index on PostgreSQL, see write.ts)
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';
import { estimateWeights } from '../../src/upi/engine/estimate.ts';
import { linkRecords, MatchIndex } from '../../src/upi/engine/link.ts';
import { pairwiseMetrics } from '../../src/upi/engine/metrics.ts';
import { normalizeRecord } from '../../src/upi/engine/normalize.ts';
import { generatePeople } from './generate.ts';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const RECORDS = arg('records', 100_000);
const INDEX = arg('index', 1_000_000);
const QUERIES = arg('queries', 2000);
const SEED = arg('seed', 42);
const fmt = (x: number, d = 4): string => x.toFixed(d);

function bulk(): void {
  const data = generatePeople({ records: RECORDS, seed: SEED });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const result = linkRecords(data.records, { ids: data.ids });
  const linkSeconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const m = pairwiseMetrics(result.cluster, data.truth);
  console.log(`bulk link, default model: ${RECORDS} records in ${fmt(linkSeconds, 1)} s = ${Math.round(RECORDS / linkSeconds)} records/s; ` +
    `${result.stats.comparisons} pairs compared, ${result.stats.skippedBlocks} blocks over the cap skipped; CPU ${fmt((cpu.user + cpu.system) / 1e6, 1)} s`);
  console.log(`  accuracy: precision ${fmt(m.precision)} recall ${fmt(m.recall)} F1 ${fmt(m.f1)} (true pairs ${m.truePairs})`);
  const t1 = performance.now();
  const cpu1 = process.cpuUsage();
  const model = estimateWeights(data.records);
  const emSeconds = (performance.now() - t1) / 1000;
  const t2 = performance.now();
  const em = linkRecords(data.records, { ids: data.ids, model });
  const emLinkSeconds = (performance.now() - t2) / 1000;
  const me = pairwiseMetrics(em.cluster, data.truth);
  const cpuEm = process.cpuUsage(cpu1);
  console.log(`bulk link with EM first (the CLI default): EM ${fmt(emSeconds, 1)} s + link ${fmt(emLinkSeconds, 1)} s = ${fmt(emSeconds + emLinkSeconds, 1)} s ` +
    `(${Math.round(RECORDS / (emSeconds + emLinkSeconds))} records/s; CPU ${fmt((cpuEm.user + cpuEm.system) / 1e6, 1)} s)`);
  console.log(`  accuracy: precision ${fmt(me.precision)} recall ${fmt(me.recall)} F1 ${fmt(me.f1)}`);
}

function singleMatch(): void {
  // Index INDEX records; queries are (a) corrupted re-registrations of indexed persons (records
  // held out of the index whose person has another record in it) and (b) persons not in the index.
  const data = generatePeople({ records: INDEX + QUERIES, seed: SEED + 1, duplicateRate: 0.35 });
  const perPerson = new Map<string, number>();
  for (let i = 0; i < INDEX; i++) perPerson.set(data.truth[i]!, (perPerson.get(data.truth[i]!) ?? 0) + 1);
  const heldOut = new Set<number>();
  for (let i = INDEX - 1; i >= 0 && heldOut.size < QUERIES; i -= 37) {
    if (perPerson.get(data.truth[i]!)! >= 2) heldOut.add(i);
  }
  const queries = [...heldOut].map((i) => ({ input: data.records[i]!, known: true }))
    .concat(data.records.slice(INDEX).filter((_, k) => !perPerson.has(data.truth[INDEX + k]!)).slice(0, QUERIES).map((input) => ({ input, known: false })));
  const index = new MatchIndex();
  const t0 = performance.now();
  for (let i = 0; i < INDEX; i++) if (!heldOut.has(i)) index.add(data.ids[i]!, normalizeRecord(data.records[i]!));
  const buildSeconds = (performance.now() - t0) / 1000;
  const heapMb = process.memoryUsage().heapUsed / 1e6;
  const timings: number[] = [];
  let candidates = 0;
  let foundKnown = 0;
  let foundNew = 0;
  const cpu0 = process.cpuUsage();
  for (const q of queries) {
    const start = process.hrtime.bigint();
    const record = normalizeRecord(q.input);
    const found = index.match(record, { minOutcome: 'match' });
    timings.push(Number(process.hrtime.bigint() - start) / 1000);
    candidates += index.candidates(record).size;
    if (found.length > 0 && q.known) foundKnown++;
    else if (found.length > 0) foundNew++;
  }
  const cpu = process.cpuUsage(cpu0);
  timings.sort((a, b) => a - b);
  const pct = (p: number): number => timings[Math.min(timings.length - 1, Math.floor(timings.length * p))]!;
  const known = queries.filter((q) => q.known).length;
  console.log(`single-record match against an in-memory index of ${index.size} records (built in ${fmt(buildSeconds, 1)} s, heap ${Math.round(heapMb)} MB), ${queries.length} queries: ` +
    `p50 ${Math.round(pct(0.5))} µs, p99 ${Math.round(pct(0.99))} µs, max ${Math.round(timings[timings.length - 1]!)} µs wall; ` +
    `${Math.round((cpu.user + cpu.system) / queries.length)} µs CPU per query on average; ${Math.round(candidates / queries.length)} candidates compared per query (normalise + block + compare + score)`);
  console.log(`  found a match for ${foundKnown}/${known} re-registrations of indexed persons and for ${foundNew}/${queries.length - known} new persons`);
}

function splink(): void {
  const corpus = resolve(fileURLToPath(new URL('../../../shared/corpora/linkage/splink', import.meta.url)));
  // fake_1000_from_splink_demos: another 1,000-record sample from Splink's tests, a check that was not looked at while tuning.
  for (const [name, truthColumn] of [['fake_1000', 'cluster'], ['fake_20000', 'group'], ['tests/datasets/fake_1000_from_splink_demos', 'cluster']] as const) {
    const file = resolve(corpus, `${name}.csv`);
    if (!existsSync(file)) {
      console.log(`splink ${name}: corpus not found at ${file}, skipped`);
      continue;
    }
    const rows = parse(readFileSync(file), { columns: true }) as Record<string, string>[];
    const records = rows.map((r) => ({ given: r.first_name, family: r.surname, birthDate: r.dob, city: r.city, email: r.email }));
    const truth = rows.map((r) => r[truthColumn]!);
    const plain = pairwiseMetrics(linkRecords(records).cluster, truth);
    const t0 = performance.now();
    const em = pairwiseMetrics(linkRecords(records, { model: estimateWeights(records) }).cluster, truth);
    const seconds = (performance.now() - t0) / 1000;
    console.log(`splink ${name}: default model P ${fmt(plain.precision)} R ${fmt(plain.recall)} F1 ${fmt(plain.f1)}; ` +
      `EM first (CLI default) P ${fmt(em.precision)} R ${fmt(em.recall)} F1 ${fmt(em.f1)} in ${fmt(seconds, 1)} s`);
  }
}

console.log(`UPI bench — node ${process.version}, ${process.platform}/${process.arch}, seed ${SEED}`);
const only = process.argv.indexOf('--only') >= 0 ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
if (!only || only === 'bulk') bulk();
if (!only || only === 'splink') splink();
if (!only || only === 'index') singleMatch();
// Patient writes against a 1,000,000-patient index on PostgreSQL (only on request: it loads a database).
if (only === 'write') await (await import('./write.ts')).writeBench();
