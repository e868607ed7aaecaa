// The UPI on the write path: every Patient write is matched across the platform and stamped with its UPID;
// every patient-scoped resource carries that UPID as an extension; clients cannot set either.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestPlatform, type TestPlatform, type TestBuilder } from '../helpers/platform.ts';
import { UPID, upidOfPatient, upidOfResource, createResource as create } from './helpers.ts';


function patient(given: string, family: string, birthDate: string, extra: Record<string, unknown> = {}) {
  return {
    resourceType: 'Patient',
    name: [{ use: 'official', family, given: [given] }],
    gender: 'female',
    birthDate,
    address: [{ line: ['1948 Bainbridge St'], city: 'Philadelphia', state: 'PA', postalCode: '19146' }],
    telecom: [{ system: 'phone', value: '215-555-0142' }, { system: 'email', value: `${given}.${family}@example.org`.toLowerCase() }],
    ...extra,
  };
}

describe('universal patient index on the write path', () => {
  let tp: TestPlatform;
  let a: TestBuilder;
  let b: TestBuilder;
  before(async () => {
    tp = await startTestPlatform();
    a = await tp.createBuilder();
    b = await tp.createBuilder();
  });
  after(async () => { await tp.close(); });


  test('the same person in two builders gets one UPID; a different person gets another', async () => {
    const p1 = await create(a, patient('Margaret', 'Hernandez', '1961-04-12'));
    const p2 = await create(b, patient('Peggy', 'Hernandez', '1961-04-12', { address: [{ line: ['1948 Bainbridge Street'], city: 'Philadelphia', state: 'PA', postalCode: '19146-1234' }] }));
    const p3 = await create(b, patient('Ruth', 'Okafor', '1979-09-30'));
    assert.ok(upidOfPatient(p1));
    assert.equal(upidOfPatient(p2), upidOfPatient(p1), 'nickname + street abbreviation + ZIP+4 still match');
    assert.notEqual(upidOfPatient(p3), upidOfPatient(p1));
    assert.match(upidOfPatient(p3)!, /^[0-9a-f-]{36}$/);
  });

  test('twins do not merge', async () => {
    const t1 = await create(a, patient('Ava', 'Lindqvist', '2020-02-02', { multipleBirthInteger: 1 }));
    const t2 = await create(a, patient('Mia', 'Lindqvist', '2020-02-02', { multipleBirthInteger: 2 }));
    assert.notEqual(upidOfPatient(t1), upidOfPatient(t2));
  });

  test('patient-scoped resources carry the UPID; upid search and the chained identifier search find them', async () => {
    const p = await create(a, patient('Dolores', 'Abernathy', '1955-07-07'));
    const upid = upidOfPatient(p)!;
    const obs = await create(a, { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, subject: { reference: `Patient/${p.id}` }, extension: [{ url: UPID, valueString: 'forged-upid' }] });
    assert.equal(upidOfResource(obs), upid, 'a client-supplied UPID is replaced by the platform');
    const orphan = await create(a, { resourceType: 'Observation', status: 'final', code: { text: 'x' }, extension: [{ url: UPID, valueString: 'forged-upid' }] });
    assert.equal(upidOfResource(orphan), undefined, 'no patient, no UPID');
    const byUpid = (await (await a.fetch(`/fhir/Observation?upid=${upid}`)).json()) as any;
    assert.deepEqual(byUpid.entry.map((e: any) => e.resource.id), [obs.id]);
    const chained = (await (await a.fetch(`/fhir/Observation?patient.identifier=${encodeURIComponent(`${UPID}|${upid}`)}`)).json()) as any;
    assert.deepEqual(chained.entry.map((e: any) => e.resource.id), [obs.id]);
    const forgedPatient = await create(a, { ...patient('Teddy', 'Flood', '1950-01-01'), identifier: [{ system: UPID, value: upid }] });
    assert.notEqual(upidOfPatient(forgedPatient), upid, 'a client cannot claim another person\'s UPID');
    assert.equal(forgedPatient.identifier.filter((i: any) => i.system === UPID).length, 1);
  });

  test('Coverage: upid and the chained beneficiary.identifier search (as the notes\' client uses it)', async () => {
    const p = await create(a, patient('Odessa', 'Vantreight', '1966-05-05'));
    const upid = upidOfPatient(p)!;
    const cov = await create(a, { resourceType: 'Coverage', status: 'active', beneficiary: { reference: `Patient/${p.id}` }, payor: [{ display: 'Acme Health' }] });
    assert.equal(upidOfResource(cov), upid);
    const byUpid = (await (await a.fetch(`/fhir/Coverage?upid=${upid}`)).json()) as any;
    assert.deepEqual(byUpid.entry.map((e: any) => e.resource.id), [cov.id]);
    const chained = (await (await a.fetch(`/fhir/Coverage?beneficiary.identifier=${encodeURIComponent(`${UPID}|${upid}`)}`)).json()) as any;
    assert.deepEqual(chained.entry.map((e: any) => e.resource.id), [cov.id]);
    const patients = (await (await a.fetch(`/fhir/Patient?upid=${upid}`)).json()) as any;
    assert.deepEqual(patients.entry.map((e: any) => e.resource.id), [p.id]);
    // The Patient id is not a UPID (notes §5): an empty bundle, not an error.
    const wrong = await a.fetch(`/fhir/Observation?upid=${p.id}`);
    assert.equal(wrong.status, 200);
    assert.equal(((await wrong.json()) as any).entry?.length ?? 0, 0);
  });

  test('updating a Patient keeps its UPID; a transaction stamps resources of a Patient created in the same bundle', async () => {
    const p = await create(a, patient('Bernard', 'Lowe', '1948-03-03'));
    const put = await a.fetch(`/fhir/Patient/${p.id}`, { method: 'PUT', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ ...p, telecom: [{ system: 'phone', value: '215-555-0199' }] }) });
    const updated = (await put.json()) as any;
    assert.equal(upidOfPatient(updated), upidOfPatient(p));
    const bundle = {
      resourceType: 'Bundle', type: 'transaction', entry: [
        { fullUrl: 'urn:uuid:11111111-1111-4111-8111-111111111111', resource: patient('Maeve', 'Millay', '1970-10-10'), request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Condition', subject: { reference: 'urn:uuid:11111111-1111-4111-8111-111111111111' }, code: { text: 'Hypertension' } }, request: { method: 'POST', url: 'Condition' } },
      ],
    };
    const r = await a.fetch('/fhir', { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(bundle) });
    assert.equal(r.status, 200, await r.clone().text());
    const out = (await r.json()) as any;
    const pid = out.entry[0].response.location.split('/')[1];
    const cid = out.entry[1].response.location.split('/')[1];
    const pat = (await (await a.fetch(`/fhir/Patient/${pid}`)).json()) as any;
    const cond = (await (await a.fetch(`/fhir/Condition/${cid}`)).json()) as any;
    assert.ok(upidOfPatient(pat));
    assert.equal(upidOfResource(cond), upidOfPatient(pat));
  });


  test('Patient/$match returns scored candidates the caller may see, and only those', async () => {
    const mine = await create(a, patient('Charlotte', 'Hale', '1972-12-01'));
    await create(b, patient('Charlotte', 'Hale', '1972-12-01'));
    const body = { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: patient('Charlotte', 'Hale', '1972-12-01') }, { name: 'count', valueInteger: 5 }] };
    const r = await a.fetch('/fhir/Patient/$match', { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(body) });
    assert.equal(r.status, 200, await r.clone().text());
    const bundle = (await r.json()) as any;
    assert.equal(bundle.resourceType, 'Bundle');
    assert.deepEqual(bundle.entry.map((e: any) => e.resource.id), [mine.id], 'the other builder\'s Patient is not revealed');
    assert.ok(bundle.entry[0].search.score > 0.9);
    assert.equal(bundle.entry[0].search.extension[0].valueCode, 'certain');
    const bad = await a.fetch('/fhir/Patient/$match', { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Patient' }) });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as any).resourceType, 'OperationOutcome');
  });

  test('possible matches: listed for the originator, rejected pairs never link, confirmed pairs link and re-stamp', async () => {
    const first = await create(a, patient('Theodora', 'Quill', '1990-06-15'));
    const second = await create(a, patient('Theodora', 'Quill', '1990-06-15'));
    // Hand the index a held pair, as a review queue would receive it.
    await tp.db.query("INSERT INTO upi_possible_matches (id, patient_id, candidate_id, score, created_at) VALUES ('pm-1', $1, $2, 7.5, now()) ON CONFLICT DO NOTHING", [second.id, first.id]);
    const other = await tp.createBuilder();
    const list = (await (await a.fetch('/upi/possible-matches')).json()) as any;
    assert.ok(list.data.some((m: any) => m.id === 'pm-1' && m.relationships.patient.data.id === second.id));
    assert.equal(((await (await other.fetch('/upi/possible-matches')).json()) as any).data.some((m: any) => m.id === 'pm-1'), false);
    assert.equal((await other.fetch('/upi/possible-matches/pm-1/confirm', { method: 'POST' })).status, 404);
    const obs = await create(a, { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${second.id}` } });
    const target = (await create(a, patient('Zed', 'Unrelated', '1930-01-01')));
    await tp.db.query("UPDATE upi_possible_matches SET candidate_id = $1 WHERE id = 'pm-1'", [target.id]);
    const ok = await a.fetch('/upi/possible-matches/pm-1/confirm', { method: 'POST' });
    assert.equal(ok.status, 200, await ok.clone().text());
    const relinked = (await (await a.fetch(`/fhir/Patient/${second.id}`)).json()) as any;
    assert.equal(upidOfPatient(relinked), upidOfPatient(target));
    const restamped = (await (await a.fetch(`/fhir/Observation/${obs.id}`)).json()) as any;
    assert.equal(upidOfResource(restamped), upidOfPatient(target));
    assert.equal((await a.fetch('/upi/possible-matches/pm-1/reject', { method: 'POST' })).status, 409);
    // a manual link survives later demographic updates
    const again = await a.fetch(`/fhir/Patient/${second.id}`, { method: 'PUT', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ ...relinked, gender: 'female' }) });
    assert.equal(upidOfPatient(await again.json()), upidOfPatient(target));
  });
});
