// Sharing between builders over HTTP, scenario by scenario: TPO through an active Patient with the same UPID,
// Designated Record Set vs other types, restricted labels, foundational resources only through references,
// read-only shared data, inactive owners, firstparty=true, Binary source documents, $everything (paging, _type,
// _since, by UPID) and the CapabilityStatement listing. The randomized version is sharing-random.test.ts.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestPlatform, type TestPlatform, type TestBuilder } from '../helpers/platform.ts';

const UPID_SYSTEM = 'https://zusapi.com/fhir/identifier/universal-id';
const person = (active: boolean, mrn: string) => ({
  resourceType: 'Patient', active,
  identifier: [{ system: 'http://hl7.org/fhir/sid/us-ssn', value: '123-45-6789' }, { system: `urn:mrn:${mrn}`, value: mrn, type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] } }],
  name: [{ family: 'Quintero', given: ['Rosalind', 'Maeve'] }], gender: 'female', birthDate: '1961-07-23',
  address: [{ line: ['4417 Larkspur Court'], city: 'Dayton', state: 'OH', postalCode: '45402' }],
  telecom: [{ system: 'phone', value: '937-555-0188' }, { system: 'email', value: 'rq1961@example.org' }],
});
type Bundle = { entry?: { resource: { resourceType: string; id: string }; search?: { mode: string } }[]; link?: { relation: string; url: string }[] };
const keys = (b: Bundle, mode?: string) => (b.entry ?? []).filter((e) => !mode || e.search?.mode === mode).map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort();

describe('sharing between builders', () => {
  let tp: TestPlatform;
  let A: TestBuilder, B: TestBuilder, C: TestBuilder;
  const ids: Record<string, string> = {};
  let upid = '';

  const post = async (b: TestBuilder, body: Record<string, unknown>) => {
    const r = await b.fetch(`/fhir/${body.resourceType as string}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/fhir+json' } });
    assert.equal(r.status, 201, await r.clone().text());
    return (await r.json()) as { id: string; identifier?: { system: string; value: string }[] } & Record<string, unknown>;
  };
  const get = async (b: TestBuilder, path: string) => b.fetch(path);
  const json = async (b: TestBuilder, path: string) => {
    const r = await get(b, path);
    assert.equal(r.status, 200, `${path}: ${await r.clone().text()}`);
    return (await r.json()) as Bundle & Record<string, unknown>;
  };
  const setActive = async (b: TestBuilder, id: string, active: boolean) => {
    const cur = (await (await get(b, `/fhir/Patient/${id}`)).json()) as Record<string, unknown>;
    const r = await b.fetch(`/fhir/Patient/${id}`, { method: 'PUT', body: JSON.stringify({ ...cur, active }), headers: { 'content-type': 'application/fhir+json' } });
    assert.equal(r.status, 200, await r.clone().text());
  };

  before(async () => {
    tp = await startTestPlatform();
    [A, B, C] = [await tp.createBuilder('Share A'), await tp.createBuilder('Share B'), await tp.createBuilder('Share C')];
    const pa = await post(A, person(true, 'A-1'));
    const pb = await post(B, person(true, 'B-1'));
    ids.pa = pa.id;
    ids.pb = pb.id;
    upid = pa.identifier!.find((i) => i.system === UPID_SYSTEM)!.value;
    assert.equal(pb.identifier!.find((i) => i.system === UPID_SYSTEM)!.value, upid, 'the UPI links the two records of one person');
    ids.pc = (await post(C, { resourceType: 'Patient', active: true, name: [{ family: 'Elsewhere', given: ['Other'] }], birthDate: '1990-01-01' })).id;
    ids.prac = (await post(A, { resourceType: 'Practitioner', name: [{ family: 'Okafor' }] })).id;
    ids.org = (await post(A, { resourceType: 'Organization', name: 'Clinic A' })).id;
    ids.obs = (await post(A, { resourceType: 'Observation', status: 'final', code: { text: 'hr' }, subject: { reference: `Patient/${ids.pa}` }, performer: [{ reference: `Practitioner/${ids.prac}` }] })).id;
    ids.secret = (await post(A, { resourceType: 'Observation', status: 'final', code: { text: 'hiv' }, subject: { reference: `Patient/${ids.pa}` }, meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] } })).id;
    ids.mr = (await post(A, { resourceType: 'MedicationRequest', status: 'active', intent: 'order', medicationCodeableConcept: { text: 'metformin' }, subject: { reference: `Patient/${ids.pa}` }, requester: { reference: `Practitioner/${ids.prac}` } })).id;
    ids.basic = (await post(A, { resourceType: 'Basic', code: { text: 'note' }, subject: { reference: `Patient/${ids.pa}` } })).id;
    ids.prov = (await post(A, { resourceType: 'Provenance', target: [{ reference: `Observation/${ids.obs}` }], recorded: '2026-01-01T00:00:00Z', agent: [{ who: { reference: `Organization/${ids.org}` } }] })).id;
    ids.bin = (await post(A, { resourceType: 'Binary', contentType: 'text/plain', securityContext: { reference: `Patient/${ids.pa}` }, data: 'aGVsbG8=' })).id;
    ids.bobs = (await post(B, { resourceType: 'Observation', status: 'final', code: { text: 'bp' }, subject: { reference: `Patient/${ids.pb}` } })).id;
  });
  after(async () => {
    await tp.close();
  });

  test('DRS data is readable by a builder with its own active Patient; restricted, non-DRS and foundational are not', async () => {
    assert.equal((await get(B, `/fhir/Observation/${ids.obs}`)).status, 200);
    assert.equal((await get(B, `/fhir/MedicationRequest/${ids.mr}`)).status, 200);
    assert.equal((await get(B, `/fhir/Patient/${ids.pa}`)).status, 200);
    assert.equal((await get(B, `/fhir/Binary/${ids.bin}`)).status, 200, 'source documents (Binary) are part of the DRS');
    assert.equal((await get(B, `/fhir/Observation/${ids.secret}`)).status, 404, 'restricted');
    assert.equal((await get(B, `/fhir/Basic/${ids.basic}`)).status, 404, 'not in the DRS');
    assert.equal((await get(B, `/fhir/Practitioner/${ids.prac}`)).status, 404, 'foundational: never by read');
    assert.equal((await get(B, `/fhir/Provenance/${ids.prov}`)).status, 404);
    assert.deepEqual(keys(await json(B, '/fhir/Practitioner')), [], 'foundational: never by search');
    assert.deepEqual(keys(await json(B, '/fhir/Observation?_count=100')), [`Observation/${ids.bobs}`, `Observation/${ids.obs}`].sort());
    // C has no relationship with this person
    for (const p of [`/fhir/Observation/${ids.obs}`, `/fhir/Patient/${ids.pa}`, `/fhir/Binary/${ids.bin}`]) assert.equal((await get(C, p)).status, 404, p);
    assert.deepEqual(keys(await json(C, '/fhir/Observation')), []);
  });

  test('foundational resources come through _include and _revinclude=Provenance:target', async () => {
    const b = await json(B, `/fhir/MedicationRequest?_id=${ids.mr}&_include=MedicationRequest:requester`);
    assert.deepEqual(keys(b, 'include'), [`Practitioner/${ids.prac}`]);
    const o = await json(B, `/fhir/Observation?_id=${ids.obs}&_revinclude=Provenance:target&_include=Observation:performer`);
    assert.deepEqual(keys(o, 'include'), [`Practitioner/${ids.prac}`, `Provenance/${ids.prov}`].sort());
    // C sees none of it
    assert.deepEqual(keys(await json(C, `/fhir/MedicationRequest?_include=MedicationRequest:requester`)), []);
  });

  test('shared data is read-only', async () => {
    const cur = await (await get(B, `/fhir/Observation/${ids.obs}`)).json();
    const put = await B.fetch(`/fhir/Observation/${ids.obs}`, { method: 'PUT', body: JSON.stringify(cur), headers: { 'content-type': 'application/fhir+json' } });
    assert.equal(put.status, 403);
    assert.equal((await B.fetch(`/fhir/Observation/${ids.obs}`, { method: 'DELETE' })).status, 403);
    assert.equal((await get(A, `/fhir/Observation/${ids.obs}`)).status, 200);
    // conditional writes look at the caller's own data only: a shared match neither blocks a create nor is updated
    const body = JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 'cond' }, subject: { reference: `Patient/${ids.pb}` } });
    const cc = await B.fetch('/fhir/Observation', { method: 'POST', body, headers: { 'content-type': 'application/fhir+json', 'if-none-exist': `_id=${ids.obs}` } });
    assert.equal(cc.status, 201);
    const created = (await cc.json()) as { id: string };
    assert.notEqual(created.id, ids.obs);
    assert.equal((await B.fetch(`/fhir/Observation/${created.id}`, { method: 'DELETE' })).status, 204);
  });

  test('firstparty=true limits a search to the caller\'s own data', async () => {
    assert.deepEqual(keys(await json(B, '/fhir/Observation?firstparty=true')), [`Observation/${ids.bobs}`]);
    assert.deepEqual(keys(await json(B, '/fhir/Patient?firstparty=true')), [`Patient/${ids.pb}`]);
    assert.equal((await get(B, '/fhir/Patient?firstparty=maybe')).status, 400);
  });

  test('$everything: own + shared DRS + referenced foundational, paged, _type, _since, by UPID', async () => {
    const all = await json(B, `/fhir/Patient/${ids.pb}/$everything?_count=500`);
    const wantMatch = [`Patient/${ids.pa}`, `Patient/${ids.pb}`, `Observation/${ids.obs}`, `Observation/${ids.bobs}`, `MedicationRequest/${ids.mr}`, `Binary/${ids.bin}`].sort();
    assert.deepEqual(keys(all, 'match'), wantMatch);
    assert.deepEqual(keys(all, 'include'), [`Practitioner/${ids.prac}`, `Provenance/${ids.prov}`].sort());
    // clients that percent-encode the operation mark reach the same operation
    const encoded = await json(B, `/fhir/Patient/${ids.pb}/%24everything?_count=500`);
    assert.deepEqual(keys(encoded, 'match'), wantMatch);
    // A sees its own restricted and non-DRS data of the person too
    const a = await json(A, `/fhir/Patient/${ids.pa}/$everything?_count=500`);
    for (const k of [`Observation/${ids.secret}`, `Basic/${ids.basic}`, `Observation/${ids.bobs}`]) assert.ok(keys(a, 'match').includes(k), k);
    // paging
    const seen: string[] = [];
    let next: string | undefined = `/fhir/Patient/${ids.pb}/$everything?_count=2`;
    let pages = 0;
    while (next && pages++ < 10) {
      const page: Bundle = await json(B, next.replace(tp.url, ''));
      seen.push(...keys(page, 'match'));
      next = page.link?.find((l) => l.relation === 'next')?.url;
    }
    assert.deepEqual(seen.sort(), wantMatch);
    assert.equal(pages, 3);
    assert.deepEqual(keys(await json(B, `/fhir/Patient/${ids.pb}/$everything?_type=Observation`)), [`Observation/${ids.obs}`, `Observation/${ids.bobs}`].sort());
    assert.deepEqual(keys(await json(B, `/fhir/Patient/${ids.pb}/$everything?_since=2999-01-01T00:00:00Z`), 'match'), []);
    assert.deepEqual(keys(await json(B, `/fhir/Patient/$everything?upid=${upid}&_count=500`), 'match'), wantMatch);
    assert.equal((await get(C, `/fhir/Patient/$everything?upid=${upid}`)).status, 404);
    assert.equal((await get(C, `/fhir/Patient/${ids.pa}/$everything`)).status, 404);
    assert.equal((await get(B, '/fhir/Patient/$everything')).status, 400);
    assert.equal((await get(B, `/fhir/Patient/${ids.pb}/$everything?_type=Nope`)).status, 400);
  });

  test('the owner going inactive hides nothing; the viewer going inactive ends its access', async () => {
    await setActive(A, ids.pa, false);
    assert.equal((await get(B, `/fhir/Observation/${ids.obs}`)).status, 200, 'owner inactive: still shared');
    assert.equal((await get(A, `/fhir/Observation/${ids.bobs}`)).status, 404, 'A has no active relationship any more');
    await setActive(B, ids.pb, false);
    assert.equal((await get(B, `/fhir/Observation/${ids.obs}`)).status, 404);
    assert.deepEqual(keys(await json(B, '/fhir/Observation')), [`Observation/${ids.bobs}`]);
    await setActive(B, ids.pb, true);
    await setActive(A, ids.pa, true);
    assert.equal((await get(B, `/fhir/Observation/${ids.obs}`)).status, 200);
  });

  test('reads of shared data are recorded as AuditEvents owned by the data\'s owner', async () => {
    const audits = async () => ((await json(A, '/fhir/AuditEvent?_count=500')).entry ?? []).map((e) => e.resource as unknown as { purposeOfEvent?: { coding?: { code: string }[] }[]; entity: { what: { reference?: string } }[]; agent: { who: { identifier?: { value: string } } }[] });
    const before = (await audits()).length;
    assert.equal((await get(B, `/fhir/Observation/${ids.obs}`)).status, 200);
    const after = await audits();
    assert.equal(after.length, before + 1);
    const ev = after.find((a) => a.entity.some((e) => e.what.reference === `Observation/${ids.obs}`))!;
    assert.equal(ev.purposeOfEvent![0]!.coding![0]!.code, 'TREAT');
    assert.ok(ev.agent.some((a) => a.who.identifier?.value === B.builderId));
    // own data only, or no relationship: nothing recorded
    await json(B, '/fhir/Observation?firstparty=true');
    await get(C, `/fhir/Observation/${ids.obs}`);
    assert.equal((await audits()).length, before + 1);
    const seenByB = ((await json(B, '/fhir/AuditEvent?_count=500')).entry ?? []).map((e) => JSON.stringify(e.resource));
    assert.ok(seenByB.every((r) => r.includes(`builder/${B.builderId}`) && !r.includes(`"code":"builder/${A.builderId}"`)), 'B sees only its own audit trail (A read B\'s data in $everything), never A\'s');
  });

  test('/fhir/metadata lists the Designated Record Set, foundational types, $everything and firstparty', async () => {
    const cs = (await (await get(B, '/fhir/metadata')).json()) as { extension: { url: string; extension: { valueCode: string }[] }[]; rest: { documentation: string; searchParam: { name: string }[]; resource: { type: string; operation?: { name: string }[] }[] }[] };
    const drs = cs.extension.find((e) => e.url.endsWith('designated-record-set'))!.extension.map((e) => e.valueCode);
    assert.ok(drs.includes('Observation') && drs.includes('Binary') && !drs.includes('Practitioner') && !drs.includes('AuditEvent'));
    assert.match(cs.rest[0]!.documentation, /Designated Record Set/);
    assert.ok(cs.rest[0]!.searchParam.some((p) => p.name === 'firstparty'));
    assert.ok(cs.rest[0]!.resource.find((r) => r.type === 'Patient')!.operation!.some((o) => o.name === 'everything'));
  });
});
