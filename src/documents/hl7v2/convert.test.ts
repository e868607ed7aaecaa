import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { convertHl7v2, convertHl7v2Batch } from './index.ts';
import type { ConversionResult, FhirResource } from '../types.ts';
import { validateResource } from '../../fhir/validation/index.ts';

type J = Record<string, any>;

function all(r: ConversionResult, type: string): J[] {
  return r.bundle.entry.map((e) => e.resource).filter((x) => x.resourceType === type) as J[];
}
function one(r: ConversionResult, type: string): J {
  const xs = all(r, type);
  assert.equal(xs.length, 1, `expected one ${type}, got ${xs.length}`);
  return xs[0]!;
}
function byRef(r: ConversionResult, ref: string): FhirResource | undefined {
  return r.bundle.entry.find((e) => `${e.resource.resourceType}/${e.resource.id}` === ref)?.resource;
}

/** Builds a segment from field number → raw value, so field positions are explicit. */
function seg(name: string, fields: Record<number, string>): string {
  const n = Math.max(...Object.keys(fields).map(Number));
  const out = [name];
  for (let i = 1; i <= n; i++) out.push(fields[i] ?? '');
  return out.join('|');
}

const adt = (event: string, pv1Extra = '', more: string[] = [], pv1Disposition = ''): string => [
  `MSH|^~\\&|ADT1|GHH^1.2.840.1^ISO|LAB|GHH|20240301101500-0500||ADT^${event}^ADT_A01|CTL-${event}|P|2.5.1`,
  `EVN|${event}|20240301101500`,
  'PID|1||MRN123^^^GHH^MR~999-88-7777^^^USSSA^SS||DOE^JANE^Q^^DR~SMITH^JANE^^^^^M||19700412|F||2106-3^White^CDCREC|12 MAIN ST^APT 4^SPRINGFIELD^IL^62704^USA^H||(217)555-0100^PRN^PH~^NET^Internet^jane@example.org|(217)555-0199^WPN^PH|en^English^ISO639|M^Married^HL70002||ACCT-9^^^GHH^AN||||2186-5^Not Hispanic or Latino^CDCREC',
  'PD1|||GHH Clinic^^^^^^^^^PCP-ORG|1234567893^WELBY^MARCUS^^^DR^^^^^^^NPI',
  'NK1|1|DOE^JOHN|SPO^Spouse^HL70063|12 MAIN ST^^SPRINGFIELD^IL^62704|(217)555-0111^PRN^PH||EC^Emergency Contact^HL70131',
  seg('PV1', { 1: '1', 2: 'I', 3: '4WEST^412^B^GHH^^^MAIN^4', 4: 'E', 7: '0042^ATTEND^ALICE^^^DR', 8: '0077^REFER^ROB', 14: '7', 17: '0099^ADMIT^ADA', 19: 'V-2024-001^^^GHH^VN', 36: pv1Disposition, 44: '20240301093000', 45: pv1Extra }),
  'PV2|||R07.9^Chest pain, unspecified^I10C',
  'DG1|1||I21.4^Non-ST elevation myocardial infarction^I10||20240301|A|||||||||1',
  'DG1|2||E11.9^Type 2 diabetes mellitus without complications^I10||20240301|W|||||||||2',
  'AL1|1|DA|70618^Penicillin^RXNORM|SV|Hives~Anaphylaxis|20100101',
  'IN1|1|PPO1^Gold PPO|BCBS01^^^NAIC|Blue Cross of Illinois|300 E Randolph^^Chicago^IL^60601||(800)555-0101|GRP-77|ACME Corp|||20240101|20241231||PPO|DOE^JANE|SEL|19700412|12 MAIN ST^^SPRINGFIELD^IL^62704|||||||||||||||||POL-123456',
  'OBX|1|NM|8867-4^Heart rate^LN||88|/min^beats per minute^UCUM|60-100|N|||F|||20240301100000',
  ...more,
].join('\r');

describe('HL7 v2 ADT → FHIR', () => {
  test('A01: patient demographics', () => {
    const r = convertHl7v2(adt('A01'));
    assert.equal(r.ok, true);
    assert.equal(r.stats.dropped, 0, JSON.stringify(r.outcome));
    const p = one(r, 'Patient');
    assert.equal(p.gender, 'female');
    assert.equal(p.birthDate, '1970-04-12');
    assert.equal(p.name[0].family, 'DOE');
    assert.deepEqual(p.name[0].given, ['JANE', 'Q']);
    assert.equal(p.name[1].use, 'maiden');
    assert.deepEqual(p.identifier[0], { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] }, system: 'urn:id:GHH', value: 'MRN123', assigner: { display: 'GHH' } });
    assert.ok(p.identifier.some((i: J) => i.system === 'http://hl7.org/fhir/sid/us-ssn' && i.value === '999-88-7777'));
    assert.equal(p.address[0].city, 'SPRINGFIELD');
    assert.deepEqual(p.address[0].line, ['12 MAIN ST', 'APT 4']);
    assert.ok(p.telecom.some((t: J) => t.system === 'email' && t.value === 'jane@example.org'));
    assert.ok(p.telecom.some((t: J) => t.system === 'phone' && t.use === 'work'));
    assert.equal(p.maritalStatus.coding[0].code, 'M');
    const race = p.extension.find((e: J) => e.url.endsWith('us-core-race'));
    assert.equal(race.extension[0].url, 'ombCategory');
    assert.equal(race.extension[0].valueCoding.code, '2106-3');
    assert.ok(p.extension.some((e: J) => e.url.endsWith('us-core-ethnicity')));
    assert.equal(p.generalPractitioner.length, 2);
    const gp = byRef(r, p.generalPractitioner[0].reference) as J;
    assert.equal(gp.identifier[0].system, 'http://hl7.org/fhir/sid/us-npi');
  });

  test('A01: encounter with class, status, VN identifier, period, participants, location, diagnoses', () => {
    const r = convertHl7v2(adt('A01'));
    const e = one(r, 'Encounter');
    assert.equal(e.status, 'in-progress');
    assert.deepEqual(e.class, { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP', display: 'inpatient encounter' });
    assert.equal(e.identifier[0].value, 'V-2024-001');
    assert.equal(e.identifier[0].type.coding[0].code, 'VN');
    assert.equal(e.period.start, '2024-03-01T09:30:00-05:00'); // zone taken from MSH-7
    assert.deepEqual(e.participant.map((p: J) => p.type[0].coding[0].code), ['ATND', 'REF', 'ADM']);
    assert.equal(e.hospitalization.admitSource.coding[0].code, '7');
    assert.equal(e.reasonCode[0].coding[0].code, 'R07.9');
    assert.equal(e.reasonCode[0].coding[0].system, 'http://hl7.org/fhir/sid/icd-10-cm');
    const bed = byRef(r, e.location[0].location.reference) as J;
    assert.equal(bed.name, 'B');
    assert.equal(bed.physicalType.coding[0].code, 'bd');
    const room = byRef(r, bed.partOf.reference) as J;
    assert.equal(room.name, '412');
    assert.equal(all(r, 'Location').length, 6); // facility, building, floor, ward, room, bed
    assert.equal(e.diagnosis.length, 2);
    assert.equal(e.diagnosis[0].use.coding[0].code, 'AD');
    assert.equal(e.diagnosis[0].rank, 1);
    assert.equal(e.diagnosis[1].rank, 2);
    const conds = all(r, 'Condition');
    assert.equal(conds.length, 2);
    assert.equal(conds[0]!.code.coding[0].code, 'I21.4');
    assert.equal(conds[0]!.encounter.reference, `Encounter/${e.id}`);
    assert.equal(byRef(r, e.serviceProvider.reference)?.resourceType, 'Organization');
  });

  test('NK1 → RelatedPerson, AL1 → AllergyIntolerance, IN1 → Coverage, OBX → Observation', () => {
    const r = convertHl7v2(adt('A01'));
    const rp = one(r, 'RelatedPerson');
    assert.equal(rp.name[0].family, 'DOE');
    assert.equal(rp.relationship[0].coding[0].code, 'SPO');
    const a = one(r, 'AllergyIntolerance');
    assert.equal(a.code.coding[0].system, 'http://www.nlm.nih.gov/research/umls/rxnorm');
    assert.deepEqual(a.category, ['medication']);
    assert.equal(a.criticality, 'high');
    assert.deepEqual(a.reaction[0].manifestation.map((m: J) => m.text), ['Hives', 'Anaphylaxis']);
    const c = one(r, 'Coverage');
    assert.equal(c.status, 'active');
    assert.equal(c.subscriberId, 'POL-123456');
    assert.equal(c.relationship.coding[0].code, 'self');
    assert.equal(c.subscriber.reference, c.beneficiary.reference);
    const payer = byRef(r, c.payor[0].reference) as J;
    assert.equal(payer.name, 'Blue Cross of Illinois');
    assert.equal(c.period.start, '2024-01-01');
    const o = one(r, 'Observation');
    assert.deepEqual(o.valueQuantity, { value: 88, unit: 'beats per minute', system: 'http://unitsofmeasure.org', code: '/min' });
    assert.equal(o.category[0].coding[0].code, 'vital-signs');
  });

  test('encounter status follows the trigger event', () => {
    const expect: Record<string, string> = {
      A01: 'in-progress', A02: 'in-progress', A03: 'finished', A04: 'in-progress', A05: 'planned', A06: 'in-progress',
      A07: 'in-progress', A11: 'cancelled', A12: 'in-progress', A13: 'in-progress',
    };
    for (const [event, status] of Object.entries(expect)) {
      const e = one(convertHl7v2(adt(event)), 'Encounter');
      assert.equal(e.status, status, event);
    }
    // A08 (update) derives the status from the visit's dates.
    assert.equal(one(convertHl7v2(adt('A08')), 'Encounter').status, 'in-progress');
    assert.equal(one(convertHl7v2(adt('A08', '20240305120000')), 'Encounter').status, 'finished');
  });

  test('A03: discharge date, disposition and completed location', () => {
    const msg = adt('A03', '20240305120000', [], '09');
    const e = one(convertHl7v2(msg), 'Encounter');
    assert.equal(e.hospitalization.dischargeDisposition.coding[0].code, '09');
    assert.equal(e.status, 'finished');
    assert.equal(e.period.end, '2024-03-05T12:00:00-05:00');
    assert.equal(e.location[0].status, 'completed');
  });

  test('A28 / A31 without a visit give a patient and no encounter', () => {
    const msg = [
      'MSH|^~\\&|A|B|C|D|20240301||ADT^A28|X1|P|2.5',
      'PID|1||MRN9^^^GHH^MR||ROE^RICHARD||19800101|M',
      'PV1|1|N',
    ].join('\r');
    const r = convertHl7v2(msg);
    one(r, 'Patient');
    assert.equal(all(r, 'Encounter').length, 0);
  });

  test('A40 merge → Patient.link both ways', () => {
    const msg = [
      'MSH|^~\\&|A|B|C|D|20240301||ADT^A40^ADT_A39|M1|P|2.5',
      'EVN|A40|20240301',
      'PID|1||MRN-KEEP^^^GHH^MR||DOE^JANE||19700412|F',
      'MRG|MRN-OLD^^^GHH^MR',
    ].join('\r');
    const r = convertHl7v2(msg);
    const pts = all(r, 'Patient');
    assert.equal(pts.length, 2);
    const keep = pts.find((p) => p.identifier[0].value === 'MRN-KEEP')!;
    const old = pts.find((p) => p.identifier[0].value === 'MRN-OLD')!;
    assert.deepEqual(keep.link, [{ other: { reference: `Patient/${old.id}` }, type: 'replaces' }]);
    assert.deepEqual(old.link, [{ other: { reference: `Patient/${keep.id}` }, type: 'replaced-by' }]);
    assert.equal(old.active, false);
  });

  test('deterministic ids: same input, same ids; other namespace, other ids; ids are valid FHIR ids', () => {
    const a = convertHl7v2(adt('A01'));
    const b = convertHl7v2(adt('A01'));
    assert.deepEqual(a.bundle, b.bundle);
    const c = convertHl7v2(adt('A01'), { idNamespace: 'other-feed' });
    assert.notEqual(one(a, 'Patient').id, one(c, 'Patient').id);
    for (const e of a.bundle.entry) {
      assert.match(e.resource.id!, /^[A-Za-z0-9\-.]{1,64}$/);
      assert.equal(e.fullUrl, `urn:uuid:${e.resource.id}`);
    }
    // The same patient and visit in a later message map to the same resources (idempotent upsert).
    const a03 = convertHl7v2(adt('A03', '20240305120000'));
    assert.equal(one(a03, 'Patient').id, one(a, 'Patient').id);
    assert.equal(one(a03, 'Encounter').id, one(a, 'Encounter').id);
  });

  test('resources emitted valid by construction pass the validator; validate:"all" gives the same bundle', () => {
    const a40 = ['MSH|^~\\&|A|B|C|D|20240301||ADT^A40^ADT_A39|M1|P|2.5', 'PID|1||KEEP^^^H^MR||DOE^JANE', 'MRG|OLD^^^H^MR'].join('\r');
    const withEpisode = adt('A01').replace('PV2|', `${seg('PV1', { 2: 'I', 19: 'V-9^^^GHH^VN', 54: 'EP-1^^^GHH' })}\rPV2|`);
    for (const msg of [adt('A01'), adt('A03', '20240305120000'), a40, withEpisode]) {
      const fast = convertHl7v2(msg);
      const full = convertHl7v2(msg, { validate: 'all' });
      assert.deepEqual(JSON.stringify(fast), JSON.stringify(full));
      for (const e of fast.bundle.entry) assert.deepEqual(validateResource(e.resource).filter((i) => i.severity === 'error'), [], e.resource.resourceType);
    }
    const types = new Set(convertHl7v2(withEpisode).bundle.entry.map((e) => e.resource.resourceType));
    for (const t of ['Location', 'Practitioner', 'Organization', 'Account', 'EpisodeOfCare']) assert.ok(types.has(t), t);
  });

  test('a valid-by-construction resource with an oversized value is still dropped', () => {
    const huge = 'W'.repeat(1024 * 1024 + 1);
    const r = convertHl7v2(adt('A01').replace('4WEST^412^B^GHH', `${huge}^412^B^GHH`));
    assert.equal(r.ok, true);
    assert.ok(r.stats.droppedByType.Location! >= 1);
    assert.ok(all(r, 'Location').every((l) => (l.name as string).length < 1000));
    // No reference is left pointing at the dropped Location; the Encounter stays (its location entry goes).
    const ids = new Set(r.bundle.entry.map((e) => `${e.resource.resourceType}/${e.resource.id}`));
    for (const ref of JSON.stringify(r.bundle).match(/"reference":"[^"]+"/g) ?? []) assert.ok(ids.has(ref.slice(13, -1)), ref);
    assert.equal(all(r, 'Encounter').length, 1);
    assert.equal(r.stats.resourcesByType.Location, all(r, 'Location').length);
  });

  test('odd values never cost the Patient: lone surrogates in namespaces, a 2^31 birth order', () => {
    const pid = seg('PID', { 1: '1', 3: 'MRN123^^^G\uD800H^MR', 5: 'DOE^JANE', 7: '19700412', 20: 'DL-1^\uDC00IL', 24: 'Y', 25: '9999999999' });
    const msg = adt('A01').split('\r').map((l) => (l.startsWith('PID|') ? pid : l)).join('\r');
    const r = convertHl7v2(msg);
    assert.equal(r.ok, true);
    const p = one(r, 'Patient');
    assert.equal(p.multipleBirthInteger, undefined);
    assert.ok((p.identifier as J[]).some((i) => i.system === 'urn:id:G%EF%BF%BDH'));
    assert.ok((p.identifier as J[]).some((i) => i.system === 'urn:id:DL-%EF%BF%BDIL'));
    assert.equal(r.stats.dropped, 0);
  });

  test('a dropped Patient takes the resources about it along; no dangling reference', () => {
    const r = convertHl7v2(adt('A01').replace('DOE^JANE^Q^^DR', `${'D'.repeat(1024 * 1024 + 1)}^JANE^Q^^DR`), { validate: 'all' });
    assert.equal(r.ok, true);
    assert.equal(all(r, 'Patient').length, 0);
    for (const t of ['Encounter', 'RelatedPerson', 'Condition', 'AllergyIntolerance', 'Observation', 'Account']) assert.equal(all(r, t).length, 0, t);
    const ids = new Set(r.bundle.entry.map((e) => `${e.resource.resourceType}/${e.resource.id}`));
    for (const ref of JSON.stringify(r.bundle).match(/"reference":"[^"]+"/g) ?? []) assert.ok(ids.has(ref.slice(13, -1)), ref);
    assert.ok(r.stats.dropped > 5);
  });

  test('every reference points at a resource in the bundle', () => {
    const r = convertHl7v2(adt('A01'));
    const ids = new Set(r.bundle.entry.map((e) => `${e.resource.resourceType}/${e.resource.id}`));
    const refs: string[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v !== null && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if (k === 'reference' && typeof x === 'string') refs.push(x);
          else walk(x);
        }
      }
    };
    walk(r.bundle.entry.map((e) => e.resource));
    assert.ok(refs.length > 10);
    for (const ref of refs) assert.ok(ids.has(ref), ref);
  });

  test('time stamps without any zone keep only their date', () => {
    const msg = adt('A01').replace('20240301101500-0500', '20240301101500');
    const e = one(convertHl7v2(msg), 'Encounter');
    assert.equal(e.period.start, '2024-03-01');
    const withTz = one(convertHl7v2(msg, { defaultTimezone: '+01:00' }), 'Encounter');
    assert.equal(withTz.period.start, '2024-03-01T09:30:00+01:00');
  });
});

const ORU = [
  'MSH|^~\\&|LAB|ACME LAB^2.16.840.1.113883.3.999^ISO|EHR|CLINIC|20240410083000+0000||ORU^R01^ORU_R01|LAB-0001|P|2.5.1',
  'PID|1||P-555^^^CLINIC^MR||LAB^PATIENT^A||19851122|M',
  'PV1|1|O|LABDRAW^^^CLINIC||||1111111111^ORDER^OLIVIA^^^DR^^^^^^^NPI||||||||||||V-LAB-1^^^CLINIC^VN',
  'ORC|RE|PLAC-1^EHR|FILL-1^LAB||CM||||20240409120000+0000|||1111111111^ORDER^OLIVIA^^^DR^^^^^^^NPI',
  'OBR|1|PLAC-1^EHR|FILL-1^LAB|24323-8^Comprehensive metabolic panel^LN|||20240409123000+0000|||||||||1111111111^ORDER^OLIVIA||||||20240410082000+0000|||F|||||||2222&PATH&PAULA&P',
  'OBX|1|NM|2345-7^Glucose [Mass/volume] in Serum or Plasma^LN||182|mg/dL^mg/dL^UCUM|70-99|H|||F|||20240409123000+0000|||||||||ACME LAB^^^^^^^^^CLIA-123',
  'NTE|1||Patient was not fasting.',
  'OBX|2|NM|2823-3^Potassium^LN||3.1|mmol/L|3.5-5.1|L~A|||C',
  'OBX|3|ST|5778-6^Color of Urine^LN||Yellow||||||P',
  'OBX|4|CWE|5802-4^Nitrite [Presence] in Urine^LN||260385009^Negative^SCT||Negative|N|||F',
  'OBX|5|SN|5799-2^Leukocyte esterase^LN||<^10|Leu/uL||||F',
  'OBX|6|SN|33914-3^eGFR^LN||>^60|mL/min/{1.73_m2}|>60||||F',
  'OBX|7|SN|5767-9^Urine appearance ratio^LN||^1^:^40|||||F',
  'OBX|8|TX|18769-0^Microbiology comment^LN||Line one~Line two||||||F',
  'OBX|9|CE|600-7^Bacteria identified^LN||3092008^Staphylococcus aureus^SCT||||||X',
  'OBX|10|NM|718-7^Hemoglobin^LN||not a number|g/dL|13.5-17.5||||F',
  'OBR|2||FILL-2^LAB|58410-2^CBC panel^LN|||20240409123000+0000|||||||||||||||20240410082000+0000|||P',
  'OBX|1|NM|6690-2^WBC^LN||7.2|10*3/uL^^UCUM|4.0-11.0|N|||P',
].join('\r');

describe('HL7 v2 ORU^R01 → DiagnosticReport + Observation', () => {
  const r = convertHl7v2(ORU);
  const reports = all(r, 'DiagnosticReport');
  const obs = all(r, 'Observation');
  const byCode = (code: string): J => obs.find((o) => o.code.coding[0].code === code)!;

  test('one report per OBR with its results, status from OBR-25', () => {
    assert.equal(r.ok, true);
    assert.equal(r.stats.dropped, 0, JSON.stringify(r.outcome));
    assert.equal(reports.length, 2);
    assert.equal(reports[0]!.status, 'final');
    assert.equal(reports[1]!.status, 'preliminary');
    assert.equal(reports[0]!.result.length, 10);
    assert.equal(reports[1]!.result.length, 1);
    assert.equal(reports[0]!.code.coding[0].code, '24323-8');
    assert.equal(reports[0]!.effectiveDateTime, '2024-04-09T12:30:00+00:00');
    assert.equal(reports[0]!.issued, '2024-04-10T08:20:00+00:00');
    assert.deepEqual(reports[0]!.identifier.map((i: J) => i.type.coding[0].code), ['PLAC', 'FILL']);
    assert.equal(byRef(r, reports[0]!.resultsInterpreter[0].reference)?.resourceType, 'Practitioner');
    assert.equal(obs.length, 11);
  });

  test('NM with UCUM units, reference range and abnormal flags', () => {
    const g = byCode('2345-7');
    assert.deepEqual(g.valueQuantity, { value: 182, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' });
    assert.equal(g.referenceRange[0].low.value, 70);
    assert.equal(g.referenceRange[0].high.value, 99);
    assert.equal(g.interpretation[0].coding[0].code, 'H');
    assert.equal(g.interpretation[0].coding[0].system, 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation');
    assert.equal(g.status, 'final');
    assert.deepEqual(g.note, [{ text: 'Patient was not fasting.' }]);
    assert.equal(byRef(r, g.performer.at(-1).reference)?.resourceType, 'Organization');
    const k = byCode('2823-3');
    assert.equal(k.status, 'corrected');
    assert.equal(k.valueQuantity.code, 'mmol/L');
    assert.deepEqual(k.interpretation.map((i: J) => i.coding[0].code), ['L', 'A']);
  });

  test('ST, CWE, TX, CE values and statuses from OBX-11', () => {
    assert.equal(byCode('5778-6').valueString, 'Yellow');
    assert.equal(byCode('5778-6').status, 'preliminary');
    assert.equal(byCode('5802-4').valueCodeableConcept.coding[0].system, 'http://snomed.info/sct');
    assert.equal(byCode('5802-4').referenceRange[0].text, 'Negative');
    assert.equal(byCode('18769-0').valueString, 'Line one\nLine two');
    const cancelled = byCode('600-7');
    assert.equal(cancelled.status, 'cancelled');
    assert.equal(cancelled.valueCodeableConcept, undefined);
    assert.equal(cancelled.dataAbsentReason.coding[0].code, 'not-performed');
  });

  test('SN as comparator quantity and ratio; non-numeric NM kept as text', () => {
    assert.deepEqual(byCode('5799-2').valueQuantity, { value: 10, comparator: '<', unit: 'Leu/uL' });
    assert.equal(byCode('33914-3').valueQuantity.comparator, '>');
    assert.equal(byCode('33914-3').referenceRange[0].low.value, 60);
    assert.deepEqual(byCode('5767-9').valueRatio, { numerator: { value: 1 }, denominator: { value: 40 } });
    assert.equal(byCode('718-7').valueString, 'not a number');
  });

  test('observations inherit the report time and link patient and encounter', () => {
    const wbc = byCode('6690-2');
    assert.equal(wbc.effectiveDateTime, '2024-04-09T12:30:00+00:00');
    assert.equal(wbc.subject.reference, `Patient/${one(r, 'Patient').id}`);
    assert.equal(wbc.encounter.reference, `Encounter/${one(r, 'Encounter').id}`);
    assert.equal(wbc.category[0].coding[0].code, 'laboratory');
  });
});

describe('HL7 v2 batch conversion', () => {
  test('one result per message; errors stay per message', () => {
    const text = ['FHS|^~\\&', 'BHS|^~\\&', adt('A01'), ORU, 'MSH|bad', 'BTS|3', 'FTS|1'].join('\r');
    const results = convertHl7v2Batch(text);
    assert.equal(results.length, 3);
    assert.deepEqual(results.map((x) => x.ok), [true, true, false]);
    assert.equal(results[2]!.bundle.entry.length, 0);
    assert.equal(results[2]!.outcome.issue[0]!.severity, 'fatal');
  });
  test('an unparseable message is an error value, not a throw', () => {
    const r = convertHl7v2('not hl7 at all');
    assert.equal(r.ok, false);
    assert.equal(r.bundle.entry.length, 0);
    assert.match(r.outcome.issue[0]!.diagnostics!, /MSH/);
  });
});
