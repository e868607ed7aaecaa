// The /fhir REST API over real HTTP: interactions, headers, bundles, bad input and tenancy.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestPlatform, type TestPlatform, type TestBuilder } from '../helpers/platform.ts';
import { counts } from './helpers.ts';

let tp: TestPlatform;
let a: TestBuilder;
let b: TestBuilder;
const FHIR = 'application/fhir+json';

before(async () => {
  tp = await startTestPlatform();
  a = await tp.createBuilder('Alpha');
  b = await tp.createBuilder('Beta');
});
after(async () => tp.close());

type Json = Record<string, any>;
async function call(who: TestBuilder, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: Json | null }> {
  const r = await who.fetch(path, { method, headers: { 'content-type': FHIR, ...headers }, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, headers: r.headers, json: text ? JSON.parse(text) : null };
}
const patient = (family: string, extra: Json = {}) => ({ resourceType: 'Patient', name: [{ family, given: ['Kim'] }], birthDate: '1975-04-04', ...extra });

describe('interactions', () => {
  test('metadata needs no token and lists the interactions', async () => {
    const r = await fetch(`${tp.url}/fhir/metadata`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type')!, /application\/fhir\+json/);
    const cs = (await r.json()) as Json;
    assert.equal(cs.fhirVersion, '4.0.1');
    assert.deepEqual(cs.patchFormat, ['application/json-patch+json']);
    const pat = cs.rest[0].resource.find((x: Json) => x.type === 'Patient');
    assert.equal(pat.conditionalDelete, 'single');
    assert.ok(pat.searchParam.some((p: Json) => p.name === 'birthdate' && p.type === 'date'));
    assert.ok(!pat.searchParam.some((p: Json) => p.type === 'composite'));
    assert.ok(cs.rest[0].resource.length > 140);
  });

  test('no token → 401 OperationOutcome', async () => {
    const r = await fetch(`${tp.url}/fhir/Patient`);
    assert.equal(r.status, 401);
    assert.equal(((await r.json()) as Json).resourceType, 'OperationOutcome');
  });

  test('create → 201 with Location, ETag, Last-Modified; read, vread, If-None-Match', async () => {
    const c = await call(a, 'POST', '/fhir/Patient', patient('Create'));
    assert.equal(c.status, 201);
    assert.equal(c.headers.get('etag'), 'W/"1"');
    assert.equal(c.headers.get('location'), `${tp.url}/fhir/Patient/${c.json!.id}/_history/1`);
    assert.ok(c.headers.get('last-modified'));
    assert.match(c.headers.get('content-type')!, /application\/fhir\+json/);
    const r = await call(a, 'GET', `/fhir/Patient/${c.json!.id}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, c.json);
    assert.equal((await call(a, 'GET', `/fhir/Patient/${c.json!.id}/_history/1`)).status, 200);
    assert.equal((await call(a, 'GET', `/fhir/Patient/${c.json!.id}/_history/9`)).status, 404);
    assert.equal((await call(a, 'GET', `/fhir/Patient/${c.json!.id}`, undefined, { 'if-none-match': 'W/"1"' })).status, 304);
    assert.equal((await call(a, 'GET', '/fhir/Patient/does-not-exist')).status, 404);
    assert.equal((await call(a, 'GET', '/fhir/Nonsense/1')).status, 404);
  });

  test('Prefer: return=minimal / OperationOutcome', async () => {
    const m = await call(a, 'POST', '/fhir/Patient', patient('Minimal'), { prefer: 'return=minimal' });
    assert.equal(m.status, 201);
    assert.equal(m.json, null);
    const o = await call(a, 'POST', '/fhir/Patient', patient('Outcome'), { prefer: 'return=OperationOutcome' });
    assert.equal(o.json!.resourceType, 'OperationOutcome');
  });

  test('update with If-Match; stale → 412', async () => {
    const c = await call(a, 'POST', '/fhir/Patient', patient('Upd'));
    const u = await call(a, 'PUT', `/fhir/Patient/${c.json!.id}`, { ...c.json, gender: 'female' }, { 'if-match': 'W/"1"' });
    assert.equal(u.status, 200);
    assert.equal(u.headers.get('etag'), 'W/"2"');
    const stale = await call(a, 'PUT', `/fhir/Patient/${c.json!.id}`, { ...c.json, gender: 'male' }, { 'if-match': 'W/"1"' });
    assert.equal(stale.status, 412);
    assert.equal(stale.json!.resourceType, 'OperationOutcome');
  });

  test('conditional create, conditional update (spec/002 upsert with trailing slash), conditional delete', async () => {
    const body = patient('Bergamel', { identifier: [{ system: 'https://zusapi.com/test', value: 'test-identifier-value' }] });
    const c1 = await call(a, 'POST', '/fhir/Patient', body, { 'if-none-exist': 'identifier=https://zusapi.com/test|test-identifier-value' });
    assert.equal(c1.status, 201);
    const c2 = await call(a, 'POST', '/fhir/Patient', body, { 'if-none-exist': 'identifier=https://zusapi.com/test|test-identifier-value' });
    assert.equal(c2.status, 200);
    assert.equal(c2.json!.id, c1.json!.id);
    const up = await call(a, 'PUT', '/fhir/Patient/?identifier=https://zusapi.com/test|test-identifier-value', { ...body, gender: 'male' });
    assert.equal(up.status, 200);
    assert.equal(up.json!.id, c1.json!.id);
    const fresh = await call(a, 'PUT', '/fhir/Patient?identifier=https://zusapi.com/test|other-value', { ...body, identifier: [{ system: 'https://zusapi.com/test', value: 'other-value' }] });
    assert.equal(fresh.status, 201);
    assert.equal((await call(a, 'DELETE', '/fhir/Patient?identifier=https://zusapi.com/test|other-value')).status, 204);
    assert.equal((await call(a, 'GET', `/fhir/Patient/${fresh.json!.id}`)).status, 410);
    await call(a, 'POST', '/fhir/Patient', body);
    assert.equal((await call(a, 'PUT', '/fhir/Patient?identifier=https://zusapi.com/test|test-identifier-value', body)).status, 412);
    assert.equal((await call(a, 'DELETE', '/fhir/Patient?identifier=https://zusapi.com/test|test-identifier-value')).status, 412);
  });

  test('delete → 204, read → 410, delete of missing → 204', async () => {
    const c = await call(a, 'POST', '/fhir/Patient', patient('Del'));
    assert.equal((await call(a, 'DELETE', `/fhir/Patient/${c.json!.id}`)).status, 204);
    assert.equal((await call(a, 'GET', `/fhir/Patient/${c.json!.id}`)).status, 410);
    assert.equal((await call(a, 'DELETE', '/fhir/Patient/never-there')).status, 204);
  });

  test('JSON Patch', async () => {
    const c = await call(a, 'POST', '/fhir/Patient', patient('Patch'));
    const p = await call(a, 'PATCH', `/fhir/Patient/${c.json!.id}`, [{ op: 'add', path: '/active', value: true }], { 'content-type': 'application/json-patch+json' });
    assert.equal(p.status, 200);
    assert.equal(p.json!.active, true);
    assert.equal(p.json!.meta.versionId, '2');
    const bad = await call(a, 'PATCH', `/fhir/Patient/${c.json!.id}`, [{ op: 'add', path: '/gender', value: 'robot' }], { 'content-type': 'application/json-patch+json' });
    assert.equal(bad.status, 422);
    assert.equal((await call(a, 'PATCH', `/fhir/Patient/${c.json!.id}`, [{ op: 'add', path: '/active', value: false }])).status, 400);
  });

  test('history: instance and type, with _count and next links', async () => {
    const c = await call(a, 'POST', '/fhir/Device', { resourceType: 'Device', status: 'active' });
    await call(a, 'PUT', `/fhir/Device/${c.json!.id}`, { ...c.json, status: 'inactive' });
    await call(a, 'DELETE', `/fhir/Device/${c.json!.id}`);
    const h = await call(a, 'GET', `/fhir/Device/${c.json!.id}/_history`);
    assert.equal(h.json!.type, 'history');
    assert.deepEqual(h.json!.entry.map((e: Json) => e.request.method), ['DELETE', 'PUT', 'POST']);
    const t1 = await call(a, 'GET', '/fhir/Device/_history?_count=2');
    assert.equal(t1.json!.entry.length, 2);
    const next = t1.json!.link.find((l: Json) => l.relation === 'next').url as string;
    assert.ok(next.startsWith(`${tp.url}/fhir/Device/_history?`));
    const t2 = await call(a, 'GET', next.slice(tp.url.length));
    assert.equal(t2.json!.entry.length, 1);
    assert.equal((await call(a, 'GET', '/fhir/Device/_history?_since=yesterday')).status, 400);
    assert.equal((await call(b, 'GET', `/fhir/Device/${c.json!.id}/_history`)).status, 404);
  });

  test('search on GET and POST _search, absolute next links', async () => {
    for (let i = 0; i < 3; i++) await call(a, 'POST', '/fhir/Patient', patient('Pager', { birthDate: `199${i}-01-01` }));
    const g = await call(a, 'GET', '/fhir/Patient?family=pager&_count=2&_sort=birthdate');
    assert.equal(g.json!.type, 'searchset');
    assert.equal(g.json!.entry.length, 2);
    assert.equal(g.json!.entry[0].search.mode, 'match');
    const next = g.json!.link.find((l: Json) => l.relation === 'next').url as string;
    assert.ok(next.startsWith(`${tp.url}/fhir/Patient?`));
    const g2 = await call(a, 'GET', next.slice(tp.url.length));
    assert.equal(g2.json!.entry.length, 1);
    assert.equal(g2.json!.entry[0].resource.birthDate, '1992-01-01');
    const p = await a.fetch('/fhir/Patient/_search', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'family=pager&birthdate=1991-01-01' });
    assert.equal(p.status, 200);
    assert.equal(((await p.json()) as Json).entry.length, 1);
    const t = await call(a, 'GET', '/fhir/Patient?family=pager&_summary=count');
    assert.equal(t.json!.total, 3);
    const strict = await call(a, 'GET', '/fhir/Patient?unknown=1', undefined, { prefer: 'handling=strict' });
    assert.equal(strict.status, 400);
    const lenient = await call(a, 'GET', '/fhir/Patient?unknown=1&family=pager');
    assert.equal(lenient.status, 200);
    assert.equal(lenient.json!.entry.filter((e: Json) => e.search.mode === 'outcome').length, 1);
  });
});

describe('bundles', () => {
  test('transaction: urn:uuid and conditional references resolved, all-or-nothing', async () => {
    await call(a, 'POST', '/fhir/Organization', { resourceType: 'Organization', name: 'Txn Org', identifier: [{ system: 'urn:org', value: 'txn' }] });
    const bundle = {
      resourceType: 'Bundle', type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:11111111-1111-1111-1111-111111111111', resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'urn:uuid:22222222-2222-2222-2222-222222222222' } }, request: { method: 'POST', url: 'Observation' } },
        { fullUrl: 'urn:uuid:22222222-2222-2222-2222-222222222222', resource: { ...patient('TxnPatient'), managingOrganization: { reference: 'Organization?identifier=urn:org|txn' } }, request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: 'Patient?family=txnpatient' } },
      ],
    };
    const r = await call(a, 'POST', '/fhir', bundle);
    assert.equal(r.status, 200);
    assert.equal(r.json!.type, 'transaction-response');
    assert.deepEqual(r.json!.entry.map((e: Json) => e.response.status), ['201 Created', '201 Created', '200 OK']);
    const obs = r.json!.entry[0].resource;
    const pat = r.json!.entry[1].resource;
    assert.equal(obs.subject.reference, `Patient/${pat.id}`);
    assert.match(pat.managingOrganization.reference, /^Organization\//);
    assert.equal(r.json!.entry[2].resource.entry.length, 1, 'GET sees the transaction\'s writes');
    assert.match(r.json!.entry[0].response.location, /^Observation\/.+\/_history\/1$/);
    assert.equal(r.json!.entry[0].response.etag, 'W/"1"');

    // a failing entry rolls everything back
    const before = await counts(tp.db);
    const bad = await call(a, 'POST', '/fhir', {
      resourceType: 'Bundle', type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:33333333-3333-3333-3333-333333333333', resource: patient('Rollback'), request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Patient', gender: 'robot' }, request: { method: 'POST', url: 'Patient' } },
      ],
    });
    assert.equal(bad.status, 422);
    assert.equal(bad.json!.resourceType, 'OperationOutcome');
    const unresolved = await call(a, 'POST', '/fhir', {
      resourceType: 'Bundle', type: 'transaction',
      entry: [{ resource: { ...patient('X'), managingOrganization: { reference: 'Organization?identifier=urn:org|nope' } }, request: { method: 'POST', url: 'Patient' } }],
    });
    assert.equal(unresolved.status, 412);
    assert.deepEqual(await counts(tp.db), before);
  });

  test('batch: entries independent, per-entry outcomes', async () => {
    const r = await call(a, 'POST', '/fhir', {
      resourceType: 'Bundle', type: 'batch',
      entry: [
        { resource: patient('Batch1'), request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Patient', bogus: true }, request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: `${tp.url}/fhir/Patient/missing-id` } },
        { request: { method: 'GET', url: 'Patient?family=batch1' } },
      ],
    });
    assert.equal(r.status, 200);
    assert.equal(r.json!.type, 'batch-response');
    assert.deepEqual(r.json!.entry.map((e: Json) => e.response.status), ['201 Created', '400', '404', '200 OK']);
    assert.equal(r.json!.entry[1].response.outcome.resourceType, 'OperationOutcome');
    assert.equal(r.json!.entry[3].resource.entry.length, 1);
  });
});

describe('bad input', () => {
  test('malformed JSON, wrong resourceType, id mismatch, 10 MB body, invalid dates, unknown modifiers → 4xx OperationOutcome, nothing written', async () => {
    const before = await counts(tp.db);
    const c = await call(a, 'POST', '/fhir/Patient', patient('Bad'));
    const after1 = await counts(tp.db);
    const cases: [string, string, unknown, number][] = [
      ['POST', '/fhir/Patient', '{"resourceType": "Patient", ', 400],
      ['POST', '/fhir/Patient', { resourceType: 'Observation', status: 'final', code: { text: 'x' } }, 400],
      ['PUT', `/fhir/Patient/${c.json!.id}`, { ...c.json, id: 'someone-else' }, 400],
      ['PUT', `/fhir/Patient/${c.json!.id}`, { ...c.json, resourceType: 'Practitioner' }, 400],
      ['POST', '/fhir/Patient', [1, 2, 3], 400],
      ['POST', '/fhir/Patient', { resourceType: 'Patient', birthDate: 'not-a-date' }, 400],
      ['POST', '/fhir/Patient', JSON.stringify({ resourceType: 'Patient', text: { status: 'generated', div: `<div>${'x'.repeat(10 * 1024 * 1024)}</div>` } }), 413],
      ['GET', '/fhir/Patient?birthdate=2020-99-99', undefined, 400],
      ['GET', '/fhir/Patient?family:sounds-like=x', undefined, 400],
      ['GET', "/fhir/Patient?family=x'%3B%20DROP%20TABLE%20resources%3B--", undefined, 200],
      ['POST', '/fhir', { resourceType: 'Bundle', type: 'collection' }, 400],
      ['POST', '/fhir', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: patient('x') }] }, 400],
    ];
    for (const [method, path, body, want] of cases) {
      const r = await call(a, method, path, body);
      assert.equal(r.status, want, `${method} ${path}`);
      if (want >= 400) assert.equal(r.json!.resourceType, 'OperationOutcome', `${method} ${path}`);
    }
    assert.deepEqual(await counts(tp.db), after1);
    assert.notDeepEqual(after1, before);
    assert.equal((await call(a, 'GET', `/fhir/Patient/${c.json!.id}`)).status, 200, 'server keeps serving');
  });
});

describe('tenancy over HTTP', () => {
  test('two builders with identical data never see or touch each other', async () => {
    const ident = { system: 'urn:shared', value: 'same-123' };
    const pa = await call(a, 'POST', '/fhir/Patient', patient('Twin', { identifier: [ident] }));
    const pb = await call(b, 'POST', '/fhir/Patient', patient('Twin', { identifier: [ident] }));
    const oa = await call(a, 'POST', '/fhir/Observation', { resourceType: 'Observation', status: 'final', code: { text: 'bp' }, subject: { reference: `Patient/${pa.json!.id}` } });
    await call(b, 'POST', '/fhir/Observation', { resourceType: 'Observation', status: 'final', code: { text: 'bp' }, subject: { reference: `Patient/${pb.json!.id}` } });
    // read / vread / history of the other's resource
    assert.equal((await call(b, 'GET', `/fhir/Patient/${pa.json!.id}`)).status, 404);
    assert.equal((await call(b, 'GET', `/fhir/Patient/${pa.json!.id}/_history/1`)).status, 404);
    assert.equal((await call(b, 'GET', `/fhir/Patient/${pa.json!.id}/_history`)).status, 404);
    const th = await call(b, 'GET', '/fhir/Patient/_history?_count=500');
    assert.ok(!th.json!.entry.some((e: Json) => e.resource?.id === pa.json!.id));
    // search, chains, includes
    const s = await call(b, 'GET', '/fhir/Patient?identifier=urn:shared|same-123&_revinclude=Observation:subject');
    assert.deepEqual(s.json!.entry.map((e: Json) => e.resource.id).sort(), [pb.json!.id, ...s.json!.entry.filter((e: Json) => e.search.mode === 'include').map((e: Json) => e.resource.id)].sort());
    assert.ok(!s.json!.entry.some((e: Json) => e.resource.id === pa.json!.id || e.resource.id === oa.json!.id));
    const inc = await call(b, 'GET', `/fhir/Observation?subject=Patient/${pa.json!.id}&_include=Observation:subject`);
    assert.equal(inc.json!.entry.length, 0);
    const chain = await call(b, 'GET', '/fhir/Observation?patient.identifier=urn:shared|same-123');
    assert.equal(chain.json!.entry.length, 1);
    // conditional operations only see their own
    const cc = await call(b, 'POST', '/fhir/Patient', patient('Twin', { identifier: [ident] }), { 'if-none-exist': 'identifier=urn:shared|same-123' });
    assert.equal(cc.status, 200);
    assert.equal(cc.json!.id, pb.json!.id);
    const cu = await call(b, 'PUT', '/fhir/Patient?identifier=urn:shared|same-123', patient('Twin', { identifier: [ident], gender: 'male' }));
    assert.equal(cu.json!.id, pb.json!.id);
    assert.equal((await call(b, 'DELETE', '/fhir/Patient?identifier=urn:shared|same-123')).status, 204);
    // writes to the other's ids
    assert.equal((await call(b, 'PUT', `/fhir/Patient/${pa.json!.id}`, { ...pa.json })).status, 409);
    assert.equal((await call(b, 'DELETE', `/fhir/Patient/${pa.json!.id}`)).status, 204);
    assert.equal((await call(b, 'PATCH', `/fhir/Patient/${pa.json!.id}`, [{ op: 'add', path: '/active', value: false }], { 'content-type': 'application/json-patch+json' })).status, 404);
    // A's data is untouched
    const still = await call(a, 'GET', `/fhir/Patient/${pa.json!.id}`);
    assert.equal(still.status, 200);
    assert.equal(still.json!.meta.versionId, '1');
    assert.equal(still.json!.active, undefined);
  });
});
