// Issue 6 → UPI: a patient-history job's network discovery records the network identity, and two builders'
// Patients the network calls the same person end up with one UPID even when their own demographics are too
// different to link on their own.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestPlatform, type TestPlatform, type TestBuilder } from '../helpers/platform.ts';
import { UPID } from './helpers.ts';
import { HistoryRunner, type Connectors } from '../../src/history/runner.ts';
import type { EhrConnector } from '../../src/networks/connectors/types.ts';

const PRACTITIONER = { npi: '1013085661', name: 'Testfirstname Testlastname', role: '309343006' };

describe('network identities from patient-history discovery', () => {
  let tp: TestPlatform;
  let a: TestBuilder;
  let b: TestBuilder;
  before(async () => {
    tp = await startTestPlatform();
    a = await tp.createBuilder();
    b = await tp.createBuilder();
  });
  after(async () => { await tp.close(); });

  const newJob = async (who: TestBuilder, d: { given: string; family: string; birthDate: string; line: string; city: string; state: string; postalCode: string }) => {
    const body = { resourceType: 'Patient', name: [{ family: d.family, given: [d.given] }], gender: 'female', birthDate: d.birthDate, address: [{ line: [d.line], city: d.city, state: d.state, postalCode: d.postalCode }] };
    const r = await who.fetch('/fhir/Patient', { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(body) });
    assert.equal(r.status, 201);
    const pid = ((await r.json()) as { id: string }).id;
    const j = await who.fetch('/patient-history/jobs', { method: 'POST', headers: { 'content-type': 'application/vnd.api+json' }, body: JSON.stringify({ data: { type: 'patient-history/jobs', attributes: { requestConsent: true, practitioner: PRACTITIONER, chartBuildType: 'pro-ehr-only' }, relationships: { patient: { data: { type: 'fhir/Patient', id: pid } } } } }) });
    assert.equal(j.status, 201, await j.clone().text());
    return { jobId: ((await j.json()) as any).data.id as string, pid };
  };
  const upidOf = async (who: TestBuilder, pid: string) => ((await (await who.fetch(`/fhir/Patient/${pid}`)).json()) as any).identifier.find((i: any) => i.system === UPID).value as string;

  test('two builders\' Patients discovered as the same network person share a UPID', async () => {
    const ja = await newJob(a, { given: 'Josephine', family: 'Marchetti', birthDate: '1991-07-08', line: '40 Elm St', city: 'Austin', state: 'TX', postalCode: '78701' });
    const jb = await newJob(b, { given: 'Josie', family: 'Marchetti-Rossi', birthDate: '1991-07-18', line: '9 Oak Rd', city: 'Denver', state: 'CO', postalCode: '80202' });
    assert.notEqual(await upidOf(a, ja.pid), await upidOf(b, jb.pid), 'demographics alone do not link them');
    const ehr: EhrConnector = {
      service: 'commonwell',
      discover: async () => ({ networkPatientId: 'cw-person-9', score: 0.96, identifier: { system: 'urn:oid:2.16.840.1.113883.3.3330', value: 'CW9' } }),
      listDocuments: async () => [],
      retrieve: async (d) => ({ found: false, id: d.id, status: 404 }),
    };
    const connectors: Connectors = { ehr: { commonwell: ehr }, pharmacy: {} };
    const runner = new HistoryRunner(tp.db, tp.clock, tp.platform.domain.store, connectors, tp.platform.services.logger);
    runner.upi = tp.platform.domain.upi;
    await runner.run(ja.jobId, 'commonwell');
    await runner.run(jb.jobId, 'commonwell');
    const rows = (await tp.db.query<{ network_person_id: string; patient_id: string }>("SELECT network_person_id, patient_id FROM upi_network_identities WHERE network = 'commonwell' ORDER BY patient_id")).rows;
    assert.deepEqual(rows.map((r) => r.network_person_id), ['urn:oid:2.16.840.1.113883.3.3330|CW9', 'urn:oid:2.16.840.1.113883.3.3330|CW9']);
    assert.equal(await upidOf(a, ja.pid), await upidOf(b, jb.pid), 'the network identity linked them');
    const reasons = (await tp.db.query<{ reason: string; actor: string }>('SELECT reason, actor FROM upi_assignments WHERE patient_id = ANY($1::text[]) ORDER BY seq', [[ja.pid, jb.pid]])).rows;
    assert.ok(reasons.some((r) => r.reason === 'network' && r.actor === 'network:commonwell'), JSON.stringify(reasons));
  });
});
