// bench:subscriptions — the refresh engine and the trigger cost on the write path.
//  1. enrollments/s through SubscriptionService.enroll (validation, Practitioner lookup, schedule rows);
//  2. refreshes started/s: N initial refreshes due at once, one engine (each: claim, patient-history job with its
//     provider rows and queue jobs, schedule follow-ons), then N recurring refreshes with two engines at once;
//  3. Appointment writes/s for enrolled patients (each schedules a refresh in the write's transaction) against
//     the same writes through a store without the subscriptions interceptor.
// Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/tessera_bench_subscriptions npm run bench:subscriptions -- [patients=2000]
import os from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDatabase } from '../database.ts';
import { createPlatform } from '../../src/server/platform.ts';
import { FakeClock } from '../../src/platform/clock.ts';
import { systemContext } from '../../src/history/runner.ts';
import { fhirStoreFor } from '../../src/fhir/store/index.ts';
import { RefreshEngine } from '../../src/subscriptions/engine.ts';
import { createDomain } from '../../src/server/domain.ts';
import type { FhirResource } from '../../src/fhir/store/index.ts';

const N = Number(process.argv[2] ?? 2000);
const url = process.env.DATABASE_URL;
const D = 86_400_000;

async function freshDatabase(): Promise<void> {
  if (url) await ensureDatabase(url, { fresh: true });
}

const patient = (i: number): FhirResource => ({
  resourceType: 'Patient', name: [{ use: 'official', family: `Bench${i}`, given: [`Pat${i}`] }], gender: i % 2 ? 'female' : 'male',
  birthDate: `19${50 + (i % 50)}-0${1 + (i % 9)}-1${i % 10}`, address: [{ line: [`${i} Main St`], city: 'Boston', state: 'MA', postalCode: '02110' }],
});

async function main() {
  await freshDatabase();
  const clock = new FakeClock('2026-06-01T00:00:00Z');
  // Without DATABASE_URL: an embedded PGlite in a temporary folder (never the default ./data).
  const dataDir = url ? undefined : mkdtempSync(join(os.tmpdir(), 'tessera-bench-subscriptions-'));
  const platform = await createPlatform({ clock, config: { logLevel: 'warn', ...(dataDir ? { dataDir } : {}) } });
  const { services, domain } = platform;
  const subs = domain.subscriptions;
  const b = await platform.access.createBuilder('bench subscriptions');
  const ctx = systemContext(b.id, 'bench');
  const store = domain.store;

  /** N new Patients in `c` (numbered from `first`), 100 per transaction; their ids */
  const createPatients = async (c: typeof ctx, first: number) => {
    const ids: string[] = [];
    for (let i = 0; i < N; i += 100) {
      const out = await services.db.transaction((tx) => store.writeBatch(tx, c, Array.from({ length: Math.min(100, N - i) }, (_, k) => ({ action: 'create' as const, type: 'Patient', resource: patient(first + i + k) }))));
      ids.push(...out.map((o) => o.id));
    }
    return ids;
  };
  const pids = await createPatients(ctx, 0);

  let t = performance.now();
  for (const pid of pids) {
    await subs.enroll(ctx, { data: { attributes: { practitioner: { npi: '1013085661', name: 'Bench Doctor', role: '309343006' } }, relationships: { patient: { data: { id: pid } }, package: { data: { id: 'monitoring' } } } } });
  }
  const enrollMs = performance.now() - t;

  clock.advance(3_600_000);
  const engine = new RefreshEngine(subs);
  t = performance.now();
  const r1 = await engine.runDue();
  const initialMs = performance.now() - t;

  clock.advance(28 * D);
  // a second "process": its own store and services object on the same database
  const e2 = new RefreshEngine(createDomain({ ...services }, platform.access).subscriptions);
  t = performance.now();
  const [a, c] = await Promise.all([engine.runDue(), e2.runDue()]);
  const recurringMs = performance.now() - t;
  const dup = (await services.db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM (SELECT patient_id, reason FROM patient_history_jobs GROUP BY 1, 2 HAVING count(*) > 1) x')).rows[0]!.n;

  // Appointment writes: with the trigger vs. a store without the subscriptions interceptor.
  const appt = (pid: string) => ({ resourceType: 'Appointment', status: 'booked', start: new Date(clock.nowMs() + 10 * D).toISOString(), participant: [{ actor: { reference: `Patient/${pid}` }, status: 'accepted' }] });
  const plain = fhirStoreFor({ ...services }); // a store of its own (fhirStoreFor is one per Services object)
  plain.addWriteInterceptor(domain.upi.interceptor);
  /** ms to write one appointment for each of `patients` in `c`, 50 per transaction, through store `s` */
  const writeAppointments = (c: typeof ctx, patients: string[]) => async (s: typeof store) => {
    const t0 = performance.now();
    for (let i = 0; i < patients.length; i += 50) {
      await services.db.transaction((tx) => s.writeBatch(tx, c, patients.slice(i, i + 50).map((pid) => ({ action: 'create' as const, type: 'Appointment', resource: appt(pid) as FhirResource }))));
    }
    return performance.now() - t0;
  };
  const write = writeAppointments(ctx, pids);
  // interleaved, best of two each (the machine is shared; the first round also warms caches)
  const withoutMs = await write(plain);
  const withMs1 = await write(store);
  const withoutMs2 = await write(plain);
  const withMs2 = await write(store);
  const bestWithout = Math.min(withoutMs, withoutMs2);
  const withMs = Math.min(withMs1, withMs2);
  // The common case: writes for patients nobody enrolled (one indexed lookup each).
  const writeOthers = writeAppointments(ctx, await createPatients(ctx, N));
  const o1 = await writeOthers(plain);
  const o2 = await writeOthers(store);
  const o3 = await writeOthers(plain);
  const o4 = await writeOthers(store);
  // A builder with nothing enrolled (the FHIR ingest case): one question per transaction.
  const b2 = await platform.access.createBuilder('bench subscriptions, nothing enrolled');
  const ctx2 = systemContext(b2.id, 'bench');
  const writeQuiet = writeAppointments(ctx2, await createPatients(ctx2, 2 * N));
  const q1 = await writeQuiet(plain);
  const q2 = await writeQuiet(store);
  const q3 = await writeQuiet(plain);
  const q4 = await writeQuiet(store);
  const apptRows = (await services.db.query<{ n: number }>("SELECT count(*)::int8 AS n FROM subscription_refreshes WHERE kind = 'appointment'")).rows[0]!.n;

  const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);
  console.log(JSON.stringify({
    database: services.db.kind, patients: N, cpus: os.cpus().length, load: os.loadavg().map((x) => x.toFixed(1)).join(' '),
    enrollmentsPerSec: rate(N, enrollMs),
    initialRefreshes: { started: r1.started, perSec: rate(r1.started, initialMs) },
    recurringTwoEngines: { started: a.started + c.started, perEngine: [a.started, c.started], perSec: rate(a.started + c.started, recurringMs), duplicates: dup },
    appointmentWritesPerSec: {
      enrolled: { withoutTrigger: rate(N, bestWithout), withTrigger: rate(N, withMs) },
      notEnrolledPatients: { withoutTrigger: rate(N, Math.min(o1, o3)), withTrigger: rate(N, Math.min(o2, o4)) },
      builderWithoutEnrollments: { withoutTrigger: rate(N, Math.min(q1, q3)), withTrigger: rate(N, Math.min(q2, q4)) },
      refreshesScheduled: apptRows,
    },
  }, null, 2));
  await platform.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
