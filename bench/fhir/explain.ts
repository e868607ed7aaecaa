// EXPLAIN (ANALYZE, BUFFERS) of the bench:fhir searches on a loaded database, with the SQL exactly as the store
// generates it (the plan shapes docs/benchmarks.md quotes). Usage, after a bench:fhir load:
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/tessera_bench node --import tsx bench/fhir/explain.ts [name|obs|enc|read …]
// Env: N (samples per query, default 3), SQL=1 (print the SQL too).
import { openPostgres } from '../../src/db/postgres.ts';
import { FhirStore } from '../../src/fhir/store/index.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { roleByName } from '../../src/access/roles.ts';
import type { AccessContext } from '../../src/access/context.ts';
import type { Database } from '../../src/db/types.ts';

const db = await openPostgres({ url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/tessera_bench', max: 2 });
const builder = (await db.query<{ id: string }>(`SELECT id FROM builders WHERE name = 'bench' LIMIT 1`)).rows[0]?.id;
if (!builder) throw new Error('no bench builder: load the database with npm run bench:fhir first');
const ctx: AccessContext = {
  principal: { kind: 'client', id: 'explain', builderId: builder, role: roleByName('Builder Admin')!, isPlatformAdmin: false },
  readBuilderIds: [builder], writeBuilderId: builder, accountHeader: null,
};
const captured: { sql: string; params: readonly unknown[] }[] = [];
const spy = {
  ...db,
  kind: db.kind,
  query: (async (sql: string, params: readonly unknown[] = []) => {
    captured.push({ sql, params });
    return db.query(sql, params);
  }) as Database['query'],
} as Database;
const store = new FhirStore({ db: spy, clock: systemClock, config: { baseUrl: 'http://bench', maxPageSize: 500, defaultPageSize: 20 } });
const which = process.argv.slice(2);
const n = Number(process.env.N ?? 3);
const pats = (await db.query<{ id: string; family: string; birth: string }>(
  `SELECT id, content->'name'->0->>'family' AS family, content->>'birthDate' AS birth FROM resources
    WHERE type = 'Patient' AND NOT deleted AND builder_id = $1 ORDER BY random() LIMIT ${n}`, [builder])).rows;
const obs = (await db.query<{ patient: string; code: string }>(
  `SELECT split_part(content->'subject'->>'reference', '/', 2) AS patient, content->'code'->'coding'->0->>'code' AS code FROM resources
    WHERE type = 'Observation' AND NOT deleted AND builder_id = $1 ORDER BY random() LIMIT ${n}`, [builder])).rows;
const cases: [string, string, [string, string][]][] = [
  ...pats.map((p): [string, string, [string, string][]] => ['name', 'Patient', [['name', p.family], ['birthdate', p.birth]]]),
  ...obs.map((o): [string, string, [string, string][]] => ['obs', 'Observation', [['patient', `Patient/${o.patient}`], ['code', `http://loinc.org|${o.code}`]]]),
  ...pats.map((p): [string, string, [string, string][]] => ['enc', 'Encounter', [['patient', p.id], ['date', 'ge2015-01-01'], ['_include', 'Encounter:patient']]]),
  ...pats.map((p): [string, string, [string, string][]] => ['read', 'Patient', [['_id', p.id]]]),
];
for (const [kind, type, params] of cases) {
  if (which.length > 0 && !which.includes(kind)) continue;
  captured.length = 0;
  if (kind === 'read') await store.read(ctx, type, params[0]![1], { raw: true });
  else await store.search(ctx, type, params, { raw: true });
  for (const c of captured) {
    if (c.sql.includes('sharing_pairs WHERE viewer_id')) continue; // the per-request sharing probe
    const plan = (await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${c.sql}`, c.params)).rows.map((r) => r['QUERY PLAN']);
    console.log(`\n=== ${kind} ${type}?${params.map(([k, v]) => `${k}=${v}`).join('&')}\n${process.env.SQL ? `${c.sql}\n` : ''}${plan.join('\n')}`);
  }
}
await db.close();
