// bench:feeds — MLLP ADT ingest on PostgreSQL. The platform side (MLLP listener + inbox, then the processing
// worker) runs in its own process (bench/feeds/server.ts); this process plays the ADT network: --connections
// MLLP connections, each sending one message and waiting for its ACK before the next (how MLLP senders work),
// for --messages messages in all. Reports messages/s, ACK latency p50/p99/max (send → ACK), messages per
// commit (group commit), then the processing rate (stored → routed → written or dropped) over up to
// --process-seconds. Half of the messages are for enrolled patients, half for people nobody enrolled.
// Needs DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test); works in its own schema, dropped after.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg } from 'node:os';
import { openPostgres } from '../../src/db/postgres.ts';
import { generateDemographics, prng } from '../../src/networks/sim/people.ts';
import { MllpClient, adt, msa, type Person } from '../../test/feeds/helpers.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const MESSAGES = arg('messages', 20_000);
const CONNECTIONS = arg('connections', 32);
const PROCESS_SECONDS = arg('process-seconds', 60);
const url = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';

const pct = (xs: Float64Array, p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function main() {
  const schema = `bench_feeds_${randomBytes(4).toString('hex')}`;
  const admin = await openPostgres({ url, max: 1 });
  await admin.exec(`CREATE SCHEMA ${schema}`);
  const child = fork(fileURLToPath(new URL('./server.ts', import.meta.url)), [], {
    env: { ...process.env, DATABASE_URL: url, BENCH_SCHEMA: schema },
    execArgv: ['--import', 'tsx', ...(process.env.BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = <T>(key: string) => new Promise<T>((resolve, reject) => {
    const on = (m: any) => { if (m && m[key] !== undefined) { child.off('message', on); resolve(m as T); } };
    child.on('message', on);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  try {
    const ready = await next<{ port: number; people: (Person & { enrolled: boolean })[] }>('ready');
    const rnd = prng(99);
    const strangers: Person[] = Array.from({ length: 1000 }, () => generateDemographics(rnd) as Person);
    const enrolled = ready.people.filter((p) => p.enrolled);
    // Each person has one visit; events cycle admit → update → discharge.
    const events = ['A01', 'A08', 'A03'];
    const messages: string[] = [];
    for (let i = 0; i < MESSAGES; i++) {
      const person = i % 2 === 0 ? enrolled[i % enrolled.length]! : strangers[i % strangers.length]!;
      const k = Math.floor(i / 2);
      messages.push(adt({ controlId: `B-${i}`, event: events[k % 3]!, person, visit: `BV-${i % 2}-${k % 400}`, time: `2026112${1 + (k % 8)}${String(8 + (k % 10)).padStart(2, '0')}0000+0000` }));
    }
    const clients = await Promise.all(Array.from({ length: CONNECTIONS }, () => MllpClient.connect(ready.port)));
    const latencies = new Float64Array(MESSAGES);
    let nextIndex = 0;
    let rejected = 0;
    const load0 = loadavg()[0]!;
    const t0 = performance.now();
    await Promise.all(clients.map(async (c) => {
      for (;;) {
        const i = nextIndex++;
        if (i >= MESSAGES) return;
        const sent = performance.now();
        const before = c.acks.length;
        c.send(messages[i]!);
        const acks = await c.waitAcks(before + 1, 30_000);
        latencies[i] = performance.now() - sent;
        if (msa(acks[before] ?? '').code !== 'AA') rejected++;
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    const load1 = loadavg()[0]!;
    clients.forEach((c) => c.close());
    latencies.sort();
    child.send({ cmd: 'stats' });
    const stats = await next<{ commits: number }>('stats');
    const ingest = {
      messages: MESSAGES,
      connections: CONNECTIONS,
      seconds: Math.round(seconds * 100) / 100,
      messagesPerSecond: Math.round(MESSAGES / seconds),
      ackMs: { p50: +pct(latencies, 50).toFixed(1), p99: +pct(latencies, 99).toFixed(1), max: +latencies[latencies.length - 1]!.toFixed(1) },
      notAA: rejected,
      messagesPerCommit: Math.round((MESSAGES / Math.max(1, stats.commits)) * 10) / 10,
      loadavg1m: { before: +load0.toFixed(2), after: +load1.toFixed(2) },
    };
    console.log(JSON.stringify({ ingest }, null, 2));
    child.send({ cmd: 'process', limitSeconds: PROCESS_SECONDS });
    const proc = await next<{ processed: number; seconds: number; byStatus: unknown }>('processed');
    console.log(JSON.stringify({
      processing: { processed: proc.processed, seconds: +proc.seconds.toFixed(1), messagesPerSecond: Math.round(proc.processed / proc.seconds), byStatus: proc.byStatus, loadavg1m: +loadavg()[0]!.toFixed(2) },
      machine: { cpus: cpus().length, model: cpus()[0]?.model },
    }, null, 2));
    child.send({ cmd: 'close' });
    await new Promise((r) => child.once('exit', r));
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await admin.exec(`DROP SCHEMA ${schema} CASCADE`);
    await admin.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
