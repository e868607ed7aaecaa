// End-to-end: the network simulator and the platform run as separate processes (the real CLI) and the test
// drives them only through HTTP — validation errors, every fault kind, idempotent re-runs, a scheduled job on
// the platform's adjustable clock, and a platform killed (SIGKILL) in the middle of a job.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { DEFAULT_CORPORA } from '../../src/networks/sim/cli.ts';
import { Client, E2E_ADMIN, e2eDatabase, freePort, startPlatformProcess, startSimulatorProcess } from '../helpers/processes.ts';

type Person = { id: string; networks: string[]; demographics: Record<string, string>; documents: { id: string; network: string }[] };
const PRACTITIONER = { npi: '1013085661', name: 'Testfirstname Testlastname', role: '309343006' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('patient history end to end (separate processes)', { skip: existsSync(DEFAULT_CORPORA) ? false : 'shared corpora not found' }, () => {
  let sim: Awaited<ReturnType<typeof startSimulatorProcess>>;
  let platform: Awaited<ReturnType<typeof startPlatformProcess>>;
  let db: Awaited<ReturnType<typeof e2eDatabase>>;
  let env: Record<string, string>;
  let port: number;
  let admin: Client;
  let me: Client;
  let clientId: string;
  let clientSecret: string;
  let people: Person[];
  let next = 0;

  const login = async () => { me = await Client.login(platform.url, clientId, clientSecret); admin = await Client.login(platform.url, E2E_ADMIN.id, E2E_ADMIN.secret); };
  const simAdmin = (method: string, path: string, body?: unknown) => fetch(sim.admin + path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  const person = (...nets: string[]) => {
    for (; next < people.length; ) {
      const p = people[next++]!;
      if (nets.every((n) => p.networks.includes(n))) return p;
    }
    throw new Error('ran out of simulated people');
  };
  const createPatient = async (d: Record<string, string | undefined>) => {
    const r = await me.req('POST', '/fhir/Patient', { resourceType: 'Patient', name: [{ family: d.family, given: d.given ? [d.given] : undefined }], gender: d.gender, birthDate: d.birthDate, address: d.line ? [{ line: [d.line], city: d.city, state: d.state, postalCode: d.postalCode }] : undefined });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id as string;
  };
  const jobBody = (pid: string, attributes: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({ data: { type: 'patient-history/jobs', attributes: { requestConsent: true, practitioner: PRACTITIONER, ...attributes }, relationships: { patient: { data: { type: 'fhir/Patient', id: pid } } }, ...extra } });
  const waitJob = async (id: string, until: (j: any) => boolean = (j) => ['done', 'error'].includes(j.attributes.status), ms = 120_000) => {
    const t0 = Date.now();
    let last: unknown;
    while (Date.now() - t0 < ms) {
      const r = await me.req('GET', `/patient-history/jobs/${id}`);
      last = r.body;
      if (r.status === 200 && until(r.body.data)) return r.body.data;
      await sleep(100);
    }
    throw new Error(`job ${id} did not reach the expected state; last answer ${JSON.stringify(last)}\n${platform.output().slice(-2000)}`);
  };
  const runJob = async (pid: string, attributes: Record<string, unknown> = {}) => {
    const r = await me.req('POST', '/patient-history/jobs', jobBody(pid, attributes));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return waitJob(r.body.data.id);
  };
  const count = async (query: string) => (await me.req('GET', `/fhir/${query}${query.includes('?') ? '&' : '?'}_summary=count`)).body.total as number;

  before(async () => {
    sim = await startSimulatorProcess(['--people', '60', '--seed', '5', '--documents', '2']);
    db = await e2eDatabase();
    port = await freePort();
    env = {
      ...db.env,
      TESSERA_NETWORK_COMMONWELL_URL: sim.urls.commonwell,
      TESSERA_NETWORK_CAREQUALITY_URL: sim.urls.carequality,
      TESSERA_NETWORK_SURESCRIPTS_URL: sim.urls.surescripts,
      TESSERA_HISTORY_POLL_MS: '50',
      TESSERA_HISTORY_TIMEOUT_MS: '3000',
    };
    platform = await startPlatformProcess(port, env);
    admin = await Client.login(platform.url, E2E_ADMIN.id, E2E_ADMIN.secret);
    const b = await admin.req('POST', '/auth/builders', { data: { type: 'auth/builders', attributes: { name: 'E2E Clinic' } } });
    assert.equal(b.status, 201);
    const roles = await admin.req('GET', '/auth/roles?filter[name]=Builder%20Admin');
    const c = await admin.req('POST', '/auth/app-clients', { data: { type: 'auth/app-clients', attributes: { type: 'machine_to_machine', name: 'e2e' }, relationships: { 'auth/roles': { data: { type: 'auth/roles', id: roles.body.data.id } }, 'auth/builders': { data: { type: 'auth/builders', id: b.body.data.id } } } } });
    clientId = c.body.data.attributes.clientId;
    clientSecret = c.body.data.attributes.clientSecret;
    me = await Client.login(platform.url, clientId, clientSecret);
    people = ((await (await simAdmin('GET', '/admin/people?limit=1000')).json()) as { people: Person[] }).people;
  });
  after(async () => {
    await platform?.kill();
    await sim?.kill();
    await db?.cleanup();
  });

  test('every validation error over HTTP; failed requests create nothing', async () => {
    const p = person('commonwell');
    const pid = await createPatient(p.demographics);
    const expect = async (body: unknown, status: number, re: RegExp) => {
      const r = await me.req('POST', '/patient-history/jobs', body);
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.ok(r.body.errors.some((e: any) => re.test(e.title)), `${re} in ${JSON.stringify(r.body.errors)}`);
    };
    await expect(jobBody(pid, {}, { relationships: { patient: { data: { type: 'fhir/Patient', id: pid } }, practitioner: { data: { type: 'fhir/Practitioner', id: 'x' } } } }), 400, /both/);
    await expect({ data: { type: 'patient-history/jobs', attributes: { requestConsent: true }, relationships: { patient: { data: { type: 'fhir/Patient', id: pid } } } } }, 422, /practitioner is required/i);
    await expect(jobBody(pid, { practitioner: { ...PRACTITIONER, npi: '1013085662' } }), 422, /NPI/);
    await expect(jobBody(pid, { requestConsent: false }), 422, /[Cc]onsent/);
    await expect(jobBody(pid, {}, { targetDate: '09/01/2023' }), 422, /targetDate/);
    await expect(jobBody(pid, { chartBuildType: 'nope' }), 422, /chartBuildType/);
    await expect(jobBody('does-not-exist'), 422, /not a patient of your builder|not found/);
    await expect({ data: { type: 'patient-history/other' } }, 400, /patient-history\/jobs/);
    const thin = await createPatient({ family: 'Partial', gender: 'male' });
    const r = await me.req('POST', '/patient-history/jobs', jobBody(thin));
    assert.equal(r.status, 422);
    const titles = r.body.errors.map((e: any) => e.title).join(' | ');
    for (const f of ['first name', 'birth date', 'address line 1', 'city', 'state', 'zip']) assert.ok(titles.includes(f), `${f} listed in ${titles}`);
    const list = await me.req('GET', '/patient-history/jobs');
    assert.equal(list.body.data.length, 0);
  });

  test('every fault kind lands in the status spec/002 requires', async () => {
    const withFault = async (fault: Record<string, unknown>, network = 'commonwell') => {
      const p = person('commonwell', 'carequality');
      await simAdmin('PUT', `/admin/people/${p.id}/faults`, { [network]: fault });
      const job = await runJob(await createPatient(p.demographics), { chartBuildType: 'pro-ehr-only' });
      return { job, provider: job.attributes.providers.find((x: any) => x.service === network) };
    };
    const ok = await withFault({});
    assert.equal(ok.job.attributes.status, 'done');
    const nf = await withFault({ notFoundDocuments: 'all' });
    assert.equal(nf.provider.status, 'done');
    assert.ok(nf.provider.counts.documentsNotFound > 0);
    const rej = await withFault({ rejectDemographics: true });
    assert.equal(rej.provider.status, 'error');
    assert.equal(rej.job.attributes.status, 'error');
    const bad = await withFault({ malformedDocuments: true });
    assert.equal(bad.provider.status, 'error');
    const amb = await withFault({ ambiguous: true });
    assert.equal(amb.provider.status, 'done');
    const inv = await withFault({ invalidEntries: true });
    assert.equal(inv.provider.status, 'done');
    for (const [fault, label] of [[{ outage: 'refused' }, 'refused'], [{ outage: '503' }, '503'], [{ timeout: true }, 'timeout']] as const) {
      await simAdmin('PUT', '/admin/faults/carequality', fault);
      const p = person('commonwell', 'carequality');
      const job = await runJob(await createPatient(p.demographics), { chartBuildType: 'pro-ehr-only' });
      await simAdmin('DELETE', '/admin/faults/carequality');
      assert.equal(job.attributes.providers.find((x: any) => x.service === 'carequality').status, 'error', label);
      assert.equal(job.attributes.providers.find((x: any) => x.service === 'commonwell').status, 'done', label);
      assert.equal(job.attributes.status, 'error', label);
    }
  });

  test('a re-run for the same documents creates no duplicates', async () => {
    const p = person('commonwell', 'carequality', 'surescripts');
    const pid = await createPatient(p.demographics);
    const first = await runJob(pid);
    assert.equal(first.attributes.status, 'done', JSON.stringify(first.attributes.providers));
    const before = { docs: await count(`DocumentReference?subject=Patient/${pid}`), cond: await count(`Condition?patient=Patient/${pid}`), meds: await count(`MedicationDispense?subject=Patient/${pid}`) };
    assert.ok(before.docs > 0 && before.meds > 0);
    const again = await runJob(pid);
    assert.equal(again.attributes.status, 'done');
    assert.deepEqual({ docs: await count(`DocumentReference?subject=Patient/${pid}`), cond: await count(`Condition?patient=Patient/${pid}`), meds: await count(`MedicationDispense?subject=Patient/${pid}`) }, before);
  });

  test('imported data is shared: another builder with its own active Patient sees the DRS part, and through $everything', async () => {
    const p = person('commonwell');
    const pidA = await createPatient(p.demographics);
    // builder B records the same person (same demographics → same UPID) and treats them (active)
    const roles = await admin.req('GET', '/auth/roles?filter[name]=Builder%20Admin');
    const bb = await admin.req('POST', '/auth/builders', { data: { type: 'auth/builders', attributes: { name: 'E2E Other Clinic' } } });
    const bc = await admin.req('POST', '/auth/app-clients', { data: { type: 'auth/app-clients', attributes: { type: 'machine_to_machine', name: 'e2e-b' }, relationships: { 'auth/roles': { data: { type: 'auth/roles', id: roles.body.data.id } }, 'auth/builders': { data: { type: 'auth/builders', id: bb.body.data.id } } } } });
    const B = await Client.login(platform.url, bc.body.data.attributes.clientId, bc.body.data.attributes.clientSecret);
    const d = p.demographics;
    const pb = await B.req('POST', '/fhir/Patient', { resourceType: 'Patient', active: true, name: [{ family: d.family, given: d.given ? [d.given] : undefined }], gender: d.gender, birthDate: d.birthDate, address: d.line ? [{ line: [d.line], city: d.city, state: d.state, postalCode: d.postalCode }] : undefined });
    assert.equal(pb.status, 201);
    const upid = (r: any) => r.identifier.find((i: any) => i.system === 'https://zusapi.com/fhir/identifier/universal-id').value;
    assert.equal(upid(pb.body), upid((await me.req('GET', `/fhir/Patient/${pidA}`)).body), 'the UPI links both records');
    const job = await runJob(pidA, { chartBuildType: 'pro-ehr-only' });
    assert.equal(job.attributes.status, 'done', JSON.stringify(job.attributes.providers));
    const docs = await count(`DocumentReference?subject=Patient/${pidA}`);
    assert.ok(docs > 0);
    // search: B sees A's imported DRS resources
    assert.equal((await B.req('GET', `/fhir/DocumentReference?subject=Patient/${pidA}&_summary=count`)).body.total, docs);
    assert.equal((await B.req('GET', `/fhir/DocumentReference?subject=Patient/${pidA}&firstparty=true&_summary=count`)).body.total, 0);
    // $everything from B's own Patient: A's DRS data as matches, A's foundational data only as includes
    const owner = (r: any) => r.meta.tag.find((t: any) => t.system === 'https://zusapi.com/accesscontrol/owner').code;
    const matches: any[] = [];
    const includes: any[] = [];
    for (let path: string | undefined = `/fhir/Patient/${pb.body.id}/$everything?_count=100`, n = 0; path && n < 100; n++) {
      const page = await B.req('GET', path.replace(platform.url, ''));
      assert.equal(page.status, 200, JSON.stringify(page.body));
      for (const e of page.body.entry ?? []) (e.search.mode === 'match' ? matches : includes).push(e.resource);
      path = page.body.link.find((l: any) => l.relation === 'next')?.url;
    }
    const ownerA = owner((await me.req('GET', `/fhir/Patient/${pidA}`)).body);
    const fromA = matches.filter((r) => owner(r) === ownerA);
    const typesA = new Set(fromA.map((r) => r.resourceType));
    for (const t of ['Patient', 'DocumentReference', 'Binary']) assert.ok(typesA.has(t), `${t} of the importing builder in B's $everything (${[...typesA]})`);
    for (const t of ['Practitioner', 'Organization', 'Location', 'Provenance', 'Medication']) assert.ok(!typesA.has(t), `${t} never as a match`);
    assert.ok(includes.some((r) => r.resourceType === 'Provenance'), 'the import Provenance comes as an include');
    assert.ok(fromA.filter((r) => r.resourceType !== 'Patient').every((r) => r.meta.tag.some((t: any) => t.system === 'https://zusapi.com/thirdparty/source')), 'imported data keeps its source tag');
  });

  test('a scheduled job starts ~36 h before its targetDate (adjustable clock)', async () => {
    const p = person('commonwell');
    const pid = await createPatient(p.demographics);
    const target = new Date(Date.now() + 3 * 24 * 3600_000).toISOString().slice(0, 10);
    const r = await me.req('POST', '/patient-history/jobs', jobBody(pid, { chartBuildType: 'pro-ehr-only' }, { targetDate: target }));
    assert.equal(r.status, 201);
    const id = r.body.data.id;
    assert.equal(r.body.data.attributes.scheduledFor, new Date(new Date(`${target}T00:01:00Z`).getTime() - 36 * 3600_000).toISOString());
    await sleep(500);
    assert.equal((await me.req('GET', `/patient-history/jobs/${id}`)).body.data.attributes.status, 'initialize');
    const moved = await admin.req('POST', '/admin/clock', { advanceMs: 3 * 24 * 3600_000 });
    assert.equal(moved.status, 200);
    await login(); // tokens expired on the moved clock
    assert.equal((await waitJob(id)).attributes.status, 'done');
  });

  test('a platform killed mid-job finishes the job after restart without duplicating data', async () => {
    const p = person('commonwell', 'carequality');
    const pid = await createPatient(p.demographics);
    await simAdmin('PUT', '/admin/faults/commonwell', { latencyMs: 700 });
    const r = await me.req('POST', '/patient-history/jobs', jobBody(pid, { chartBuildType: 'pro-ehr-only' }));
    const id = r.body.data.id;
    await waitJob(id, (j) => j.attributes.providers.some((x: any) => x.service === 'commonwell' && x.status === 'in_progress'), 30_000);
    await sleep(800); // let it get part way: discovery done, documents being fetched
    await platform.kill('SIGKILL');
    await simAdmin('DELETE', '/admin/faults/commonwell');
    platform = await startPlatformProcess(port, env);
    await login();
    // The killed worker's lease must run out before another claims the job: move the clock past it. The new
    // process starts at real time (the earlier test had moved the old process's clock 3 days ahead), so move
    // past both.
    await admin.req('POST', '/admin/clock', { advanceMs: 3 * 24 * 3600_000 + 11 * 60_000 });
    await login();
    const done = await waitJob(id, undefined, 180_000);
    assert.equal(done.attributes.status, 'done', JSON.stringify(done.attributes.providers));
    const cw = done.attributes.providers.find((x: any) => x.service === 'commonwell');
    const docs = await count(`DocumentReference?subject=Patient/${pid}&_tag=https://zusapi.com/thirdparty/source|commonwell&description:contains=Source%20document`);
    assert.equal(docs, cw.counts.documentsRetrieved, 'one source DocumentReference per retrieved document, none duplicated');
    const total = await count(`Condition?patient=Patient/${pid}`);
    const again = await runJob(pid, { chartBuildType: 'pro-ehr-only' });
    assert.equal(again.attributes.status, 'done');
    assert.equal(await count(`Condition?patient=Patient/${pid}`), total);
  });
});
