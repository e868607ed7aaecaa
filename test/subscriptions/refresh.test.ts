// Intelligent refresh: every trigger and its timing on the fake clock, restart, two workers at once.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestPlatform, type TestPlatform, type TestBuilder } from '../helpers/platform.ts';
import { systemContext } from '../../src/history/runner.ts';
import { createDomain } from '../../src/server/domain.ts';
import { RefreshEngine } from '../../src/subscriptions/engine.ts';
import { RefreshWorker } from '../../src/subscriptions/worker.ts';
import { appointmentDue, expectedRefill } from '../../src/subscriptions/rules.ts';
import { loadSubscriptionsConfig } from '../../src/subscriptions/config.ts';
import type { FhirResource } from '../../src/fhir/store/index.ts';
import { PRACTITIONER, FULL_PATIENT } from './fixtures.ts';

const H = 3600_000;
const D = 24 * H;
const SOURCE = 'https://zusapi.com/thirdparty/source';

test('timing rules (pure)', () => {
  const cfg = loadSubscriptionsConfig({});
  const now = new Date('2026-03-01T00:00:00Z');
  // Written 10 days ahead: 72 h before (inside spec/001's 1–3 days before).
  assert.equal(appointmentDue(new Date(now.getTime() + 10 * D), now, cfg)?.toISOString(), new Date(now.getTime() + 7 * D).toISOString());
  // Written 5 days + 1 min ahead: still the 72-h rule.
  assert.equal(appointmentDue(new Date(now.getTime() + 5 * D + 60_000), now, cfg)?.toISOString(), new Date(now.getTime() + 2 * D + 60_000).toISOString());
  // Written 4 days ahead: at once (the notes' "within 1 h").
  assert.equal(appointmentDue(new Date(now.getTime() + 4 * D), now, cfg)?.toISOString(), now.toISOString());
  assert.equal(appointmentDue(new Date(now.getTime() - 1), now, cfg), null);
  const d = { resourceType: 'MedicationDispense', whenHandedOver: '2026-03-01T10:00:00Z', whenPrepared: '2026-02-28T10:00:00Z', daysSupply: { value: 30, unit: 'day', system: 'http://unitsofmeasure.org', code: 'd' } } as FhirResource;
  assert.equal(expectedRefill(d)?.toISOString(), '2026-03-31T10:00:00.000Z');
  assert.equal(expectedRefill({ ...d, whenHandedOver: undefined } as FhirResource)?.toISOString(), '2026-03-30T10:00:00.000Z');
  assert.equal(expectedRefill({ ...d, daysSupply: { value: 30, code: 'mo' } } as FhirResource), null);
});

describe('intelligent refresh', () => {
  let tp: TestPlatform;
  let b: TestBuilder;
  let engine: RefreshEngine;

  before(async () => {
    tp = await startTestPlatform();
    const raw = await tp.createBuilder();
    // The fake clock runs for weeks here: fetch a fresh token whenever the clock moved past half its lifetime.
    let token = raw.token;
    let issued = tp.clock.nowMs();
    b = {
      ...raw,
      fetch: async (path, init) => {
        if (tp.clock.nowMs() - issued > 30 * 60_000 || tp.clock.nowMs() < issued) {
          token = await tp.token(raw.clientId, raw.clientSecret);
          issued = tp.clock.nowMs();
        }
        return tp.fetchAs(token, path, init);
      },
    };
    engine = new RefreshEngine(tp.platform.domain.subscriptions);
  });
  after(async () => {
    await tp.close();
  });

  const json = (r: Response) => r.json() as Promise<any>;
  const createPatient = async () => {
    const r = await b.fetch('/fhir/Patient', { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(FULL_PATIENT) });
    assert.equal(r.status, 201);
    return ((await r.json()) as { id: string }).id;
  };
  const enroll = async (pid: string, opts: { priority?: boolean; packageId?: string } = {}) => {
    const r = await b.fetch('/zap-data-subscriptions/enrollment-statuses', {
      method: 'POST',
      body: JSON.stringify({ data: { attributes: { priority: opts.priority ?? false, practitioner: PRACTITIONER }, relationships: { patient: { data: { type: 'fhir/Patient', id: pid } }, package: { data: { id: opts.packageId ?? 'monitoring' } } } } }),
    });
    assert.equal(r.status, 201, await r.clone().text());
  };
  /** an enrolled patient whose initial refresh already ran */
  const enrolled = async () => {
    const pid = await createPatient();
    await enroll(pid, { priority: true });
    await engine.runDue();
    return pid;
  };
  const jobs = async (pid: string) => (await tp.db.query<{ id: string; reason: string; created_at: Date; request_consent: boolean; practitioner: unknown }>('SELECT id, reason, created_at, request_consent, practitioner FROM patient_history_jobs WHERE patient_id = $1 ORDER BY created_at, reason', [pid])).rows;
  const reasons = async (pid: string) => (await jobs(pid)).map((j) => j.reason);
  const schedule = async (pid: string) => (await tp.db.query<{ reason_key: string; status: string; due_at: Date; job_id: string | null }>('SELECT reason_key, status, due_at, job_id FROM subscription_refreshes WHERE patient_id = $1 ORDER BY due_at', [pid])).rows;
  const row = async (pid: string, key: string) => (await schedule(pid)).find((r) => r.reason_key === key);
  const writeFhir = async (resource: Record<string, unknown>, method = 'POST') => {
    const path = method === 'POST' ? `/fhir/${resource.resourceType}` : `/fhir/${resource.resourceType}/${resource.id}`;
    const r = await b.fetch(path, { method, headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(resource) });
    assert.ok(r.status === 200 || r.status === 201, await r.clone().text());
    return ((await r.json()) as { id: string }).id;
  };
  /** what a feed or an importer writes: platform writer, third-party source tag */
  const writeThirdParty = async (resource: Record<string, unknown>, source: string) => {
    const ctx = systemContext(b.builderId, 'feeds');
    const tagged = { ...resource, meta: { tag: [{ system: SOURCE, code: source }] } } as FhirResource;
    const store = tp.platform.domain.store;
    const out = resource.id ? await store.update(ctx, String(resource.resourceType), String(resource.id), tagged, { platform: true }) : await store.create(ctx, tagged, { platform: true });
    return out.id;
  };
  const appointment = (pid: string, start: Date, extra: Record<string, unknown> = {}) => ({
    resourceType: 'Appointment', status: 'booked', start: start.toISOString(), end: new Date(start.getTime() + 30 * 60_000).toISOString(),
    participant: [{ actor: { reference: `Patient/${pid}` }, status: 'accepted' }], ...extra,
  });

  test('enrollment: initial history after the configured delay, or at once with priority; visible reason on the job', async () => {
    const pid = await createPatient();
    await enroll(pid);
    tp.clock.advance(H - 60_000);
    await engine.runDue();
    assert.deepEqual(await reasons(pid), [], 'not before the initial delay');
    tp.clock.advance(60_000);
    await engine.runDue();
    assert.deepEqual(await reasons(pid), ['enrollment']);
    const [job] = await jobs(pid);
    assert.equal(job!.request_consent, true);
    assert.deepEqual(job!.practitioner, PRACTITIONER);
    const api = (await json(await b.fetch(`/patient-history/jobs/${job!.id}`))).data;
    assert.equal(api.attributes.reason, 'enrollment');
    assert.deepEqual(api.attributes.providers.map((p: any) => p.service).sort(), ['carequality', 'commonwell', 'quest', 'surescripts'], 'initialProviders + the lab history (quest is subscribed)');
    // Never twice for the same reason.
    await engine.runDue();
    assert.deepEqual(await reasons(pid), ['enrollment']);

    const fast = await createPatient();
    await enroll(fast, { priority: true });
    await engine.runDue();
    assert.deepEqual(await reasons(fast), ['enrollment'], 'priority: at once');
  });

  test('priority enrollments are throttled per builder (10 per minute by default)', async () => {
    const other = await tp.createBuilder();
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await other.fetch('/fhir/Patient', { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(FULL_PATIENT) });
      const pid = ((await r.json()) as { id: string }).id;
      ids.push(pid);
      const e = await other.fetch('/zap-data-subscriptions/enrollment-statuses', { method: 'POST', body: JSON.stringify({ data: { attributes: { priority: true, practitioner: PRACTITIONER }, relationships: { patient: { data: { id: pid } }, package: { data: { id: 'lite' } } } } }) });
      assert.equal(e.status, 201);
    }
    const due = (await tp.db.query<{ due_at: Date }>("SELECT due_at FROM subscription_refreshes WHERE builder_id = $1 AND reason_key = 'enrollment' ORDER BY due_at", [other.builderId])).rows.map((r) => r.due_at.getTime());
    const now = tp.clock.nowMs();
    assert.equal(due.filter((t) => t === now).length, 10);
    assert.deepEqual(due.slice(10), [now + 60_000, now + 60_000]);
    await engine.runDue();
    const started = (await tp.db.query<{ n: number }>("SELECT count(*)::int8 AS n FROM patient_history_jobs WHERE builder_id = $1 AND reason = 'enrollment'", [other.builderId])).rows[0]!.n;
    assert.equal(started, 10);
    tp.clock.advance(60_000);
    await engine.runDue();
    assert.equal((await tp.db.query<{ n: number }>("SELECT count(*)::int8 AS n FROM patient_history_jobs WHERE builder_id = $1 AND reason = 'enrollment'", [other.builderId])).rows[0]!.n, 12);
  });

  test('appointment written > 5 days ahead: one refresh 72 h before; rescheduling moves it', async () => {
    const pid = await enrolled();
    const start = new Date(tp.clock.nowMs() + 10 * D);
    const aid = await writeFhir(appointment(pid, start));
    assert.equal((await row(pid, `appointment:${aid}`))?.due_at.getTime(), start.getTime() - 72 * H);
    // Rescheduled to 20 days ahead: the refresh moves with it.
    const later = new Date(tp.clock.nowMs() + 20 * D);
    await writeFhir({ ...appointment(pid, later), id: aid }, 'PUT');
    assert.equal((await row(pid, `appointment:${aid}`))?.due_at.getTime(), later.getTime() - 72 * H);
    // An unrelated edit does not move it.
    tp.clock.advance(D);
    await writeFhir({ ...appointment(pid, later, { comment: 'bring glasses' }), id: aid }, 'PUT');
    assert.equal((await row(pid, `appointment:${aid}`))?.due_at.getTime(), later.getTime() - 72 * H);
    tp.clock.set(later.getTime() - 72 * H - 60_000);
    await engine.runDue();
    assert.ok(!(await reasons(pid)).includes(`appointment:${aid}`));
    tp.clock.advance(60_000);
    await engine.runDue();
    assert.equal((await reasons(pid)).filter((r) => r === `appointment:${aid}`).length, 1);
    const due = later.getTime() - tp.clock.nowMs();
    assert.ok(due >= 24 * H && due <= 72 * H, 'within the 1–3 days before of spec/001');
    // Written again after it ran: never a second refresh for the same appointment.
    await writeFhir({ ...appointment(pid, later, { comment: 'again' }), id: aid }, 'PUT');
    await engine.runDue();
    assert.equal((await reasons(pid)).filter((r) => r === `appointment:${aid}`).length, 1);
  });

  test('appointment written < 5 days ahead: refresh at once (within 1 h); cancelled and deleted appointments lose theirs', async () => {
    const pid = await enrolled();
    const soon = await writeFhir(appointment(pid, new Date(tp.clock.nowMs() + 2 * D)));
    const written = tp.clock.nowMs();
    await engine.runDue();
    const job = (await jobs(pid)).find((j) => j.reason === `appointment:${soon}`);
    assert.ok(job);
    assert.ok(job.created_at.getTime() - written <= H);

    const cancelled = await writeFhir(appointment(pid, new Date(tp.clock.nowMs() + 10 * D)));
    await writeFhir({ ...appointment(pid, new Date(tp.clock.nowMs() + 10 * D), { status: 'cancelled' }), id: cancelled }, 'PUT');
    assert.equal((await row(pid, `appointment:${cancelled}`))?.status, 'cancelled');

    const deleted = await writeFhir(appointment(pid, new Date(tp.clock.nowMs() + 10 * D)));
    assert.equal((await b.fetch(`/fhir/Appointment/${deleted}`, { method: 'DELETE' })).status < 300, true);
    tp.clock.advance(8 * D);
    await engine.runDue();
    const rs = await reasons(pid);
    assert.ok(!rs.includes(`appointment:${cancelled}`) && !rs.includes(`appointment:${deleted}`));
    assert.equal((await row(pid, `appointment:${deleted}`))?.status, 'cancelled');
  });

  test('appointments booked before the enrollment became active count as written at activation', async () => {
    const pid = await createPatient();
    const far = await writeFhir(appointment(pid, new Date(tp.clock.nowMs() + 12 * D)));
    const past = await writeFhir(appointment(pid, new Date(tp.clock.nowMs() - D)));
    tp.clock.advance(3 * D);
    await enroll(pid);
    assert.equal((await row(pid, `appointment:${far}`))?.due_at.getTime(), tp.clock.nowMs() + 9 * D - 72 * H);
    assert.equal(await row(pid, `appointment:${past}`), undefined);
  });

  test('another builder\'s writes never schedule this builder\'s refreshes', async () => {
    const pid = await enrolled();
    const other = await tp.createBuilder();
    const ctx = systemContext(other.builderId, 'other');
    const a = await tp.platform.domain.store.create(ctx, appointment(pid, new Date(tp.clock.nowMs() + 2 * D)) as FhirResource).catch(() => null);
    if (a) assert.equal(await row(pid, `appointment:${a.id}`), undefined);
    const enc = { resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' }, subject: { reference: `Patient/${pid}` }, meta: { tag: [{ system: SOURCE, code: 'bamboohealth' }] } } as FhirResource;
    const e = await tp.platform.domain.store.create(ctx, enc, { platform: true }).catch(() => null);
    if (e) assert.equal(await row(pid, `discharge-24h:${e.id}`), undefined);
    assert.ok(a || e, 'at least one write went through (else the store itself keeps them apart)');
  });

  test('a bulk write (one transaction, many patients) schedules exactly the enrolled patients\' appointments', async () => {
    const enrolledIds = [await enrolled(), await enrolled()];
    const strangers: string[] = [];
    for (let i = 0; i < 12; i++) strangers.push(await createPatient());
    // strangers first (so the in-memory set of enrollees gets loaded mid-transaction), enrollees last
    const order = [...strangers.slice(0, 10), enrolledIds[0]!, ...strangers.slice(10), enrolledIds[1]!];
    const ctx = systemContext(b.builderId, 'bulk');
    const out = await tp.db.transaction((tx) => tp.platform.domain.store.writeBatch(tx, ctx, order.map((pid) => ({ action: 'create' as const, type: 'Appointment', resource: appointment(pid, new Date(tp.clock.nowMs() + 10 * D)) as FhirResource }))));
    for (let i = 0; i < order.length; i++) {
      const r = await row(order[i]!, `appointment:${out[i]!.id}`);
      if (enrolledIds.includes(order[i]!)) assert.ok(r, 'enrolled: scheduled');
      else assert.equal(r, undefined, 'not enrolled: nothing');
    }
  });

  test('third-party appointments and patients not enrolled trigger nothing', async () => {
    const pid = await enrolled();
    const aid = await writeThirdParty(appointment(pid, new Date(tp.clock.nowMs() + 2 * D)), 'commonwell');
    assert.equal(await row(pid, `appointment:${aid}`), undefined);
    const stranger = await createPatient();
    await writeFhir(appointment(stranger, new Date(tp.clock.nowMs() + 2 * D)));
    assert.deepEqual(await schedule(stranger), []);
  });

  test('ADT discharge: a refresh within 24 h (and 36 h) and another within a week; only once per encounter', async () => {
    const pid = await enrolled();
    const enc = { resourceType: 'Encounter', status: 'in-progress', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' }, subject: { reference: `Patient/${pid}` }, period: { start: tp.clock.now().toISOString() } };
    const eid = await writeThirdParty(enc, 'bamboohealth');
    assert.equal(await row(pid, `discharge-24h:${eid}`), undefined, 'an admission is no discharge');
    tp.clock.advance(3 * D);
    const notified = tp.clock.nowMs();
    await writeThirdParty({ ...enc, id: eid, status: 'finished', period: { start: enc.period.start, end: tp.clock.now().toISOString() } }, 'bamboohealth');
    const first = (await row(pid, `discharge-24h:${eid}`))!;
    const second = (await row(pid, `discharge-week:${eid}`))!;
    assert.ok(first.due_at.getTime() - notified <= 24 * H && first.due_at.getTime() > notified);
    assert.ok(second.due_at.getTime() - notified <= 7 * D && second.due_at.getTime() > first.due_at.getTime());
    tp.clock.set(first.due_at);
    await engine.runDue();
    assert.ok((await reasons(pid)).includes(`discharge-24h:${eid}`));
    assert.ok(!(await reasons(pid)).includes(`discharge-week:${eid}`));
    // The same discharge written again (duplicate message): nothing new.
    await writeThirdParty({ ...enc, id: eid, status: 'finished', period: { start: enc.period.start, end: new Date(notified).toISOString() }, length: { value: 3, unit: 'd' } }, 'bamboohealth');
    tp.clock.set(second.due_at);
    await engine.runDue();
    const rs = await reasons(pid);
    assert.equal(rs.filter((r) => r === `discharge-24h:${eid}`).length, 1);
    assert.equal(rs.filter((r) => r === `discharge-week:${eid}`).length, 1);
    // Collective Medical works the same way; a non-ADT source does not.
    const c = await writeThirdParty({ ...enc, status: 'finished' }, 'collective-medical');
    assert.ok(await row(pid, `discharge-24h:${c}`));
    const cw = await writeThirdParty({ ...enc, status: 'finished' }, 'commonwell');
    assert.equal(await row(pid, `discharge-24h:${cw}`), undefined);
  });

  test('expected refill: pickup + days supply, checked 5 days after; near ones folded; old ones ignored', async () => {
    const pid = await enrolled();
    const handed = tp.clock.now();
    const disp = (days: number, when = handed) => ({
      resourceType: 'MedicationDispense', status: 'completed', medicationCodeableConcept: { text: 'lisinopril 10 mg' }, subject: { reference: `Patient/${pid}` },
      whenHandedOver: when.toISOString(), daysSupply: { value: days, unit: 'day', system: 'http://unitsofmeasure.org', code: 'd' },
    });
    const d1 = await writeThirdParty(disp(30), 'surescripts');
    const r1 = (await row(pid, `refill:${d1}`))!;
    assert.equal(r1.due_at.getTime(), handed.getTime() + 35 * D);
    const d2 = await writeThirdParty(disp(31), 'surescripts');
    assert.equal(await row(pid, `refill:${d2}`), undefined, 'folded into the refill check a day apart');
    const old = await writeThirdParty(disp(30, new Date(handed.getTime() - 90 * D)), 'surescripts');
    assert.equal(await row(pid, `refill:${old}`), undefined);
    tp.clock.set(r1.due_at.getTime() - 1);
    await engine.runDue();
    assert.ok(!(await reasons(pid)).includes(`refill:${d1}`));
    tp.clock.set(r1.due_at);
    await engine.runDue();
    const job = (await jobs(pid)).find((j) => j.reason === `refill:${d1}`)!;
    const api = (await json(await b.fetch(`/patient-history/jobs/${job.id}`))).data;
    assert.deepEqual(api.attributes.providers.map((p: any) => p.service), ['surescripts']);
  });

  test('recurring every intervalDays; pharmacy backstop 36 days after the last pharmacy refresh', async () => {
    const pid = await enrolled();
    const t0 = tp.clock.nowMs();
    // The initial refresh included the pharmacy: backstop at +36 d.
    assert.equal((await row(pid, 'pharmacy-backstop:1'))?.due_at.getTime(), t0 + 36 * D);
    assert.equal((await row(pid, 'recurring:1'))?.due_at.getTime(), t0 + 28 * D);
    tp.clock.set(t0 + 28 * D);
    await engine.runDue();
    assert.ok((await reasons(pid)).includes('recurring:1'));
    assert.equal((await row(pid, 'recurring:2'))?.due_at.getTime(), t0 + 56 * D);
    // recurring is EHR-only in the default package: the pharmacy backstop stays.
    assert.equal((await row(pid, 'pharmacy-backstop:1'))?.due_at.getTime(), t0 + 36 * D);
    tp.clock.set(t0 + 36 * D);
    await engine.runDue();
    assert.ok((await reasons(pid)).includes('pharmacy-backstop:1'));
    assert.equal((await row(pid, 'pharmacy-backstop:2'))?.due_at.getTime(), t0 + 72 * D);
    // An appointment refresh (freshmaker: commonwell + surescripts) restarts the backstop clock.
    tp.clock.set(t0 + 40 * D);
    await writeFhir(appointment(pid, new Date(tp.clock.nowMs() + D)));
    await engine.runDue();
    assert.equal((await row(pid, 'pharmacy-backstop:2'))?.due_at.getTime(), t0 + 76 * D);
  });

  test('unenrolling cancels pending refreshes; re-activation schedules again; inactive patients trigger nothing', async () => {
    const pid = await enrolled();
    const aid = await writeFhir(appointment(pid, new Date(tp.clock.nowMs() + 10 * D)));
    assert.ok(await row(pid, `appointment:${aid}`));
    const off = await b.fetch(`/zap-data-subscriptions/enrollment-statuses/${pid}:monitoring`, { method: 'PATCH', body: JSON.stringify({ data: { attributes: { status: 'inactive' } } }) });
    assert.equal(off.status, 200);
    assert.deepEqual((await schedule(pid)).filter((r) => r.status === 'pending'), []);
    const again = await writeFhir(appointment(pid, new Date(tp.clock.nowMs() + 2 * D)));
    assert.equal(await row(pid, `appointment:${again}`), undefined);
    tp.clock.advance(40 * D);
    await engine.runDue();
    assert.deepEqual(await reasons(pid), ['enrollment']);
    const on = await b.fetch(`/zap-data-subscriptions/enrollment-statuses/${pid}:monitoring`, { method: 'PATCH', body: JSON.stringify({ data: { attributes: { status: 'active' } } }) });
    assert.equal(on.status, 200);
    const pending = (await schedule(pid)).filter((r) => r.status === 'pending').map((r) => r.reason_key).sort();
    assert.deepEqual(pending, ['pharmacy-backstop:1', 'recurring:1'], 'the initial history ran already; the series start again');
  });

  test('a deleted Patient gets no more refreshes', async () => {
    const pid = await enrolled();
    assert.ok((await b.fetch(`/fhir/Patient/${pid}`, { method: 'DELETE' })).status < 300);
    tp.clock.advance(28 * D);
    await engine.runDue();
    assert.deepEqual(await reasons(pid), ['enrollment']);
    assert.equal((await row(pid, 'recurring:1'))?.status, 'skipped');
  });

  test('restart: a new worker instance on the same database picks up the schedule', async () => {
    const pid = await createPatient();
    await enroll(pid);
    // Another process: its own domain (store, services) on the same database, with a polling worker.
    const domain2 = createDomain({ ...tp.services }, tp.platform.access, { subscriptions: { pollMs: 10 } });
    const worker = new RefreshWorker(domain2.subscriptions, 10);
    worker.start();
    try {
      tp.clock.advance(H);
      worker.wake();
      for (let i = 0; i < 200 && !(await reasons(pid)).includes('enrollment'); i++) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(await reasons(pid), ['enrollment']);
    } finally {
      await worker.stop();
    }
  });

  test('two workers at once never start a refresh twice', async () => {
    const pids: string[] = [];
    for (let i = 0; i < 25; i++) {
      const pid = await createPatient();
      await enroll(pid, { packageId: 'lite' });
      pids.push(pid);
    }
    tp.clock.advance(H);
    const a = new RefreshEngine(createDomain({ ...tp.services }, tp.platform.access, { subscriptions: { batchSize: 3 } }).subscriptions);
    const c = new RefreshEngine(createDomain({ ...tp.services }, tp.platform.access, { subscriptions: { batchSize: 3 } }).subscriptions);
    const [ra, rc] = await Promise.all([a.runDue(), c.runDue()]);
    await Promise.all([a.runDue(), c.runDue()]);
    const counts = (await tp.db.query<{ patient_id: string; n: number }>("SELECT patient_id, count(*)::int8 AS n FROM patient_history_jobs WHERE reason = 'enrollment' AND patient_id = ANY($1::text[]) GROUP BY patient_id", [pids])).rows;
    assert.equal(counts.length, 25);
    assert.ok(counts.every((r) => r.n === 1));
    assert.ok(ra.started + rc.started >= 25);
  });
});
