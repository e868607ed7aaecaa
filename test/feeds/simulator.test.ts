// The simulator's push networks against a platform: ADT admit + discharge pushed over MLLP on demand through
// the admin API, an ORU push, a pharmacy notification over HTTPS, and the lab network's 2-year history pulled
// by a patient-history job with the `quest` provider (lab connector → ORU → DiagnosticReport + Observations).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { startTestPlatform, type TestBuilder, type TestPlatform } from '../helpers/platform.ts';
import { DEFAULT_CORPORA } from '../../src/networks/sim/cli.ts';
import { startSimulator, type Simulator } from '../../src/networks/sim/server.ts';
import { feedMemberships } from '../../src/networks/sim/feeds.ts';
import { feedsFor, type Feeds } from '../../src/feeds/service.ts';
import { HistoryRunner } from '../../src/history/runner.ts';
import { httpLabConnector } from '../../src/networks/connectors/lab.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { enroll, patientResource } from './helpers.ts';

const SOURCE = 'https://zusapi.com/thirdparty/source';
const PHARMACY_SECRET = 'sim-surescripts-secret-0123456789';

describe('simulator push networks', { skip: existsSync(DEFAULT_CORPORA) ? false : 'shared corpora not found' }, () => {
  let tp: TestPlatform;
  let sim: Simulator;
  let feeds: Feeds;
  let me: TestBuilder;
  const admin = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(sim.adminUrl + path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as any };
  };
  const search = async (q: string) => ((await (await me.fetch(`/fhir/${q}`)).json()) as any);
  const patientFor = async (personId: string) => {
    const p = sim.people.find((x) => x.id === personId)!;
    const r = await me.fetch('/fhir/Patient', { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(patientResource(p.demographics)) });
    assert.equal(r.status, 201);
    return ((await r.json()) as any).id as string;
  };

  before(async () => {
    process.env.TESSERA_FEED_SENDERS = JSON.stringify([
      { network: 'bamboo', sendingApplications: ['BAMBOO'] },
      { network: 'collective', sendingApplications: ['COLLECTIVE'] },
      { network: 'quest', sendingApplications: ['QUEST'] },
      { network: 'surescripts', sendingApplications: ['SURESCRIPTS'], secret: PHARMACY_SECRET },
    ]);
    tp = await startTestPlatform();
    delete process.env.TESSERA_FEED_SENDERS;
    feeds = feedsFor(tp.services, tp.platform.domain);
    const mllp = await feeds.startMllp(0, '127.0.0.1');
    sim = await startSimulator({ corporaDir: DEFAULT_CORPORA, people: 40, seed: 11, push: { mllp: `127.0.0.1:${mllp.port}`, pharmacyUrl: `${tp.url}/feeds/pharmacy`, secrets: { surescripts: PHARMACY_SECRET } } });
    me = await tp.createBuilder();
  });
  after(async () => {
    await sim.close();
    await feeds.close();
    await tp.close();
  });

  test('ADT admit and discharge pushed on demand over MLLP update one Encounter', async () => {
    const person = sim.people.find((p) => feedMemberships(p).includes('bamboo'))!;
    const pid = await patientFor(person.id);
    await enroll(tp.db, me.builderId, pid, ['bamboo', 'collective', 'quest', 'surescripts']);
    const admit = await admin('POST', '/admin/push', { network: 'bamboo', personId: person.id, event: 'A01', time: '2026-11-20T08:00:00Z' });
    assert.equal(admit.status, 200, JSON.stringify(admit.body));
    assert.deepEqual([admit.body.transport, admit.body.ack, admit.body.event], ['mllp', 'AA', 'A01']);
    await feeds.drain();
    let enc = await search(`Encounter?patient=Patient/${pid}&_tag=${SOURCE}|bamboohealth`);
    assert.equal(enc.entry.length, 1);
    assert.equal(enc.entry[0].resource.status, 'in-progress');
    const discharge = await admin('POST', '/admin/push', { network: 'bamboo', personId: person.id, time: '2026-11-22T10:00:00Z' });
    assert.equal(discharge.body.event, 'A03');
    await feeds.drain();
    enc = await search(`Encounter?patient=Patient/${pid}&_tag=${SOURCE}|bamboohealth`);
    assert.equal(enc.entry.length, 1);
    assert.equal(enc.entry[0].resource.status, 'finished');
    assert.equal((await admin('POST', '/admin/push', { network: 'nope', personId: person.id })).status, 400);
    assert.equal((await admin('POST', '/admin/push', { network: 'bamboo', personId: 'p-999999' })).status, 404);
  });

  test('ORU push and pharmacy notification from the simulator', async () => {
    const person = sim.people.find((p) => feedMemberships(p).includes('quest') && feedMemberships(p).includes('surescripts'))!;
    const pid = await patientFor(person.id);
    await enroll(tp.db, me.builderId, pid, ['quest', 'surescripts']);
    assert.equal((await admin('POST', '/admin/push', { network: 'quest', personId: person.id })).body.ack, 'AA');
    const rx = await admin('POST', '/admin/push', { network: 'surescripts', personId: person.id, event: 'PMANewRx' });
    assert.equal(rx.body.status, 202, JSON.stringify(rx.body));
    await feeds.drain();
    assert.equal((await search(`DiagnosticReport?patient=Patient/${pid}&_tag=${SOURCE}|quest`)).entry.length, 1);
    const disp = await search(`MedicationDispense?patient=Patient/${pid}&_tag=${SOURCE}|surescripts`);
    assert.equal(disp.entry.length, 1);
    assert.ok(disp.entry[0].resource.extension.some((e: any) => e.valueString === 'PMANewRx'));
  });

  test('scheduled pushes: one event per network every interval', async () => {
    const before = Object.entries(sim.feeds.stats).filter(([k]) => k.startsWith('bamboo:pushed') || k.startsWith('collective:pushed')).reduce((n, [, v]) => n + v, 0);
    sim.feeds.setTarget({ intervalMs: 100 });
    await new Promise((r) => setTimeout(r, 600));
    sim.feeds.setTarget({ intervalMs: 0 });
    const after = Object.entries(sim.feeds.stats).filter(([k]) => k.startsWith('bamboo:pushed') || k.startsWith('collective:pushed')).reduce((n, [, v]) => n + v, 0);
    assert.ok(after - before >= 2, JSON.stringify(sim.feeds.stats));
    assert.equal(sim.feeds.stats['bamboo:pushed:AR'] ?? 0, 0);
    await feeds.drain();
  });

  test('lab history: the quest provider of a patient-history job pulls 2 years of results', async () => {
    const person = sim.people.find((p) => feedMemberships(p).includes('quest') && !feedMemberships(p).includes('surescripts'))!;
    const pid = await patientFor(person.id);
    const lab = httpLabConnector({ service: 'quest', baseUrl: sim.labUrl });
    const d = person.demographics;
    const h = await lab.labHistory({ ...d, phone: d.phone }, '2024-11-01');
    assert.equal(h.found, true);
    const expected = h.found ? h.results.length : 0;
    assert.ok(expected >= 1);
    assert.equal((await lab.labHistory({ ...d, given: 'Nobody', family: 'Atall', birthDate: '1901-01-01' }, '2024-11-01')).found, false);
    await assert.rejects(lab.labHistory({ ...d, family: '' }, '2024-11-01'), /rejected/);

    const history = tp.platform.domain.history;
    const job = await history.createRefreshJob({ builderId: me.builderId, patientId: pid, practitionerId: 'none', practitioner: { npi: '1013085661', name: 'Test Doctor' }, services: ['quest'], reason: 'test:lab-history' });
    assert.deepEqual(job?.services, ['quest']);
    const runner = new HistoryRunner(tp.db, tp.clock, tp.platform.domain.store, { ehr: {}, pharmacy: {}, lab: { quest: lab } }, createLogger('silent'));
    tp.clock.set('2026-11-01T12:00:00Z');
    await runner.run(job!.id, 'quest');
    const provider = (await tp.db.query<{ status: string }>("SELECT status FROM patient_history_providers WHERE job_id = $1 AND service = 'quest'", [job!.id])).rows[0]!;
    assert.equal(provider.status, 'done');
    const reports = await search(`DiagnosticReport?patient=Patient/${pid}&_tag=${SOURCE}|quest&_count=100`);
    assert.equal(reports.entry.length, expected);
    // a second run writes nothing new
    const before = (await tp.db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM resource_versions')).rows[0]!.n;
    const job2 = await history.createRefreshJob({ builderId: me.builderId, patientId: pid, practitionerId: 'none', practitioner: { npi: '1013085661' }, services: ['quest'], reason: 'test:again' });
    await runner.run(job2!.id, 'quest');
    assert.equal((await tp.db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM resource_versions')).rows[0]!.n, before);
  });
});
