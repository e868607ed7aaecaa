import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileFhirPath, evaluateSearchParam, evaluateWithFhirpath, extractIndexEntries, fallbackParams, normalizeString,
  parseDateRange, type IndexEntry,
} from './index.ts';
import { listResourceTypes, listSearchParams } from '../definitions/index.ts';
import { loadSyntheaBundles, syntheaAvailable, syntheaResources } from '../../../bench/fhir-validation/corpus.ts';
import { sampleResource } from '../../../test/fhir-definitions/sample-resources.ts';

function assertAgreesWithFhirpath(r: Record<string, unknown>): number {
  const rt = r.resourceType as string;
  let compared = 0;
  for (const p of listSearchParams(rt)) {
    if (!p.expression || p.type === 'composite' || p.type === 'special') continue;
    const mine = evaluateSearchParam(r as { resourceType: string }, p.code)!.map((n) => JSON.stringify(n.v)).sort();
    const theirs = evaluateWithFhirpath(p.expression, r).map((n) => JSON.stringify(n.v)).sort();
    assert.deepEqual(mine, theirs, `${rt}/${String(r.id)} ${p.code}: ${p.expression}`);
    compared++;
  }
  return compared;
}

function entries(resource: unknown, param: string): IndexEntry[] {
  return extractIndexEntries(resource).filter((e) => e.param === param);
}

describe('normalizeString', () => {
  test('lower-case, accents removed, whitespace collapsed', () => {
    assert.equal(normalizeString('  José   MÜLLER\tO\'Brien '), "jose muller o'brien");
    assert.equal(normalizeString('Ångström'), 'angstrom');
    assert.equal(normalizeString('abc'), 'abc');
    assert.equal(normalizeString('   '), '');
  });
});

describe('parseDateRange', () => {
  test('precision ranges', () => {
    assert.deepEqual(parseDateRange('2020'), { start: '2020-01-01T00:00:00.000Z', end: '2020-12-31T23:59:59.999Z' });
    assert.deepEqual(parseDateRange('2020-02'), { start: '2020-02-01T00:00:00.000Z', end: '2020-02-29T23:59:59.999Z' });
    assert.deepEqual(parseDateRange('2021-02'), { start: '2021-02-01T00:00:00.000Z', end: '2021-02-28T23:59:59.999Z' });
    assert.deepEqual(parseDateRange('2020-12-31'), { start: '2020-12-31T00:00:00.000Z', end: '2020-12-31T23:59:59.999Z' });
    assert.deepEqual(parseDateRange('2020-01-01T10:00'), { start: '2020-01-01T10:00:00.000Z', end: '2020-01-01T10:00:59.999Z' });
    assert.deepEqual(parseDateRange('2020-01-01T10:00:05Z'), { start: '2020-01-01T10:00:05.000Z', end: '2020-01-01T10:00:05.999Z' });
    assert.deepEqual(parseDateRange('2020-01-01T10:00:05.1Z'), { start: '2020-01-01T10:00:05.100Z', end: '2020-01-01T10:00:05.199Z' });
    assert.deepEqual(parseDateRange('2020-01-01T10:00:05.123456Z'), { start: '2020-01-01T10:00:05.123Z', end: '2020-01-01T10:00:05.123Z' });
  });

  test('time zones (none = UTC)', () => {
    assert.deepEqual(parseDateRange('2020-01-01T00:30:00+01:00'), { start: '2019-12-31T23:30:00.000Z', end: '2019-12-31T23:30:00.999Z' });
    assert.deepEqual(parseDateRange('2020-01-01T23:30:00-05:30'), { start: '2020-01-02T05:00:00.000Z', end: '2020-01-02T05:00:00.999Z' });
    assert.deepEqual(parseDateRange('2020-01-01T10:00:00'), { start: '2020-01-01T10:00:00.000Z', end: '2020-01-01T10:00:00.999Z' });
  });

  test('invalid values', () => {
    for (const bad of ['', 'x', '20', '2020-13', '2020-02-30', '2021-02-29', '2020-01-01T24:00:00Z', '2020-01-01T10:60:00Z', '2020-01-01T10:00:00+15:00', '2020-1-1', '2020-01-01 10:00:00', "2020' OR 1=1"]) {
      assert.equal(parseDateRange(bad), null, bad);
    }
  });

  test('early years are not shifted', () => {
    assert.deepEqual(parseDateRange('0050'), { start: '0050-01-01T00:00:00.000Z', end: '0050-12-31T23:59:59.999Z' });
  });
});

describe('compileFhirPath', () => {
  const run = (expr: string, resource: { resourceType: string }) => compileFhirPath(expr)([{ v: resource, t: resource.resourceType }]).map((n) => [n.t, n.v]);
  test('paths, choice types, ofType, where, resolve, exists, indexes, extension()', () => {
    const obs = { resourceType: 'Observation', valueQuantity: { value: 1 }, subject: { reference: 'Patient/1' }, performer: [{ reference: 'Practitioner/2' }, { reference: 'Patient/3' }], component: [{ code: { text: 'a' }, valueString: 's' }] };
    assert.deepEqual(run('Observation.value', obs), [['Quantity', { value: 1 }]]);
    assert.deepEqual(run('(Observation.value.ofType(Quantity))', obs), [['Quantity', { value: 1 }]]);
    assert.deepEqual(run('Observation.value.ofType(string)', obs), []);
    assert.deepEqual(run('Observation.value as Quantity', obs), [['Quantity', { value: 1 }]]);
    assert.deepEqual(run('Observation.component.value.ofType(string)', obs), [['string', 's']]);
    assert.deepEqual(run('Observation.performer.where(resolve() is Patient)', obs), [['Reference', { reference: 'Patient/3' }]]);
    assert.deepEqual(run('Observation.subject | Observation.performer[0]', obs), [['Reference', { reference: 'Patient/1' }], ['Reference', { reference: 'Practitioner/2' }]]);
    assert.deepEqual(run('Observation.performer.first()', obs), [['Reference', { reference: 'Practitioner/2' }]]);
    assert.deepEqual(run('Observation.subject.exists() and Observation.issued.exists().not()', obs), [['boolean', true]]);
    assert.deepEqual(run('Patient.name', obs), []);
    const p = { resourceType: 'Patient', deceasedBoolean: false, extension: [{ url: 'u1', valueString: 'x' }, { url: 'u2', valueCode: 'y' }], telecom: [{ system: 'email', value: 'a@b' }, { system: 'phone', value: '1' }] };
    assert.deepEqual(run('Patient.deceased.exists() and Patient.deceased != false', p), [['boolean', false]]);
    assert.deepEqual(run("Patient.extension('u2').value", p), [['code', 'y']]);
    assert.deepEqual(run("Patient.telecom.where(system='phone').value", p), [['string', '1']]);
    assert.deepEqual(run('Patient.contained.name', { resourceType: 'Patient', contained: [{ resourceType: 'Organization', name: 'o' }] } as never), [['string', 'o']]);
    assert.throws(() => compileFhirPath('Patient.name.select(given)'), /not supported/);
  });

  test('every R4 search parameter expression compiles (no fhirpath fallback needed)', () => {
    for (const rt of listResourceTypes()) assert.deepEqual(fallbackParams(rt), [], rt);
  });
});

describe('extractIndexEntries', () => {
  test('token: Coding, CodeableConcept, Identifier, ContactPoint, code, boolean, id', () => {
    const obs = {
      resourceType: 'Observation', id: 'o1', status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '1234-5', display: 'Thing' }, { system: 'http://x', code: 'y' }], text: 'Thing text' },
      identifier: [{ system: 'urn:s', value: 'v1' }],
      meta: { tag: [{ system: 'http://t', code: 'c' }], security: [{ system: 'http://s', code: 'R' }] },
    };
    assert.deepEqual(entries(obs, 'code'), [
      { kind: 'token', param: 'code', system: 'http://loinc.org', code: '1234-5', display: 'Thing' },
      { kind: 'token', param: 'code', system: 'http://x', code: 'y' },
      { kind: 'token', param: 'code', system: null, code: null, display: 'Thing text' },
    ]);
    assert.deepEqual(entries(obs, 'identifier'), [{ kind: 'token', param: 'identifier', system: 'urn:s', code: 'v1' }]);
    assert.deepEqual(entries(obs, 'status'), [{ kind: 'token', param: 'status', system: null, code: 'final' }]);
    assert.deepEqual(entries(obs, '_id'), []); // searched through resources.id
    assert.deepEqual(entries(obs, '_tag'), [{ kind: 'token', param: '_tag', system: 'http://t', code: 'c' }]);
    assert.deepEqual(entries(obs, '_security'), [{ kind: 'token', param: '_security', system: 'http://s', code: 'R' }]);
    const pat = { resourceType: 'Patient', active: true, telecom: [{ system: 'phone', value: '555' }, { system: 'email', value: 'a@b.c' }] };
    assert.deepEqual(entries(pat, 'active'), [{ kind: 'token', param: 'active', system: null, code: 'true' }]);
    assert.deepEqual(entries(pat, 'phone'), [{ kind: 'token', param: 'phone', system: null, code: '555' }]);
    assert.deepEqual(entries(pat, 'email'), [{ kind: 'token', param: 'email', system: null, code: 'a@b.c' }]);
    assert.equal(entries(pat, 'telecom').length, 2);
    assert.deepEqual(entries({ resourceType: 'Patient', deceasedDateTime: '2020' }, 'deceased'), [{ kind: 'token', param: 'deceased', system: null, code: 'true' }]);
  });

  test('string: HumanName, Address, plain strings; normalized', () => {
    const pat = { resourceType: 'Patient', name: [{ family: 'Núñez', given: ['Ana', 'María'], prefix: ['Dr.'], text: 'Dr. Ana  María Núñez' }], address: [{ line: ['1 Main St'], city: 'Zürich', state: 'ZH', postalCode: '8000', country: 'CH' }] };
    assert.deepEqual(entries(pat, 'name').map((e) => (e as { value: string }).value), ['nunez', 'ana', 'maria', 'dr.', 'dr. ana maria nunez']);
    assert.deepEqual(entries(pat, 'family').map((e) => (e as { value: string }).value), ['nunez']);
    assert.deepEqual(entries(pat, 'address').map((e) => (e as { value: string }).value), ['1 main st', 'zurich', 'zh', '8000', 'ch']);
    assert.deepEqual(entries(pat, 'address-city'), [{ kind: 'string', param: 'address-city', value: 'zurich', raw: 'Zürich' }]);
    // the verbatim value is kept only when normalization changed it (for :exact)
    assert.deepEqual(entries({ resourceType: 'Patient', address: [{ city: 'bern' }] }, 'address-city'), [{ kind: 'string', param: 'address-city', value: 'bern' }]);
    assert.deepEqual(entries({ resourceType: 'Organization', name: 'ACME  Health' }, 'name'), [{ kind: 'string', param: 'name', value: 'acme health', raw: 'ACME  Health' }]);
  });

  test('composite: components of one item share a group; combo composites are not indexed twice', () => {
    const bp = {
      resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }], text: 'BP' },
      component: [
        { code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 120, system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
        { code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, valueQuantity: { value: 80, system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
        { code: { text: 'no value' } },
      ],
    };
    const comp = extractIndexEntries(bp).filter((e) => e.param.startsWith('component-code-value-quantity'));
    assert.deepEqual(comp.map((e) => [e.param, e.grp, e.kind === 'token' ? e.code : e.kind === 'quantity' ? e.value : null]), [
      ['component-code-value-quantity$0', 0, '8480-6'], ['component-code-value-quantity$1', 0, 120],
      ['component-code-value-quantity$0', 1, '8462-4'], ['component-code-value-quantity$1', 1, 80],
    ]);
    // no value on the root: no root-level pair
    assert.equal(extractIndexEntries(bp).filter((e) => e.param.startsWith('code-value-quantity')).length, 0);
    assert.equal(extractIndexEntries(bp).filter((e) => e.param.startsWith('combo-code-value')).length, 0);
    const hr = { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, valueQuantity: { value: 70, code: '/min' } };
    assert.deepEqual(extractIndexEntries(hr).filter((e) => e.grp !== undefined).map((e) => [e.param, e.grp]), [['code-value-quantity$0', 0], ['code-value-quantity$1', 0]]);
    // ordinary entries carry no group
    assert.ok(extractIndexEntries(hr).filter((e) => e.param === 'code').every((e) => e.grp === undefined));
  });

  test('upid: exact value, Patient identifier and extension on other types', () => {
    const sys = 'https://zusapi.com/fhir/identifier/universal-id';
    assert.deepEqual(entries({ resourceType: 'Patient', identifier: [{ system: sys, value: 'ABC-123' }, { system: 'x', value: 'y' }] }, 'upid'), [{ kind: 'string', param: 'upid', value: 'ABC-123' }]);
    assert.deepEqual(entries({ resourceType: 'Condition', subject: { reference: 'Patient/1' }, extension: [{ url: sys, valueString: 'ABC-123' }] }, 'upid'), [{ kind: 'string', param: 'upid', value: 'ABC-123' }]);
  });

  test('date: date precision, dateTime, instant, Period, Timing', () => {
    assert.deepEqual(entries({ resourceType: 'Patient', birthDate: '1990-05' }, 'birthdate'), [{ kind: 'date', param: 'birthdate', start: '1990-05-01T00:00:00.000Z', end: '1990-05-31T23:59:59.999Z' }]);
    // searched through resources.last_updated
    assert.deepEqual(entries({ resourceType: 'Patient', meta: { lastUpdated: '2020-01-01T00:00:00.5+00:00' } }, '_lastUpdated'), []);
    assert.deepEqual(parseDateRange('2020-01-01T00:00:00.5+00:00'), { start: '2020-01-01T00:00:00.500Z', end: '2020-01-01T00:00:00.599Z' });
    assert.deepEqual(entries({ resourceType: 'Encounter', status: 'finished', class: { code: 'x' }, period: { start: '2020-01-01T10:00:00Z' } }, 'date'), [{ kind: 'date', param: 'date', start: '2020-01-01T10:00:00.000Z', end: '9999-12-31T23:59:59.999Z' }]);
    assert.deepEqual(entries({ resourceType: 'Encounter', status: 'finished', class: { code: 'x' }, period: { start: '2020-01-01', end: '2020-01-03' } }, 'date'), [{ kind: 'date', param: 'date', start: '2020-01-01T00:00:00.000Z', end: '2020-01-03T23:59:59.999Z' }]);
    assert.deepEqual(entries({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, effectiveDateTime: '2020-03-04T05:06:07-02:00' }, 'date'), [{ kind: 'date', param: 'date', start: '2020-03-04T07:06:07.000Z', end: '2020-03-04T07:06:07.999Z' }]);
    assert.deepEqual(entries({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, effectiveTiming: { event: ['2020-03-05', '2020-03-01'] } }, 'date'), [{ kind: 'date', param: 'date', start: '2020-03-01T00:00:00.000Z', end: '2020-03-05T23:59:59.999Z' }]);
    assert.deepEqual(entries({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, effectiveDateTime: 'garbage' }, 'date'), []);
  });

  test('reference: relative, versioned, absolute, urn:uuid, contained, canonical', () => {
    const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/123/_history/2' }, performer: [{ reference: 'https://other.example/fhir/Practitioner/9' }, { reference: 'urn:uuid:0b6e5e2e-8d62-4b39-9f0a-1cb1a4a4a0f1' }, { reference: '#p1' }, { identifier: { value: 'x' } }] };
    assert.deepEqual(entries(obs, 'subject'), [{ kind: 'reference', param: 'subject', targetType: 'Patient', targetId: '123', reference: 'Patient/123' }]);
    assert.deepEqual(entries(obs, 'patient'), [{ kind: 'reference', param: 'patient', targetType: 'Patient', targetId: '123', reference: 'Patient/123' }]);
    assert.deepEqual(entries(obs, 'performer'), [
      { kind: 'reference', param: 'performer', targetType: null, targetId: null, reference: 'https://other.example/fhir/Practitioner/9' },
      { kind: 'reference', param: 'performer', targetType: null, targetId: null, reference: 'urn:uuid:0b6e5e2e-8d62-4b39-9f0a-1cb1a4a4a0f1' },
      { kind: 'reference', param: 'performer', targetType: null, targetId: null, reference: '#p1' },
    ]);
    const q = { resourceType: 'QuestionnaireResponse', status: 'completed', questionnaire: 'http://x/Questionnaire/q|1.0' };
    assert.deepEqual(entries(q, 'questionnaire'), [{ kind: 'reference', param: 'questionnaire', targetType: null, targetId: null, reference: 'http://x/Questionnaire/q|1.0' }]);
    // Observation.subject pointing at a Group is not a `patient`
    assert.deepEqual(entries({ ...obs, subject: { reference: 'Group/1' } }, 'patient'), []);
  });

  test('reference to an inline resource (Bundle.composition)', () => {
    const b = { resourceType: 'Bundle', type: 'document', entry: [{ resource: { resourceType: 'Composition', id: 'c1', status: 'final', type: { text: 't' }, date: '2020', author: [{ display: 'a' }], title: 't' } }] };
    assert.deepEqual(entries(b, 'composition'), [{ kind: 'reference', param: 'composition', targetType: 'Composition', targetId: 'c1', reference: 'Composition/c1' }]);
  });

  test('number, quantity, uri', () => {
    const ra = { resourceType: 'RiskAssessment', status: 'final', subject: { reference: 'Patient/1' }, prediction: [{ probabilityDecimal: 0.25 }] };
    assert.deepEqual(entries(ra, 'probability'), [{ kind: 'number', param: 'probability', value: 0.25 }]);
    const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueQuantity: { value: 7.2, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' } };
    assert.deepEqual(entries(obs, 'value-quantity'), [{ kind: 'quantity', param: 'value-quantity', value: 7.2, system: 'http://unitsofmeasure.org', code: 'mmol/L', unit: 'mmol/L' }]);
    const ci = { resourceType: 'ChargeItem', status: 'billable', code: { text: 'x' }, subject: { reference: 'Patient/1' }, priceOverride: { value: 10, currency: 'USD' } };
    assert.deepEqual(entries(ci, 'price-override'), [{ kind: 'quantity', param: 'price-override', value: 10, system: 'urn:iso:std:iso:4217', code: 'USD', unit: 'USD' }]);
    assert.deepEqual(entries({ resourceType: 'Patient', meta: { profile: ['http://p/1'], source: 'urn:src' } }, '_profile'), [{ kind: 'uri', param: '_profile', value: 'http://p/1' }]);
    assert.deepEqual(entries({ resourceType: 'ValueSet', status: 'active', url: 'http://vs' }, 'url'), [{ kind: 'uri', param: 'url', value: 'http://vs' }]);
  });

  test('composite and special parameters are not indexed; junk input yields nothing', () => {
    const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueQuantity: { value: 1 } };
    assert.deepEqual(entries(obs, 'code-value-quantity'), []);
    assert.deepEqual(entries({ resourceType: 'Location', status: 'active', position: { longitude: 1, latitude: 2 } }, 'near'), []);
    assert.deepEqual(extractIndexEntries(null), []);
    assert.deepEqual(extractIndexEntries({ resourceType: 'NotAType', x: 1 }), []);
  });

  test('compiled expressions agree with the fhirpath package on the Synthea corpus (sampled)', (t) => {
    if (!syntheaAvailable()) { t.skip('corpus ../shared/corpora/synthea not found'); return; }
    const resources = syntheaResources(loadSyntheaBundles());
    // Every resource of rare types, every 4th of common ones: covers all types and params within a few seconds.
    const perType = new Map<string, number>();
    let compared = 0;
    for (const r of resources) {
      const rt = r.resourceType as string;
      const seen = perType.get(rt) ?? 0;
      perType.set(rt, seen + 1);
      if (seen >= 50 && seen % 4 !== 0) continue;
      compared += assertAgreesWithFhirpath(r);
    }
    assert.ok(compared > 10000, String(compared));
  });

  test('compiled expressions agree with the fhirpath package on dense synthetic resources of every type', () => {
    // Synthea covers 16 types; these cover every parameter of all R4 types (choice variants rotate by seed).
    let compared = 0;
    for (const rt of listResourceTypes()) for (const seed of [0, 1, 2]) compared += assertAgreesWithFhirpath(sampleResource(rt, seed));
    assert.ok(compared > 7000, String(compared));
  });
});
