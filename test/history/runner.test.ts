// The provider runner against scripted connectors (no simulator): the spec/002 error rules for the cases the
// simulator cannot stage — one document failing to download among good ones, a network that stops answering
// half-way, converter output that fails validation — and the counts recorded on the job.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { startTestPlatform, type TestPlatform, type TestBuilder } from '../helpers/platform.ts';
import { DEFAULT_CORPORA } from '../../src/networks/sim/cli.ts';
import { loadCcdaTemplates, personalizeCcda } from '../../src/networks/sim/ccda.ts';
import { rxHistoryResponse, fillHistory } from '../../src/networks/sim/ncpdp.ts';
import { convertCcda } from '../../src/documents/ccda/index.ts';
import { deterministicUuid } from '../../src/platform/ids.ts';
import { HistoryRunner, systemContext, type Connectors } from '../../src/history/runner.ts';
import { importDocument } from '../../src/history/importer.ts';
import type { ConversionResult } from '../../src/documents/types.ts';
import { ConnectorError, type DocumentListing, type EhrConnector, type PharmacyConnector } from '../../src/networks/connectors/types.ts';

const PRACTITIONER = { npi: '1013085661', name: 'Testfirstname Testlastname', role: '309343006' };
const DEMO = { given: 'Ada', family: 'Runner', birthDate: '1970-03-21', gender: 'female' as const, line: '1 Main St', city: 'Boston', state: 'MA', postalCode: '02118' };

describe('patient-history runner (scripted connectors)', { skip: existsSync(DEFAULT_CORPORA) ? false : 'shared corpora not found' }, () => {
  let tp: TestPlatform;
  let b: TestBuilder;
  let xml: string;

  before(async () => {
    tp = await startTestPlatform();
    b = await tp.createBuilder();
    const t = loadCcdaTemplates(DEFAULT_CORPORA)[0]!;
    xml = personalizeCcda(t, DEMO, 'p-1', 'commonwell', 'doc');
  });
  after(async () => {
    await tp.close();
  });

  /** A job whose queued provider runs are never picked up (no workers): the test runs them by hand. */
  const newJob = async (chartBuildType: string) => {
    const r = await b.fetch('/fhir/Patient', { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Patient', name: [{ family: DEMO.family, given: [DEMO.given] }], gender: DEMO.gender, birthDate: DEMO.birthDate, address: [{ line: [DEMO.line], city: DEMO.city, state: DEMO.state, postalCode: DEMO.postalCode }] }) });
    const pid = ((await r.json()) as { id: string }).id;
    const j = await b.fetch('/patient-history/jobs', { method: 'POST', headers: { 'content-type': 'application/vnd.api+json' }, body: JSON.stringify({ data: { type: 'patient-history/jobs', attributes: { requestConsent: true, practitioner: PRACTITIONER, chartBuildType }, relationships: { patient: { data: { type: 'fhir/Patient', id: pid } } } } }) });
    assert.equal(j.status, 201);
    return { jobId: ((await j.json()) as any).data.id as string, pid };
  };
  const runner = (connectors: Connectors) => new HistoryRunner(tp.db, tp.clock, tp.platform.domain.store, connectors, tp.platform.services.logger);
  const jobOf = async (id: string) => ((await (await b.fetch(`/patient-history/jobs/${id}`)).json()) as any).data;
  const listing = (id: string): DocumentListing => ({ id, url: `sim://${id}`, contentType: 'application/xml', typeCode: '34133-9', date: '2026-01-02T00:00:00Z' });

  test('one document failing to download: the others are imported, the provider is error, the job error', async () => {
    const { jobId } = await newJob('pro-ehr-only');
    const docs = ['a', 'b', 'c'].map(listing);
    const ehr = (service: 'commonwell' | 'carequality', failing: string[]): EhrConnector => ({
      service,
      discover: async () => ({ networkPatientId: 'n1', score: 1 }),
      listDocuments: async () => docs,
      retrieve: async (d) => {
        if (failing.includes(d.id)) throw new ConnectorError('protocol', `${service} document retrieval answered 500`);
        return { found: true, id: d.id, contentType: 'application/xml', content: xml };
      },
    });
    const r = runner({ ehr: { commonwell: ehr('commonwell', ['b']), carequality: ehr('carequality', []) }, pharmacy: {} });
    await r.run(jobId, 'commonwell');
    let job = await jobOf(jobId);
    const cw = job.attributes.providers.find((p: any) => p.service === 'commonwell');
    assert.equal(cw.status, 'error');
    assert.equal(cw.counts.documentsListed, 3);
    assert.equal(cw.counts.documentsRetrieved, 2);
    assert.equal(cw.counts.documentsFailed, 1);
    assert.ok(cw.counts.resourcesWritten > 0, 'the other documents were imported');
    assert.match(cw.errors.join(' '), /document b: could not be retrieved/);
    assert.equal(job.attributes.status, 'in_progress', 'the umbrella job is finished only when every provider is');
    await r.run(jobId, 'carequality');
    job = await jobOf(jobId);
    const cq = job.attributes.providers.find((p: any) => p.service === 'carequality');
    assert.equal(cq.status, 'done');
    // three documents with the same clinical content in one batch: each shared resource written once
    assert.equal(cq.counts.documentsRetrieved, 3);
    assert.ok(cq.counts.resourcesUnchanged > 0, JSON.stringify(cq.counts));
    const ids = (await tp.db.query<{ n: number; d: number }>("SELECT count(*)::int AS n, count(DISTINCT (type, id))::int AS d FROM resources WHERE source = 'carequality'")).rows[0]!;
    assert.equal(ids.n, ids.d);
    assert.equal(cq.counts.resourcesWritten, ids.n, 'what was written is what is stored');
    assert.equal(job.attributes.status, 'error', 'one provider error makes the job error');
    // done_with_errors (a status string ctw knows) is never produced; filtering on it is not an error
    const dwe = await b.fetch('/patient-history/jobs?filter[status]=done_with_errors');
    assert.equal(dwe.status, 200);
    assert.deepEqual(((await dwe.json()) as any).data, []);
    const all = ((await (await b.fetch('/patient-history/jobs?page[size]=100')).json()) as any).data;
    assert.ok(all.every((j: any) => ['initialize', 'in_progress', 'done', 'error'].includes(j.attributes.status)));
  });

  test('the store refuses one document of a batch: the others are still written, the provider is error', async () => {
    const { jobId, pid } = await newJob('pro-ehr-only');
    const templates = loadCcdaTemplates(DEFAULT_CORPORA);
    const xml2 = personalizeCcda(templates[1]!, DEMO, 'p-1', 'commonwell', 'doc2');
    // Another builder already holds an id that the second document converts to: the store refuses that write (409).
    const ns = `${b.builderId}|${pid}|commonwell`;
    const taken = convertCcda(xml2, { idNamespace: ns }).bundle.entry.map((e) => e.resource).find((r) => r.resourceType === 'Organization' || r.resourceType === 'Practitioner')!;
    assert.ok(taken, 'the second template has an Organization or Practitioner');
    const other = await tp.createBuilder();
    const put = await other.fetch(`/fhir/${taken.resourceType}/${taken.id}`, { method: 'PUT', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: taken.resourceType, id: taken.id, name: taken.resourceType === 'Organization' ? 'Elsewhere' : [{ family: 'Elsewhere' }] }) });
    assert.equal(put.status, 201, await put.clone().text());
    const ehr: EhrConnector = {
      service: 'commonwell',
      discover: async () => ({ networkPatientId: 'n1', score: 1 }),
      listDocuments: async () => ['one', 'two'].map(listing),
      retrieve: async (d) => ({ found: true, id: d.id, contentType: 'application/xml', content: d.id === 'one' ? xml : xml2 }),
    };
    await runner({ ehr: { commonwell: ehr }, pharmacy: {} }).run(jobId, 'commonwell');
    const cw = (await jobOf(jobId)).attributes.providers.find((p: any) => p.service === 'commonwell');
    assert.equal(cw.status, 'error');
    assert.equal(cw.counts.documentsRetrieved, 2);
    assert.equal(cw.counts.documentsFailed, 1);
    assert.match(cw.errors.join(' '), /document two: could not be loaded/);
    assert.ok(cw.counts.resourcesWritten > 0, 'document one was written');
    const binary = (doc: string) => b.fetch(`/fhir/Binary/${deterministicUuid(ns, `binary|commonwell:${doc}`)}`);
    assert.equal((await binary('one')).status, 200, 'the first document is kept');
    assert.equal((await binary('two')).status, 404, 'nothing of the refused one');
  });

  test('a network that stops answering mid-list: retrieval stops after two unreachable documents', async () => {
    const { jobId } = await newJob('pro-ehr-only');
    let calls = 0;
    const ehr: EhrConnector = {
      service: 'commonwell',
      discover: async () => ({ networkPatientId: 'n1', score: 1 }),
      listDocuments: async () => ['a', 'b', 'c', 'd', 'e'].map(listing),
      retrieve: async (d) => {
        calls++;
        if (d.id !== 'a') throw new ConnectorError('unreachable', 'commonwell unreachable: ECONNREFUSED');
        return { found: true, id: d.id, contentType: 'application/xml', content: xml };
      },
    };
    await runner({ ehr: { commonwell: ehr }, pharmacy: {} }).run(jobId, 'commonwell');
    const cw = (await jobOf(jobId)).attributes.providers.find((p: any) => p.service === 'commonwell');
    assert.equal(cw.status, 'error');
    assert.equal(calls, 3, 'a, then two unreachable, then stop');
    assert.equal(cw.counts.documentsRetrieved, 1);
    assert.equal(cw.counts.documentsFailed, 2);
  });

  test('pharmacy history: done with counts; a re-run (after a lost lease) writes nothing and duplicates nothing', async () => {
    const { jobId, pid } = await newJob('pro-pharmacy-only');
    const xml = rxHistoryResponse({ messageId: 'm1', relatesTo: 'r1', sentTime: '2026-01-02T00:00:00Z', patient: DEMO, fills: fillHistory(7, '2026-01-01', 3) });
    const pharmacy: PharmacyConnector = { service: 'surescripts', medicationHistory: async () => ({ found: true, xml, messageId: 'm1' }) };
    const r = runner({ ehr: {}, pharmacy: { surescripts: pharmacy } });
    await r.run(jobId, 'surescripts');
    const job = await jobOf(jobId);
    const ss = job.attributes.providers[0];
    assert.equal(ss.status, 'done', JSON.stringify(ss));
    assert.equal(job.attributes.status, 'done');
    assert.equal(ss.counts.documentsRetrieved, 1);
    assert.ok(ss.counts.resourcesWritten > 0);
    const count = async () => ((await (await b.fetch(`/fhir/MedicationDispense?patient=${pid}&_summary=count`)).json()) as any).total as number;
    const before = await count();
    assert.ok(before > 0);
    await tp.db.query("UPDATE patient_history_providers SET status = 'in_progress' WHERE job_id = $1", [jobId]);
    await r.run(jobId, 'surescripts');
    const again = (await jobOf(jobId)).attributes.providers[0];
    assert.equal(again.status, 'done');
    assert.equal(again.counts.resourcesWritten, 0);
    assert.ok(again.counts.resourcesUnchanged > 0);
    assert.equal(await count(), before);
  });

  test('importer: output of a converter that does not validate is validated; invalid resources are dropped and counted', async () => {
    const { pid } = await newJob('pro-pharmacy-only');
    const ok = { resourceType: 'Condition', id: 'c-ok', subject: { reference: 'Patient/doc-patient' }, code: { text: 'Asthma' } };
    const invalid = { resourceType: 'Observation', id: 'o-bad', subject: { reference: 'Patient/doc-patient' }, effectiveDateTime: '2025-13-45' }; // no status, no code, bad date
    const result: ConversionResult = {
      ok: true,
      bundle: { resourceType: 'Bundle', type: 'collection', entry: [{ fullUrl: 'urn:uuid:p', resource: { resourceType: 'Patient', id: 'doc-patient' } }, { fullUrl: 'urn:uuid:c', resource: ok }, { fullUrl: 'urn:uuid:o', resource: invalid }] },
      outcome: { resourceType: 'OperationOutcome', issue: [] },
      stats: { resourcesByType: {}, dropped: 1, droppedByType: {} },
    };
    const ctx = systemContext(b.builderId, 'test');
    const doc = { source: 'surescripts', documentId: 'test:1', contentType: 'application/xml', content: '<x/>' };
    const c = await importDocument(tp.db, tp.platform.domain.store, ctx, pid, doc, result, `ns-${pid}`);
    assert.deepEqual(c, { written: 4, unchanged: 0, skippedInvalid: 2 }, 'Condition + Binary + DocumentReference + Provenance; 1 dropped by the converter, 1 here');
    const cond = ((await (await b.fetch('/fhir/Condition/c-ok')).json()) as any);
    assert.equal(cond.subject.reference, `Patient/${pid}`, 're-pointed at the builder patient');
    assert.equal((await b.fetch('/fhir/Observation/o-bad')).status, 404);
  });
});

