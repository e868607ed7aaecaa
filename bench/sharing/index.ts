// bench:sharing — what the sharing policy costs at ~1M resources on PostgreSQL: searches of a builder that shares
// nothing (same SQL as without sharing + one probe), of a builder with linked patients (the full predicate),
// Patient/$everything of a linked person, the per-request probe, and the trigger cost of a Patient write.
//
//   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/tessera_sharing_bench npm run bench:sharing
//
// Env: BENCH_PERSONS (default 60000 → ~1.1M resources), BENCH_RELOAD=1 (rebuild the data), BENCH_SAMPLES (200).
// The data is generated in SQL (not through the API: this measures reads, bench:fhir measures ingest).
import { loadavg, cpus } from 'node:os';
import { ensureDatabase } from '../database.ts';
import { openPostgres } from '../../src/db/postgres.ts';
import { migrate } from '../../src/db/index.ts';
import { FhirStore } from '../../src/fhir/store/index.ts';
import { FakeClock } from '../../src/platform/clock.ts';
import { roleByName } from '../../src/access/roles.ts';
import type { AccessContext } from '../../src/access/context.ts';
import { prepareSharing } from '../../src/access/policy.ts';
import { everythingPage } from '../../src/fhir/everything/index.ts';

const url = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/tessera_sharing_bench';
const persons = Number(process.env.BENCH_PERSONS ?? 60000);
const samples = Number(process.env.BENCH_SAMPLES ?? 200);
const BUILDERS = 20; // b00 … b19; b19 never shares a patient
const OBS_PER_PATIENT = 15;

await ensureDatabase(url);
const db = await openPostgres({ url, max: 4 });
await migrate(db);

const b = (i: number) => `b${String(i).padStart(2, '0')}`;
const loaded = Number((await db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM resources')).rows[0]!.n);
if (process.env.BENCH_RELOAD === '1' || loaded === 0) {
  const t0 = Date.now();
  for (const t of ['resources', 'resource_versions', 'idx_token', 'idx_reference', 'sharing_patients', 'sharing_pairs', 'upi_persons']) await db.exec(`TRUNCATE ${t}`);
  // persons: primary Patient in builder i % 20; every 10th person (not of b19) also has a Patient in the next builder
  await db.exec(`
    CREATE TEMP TABLE people AS
      SELECT i, 'u' || i AS upid, 'b' || lpad((i % ${BUILDERS})::text, 2, '0') AS builder, 'p' || i AS pid FROM generate_series(0, ${persons - 1}) i;
    INSERT INTO people SELECT i, upid, 'b' || lpad(((i % ${BUILDERS} + 1) % ${BUILDERS - 1})::text, 2, '0'), 'q' || i FROM people
      WHERE i % 10 = 0 AND i % ${BUILDERS} <> ${BUILDERS - 1};
  `);
  await db.exec(`
    INSERT INTO resources (type, id, version_id, builder_id, upid, restricted, deleted, source, created_at, last_updated, content)
      SELECT 'Patient', pid, 1, builder, upid, false, false, NULL, now(), now() - (i || ' seconds')::interval,
             jsonb_build_object('resourceType', 'Patient', 'id', pid, 'active', i % 7 <> 0, 'name', jsonb_build_array(jsonb_build_object('family', 'F' || i)))
        FROM people;
    INSERT INTO upi_persons (patient_id, builder_id, upid, record, updated_at) SELECT pid, builder, upid, '{}'::jsonb, now() FROM people;
    INSERT INTO resources (type, id, version_id, builder_id, upid, restricted, deleted, source, created_at, last_updated, content)
      SELECT 'Practitioner', 'pr-' || builder || '-' || k, 1, builder, NULL, false, false, NULL, now(), now(),
             jsonb_build_object('resourceType', 'Practitioner', 'id', 'pr-' || builder || '-' || k)
        FROM (SELECT DISTINCT builder FROM people) x, generate_series(0, 99) k;
    CREATE TEMP TABLE obs AS
      SELECT p.pid || '-o' || k AS id, p.pid, p.builder, p.upid, k, p.i FROM people p, generate_series(1, ${OBS_PER_PATIENT}) k;
    INSERT INTO resources (type, id, version_id, builder_id, upid, restricted, deleted, source, created_at, last_updated, content)
      SELECT 'Observation', id, 1, builder, upid, k = 7, false, NULL, now(), now() - ((i * 20 + k) || ' seconds')::interval,
             jsonb_build_object('resourceType', 'Observation', 'id', id, 'status', 'final', 'code', jsonb_build_object('coding', jsonb_build_array(jsonb_build_object('system', 'http://loinc.org', 'code', 'c' || (k * 7 + i) % 50))),
                                'subject', jsonb_build_object('reference', 'Patient/' || pid), 'performer', jsonb_build_array(jsonb_build_object('reference', 'Practitioner/pr-' || builder || '-' || (i % 100))))
        FROM obs;
    INSERT INTO idx_reference (type, id, builder_id, param, target_type, target_id, reference)
      SELECT 'Observation', id, builder, prm, 'Patient', pid, 'Patient/' || pid FROM obs, unnest(ARRAY['subject', 'patient']) prm;
    INSERT INTO idx_reference (type, id, builder_id, param, target_type, target_id, reference)
      SELECT 'Observation', id, builder, 'performer', 'Practitioner', 'pr-' || builder || '-' || (i % 100), 'Practitioner/pr-' || builder || '-' || (i % 100) FROM obs;
    INSERT INTO idx_token (type, id, builder_id, param, system, code, display)
      SELECT 'Observation', id, builder, 'code', 'http://loinc.org', 'c' || (k * 7 + i) % 50, NULL FROM obs;
  `);
  await db.exec('ANALYZE');
  console.log(`loaded in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}
const counts = (await db.query<{ type: string; n: number }>('SELECT type, count(*)::int8 AS n FROM resources GROUP BY type ORDER BY type')).rows;
const pairs = Number((await db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM sharing_pairs')).rows[0]!.n);

const store = new FhirStore({ db, clock: new FakeClock(new Date()), config: { baseUrl: 'http://bench', maxPageSize: 500, defaultPageSize: 20 } });
const ctxFor = (builderId: string): AccessContext => ({
  principal: { kind: 'client', id: `c-${builderId}`, builderId, role: roleByName('Builder Admin')!, isPlatformAdmin: false },
  readBuilderIds: [builderId], writeBuilderId: builderId, accountHeader: null,
});
const pct = (xs: number[], p: number) => [...xs].sort((a, c) => a - c)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
async function time(fn: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 10; i++) await fn(i);
  const ms: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = performance.now();
    await fn(i);
    ms.push(performance.now() - t);
  }
  return { p50: pct(ms, 50), p99: pct(ms, 99) };
}
const q = (s: string) => [...new URLSearchParams(s)] as [string, string][];
const patientOf = (builder: number, i: number) => `p${builder + BUILDERS * ((i * 37) % Math.floor(persons / BUILDERS))}`;

const rows: string[] = [];
const lonely = BUILDERS - 1;
const sharer = 1;
for (const [label, bi] of [['shares nothing (b19)', lonely], ['has linked patients (b01)', sharer]] as const) {
  const queries: [string, (i: number) => string][] = [
    ['Observation?patient=<own patient>', (i) => `patient=Patient/${patientOf(bi, i)}`],
    ['Observation?code=<code>&_count=20', (i) => `code=http://loinc.org|c${i % 50}&_count=20`],
    ['Observation?_count=20', () => '_count=20'],
    ['Observation?_count=20&_sort=-_lastUpdated', () => '_count=20&_sort=-_lastUpdated'],
    ['Observation?patient=…&_include=Observation:performer', (i) => `patient=Patient/${patientOf(bi, i)}&_include=Observation:performer`],
  ];
  for (const [name, params] of queries) {
    const r = await time((i) => store.search(ctxFor(b(bi)), 'Observation', q(params(i))));
    console.error(`${label} ${name}: p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms`);
    rows.push(`| ${label} | \`${name}\` | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} |`);
  }
}
// $everything of a linked person, from the second builder (own + shared + included practitioners)
{
  const linked = (await db.query<{ upid: string; builder_id: string }>(`SELECT upid, viewer_id AS builder_id FROM sharing_pairs LIMIT 50`)).rows;
  const r = await time(async (i) => {
    const l = linked[i % linked.length]!;
    await everythingPage(db, ctxFor(l.builder_id), { upid: l.upid, patientId: null, types: null, since: null, count: 100, cursor: null });
  });
  rows.push(`| linked person | \`Patient/$everything\` (~32 resources + includes) | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} |`);
}
// the per-request probe
{
  const r = await time(async () => prepareSharing(db, ctxFor(b(lonely))));
  rows.push(`| shares nothing | sharing probe (one per request, cached per context) | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} |`);
}
// trigger cost of a Patient write: insert + update(active) + delete of one linked Patient row, with and without triggers
const patientWrite = async (i: number) => {
  await db.transaction(async (tx) => {
    const id = `bench-w-${i}`;
    await tx.query(`INSERT INTO resources (type, id, version_id, builder_id, upid, restricted, deleted, source, created_at, last_updated, content)
      VALUES ('Patient', $1, 1, 'b03', 'u3', false, false, NULL, now(), now(), '{"resourceType":"Patient","active":true}'::jsonb)`, [id]);
    await tx.query(`UPDATE resources SET content = '{"resourceType":"Patient","active":false}'::jsonb WHERE type = 'Patient' AND id = $1`, [id]);
    await tx.query(`DELETE FROM resources WHERE type = 'Patient' AND id = $1`, [id]);
  });
};
const withTriggers = await time((i) => patientWrite(i));
await db.exec('ALTER TABLE resources DISABLE TRIGGER resources_sharing_patient_ins; ALTER TABLE resources DISABLE TRIGGER resources_sharing_patient_upd; ALTER TABLE resources DISABLE TRIGGER resources_sharing_patient_del');
const without = await time((i) => patientWrite(i + 100000));
await db.exec('ALTER TABLE resources ENABLE TRIGGER resources_sharing_patient_ins; ALTER TABLE resources ENABLE TRIGGER resources_sharing_patient_upd; ALTER TABLE resources ENABLE TRIGGER resources_sharing_patient_del');
rows.push(`| write | Patient insert + update + delete (one tx), sharing triggers on | ${withTriggers.p50.toFixed(2)} | ${withTriggers.p99.toFixed(2)} |`);
rows.push(`| write | same, triggers off | ${without.p50.toFixed(2)} | ${without.p99.toFixed(2)} |`);

// plans
const explain = async (bi: number, params: string) => {
  const ctx = ctxFor(b(bi));
  await prepareSharing(db, ctx);
  const captured: { sql: string; params: unknown[] }[] = [];
  const spy = { ...db, query: async (sql: string, p?: unknown[]) => { captured.push({ sql, params: p ?? [] }); return db.query(sql, p); } } as typeof db;
  const s2 = new FhirStore({ db: spy, clock: new FakeClock(new Date()), config: { baseUrl: 'http://bench', maxPageSize: 500, defaultPageSize: 20 } });
  await s2.search(ctx, 'Observation', q(params));
  const main = captured.filter((c) => c.sql.includes('FROM resources r')).at(-1)!;
  const plan = (await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) ${main.sql}`, main.params)).rows.map((r) => r['QUERY PLAN']);
  return plan.join('\n');
};
console.log(`\n## bench:sharing (${new Date().toISOString()}, ${cpus().length} cores ${cpus()[0]?.model}, load ${loadavg().map((x) => x.toFixed(2)).join(' ')})`);
console.log(`resources: ${counts.map((c) => `${c.type} ${c.n}`).join(', ')}; sharing_pairs ${pairs}; samples ${samples}\n`);
console.log('| caller | request | p50 ms | p99 ms |\n|---|---|---|---|');
for (const r of rows) console.log(r);
for (const [bi, p] of [[lonely, '_count=20'], [sharer, '_count=20'], [sharer, 'code=http://loinc.org|c3&_count=20'], [lonely, '_count=20&_sort=-_lastUpdated'], [sharer, '_count=20&_sort=-_lastUpdated']] as const) {
  console.log(`\nEXPLAIN ANALYZE Observation?${p} as ${b(bi)}:\n${await explain(bi, p)}`);
}
await db.close();
