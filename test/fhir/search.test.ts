import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Database } from '../../src/db/types.ts';
import type { FakeClock } from '../../src/platform/clock.ts';
import type { FhirStore, FhirResource } from '../../src/fhir/store/index.ts';
import { renderSearchBundle } from '../../src/fhir/search/render.ts';
import { ctxFor, createStoreFixture, qs, counts } from './helpers.ts';

let db: Database;
let clock: FakeClock;
let store: FhirStore;
const A = ctxFor('builder-a');
const B = ctxFor('builder-b');
const ids: Record<string, string> = {};

async function find(type: string, query: string, ctx = A, strict = false): Promise<string[]> {
  const { result } = await store.search(ctx, type, qs(query), { strict });
  return result.matches.map((m) => m.id);
}
async function names(query: string): Promise<string[]> {
  const { result } = await store.search(A, 'Patient', qs(query));
  return result.matches.map((m) => (m.content.name as { family: string }[])[0]!.family);
}
async function status(p: Promise<unknown>): Promise<number> {
  try { await p; return 0; } catch (e) { return (e as { status?: number }).status ?? -1; }
}

before(async () => {
  ({ db, clock, store } = await createStoreFixture());
  const org = await store.create(A, { resourceType: 'Organization', name: 'Acme Clinic', identifier: [{ system: 'urn:org', value: 'acme' }] });
  ids.org = org.id;
  const people: [string, string, string, string][] = [
    ['Smith', 'John', '1970-03-21', 'male'], ['Smithson', 'Jane', '1985-07-01', 'female'], ['Müller', 'Jörg', '1990-12-31', 'male'],
    ['Brown', 'Amy', '2001-01-15', 'female'], ['O\'Neil', 'Pat', '1970-11-02', 'unknown'],
  ];
  for (const [family, given, birthDate, gender] of people) {
    clock.advance(1000);
    const p = await store.create(A, {
      resourceType: 'Patient', name: [{ family, given: [given] }], birthDate, gender,
      identifier: [{ system: 'urn:mrn', value: `mrn-${family}` }],
      managingOrganization: { reference: `Organization/${org.id}` },
      meta: { tag: [{ system: 'urn:tags', code: family === 'Brown' ? 'vip' : 'std' }], profile: ['http://example.org/StructureDefinition/p'] },
      ...(family === 'Brown' ? { meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }], tag: [{ system: 'urn:tags', code: 'vip' }] } } : {}),
    });
    ids[family] = p.id;
  }
  // same people in builder B (tenancy: never visible to A)
  for (const [family, given, birthDate] of people) {
    await store.create(B, { resourceType: 'Patient', name: [{ family, given: [given] }], birthDate, identifier: [{ system: 'urn:mrn', value: `mrn-${family}` }] });
  }
  const obs = (patient: string, code: string, value: number, when: string, extra: Record<string, unknown> = {}): FhirResource => ({
    resourceType: 'Observation', status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code, display: code === '8867-4' ? 'Heart rate' : 'Body weight' }] },
    subject: { reference: `Patient/${patient}` }, effectiveDateTime: when,
    valueQuantity: { value, unit: code === '8867-4' ? 'beats/min' : 'kg', system: 'http://unitsofmeasure.org', code: code === '8867-4' ? '/min' : 'kg' },
    ...extra,
  });
  ids.o1 = (await store.create(A, obs(ids.Smith!, '8867-4', 72, '2020-01-01T10:00:00Z'))).id;
  ids.o2 = (await store.create(A, obs(ids.Smith!, '29463-7', 80.5, '2021-06-15'))).id;
  ids.o3 = (await store.create(A, obs(ids.Smithson!, '8867-4', 100, '2022-02-02T08:30:00Z'))).id;
  ids.o4 = (await store.create(A, { resourceType: 'Observation', status: 'preliminary', code: { text: 'no coding' }, subject: { reference: `Patient/${ids.Brown}` } })).id;
  ids.enc = (await store.create(A, { resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: { reference: `Patient/${ids.Smith}` }, period: { start: '2020-01-01T09:00:00Z', end: '2020-01-01T11:00:00Z' } })).id;
  ids.prov = (await store.create(A, { resourceType: 'Provenance', target: [{ reference: `Patient/${ids.Smith}` }], recorded: '2020-01-01T00:00:00Z', agent: [{ who: { reference: `Organization/${ids.org}` } }] })).id;
  ids.rr = (await store.create(A, { resourceType: 'RiskAssessment', status: 'final', subject: { reference: `Patient/${ids.Smith}` }, prediction: [{ probabilityDecimal: 0.25 }] })).id;
  ids.vs = (await store.create(A, { resourceType: 'ValueSet', status: 'active', url: 'http://example.org/fhir/ValueSet/colors' })).id;
});
after(async () => db.close());

describe('token', () => {
  test('system|code, |code, system|, code, :not, :missing, :text', async () => {
    assert.deepEqual(await find('Patient', 'identifier=urn:mrn|mrn-Smith'), [ids.Smith]);
    assert.deepEqual(await find('Patient', 'identifier=mrn-Smith'), [ids.Smith]);
    assert.equal((await find('Patient', 'identifier=|mrn-Smith')).length, 0);
    assert.equal((await find('Patient', 'identifier=urn:mrn|')).length, 5);
    assert.equal((await find('Patient', 'gender=male')).length, 2);
    assert.equal((await find('Patient', 'gender:not=male')).length, 3);
    assert.deepEqual(await find('Observation', 'value-quantity:missing=true'), [ids.o4]);
    assert.equal((await find('Observation', 'value-quantity:missing=false')).length, 3);
    assert.deepEqual(await find('Observation', 'code:text=no coding'), [ids.o4]);
    assert.equal((await find('Observation', 'code:text=heart')).length, 2);
    assert.equal((await find('Observation', 'code=http://loinc.org|8867-4,http://loinc.org|29463-7')).length, 3);
    assert.deepEqual(await find('Observation', 'code=http://loinc.org|8867-4&patient=Patient/' + ids.Smith), [ids.o1]);
  });
  test('_id, _tag, _security, _profile', async () => {
    assert.deepEqual(await find('Patient', `_id=${ids.Smith}`), [ids.Smith]);
    assert.equal((await find('Patient', `_id=${ids.Smith},${ids.Brown}`)).length, 2);
    assert.deepEqual(await find('Patient', '_tag=urn:tags|vip'), [ids.Brown]);
    assert.equal((await find('Patient', '_tag:not=urn:tags|vip')).length, 4);
    assert.deepEqual(await find('Patient', '_security=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R'), [ids.Brown]);
    assert.equal((await find('Patient', '_profile=http://example.org/StructureDefinition/p')).length, 4);
  });
});

describe('string', () => {
  test('prefix (case and accent insensitive), :exact, :contains', async () => {
    assert.deepEqual((await names('family=smith')).sort(), ['Smith', 'Smithson']);
    assert.deepEqual(await names('family:exact=Smith'), ['Smith']);
    assert.deepEqual(await names('family=muller'), ['Müller']);
    assert.deepEqual(await names('name=jorg'), ['Müller']);
    assert.deepEqual(await names('family:contains=son'), ['Smithson']);
    assert.deepEqual(await names("family=o'neil"), ["O'Neil"]);
    assert.deepEqual((await names('family=brown,muller')).sort(), ['Brown', 'Müller']);
    assert.deepEqual(await names('family=smith&given=jane'), ['Smithson']);
  });
});

describe('date', () => {
  test('precision ranges and prefixes', async () => {
    assert.deepEqual(await names('birthdate=1970-03-21'), ['Smith']);
    assert.deepEqual((await names('birthdate=1970')).sort(), ["O'Neil", 'Smith']);
    assert.deepEqual(await names('birthdate=1970-03'), ['Smith']);
    assert.deepEqual((await names('birthdate=ge1990-01-01')).sort(), ['Brown', 'Müller']);
    assert.deepEqual((await names('birthdate=gt1990-12-31')).sort(), ['Brown']);
    assert.deepEqual((await names('birthdate=lt1971')).sort(), ["O'Neil", 'Smith']);
    assert.deepEqual((await names('birthdate=le1970-03-21')).sort(), ['Smith']);
    assert.equal((await names('birthdate=ne1970')).length, 3);
    assert.deepEqual(await names('birthdate=sa2000'), ['Brown']);
    assert.deepEqual((await names('birthdate=eb1971')).sort(), ["O'Neil", 'Smith']);
    assert.deepEqual((await names('birthdate=ge1980&birthdate=le1995')).sort(), ['Müller', 'Smithson']);
    assert.ok((await names('birthdate=ap1985-07-01')).includes('Smithson'));
    assert.deepEqual(await find('Observation', 'date=2020-01-01'), [ids.o1]);
    assert.deepEqual(await find('Encounter', 'date=ge2020-01-01T10:00:00Z'), [ids.enc]);
    assert.deepEqual(await find('Encounter', 'date=gt2020-01-01T12:00:00Z'), []);
  });
  test('_lastUpdated', async () => {
    assert.equal((await find('Patient', '_lastUpdated=gt2026-01-01T00:00:02Z')).length, 3);
    assert.equal((await find('Patient', '_lastUpdated=2026-01-01')).length, 5);
  });
  test('invalid dates → 400 naming the parameter', async () => {
    for (const v of ['birthdate=1970-13-01', 'birthdate=yesterday', 'birthdate=xx1970', 'birthdate=1970-02-30', '_lastUpdated=2020-01-01T99:00']) {
      await assert.rejects(store.search(A, 'Patient', qs(v)), (e: { status: number; details: { path?: string }[] }) => e.status === 400 && e.details[0]!.path === v.split('=')[0], v);
    }
  });
});

describe('reference', () => {
  test('Type/id, id, :Type, absolute URL, chains', async () => {
    assert.equal((await find('Observation', `subject=Patient/${ids.Smith}`)).length, 2);
    assert.equal((await find('Observation', `patient=${ids.Smith}`)).length, 2);
    assert.equal((await find('Observation', `subject:Patient=${ids.Smith}`)).length, 2);
    assert.equal((await find('Observation', `subject:Group=${ids.Smith}`)).length, 0);
    assert.equal((await find('Observation', `subject=http://tessera.test/fhir/Patient/${ids.Smith}`)).length, 2);
    assert.equal((await find('Observation', 'patient.identifier=urn:mrn|mrn-Smith')).length, 2);
    assert.equal((await find('Observation', 'subject:Patient.name=smithson')).length, 1);
    assert.equal((await find('Patient', 'organization.identifier=urn:org|acme')).length, 5);
    assert.equal((await find('Patient', 'organization.name=acme')).length, 5);
    assert.equal((await find('Observation', 'patient.identifier=urn:mrn|mrn-Smith', B)).length, 0);
  });
});

describe('number, quantity, uri', () => {
  test('number with implicit precision and prefixes', async () => {
    assert.deepEqual(await find('RiskAssessment', 'probability=0.25'), [ids.rr]);
    assert.deepEqual(await find('RiskAssessment', 'probability=gt0.2'), [ids.rr]);
    assert.deepEqual(await find('RiskAssessment', 'probability=lt0.2'), []);
    assert.equal(await status(store.search(A, 'RiskAssessment', qs('probability=abc'))), 400);
  });
  test('quantity value|system|code and prefixes', async () => {
    assert.deepEqual(await find('Observation', 'value-quantity=72'), [ids.o1]);
    assert.deepEqual(await find('Observation', 'value-quantity=72|http://unitsofmeasure.org|/min'), [ids.o1]);
    assert.deepEqual(await find('Observation', 'value-quantity=72||/min'), [ids.o1]);
    assert.deepEqual(await find('Observation', 'value-quantity=72|http://unitsofmeasure.org|kg'), []);
    assert.equal((await find('Observation', 'value-quantity=gt75')).length, 2);
    assert.deepEqual(await find('Observation', 'value-quantity=ge80.5|http://unitsofmeasure.org|kg'), [ids.o2]);
    assert.equal(await status(store.search(A, 'Observation', qs('value-quantity=1|2'))), 400);
  });
  test('uri equality, :below, :above', async () => {
    assert.deepEqual(await find('ValueSet', 'url=http://example.org/fhir/ValueSet/colors'), [ids.vs]);
    assert.deepEqual(await find('ValueSet', 'url:below=http://example.org/fhir'), [ids.vs]);
    assert.deepEqual(await find('ValueSet', 'url:above=http://example.org/fhir/ValueSet/colors/extra'), [ids.vs]);
    assert.deepEqual(await find('ValueSet', 'url=http://example.org'), []);
  });
});

describe('result shaping and paging', () => {
  test('_sort with several keys and descending', async () => {
    assert.deepEqual(await names('_sort=birthdate'), ['Smith', "O'Neil", 'Smithson', 'Müller', 'Brown']);
    assert.deepEqual(await names('_sort=-birthdate'), ['Brown', 'Müller', 'Smithson', "O'Neil", 'Smith']);
    assert.deepEqual(await names('_sort=gender,-family'), ['Smithson', 'Brown', 'Smith', 'Müller', "O'Neil"]);
    assert.deepEqual(await names('_sort=-_lastUpdated'), ["O'Neil", 'Brown', 'Müller', 'Smithson', 'Smith']);
    assert.equal(await status(store.search(A, 'Patient', qs('_sort=nonsense'))), 400);
  });
  test('keyset paging over _lastUpdated and _id (NOT NULL keys, no missing-value flag) gives the single page in order', async () => {
    for (const sort of ['-_lastUpdated', '_lastUpdated', '_id', '-_id', '-_lastUpdated,family']) {
      const all = (await store.search(A, 'Patient', qs(`_sort=${sort}&_count=100`))).result.matches.map((m) => m.id);
      const paged: string[] = [];
      let cursor: string | null = null;
      do {
        const params = qs(`_sort=${sort}&_count=2`);
        if (cursor) params.push(['_cursor', cursor]);
        const { result } = await store.search(A, 'Patient', params);
        paged.push(...result.matches.map((m) => m.id));
        cursor = result.nextCursor;
      } while (cursor);
      assert.deepEqual(paged, all, sort);
      assert.ok(all.length >= 5, sort);
    }
  });
  test('keyset paging stays correct while data changes', async () => {
    const pageIds: string[] = [];
    let cursor: string | null = null;
    let first = true;
    do {
      const params = qs('_sort=-birthdate&_count=2');
      if (cursor) params.push(['_cursor', cursor]);
      const { result } = await store.search(A, 'Patient', params);
      pageIds.push(...result.matches.map((m) => m.id));
      cursor = result.nextCursor;
      if (first) {
        // a new patient sorting before the cursor must not shift later pages
        await store.create(A, { resourceType: 'Patient', name: [{ family: 'Newborn' }], birthDate: '2025-01-01' });
        first = false;
      }
    } while (cursor);
    assert.deepEqual(pageIds, [ids.Brown, ids.Müller, ids.Smithson, ids["O'Neil"], ids.Smith]);
    const { result } = await store.search(A, 'Patient', qs('family=newborn'));
    await store.delete(A, 'Patient', result.matches[0]!.id);
  });
  test('_count clamps to maxPageSize; _total and _summary=count', async () => {
    const big = await store.search(A, 'Patient', qs('_count=100000'));
    assert.equal(big.query.count, 500);
    const t = await store.search(A, 'Patient', qs('_total=accurate&_count=1'));
    assert.equal(t.result.total, 5);
    assert.equal(t.result.matches.length, 1);
    const c = await store.search(A, 'Patient', qs('_summary=count'));
    assert.equal(c.result.total, 5);
    assert.equal(c.result.matches.length, 0);
    assert.equal(await status(store.search(A, 'Patient', qs('_count=-1'))), 400);
  });
  test('_elements keeps only the listed elements and marks SUBSETTED', async () => {
    const { query, result } = await store.search(A, 'Patient', qs(`_id=${ids.Smith}&_elements=birthDate`));
    const bundle = renderSearchBundle('http://tessera.test/fhir', query, result) as unknown as { entry: { resource: FhirResource }[] };
    const r = bundle.entry[0]!.resource;
    assert.deepEqual(Object.keys(r).sort(), ['birthDate', 'id', 'meta', 'resourceType']);
    assert.ok(r.meta!.tag!.some((t) => t.code === 'SUBSETTED'));
  });
  test('_include, _revinclude and :iterate', async () => {
    const inc = await store.search(A, 'Observation', qs(`patient=${ids.Smith}&_include=Observation:patient`));
    assert.equal(inc.result.matches.length, 2);
    assert.deepEqual(inc.result.included.map((r) => r.id), [ids.Smith]);
    const it = await store.search(A, 'Observation', qs(`_id=${ids.o1}&_include=Observation:patient&_include:iterate=Patient:organization`));
    assert.deepEqual(it.result.included.map((r) => r.type).sort(), ['Organization', 'Patient']);
    const noIt = await store.search(A, 'Observation', qs(`_id=${ids.o1}&_include=Observation:patient&_include=Patient:organization`));
    assert.deepEqual(noIt.result.included.map((r) => r.type), ['Patient']);
    const rev = await store.search(A, 'Patient', qs(`_id=${ids.Smith}&_revinclude=Provenance:target&_revinclude=Observation:subject`));
    assert.deepEqual(rev.result.included.map((r) => r.type).sort(), ['Observation', 'Observation', 'Provenance']);
    const all = await store.search(A, 'Encounter', qs(`_id=${ids.enc}&_include=*`));
    assert.deepEqual(all.result.included.map((r) => r.id), [ids.Smith]);
    const bundle = renderSearchBundle('http://tessera.test/fhir', inc.query, inc.result) as unknown as { entry: { search: { mode: string } }[] };
    assert.deepEqual(bundle.entry.map((e) => e.search.mode), ['match', 'match', 'include']);
  });
});

describe('unknown parameters, bad modifiers, injection', () => {
  test('lenient ignores unknown parameters with a warning; strict → 400', async () => {
    const { query, result } = await store.search(A, 'Patient', qs('foo=bar&family=smith'));
    assert.equal(result.matches.length, 2);
    assert.equal(query.warnings.length, 1);
    assert.equal(await status(store.search(A, 'Patient', qs('foo=bar'), { strict: true })), 400);
  });
  test('unknown modifiers and malformed values → 400 naming the parameter', async () => {
    for (const v of ['family:fuzzy=x', 'gender:below=x', 'birthdate:exact=1970', 'identifier:missing=maybe', 'family=', '_count=abc', '_total=sometimes', '_summary=bogus', '_include=Nope:x', '_include=Patient:family', '_cursor=garbage']) {
      const code = await status(store.search(A, 'Patient', qs(v)));
      assert.equal(code, 400, v);
    }
  });
  test('injection-looking strings in every parameter type are harmless', async () => {
    const before = await counts(db);
    const evil = ["'; DROP TABLE resources; --", "x' OR '1'='1", '%', '_', '\\', "Robert'); DELETE FROM idx_token;--", '$1', '\u0000'.replace('\u0000', 'nul')];
    for (const e of evil) {
      const enc = encodeURIComponent(e);
      for (const [type, q] of [['Patient', `family=${enc}`], ['Patient', `family:exact=${enc}`], ['Patient', `family:contains=${enc}`], ['Patient', `identifier=${enc}|${enc}`],
        ['Observation', `subject=${enc}`], ['Observation', `patient.name=${enc}`], ['ValueSet', `url=${enc}`], ['ValueSet', `url:below=${enc}`], ['Patient', `_id=${enc}`], ['Observation', `code:text=${enc}`]] as const) {
        const { result } = await store.search(A, type, qs(q));
        assert.equal(result.matches.length, 0, `${q} matched`);
      }
      for (const q of [`birthdate=${enc}`, `_lastUpdated=${enc}`, `_sort=${enc}`]) assert.equal(await status(store.search(A, 'Patient', qs(q))), 400, q);
      assert.equal(await status(store.search(A, 'RiskAssessment', qs(`probability=${enc}`))), 400);
      assert.equal(await status(store.search(A, 'Observation', qs(`value-quantity=${enc}`))), 400);
    }
    assert.deepEqual(await counts(db), before);
  });
});

describe('tenancy', () => {
  test('identical data in two builders: searches, includes and chains only see their own', async () => {
    assert.equal((await find('Patient', 'family=smith', B)).length, 2);
    const aIds = await find('Patient', 'family=smith', A);
    const bIds = await find('Patient', 'family=smith', B);
    assert.equal(aIds.filter((x) => bIds.includes(x)).length, 0);
    assert.equal((await find('Observation', '', B)).length, 0);
    assert.equal((await find('Patient', `_id=${ids.Smith}`, B)).length, 0);
    const rev = await store.search(B, 'Patient', qs('family=smith&_revinclude=Observation:subject&_include=Patient:organization'));
    assert.equal(rev.result.included.length, 0);
  });
});
