// bench:fhir — loads the Synthea corpus through transaction bundles over HTTP (the real API path: auth, JSON
// parsing, validation, indexing, one DB transaction per bundle), then measures read-by-id and common searches.
//
//   npm run bench:fhir                                   # PGlite (in memory), corpus once
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/tessera_bench BENCH_COPIES=120 npm run bench:fhir
//
// Env: BENCH_COPIES (corpus replications, each with fresh ids and varied names/dates; default 1),
//      BENCH_CONCURRENCY (bundles in flight, default 4), BENCH_SKIP_LOAD=1 (measure an already loaded database),
//      BENCH_SAMPLES (requests per measured query, default 300), BENCH_WARMUP (unmeasured requests before each, default 50),
//      BENCH_SKIP_ANALYZE=1 (no VACUUM (ANALYZE) before measuring).
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { Pool } from 'undici';
import { createPlatform } from '../../src/server/platform.ts';
import { openPGlite } from '../../src/db/pglite.ts';
import { openPostgres } from '../../src/db/postgres.ts';
import { roleByName } from '../../src/access/roles.ts';
import type { Database } from '../../src/db/types.ts';

const repoRoot = resolve(new URL('../..', import.meta.url).pathname);
const corpusDir = resolve(repoRoot, '../shared/corpora/synthea/R4/SYNTHEA');
if (!existsSync(corpusDir)) {
  console.error(`corpus not found at ${corpusDir}; skipping`);
  process.exit(0);
}
const copies = Number(process.env.BENCH_COPIES ?? 1);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 4);
const samples = Number(process.env.BENCH_SAMPLES ?? 300);
const warmup = Number(process.env.BENCH_WARMUP ?? 50);
const skipLoad = process.env.BENCH_SKIP_LOAD === '1';
const url = process.env.DATABASE_URL;

const db: Database = url ? await openPostgres({ url, max: 8 }) : await openPGlite();
// Statements outside transactions (every read path: auth, sharing, the query itself), counted per measured request:
// with CPU time per request, a figure that does not depend on how busy the shared machine is.
let dbQueries = 0;
const plainQuery = db.query.bind(db);
db.query = ((...args: Parameters<Database['query']>) => {
  dbQueries++;
  return plainQuery(...args);
}) as Database['query'];
const platform = await createPlatform({ db, config: { port: 0, host: '127.0.0.1', logLevel: 'warn', tokenRateLimitPerHour: 1e9, bodyLimitBytes: 64 * 1024 * 1024 } });
await platform.app.listen({ port: 0, host: '127.0.0.1' });
const addr = platform.app.server.address();
const base = typeof addr === 'object' && addr ? `http://127.0.0.1:${addr.port}` : '';
platform.services.config.baseUrl = base;
(platform.access.settings.audiences as string[]).unshift(base);

// one bench builder, reused across runs
const existing = (await db.query<{ id: string }>(`SELECT id FROM builders WHERE name = 'bench' LIMIT 1`).catch(() => ({ rows: [] as { id: string }[] }))).rows[0];
const builder = existing ?? (await platform.access.createBuilder('bench'));
const { client, secret } = await platform.access.createClient({ builderId: builder.id, name: `bench ${Date.now()}`, clientType: 'machine_to_machine', roleId: roleByName('Builder Admin')!.id });
const tokenRes = await fetch(`${base}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'client_credentials', client_id: client.id, client_secret: secret }) });
const token = ((await tokenRes.json()) as { access_token: string }).access_token;
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', prefer: 'return=minimal' };

const files = readdirSync(corpusDir).filter((f) => f.endsWith('.json')).sort();
const corpus = files.map((f) => JSON.parse(readFileSync(join(corpusDir, f), 'utf8')) as { entry: { resource: Record<string, unknown> }[] });

const letters = 'abcdefghijklmnopqrstuvwxyz';
const suffix = (n: number) => (n === 0 ? '' : letters[Math.floor(n / 26) % 26]! + letters[n % 26]!);

/** A copy of a bundle with varied patient names and birth dates (ids are fresh anyway: POST entries). */
function variant(bundle: (typeof corpus)[number], copy: number): string {
  if (copy === 0) return JSON.stringify(bundle);
  const b = structuredClone(bundle);
  for (const e of b.entry) {
    const r = e.resource as { resourceType: string; name?: { family?: string }[]; birthDate?: string };
    if (r.resourceType === 'Patient') {
      for (const n of r.name ?? []) if (n.family) n.family = `${n.family}${suffix(copy)}`;
      if (r.birthDate) {
        const d = new Date(`${r.birthDate}T00:00:00Z`);
        d.setUTCDate(d.getUTCDate() + (copy % 365));
        r.birthDate = d.toISOString().slice(0, 10);
      }
    }
  }
  return JSON.stringify(b);
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

const results: Record<string, unknown> = { mode: url ? 'postgres' : 'pglite', cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version };

if (!skipLoad) {
  let loaded = 0;
  let next = 0;
  const jobs: { copy: number; i: number }[] = [];
  for (let c = 0; c < copies; c++) for (let i = 0; i < corpus.length; i++) jobs.push({ copy: c, i });
  const t0 = performance.now();
  let lastReport = t0;
  async function worker() {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      const body = variant(corpus[job.i]!, job.copy);
      const r = await fetch(`${base}/fhir`, { method: 'POST', headers, body });
      if (r.status !== 200) throw new Error(`bundle ${files[job.i]} copy ${job.copy}: ${r.status} ${(await r.text()).slice(0, 500)}`);
      await r.arrayBuffer();
      loaded += corpus[job.i]!.entry.length;
      if (performance.now() - lastReport > 30_000) {
        lastReport = performance.now();
        console.log(`  ${loaded} resources, ${Math.round(loaded / ((lastReport - t0) / 1000))}/s`);
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const secs = (performance.now() - t0) / 1000;
  results.ingest = { loadAverage1m: +loadavg()[0]!.toFixed(1), resources: loaded, seconds: Math.round(secs * 10) / 10, resourcesPerSecond: Math.round(loaded / secs), bundles: jobs.length, concurrency };
  console.log('ingest', results.ingest);
}
// Fresh statistics and visibility map before measuring, as autovacuum leaves a database in steady state (it had not
// reached a freshly loaded 1 M database an hour later, and index-only scans visit the heap until it does; PGlite's
// store analyzes on its own after bulk writes, this makes it deterministic). BENCH_SKIP_ANALYZE=1 skips it.
if (process.env.BENCH_SKIP_ANALYZE !== '1') await db.query('VACUUM (ANALYZE)');
const total = (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM resources`)).rows[0]!.n;
results.resourcesInDatabase = total;

// sample query inputs from the data
const pats = (await db.query<{ id: string; family: string; birth: string }>(
  `SELECT id, content->'name'->0->>'family' AS family, content->>'birthDate' AS birth FROM resources WHERE type = 'Patient' AND NOT deleted AND builder_id = $1 ORDER BY random() LIMIT 200`, [builder.id])).rows;
const obs = (await db.query<{ id: string; patient: string; code: string }>(
  `SELECT r.id, split_part(r.content->'subject'->>'reference', '/', 2) AS patient, r.content->'code'->'coding'->0->>'code' AS code
     FROM resources r WHERE r.type = 'Observation' AND NOT r.deleted AND r.builder_id = $1 ORDER BY random() LIMIT 200`, [builder.id])).rows;

// The measured requests go through undici's keep-alive Pool rather than global fetch: the client shares this
// process (and its event loop) with the server, and fetch's WHATWG stream machinery cost as much CPU per
// request as a read on the server side, which showed up in the server's latency.
const http = new Pool(base, { connections: 4, pipelining: 1 });
async function get(path: string): Promise<{ status: number; text: string }> {
  const r = await http.request({ path, method: 'GET', headers: { authorization: `Bearer ${token}` } });
  return { status: r.statusCode, text: await r.body.text() };
}

async function measure(name: string, paths: string[]) {
  // warm-up (JIT, connection pool, caches), not measured: the p99 of a fresh process is otherwise its first requests
  for (let i = 0; i < warmup; i++) await get(paths[i % paths.length]!);
  const times: number[] = [];
  let entries = 0;
  const cpu0 = process.cpuUsage();
  const q0 = dbQueries;
  for (let i = 0; i < samples; i++) {
    const path = paths[i % paths.length]!;
    const t = performance.now();
    const r = await get(path);
    const body = JSON.parse(r.text) as { entry?: unknown[] };
    times.push(performance.now() - t);
    if (r.status !== 200) throw new Error(`${path}: ${r.status} ${JSON.stringify(body).slice(0, 300)}`);
    entries += body.entry?.length ?? 1;
  }
  const cpu = process.cpuUsage(cpu0);
  const m = {
    p50: +pct(times, 50).toFixed(2), p99: +pct(times, 99).toFixed(2), avgEntries: +(entries / samples).toFixed(1),
    // Node CPU (server and the bench's own HTTP client, one process) and SQL statements per request
    cpuMsPerRequest: +((cpu.user + cpu.system) / 1000 / samples).toFixed(3), dbQueriesPerRequest: +((dbQueries - q0) / samples).toFixed(2),
  };
  console.log(name, m);
  (results.latencyMs ??= {} as Record<string, unknown>);
  (results.latencyMs as Record<string, unknown>)[name] = m;
}

await measure('read Patient by id', pats.map((p) => `/fhir/Patient/${p.id}`));
await measure('read Observation by id', obs.map((o) => `/fhir/Observation/${o.id}`));
await measure('Patient?name=&birthdate=', pats.map((p) => `/fhir/Patient?name=${encodeURIComponent(p.family)}&birthdate=${p.birth}`));
await measure('Observation?patient=&code=', obs.map((o) => `/fhir/Observation?patient=Patient/${o.patient}&code=http://loinc.org|${o.code}`));
await measure('Encounter?patient=&date=ge&_include=Encounter:patient', pats.map((p) => `/fhir/Encounter?patient=${p.id}&date=ge2015-01-01&_include=Encounter:patient`));

results.loadAverage1mAtEnd = +loadavg()[0]!.toFixed(1);
console.log(JSON.stringify(results, null, 2));
await http.close();
await platform.close();
await db.close();
