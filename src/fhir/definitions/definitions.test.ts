import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  getElement, getSearchParam, getTypeDef, getValueSetCodes, isResourceType, isTypeOrSubtype, listResourceTypes,
  listSearchParams, loadDefinitions, patientCompartmentParams, splitUnion,
} from './index.ts';

describe('fhir definitions', () => {
  test('loads', () => {
    const info = loadDefinitions();
    assert.equal(info.packageVersion.length > 0, true);
  });

  test('resource types', () => {
    const types = listResourceTypes();
    for (const t of ['Patient', 'Observation', 'Binary', 'Bundle', 'Parameters', 'Questionnaire']) assert.ok(types.includes(t), t);
    assert.equal(types.length, 146 + 1); // the 146 R4 resource types + SubscriptionStatus (R4B, shipped by the package)
    assert.equal(isResourceType('Patient'), true);
    assert.equal(isResourceType('Resource'), false);
    assert.equal(isResourceType('DomainResource'), false);
    assert.equal(isResourceType('HumanName'), false);
    assert.equal(isResourceType('patient'), false);
  });

  test('element model: cardinality, choice, backbone, contentReference, bindings', () => {
    const gender = getElement('Patient', 'gender')!;
    assert.equal(gender.min, 0);
    assert.equal(gender.max, 1);
    assert.equal(gender.isArray, false);
    assert.deepEqual(gender.types, ['code']);
    assert.deepEqual([...gender.requiredBinding!.codes!].sort(), ['female', 'male', 'other', 'unknown']);
    const name = getElement('Patient', 'name')!;
    assert.equal(name.isArray, true);
    assert.equal(name.max, Infinity);
    const value = getElement('Observation', 'value')!;
    assert.equal(value.choice, true);
    assert.equal(value.path, 'Observation.value[x]');
    assert.ok(value.types.includes('Quantity') && value.types.includes('CodeableConcept'));
    const contact = getElement('Patient', 'contact')!;
    assert.deepEqual(contact.types, ['Patient.contact']);
    assert.equal(getTypeDef('Patient.contact')!.kind, 'backbone');
    assert.equal(getElement('Patient.link', 'other')!.min, 1);
    assert.deepEqual(getElement('Observation.component', 'referenceRange')!.types, ['Observation.referenceRange']);
    assert.equal(getElement('Questionnaire.item', 'item')!.contentReference, 'Questionnaire.item');
    assert.equal(getElement('Patient', 'name')!.contentReference, undefined);
    assert.deepEqual(getElement('Patient', 'id')!.types, ['id']);
    assert.deepEqual(getElement('Extension', 'url')!.types, ['uri']);
    assert.ok(getElement('Observation', 'subject')!.targetTypes.includes('Patient'));
    assert.equal(getTypeDef('string')!.kind, 'primitive-type');
    assert.equal(isTypeOrSubtype('Age', 'Quantity'), true);
    assert.equal(isTypeOrSubtype('Patient', 'Resource'), true);
    assert.equal(isTypeOrSubtype('Quantity', 'Age'), false);
    assert.ok(getValueSetCodes('http://hl7.org/fhir/ValueSet/observation-status|4.0.1')!.has('final'));
    assert.equal(getValueSetCodes('http://hl7.org/fhir/ValueSet/mimetypes'), undefined); // not enumerable (BCP 13)
  });

  test('search parameters', () => {
    const patient = getSearchParam('Observation', 'patient')!;
    assert.equal(patient.type, 'reference');
    assert.equal(patient.expression, 'Observation.subject.where(resolve() is Patient)');
    assert.deepEqual(patient.target, ['Patient']);
    assert.equal(patient.description, 'The subject that the observation is about (if patient)');
    assert.equal(patient.url, 'http://hl7.org/fhir/SearchParameter/clinical-patient');
    const code = getSearchParam('Observation', 'code')!;
    assert.equal(code.type, 'token');
    assert.equal(code.expression, 'Observation.code');
    for (const rt of ['Patient', 'Observation', 'Binary', 'Bundle']) {
      for (const c of ['_id', '_lastUpdated', '_tag', '_security', '_profile', '_source']) {
        const p = getSearchParam(rt, c);
        assert.ok(p, `${rt}.${c}`);
        assert.ok(p.expression.startsWith(`${rt}.`), p.expression);
      }
    }
    assert.equal(getSearchParam('Patient', '_lastUpdated')!.type, 'date');
    assert.equal(getSearchParam('Patient', 'birthdate')!.expression, 'Patient.birthDate');
    assert.equal(getSearchParam('Observation', 'value-quantity')!.expression, '(Observation.value.ofType(Quantity)) | (Observation.value.ofType(SampledData))');
    assert.equal(getSearchParam('Observation', 'code-value-quantity')!.type, 'composite');
    assert.ok(listSearchParams('Patient').length > 20);
    assert.deepEqual(listSearchParams('NotAType'), []);
  });

  test('upid parameter', () => {
    assert.equal(getSearchParam('Patient', 'upid')!.type, 'string');
    assert.match(getSearchParam('Patient', 'upid')!.expression, /^Patient\.identifier\.where\(system='https:\/\/zusapi\.com\/fhir\/identifier\/universal-id'\)\.value$/);
    assert.match(getSearchParam('Observation', 'upid')!.expression, /^Observation\.extension\('https:\/\/zusapi\.com\/fhir\/identifier\/universal-id'\)/);
    assert.ok(getSearchParam('Encounter', 'upid'));
    assert.ok(getSearchParam('Coverage', 'upid') === undefined || getSearchParam('Coverage', 'patient'));
    assert.equal(getSearchParam('Organization', 'upid'), undefined);
  });

  test('patient compartment', () => {
    assert.deepEqual(patientCompartmentParams('Observation'), ['subject', 'performer']);
    assert.deepEqual(patientCompartmentParams('Patient'), ['link']);
    assert.deepEqual(patientCompartmentParams('Organization'), []);
    assert.deepEqual(patientCompartmentParams('Encounter'), ['subject']);
    assert.deepEqual(patientCompartmentParams('Coverage'), ['policy-holder', 'subscriber', 'beneficiary', 'payor']);
  });

  test('splitUnion respects parentheses and quotes', () => {
    assert.deepEqual(splitUnion("A.b | (A.c.where(x='a|b')) | A.d"), ['A.b', "(A.c.where(x='a|b'))", 'A.d']);
  });
});
