// UPI links over time: a Patient bridging two persons merges them (and re-stamps the absorbed person's
// resources), unmerge detaches a Patient to a new UPID (versioned, re-stamped, the pair never linked again),
// and network-confirmed identities link records across builders — or hold them for a human.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestPlatform, type TestPlatform, type TestBuilder } from '../helpers/platform.ts';
import { upidOfPatient, upidOfResource, createResource as create } from './helpers.ts';

const json = { 'content-type': 'application/fhir+json' };

interface Demo { given?: string; family?: string; birthDate?: string; gender?: string; phone?: string; email?: string; line?: string; city?: string; state?: string; postalCode?: string; ssn?: string; multipleBirth?: number }
function patient(d: Demo): Record<string, unknown> {
  const telecom = [d.phone ? { system: 'phone', value: d.phone } : null, d.email ? { system: 'email', value: d.email } : null].filter(Boolean);
  return {
    resourceType: 'Patient',
    ...(d.given || d.family ? { name: [{ use: 'official', ...(d.family ? { family: d.family } : {}), ...(d.given ? { given: [d.given] } : {}) }] } : {}),
    ...(d.birthDate ? { birthDate: d.birthDate } : {}),
    ...(d.gender ? { gender: d.gender } : {}),
    ...(telecom.length ? { telecom } : {}),
    ...(d.line ? { address: [{ use: 'home', line: [d.line], city: d.city, state: d.state, postalCode: d.postalCode }] } : {}),
    ...(d.ssn ? { identifier: [{ system: 'http://hl7.org/fhir/sid/us-ssn', value: d.ssn }] } : {}),
    ...(d.multipleBirth ? { multipleBirthInteger: d.multipleBirth } : {}),
  };
}

describe('UPI links, merges, unmerges and network identities', () => {
  let tp: TestPlatform;
  let a: TestBuilder;
  let b: TestBuilder;
  before(async () => {
    tp = await startTestPlatform();
    a = await tp.createBuilder();
    b = await tp.createBuilder();
  });
  after(async () => { await tp.close(); });

  const read = async (who: TestBuilder, ref: string) => (await who.fetch(`/fhir/${ref}`)).json() as Promise<any>;
  const observation = (patientId: string) => ({ resourceType: 'Observation', status: 'final', code: { text: 'weight' }, subject: { reference: `Patient/${patientId}` } });
  const upidRow = async (patientId: string) => (await tp.db.query<{ upid: string; manual: boolean }>('SELECT upid, manual FROM upi_persons WHERE patient_id = $1', [patientId])).rows[0]!;

  test('a Patient bridging two persons merges them; the absorbed person\'s resources are re-stamped', async () => {
    // Two partial records that do not match each other (only the surname in common) …
    const p1 = await create(a, patient({ given: 'Alexandra', family: 'Whitfield', phone: '2157730101', gender: 'female' }));
    const p2 = await create(b, patient({ family: 'Whitfield', birthDate: '1968-02-03', email: 'alex.whitfield@mailbox.org', gender: 'female' }));
    assert.notEqual(upidOfPatient(p1), upidOfPatient(p2));
    const o1 = await create(a, observation(p1.id));
    const o2 = await create(b, observation(p2.id));
    // … and a full record that matches both.
    const p3 = await create(a, patient({ given: 'Alexandra', family: 'Whitfield', birthDate: '1968-02-03', phone: '2157730101', email: 'alex.whitfield@mailbox.org', gender: 'female' }));
    const upid = upidOfPatient(p3)!;
    const all = [await read(a, `Patient/${p1.id}`), await read(b, `Patient/${p2.id}`)];
    assert.deepEqual(all.map(upidOfPatient), [upid, upid], 'both persons now carry the bridging record\'s UPID');
    assert.equal(upidOfResource(await read(a, `Observation/${o1.id}`)), upid);
    assert.equal(upidOfResource(await read(b, `Observation/${o2.id}`)), upid);
    const reasons = (await tp.db.query<{ reason: string }>('SELECT reason FROM upi_assignments WHERE patient_id = ANY($1::text[]) ORDER BY seq', [[p1.id, p2.id]])).rows.map((r) => r.reason);
    assert.ok(reasons.includes('merge'), reasons.join());
  });

  test('unmerge: only the owner (or the platform admin) detaches its Patient; versioned, re-stamped, never re-linked', async () => {
    const demo = { given: 'Beatrix', family: 'Okonkwo-Hale', birthDate: '1983-11-19', gender: 'female', phone: '3125550188', line: '12 Larch Ave', city: 'Springfield', state: 'IL', postalCode: '62704' };
    const pa = await create(a, patient(demo));
    const pb = await create(b, patient(demo));
    const upid = upidOfPatient(pa)!;
    assert.equal(upidOfPatient(pb), upid);
    const obs = await create(a, observation(pa.id));
    assert.equal(upidOfResource(obs), upid);

    const unmerge = (who: { fetch: TestBuilder['fetch'] }, u: string, patientId: string) =>
      who.fetch(`/upi/persons/${u}/unmerge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: { type: 'upi/unmerges', attributes: { patientId } } }) });
    assert.equal((await unmerge(b, upid, pa.id)).status, 404, 'another builder cannot detach my Patient');
    assert.equal((await unmerge(a, 'not-the-upid', pa.id)).status, 404);
    assert.equal((await a.fetch(`/upi/persons/${upid}/unmerge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 400);

    const r = await unmerge(a, upid, pa.id);
    assert.equal(r.status, 200, await r.clone().text());
    const body = (await r.json()) as any;
    const fresh = body.data.attributes.upid as string;
    assert.notEqual(fresh, upid);
    assert.equal(body.data.attributes.previousUpid, upid);
    assert.equal(body.data.attributes.separatedFromCount, 1);
    assert.equal(upidOfPatient(await read(a, `Patient/${pa.id}`)), fresh, 'the Patient is re-stamped');
    assert.equal(upidOfResource(await read(a, `Observation/${obs.id}`)), fresh, 'its resources follow');
    assert.equal(upidOfPatient(await read(b, `Patient/${pb.id}`)), upid, 'the other builder\'s record keeps the person');

    // Versioned: the history lists the unmerge (builder A sees its own Patient's entries).
    const hist = (await (await a.fetch(`/upi/persons/${upid}/assignments`)).json()) as any;
    assert.ok(hist.data.some((e: any) => e.attributes.reason === 'unmerge' && e.attributes.upid === fresh && e.relationships.patient.data.id === pa.id));
    assert.equal(((await (await b.fetch(`/upi/persons/${upid}/assignments`)).json()) as any).data.some((e: any) => e.relationships.patient.data.id === pa.id), false);

    // Never re-linked: an update of the detached Patient, and a new identical record, leave the two apart.
    const put = await a.fetch(`/fhir/Patient/${pa.id}`, { method: 'PUT', headers: json, body: JSON.stringify({ ...(await read(a, `Patient/${pa.id}`)), active: true }) });
    assert.equal(put.status, 200);
    assert.equal(upidOfPatient(await put.json()), fresh);
    const pc = await create(a, patient(demo));
    const [ra, rb] = [await upidRow(pa.id), await upidRow(pb.id)];
    assert.notEqual(ra.upid, rb.upid, 'a bridging record does not merge a rejected pair');
    assert.ok([ra.upid, rb.upid].includes(upidOfPatient(pc)!));

    // The sole record of a person cannot be unmerged (pc joined one of the two; the other is alone); the
    // platform admin may unmerge any record.
    const pcUpid = upidOfPatient(pc)!;
    const [lone, loneUpid, owner] = pcUpid === ra.upid ? [pb, rb.upid, b] : [pa, ra.upid, a];
    assert.equal((await unmerge(owner, loneUpid, lone.id)).status, 409);
    const admin = { fetch: (p: string, i?: RequestInit) => tp.fetchAs(tp.adminToken, p, i) };
    const byAdmin = await unmerge(admin, pcUpid, pc.id);
    assert.equal(byAdmin.status, 200, await byAdmin.clone().text());
    assert.notEqual(upidOfPatient(await read(a, `Patient/${pc.id}`)), pcUpid);
  });

  test('network identities: the same network person links two builders\' records; conflicting demographics wait for a human', async () => {
    const upi = tp.platform.domain.upi;
    // Same person, demographics too thin to link on their own (moved, new phone, nickname, no birth date on one side).
    const x = await create(a, patient({ given: 'Josephine', family: 'Marchetti', birthDate: '1991-07-08', gender: 'female', line: '40 Elm St', city: 'Austin', state: 'TX', postalCode: '78701' }));
    const y = await create(b, patient({ given: 'Josie', family: 'Marchetti', gender: 'female', line: '9 Oak Rd', city: 'Denver', state: 'CO', postalCode: '80202' }));
    assert.notEqual(upidOfPatient(x), upidOfPatient(y));
    const oy = await create(b, observation(y.id));
    const first = await tp.db.transaction((tx) => upi.recordNetworkIdentity(tx, { network: 'commonwell', networkPersonId: 'CW-77', score: 0.97, patientId: x.id, builderId: a.builderId, demographics: { given: 'Josephine', family: 'Marchetti' } }));
    assert.deepEqual(first.others, [], 'nothing to link yet');
    const second = await tp.db.transaction((tx) => upi.recordNetworkIdentity(tx, { network: 'commonwell', networkPersonId: 'CW-77', score: 0.95, patientId: y.id, builderId: b.builderId, demographics: { given: 'Josie', family: 'Marchetti' } }));
    assert.equal(second.others[0]?.action, 'linked', JSON.stringify(second));
    const linked = upidOfPatient(await read(a, `Patient/${x.id}`));
    assert.equal(upidOfPatient(await read(b, `Patient/${y.id}`)), linked);
    assert.equal(upidOfResource(await read(b, `Observation/${oy.id}`)), linked, 'resources re-stamped');
    const again = await tp.db.transaction((tx) => upi.recordNetworkIdentity(tx, { network: 'commonwell', networkPersonId: 'CW-77', score: 0.95, patientId: y.id, builderId: b.builderId, demographics: {} }));
    assert.equal(again.others[0]?.action, 'same', 'idempotent');

    // Twins the network (wrongly) calls one person: never linked, held as a possible match instead.
    const t1 = await create(a, patient({ given: 'Ada', family: 'Lindqvist-Oyelaran', birthDate: '2019-03-03', gender: 'female', multipleBirth: 1 }));
    const t2 = await create(b, patient({ given: 'Ida', family: 'Lindqvist-Oyelaran', birthDate: '2019-03-03', gender: 'female', multipleBirth: 2 }));
    await tp.db.transaction((tx) => upi.recordNetworkIdentity(tx, { network: 'carequality', networkPersonId: 'CQ-1', score: 0.99, patientId: t1.id, builderId: a.builderId, demographics: {} }));
    const twin = await tp.db.transaction((tx) => upi.recordNetworkIdentity(tx, { network: 'carequality', networkPersonId: 'CQ-1', score: 0.99, patientId: t2.id, builderId: b.builderId, demographics: {} }));
    assert.equal(twin.others[0]?.action, 'possible');
    assert.notEqual((await upidRow(t1.id)).upid, (await upidRow(t2.id)).upid);
    const list = (await (await b.fetch('/upi/possible-matches')).json()) as any;
    assert.ok(list.data.some((m: any) => m.relationships.patient.data.id === t2.id));

    // A low network score is not evidence.
    const weak = await tp.db.transaction((tx) => upi.recordNetworkIdentity(tx, { network: 'carequality', networkPersonId: 'CQ-1', score: 0.3, patientId: x.id, builderId: a.builderId, demographics: {} }));
    assert.deepEqual(weak.others, []);
  });
});
