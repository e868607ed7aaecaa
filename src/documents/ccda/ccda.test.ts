import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { convertCcda } from './index.ts';
import { tsToDateTime, tsToDate, tsZone, withDocumentZone } from './datatypes.ts';
import { codeSystemUri } from './codes.ts';
import type { FhirResource } from '../types.ts';

const DOC = `<?xml version="1.0"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:sdtc="urn:hl7-org:sdtc" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <templateId root="2.16.840.1.113883.10.20.22.1.2" extension="2015-08-01"/>
  <id root="2.16.840.1.113883.19.5" extension="doc-1"/>
  <code code="34133-9" codeSystem="2.16.840.1.113883.6.1" displayName="Summary of episode note"/>
  <title>CCD</title>
  <effectiveTime value="20200301103000-0500"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
  <recordTarget><patientRole>
    <id root="2.16.840.1.113883.19.5.99999.2" extension="MRN-1"/>
    <id root="2.16.840.1.113883.4.1" extension="123-45-6789"/>
    <addr use="HP"><streetAddressLine>1 Main St</streetAddressLine><city>Portland</city><state>OR</state><postalCode>97000</postalCode></addr>
    <telecom use="MC" value="tel:+1(555)555-2003"/>
    <patient>
      <name use="L"><given>Eve</given><family>Betterhalf</family></name>
      <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/>
      <birthTime value="19750501"/>
      <raceCode code="2106-3" codeSystem="2.16.840.1.113883.6.238" displayName="White"/>
      <sdtc:raceCode code="2108-9" codeSystem="2.16.840.1.113883.6.238" displayName="European"/>
      <ethnicGroupCode code="2186-5" codeSystem="2.16.840.1.113883.6.238" displayName="Not Hispanic or Latino"/>
      <languageCommunication><languageCode code="en"/><preferenceInd value="true"/></languageCommunication>
    </patient>
  </patientRole></recordTarget>
  <author><time value="20200301"/><assignedAuthor><id root="2.16.840.1.113883.4.6" extension="1234567893"/>
    <assignedPerson><name><given>Henry</given><family>Seven</family></name></assignedPerson>
    <representedOrganization><name>Good Health Clinic</name></representedOrganization></assignedAuthor></author>
  <custodian><assignedCustodian><representedCustodianOrganization><id root="2.16.840.1.113883.19.5"/><name>Good Health Clinic</name></representedCustodianOrganization></assignedCustodian></custodian>
  <component><structuredBody>
    <component><section>
      <templateId root="2.16.840.1.113883.10.20.22.2.5.1"/>
      <code code="11450-4" codeSystem="2.16.840.1.113883.6.1"/>
      <title>Problems</title>
      <text><content ID="prob1">Essential hypertension</content></text>
      <entry><act classCode="ACT" moodCode="EVN"><templateId root="2.16.840.1.113883.10.20.22.4.3"/><id root="c1"/>
        <code code="CONC" codeSystem="2.16.840.1.113883.5.6"/><statusCode code="active"/>
        <entryRelationship typeCode="SUBJ"><observation classCode="OBS" moodCode="EVN">
          <templateId root="2.16.840.1.113883.10.20.22.4.4"/><id root="p1"/>
          <code code="55607006" codeSystem="2.16.840.1.113883.6.96"/>
          <statusCode code="completed"/>
          <effectiveTime><low value="201001011230-0500"/></effectiveTime>
          <value xsi:type="CD" code="59621000" codeSystem="2.16.840.1.113883.6.96" displayName="Essential hypertension">
            <originalText><reference value="#prob1"/></originalText>
            <translation code="I10" codeSystem="2.16.840.1.113883.6.90"/>
          </value>
        </observation></entryRelationship>
      </act></entry>
      <entry><act classCode="ACT" moodCode="EVN"><templateId root="2.16.840.1.113883.10.20.22.4.3"/><id root="c1"/>
        <code code="CONC" codeSystem="2.16.840.1.113883.5.6"/><statusCode code="active"/>
        <entryRelationship typeCode="SUBJ"><observation classCode="OBS" moodCode="EVN">
          <templateId root="2.16.840.1.113883.10.20.22.4.4"/><id root="p1"/>
          <code code="55607006" codeSystem="2.16.840.1.113883.6.96"/>
          <value xsi:type="CD" code="59621000" codeSystem="2.16.840.1.113883.6.96" displayName="Essential hypertension"/>
        </observation></entryRelationship>
      </act></entry>
    </section></component>
    <component><section>
      <code code="8716-3" codeSystem="2.16.840.1.113883.6.1"/>
      <title>Vitals</title>
      <entry><organizer classCode="CLUSTER" moodCode="EVN"><id root="v0"/><statusCode code="completed"/><effectiveTime value="20200301"/>
        <component><observation classCode="OBS" moodCode="EVN"><id root="v1"/>
          <code code="8480-6" codeSystem="2.16.840.1.113883.6.1" displayName="Systolic"/>
          <statusCode code="completed"/><effectiveTime value="20200301"/>
          <value xsi:type="PQ" value="120" unit="mm[Hg]"/>
        </observation></component>
      </organizer></entry>
    </section></component>
  </structuredBody></component>
</ClinicalDocument>`;

function byType(r: ReturnType<typeof convertCcda>, type: string): FhirResource[] {
  return r.bundle.entry.map((e) => e.resource).filter((x) => x.resourceType === type);
}

describe('convertCcda', () => {
  test('header → Patient with US Core race/ethnicity, identifiers, telecom, language', () => {
    const r = convertCcda(DOC);
    assert.equal(r.ok, true);
    const [p] = byType(r, 'Patient');
    assert.deepEqual(p.name, [{ use: 'official', family: 'Betterhalf', given: ['Eve'] }]);
    assert.equal(p.gender, 'female');
    assert.equal(p.birthDate, '1975-05-01');
    assert.deepEqual((p.identifier as unknown[])[1], { system: 'http://hl7.org/fhir/sid/us-ssn', value: '123-45-6789' });
    assert.deepEqual(p.telecom, [{ system: 'phone', value: '+1(555)555-2003', use: 'mobile' }]);
    const race = (p.extension as { url: string; extension: { url: string }[] }[]).find((e) => e.url.endsWith('us-core-race'))!;
    assert.deepEqual(race.extension.map((e) => e.url), ['ombCategory', 'detailed', 'text']);
    assert.equal(((p.communication as { language: { coding: { code: string }[] } }[])[0]).language.coding[0].code, 'en');
    const [prac] = byType(r, 'Practitioner');
    assert.deepEqual((prac.identifier as unknown[])[0], { system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893' });
    assert.equal(byType(r, 'Composition').length, 1);
    assert.equal(byType(r, 'Composition')[0].date, '2020-03-01T10:30:00-05:00');
  });

  test('problems: code + translation + originalText from narrative, dates with zone, duplicates merged', () => {
    const r = convertCcda(DOC);
    const conditions = byType(r, 'Condition');
    assert.equal(conditions.length, 1, 'the repeated entry is merged');
    const c = conditions[0];
    assert.deepEqual(c.code, {
      coding: [{ system: 'http://snomed.info/sct', code: '59621000', display: 'Essential hypertension' }, { system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'I10' }],
      text: 'Essential hypertension',
    });
    assert.equal(c.onsetDateTime, '2010-01-01T12:30:00-05:00');
    assert.equal((c.clinicalStatus as { coding: { code: string }[] }).coding[0].code, 'active');
    const patient = byType(r, 'Patient')[0];
    assert.deepEqual(c.subject, { reference: `Patient/${patient.id}` });
  });

  test('vital signs: panel with hasMember and UCUM quantity', () => {
    const r = convertCcda(DOC);
    const obs = byType(r, 'Observation');
    const panel = obs.find((o) => (o.code as { coding: { code: string }[] }).coding[0].code === '85353-1')!;
    const sys = obs.find((o) => (o.code as { coding: { code: string }[] }).coding[0].code === '8480-6')!;
    assert.deepEqual(panel.hasMember, [{ reference: `Observation/${sys.id}` }]);
    assert.deepEqual(sys.valueQuantity, { value: 120, unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' });
  });

  test('deterministic ids; the namespace separates importers', () => {
    const a = convertCcda(DOC);
    const b = convertCcda(DOC);
    const c = convertCcda(DOC, { idNamespace: 'builder-2' });
    const ids = (x: typeof a): string[] => x.bundle.entry.map((e) => e.resource.id!).sort();
    assert.deepEqual(ids(a), ids(b));
    assert.equal(ids(a).filter((id) => ids(c).includes(id)).length, 0);
    for (const id of ids(a)) assert.match(id, /^[A-Za-z0-9\-.]{1,64}$/);
  });

  test('stats and outcome', () => {
    const r = convertCcda(DOC);
    assert.equal(r.stats.resourcesByType.Patient, 1);
    assert.equal(r.stats.dropped, 0);
    assert.ok(r.outcome.issue.length > 0);
  });

  test('malformed or foreign input → ok:false with a reason, never a throw', () => {
    for (const bad of ['', 'not xml', '<ClinicalDocument>', '<Message xmlns="http://www.ncpdp.org/schema/SCRIPT"/>', DOC.slice(0, 2000)]) {
      const r = convertCcda(bad);
      assert.equal(r.ok, false, bad.slice(0, 40));
      assert.equal(r.bundle.entry.length, 0);
      assert.equal(r.outcome.issue[0].severity, 'fatal');
    }
  });

  test('fragments (a section alone) convert against a Patient without demographics', () => {
    const section = DOC.slice(DOC.indexOf('<section>'), DOC.indexOf('</section>') + '</section>'.length);
    const r = convertCcda(section);
    assert.equal(r.ok, true);
    assert.equal(byType(r, 'Condition').length, 1);
    assert.equal(byType(r, 'Patient').length, 1);
    assert.ok(r.outcome.issue.some((i) => i.severity === 'warning' && /fragment/i.test(i.diagnostics ?? '')));
  });
});

describe('vendor documents without templateIds', () => {
  test('entries are mapped by section LOINC code and entry class', () => {
    const doc = `<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
      <id root="9.9.9" extension="v1"/><effectiveTime value="20200101"/>
      <recordTarget><patientRole><id root="9.9.9.1" extension="p"/><patient><name><family>X</family></name></patient></patientRole></recordTarget>
      <component><structuredBody>
        <component><section><code code="11450-4" codeSystem="2.16.840.1.113883.6.1"/>
          <entry><observation classCode="OBS" moodCode="EVN"><code code="55607006" codeSystem="2.16.840.1.113883.6.96"/>
            <value xsi:type="CD" code="E11.9" codeSystemName="ICD-10-CM" displayName="Type 2 diabetes"/></observation></entry>
        </section></component>
        <component><section><code code="10160-0" codeSystem="2.16.840.1.113883.6.1"/>
          <entry><substanceAdministration classCode="SBADM" moodCode="EVN"><statusCode code="active"/>
            <consumable><manufacturedProduct><manufacturedMaterial><code nullFlavor="OTH"><originalText>Metformin 500 mg tablet</originalText></code></manufacturedMaterial></manufacturedProduct></consumable>
          </substanceAdministration></entry>
        </section></component>
        <component><section><code code="30954-2" codeSystem="2.16.840.1.113883.6.1"/>
          <entry><organizer classCode="BATTERY" moodCode="EVN"><code code="24323-8" codeSystem="2.16.840.1.113883.6.1"/><statusCode code="completed"/>
            <component><observation classCode="OBS" moodCode="EVN"><code code="2345-7" codeSystem="2.16.840.1.113883.6.1"/><effectiveTime value="20200101"/>
              <value xsi:type="PQ" value="98" unit="mg/dL"/></observation></component>
          </organizer></entry>
        </section></component>
      </structuredBody></component></ClinicalDocument>`;
    const r = convertCcda(doc);
    assert.equal(r.ok, true);
    const [cond] = byType(r, 'Condition');
    assert.deepEqual((cond.code as { coding: unknown[] }).coding[0], { system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'E11.9', display: 'Type 2 diabetes' });
    const [stmt] = byType(r, 'MedicationStatement');
    assert.equal(stmt.status, 'active');
    const [med] = byType(r, 'Medication');
    assert.deepEqual(med.code, { text: 'Metformin 500 mg tablet' });
    const [report] = byType(r, 'DiagnosticReport');
    assert.equal((report.result as unknown[]).length, 1);
    assert.equal(report.effectiveDateTime, '2020-01-01');
  });
});

describe('parties', () => {
  test('an NPI root without a number does not make different people one Practitioner', () => {
    const author = (family: string) => `<author><time value="20200101"/><assignedAuthor><id root="2.16.840.1.113883.4.6"/><assignedPerson><name><family>${family}</family></name></assignedPerson></assignedAuthor></author>`;
    const doc = DOC.replace('<custodian>', author('Alpha') + author('Beta') + '<custodian>');
    const names = byType(convertCcda(doc), 'Practitioner').map((p) => (p.name as { family: string }[])[0].family).sort();
    assert.deepEqual(names, ['Alpha', 'Beta', 'Seven']);
  });
});

describe('data types', () => {
  test('HL7 TS → FHIR dateTime/date keeps precision and zone', () => {
    assert.equal(tsToDateTime('20200301103000-0500'), '2020-03-01T10:30:00-05:00');
    assert.equal(tsToDateTime('20200301'), '2020-03-01');
    assert.equal(tsToDateTime('202003'), '2020-03');
    assert.equal(tsToDateTime('2020'), '2020');
    assert.equal(tsToDateTime('20200301103000'), '2020-03-01', 'a time without a zone is kept to the day');
    assert.equal(tsToDateTime('20200301103000.25+0130'), '2020-03-01T10:30:00.25+01:30');
    assert.equal(tsToDateTime('20201345'), '2020');
    assert.equal(tsToDateTime('garbage'), undefined);
    assert.equal(tsToDate('20200301103000-0500'), '2020-03-01');
    // Inside a document whose effectiveTime has a zone, zoneless times take that zone.
    assert.equal(withDocumentZone('-0500', () => tsToDateTime('20200301103000')), '2020-03-01T10:30:00-05:00');
    assert.equal(withDocumentZone('-0500', () => tsToDateTime('20200301')), '2020-03-01');
    assert.equal(tsZone('20200301103000-0500'), '-0500');
    assert.equal(tsZone('20200301'), undefined);
  });

  test('OID → system URI', () => {
    assert.equal(codeSystemUri('2.16.840.1.113883.6.1'), 'http://loinc.org');
    assert.equal(codeSystemUri('2.16.840.1.113883.6.96'), 'http://snomed.info/sct');
    assert.equal(codeSystemUri('2.16.840.1.113883.6.88'), 'http://www.nlm.nih.gov/research/umls/rxnorm');
    assert.equal(codeSystemUri('2.16.840.1.113883.12.292'), 'http://hl7.org/fhir/sid/cvx');
    assert.equal(codeSystemUri('1.2.3.4'), 'urn:oid:1.2.3.4');
  });
});

describe('header encounter', () => {
  const serviceEvent = `<documentationOf><serviceEvent classCode="PCPR"><id root="9.9.9.2" extension="se-1"/>
    <code code="73761001" codeSystem="2.16.840.1.113883.6.96" displayName="Colonoscopy"/>
    <effectiveTime><low value="20200301090000-0500"/><high value="20200301100000-0500"/></effectiveTime>
    <performer typeCode="PPRF"><assignedEntity><id root="2.16.840.1.113883.4.6" extension="1111111112"/>
      <assignedPerson><name><given>Ann</given><family>Surgeon</family></name></assignedPerson></assignedEntity></performer>
  </serviceEvent></documentationOf>`;

  test('documentationOf/serviceEvent becomes the Encounter of an encounter document without encompassingEncounter', () => {
    const doc = DOC.replace('<templateId root="2.16.840.1.113883.10.20.22.1.2" extension="2015-08-01"/>', '<templateId root="2.16.840.1.113883.10.20.22.1.6" extension="2015-08-01"/>')
      .replace('<component><structuredBody>', `${serviceEvent}<component><structuredBody>`);
    const r = convertCcda(doc);
    assert.equal(r.ok, true);
    const [enc, ...more] = byType(r, 'Encounter').filter((e) => (e.identifier as { value?: string }[] | undefined)?.[0]?.value === 'se-1');
    assert.ok(enc, 'an Encounter from the serviceEvent');
    assert.equal(more.length, 0);
    assert.equal(enc.status, 'finished');
    assert.deepEqual(enc.period, { start: '2020-03-01T09:00:00-05:00', end: '2020-03-01T10:00:00-05:00' });
    assert.equal((enc.type as { coding: { code: string }[] }[])[0]!.coding[0]!.code, '73761001');
    const part = (enc.participant as { type: { coding: { code: string }[] }[]; individual: { reference: string } }[])[0]!;
    assert.equal(part.type[0]!.coding[0]!.code, 'PPRF');
    assert.match(part.individual.reference, /^Practitioner\//);
    const [comp] = byType(r, 'Composition');
    assert.equal((comp.encounter as { reference: string }).reference, `Encounter/${enc.id}`);
  });

  test("a CCD's care-provision serviceEvent is not an encounter", () => {
    const r = convertCcda(DOC.replace('<component><structuredBody>', `${serviceEvent}<component><structuredBody>`));
    assert.equal(r.ok, true);
    assert.equal(byType(r, 'Encounter').filter((e) => (e.identifier as { value?: string }[] | undefined)?.[0]?.value === 'se-1').length, 0);
    assert.equal(byType(r, 'Composition')[0]!.encounter, undefined);
  });

  test('encompassingEncounter wins over the serviceEvent', () => {
    const doc = DOC.replace('<templateId root="2.16.840.1.113883.10.20.22.1.2" extension="2015-08-01"/>', '<templateId root="2.16.840.1.113883.10.20.22.1.9"/>')
      .replace('<component><structuredBody>', `${serviceEvent}<componentOf><encompassingEncounter><id root="9.9.9.3" extension="enc-1"/><effectiveTime value="20200301"/></encompassingEncounter></componentOf><component><structuredBody>`);
    const ids = byType(convertCcda(doc), 'Encounter').map((e) => (e.identifier as { value?: string }[] | undefined)?.[0]?.value);
    assert.ok(ids.includes('enc-1'));
    assert.ok(!ids.includes('se-1'));
  });

  test('a second recordTarget is reported, not silently dropped', () => {
    const second = '<recordTarget><patientRole><id root="9.9.9.1" extension="twin-b"/><patient><name><family>Twin</family></name></patient></patientRole></recordTarget>';
    const r = convertCcda(DOC.replace('<author>', `${second}<author>`));
    assert.equal(r.ok, true);
    assert.equal(byType(r, 'Patient').length, 1);
    assert.ok(r.outcome.issue.some((i) => i.code === 'not-supported' && /recordTarget/.test(i.diagnostics ?? '') && (i.expression ?? []).some((x) => x.includes('twin-b'))));
  });
});
