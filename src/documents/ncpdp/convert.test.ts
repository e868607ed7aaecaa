import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { convertNcpdp, DEA_SCHEDULES, NCI_THESAURUS, NCPDP_PROVIDER_ID, SURESCRIPTS_NOTIFICATION } from './index.ts';
import type { ConversionResult } from '../types.ts';

type J = Record<string, any>;

const FIXTURES = new URL('../../../test/fixtures/ncpdp/', import.meta.url);
const fixture = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');
const all = (r: ConversionResult, type: string): J[] => r.bundle.entry.map((e) => e.resource).filter((x) => x.resourceType === type) as J[];
const labels = (r: J): string[] => ((r.extension ?? []) as J[]).filter((e) => e.url === SURESCRIPTS_NOTIFICATION).map((e) => e.valueString);
const byRef = (r: ConversionResult, ref: string): J | undefined => r.bundle.entry.find((e) => `${e.resource.resourceType}/${e.resource.id}` === ref)?.resource as J | undefined;

describe('NCPDP RxHistoryResponse → FHIR', () => {
  test('one MedicationRequest and one MedicationDispense per fill, parties deduplicated', () => {
    const r = convertNcpdp(fixture('rxhistory-multiple-fills.xml'));
    assert.equal(r.ok, true);
    assert.equal(r.stats.dropped, 0, JSON.stringify(r.outcome));
    assert.deepEqual(r.stats.resourcesByType, { Patient: 1, Organization: 1, Practitioner: 2, MedicationRequest: 4, MedicationDispense: 4 });
    assert.equal(r.message.transaction, 'RxHistoryResponse');
    assert.equal(r.message.response, 'Approved');
    const pharmacy = all(r, 'Organization')[0]!;
    assert.deepEqual(pharmacy.identifier, [{ system: NCPDP_PROVIDER_ID, value: '1436822' }, { system: 'http://hl7.org/fhir/sid/us-npi', value: '1578564833' }]);
    const patient = all(r, 'Patient')[0]!;
    assert.equal(patient.birthDate, '1958-03-14');
    assert.equal(patient.gender, 'female');
    assert.deepEqual(patient.name[0], { family: 'Alvarez', given: ['Maria', 'L'] });
  });

  test('fill details: NDC + RxNorm, quantity, days supply, refills, dates, SIG, prescriber and pharmacy', () => {
    const r = convertNcpdp(fixture('rxhistory-multiple-fills.xml'));
    const disp = all(r, 'MedicationDispense').find((d) => d.whenHandedOver === '2024-04-01')!;
    assert.deepEqual(disp.medicationCodeableConcept.coding.map((c: J) => `${c.system}|${c.code}`), [
      'http://hl7.org/fhir/sid/ndc|68180051301', 'http://www.nlm.nih.gov/research/umls/rxnorm|314076',
    ]);
    assert.deepEqual(disp.quantity, { value: 30, system: NCI_THESAURUS, code: 'C48542', unit: 'Tablet' });
    assert.equal(disp.daysSupply.value, 30);
    assert.equal(disp.type.coding[0].code, 'RF');
    assert.deepEqual(disp.dosageInstruction, [{ text: 'Take 1 tablet by mouth once daily' }]);
    const req = byRef(r, disp.authorizingPrescription[0].reference)!;
    assert.equal(req.resourceType, 'MedicationRequest');
    assert.equal(req.intent, 'order');
    assert.equal(req.authoredOn, '2024-03-01');
    assert.equal(req.dispenseRequest.numberOfRepeatsAllowed, 5);
    assert.equal(req.dispenseRequest.expectedSupplyDuration.value, 30);
    assert.equal(byRef(r, req.requester.reference)!.identifier[0].value, '1730188372');
    assert.equal(byRef(r, req.performer.reference)!.name, 'Prairie Street Pharmacy');
    assert.equal(req.category[0].coding[0].code, 'C38046');
    assert.equal(req.substitution.allowedBoolean, true);
  });

  test('Surescripts notification labels: new Rx, refill, new prescriber', () => {
    const r = convertNcpdp(fixture('rxhistory-multiple-fills.xml'));
    const d = all(r, 'MedicationDispense').sort((a, b) => a.whenHandedOver.localeCompare(b.whenHandedOver));
    assert.deepEqual(d.map(labels), [['PMANewRx'], ['PMARefill'], ['PMARefill'], ['PMANewRx', 'PMANewPrescriber']]);
    const time = (d[0]!.extension as J[]).find((e) => e.url.endsWith('notification-generated-time'));
    assert.equal(time?.valueInstant, '2024-06-30T14:22:05Z');
    for (const m of all(r, 'MedicationRequest')) assert.ok(labels(m).length > 0);
  });

  test('controlled substances: DEA schedule category with NCI codes; no refills remaining', () => {
    const r = convertNcpdp(fixture('rxhistory-controlled.xml'));
    const reqs = all(r, 'MedicationRequest');
    const oxy = reqs.find((m) => m.medicationCodeableConcept.text.startsWith('Oxycodone'))!;
    assert.deepEqual(oxy.category[0].coding[0], { system: NCI_THESAURUS, code: 'C48675', display: 'Schedule II' });
    assert.deepEqual(labels(oxy), ['PMANewRx', 'PMAControlledSubstance', 'PMANoRefillsRemaining']);
    const alp = reqs.find((m) => m.medicationCodeableConcept.text.startsWith('Alprazolam'))!;
    assert.equal(alp.category[0].coding[0].code, 'C48677');
    assert.deepEqual(labels(alp), ['PMARefill', 'PMAControlledSubstance', 'PMANoRefillsRemaining']);
    assert.equal(alp.substitution.allowedBoolean, false);
    const doc = all(r, 'Practitioner')[0]!;
    assert.deepEqual(doc.identifier.map((i: J) => i.value), ['1659322106', 'BM1234563']);
  });

  test('every NCI DEA schedule code maps to its display', () => {
    assert.deepEqual(Object.keys(DEA_SCHEDULES).sort(), ['C38046', 'C48672', 'C48675', 'C48676', 'C48677', 'C48679']);
    const pbm = convertNcpdp(fixture('rxhistory-pbm-claims.xml'));
    const pregabalin = all(pbm, 'MedicationRequest').find((m) => m.medicationCodeableConcept.text.startsWith('Pregabalin'))!;
    assert.equal(pregabalin.category[0].coding[0].display, 'Schedule V');
    assert.equal(all(pbm, 'Organization').length, 2);
  });

  test('missing optional elements still give valid resources', () => {
    const r = convertNcpdp(fixture('rxhistory-minimal.xml'));
    assert.equal(r.stats.dropped, 0, JSON.stringify(r.outcome));
    assert.equal(all(r, 'MedicationDispense').length, 2);
    const amox = all(r, 'MedicationDispense').find((d) => d.medicationCodeableConcept.text.startsWith('Amoxicillin'))!;
    assert.deepEqual(amox.medicationCodeableConcept, { text: 'Amoxicillin 500 MG Oral Capsule' });
    assert.equal(amox.whenHandedOver, '2024-02-11');
    assert.equal(amox.daysSupply, undefined);
    const alb = all(r, 'MedicationRequest').find((d) => d.medicationCodeableConcept.text.startsWith('Albuterol'))!;
    assert.equal(alb.requester, undefined);
    assert.equal(byRef(r, alb.performer.reference)!.name, 'Campus Health Pharmacy');
  });

  test('SCRIPT 10.6 element shapes', () => {
    const r = convertNcpdp(fixture('rxhistory-10.6.xml'));
    assert.equal(r.stats.dropped, 0);
    assert.equal(all(r, 'Patient')[0]!.identifier[0].value, 'A-99120');
    const reqs = all(r, 'MedicationRequest');
    const met = reqs.find((m) => m.medicationCodeableConcept.text.startsWith('Metformin'))!;
    assert.equal(met.medicationCodeableConcept.coding[0].code, '00093104801');
    assert.equal(met.medicationCodeableConcept.coding[1].code, '861007');
    assert.equal(met.dispenseRequest.numberOfRepeatsAllowed, 11);
    assert.equal(met.dispenseRequest.quantity.code, 'C48542');
    assert.equal(met.dosageInstruction[0].text, 'Take 1 tablet by mouth twice daily with meals');
    const zol = reqs.find((m) => m.medicationCodeableConcept.text.startsWith('Zolpidem'))!;
    assert.equal(zol.category[0].coding[0].code, 'C48677');
    assert.equal(all(r, 'Organization')[0]!.name, 'Main Street Apothecary');
    assert.equal(all(r, 'Practitioner').length, 1);
  });

  test('a denied response converts to nothing, with the reason reported', () => {
    const r = convertNcpdp(fixture('rxhistory-denied.xml'));
    assert.equal(r.ok, true);
    assert.equal(r.bundle.entry.length, 0);
    assert.equal(r.message.response, 'Denied');
    assert.equal(r.message.responseReason, 'Patient not found');
  });

  test('PMARefillNotPickedUp only with an asOf date, on the last fill of an overdue prescription', () => {
    const without = convertNcpdp(fixture('rxhistory-multiple-fills.xml'));
    assert.ok(!all(without, 'MedicationDispense').some((d) => labels(d).includes('PMARefillNotPickedUp')));
    const r = convertNcpdp(fixture('rxhistory-multiple-fills.xml'), { asOf: '2024-06-30T00:00:00Z' });
    const flagged = all(r, 'MedicationDispense').filter((d) => labels(d).includes('PMARefillNotPickedUp'));
    assert.deepEqual(flagged.map((d) => d.whenHandedOver), ['2024-05-03']); // due 2024-06-02, +5 days passed
  });

  test('deterministic ids, namespace-dependent', () => {
    const a = convertNcpdp(fixture('rxhistory-controlled.xml'));
    const b = convertNcpdp(fixture('rxhistory-controlled.xml'));
    assert.deepEqual(a.bundle, b.bundle);
    const c = convertNcpdp(fixture('rxhistory-controlled.xml'), { idNamespace: 'x' });
    assert.notEqual(a.bundle.entry[0]!.resource.id, c.bundle.entry[0]!.resource.id);
    for (const e of a.bundle.entry) assert.ok(e.resource.id!.length <= 64);
  });
});

const wrap = (body: string, version = '2017071'): string =>
  `<?xml version="1.0"?><Message xmlns="http://www.ncpdp.org/schema/SCRIPT" version="${version}"><Header><MessageID>T1</MessageID><SentTime>2026-01-01T10:00:00Z</SentTime></Header><Body>${body}</Body></Message>`;
const PATIENT = '<Patient><HumanPatient><Name><LastName>Test</LastName><FirstName>Pat</FirstName></Name><Gender>F</Gender><DateOfBirth><Date>1980-02-02</Date></DateOfBirth></HumanPatient></Patient>';
const MED = '<MedicationPrescribed><DrugDescription>Drug 1 MG Tablet</DrugDescription><DrugCoded><ProductCode><Code>12345678901</Code><Qualifier>ND</Qualifier></ProductCode></DrugCoded><Quantity><Value>30</Value></Quantity></MedicationPrescribed>';

describe('NCPDP prescribing transactions → MedicationRequest status and intent', () => {
  const cases: [string, string, string][] = [
    [`<NewRx>${PATIENT}${MED}</NewRx>`, 'active', 'order'],
    [`<RxRenewalRequest>${PATIENT}${MED}</RxRenewalRequest>`, 'active', 'proposal'],
    [`<RxRenewalResponse>${PATIENT}<Response><Approved/></Response>${MED}</RxRenewalResponse>`, 'active', 'order'],
    [`<RxRenewalResponse>${PATIENT}<Response><Denied><DenialReason>No</DenialReason></Denied></Response>${MED}</RxRenewalResponse>`, 'cancelled', 'proposal'],
    [`<RxChangeRequest>${PATIENT}${MED}</RxChangeRequest>`, 'active', 'proposal'],
    [`<RxChangeResponse>${PATIENT}<Response><ApprovedWithChanges/></Response>${MED}</RxChangeResponse>`, 'active', 'order'],
    [`<CancelRx>${PATIENT}${MED}</CancelRx>`, 'cancelled', 'order'],
    [`<CancelRxResponse>${PATIENT}<Response><Denied/></Response>${MED}</CancelRxResponse>`, 'active', 'order'],
    [`<RxRenewalResponse>${PATIENT}<Response><Approved/><Denied/></Response>${MED}</RxRenewalResponse>`, 'unknown', 'proposal'],
  ];
  for (const [body, status, intent] of cases) {
    test(`${body.slice(1, body.indexOf('>'))} ${body.includes('<Response>') ? body.slice(body.indexOf('<Response>') + 10, body.indexOf('</Response>')) : ''} → ${status}/${intent}`, () => {
      const r = convertNcpdp(wrap(body));
      assert.equal(r.ok, true);
      const reqs = all(r, 'MedicationRequest');
      assert.equal(reqs.length, 1, JSON.stringify(r.outcome));
      assert.equal(reqs[0]!.status, status);
      assert.equal(reqs[0]!.intent, intent);
    });
  }

  test('the changed medication nested in ApprovedWithChanges is the one converted', () => {
    const body = `<RxRenewalResponse>${PATIENT}<Response><ApprovedWithChanges>${MED.replace('Drug 1 MG', 'Changed 2 MG')}</ApprovedWithChanges></Response></RxRenewalResponse>`;
    const reqs = all(convertNcpdp(wrap(body)), 'MedicationRequest');
    assert.equal(reqs[0]!.medicationCodeableConcept.text, 'Changed 2 MG Tablet');
  });

  test('responses without a patient use options.patientReference', () => {
    const body = `<RxRenewalResponse><Response><Approved/></Response>${MED}</RxRenewalResponse>`;
    assert.equal(all(convertNcpdp(wrap(body)), 'MedicationRequest').length, 0);
    const r = convertNcpdp(wrap(body), { patientReference: 'Patient/abc' });
    assert.equal(all(r, 'MedicationRequest')[0]!.subject.reference, 'Patient/abc');
  });
});

describe('NCPDP hardening', () => {
  test('DOCTYPE / external entities are refused', () => {
    const xxe = '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]><Message><Body><NewRx>&x;</NewRx></Body></Message>';
    const r = convertNcpdp(xxe);
    assert.equal(r.ok, false);
    assert.equal(r.bundle.entry.length, 0);
  });
  test('size limit and malformed XML are error values', () => {
    assert.equal(convertNcpdp(wrap(`<NewRx>${PATIENT}${MED}</NewRx>`), { maxBytes: 100 }).ok, false);
    assert.equal(convertNcpdp('<Message><Body>').ok, false);
    assert.equal(convertNcpdp('').ok, false);
    assert.equal(convertNcpdp('<NotAMessage/>').ok, false);
  });
  test('unsupported transactions are reported, not thrown', () => {
    const r = convertNcpdp(wrap('<RxFill><MedicationPrescribed/></RxFill>'));
    assert.equal(r.ok, true);
    assert.equal(r.outcome.issue[0]!.code, 'not-supported');
  });
});
