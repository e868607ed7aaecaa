// bench:history — patient-history jobs against the network simulator (zero latency, 10 documents per job:
// 5 per EHR network, chartBuildType pro-ehr-only). Reports single-job POST→done latency (p50/p99), and for
// N jobs at once: jobs/min and resources written/s. The simulator runs as its own process (`tessera
// network-sim`), as the external networks would; the platform (API + workers) runs in this one, or with
// BENCH_HISTORY_WORKER_PROCESSES=N the workers run as N separate `tessera worker` processes (the API stays here).
// Usage:
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/tessera_bench_history npm run bench:history -- [jobs=1000]
import os from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ensureDatabase } from '../database.ts';
import { createPlatform } from '../../src/server/platform.ts';
import { startWorkers, stopWorkers } from '../../src/server/workers.ts';
import { roleByName } from '../../src/access/roles.ts';
import { startSimulatorProcess } from '../../test/helpers/processes.ts';

const JOBS = Number(process.argv[2] ?? 1000);
const WORKER_PROCESSES = Number(process.env.BENCH_HISTORY_WORKER_PROCESSES ?? 0);
const CONCURRENCY = Number(process.env.TESSERA_HISTORY_CONCURRENCY ?? 8);
const SINGLE = 20;
const url = process.env.DATABASE_URL;

async function freshDatabase(): Promise<void> {
  if (url) await ensureDatabase(url, { fresh: true });
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** CPU ms a process has used so far (Linux /proc; 0 elsewhere). */
function procCpuMs(pid: number | undefined): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/** CPU ms per backend of this database (a local PostgreSQL: /proc of its processes). */
async function postgresCpuMs(db: { query: <T>(sql: string) => Promise<{ rows: T[] }> }): Promise<Map<number, number>> {
  if (!url) return new Map();
  const rows = (await db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database()')).rows;
  return new Map(rows.map((r) => [r.pid, procCpuMs(r.pid)]));
}

/** A `tessera worker` process on the bench database, polling the queue every 20 ms. */
function startWorkerProcess(urls: Record<string, string>): Promise<ChildProcess> {
  const root = new URL('../../', import.meta.url).pathname;
  const child = spawn(process.execPath, [`${root}bin/tessera.js`, 'worker'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env, NODE_ENV: 'production', LOG_LEVEL: 'info', DATABASE_URL: url, TESSERA_HISTORY_POLL_MS: '20', TESSERA_HISTORY_CONCURRENCY: String(CONCURRENCY),
      TESSERA_NETWORK_COMMONWELL_URL: urls.commonwell, TESSERA_NETWORK_CAREQUALITY_URL: urls.carequality, TESSERA_NETWORK_SURESCRIPTS_URL: urls.surescripts,
    },
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out = (out + d.toString()).slice(-5000);
      if (out.includes('workers started')) {
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-5000); });
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready\n${out}`)));
  });
}

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
    domain: { history: { networkUrls: sim.urls, pollMs: 20, concurrencyPerNetwork: CONCURRENCY } },
  });
  await platform.app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(platform.app.server.address() as { port: number }).port}`;
  platform.services.config.baseUrl = base;
  (platform.access.settings.audiences as string[]).unshift(base);
  const workers = WORKER_PROCESSES > 0 ? [] : await startWorkers(platform.services, platform.domain);
  const workerProcs = await Promise.all(Array.from({ length: WORKER_PROCESSES }, () => startWorkerProcess(sim.urls)));
  process.once('exit', () => workerProcs.forEach((w) => w.kill()));
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
      await new Promise((res) => setTimeout(res, 20));
    }
    single.push(performance.now() - t0);
  }

  // 2. N jobs at once
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const pgCpu0 = await postgresCpuMs(platform.services.db);
  const workersCpu0 = workerProcs.reduce((a, w) => a + procCpuMs(w.pid), 0);
  const simCpu0 = procCpuMs(sim.child.pid);
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
  const cpu = process.cpuUsage(cpu0);
  const pgCpu = await postgresCpuMs(platform.services.db);
  const workersCpu = workerProcs.reduce((a, w) => a + procCpuMs(w.pid), 0) - workersCpu0;
  const simCpu = procCpuMs(sim.child.pid) - simCpu0;
  const c = await platform.services.db.query<{ w: number; d: number }>("SELECT coalesce(sum((counts->>'resourcesWritten')::int),0)::int8 AS w, coalesce(sum((counts->>'documentsRetrieved')::int),0)::int8 AS d FROM patient_history_providers WHERE job_id = ANY($1::text[])", [ids]);
  written = c.rows[0]!.w;
  docs = c.rows[0]!.d;
  const result = {
    workers: WORKER_PROCESSES > 0 ? `${WORKER_PROCESSES} worker processes × ${CONCURRENCY} per network` : `in-process, ${CONCURRENCY} per network`,
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
    // CPU of this process (API + workers) per job: comparable across runs on a busy machine, unlike wall time
    platformCpuMsPerJob: Math.round(((cpu.user + cpu.system) / 1000 + workersCpu) / JOBS),
    simulatorCpuMsPerJob: Math.round(simCpu / JOBS),
    // the bench database's PostgreSQL backends (local server only)
    postgresCpuMsPerJob: url ? Math.round([...pgCpu].reduce((a, [pid, ms]) => a + ms - (pgCpu0.get(pid) ?? 0), 0) / JOBS) : null,
  };
  console.log(JSON.stringify(result, null, 2));
  await stopWorkers(workers);
  await Promise.all(workerProcs.map((w) => new Promise((r) => { w.once('exit', r); w.kill('SIGTERM'); })));
  await platform.close();
  await sim.kill();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
