import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestPlatform, type TestPlatform, type TestBuilder } from '../helpers/platform.ts';
import { PRACTITIONER, FULL_PATIENT } from './fixtures.ts';


describe('subscription packages and enrollment API', () => {
  let tp: TestPlatform;
  let b: TestBuilder;
  let other: TestBuilder;

  before(async () => {
    tp = await startTestPlatform();
    b = await tp.createBuilder();
    other = await tp.createBuilder();
  });
  after(async () => {
    await tp.close();
  });

  const json = (r: Response) => r.json() as Promise<any>;
  const createPatient = async (body: unknown, who = b) => {
    const r = await who.fetch('/fhir/Patient', { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(body) });
    assert.equal(r.status, 201, await r.clone().text());
    return ((await r.json()) as { id: string }).id;
  };
  const enrollBody = (patientId: string, attributes: Record<string, unknown> = { provider: PRACTITIONER }, packageId: string | null = 'monitoring') => ({
    data: {
      attributes,
      relationships: {
        patient: { data: { type: 'fhir/Patient', id: patientId } },
        ...(packageId ? { package: { data: { type: 'zap-data-subscriptions/package', id: packageId } } } : {}),
      },
    },
  });
  const post = (body: unknown, who = b) => who.fetch('/zap-data-subscriptions/enrollment-statuses', { method: 'POST', headers: { 'content-type': 'application/vnd.api+json' }, body: JSON.stringify(body) });
  const patch = (key: string, body: unknown, who = b) => who.fetch(`/zap-data-subscriptions/enrollment-statuses/${key}`, { method: 'PATCH', headers: { 'content-type': 'application/vnd.api+json' }, body: JSON.stringify(body) });
  const refreshes = async (patientId: string) => (await json(await b.fetch(`/zap-data-subscriptions/refreshes?filter[patient-id]=${patientId}`))).data as any[];

  test('packages: defaults listed and fetched; unknown → 404; only the platform admin adds', async () => {
    const list = await json(await b.fetch('/zap-data-subscriptions/packages'));
    const ids = list.data.map((p: any) => p.id);
    assert.ok(ids.includes('monitoring') && ids.includes('lite'));
    const one = await json(await b.fetch('/zap-data-subscriptions/packages/monitoring'));
    assert.equal(one.data.type, 'zap-data-subscriptions/package');
    assert.deepEqual(one.data.attributes.meta, {
      initialProviders: ['commonwell', 'surescripts'], freshmakerProviders: ['commonwell', 'surescripts'],
      recurringProvidersWithInterval: [{ intervalDays: 28, provider: 'commonwell' }], subscriptionProviders: ['bamboo', 'collective', 'quest', 'surescripts'],
    });
    const missing = await b.fetch('/zap-data-subscriptions/packages/nope');
    assert.equal(missing.status, 404);
    assert.ok((await json(missing)).errors[0]);

    const pkg = { data: { type: 'zap-data-subscriptions/package', id: 'pharmacy-watch', attributes: { name: 'Pharmacy watch', meta: { initialProviders: ['surescripts'], subscriptionProviders: ['surescripts'] } } } };
    const denied = await b.fetch('/zap-data-subscriptions/packages', { method: 'POST', body: JSON.stringify(pkg) });
    assert.equal(denied.status, 403);
    const bad = await tp.fetchAs(tp.adminToken, '/zap-data-subscriptions/packages', { method: 'POST', body: JSON.stringify({ data: { ...pkg.data, attributes: { name: 'x', meta: { initialProviders: ['epic'] } } } }) });
    assert.equal(bad.status, 422);
    const ok = await tp.fetchAs(tp.adminToken, '/zap-data-subscriptions/packages', { method: 'POST', body: JSON.stringify(pkg) });
    assert.equal(ok.status, 201, await ok.clone().text());
    assert.equal((await json(ok)).data.id, 'pharmacy-watch');
    const again = await tp.fetchAs(tp.adminToken, '/zap-data-subscriptions/packages', { method: 'POST', body: JSON.stringify(pkg) });
    assert.equal(again.status, 409);
    assert.equal((await b.fetch('/zap-data-subscriptions/packages/pharmacy-watch')).status, 200);
  });

  test('enroll with full demographics → active, initial refresh scheduled; second enrollment → 409', async () => {
    const pid = await createPatient(FULL_PATIENT);
    const r = await post(enrollBody(pid));
    assert.equal(r.status, 201, await r.clone().text());
    const body = await json(r);
    assert.equal(body.data.type, 'zap-data-subscriptions/enrollment-status');
    assert.equal(body.data.id, `${pid}:monitoring`);
    assert.equal(body.data.attributes.status, 'active');
    assert.deepEqual(body.data.attributes.practitioner, PRACTITIONER);
    assert.match(body.data.attributes.createdAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    assert.equal(body.data.attributes.validationIssues, undefined);
    assert.equal(body.data.relationships.package.data.id, 'monitoring');
    const scheduled = await refreshes(pid);
    assert.deepEqual(scheduled.map((s) => s.attributes.reason).sort(), ['enrollment', 'pharmacy-backstop:1', 'recurring:1']);

    const dup = await post(enrollBody(pid, { practitioner: PRACTITIONER }, 'lite'));
    assert.equal(dup.status, 409);
    assert.equal((await json(dup)).errors[0].status, '409');

    const got = await json(await b.fetch(`/zap-data-subscriptions/enrollment-statuses/${pid}:monitoring`));
    assert.equal(got.data.attributes.status, 'active');
    const list = await json(await b.fetch(`/zap-data-subscriptions/enrollment-statuses?filter[patient-id]=${pid}`));
    assert.equal(list.data.length, 1);
    assert.equal(list.data[0].relationships.package.data.id, 'monitoring');
    assert.equal((await b.fetch(`/zap-data-subscriptions/enrollment-statuses/${pid}:lite`)).status, 404);
    assert.equal((await b.fetch(`/zap-data-subscriptions/enrollment-statuses/${pid}`)).status, 404);
  });

  test('pending with validationIssues, becoming active when the Patient is fixed', async () => {
    const { birthDate: _b, ...noBirth } = FULL_PATIENT;
    const pid = await createPatient(noBirth);
    const r = await post(enrollBody(pid, { practitioner: PRACTITIONER, priority: true }));
    assert.equal(r.status, 201);
    const e = (await json(r)).data;
    assert.equal(e.attributes.status, 'pending');
    assert.deepEqual(e.attributes.validationIssues, [{ code: 'Patient.BirthDate.Required', level: 'WARN', message: 'Patient birth date is required.' }]);
    assert.equal((await refreshes(pid)).length, 0, 'nothing is scheduled while pending');

    // Another incomplete update keeps it pending with the current issues.
    const { gender: _g, ...noBirthNoGender } = noBirth;
    const u1 = await b.fetch(`/fhir/Patient/${pid}`, { method: 'PUT', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ ...noBirthNoGender, id: pid }) });
    assert.equal(u1.status, 200);
    const still = (await json(await b.fetch(`/zap-data-subscriptions/enrollment-statuses/${pid}:monitoring`))).data;
    assert.equal(still.attributes.status, 'pending');
    assert.deepEqual(still.attributes.validationIssues.map((i: any) => i.code).sort(), ['Patient.BirthDate.Required', 'Patient.Gender.Required']);

    const u2 = await b.fetch(`/fhir/Patient/${pid}`, { method: 'PUT', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ ...FULL_PATIENT, id: pid }) });
    assert.equal(u2.status, 200);
    const active = (await json(await b.fetch(`/zap-data-subscriptions/enrollment-statuses/${pid}:monitoring`))).data;
    assert.equal(active.attributes.status, 'active');
    assert.equal(active.attributes.validationIssues, undefined);
    const initial = (await refreshes(pid)).find((s) => s.attributes.reason === 'enrollment');
    assert.ok(initial);
    assert.equal(initial.attributes.priority, true);
    assert.equal(initial.attributes.dueAt, tp.clock.now().toISOString().replace(/\.\d{3}Z$/, 'Z'), 'priority: at once');
  });

  test('PATCH inactive cancels pending refreshes; PATCH active re-activates; practitioner changes', async () => {
    const pid = await createPatient(FULL_PATIENT);
    assert.equal((await post(enrollBody(pid))).status, 201);
    const key = `${pid}:monitoring`;
    const off = await patch(key, { data: { type: 'zap-data-subscriptions/enrollment-status', attributes: { status: 'inactive' } } });
    assert.equal(off.status, 200, await off.clone().text());
    assert.equal((await json(off)).data.attributes.status, 'inactive');
    assert.equal((await refreshes(pid)).filter((s) => s.attributes.status === 'pending').length, 0);

    const newPr = { npi: '1234567893', name: 'Other Doctor', role: '309343006' };
    const on = await patch(key, { data: { attributes: { status: 'active', practitioner: newPr } } });
    assert.equal(on.status, 200);
    const onBody = (await json(on)).data;
    assert.equal(onBody.attributes.status, 'active');
    assert.deepEqual(onBody.attributes.practitioner, newPr);
    assert.ok((await refreshes(pid)).some((s) => s.attributes.reason === 'enrollment' && s.attributes.status === 'pending'));

    assert.equal((await patch(key, { data: { attributes: { status: 'pending' } } })).status, 422);
    assert.equal((await patch(key, { data: { attributes: { practitioner: { npi: '1234567890' } } } })).status, 422);
    assert.equal((await patch(key, { data: { id: 'other:monitoring', attributes: {} } })).status, 409);
    assert.equal((await patch(`${pid}:lite`, { data: { attributes: { status: 'inactive' } } })).status, 404);
    assert.equal((await patch(key, 'nonsense')).status, 400);

    // Unenrolled then enrolled again (here in another package): allowed.
    assert.equal((await patch(key, { data: { attributes: { status: 'inactive' } } })).status, 200);
    const re = await post(enrollBody(pid, { practitioner: PRACTITIONER }, 'lite'));
    assert.equal(re.status, 201);
    assert.equal((await json(re)).data.id, `${pid}:lite`);
  });

  test('DELETE is a hard delete', async () => {
    const pid = await createPatient(FULL_PATIENT);
    assert.equal((await post(enrollBody(pid))).status, 201);
    const del = await b.fetch(`/zap-data-subscriptions/enrollment-statuses/${pid}:monitoring`, { method: 'DELETE' });
    assert.equal(del.status, 204);
    assert.equal((await b.fetch(`/zap-data-subscriptions/enrollment-statuses/${pid}:monitoring`)).status, 404);
    assert.equal((await json(await b.fetch(`/zap-data-subscriptions/enrollment-statuses?filter[patient-id]=${pid}`))).data.length, 0);
    assert.equal((await refreshes(pid)).length, 0);
    assert.equal((await b.fetch(`/zap-data-subscriptions/enrollment-statuses/${pid}:monitoring`, { method: 'DELETE' })).status, 404);
  });

  test('only the builder\'s own Patient id; other builders see nothing', async () => {
    const theirs = await createPatient(FULL_PATIENT, other);
    const r = await post(enrollBody(theirs));
    assert.equal(r.status, 422);
    assert.match(JSON.stringify(await json(r)), /not builder's patient/);
    const none = await post(enrollBody('does-not-exist'));
    assert.equal(none.status, 422);
    assert.match(JSON.stringify(await json(none)), /not builder's patient/);

    const mine = await createPatient(FULL_PATIENT);
    assert.equal((await post(enrollBody(mine))).status, 201);
    assert.equal((await other.fetch(`/zap-data-subscriptions/enrollment-statuses/${mine}:monitoring`)).status, 404);
    assert.equal((await json(await other.fetch(`/zap-data-subscriptions/enrollment-statuses?filter[patient-id]=${mine}`))).data.length, 0);
    assert.equal((await other.fetch(`/zap-data-subscriptions/enrollment-statuses/${mine}:monitoring`, { method: 'DELETE' })).status, 404);
    assert.equal((await json(await other.fetch(`/zap-data-subscriptions/refreshes?filter[patient-id]=${mine}`))).data.length, 0);
  });

  test('bad bodies → JSON:API errors, nothing stored', async () => {
    const pid = await createPatient(FULL_PATIENT);
    const cases: [unknown, number][] = [
      ['x', 400],
      [{ data: [] }, 400],
      [{ data: { type: 'fhir/Patient', attributes: { practitioner: PRACTITIONER } } }, 400],
      [enrollBody(pid, {}), 422],
      [enrollBody(pid, { practitioner: { ...PRACTITIONER, npi: '1234567890' } }), 422],
      [enrollBody(pid, { practitioner: PRACTITIONER, priority: 'yes' }), 422],
      [enrollBody(pid, { practitioner: PRACTITIONER, status: 'inactive' }), 422],
      [enrollBody(pid, { practitioner: PRACTITIONER }, 'no-such-package'), 422],
      [{ data: { attributes: { practitioner: PRACTITIONER }, relationships: { package: { data: { id: 'monitoring' } } } } }, 422],
    ];
    for (const [body, status] of cases) {
      const r = await post(body);
      assert.equal(r.status, status, `${JSON.stringify(body)} → ${r.status}`);
      const e = await json(r);
      assert.ok(Array.isArray(e.errors) && e.errors.length > 0);
    }
    assert.equal((await json(await b.fetch(`/zap-data-subscriptions/enrollment-statuses?filter[patient-id]=${pid}`))).data.length, 0);
  });

  test('the medplum-bot form: patient-data-subscriptions type, status active, no package → default package', async () => {
    const pid = await createPatient(FULL_PATIENT);
    const r = await post({ data: { type: 'patient-data-subscriptions/enrollment-status', attributes: { status: 'active', practitioner: PRACTITIONER }, relationships: { patient: { data: { type: 'fhir/Patient', id: pid } } } } });
    assert.equal(r.status, 201, await r.clone().text());
    assert.equal((await json(r)).data.id, `${pid}:monitoring`);
  });

  test('roles: Care Team users may enroll; Permissionless may not', async () => {
    const care = await tp.createClient(b.builderId, 'Care Team User');
    const pid = await createPatient(FULL_PATIENT);
    assert.equal((await post(enrollBody(pid), care)).status, 201);
    const none = await tp.createClient(b.builderId, 'Permissionless');
    const pid2 = await createPatient(FULL_PATIENT);
    assert.equal((await post(enrollBody(pid2), none)).status, 403);
    assert.equal((await tp.fetchAs(tp.adminToken, '/zap-data-subscriptions/enrollment-statuses')).status, 403);
  });
});
