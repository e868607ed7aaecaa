// bench:history — patient-history jobs against the network simulator (zero latency, 10 documents per job:
// 5 per EHR network, chartBuildType pro-ehr-only). Reports single-job POST→done latency (p50/p99), and for
// N jobs at once: jobs/min and resources written/s. The simulator runs as its own process (`tessera
// network-sim`), as the external networks would; the platform (API + workers) runs in this one. Usage:
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/tessera_bench_history npm run bench:history -- [jobs=1000]
import os from 'node:os';
import pg from 'pg';
import { createPlatform } from '../../src/server/platform.ts';
import { startWorkers, stopWorkers } from '../../src/server/workers.ts';
import { roleByName } from '../../src/access/roles.ts';
import { startSimulatorProcess } from '../../test/helpers/processes.ts';

const JOBS = Number(process.argv[2] ?? 1000);
const SINGLE = 20;
const url = process.env.DATABASE_URL;

async function freshDatabase(): Promise<void> {
  if (!url) return;
  const u = new URL(url);
  const name = u.pathname.slice(1);
  u.pathname = '/postgres';
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function main() {
  await freshDatabase();
  const sim = await startSimulatorProcess(['--people', '0', '--seed', '99', '--documents', '5']);
  process.once('exit', () => sim.child.kill());
  // everyone at both EHR networks: a fixed 10 documents per job
  const { generateDemographics, prng } = await import('../../src/networks/sim/people.ts');
  const rnd = prng(99);
  const people = Array.from({ length: JOBS + SINGLE }, () => generateDemographics(rnd));
  for (let i = 0; i < people.length; i += 50) {
    await Promise.all(people.slice(i, i + 50).map(async (demographics) => {
      const r = await fetch(`${sim.admin}/admin/people`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ demographics, networks: ['commonwell', 'carequality'], documentsPerNetwork: 5 }) });
      if (r.status !== 201) throw new Error(`simulator refused a person: ${r.status} ${await r.text()}`);
    }));
  }
  const platform = await createPlatform({
    config: { port: 0, host: '127.0.0.1', logLevel: 'warn', tokenRateLimitPerHour: 1_000_000 },
    domain: { history: { networkUrls: sim.urls, pollMs: 20, concurrencyPerNetwork: Number(process.env.TESSERA_HISTORY_CONCURRENCY ?? 8) } },
  });
  await platform.app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(platform.app.server.address() as { port: number }).port}`;
  platform.services.config.baseUrl = base;
  (platform.access.settings.audiences as string[]).unshift(base);
  const workers = await startWorkers(platform.services, platform.domain);
  const b = await platform.access.createBuilder(`Bench ${Date.now()}`);
  const { client, secret } = await platform.access.createClient({ builderId: b.id, name: 'bench', clientType: 'machine_to_machine', roleId: roleByName('Builder Admin')!.id });
  const tok = ((await (await fetch(`${base}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'client_credentials', client_id: client.id, client_secret: secret }) })).json()) as { access_token: string }).access_token;
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(base + path, { method, headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as any };
  };
  const patients: string[] = [];
  for (let i = 0; i < people.length; i += 50) {
    const batch = people.slice(i, i + 50);
    const ids = await Promise.all(batch.map(async (d) => {
      const r = await call('POST', '/fhir/Patient', { resourceType: 'Patient', name: [{ family: d.family, given: [d.given] }], gender: d.gender, birthDate: d.birthDate, address: [{ line: [d.line], city: d.city, state: d.state, postalCode: d.postalCode }] });
      return r.body.id as string;
    }));
    patients.push(...ids);
  }
  const job = (pid: string) => call('POST', '/patient-history/jobs', { data: { type: 'patient-history/jobs', attributes: { requestConsent: true, chartBuildType: 'pro-ehr-only', practitioner: { npi: '1013085661', name: 'Bench Doc', role: '309343006' } }, relationships: { patient: { data: { type: 'fhir/Patient', id: pid } } } } });
  const finished = (j: any) => j.attributes.status === 'done' || j.attributes.status === 'error';

  // 1. single job latency, one at a time
  const single: number[] = [];
  for (let i = 0; i < SINGLE; i++) {
    const t0 = performance.now();
    const r = await job(patients[JOBS + i]!);
    const id = r.body.data.id;
    for (;;) {
      const j = await call('GET', `/patient-history/jobs/${id}`);
      if (finished(j.body.data)) break;
      await new Promise((res) => setTimeout(res, 5));
    }
    single.push(performance.now() - t0);
  }

  // 2. N jobs at once
  const t0 = performance.now();
  const ids: string[] = [];
  for (let i = 0; i < JOBS; i += 100) ids.push(...(await Promise.all(patients.slice(i, Math.min(i + 100, JOBS)).map(async (p) => (await job(p)).body.data.id as string))));
  let written = 0;
  let docs = 0;
  let errors = 0;
  for (;;) {
    const r = await platform.services.db.query<{ status: string; n: number }>("SELECT status, count(*)::int8 AS n FROM patient_history_jobs WHERE id = ANY($1::text[]) GROUP BY status", [ids]);
    const open = r.rows.filter((x) => x.status !== 'done' && x.status !== 'error').reduce((a, x) => a + x.n, 0);
    if (open === 0) {
      errors = r.rows.find((x) => x.status === 'error')?.n ?? 0;
      break;
    }
    await new Promise((res) => setTimeout(res, 250));
  }
  const seconds = (performance.now() - t0) / 1000;
  const c = await platform.services.db.query<{ w: number; d: number }>("SELECT coalesce(sum((counts->>'resourcesWritten')::int),0)::int8 AS w, coalesce(sum((counts->>'documentsRetrieved')::int),0)::int8 AS d FROM patient_history_providers WHERE job_id = ANY($1::text[])", [ids]);
  written = c.rows[0]!.w;
  docs = c.rows[0]!.d;
  const result = {
    machine: `${os.cpus().length} cores, ${os.cpus()[0]?.model}, Node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`,
    database: url ? 'PostgreSQL' : 'PGlite',
    singleJobMs: { p50: Math.round(pct(single, 50)), p99: Math.round(pct(single, 99)) },
    jobs: JOBS,
    jobsWithError: errors,
    documents: docs,
    seconds: Math.round(seconds * 10) / 10,
    jobsPerMinute: Math.round((JOBS / seconds) * 60),
    resourcesWritten: written,
    resourcesPerSecond: Math.round(written / seconds),
  };
  console.log(JSON.stringify(result, null, 2));
  await stopWorkers(workers);
  await platform.close();
  await sim.kill();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
