import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { startSimulator, type Simulator } from '../../src/networks/sim/server.ts';
import { DEFAULT_CORPORA } from '../../src/networks/sim/cli.ts';
import { rxHistoryRequest } from '../../src/networks/sim/ncpdp.ts';
import { parseXml } from '../../src/documents/xml/index.ts';

const hasCorpora = existsSync(DEFAULT_CORPORA);

function matchBody(d: Record<string, string | undefined>) {
  return {
    resourceType: 'Parameters',
    parameter: [{ name: 'resource', resource: { resourceType: 'Patient', name: [{ family: d.family, given: [d.given] }], gender: d.gender, birthDate: d.birthDate, address: [{ line: [d.line], city: d.city, state: d.state, postalCode: d.postalCode }] } }],
  };
}

describe('network simulator', { skip: hasCorpora ? false : 'shared corpora not found' }, () => {
  let sim: Simulator;
  before(async () => { sim = await startSimulator({ corporaDir: DEFAULT_CORPORA, people: 30, seed: 7 }); });
  after(async () => { await sim.close(); });

  test('people are reproducible from the seed', async () => {
    const again = await startSimulator({ corporaDir: DEFAULT_CORPORA, people: 30, seed: 7 });
    try {
      assert.deepEqual(again.people.map((p) => p.demographics), sim.people.map((p) => p.demographics));
    } finally { await again.close(); }
  });

  test('EHR discovery → document list → retrieval with the person in the header', async () => {
    const person = sim.people.find((p) => p.networks.includes('commonwell'))!;
    const m = await fetch(`${sim.urls.commonwell}/fhir/Patient/$match`, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(matchBody(person.demographics as any)) });
    assert.equal(m.status, 200);
    const bundle = (await m.json()) as any;
    assert.equal(bundle.entry[0].resource.identifier[0].value, person.id);
    assert.ok(bundle.entry[0].search.score >= 0.9);
    const list = (await (await fetch(`${sim.urls.commonwell}/fhir/DocumentReference?patient=${bundle.entry[0].resource.id}`)).json()) as any;
    assert.equal(list.entry.length, 3);
    const doc = await fetch(list.entry[0].resource.content[0].attachment.url);
    assert.equal(doc.status, 200);
    const xml = await doc.text();
    const parsed = parseXml(xml);
    assert.ok(parsed.ok, 'documents are well-formed');
    assert.ok(xml.includes(`<family>${person.demographics.family.replace(/'/g, "'")}</family>`) || xml.includes(person.demographics.family.replace(/&/g, '&amp;')));
  });

  test('incomplete demographics are rejected; no match gives an empty bundle', async () => {
    const r = await fetch(`${sim.urls.carequality}/fhir/Patient/$match`, { method: 'POST', body: JSON.stringify(matchBody({ family: 'X', given: 'Y', birthDate: '1990-01-01' })) });
    assert.equal(r.status, 422);
    const none = await fetch(`${sim.urls.carequality}/fhir/Patient/$match`, { method: 'POST', body: JSON.stringify(matchBody({ family: 'Nobody', given: 'Zed', birthDate: '1901-02-03', gender: 'male', line: '1 Nowhere', city: 'Nowhere', state: 'ZZ', postalCode: '00000' })) });
    assert.equal(((await none.json()) as any).entry.length, 0);
  });

  test('pharmacy: RxHistoryRequest → RxHistoryResponse with fills', async () => {
    const person = sim.people.find((p) => p.networks.includes('surescripts'))!;
    const r = await fetch(`${sim.urls.surescripts}/ncpdp/script`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: rxHistoryRequest({ messageId: 'm1', sentTime: new Date().toISOString(), patient: person.demographics, prescriberNpi: '1013085661', consent: true }) });
    assert.equal(r.status, 200);
    const xml = await r.text();
    assert.ok(xml.includes('<RxHistoryResponse>'));
    assert.ok(xml.includes('<MedicationDispensed>'));
    assert.ok(parseXml(xml).ok);
  });

  test('faults: 503 outage, refused, per-person 404 and rejection, malformed documents, latency, ambiguous', async () => {
    const person = sim.people.find((p) => p.networks.includes('commonwell'))!;
    const body = JSON.stringify(matchBody(person.demographics as any));
    await fetch(`${sim.adminUrl}/admin/faults/commonwell`, { method: 'PUT', body: JSON.stringify({ outage: '503' }) });
    assert.equal((await fetch(`${sim.urls.commonwell}/fhir/Patient/$match`, { method: 'POST', body })).status, 503);
    await fetch(`${sim.adminUrl}/admin/faults/commonwell`, { method: 'PUT', body: JSON.stringify({ outage: 'refused' }) });
    await assert.rejects(fetch(`${sim.urls.commonwell}/fhir/Patient/$match`, { method: 'POST', body }));
    await fetch(`${sim.adminUrl}/admin/faults/commonwell`, { method: 'DELETE' });
    assert.equal((await fetch(`${sim.urls.commonwell}/fhir/Patient/$match`, { method: 'POST', body })).status, 200);

    await fetch(`${sim.adminUrl}/admin/people/${person.id}/faults`, { method: 'PUT', body: JSON.stringify({ commonwell: { notFoundDocuments: 'all', ambiguous: true } }) });
    const amb = (await (await fetch(`${sim.urls.commonwell}/fhir/Patient/$match`, { method: 'POST', body })).json()) as any;
    assert.equal(amb.entry.length, 2);
    assert.ok(Math.abs(amb.entry[0].search.score - amb.entry[1].search.score) < 0.05);
    const doc = person.documents.find((d) => d.network === 'commonwell')!;
    assert.equal((await fetch(`${sim.urls.commonwell}/fhir/Binary/${doc.id}`)).status, 404);
    await fetch(`${sim.adminUrl}/admin/people/${person.id}/faults`, { method: 'PUT', body: JSON.stringify({ '*': { malformedDocuments: true }, commonwell: { rejectDemographics: true } }) });
    assert.equal((await fetch(`${sim.urls.commonwell}/fhir/Patient/$match`, { method: 'POST', body })).status, 422);
    assert.equal(parseXml(await (await fetch(`${sim.urls.commonwell}/fhir/Binary/${doc.id}`)).text()).ok, false);
    await fetch(`${sim.adminUrl}/admin/reset`, { method: 'POST' });
    await fetch(`${sim.adminUrl}/admin/faults/carequality`, { method: 'PUT', body: JSON.stringify({ latencyMs: 150 }) });
    const t0 = Date.now();
    await fetch(`${sim.urls.carequality}/fhir/DocumentReference?patient=x`);
    assert.ok(Date.now() - t0 >= 140);
    await fetch(`${sim.adminUrl}/admin/reset`, { method: 'POST' });
  });
});
