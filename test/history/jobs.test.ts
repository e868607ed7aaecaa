import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { startTestPlatform, type TestPlatform, type TestBuilder } from '../helpers/platform.ts';
import { startSimulator, type Simulator } from '../../src/networks/sim/server.ts';
import { DEFAULT_CORPORA } from '../../src/networks/sim/cli.ts';
import { startWorkers, stopWorkers, type Worker } from '../../src/server/workers.ts';
import { isValidNpi, parseTargetDate } from '../../src/history/rules.ts';

test('NPI check digit and targetDate rules', () => {
  assert.equal(isValidNpi('1013085661'), true);
  assert.equal(isValidNpi('1234567893'), true);
  assert.equal(isValidNpi('1234567890'), false);
  assert.equal(isValidNpi('123456789'), false);
  assert.equal(parseTargetDate('2023-09-01')?.toISOString(), '2023-09-01T00:01:00.000Z');
  assert.equal(parseTargetDate('2023-09-01T07:00:00Z')?.toISOString(), '2023-09-01T07:00:00.000Z');
  assert.equal(parseTargetDate('2023-09-01T07:00:00-04:00')?.toISOString(), '2023-09-01T11:00:00.000Z');
  assert.equal(parseTargetDate('2023-09-01T07:00:00'), null, 'a date-time needs a zone');
  assert.equal(parseTargetDate('2023-02-30'), null);
  assert.equal(parseTargetDate('tomorrow'), null);
});

const PRACTITIONER = { npi: '1013085661', name: 'Testfirstname Testlastname', role: '309343006' };

function patientOf(d: Simulator['people'][number]['demographics'], extra: Record<string, unknown> = {}) {
  return {
    resourceType: 'Patient',
    name: [{ use: 'official', family: d.family, given: [d.given] }],
    gender: d.gender,
    birthDate: d.birthDate,
    address: [{ line: [d.line], city: d.city, state: d.state, postalCode: d.postalCode, country: 'US' }],
    ...extra,
  };
}

describe('patient-history jobs', { skip: existsSync(DEFAULT_CORPORA) ? false : 'shared corpora not found' }, () => {
  let tp: TestPlatform;
  let sim: Simulator;
  let workers: Worker[];
  let b: TestBuilder;

  before(async () => {
    sim = await startSimulator({ corporaDir: DEFAULT_CORPORA, people: 40, seed: 3, documentsPerPerson: 2 });
    tp = await startTestPlatform({ domain: { history: { networkUrls: sim.urls, pollMs: 20, requestTimeoutMs: 2000 } } });
    workers = await startWorkers(tp.platform.services, tp.platform.domain);
    b = await tp.createBuilder();
  });
  after(async () => {
    await stopWorkers(workers);
    await tp.close();
    await sim.close();
  });

  const createPatient = async (body: unknown, who = b) => {
    const r = await who.fetch('/fhir/Patient', { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(body) });
    assert.equal(r.status, 201, await r.clone().text());
    return ((await r.json()) as { id: string }).id;
  };
  const postJob = (body: unknown, who = b) => who.fetch('/patient-history/jobs', { method: 'POST', headers: { 'content-type': 'application/vnd.api+json' }, body: JSON.stringify(body) });
  const jobBody = (patientId: string, attributes: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
    data: { type: 'patient-history/jobs', attributes: { requestConsent: true, practitioner: PRACTITIONER, ...attributes }, relationships: { patient: { data: { type: 'fhir/Patient', id: patientId } } }, ...extra },
  });
  const waitFinished = async (id: string, who = b) => {
    for (let i = 0; i < 400; i++) {
      const j = (await (await who.fetch(`/patient-history/jobs/${id}`)).json()) as any;
      if (j.data.attributes.status === 'done' || j.data.attributes.status === 'error') return j.data;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('job did not finish');
  };
  const personAt = (...nets: string[]) => sim.people.filter((p) => nets.every((n) => p.networks.includes(n as any)));

  test('validation errors', async () => {
    const p = personAt('commonwell')[0]!;
    const pid = await createPatient(patientOf(p.demographics));
    const both = await postJob(jobBody(pid, {}, { relationships: { patient: { data: { type: 'fhir/Patient', id: pid } }, practitioner: { data: { type: 'fhir/Practitioner', id: 'x' } } } }));
    assert.equal(both.status, 400);
    assert.match(((await both.json()) as any).errors[0].title, /both/);
    const badNpi = await postJob(jobBody(pid, { practitioner: { ...PRACTITIONER, npi: '1234567890' } }));
    assert.equal(badNpi.status, 422);
    const noConsent = await postJob(jobBody(pid, { requestConsent: false }));
    assert.equal(noConsent.status, 422);
    assert.match(((await noConsent.json()) as any).errors[0].title, /Consent/);
    const badDate = await postJob(jobBody(pid, {}, { targetDate: '2023-09-01T07:00:00' }));
    assert.equal(badDate.status, 422);
    const badType = await postJob(jobBody(pid, { chartBuildType: 'everything' }));
    assert.equal(badType.status, 422);
    const thin = await createPatient({ resourceType: 'Patient', name: [{ family: 'Only' }], gender: 'female' });
    const missing = await postJob(jobBody(thin));
    assert.equal(missing.status, 422);
    const errs = ((await missing.json()) as any).errors.map((e: any) => e.title);
    for (const f of ['first name', 'birth date', 'address line 1', 'city', 'state', 'zip']) assert.ok(errs.some((t: string) => t.includes(f)), `missing ${f} listed`);
    const other = await tp.createBuilder();
    const foreign = await postJob(jobBody(pid), other);
    assert.equal(foreign.status, 422, 'a patient of another builder is refused');
    const count = await tp.db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM patient_history_jobs');
    assert.equal(count.rows[0]!.n, 0, 'failed requests create nothing');
  });

  test('consent through an active Consent resource; practitioner through relationships', async () => {
    const p = personAt('commonwell')[1]!;
    const pid = await createPatient(patientOf(p.demographics));
    const consent = await b.fetch('/fhir/Consent', { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Consent', status: 'active', scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'treatment' }] }, category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }], patient: { reference: `Patient/${pid}` } }) });
    assert.equal(consent.status, 201, await consent.clone().text());
    const prac = await b.fetch('/fhir/Practitioner', { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Practitioner', identifier: [{ system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893' }], name: [{ family: 'Doe', given: ['Jane'] }] }) });
    const pracId = ((await prac.json()) as any).id;
    const r = await postJob({ data: { type: 'patient-history/jobs', attributes: { chartBuildType: 'pro-ehr-only' }, relationships: { patient: { data: { type: 'fhir/Patient', id: pid } }, practitioner: { data: { type: 'fhir/Practitioner', id: pracId } } } } });
    assert.equal(r.status, 201, await r.clone().text());
    const job = ((await r.json()) as any).data;
    assert.equal(job.relationships.practitioner.data.id, pracId);
    assert.deepEqual(job.attributes.providers.map((x: any) => x.service).sort(), ['carequality', 'commonwell']);
    await waitFinished(job.id);
  });

  test('a job pulls, converts and writes every network; a re-run writes nothing new', async () => {
    const p = personAt('commonwell', 'carequality', 'surescripts')[0]!;
    const pid = await createPatient(patientOf(p.demographics));
    const r = await postJob(jobBody(pid));
    assert.equal(r.status, 201);
    const created = ((await r.json()) as any).data;
    assert.equal(created.type, 'patient-history/jobs');
    assert.match(created.attributes.createdAt, /^\d+$/, 'createdAt is epoch seconds');
    assert.equal(created.relationships.patient.data.id, pid);
    const done = await waitFinished(created.id);
    assert.equal(done.attributes.status, 'done', JSON.stringify(done.attributes.providers));
    for (const prov of done.attributes.providers) {
      assert.equal(prov.status, 'done');
      assert.ok(prov.counts.resourcesWritten > 0, `${prov.service} wrote resources`);
    }
    const conditions = (await (await b.fetch(`/fhir/Condition?patient=Patient/${pid}&_count=500`)).json()) as any;
    assert.ok(conditions.entry?.length > 0, 'converted conditions are searchable');
    const c0 = conditions.entry[0].resource;
    assert.ok(c0.meta.tag.some((t: any) => t.system === 'https://zusapi.com/thirdparty/source' && ['commonwell', 'carequality'].includes(t.code)));
    assert.ok(c0.meta.tag.some((t: any) => t.system === 'https://zusapi.com/accesscontrol/owner' && t.code === `builder/${b.builderId}`));
    const meds = (await (await b.fetch(`/fhir/MedicationDispense?_tag=https://zusapi.com/thirdparty/source|surescripts&_count=500`)).json()) as any;
    assert.ok(meds.entry?.length > 0, 'pharmacy fills are written');
    const docs = (await (await b.fetch(`/fhir/DocumentReference?subject=Patient/${pid}&_count=500`)).json()) as any;
    assert.ok(docs.entry.length >= 3);
    const source = docs.entry.find((e: any) => String(e.resource.content?.[0]?.attachment?.url ?? '').startsWith('Binary/'));
    assert.ok(source, 'the original document is kept and described');
    const binaryUrl = source.resource.content[0].attachment.url;
    assert.equal((await b.fetch(`/fhir/${binaryUrl}`)).status, 200);
    const prov = (await (await b.fetch(`/fhir/Provenance?_count=500`)).json()) as any;
    assert.ok(prov.entry.length >= 3, 'every document has its Provenance');
    const imported = (await (await b.fetch(`/fhir/Patient?_tag=https://zusapi.com/thirdparty/source|commonwell,carequality,surescripts`)).json()) as any;
    assert.equal(imported.entry?.length ?? 0, 0, 'documents add no Patient: their data points at the builder\'s own');

    const total = async () => (await tp.db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM resources')).rows[0]!.n;
    const before = await total();
    const again = await waitFinished(((await (await postJob(jobBody(pid))).json()) as any).data.id);
    assert.equal(again.attributes.status, 'done');
    assert.equal(await total(), before, 're-running the job creates no duplicates');
    // EHR documents are byte-identical on re-run: nothing is rewritten. A pharmacy answer is a new message
    // (its notification time changes), so its fills are updated in place, never duplicated.
    for (const prov of again.attributes.providers.filter((x: any) => x.service !== 'surescripts')) assert.equal(prov.counts.resourcesWritten, 0);
  });

  test('fault kinds land in the statuses spec/002 requires', async () => {
    const people = personAt('commonwell', 'carequality');
    const run = async (i: number, f: Parameters<Simulator['setPersonFaults']>[2], network: 'commonwell' | 'carequality' = 'commonwell') => {
      const p = people[i]!;
      sim.setPersonFaults(p.id, network, f);
      const pid = await createPatient(patientOf(p.demographics));
      const j = ((await (await postJob(jobBody(pid, { chartBuildType: 'pro-ehr-only' }))).json()) as any).data;
      const done = await waitFinished(j.id);
      sim.setPersonFaults(p.id, network, null);
      return { job: done, provider: done.attributes.providers.find((x: any) => x.service === network) };
    };
    const notFound = await run(2, { notFoundDocuments: 'all' });
    assert.equal(notFound.provider.status, 'done', '404 on a listed document is not fatal');
    assert.ok(notFound.provider.counts.documentsNotFound > 0);
    const rejected = await run(3, { rejectDemographics: true });
    assert.equal(rejected.provider.status, 'error');
    assert.equal(rejected.job.attributes.status, 'error', 'one provider error makes the job error');
    const malformed = await run(4, { malformedDocuments: true });
    assert.equal(malformed.provider.status, 'error', 'failing to transform a document is fatal');
    assert.ok(malformed.provider.counts.documentsFailed > 0);
    const ambiguous = await run(5, { ambiguous: true });
    assert.equal(ambiguous.provider.status, 'done', 'no confident match = no data, not an error');
    assert.equal(ambiguous.provider.counts.documentsListed, 0);
    const invalid = await run(6, { invalidEntries: true });
    assert.equal(invalid.provider.status, 'done', 'resources failing validation are skipped, not fatal');

    await sim.setFaults('carequality', { outage: 'refused' });
    const p = people[7]!;
    const pid = await createPatient(patientOf(p.demographics));
    const j = await waitFinished(((await (await postJob(jobBody(pid, { chartBuildType: 'pro-ehr-only' }))).json()) as any).data.id);
    await sim.setFaults('carequality', null);
    assert.equal(j.attributes.providers.find((x: any) => x.service === 'carequality').status, 'error');
    assert.equal(j.attributes.providers.find((x: any) => x.service === 'commonwell').status, 'done');
    assert.equal(j.attributes.status, 'error');
  });

  test('scheduled jobs start ~36 h before targetDate; cancel before start; list and filters', async () => {
    const p = personAt('commonwell')[8]!;
    const pid = await createPatient(patientOf(p.demographics));
    const target = new Date(tp.clock.nowMs() + 72 * 3600_000);
    const r = await postJob(jobBody(pid, { chartBuildType: 'pro-ehr-only' }, { targetDate: target.toISOString() }));
    assert.equal(r.status, 201);
    const job = ((await r.json()) as any).data;
    assert.equal(job.attributes.scheduledFor, new Date(target.getTime() - 36 * 3600_000).toISOString());
    await new Promise((res) => setTimeout(res, 200));
    assert.equal(((await (await b.fetch(`/patient-history/jobs/${job.id}`)).json()) as any).data.attributes.status, 'initialize');
    const second = ((await (await postJob(jobBody(pid, { chartBuildType: 'pro-ehr-only' }, { targetDate: target.toISOString().slice(0, 10) }))).json()) as any).data;
    assert.equal((await b.fetch(`/patient-history/jobs/${second.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await b.fetch(`/patient-history/jobs/${second.id}`)).status, 404);
    tp.clock.advance(37 * 3600_000);
    b = await tp.createClient(b.builderId, 'Builder Admin'); // the old token expired on the fake clock
    const done = await waitFinished(job.id);
    assert.equal(done.attributes.status, 'done');
    assert.equal((await b.fetch(`/patient-history/jobs/${job.id}`, { method: 'DELETE' })).status, 409, 'a started job cannot be cancelled');

    const list = (await (await b.fetch(`/patient-history/jobs?filter[patient-id]=${pid}&page[count]=1`)).json()) as any;
    assert.equal(list.data.length, 1);
    assert.equal(list.data[0].id, job.id);
    const all = (await (await b.fetch('/patient-history/jobs?page[size]=2')).json()) as any;
    assert.ok(all.links.next, 'paging link');
    const created = all.data.map((d: any) => Number(d.attributes.createdAt));
    assert.ok(created[0] >= created[1], 'newest first');
    const errored = (await (await b.fetch('/patient-history/jobs?filter[status]=error&page[size]=100')).json()) as any;
    assert.ok(errored.data.every((d: any) => d.attributes.status === 'error'));
    const other = await tp.createBuilder();
    assert.equal((await other.fetch(`/patient-history/jobs/${job.id}`)).status, 404, 'jobs are per builder');
  });
});
