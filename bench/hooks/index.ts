// bench:hooks — end-to-end write → outbox → dispatcher → signed delivery, on PostgreSQL, with 100 active hooks
// (each write matches 10 of them). A separate worker process (test/hooks/crash-worker.ts) runs the dispatcher
// and deliveries; a node:http receiver in this process timestamps arrivals.
//   1. throughput: a backlog of writes, then how fast the worker delivers it (deliveries/s)
//   2. latency: 100 writes/s for 10 s while the worker runs; write commit → arrival, p50/p99 (and again at
//      --low-rate writes/s, default 20, to show latency when the machine is not saturated)
//   0. baseline: plain undici POSTs to the same receiver (the HTTP ceiling of this machine right now)
// Then runs bench/hooks/jq.ts (filter evaluations/s) when present.
// Needs DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test). Options: --backlog N --seconds S --rate R
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'undici';
import { existsSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg } from 'node:os';
import { openPostgres } from '../../src/db/postgres.ts';
import { migrate } from '../../src/db/migrate.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { loadKeyRing } from '../../src/access/keys.ts';
import { HookStore } from '../../src/hooks/index.ts';
import { startReceiver, writeResources } from '../../test/hooks/helpers.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const HOOKS = 100;
const MATCHES_PER_WRITE = 10;
const BACKLOG = arg('backlog', 2_000);
const SECONDS = arg('seconds', 10);
const RATE = arg('rate', 100);
const LOW_RATE = arg('low-rate', 20);
const url = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const workerScript = fileURLToPath(new URL('../../test/hooks/crash-worker.ts', import.meta.url));

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};

async function main() {
  const schema = `bench_hooks_${randomBytes(4).toString('hex')}`;
  const admin = await openPostgres({ url, max: 1 });
  await admin.exec(`CREATE SCHEMA ${schema}`);
  const db = await openPostgres({ url, schema, max: 16 });
  const rx = await startReceiver();
  let worker: ChildProcess | null = null;
  try {
    await migrate(db);
    const keys = await loadKeyRing(db, undefined);
    const store = new HookStore(db, systemClock, keys, { allowHttp: true, allowPrivateTargets: true });
    const builder = randomUUID();
    // Typical filters: resource type + a coded value, and a computed condition on an identifier.
    for (let i = 0; i < HOOKS; i++) {
      await store.create(builder, {
        webhookUrl: `${rx.url}/h/${i}`,
        filter: `.resourceType == "Observation" and .status == "final" and ((.identifier[0].value | tonumber) % ${HOOKS / MATCHES_PER_WRITE}) == ${i % (HOOKS / MATCHES_PER_WRITE)}`,
        auth: i % 2 ? { type: 'basic', username: 'u', password: 'p' } : { type: 'basic', username: 'v', password: 'q' },
      });
    }
    const writtenAt = new Map<string, number>();
    let seq = 0;
    const observation = () => {
      const n = seq++;
      return {
        resourceType: 'Observation', builderId: builder, upid: `upid-${n % 1000}`,
        content: {
          status: 'final', identifier: [{ system: 'urn:bench', value: String(n) }],
          code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
          valueQuantity: { value: 60 + (n % 40), unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' },
          subject: { reference: `Patient/${n % 1000}` }, effectiveDateTime: new Date().toISOString(),
        },
      };
    };
    const write = async (count: number) => {
      const done = await writeResources(db, Array.from({ length: count }, observation));
      const t = performance.now();
      for (const d of done) writtenAt.set(`Observation/${d.id}`, t);
    };
    const startWorker = () => new Promise<ChildProcess>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', workerScript], {
        env: { ...process.env, DATABASE_URL: url, HOOKS_SCHEMA: schema, HOOKS_CONCURRENCY: '64', HOOKS_POLL_MS: '10', HOOKS_BATCH: '500', HOOKS_POOL: '8', HOOKS_TIMEOUT_MS: '10000' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      child.stdout!.once('data', () => resolve(child));
    });
    const waitFor = async (n: number, timeoutMs: number) => {
      const end = Date.now() + timeoutMs;
      while (rx.requests.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    };

    // 0. Baseline: how many plain POSTs/s this machine does to the receiver right now (64 in flight).
    {
      const agent = new Agent({ connections: 64 });
      const n = 3_000;
      let i = 0;
      const t = performance.now();
      await Promise.all(Array.from({ length: 64 }, async () => {
        while (i++ < n) await (await request(`${rx.url}/baseline`, { method: 'POST', dispatcher: agent, body: '{"message_id":"x"}', headers: { 'content-type': 'application/json' } })).body.dump();
      }));
      console.log(`baseline: plain undici POST to the receiver: ${(n / ((performance.now() - t) / 1000)).toFixed(0)} requests/s`);
      await agent.close();
      rx.requests.length = 0;
    }

    // 1. Throughput on a backlog.
    for (let i = 0; i < BACKLOG; i += 50) await write(Math.min(50, BACKLOG - i));
    const expected1 = BACKLOG * MATCHES_PER_WRITE;
    worker = await startWorker();
    const t0 = performance.now();
    await waitFor(expected1, 300_000);
    const secs1 = (performance.now() - t0) / 1000;
    const throughput = rx.requests.length / secs1;
    console.log(`throughput: ${rx.requests.length}/${expected1} deliveries of a ${BACKLOG}-write backlog in ${secs1.toFixed(1)} s = ${throughput.toFixed(0)} deliveries/s`);

    // 2. Latency at a steady write rate (one resource per transaction, as API writes are).
    const arrivals: { resourceId: string; at: number }[] = [];
    rx.respond = (r) => {
      arrivals.push({ resourceId: r.json.resourceId, at: performance.now() });
      return 200;
    };
    for (const rate of [RATE, LOW_RATE]) {
      rx.requests.length = 0;
      arrivals.length = 0;
      const total = rate * SECONDS;
      const start = performance.now();
      const pending: Promise<void>[] = [];
      for (let i = 0; i < total; i++) {
        const due = start + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        pending.push(write(1));
      }
      await Promise.all(pending);
      const achieved = total / ((performance.now() - start) / 1000);
      await waitFor(total * MATCHES_PER_WRITE, 180_000);
      const lat = arrivals.map((a) => a.at - writtenAt.get(a.resourceId)!).filter((x) => Number.isFinite(x));
      console.log(`latency at ${achieved.toFixed(0)} writes/s (${HOOKS} hooks, ${MATCHES_PER_WRITE} matches per write = ${(achieved * MATCHES_PER_WRITE).toFixed(0)} deliveries/s offered): ${lat.length}/${total * MATCHES_PER_WRITE} delivered, write→delivery p50 ${pct(lat, 50).toFixed(0)} ms, p99 ${pct(lat, 99).toFixed(0)} ms, max ${Math.max(...lat).toFixed(0)} ms`);
    }
    console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  } finally {
    worker?.kill('SIGKILL');
    await rx.close();
    await db.close();
    await admin.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await admin.close();
  }

  const jq = fileURLToPath(new URL('./jq.ts', import.meta.url));
  if (existsSync(jq)) {
    console.log('\n== bench/hooks/jq.ts');
    await new Promise<void>((resolve) => spawn(process.execPath, ['--import', 'tsx', jq], { stdio: 'inherit' }).on('exit', () => resolve()));
  }
}

await main();
