// Issue 8's end-to-end scenario on one platform (fake clock) with the network simulator and the MLLP listener:
// enroll a patient → initial history arrives (EHR documents, pharmacy, 2 years of labs) → an appointment is
// written → a refresh runs before it → the ADT network pushes admit and discharge over MLLP → the Encounter is
// visible and its webhook delivered → the refresh after the discharge brings the discharge summary.
// The refresh engine, history runner, feed processing and hook delivery are stepped by the test (the same
// code the workers loop over), so every step is deterministic on the fake clock.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { startTestPlatform, type TestBuilder, type TestPlatform } from '../helpers/platform.ts';
import { startReceiver, type Receiver } from '../hooks/helpers.ts';
import { configureHooks, createHookWorker, type HookWorker } from '../../src/hooks/index.ts';
import { DEFAULT_CORPORA } from '../../src/networks/sim/cli.ts';
import { startSimulator, type SimPerson, type Simulator } from '../../src/networks/sim/server.ts';
import { feedMemberships } from '../../src/networks/sim/feeds.ts';
import { feedsFor, type Feeds } from '../../src/feeds/service.ts';
import { HistoryRunner } from '../../src/history/runner.ts';
import { httpEhrConnector, httpLabConnector, httpPharmacyConnector } from '../../src/networks/connectors/index.ts';
import { RefreshEngine } from '../../src/subscriptions/engine.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { patientResource } from './helpers.ts';

const H = 3600_000;
const D = 24 * H;
const SOURCE = 'https://zusapi.com/thirdparty/source';
const PRACTITIONER = { npi: '1013085661', name: 'Testfirstname Testlastname', role: '309343006' };

describe('subscriptions + push feeds end to end', { skip: existsSync(DEFAULT_CORPORA) ? false : 'shared corpora not found' }, () => {
  let sim: Simulator;
  let tp: TestPlatform;
  let feeds: Feeds;
  let hooks: HookWorker;
  let rx: Receiver;
  let me: TestBuilder;
  let runner: HistoryRunner;
  let engine: RefreshEngine;
  let person: SimPerson;
  let pid: string;
  let token: string;
  let issued = 0;

  /** the builder's requests, with a fresh token when the fake clock moved past its lifetime */
  const api = async (path: string, init: RequestInit = {}) => {
    if (tp.clock.nowMs() - issued > 30 * 60_000 || tp.clock.nowMs() < issued) {
      token = await tp.token(me.clientId, me.clientSecret);
      issued = tp.clock.nowMs();
    }
    return tp.fetchAs(token, path, init);
  };
  const json = async (path: string, init?: RequestInit) => (await (await api(path, init)).json()) as any;
  const count = async (q: string) => ((await json(`/fhir/${q}${q.includes('?') ? '&' : '?'}_count=500`)).entry ?? []).length as number;
  /** runs the patient-history providers of every job that is due (what the history worker does) */
  const runDueJobs = async () => {
    const rows = (await tp.db.query<{ job_id: string; service: string }>(
      `SELECT p.job_id, p.service FROM patient_history_providers p JOIN patient_history_jobs j ON j.id = p.job_id
        WHERE p.status = 'initialize' AND j.run_at <= $1 ORDER BY j.created_at, p.service`, [tp.clock.now()])).rows;
    for (const r of rows) await runner.run(r.job_id, r.service as never);
    return rows.length;
  };
  const refreshes = async () => (await json(`/zap-data-subscriptions/refreshes?filter[patient-id]=${pid}`)).data as { attributes: { kind: string; status: string; dueAt: string; reason: string }; relationships: { job?: { data: { id: string } } } }[];
  const job = async (id: string) => (await json(`/patient-history/jobs/${id}`)).data;

  before(async () => {
    tp = await startTestPlatform();
    tp.clock.set('2026-11-02T09:00:00Z');
    sim = await startSimulator({ corporaDir: DEFAULT_CORPORA, people: 30, seed: 21, documentsPerPerson: 2, asOf: '2026-11-01' });
    feeds = feedsFor(tp.services, tp.platform.domain);
    const mllp = await feeds.startMllp(0, '127.0.0.1');
    sim.feeds.setTarget({ mllp: `127.0.0.1:${mllp.port}` });
    configureHooks(tp.services, { allowPrivateTargets: true, allowHttp: true, timeoutMs: 2_000 });
    hooks = createHookWorker(tp.services);
    rx = await startReceiver();
    me = await tp.createBuilder();
    token = me.token;
    issued = tp.clock.nowMs();
    const logger = createLogger('silent');
    runner = new HistoryRunner(tp.db, tp.clock, tp.platform.domain.store, {
      ehr: {
        commonwell: httpEhrConnector({ service: 'commonwell', baseUrl: sim.urls.commonwell }),
        carequality: httpEhrConnector({ service: 'carequality', baseUrl: sim.urls.carequality }),
      },
      pharmacy: { surescripts: httpPharmacyConnector({ service: 'surescripts', baseUrl: sim.urls.surescripts }) },
      lab: { quest: httpLabConnector({ service: 'quest', baseUrl: sim.labUrl }) },
    }, logger);
    engine = new RefreshEngine(tp.platform.domain.subscriptions);
    // A person every network knows, on the bamboo ADT network.
    person = sim.people.find((p) => p.networks.includes('commonwell') && p.networks.includes('surescripts') && feedMemberships(p).includes('bamboo') && feedMemberships(p).includes('quest'))!;
    assert.ok(person, 'the simulator has a person on commonwell, surescripts, bamboo and quest');
  });
  after(async () => {
    await hooks.stop();
    await feeds.close();
    await rx.close();
    await sim.close();
    await tp.close();
  });

  test('1. enrolling the patient pulls the initial history (EHR documents, pharmacy, 2 years of labs)', async () => {
    const r = await api('/fhir/Patient', { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(patientResource(person.demographics)) });
    assert.equal(r.status, 201);
    pid = ((await r.json()) as any).id;
    const e = await api('/zap-data-subscriptions/enrollment-statuses', {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.api+json' },
      body: JSON.stringify({ data: { attributes: { practitioner: PRACTITIONER, priority: true }, relationships: { patient: { data: { type: 'fhir/Patient', id: pid } }, package: { data: { type: 'zap-data-subscriptions/package', id: 'monitoring' } } } } }),
    });
    assert.equal(e.status, 201, await e.clone().text());
    assert.equal(((await e.json()) as any).data.attributes.status, 'active');
    await engine.runDue();
    const initial = (await refreshes()).find((x) => x.attributes.kind === 'enrollment');
    assert.ok(initial?.relationships.job, JSON.stringify(await refreshes()));
    assert.ok(await runDueJobs() >= 3);
    const j = await job(initial!.relationships.job!.data.id);
    assert.equal(j.attributes.status, 'done', JSON.stringify(j));
    const services = j.attributes.providers.map((p: any) => p.service);
    for (const s of ['commonwell', 'surescripts', 'quest']) assert.ok(services.includes(s), `${s} in ${services}`);
    assert.ok(await count(`DocumentReference?patient=Patient/${pid}&_tag=${SOURCE}|commonwell`) >= 1);
    assert.ok(await count(`MedicationDispense?patient=Patient/${pid}&_tag=${SOURCE}|surescripts`) >= 1);
    assert.ok(await count(`DiagnosticReport?patient=Patient/${pid}&_tag=${SOURCE}|quest`) >= 3, 'two years of lab results');
  });

  test('2. an appointment written 10 days ahead → one refresh 72 h before it', async () => {
    const start = new Date(tp.clock.nowMs() + 10 * D);
    const a = await api('/fhir/Appointment', {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Appointment', status: 'booked', start: start.toISOString(), end: new Date(start.getTime() + H).toISOString(), participant: [{ actor: { reference: `Patient/${pid}` }, status: 'accepted' }] }),
    });
    assert.equal(a.status, 201, await a.clone().text());
    const appt = (await refreshes()).find((x) => x.attributes.kind === 'appointment');
    assert.ok(appt);
    assert.equal(Date.parse(appt!.attributes.dueAt), start.getTime() - 72 * H);
    assert.equal(appt!.attributes.status, 'pending');
    tp.clock.advance(7 * D);
    await engine.runDue();
    const started = (await refreshes()).find((x) => x.attributes.kind === 'appointment')!;
    assert.equal(started.attributes.status, 'started');
    await runDueJobs();
    assert.ok(['done', 'error'].includes((await job(started.relationships.job!.data.id)).attributes.status));
  });

  test('3. ADT admit and discharge pushed over MLLP → Encounter visible, webhook delivered, discharge refresh brings the discharge summary', async () => {
    const hook = await api('/hooks', { method: 'POST', headers: { 'content-type': 'application/vnd.api+json' }, body: JSON.stringify({ data: { type: 'hooks/webhooks', attributes: { webhookUrl: `${rx.url}/encounters`, filter: '.resourceType == "Encounter"', auth: { type: 'basic', username: 'u', password: 'p' } } } }) });
    assert.equal(hook.status, 201, await hook.clone().text());
    const sources = async () => ((await json(`/fhir/DocumentReference?patient=Patient/${pid}&_tag=${SOURCE}|commonwell&_count=500`)).entry ?? [])
      .map((e: any) => String(e.resource.description ?? '')).filter((d: string) => d.startsWith('Source document')) as string[];
    const before = await sources();

    const admitAt = new Date(tp.clock.nowMs());
    const admit = (await (await fetch(`${sim.adminUrl}/admin/push`, { method: 'POST', body: JSON.stringify({ network: 'bamboo', personId: person.id, event: 'A01', time: admitAt.toISOString() }) })).json()) as any;
    assert.deepEqual([admit.transport, admit.ack], ['mllp', 'AA']);
    await feeds.drain();
    const open = await json(`/fhir/Encounter?patient=Patient/${pid}&_tag=${SOURCE}|bamboohealth&status=in-progress`);
    assert.equal(open.entry.length, 1);
    const encId = open.entry[0].resource.id;

    tp.clock.advance(2 * D);
    const discharge = (await (await fetch(`${sim.adminUrl}/admin/push`, { method: 'POST', body: JSON.stringify({ network: 'bamboo', personId: person.id, event: 'A03', time: new Date(tp.clock.nowMs()).toISOString() }) })).json()) as any;
    assert.equal(discharge.ack, 'AA');
    await feeds.drain();
    const enc = await json(`/fhir/Encounter/${encId}`);
    assert.equal(enc.status, 'finished');
    assert.equal(enc.subject.reference, `Patient/${pid}`);

    await hooks.runOnce();
    const delivered = rx.requests.filter((r) => r.path === '/encounters' && r.json.resourceId === `Encounter/${encId}`);
    assert.ok(delivered.length >= 2, `admit and discharge delivered (${delivered.length})`);

    const dis = (await refreshes()).filter((x) => x.attributes.kind.startsWith('discharge'));
    assert.equal(dis.length, 2, JSON.stringify(await refreshes()));
    const first = dis.find((x) => x.attributes.kind === 'discharge-24h')!;
    assert.ok(Date.parse(first.attributes.dueAt) - tp.clock.nowMs() <= 24 * H);
    tp.clock.set(Date.parse(first.attributes.dueAt) + 1000);
    await engine.runDue();
    await runDueJobs();
    const afterDischarge = await sources();
    const added = afterDischarge.filter((d) => !before.includes(d));
    assert.equal(added.length, 1, `one new source document: ${added.join('; ')}`);
    assert.match(added[0]!, /-ds\d+ from commonwell$/, 'the new document is the discharge summary the hospital published after the discharge');
  });
});
