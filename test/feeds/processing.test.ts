// Feed processing on a whole platform: HTTPS ingest and its auth, routing through the UPI to enrolled patients
// (others dropped and counted), ADT → Encounter (+ Condition, Practitioner, Location) owned by the enrolling
// builder and pointing at its own Patient, later events updating the same Encounter, resends as no-ops, older
// events not rolling it back, ORU over MLLP → DiagnosticReport + Observations, pharmacy notifications →
// MedicationRequest + MedicationDispense with the Surescripts extension, and webhooks for feed writes.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { TestBuilder } from '../helpers/platform.ts';
import { startHooksHarness, startReceiver, type HooksHarness, type Receiver } from '../hooks/helpers.ts';
import { feedsFor, type Feeds } from '../../src/feeds/service.ts';
import { HEALTH_FLAG_URL } from '../../src/feeds/processor.ts';
import { fillHistory, rxHistoryResponse } from '../../src/networks/sim/ncpdp.ts';
import { ALICE, BOB, MllpClient, adt, enroll, msa, oru, patientResource, type Person } from './helpers.ts';

const SECRETS = { bamboo: 'bamboo-secret-0123456789', quest: 'quest-secret-0123456789', surescripts: 'surescripts-secret-0123456789' };
const SOURCE = 'https://zusapi.com/thirdparty/source';
const NOTIFY = 'http://surescripts.net/fhir/CodeSystem/patient-notification-types';
const visit = (bundle: any, vn: string) => bundle.entry.map((e: any) => e.resource).find((r: any) => r.identifier?.some((i: any) => i.value === vn));
const CAROL: Person = { family: 'Lindqvist', given: 'Astrid', birthDate: '1990-02-14', gender: 'female', line: '9 Elm St', city: 'Madison', state: 'WI', postalCode: '53703', phone: '6085550111' };

describe('feed processing', () => {
  let h: HooksHarness;
  let rx: Receiver;
  let feeds: Feeds;
  let builder: TestBuilder;
  let other: TestBuilder;
  let alice: string;
  let bob: string;
  let carol: string;

  const post = (path: string, body: string, secret?: string, type = 'x-application/hl7-v2+er7') =>
    fetch(h.tp.url + path, { method: 'POST', headers: { 'content-type': type, ...(secret ? { authorization: `Bearer ${secret}` } : {}) }, body });
  const search = async (b: TestBuilder, q: string) => ((await (await b.fetch(`/fhir/${q}`)).json()) as any);
  const createPatient = async (b: TestBuilder, p: Person) => {
    const r = await b.fetch('/fhir/Patient', { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(patientResource(p)) });
    assert.equal(r.status, 201);
    return ((await r.json()) as any).id as string;
  };
  const inbox = async (controlId: string) => (await h.tp.db.query<{ status: string; reason: string | null; body: string; result: any }>('SELECT status, reason, body, result FROM feed_inbox WHERE control_id = $1', [controlId])).rows[0];

  before(async () => {
    process.env.TESSERA_FEED_SENDERS = JSON.stringify([
      { network: 'bamboo', sendingApplications: ['BAMBOO'], secret: SECRETS.bamboo },
      { network: 'collective', sendingApplications: ['COLLECTIVE'] },
      { network: 'quest', sendingApplications: ['QUEST'], secret: SECRETS.quest },
      { network: 'surescripts', sendingApplications: ['SURESCRIPTS'], secret: SECRETS.surescripts },
    ]);
    h = await startHooksHarness();
    delete process.env.TESSERA_FEED_SENDERS;
    rx = await startReceiver();
    feeds = feedsFor(h.tp.services, h.tp.platform.domain);
    builder = h.admin;
    other = await h.tp.createBuilder();
    alice = await createPatient(builder, ALICE);
    bob = await createPatient(other, BOB);
    carol = await createPatient(builder, CAROL);
    await enroll(h.tp.db, builder.builderId, alice, ['bamboo', 'quest', 'surescripts']);
    await enroll(h.tp.db, builder.builderId, carol, ['bamboo'], 'pending');
    // Bob is enrolled, but in a package without ADT feeds.
    await enroll(h.tp.db, other.builderId, bob, ['quest']);
  });
  after(async () => {
    await feeds.close();
    await rx.close();
    await h.close();
  });

  test('HTTPS ingest needs the network secret; a network may only send its own kinds', async () => {
    const m = adt({ controlId: 'H-1', event: 'A01', person: ALICE });
    assert.equal((await post('/feeds/hl7v2', m)).status, 401);
    assert.equal((await post('/feeds/hl7v2', m, 'wrong-secret-0123456789')).status, 401);
    assert.equal((await post('/feeds/hl7v2', m, SECRETS.surescripts)).status, 403);
    const r = await post('/feeds/hl7v2', m.replace(/\r/g, '\n'), SECRETS.bamboo);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'x-application/hl7-v2+er7');
    assert.equal(msa(await r.text()).code, 'AA');
    // The secret decides the network: an ORU over the bamboo secret is not an ADT network's message.
    const bad = await post('/feeds/hl7v2', oru({ controlId: 'H-2', person: ALICE }), SECRETS.bamboo);
    assert.equal(bad.status, 400);
    assert.equal(msa(await bad.text()).code, 'AR');
    assert.equal((await post('/feeds/pharmacy', JSON.stringify({ messageId: 'x' }), SECRETS.bamboo, 'application/json')).status, 403);
    const invalid = await post('/feeds/pharmacy', JSON.stringify({ messageId: '', notifications: ['PMAUnknown'], script: 'nope' }), SECRETS.surescripts, 'application/json');
    assert.equal(invalid.status, 422);
    assert.equal(((await invalid.json()) as any).errors.length, 3);
  });

  test('ADT admit for an enrolled patient → Encounter, Condition, Practitioner, Location, raw message; webhook delivered', async () => {
    const hook = await h.createHook({ webhookUrl: `${rx.url}/adt`, filter: '.resourceType == "Encounter"', auth: { type: 'basic', username: 'u', password: 'p' } });
    assert.equal(hook.status, 201, JSON.stringify(hook.body));
    const m = adt({ controlId: 'P-A01', event: 'A01', person: ALICE, visit: 'V-77', time: '20261120083000+0000', diagnosis: 'R07.9', flags: ['high utilizer', 'readmission risk'] });
    assert.equal(msa(await (await post('/feeds/hl7v2', m, SECRETS.bamboo)).text()).code, 'AA');
    await feeds.drain();
    assert.equal((await inbox('P-A01'))!.status, 'done');
    const b = await search(builder, `Encounter?patient=Patient/${alice}&_tag=${SOURCE}|bamboohealth`);
    // two visits so far: V1001 (the first test's message) and V-77
    assert.equal(b.entry.length, 2);
    const enc = visit(b, 'V-77');
    assert.equal(enc.status, 'in-progress');
    assert.equal(enc.subject.reference, `Patient/${alice}`);
    assert.equal(enc.class.code, 'IMP');
    assert.equal(enc.identifier.find((i: any) => i.type?.coding?.[0]?.code === 'VN').value, 'V-77');
    assert.deepEqual(enc.meta.extension.filter((e: any) => e.url === HEALTH_FLAG_URL).map((e: any) => e.valueString), ['high utilizer', 'readmission risk']);
    assert.ok(enc.meta.tag.some((t: any) => t.system === SOURCE && t.code === 'bamboohealth'));
    const cond = await search(builder, `Condition?patient=Patient/${alice}&encounter=Encounter/${enc.id}`);
    assert.equal(cond.entry.length, 1);
    assert.ok((await search(builder, `Practitioner?_tag=${SOURCE}|bamboohealth`)).entry.length >= 1);
    assert.ok((await search(builder, `Location?_tag=${SOURCE}|bamboohealth`)).entry.length >= 1);
    // no second Patient: the builder still has exactly its two
    assert.equal((await search(builder, 'Patient')).entry.length, 2);
    const docs = await search(builder, `DocumentReference?patient=Patient/${alice}`);
    const url = docs.entry.map((e: any) => e.resource).find((d: any) => d.description.includes('bamboo:P-A01')).content[0].attachment.url as string;
    const bin = (await (await builder.fetch(`/fhir/${url}`, { headers: { accept: 'application/fhir+json' } })).json()) as any;
    assert.equal(Buffer.from(bin.data, 'base64').toString('utf8'), m);
    // the other builder sees nothing of it
    assert.equal((await search(other, 'Encounter')).entry?.length ?? 0, 0);
    await h.worker.runOnce();
    const delivered = rx.requests.filter((r) => r.path === '/adt');
    assert.ok(delivered.some((r) => r.json.resourceId === `Encounter/${enc.id}`), JSON.stringify(delivered.map((r) => r.json)));
  });

  test('discharge updates the same Encounter; a resend changes nothing; an older event does not roll it back', async () => {
    const a03 = adt({ controlId: 'P-A03', event: 'A03', person: ALICE, visit: 'V-77', time: '20261122120000+0000', dischargeTime: '20261122120000+0000' });
    await post('/feeds/hl7v2', a03, SECRETS.bamboo);
    await feeds.drain();
    let all = await search(builder, `Encounter?patient=Patient/${alice}`);
    assert.equal(all.entry.length, 2);
    assert.equal(visit(all, 'V-77').status, 'finished');
    const version = visit(all, 'V-77').meta.versionId;
    // the same message again: acknowledged, stored once, nothing written
    assert.equal(msa(await (await post('/feeds/hl7v2', a03, SECRETS.bamboo)).text()).code, 'AA');
    assert.equal(await feeds.drain(), 0);
    // an A08 dated before the discharge, arriving late, under a new control id
    await post('/feeds/hl7v2', adt({ controlId: 'P-A08-late', event: 'A08', person: ALICE, visit: 'V-77', time: '20261121090000+0000' }), SECRETS.bamboo);
    await feeds.drain();
    assert.equal((await inbox('P-A08-late'))!.status, 'done');
    all = await search(builder, `Encounter?patient=Patient/${alice}`);
    assert.equal(visit(all, 'V-77').status, 'finished');
    assert.equal(visit(all, 'V-77').meta.versionId, version);
  });

  test('cancel admit (A11) cancels the visit; patient updates without a visit (A31) keep only the raw message', async () => {
    await post('/feeds/hl7v2', adt({ controlId: 'C-A01', event: 'A01', person: ALICE, visit: 'V-88', time: '20261123080000+0000' }), SECRETS.bamboo);
    await post('/feeds/hl7v2', adt({ controlId: 'C-A11', event: 'A11', person: ALICE, visit: 'V-88', time: '20261123090000+0000' }), SECRETS.bamboo);
    const a31 = adt({ controlId: 'C-A31', event: 'A31', person: ALICE, time: '20261123100000+0000' }).split('\r').filter((l) => !l.startsWith('PV1')).join('\r');
    assert.equal(msa(await (await post('/feeds/hl7v2', a31, SECRETS.bamboo)).text()).code, 'AA');
    const encountersBefore = (await search(builder, `Encounter?patient=Patient/${alice}`)).entry.length;
    await feeds.drain();
    const all = await search(builder, `Encounter?patient=Patient/${alice}`);
    assert.equal(visit(all, 'V-88').status, 'cancelled');
    assert.equal(all.entry.length, encountersBefore + 1);
    const row = await inbox('C-A31');
    assert.equal(row!.status, 'done', JSON.stringify(row));
    assert.equal((await search(builder, 'Patient')).entry.length, 2, 'no Patient written from a feed');
  });

  test('messages for people not enrolled (or not for this network, or pending) are acknowledged, dropped and counted', async () => {
    const stranger: Person = { ...BOB, family: 'Nobody', given: 'Known', birthDate: '1950-01-01', line: '1 Nowhere Rd', phone: '3125550100' };
    for (const [id, p] of [['D-BOB', BOB], ['D-STRANGER', stranger], ['D-CAROL', CAROL]] as const) {
      assert.equal(msa(await (await post('/feeds/hl7v2', adt({ controlId: id, event: 'A01', person: p, visit: `V-${id}` }), SECRETS.bamboo)).text()).code, 'AA');
    }
    await feeds.drain();
    assert.deepEqual([(await inbox('D-BOB'))!.status, (await inbox('D-BOB'))!.reason], ['dropped', 'not-enrolled']);
    assert.deepEqual([(await inbox('D-STRANGER'))!.status, (await inbox('D-STRANGER'))!.reason], ['dropped', 'no-match']);
    assert.deepEqual([(await inbox('D-CAROL'))!.status, (await inbox('D-CAROL'))!.reason], ['dropped', 'not-enrolled']);
    assert.equal((await inbox('D-BOB'))!.body, '', 'the content of a dropped message is not kept');
    assert.equal((await search(other, 'Encounter')).entry?.length ?? 0, 0);
    assert.equal((await search(builder, `Encounter?patient=Patient/${carol}`)).entry?.length ?? 0, 0);
    const stats = (await (await h.tp.fetchAs(h.tp.adminToken, '/feeds/stats')).json()) as any;
    const dropped = stats.data.filter((d: any) => d.attributes.network === 'bamboo' && d.attributes.status === 'dropped');
    assert.equal(dropped.reduce((n: number, d: any) => n + Number(d.attributes.count), 0), 3);
    assert.ok(stats.meta.ingest.accepted >= 6);
    assert.equal((await builder.fetch('/feeds/stats')).status, 403);
  });

  test('ORU^R01 from the lab network over MLLP → DiagnosticReport + Observations tagged quest', async () => {
    const mllp = await feeds.startMllp(0, '127.0.0.1');
    const c = await MllpClient.connect(mllp.port);
    c.send(oru({ controlId: 'L-1', person: ALICE, order: '555' }));
    c.send(oru({ controlId: 'L-2', person: BOB, order: '556' }));
    assert.deepEqual((await c.waitAcks(2)).map((a) => msa(a).code), ['AA', 'AA']);
    c.close();
    await feeds.drain();
    const reports = await search(builder, `DiagnosticReport?patient=Patient/${alice}&_tag=${SOURCE}|quest`);
    assert.equal(reports.entry.length, 1);
    assert.equal(reports.entry[0].resource.result.length, 2);
    const obs = await search(builder, `Observation?patient=Patient/${alice}&_tag=${SOURCE}|quest`);
    assert.equal(obs.entry.length, 2);
    // Bob's package has quest: his builder gets his results
    assert.equal((await search(other, `DiagnosticReport?patient=Patient/${bob}`)).entry.length, 1);
  });

  test('a message that cannot be converted ends failed, is listed for the operator and can be retried', async () => {
    const bad = JSON.stringify({ messageId: 'RX-BAD', notifications: ['PMANewRx'], script: '<Message><Body>unterminated' });
    assert.equal((await post('/feeds/pharmacy', bad, SECRETS.surescripts, 'application/json')).status, 202);
    await feeds.drain();
    const row = await inbox('RX-BAD');
    assert.equal(row!.status, 'failed');
    assert.match(row!.reason!, /NCPDP/);
    const list = (await (await h.tp.fetchAs(h.tp.adminToken, '/feeds/messages?filter[status]=failed')).json()) as any;
    const item = list.data.find((d: any) => d.attributes.controlId === 'RX-BAD');
    assert.ok(item);
    assert.equal(item.attributes.body, undefined);
    assert.equal((await builder.fetch('/feeds/messages')).status, 403);
    const retry = await h.tp.fetchAs(h.tp.adminToken, `/feeds/messages/${item.id}/retry`, { method: 'POST' });
    assert.equal(retry.status, 200);
    assert.equal((await inbox('RX-BAD'))!.status, 'pending');
    assert.equal((await h.tp.fetchAs(h.tp.adminToken, `/feeds/messages/${item.id}/retry`, { method: 'POST' })).status, 409);
    assert.equal((await h.tp.fetchAs(h.tp.adminToken, '/feeds/messages/999999999/retry', { method: 'POST' })).status, 404);
    await feeds.drain();
    assert.equal((await inbox('RX-BAD'))!.status, 'failed');
  });

  test('two builders with the same person enrolled each get their own copy, on their own Patient', async () => {
    const third = await h.tp.createBuilder();
    const alice2 = await createPatient(third, ALICE);
    await enroll(h.tp.db, third.builderId, alice2, ['bamboo']);
    await post('/feeds/hl7v2', adt({ controlId: 'T-TWO', event: 'A01', person: ALICE, visit: 'V-99' }), SECRETS.bamboo);
    await feeds.drain();
    const mine = visit(await search(builder, `Encounter?patient=Patient/${alice}`), 'V-99');
    const theirs = visit(await search(third, `Encounter?patient=Patient/${alice2}`), 'V-99');
    assert.ok(mine && theirs);
    assert.notEqual(mine.id, theirs.id);
    assert.equal(theirs.subject.reference, `Patient/${alice2}`);
    assert.deepEqual((await inbox('T-TWO'))!.result.targets.map((t: any) => t.builderId).sort(), [builder.builderId, third.builderId].sort());
  });

  test('pharmacy notification → MedicationRequest + MedicationDispense with the Surescripts notification extension', async () => {
    const fills = fillHistory(7, '2026-11-15', 1);
    const script = rxHistoryResponse({ messageId: 'SS-1', relatesTo: '', sentTime: '2026-11-15T10:00:00Z', patient: ALICE, fills });
    const body = JSON.stringify({ messageId: 'RX-1', notifications: ['PMARefill', 'PMAControlledSubstance'], generatedTime: '2026-11-15T10:05:00Z', script });
    const r = await post('/feeds/pharmacy', body, SECRETS.surescripts, 'application/json');
    assert.equal(r.status, 202, await r.clone().text());
    assert.equal((await post('/feeds/pharmacy', body, SECRETS.surescripts, 'application/json')).status, 200);
    await feeds.drain();
    const row = await inbox('RX-1');
    assert.equal(row!.status, 'done', JSON.stringify(row));
    const disp = await search(builder, `MedicationDispense?patient=Patient/${alice}&_tag=${SOURCE}|surescripts`);
    assert.equal(disp.entry.length, 1);
    const ext = disp.entry[0].resource.extension as { url: string; valueString?: string; valueInstant?: string }[];
    assert.deepEqual(ext.filter((e) => e.url === NOTIFY).map((e) => e.valueString), ['PMARefill', 'PMAControlledSubstance']);
    assert.ok(ext.some((e) => e.url.endsWith('/notification-generated-time') && e.valueInstant === '2026-11-15T10:05:00Z'));
    const req = await search(builder, `MedicationRequest?patient=Patient/${alice}&_tag=${SOURCE}|surescripts`);
    assert.equal(req.entry.length, 1);
  });
});
