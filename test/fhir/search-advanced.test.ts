// Composite parameters, _has (reverse chaining), _summary=true, string :exact on the verbatim value, and the
// OperationOutcome issue codes of validation failures (which decide 400 vs 422). Runs on PGlite and PostgreSQL.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Database } from '../../src/db/types.ts';
import type { FhirStore, FhirResource } from '../../src/fhir/store/index.ts';
import type { HttpError } from '../../src/platform/errors.ts';
import { renderSearchBundle } from '../../src/fhir/search/render.ts';
import { capabilityStatement } from '../../src/fhir/http/capability.ts';
import { ctxFor, createStoreFixture, qs, counts } from './helpers.ts';

let db: Database;
let store: FhirStore;
const A = ctxFor('builder-a');
const B = ctxFor('builder-b');
const ids: Record<string, string> = {};

async function find(type: string, query: string, ctx = A): Promise<string[]> {
  const { result } = await store.search(ctx, type, qs(query), { strict: true });
  return result.matches.map((m) => m.id).sort();
}
const sorted = (...xs: (string | undefined)[]) => (xs as string[]).sort();
async function failure(p: Promise<unknown>): Promise<HttpError> {
  try { await p; } catch (e) { return e as HttpError; }
  throw new Error('expected a failure');
}

const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const coding = (code: string) => ({ coding: [{ system: LOINC, code }] });

before(async () => {
  ({ db, store } = await createStoreFixture());
  ids.smith = (await store.create(A, { resourceType: 'Patient', name: [{ family: 'Smith', given: ['John'] }], gender: 'male', birthDate: '1970-01-01' })).id;
  ids.muller = (await store.create(A, { resourceType: 'Patient', name: [{ family: 'Müller', given: ['Jörg'] }], photo: [{ url: 'http://x/p.png' }], contact: [{ name: { family: 'Kin' } }] })).id;
  ids.lower = (await store.create(A, { resourceType: 'Patient', name: [{ family: 'muller' }] })).id;
  ids.doe = (await store.create(A, { resourceType: 'Patient', name: [{ family: 'Doe' }] })).id;
  const obs = (patient: string, extra: Record<string, unknown>): FhirResource => ({ resourceType: 'Observation', status: 'final', subject: { reference: `Patient/${patient}` }, ...extra });
  ids.hr = (await store.create(A, obs(ids.smith, { code: coding('8867-4'), valueQuantity: { value: 72, system: UCUM, code: '/min' } }))).id;
  ids.hrHigh = (await store.create(A, obs(ids.muller, { code: coding('8867-4'), valueQuantity: { value: 130, system: UCUM, code: '/min' } }))).id;
  ids.bp = (await store.create(A, obs(ids.smith, {
    code: coding('85354-9'),
    component: [
      { code: coding('8480-6'), valueQuantity: { value: 120, system: UCUM, code: 'mm[Hg]' } },
      { code: coding('8462-4'), valueQuantity: { value: 80, system: UCUM, code: 'mm[Hg]' } },
    ],
  }))).id;
  ids.smoker = (await store.create(A, obs(ids.doe, { code: coding('72166-2'), valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '266919005' }] } }))).id;
  ids.report = (await store.create(A, { resourceType: 'DiagnosticReport', status: 'final', code: coding('55418-8'), subject: { reference: `Patient/${ids.muller}` }, result: [{ reference: `Observation/${ids.hrHigh}` }] })).id;
  ids.enc = (await store.create(A, { resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: { reference: `Patient/${ids.doe}` } })).id;
  // builder B points an Observation at A's patient Doe: A's _has must not see it
  await store.create(B, obs(ids.doe, { code: coding('8867-4'), valueQuantity: { value: 72, system: UCUM, code: '/min' } }));
});
after(async () => { await db.close(); });

describe('composite parameters', () => {
  test('code-value-quantity pairs the code with the value of the same Observation', async () => {
    assert.deepEqual(await find('Observation', `code-value-quantity=${LOINC}|8867-4$72`), [ids.hr]);
    assert.deepEqual(await find('Observation', `code-value-quantity=${LOINC}|8867-4$gt100`), [ids.hrHigh]);
    assert.deepEqual(await find('Observation', `code-value-quantity=8867-4$gt50|${UCUM}|/min`), sorted(ids.hr, ids.hrHigh));
    assert.deepEqual(await find('Observation', `code-value-quantity=8867-4$lt50`), []);
    assert.deepEqual(await find('Observation', `code-value-quantity=85354-9$120`), []); // the panel has no value of its own
    // comma: either value
    assert.deepEqual(await find('Observation', `code-value-quantity=8867-4$72,8867-4$130`), sorted(ids.hr, ids.hrHigh));
  });

  test('component-code-value-quantity matches within one component only', async () => {
    assert.deepEqual(await find('Observation', `component-code-value-quantity=${LOINC}|8480-6$gt100`), [ids.bp]);
    // diastolic is 80 (< 90) but systolic is not: no cross-component match
    assert.deepEqual(await find('Observation', `component-code-value-quantity=${LOINC}|8480-6$lt90`), []);
    assert.deepEqual(await find('Observation', `component-code-value-quantity=8462-4$lt90`), [ids.bp]);
    // two composite filters = AND (each satisfied by its own component)
    assert.deepEqual(await find('Observation', 'component-code-value-quantity=8480-6$120&component-code-value-quantity=8462-4$80'), [ids.bp]);
  });

  test('combo-code-value-quantity searches the Observation and its components', async () => {
    assert.deepEqual(await find('Observation', 'combo-code-value-quantity=8480-6$120'), [ids.bp]);
    assert.deepEqual(await find('Observation', 'combo-code-value-quantity=8867-4$72'), [ids.hr]);
    assert.deepEqual(await find('Observation', 'combo-code-value-quantity=8867-4$72,8462-4$80'), sorted(ids.hr, ids.bp));
  });

  test('combo-code (R4: code | component.code) searches both without index rows of its own', async () => {
    assert.deepEqual(await find('Observation', 'combo-code=8480-6'), [ids.bp]);
    assert.deepEqual(await find('Observation', `combo-code=${LOINC}|85354-9`), [ids.bp]);
    assert.deepEqual(await find('Observation', 'combo-code=8867-4,8462-4'), sorted(ids.hr, ids.hrHigh, ids.bp));
    assert.equal((await find('Observation', 'combo-code:not=8480-6')).includes(ids.bp!), false);
    assert.ok((await find('Observation', 'combo-code:not=8480-6')).includes(ids.hr!));
    assert.deepEqual(await find('Observation', 'combo-code:missing=true'), []);
    assert.deepEqual(await find('Patient', '_has:Observation:subject:combo-code=8462-4'), [ids.smith]);
    const { result } = await store.search(A, 'Observation', qs('combo-code=8867-4,8480-6&_sort=-combo-code'), { strict: true });
    assert.deepEqual(result.matches.map((m) => m.id), [ids.hr, ids.hrHigh].sort().concat(ids.bp!)); // 8867-4 > 8480-6
    const rows = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM idx_token WHERE param = 'combo-code'`);
    assert.equal(Number(rows.rows[0]!.n), 0);
  });

  test('code-value-concept, :missing, and the chained/tenancy rules', async () => {
    assert.deepEqual(await find('Observation', 'code-value-concept=72166-2$http://snomed.info/sct|266919005'), [ids.smoker]);
    assert.deepEqual(await find('Observation', 'code-value-concept=72166-2$other'), []);
    assert.deepEqual(await find('Observation', 'component-code-value-quantity:missing=false'), [ids.bp]);
    assert.equal((await find('Observation', 'component-code-value-quantity:missing=true')).includes(ids.bp!), false);
    // B's Observation with the same code/value is B's only
    const forB = await find('Observation', 'code-value-quantity=8867-4$72', B);
    assert.equal(forB.length, 1);
    assert.notEqual(forB[0], ids.hr);
  });

  test('malformed composite values are 400', async () => {
    assert.equal((await failure(store.search(A, 'Observation', qs('code-value-quantity=8867-4')))).status, 400);
    assert.equal((await failure(store.search(A, 'Observation', qs('code-value-quantity=8867-4$72$1')))).status, 400);
    assert.equal((await failure(store.search(A, 'Observation', qs('code-value-quantity=8867-4$abc')))).status, 400);
    assert.equal((await failure(store.search(A, 'Observation', qs('code-value-quantity:exact=8867-4$1')))).status, 400);
    assert.equal((await failure(store.search(A, 'Observation', qs('_sort=code-value-quantity')))).status, 400);
  });

  test('the CapabilityStatement lists the composites that work and _has', () => {
    const cs = capabilityStatement('http://tessera.test/fhir', new Date()) as { rest: { resource: { type: string; searchParam: { name: string }[] }[]; searchParam: { name: string }[] }[] };
    const obsParams = cs.rest[0]!.resource.find((r) => r.type === 'Observation')!.searchParam.map((p) => p.name);
    for (const p of ['code-value-quantity', 'component-code-value-quantity', 'combo-code-value-quantity', 'code-value-concept']) assert.ok(obsParams.includes(p), p);
    const seqParams = cs.rest[0]!.resource.find((r) => r.type === 'MolecularSequence')!.searchParam.map((p) => p.name);
    assert.equal(seqParams.includes('chromosome-variant-coordinate'), false); // uses %resource: not supported
    assert.ok(cs.rest[0]!.searchParam.some((p) => p.name === '_has'));
  });
});

describe('_has (reverse chaining)', () => {
  test('patients with an Observation of a code', async () => {
    assert.deepEqual(await find('Patient', '_has:Observation:subject:code=8867-4'), sorted(ids.smith, ids.muller));
    assert.deepEqual(await find('Patient', '_has:Observation:patient:code=85354-9'), [ids.smith]);
    assert.deepEqual(await find('Patient', `_has:Observation:subject:code-value-quantity=8867-4$gt100`), [ids.muller]);
    // combined with an ordinary filter and a modifier on the inner parameter
    assert.deepEqual(await find('Patient', '_has:Observation:subject:code=8867-4&family=smith'), [ids.smith]);
    assert.deepEqual(await find('Patient', '_has:Observation:subject:code:not=8867-4'), sorted(ids.smith, ids.doe));
  });

  test('only visible resources count (B\'s Observation on A\'s patient does not)', async () => {
    assert.deepEqual(await find('Patient', '_has:Observation:subject:code=8867-4'), sorted(ids.smith, ids.muller));
    assert.equal((await find('Patient', '_has:Observation:subject:code=8867-4')).includes(ids.doe!), false);
    assert.deepEqual(await find('Patient', '_has:Observation:subject:code=8867-4', B), []); // A's patients are not B's
  });

  test('nested _has and _has on other types', async () => {
    assert.deepEqual(await find('Patient', '_has:Encounter:subject:status=finished'), [ids.doe]);
    assert.deepEqual(await find('Observation', '_has:DiagnosticReport:result:status=final'), [ids.hrHigh]);
    // patients with an Observation that a final DiagnosticReport lists as a result
    assert.deepEqual(await find('Patient', '_has:Observation:subject:_has:DiagnosticReport:result:status=final'), [ids.muller]);
    assert.deepEqual(await find('Patient', '_has:Observation:subject:_has:DiagnosticReport:result:status=partial'), []);
    // a chain inside _has
    assert.deepEqual(await find('Observation', '_has:DiagnosticReport:result:subject.family=muller'), [ids.hrHigh]);
  });

  test('bad _has is 400', async () => {
    for (const q of ['_has:Observation:subject=1', '_has:Nope:subject:code=1', '_has:Observation:code:code=1', '_has:Observation:performer:code=1', '_has:Encounter:subject:nope=1']) {
      assert.equal((await failure(store.search(A, 'Location', qs(q)))).status, 400, q);
    }
  });
});

describe('_summary and :exact', () => {
  test('_summary=true keeps the summary elements only, marked SUBSETTED', async () => {
    const { query, result } = await store.search(A, 'Patient', qs(`_id=${ids.muller}&_summary=true`));
    const bundle = renderSearchBundle('http://tessera.test/fhir', query, result) as unknown as { entry: { resource: FhirResource }[] };
    const p = bundle.entry[0]!.resource;
    assert.deepEqual(p.name, [{ family: 'Müller', given: ['Jörg'] }]);
    assert.equal(p.photo, undefined);
    assert.equal(p.contact, undefined);
    assert.ok((p.meta as { tag: { code: string }[] }).tag.some((t) => t.code === 'SUBSETTED'));
    const obs = await store.search(A, 'Observation', qs(`_id=${ids.bp}&_summary=true`));
    const o = (renderSearchBundle('http://tessera.test/fhir', obs.query, obs.result) as unknown as { entry: { resource: FhirResource }[] }).entry[0]!.resource;
    assert.equal((o.component as unknown[]).length, 2); // Observation.component is summary, and so are its code and value
  });

  test(':exact compares the verbatim string (case, accents)', async () => {
    assert.deepEqual(await find('Patient', 'family:exact=Müller'), [ids.muller]);
    assert.deepEqual(await find('Patient', 'family:exact=muller'), [ids.lower]);
    assert.deepEqual(await find('Patient', 'family:exact=Muller'), []);
    assert.deepEqual(await find('Patient', 'family:exact=Mül'), []);
    assert.deepEqual(await find('Patient', 'family=muller'), sorted(ids.muller, ids.lower));
  });
});

describe('validation issue codes', () => {
  test('malformed → 400 (structure/value), well-formed but invalid → 422 (required/code-invalid), nothing written', async () => {
    const before = await counts(db);
    const unknown = await failure(store.create(A, { resourceType: 'Patient', colour: 'blue' }));
    assert.equal(unknown.status, 400);
    assert.equal(unknown.details[0]!.code, 'structure');
    assert.equal(unknown.details[0]!.path, 'Patient.colour');
    const badDate = await failure(store.create(A, { resourceType: 'Patient', birthDate: '2020-13-45' }));
    assert.equal(badDate.status, 400);
    assert.equal(badDate.details[0]!.code, 'value');
    const badCode = await failure(store.create(A, { resourceType: 'Patient', gender: 'robot' }));
    assert.equal(badCode.status, 422);
    assert.equal(badCode.details[0]!.code, 'code-invalid');
    const missing = await failure(store.create(A, { resourceType: 'Observation', status: 'final' }));
    assert.equal(missing.status, 422);
    assert.equal(missing.details[0]!.code, 'required');
    assert.equal(missing.details[0]!.path, 'Observation.code');
    // malformed wins when both kinds are present
    const both = await failure(store.create(A, { resourceType: 'Observation', status: 'final', colour: 1 }));
    assert.equal(both.status, 400);
    assert.deepEqual(await counts(db), before);
  });
});
