import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestPlatform, type TestPlatform, type TestBuilder } from '../helpers/platform.ts';
import { jsonApi, uniqueEmail, userBody, createUserAndLogin } from './login-helpers.ts';
import { builderCommand, clientCommand, grantCommand, mailCommand } from '../../src/access/cli.ts';

type Bundle = { resourceType: 'Bundle'; entry?: { resource: { resourceType: string; id: string; meta?: { tag?: { system: string; code: string }[] }; [k: string]: unknown } }[] };
const OWNER = 'https://zusapi.com/accesscontrol/owner';
const ownerOf = (r: { meta?: { tag?: { system: string; code: string }[] } }) => r.meta?.tag?.find((t) => t.system === OWNER)?.code;

describe('cross-builder grants', () => {
  let tp: TestPlatform;
  let grantor: TestBuilder; // "Customer Builder"
  let grantee: TestBuilder; // "Digital Health Co." (Builder Admin client)
  let granteeCare: TestBuilder;
  let grantorCare: TestBuilder;
  let stranger: TestBuilder;
  let grantId: string;
  const patients: Record<string, string> = {};

  const fhir = (b: { fetch: TestBuilder['fetch'] }, path: string, init: RequestInit & { account?: string } = {}) => {
    const headers = new Headers(init.headers);
    if (init.account) headers.set('zus-account', init.account);
    if (init.body) headers.set('content-type', 'application/fhir+json');
    return b.fetch(`/fhir/${path}`, { ...init, headers });
  };
  const createPatient = async (b: TestBuilder, family: string, account?: string) => {
    const r = await fhir(b, 'Patient', { method: 'POST', body: JSON.stringify({ resourceType: 'Patient', name: [{ family }] }), account });
    assert.equal(r.status, 201, await r.clone().text());
    return (await r.json()) as { id: string; meta: { tag: { system: string; code: string }[] } };
  };
  const patientIds = async (b: TestBuilder, account?: string) => {
    const r = await fhir(b, 'Patient?_count=500', { account });
    assert.equal(r.status, 200, await r.clone().text());
    return ((await r.json()) as Bundle).entry?.map((e) => e.resource.id).sort() ?? [];
  };
  const auditEvents = async (b: TestBuilder, query = '') => {
    const r = await fhir(b, `AuditEvent?_count=500${query}`);
    assert.equal(r.status, 200, await r.clone().text());
    return (((await r.json()) as Bundle).entry ?? []).map((e) => e.resource);
  };

  before(async () => {
    tp = await startTestPlatform();
    grantor = await tp.createBuilder('Customer Builder');
    grantee = await tp.createBuilder('Digital Health Co');
    granteeCare = await tp.createClient(grantee.builderId, 'Care Team User');
    grantorCare = await tp.createClient(grantor.builderId, 'Care Team User');
    stranger = await tp.createBuilder('Stranger Co');
    patients.grantor = (await createPatient(grantor, 'Grantorson')).id;
    patients.grantee = (await createPatient(grantee, 'Granteeson')).id;
    patients.stranger = (await createPatient(stranger, 'Strangerson')).id;
  });
  after(async () => { await tp.close(); });

  test('only the platform admin creates and revokes grants; input is checked', async () => {
    const body = (g: string, e: string, relationship: unknown = 'Business associate of a covered entity') => ({
      data: { type: 'auth/cross-builder-grants', attributes: { relationship }, relationships: { grantor: { data: { type: 'auth/builders', id: g } }, grantee: { data: { type: 'auth/builders', id: e } } } },
    });
    for (const b of [grantor, grantee, stranger]) {
      assert.equal((await b.fetch('/auth/cross-builder-grants', jsonApi(body(grantor.builderId, grantee.builderId)))).status, 403);
    }
    assert.equal((await tp.fetchAs(tp.adminToken, '/auth/cross-builder-grants', jsonApi(body(grantor.builderId, grantee.builderId, '')))).status, 400);
    assert.equal((await tp.fetchAs(tp.adminToken, '/auth/cross-builder-grants', jsonApi(body(grantor.builderId, grantor.builderId)))).status, 400);
    assert.equal((await tp.fetchAs(tp.adminToken, '/auth/cross-builder-grants', jsonApi(body('no-such-builder', grantee.builderId)))).status, 404);
    const r = await tp.fetchAs(tp.adminToken, '/auth/cross-builder-grants', jsonApi(body(grantor.builderId, grantee.builderId)));
    assert.equal(r.status, 201);
    const g = (await r.json()) as { data: { id: string; type: string; attributes: { relationship: string; active: boolean; createdBy: string }; relationships: { grantor: { data: { id: string } }; grantee: { data: { id: string } } } } };
    assert.equal(g.data.type, 'auth/cross-builder-grants');
    assert.equal(g.data.attributes.relationship, 'Business associate of a covered entity');
    assert.equal(g.data.attributes.active, true);
    assert.equal(g.data.relationships.grantor.data.id, grantor.builderId);
    assert.equal(g.data.relationships.grantee.data.id, grantee.builderId);
    grantId = g.data.id;
    assert.equal((await tp.fetchAs(tp.adminToken, '/auth/cross-builder-grants', jsonApi(body(grantor.builderId, grantee.builderId)))).status, 409, 'one active grant per pair');
    // the two builders' admins can read it; others cannot see it
    assert.equal((await grantor.fetch(`/auth/cross-builder-grants/${grantId}`)).status, 200);
    assert.equal((await grantee.fetch(`/auth/cross-builder-grants/${grantId}`)).status, 200);
    assert.equal((await stranger.fetch(`/auth/cross-builder-grants/${grantId}`)).status, 404);
    const strangerList = (await (await stranger.fetch('/auth/cross-builder-grants')).json()) as { data: unknown[] };
    assert.equal(strangerList.data.length, 0);
    const adminList = (await (await tp.fetchAs(tp.adminToken, `/auth/cross-builder-grants?filter[granteeBuilderId]=${grantee.builderId}`)).json()) as { data: { id: string }[] };
    assert.deepEqual(adminList.data.map((x) => x.id), [grantId]);
    assert.equal((await grantee.fetch(`/auth/cross-builder-grants/${grantId}`, { method: 'DELETE' })).status, 403);
  });

  test('without Zus-Account a grantee Builder Admin reads its own and the grantor\'s data; with it, exactly one builder', async () => {
    assert.deepEqual(await patientIds(grantee), [patients.grantee, patients.grantor].sort());
    assert.deepEqual(await patientIds(grantee, grantor.builderId), [patients.grantor]);
    assert.deepEqual(await patientIds(grantee, grantee.builderId), [patients.grantee]);
    assert.equal((await fhir(grantee, `Patient/${patients.grantor}`)).status, 200);
    assert.equal((await fhir(grantee, `Patient/${patients.grantor}`, { account: grantee.builderId })).status, 404);
    assert.equal((await fhir(grantee, `Patient/${patients.stranger}`)).status, 404);
  });

  test('one direction only: the grantor gets nothing of the grantee', async () => {
    assert.deepEqual(await patientIds(grantor), [patients.grantor]);
    assert.equal((await fhir(grantor, `Patient/${patients.grantee}`)).status, 404);
    const r = await fhir(grantor, 'Patient', { account: grantee.builderId });
    assert.equal(r.status, 403);
    assert.equal(((await r.json()) as { resourceType: string }).resourceType, 'OperationOutcome');
  });

  test('grants do not chain: A→B and B→C give C nothing of A', async () => {
    const a = await tp.createBuilder();
    const b = await tp.createBuilder();
    const c = await tp.createBuilder();
    const grant = (g: string, e: string) => tp.fetchAs(tp.adminToken, '/auth/cross-builder-grants', jsonApi({ data: { type: 'auth/cross-builder-grants', attributes: { relationship: 'chain test' }, relationships: { grantor: { data: { type: 'auth/builders', id: g } }, grantee: { data: { type: 'auth/builders', id: e } } } } }));
    assert.equal((await grant(a.builderId, b.builderId)).status, 201);
    assert.equal((await grant(b.builderId, c.builderId)).status, 201);
    const pa = (await createPatient(a, 'Chaina')).id;
    const pb = (await createPatient(b, 'Chainb')).id;
    const pc = (await createPatient(c, 'Chainc')).id;
    assert.deepEqual(await patientIds(c), [pb, pc].sort());
    assert.equal((await fhir(c, 'Patient', { account: a.builderId })).status, 403);
    assert.deepEqual(await patientIds(b), [pa, pb].sort());
    assert.deepEqual(await patientIds(a), [pa]);
  });

  test('a Zus-Account without a grant → 403 that reveals nothing (same answer for a builder that does not exist)', async () => {
    const withoutGrant = await fhir(grantee, 'Patient', { account: stranger.builderId });
    const nonexistent = await fhir(grantee, 'Patient', { account: 'no-such-builder' });
    assert.equal(withoutGrant.status, 403);
    assert.equal(nonexistent.status, 403);
    assert.deepEqual(await withoutGrant.json(), await nonexistent.json());
    const a = await grantee.fetch('/auth/users', { headers: { 'zus-account': stranger.builderId } });
    const b = await grantee.fetch('/auth/users', { headers: { 'zus-account': 'no-such-builder' } });
    assert.equal(a.status, 403);
    assert.deepEqual(await a.json(), await b.json());
  });

  test('only Builder Admins of the grantee may use the grant', async () => {
    assert.deepEqual(await patientIds(granteeCare), [patients.grantee]);
    assert.equal((await fhir(granteeCare, 'Patient', { account: grantor.builderId })).status, 403);
    assert.equal((await fhir(granteeCare, `Patient/${patients.grantor}`)).status, 404);
    const builders = (await (await granteeCare.fetch('/auth/builders')).json()) as { data: { id: string }[] };
    assert.deepEqual(builders.data.map((b) => b.id), [grantee.builderId]);
  });

  test('inside the grantor (Zus-Account) a grantee admin creates, updates and deletes as a Builder Admin; without it, writes go to its own builder', async () => {
    const inGrantor = await createPatient(grantee, 'Createdforgrantor', grantor.builderId);
    assert.equal(ownerOf(inGrantor), `builder/${grantor.builderId}`);
    assert.equal((await fhir(grantor, `Patient/${inGrantor.id}`)).status, 200, 'the grantor owns and sees it');
    const own = await createPatient(grantee, 'Createdforself');
    assert.equal(ownerOf(own), `builder/${grantee.builderId}`);
    assert.equal((await fhir(grantor, `Patient/${own.id}`)).status, 404);
    const update = (account?: string) => fhir(grantee, `Patient/${inGrantor.id}`, { method: 'PUT', body: JSON.stringify({ resourceType: 'Patient', id: inGrantor.id, name: [{ family: 'Updated' }] }), account });
    assert.equal((await update()).status, 403, 'without the header writes go to the own builder only');
    assert.equal((await update(grantor.builderId)).status, 200);
    assert.equal((await fhir(grantee, `Patient/${inGrantor.id}`, { method: 'DELETE', account: grantor.builderId })).status, 204);
    assert.equal((await fhir(grantor, `Patient/${inGrantor.id}`)).status, 410);
  });

  test('users of the grantor: created via relationships.auth/builders, listed with filter[builderId]; GET /auth/builders', async () => {
    const email = uniqueEmail('customer');
    const r = await grantee.fetch('/auth/users', jsonApi(userBody(email, 'Builder Admin', grantor.builderId, { sendPasswordResetEmail: false, sendVerificationEmail: false })));
    assert.equal(r.status, 201);
    const u = (await r.json()) as { data: { id: string; relationships: { 'auth/builders': { data: { id: string } } } } };
    assert.equal(u.data.relationships['auth/builders'].data.id, grantor.builderId);
    const inGrantor = (await (await grantee.fetch(`/auth/users?filter[builderId]=${grantor.builderId}`)).json()) as { data: { id: string }[] };
    assert.ok(inGrantor.data.some((x) => x.id === u.data.id));
    const all = (await (await grantee.fetch('/auth/users')).json()) as { data: { relationships: { 'auth/builders': { data: { id: string } } } }[] };
    assert.ok(all.data.some((x) => x.relationships['auth/builders'].data.id === grantor.builderId));
    // grantor admin sees its new user; the stranger and the grantor cannot create users the other way
    assert.equal((await grantor.fetch(`/auth/users/${u.data.id}`)).status, 200);
    assert.equal((await grantor.fetch('/auth/users', jsonApi(userBody(uniqueEmail(), 'Builder Admin', grantee.builderId)))).status, 403);
    assert.equal((await granteeCare.fetch('/auth/users', jsonApi(userBody(uniqueEmail(), 'Builder Admin', grantor.builderId)))).status, 403);
    const builders = (await (await grantee.fetch('/auth/builders')).json()) as { data: { id: string }[] };
    assert.deepEqual(builders.data.map((b) => b.id).sort(), [grantor.builderId, grantee.builderId].sort());
    const scoped = (await (await grantee.fetch('/auth/builders', { headers: { 'zus-account': grantor.builderId } })).json()) as { data: { id: string }[] };
    assert.deepEqual(scoped.data.map((b) => b.id), [grantor.builderId]);
    const grantorSees = (await (await grantor.fetch('/auth/builders')).json()) as { data: { id: string }[] };
    assert.deepEqual(grantorSees.data.map((b) => b.id), [grantor.builderId]);
  });

  test('a grantee user (not only a machine client) with Builder Admin uses the grant', async () => {
    const person = await createUserAndLogin(tp, grantee.token, grantee.builderId, 'Builder Admin');
    const r = await person.fetch('/fhir/Patient?_count=500', { headers: { 'zus-account': grantor.builderId } });
    assert.equal(r.status, 200);
    const ids = ((await r.json()) as Bundle).entry!.map((e) => e.resource.id);
    assert.ok(ids.includes(patients.grantor!));
    const carePerson = await createUserAndLogin(tp, grantee.token, grantee.builderId, 'Care Team User');
    assert.equal((await carePerson.fetch('/fhir/Patient', { headers: { 'zus-account': grantor.builderId } })).status, 403);
  });

  test('grant access is audited as AuditEvents owned by the grantor, readable by its Builder Admins only, editable by nobody', async () => {
    const before = (await auditEvents(grantor)).length;
    assert.equal((await fhir(grantee, `Patient/${patients.grantor}`, { account: grantor.builderId })).status, 200);
    const events = await auditEvents(grantor);
    assert.equal(events.length, before + 1);
    const ev = events.find((e) => (e.outcomeDesc as string).includes(`/fhir/Patient/${patients.grantor}`))!;
    assert.ok(ev, 'the read is recorded');
    assert.equal(ownerOf(ev), `builder/${grantor.builderId}`);
    assert.equal(ev.action, 'R');
    assert.equal(ev.outcome, '0');
    assert.deepEqual((ev.subtype as { code: string }[])[0]!.code, 'read');
    const agents = ev.agent as { who: { identifier: { system: string; value: string } }; requestor: boolean }[];
    assert.deepEqual(agents[0]!.who.identifier, { system: 'https://zusapi.com/app_client_id', value: grantee.clientId });
    assert.deepEqual(agents[1]!.who.identifier, { system: 'https://zusapi.com/builder_id', value: grantee.builderId });
    const entities = ev.entity as { what: { reference?: string; identifier?: { value: string } } }[];
    assert.equal(entities[0]!.what.identifier!.value, grantor.builderId);
    assert.ok(entities.some((e) => e.what.reference === `Patient/${patients.grantor}`));

    // a search without the header that returns grantor data is recorded; one that returns only own data is not
    const n1 = (await auditEvents(grantor)).length;
    await patientIds(grantee);
    const n2 = (await auditEvents(grantor)).length;
    assert.equal(n2, n1 + 1);
    await fhir(grantee, `Patient/${patients.grantee}`);
    assert.equal((await auditEvents(grantor)).length, n2);
    // failed attempts inside the grantor are recorded with their outcome
    await fhir(grantee, 'Patient', { method: 'POST', account: grantor.builderId, body: JSON.stringify({ resourceType: 'Patient', birthDate: 'not-a-date' }) });
    const failed = (await auditEvents(grantor)).find((e) => e.action === 'C' && e.outcome === '4');
    assert.ok(failed, 'a rejected create is recorded with outcome 4');

    // the grantee does not see the grantor's audit trail, even inside the grantor; grantor care team cannot read it
    assert.equal((await auditEvents(grantee)).length, 0);
    const inside = await fhir(grantee, 'AuditEvent', { account: grantor.builderId });
    assert.equal(((await inside.json()) as Bundle).entry?.length ?? 0, 0);
    assert.equal((await fhir(grantee, `AuditEvent/${ev.id}`, { account: grantor.builderId })).status, 404);
    assert.equal((await fhir(grantorCare, 'AuditEvent')).status, 403);
    // nobody edits, deletes or creates AuditEvents
    const put = await fhir(grantor, `AuditEvent/${ev.id}`, { method: 'PUT', body: JSON.stringify({ ...ev, outcome: '8' }) });
    assert.equal(put.status, 403);
    assert.equal((await fhir(grantor, `AuditEvent/${ev.id}`, { method: 'DELETE' })).status, 403);
    const { id: _id, meta: _meta, ...copy } = ev;
    assert.equal((await fhir(grantor, 'AuditEvent', { method: 'POST', body: JSON.stringify(copy) })).status, 403);
    assert.equal((await fhir(grantee, 'AuditEvent', { method: 'POST', body: JSON.stringify(copy), account: grantor.builderId })).status, 403);
    const after = (await (await fhir(grantor, `AuditEvent/${ev.id}`)).json()) as { outcome: string; meta: { versionId: string } };
    assert.equal(after.outcome, '0');
    assert.equal(after.meta.versionId, '1');
  });

  test('revocation takes effect on the next request', async () => {
    assert.equal((await fhir(grantee, 'Patient', { account: grantor.builderId })).status, 200);
    const token = grantee.token; // the same token before and after
    assert.equal((await tp.fetchAs(tp.adminToken, `/auth/cross-builder-grants/${grantId}`, { method: 'DELETE' })).status, 204);
    assert.equal((await tp.fetchAs(token, '/fhir/Patient', { headers: { 'zus-account': grantor.builderId } })).status, 403);
    assert.deepEqual(await patientIds(grantee), (await patientIds(grantee, grantee.builderId)));
    assert.ok(!(await patientIds(grantee)).includes(patients.grantor!));
    const builders = (await (await grantee.fetch('/auth/builders')).json()) as { data: { id: string }[] };
    assert.deepEqual(builders.data.map((b) => b.id), [grantee.builderId]);
    const g = (await (await tp.fetchAs(tp.adminToken, `/auth/cross-builder-grants/${grantId}`)).json()) as { data: { attributes: { active: boolean; revokedAt: string } } };
    assert.equal(g.data.attributes.active, false);
    assert.ok(g.data.attributes.revokedAt);
  });

  test('operator CLI: builder, client, grant and mail commands', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const deps = { db: tp.db, out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
    const last = () => JSON.parse(out[out.length - 1]!) as { data: { id: string; attributes: Record<string, unknown> } };
    assert.equal(await builderCommand(['create', 'CLI', 'Customer', '--json'], deps), 0);
    const g = last().data.id;
    assert.equal(await builderCommand(['create', 'CLI Partner', '--json'], deps), 0);
    const e = last().data.id;
    assert.equal(await builderCommand(['list'], deps), 0);
    assert.ok(out.some((l) => l.startsWith(g)));
    assert.equal(await clientCommand(['create', '--builder', e, '--name', 'Partner admin', '--role', 'Builder Admin'], deps), 0);
    const secretLine = out.find((l) => l.startsWith('client_secret:'))!;
    const idLine = out.find((l) => l.startsWith('client_id:'))!;
    const clientId = idLine.split(/\s+/)[1]!;
    const clientSecret = secretLine.split(/\s+/)[1]!;
    assert.equal(await clientCommand(['list', '--builder', e], deps), 0);
    assert.ok(out.some((l) => l.startsWith(clientId) && l.includes('Builder Admin')));
    assert.equal(await clientCommand(['create', '--builder', e, '--name', 'x', '--role', 'Overlord'], deps), 2);
    assert.equal(await grantCommand(['create', '--grantor', g, '--grantee', e, '--relationship', 'Managed services agreement', '--json'], deps), 0);
    const cliGrant = last().data.id;
    const partnerToken = await tp.token(clientId, clientSecret);
    assert.equal((await tp.fetchAs(partnerToken, '/fhir/Patient', { headers: { 'zus-account': g } })).status, 200);
    assert.equal(await grantCommand(['list', '--grantee', e], deps), 0);
    assert.ok(out.some((l) => l.startsWith(cliGrant) && l.includes('Managed services agreement')));
    assert.equal(await grantCommand(['revoke', cliGrant], deps), 0);
    assert.equal((await tp.fetchAs(partnerToken, '/fhir/Patient', { headers: { 'zus-account': g } })).status, 403);
    assert.equal(await grantCommand(['revoke', 'no-such-grant'], deps), 3);
    assert.equal(await grantCommand(['create', '--grantor', g], deps), 2);
    assert.equal(await grantCommand(['frobnicate'], deps), 2);
    // mail: a user created with the default flags gets mail in the outbox
    const email = uniqueEmail('cli');
    assert.equal((await tp.fetchAs(partnerToken, '/auth/users', jsonApi(userBody(email, 'Care Team User')))).status, 201);
    assert.equal(await mailCommand(['list', '--to', email, '--json'], deps), 0);
    const mails = (JSON.parse(out[out.length - 1]!) as { data: { id: string; attributes: { subject: string } }[] }).data;
    assert.equal(mails.length, 2);
    assert.equal(await mailCommand(['show', mails[0]!.id], deps), 0);
    assert.match(out[out.length - 1]!, new RegExp(`^To: ${email.replace(/\./g, '\\.')}`));
    assert.match(out[out.length - 1]!, /\?token=/);
    assert.equal(await mailCommand(['show', 'nope'], deps), 3);
  });
});
