import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_ISSUES, validateResource, type ValidationIssue } from './index.ts';
import { loadSyntheaBundles, syntheaAvailable, syntheaResources } from '../../../bench/fhir-validation/corpus.ts';
import { sampleResource } from '../../../test/fhir-definitions/sample-resources.ts';
import { listResourceTypes } from '../definitions/index.ts';

function paths(issues: ValidationIssue[]): string[] {
  return issues.map((i) => i.path);
}

/** Asserts exactly one error at `path`, whose message matches `message`. */
function expectError(resource: unknown, path: string, message: RegExp): void {
  const issues = validateResource(resource);
  assert.equal(issues.length, 1, JSON.stringify(issues));
  assert.equal(issues[0].severity, 'error');
  assert.equal(issues[0].path, path, JSON.stringify(issues));
  assert.match(issues[0].message, message);
}

const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' } };

describe('validateResource: valid input', () => {
  test('minimal and typical resources', () => {
    assert.deepEqual(validateResource({ resourceType: 'Patient', id: 'a-1.B', active: true }), []);
    assert.deepEqual(validateResource({ ...obs, valueQuantity: { value: 1.5, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' } }), []);
    assert.deepEqual(validateResource({ resourceType: 'Binary', contentType: 'text/plain', data: 'aGVsbG8=' }), []);
    assert.deepEqual(validateResource({ resourceType: 'Patient', birthDate: '2020-02-29', _birthDate: { extension: [{ url: 'http://x', valueDateTime: '2020-02-29T10:00:00+01:00' }] } }), []);
    // null slots in primitive arrays are legal when `_given` carries the extension
    assert.deepEqual(validateResource({ resourceType: 'Patient', name: [{ given: [null, 'b'], _given: [{ id: 'x' }, null] }] }), []);
    assert.deepEqual(validateResource({ resourceType: 'Patient', _gender: { extension: [{ url: 'http://x', valueCode: 'y' }] } }), []);
    assert.deepEqual(validateResource({ ...obs, valueString: 'a', _valueString: { id: 'q' } }), []);
    assert.deepEqual(validateResource({ resourceType: 'Questionnaire', status: 'draft', item: [{ linkId: '1', type: 'group', item: [{ linkId: '1.1', type: 'string' }] }] }), []);
    assert.deepEqual(validateResource({ resourceType: 'Parameters', parameter: [{ name: 'p', resource: { resourceType: 'Patient', active: true } }] }), []);
    assert.deepEqual(validateResource({ resourceType: 'Patient', text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' } }), []);
  });

  test('dense synthetic resources of every R4 type validate', () => {
    for (const rt of listResourceTypes()) for (const seed of [0, 1, 2, 3]) {
      // (warnings: sample CodeableConcepts are not from required value sets)
      assert.deepEqual(validateResource(sampleResource(rt, seed)).filter((i) => i.severity === 'error'), [], `${rt} seed ${seed}`);
    }
  });

  test('every Synthea resource and bundle validates with zero issues', (t) => {
    if (!syntheaAvailable()) { t.skip('corpus ../shared/corpora/synthea not found'); return; }
    const bundles = loadSyntheaBundles();
    for (const { file, bundle } of bundles) assert.deepEqual(validateResource(bundle), [], file);
    for (const r of syntheaResources(bundles)) assert.deepEqual(validateResource(r), [], `${String(r.resourceType)}/${String(r.id)}`);
  });
});

describe('validateResource: invalid input', () => {
  test('not a resource', () => {
    assert.equal(validateResource(null)[0].message, 'A resource must be a JSON object');
    assert.equal(validateResource([])[0].message, 'A resource must be a JSON object');
    assert.equal(validateResource({ id: 'x' })[0].path, 'resourceType');
    expectError({ resourceType: 'Nope' }, 'resourceType', /Unknown resource type/);
    expectError({ resourceType: 'HumanName', family: 'x' }, 'resourceType', /Unknown resource type/);
  });

  test('unknown elements', () => {
    expectError({ resourceType: 'Patient', foo: 1 }, 'Patient.foo', /Unknown element 'foo'/);
    expectError({ resourceType: 'Patient', name: [{ family: 'x', middle: 'y' }] }, 'Patient.name[0].middle', /Unknown element/);
    expectError({ resourceType: 'Patient', _foo: { id: 'x' } }, 'Patient._foo', /Unknown element/);
    // `_x` mirrors exist only for primitives
    expectError({ resourceType: 'Patient', _name: [{ id: 'x' }] }, 'Patient._name', /Unknown element/);
    expectError({ resourceType: 'Patient', _birthDate: { foo: 1 } }, 'Patient.birthDate.foo', /Unknown element/);
    // choice variants that the element does not allow
    expectError({ ...obs, valueUri: 'http://x' }, 'Observation.valueUri', /Unknown element/);
    expectError({ resourceType: 'Patient', deceased: true }, 'Patient.deceased', /Unknown element/);
  });

  test('primitive types', () => {
    expectError({ resourceType: 'Patient', active: 'true' }, 'Patient.active', /JSON boolean/);
    expectError({ resourceType: 'Patient', name: [{ given: ['a', 1] }] }, 'Patient.name[0].given[1]', /JSON string/);
    expectError({ resourceType: 'Patient', multipleBirthInteger: 1.5 }, 'Patient.multipleBirthInteger', /without fraction/);
    expectError({ resourceType: 'Patient', multipleBirthInteger: 2147483648 }, 'Patient.multipleBirthInteger', /out of range/);
    expectError({ ...obs, valueQuantity: { value: '1' } }, 'Observation.valueQuantity.value', /decimal/);
    expectError({ resourceType: 'Patient', photo: [{ size: -1 }] }, 'Patient.photo[0].size', /unsignedInt value -1 out of range/i);
    expectError({ resourceType: 'Binary', contentType: 'text/plain', data: 'abc' }, 'Binary.data', /base64Binary/);
    expectError({ resourceType: 'Patient', gender: 'male ' }, 'Patient.gender', /invalid code/i);
    expectError({ resourceType: 'Patient', implicitRules: 'has space' }, 'Patient.implicitRules', /uri/);
    expectError({ resourceType: 'Patient', text: { status: 'generated', div: 'plain' } }, 'Patient.text.div', /xhtml/);
    expectError({ resourceType: 'Patient', name: [{ text: 'x'.repeat(1024 * 1024 + 1) }] }, 'Patient.name[0].text', /at most 1 MiB/);
  });

  test('dates, dateTimes, instants, times', () => {
    expectError({ resourceType: 'Patient', birthDate: '2020-02-30' }, 'Patient.birthDate', /Invalid date/);
    expectError({ resourceType: 'Patient', birthDate: '2021-02-29' }, 'Patient.birthDate', /Invalid date/);
    expectError({ resourceType: 'Patient', birthDate: '2020-13' }, 'Patient.birthDate', /Invalid date/);
    expectError({ resourceType: 'Patient', birthDate: '2020-01-01T00:00:00Z' }, 'Patient.birthDate', /Invalid date/);
    expectError({ resourceType: 'Patient', birthDate: '20' }, 'Patient.birthDate', /Invalid date/);
    expectError({ resourceType: 'Patient', deceasedDateTime: '2020-01-01T10:00:00' }, 'Patient.deceasedDateTime', /dateTime/); // time needs a zone
    expectError({ resourceType: 'Patient', deceasedDateTime: '2020-01-01T10:00Z' }, 'Patient.deceasedDateTime', /dateTime/); // seconds required
    assert.deepEqual(validateResource({ resourceType: 'Patient', deceasedDateTime: '2020-01-01T10:00:00.123+14:00' }), []);
    expectError({ resourceType: 'Patient', meta: { lastUpdated: '2020-01-01' } }, 'Patient.meta.lastUpdated', /instant/);
    expectError({ resourceType: 'Appointment', status: 'booked', participant: [{ status: 'accepted', actor: { reference: 'Patient/1' } }], start: '2020-01-01T25:00:00Z' }, 'Appointment.start', /instant/);
    expectError({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueTime: '24:00:00' }, 'Observation.valueTime', /time/);
  });

  test('cardinality and JSON shape', () => {
    expectError({ resourceType: 'Patient', name: { family: 'x' } }, 'Patient.name', /must be a JSON array/);
    expectError({ resourceType: 'Patient', gender: ['male'] }, 'Patient.gender', /single value/);
    expectError({ resourceType: 'Patient', link: [{ type: 'seealso' }] }, 'Patient.link[0].other', /minimum required = 1/);
    expectError({ resourceType: 'Observation', status: 'final' }, 'Observation.code', /minimum required = 1/);
    expectError({ resourceType: 'Patient', extension: [{ valueString: 'x' }] }, 'Patient.extension[0].url', /minimum required/);
  });

  test('empty values are errors (ele-1)', () => {
    expectError({ resourceType: 'Patient' }, 'Patient', /must not be empty/);
    expectError({ resourceType: 'Patient', name: [] }, 'Patient.name', /Arrays must not be empty/);
    expectError({ resourceType: 'Patient', name: [{}] }, 'Patient.name[0]', /Objects must not be empty/);
    expectError({ resourceType: 'Patient', name: [{ family: '' }] }, 'Patient.name[0].family', /empty string/);
    expectError({ resourceType: 'Patient', maritalStatus: {} }, 'Patient.maritalStatus', /must not be empty/);
    expectError({ resourceType: 'Patient', name: [{ given: [null] }] }, 'Patient.name[0].given[0]', /null/);
    expectError({ resourceType: 'Patient', gender: null }, 'Patient.gender', /null/);
  });

  test('choice types: one variant only', () => {
    expectError({ resourceType: 'Patient', deceasedBoolean: true, deceasedDateTime: '2020' }, 'Patient.deceased[x]', /only one type/);
    expectError({ ...obs, valueString: 'a', _valueBoolean: { id: 'x' } }, 'Observation.value[x]', /only one type/);
    expectError({ resourceType: 'MedicationRequest', status: 'active', intent: 'order', subject: { reference: 'Patient/1' } }, 'MedicationRequest.medication[x]', /minimum required/);
  });

  test('required bindings', () => {
    expectError({ resourceType: 'Patient', gender: 'boy' }, 'Patient.gender', /not in the required value set .*administrative-gender/);
    expectError({ ...obs, status: 'done' }, 'Observation.status', /observation-status/);
    expectError({ resourceType: 'Patient', contact: [{ gender: 'x' }] }, 'Patient.contact[0].gender', /administrative-gender/);
    expectError({ resourceType: 'Patient', telecom: [{ system: 'pager2', value: '1' }] }, 'Patient.telecom[0].system', /contact-point-system/);
    // CodeableConcept with a required binding: wrong code in the value set's system is an error; text only is a warning
    const cond = { resourceType: 'Condition', subject: { reference: 'Patient/1' } };
    const clinical = 'http://terminology.hl7.org/CodeSystem/condition-clinical';
    assert.deepEqual(validateResource({ ...cond, clinicalStatus: { coding: [{ system: clinical, code: 'active' }] } }), []);
    expectError({ ...cond, clinicalStatus: { coding: [{ system: 'http://other', code: 'x' }, { system: clinical, code: 'activ' }] } }, 'Condition.clinicalStatus.coding[1].code', /'activ' of .* is not in the required value set .*condition-clinical/);
    const textOnly = validateResource({ ...cond, clinicalStatus: { text: 'Active' } });
    assert.deepEqual(textOnly.map((i) => [i.severity, i.path]), [['warning', 'Condition.clinicalStatus']]);
    // extensible / preferred bindings accept any code
    assert.deepEqual(validateResource({ resourceType: 'Patient', language: 'xx-YY' }), []);
  });

  test('reference target types', () => {
    // reported as warnings (see the validator)
    const wrong = validateResource({ ...obs, subject: { reference: 'Practitioner/1' } });
    assert.deepEqual(wrong.map((i) => [i.severity, i.path]), [['warning', 'Observation.subject.reference']]);
    assert.match(wrong[0].message, /Reference to a Practitioner is not allowed here; allowed: .*Patient/);
    const abs = validateResource({ ...obs, subject: { reference: 'https://x.example/fhir/Medication/1/_history/2' } });
    assert.match(abs[0].message, /Medication/);
    for (const reference of ['Patient/1', 'Group/g', 'urn:uuid:0b6e5e2e-8d62-4b39-9f0a-1cb1a4a4a0f1', '#c1', 'https://x.example/fhir/Patient/1', 'Unknownthing/1']) {
      assert.deepEqual(validateResource({ ...obs, subject: { reference } }), [], reference);
    }
    // Reference(Any) accepts every type
    assert.deepEqual(validateResource({ ...obs, focus: [{ reference: 'Medication/1' }] }), []);
    assert.deepEqual(validateResource({ resourceType: 'Provenance', target: [{ reference: 'Claim/1' }], recorded: '2020-01-01T00:00:00Z', agent: [{ who: { reference: 'Device/d' } }] }), []);
  });

  test('ids', () => {
    expectError({ resourceType: 'Patient', id: 'bad id!' }, 'Patient.id', /Invalid id/);
    expectError({ resourceType: 'Patient', id: 'x'.repeat(65) }, 'Patient.id', /Invalid id/);
    expectError({ resourceType: 'Patient', id: 'a_b' }, 'Patient.id', /Invalid id/);
    assert.deepEqual(validateResource({ resourceType: 'Patient', id: 'x'.repeat(64) }), []);
  });

  test('nested resources: contained, Bundle entries, Parameters', () => {
    expectError({ resourceType: 'Patient', contained: [{ resourceType: 'Organization', name: 7 }] }, 'Patient.contained[0].name', /JSON string/);
    expectError({ resourceType: 'Patient', contained: [{ name: 'x' }] }, 'Patient.contained[0]', /resourceType is required/);
    expectError({ resourceType: 'Patient', contained: [{ resourceType: 'Foo' }] }, 'Patient.contained[0].resourceType', /Unknown resource type/);
    expectError({ resourceType: 'Patient', contained: [{ resourceType: 'Organization', name: 'x', contained: [{ resourceType: 'Patient', active: true }] }] }, 'Patient.contained[0].contained', /dom-2/);
    expectError({ resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient', gender: 'x' } }] }, 'Bundle.entry[0].resource.gender', /required value set/);
    expectError({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'Patient', birthDate: 'x' } }] } }] }, 'Bundle.entry[0].resource.entry[0].resource.birthDate', /date/);
    expectError({ resourceType: 'Parameters', parameter: [{ name: 'p', resource: { resourceType: 'Patient', foo: 1 } }] }, 'Parameters.parameter[0].resource.foo', /Unknown element/);
    expectError({ resourceType: 'Bundle', type: 'searchset', entry: [{ resource: 'Patient/1' }] }, 'Bundle.entry[0].resource', /JSON object/);
  });

  test('extensions', () => {
    expectError({ resourceType: 'Patient', extension: [{ url: 'http://x', valueString: 'a', extension: [{ url: 'y', valueCode: 'c' }] }] }, 'Patient.extension[0]', /ext-1/);
    expectError({ resourceType: 'Patient', extension: [{ url: 'http://x' }] }, 'Patient.extension[0]', /not neither \(ext-1\)/);
    assert.deepEqual(validateResource({ resourceType: 'Patient', extension: [{ url: 'http://x', _valueCode: { extension: [{ url: 'http://y', valueString: 'z' }] } }] }), []);
    assert.deepEqual(validateResource({ resourceType: 'Patient', extension: [{ url: 'http://x', extension: [{ url: 'a', valueInteger: 1 }] }] }), []);
    expectError({ resourceType: 'Patient', extension: [{ url: 'http://x', valueString: 's', valueFoo: 'a' }] }, 'Patient.extension[0].valueFoo', /Unknown element/);
    expectError({ resourceType: 'Patient', extension: [{ url: 'http://x', valueQuantity: { value: 'a' } }] }, 'Patient.extension[0].valueQuantity.value', /decimal/);
    expectError({ resourceType: 'Patient', name: [{ given: ['a'], _given: [{ id: 'x' }, { id: 'y' }] }] }, 'Patient.name[0]._given', /same length/);
  });

  test('hostile input: deep nesting and floods of errors stay bounded', () => {
    let ext: Record<string, unknown> = { url: 'http://x', valueString: 'leaf' };
    for (let i = 0; i < 5000; i++) ext = { url: 'http://x', extension: [ext] };
    const deep = validateResource({ resourceType: 'Patient', extension: [ext] });
    assert.equal(deep.length, 1);
    assert.match(deep[0].message, /nested more than 100 levels/);
    const flood = validateResource({ resourceType: 'Patient', name: Array.from({ length: 10000 }, () => ({ family: 1 })) });
    assert.equal(flood.length, MAX_ISSUES + 1);
    assert.match(flood[MAX_ISSUES].message, /rest are not reported/);
    // the module stays usable afterwards
    assert.deepEqual(validateResource({ resourceType: 'Patient', active: true }), []);
  });

  test('never throws on mutated Synthea resources', (t) => {
    if (!syntheaAvailable()) { t.skip('corpus ../shared/corpora/synthea not found'); return; }
    const resources = syntheaResources(loadSyntheaBundles(2));
    let seed = 42;
    const rand = (n: number) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
    const junk: unknown[] = [null, '', 0, -1.5, true, [], {}, [null], 'x', { a: 1 }, [1, 'a'], '2020-13-45'];
    let flagged = 0;
    for (const original of resources.slice(0, 400)) {
      const r = structuredClone(original);
      // walk to a random object inside the resource and overwrite one of its keys with junk
      let node: Record<string, unknown> = r;
      for (let step = 0; step < 4; step++) {
        const keys = Object.keys(node).filter((k) => k !== 'resourceType');
        if (keys.length === 0) break;
        const k = keys[rand(keys.length)];
        const v = node[k];
        const next = Array.isArray(v) ? v[rand(v.length)] : v;
        if (step === 3 || typeof next !== 'object' || next === null || rand(3) === 0) { node[k] = junk[rand(junk.length)]; break; }
        node = next as Record<string, unknown>;
      }
      const issues = validateResource(r);
      if (issues.length > 0) flagged++;
    }
    assert.ok(flagged > 300, `only ${flagged} of 400 mutated resources were flagged`);
  });

  test('reports several problems at once', () => {
    const issues = validateResource({ resourceType: 'Patient', foo: 1, gender: 'x', birthDate: 'y', name: [{ given: [''] }] });
    assert.deepEqual(paths(issues).sort(), ['Patient.birthDate', 'Patient.foo', 'Patient.gender', 'Patient.name[0].given[0]']);
  });
});
