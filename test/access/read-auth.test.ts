// Reads by id authenticate together with their read (AccessService.authenticateWith): one database round trip
// when the principal's context is as on its previous request. The rows of that round trip were selected for a
// predicted context, so every change to the principal must still apply to the very next read.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestPlatform, type TestPlatform, type TestBuilder } from '../helpers/platform.ts';
import { jsonApi, createUserAndLogin } from './login-helpers.ts';
import { roleByName } from '../../src/access/roles.ts';

describe('read by id: authentication and read in one round trip', () => {
  let tp: TestPlatform;
  let grantor: TestBuilder;
  let grantee: TestBuilder;
  let statements = 0;
  const patients: Record<string, string> = {};

  const createPatient = async (b: TestBuilder, family: string) => {
    const r = await b.fetch('/fhir/Patient', { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Patient', name: [{ family }] }) });
    assert.equal(r.status, 201);
    return ((await r.json()) as { id: string }).id;
  };
  /** status of GET /fhir/Patient/{id} with this token, and how many statements it ran */
  const read = async (token: string, id: string, account?: string) => {
    const before = statements;
    const r = await tp.fetchAs(token, `/fhir/Patient/${id}`, { headers: account ? { 'zus-account': account } : {} });
    const body = (await r.json()) as { resourceType: string; id?: string };
    return { status: r.status, body, statements: statements - before };
  };

  before(async () => {
    tp = await startTestPlatform();
    const plain = tp.db.query.bind(tp.db);
    tp.db.query = ((...args: Parameters<typeof plain>) => {
      statements++;
      return plain(...args);
    }) as typeof tp.db.query;
    grantor = await tp.createBuilder('Grantor Co');
    grantee = await tp.createBuilder('Grantee Co');
    patients.grantor = await createPatient(grantor, 'Grantorson');
    patients.grantee = await createPatient(grantee, 'Granteeson');
  });
  after(async () => { await tp.close(); });

  test('the second read of a principal is one statement; answers are those of a separate authentication', async () => {
    const first = await read(grantee.token, patients.grantee!);
    assert.equal(first.status, 200);
    assert.equal(first.body.id, patients.grantee);
    const second = await read(grantee.token, patients.grantee!);
    assert.equal(second.status, 200);
    assert.equal(second.statements, 1);
    // not found and unknown types: same answers as before, still one statement for a known principal
    const missing = await read(grantee.token, 'no-such-patient');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.resourceType, 'OperationOutcome');
    assert.equal(missing.statements, 1);
    assert.equal((await read(grantee.token, patients.grantor!)).status, 404, 'another builder\'s patient (no grant, no sharing)');
    const bogus = await tp.fetchAs(grantee.token, '/fhir/NoSuchType/x');
    assert.equal(bogus.status, 404);
    assert.equal(((await bogus.json()) as { resourceType: string }).resourceType, 'OperationOutcome');
    // no token, a bad token
    assert.equal((await fetch(`${tp.url}/fhir/Patient/${patients.grantee}`)).status, 401);
    assert.equal((await tp.fetchAs('not-a-token', `/fhir/Patient/${patients.grantee}`)).status, 401);
  });

  test('a new grant, its revocation and the Zus-Account header apply on the next read', async () => {
    assert.equal((await read(grantee.token, patients.grantor!)).status, 404);
    const body = { data: { type: 'auth/cross-builder-grants', attributes: { relationship: 'Business associate of a covered entity' }, relationships: { grantor: { data: { type: 'auth/builders', id: grantor.builderId } }, grantee: { data: { type: 'auth/builders', id: grantee.builderId } } } } };
    const g = await tp.fetchAs(tp.adminToken, '/auth/cross-builder-grants', jsonApi(body));
    assert.equal(g.status, 201);
    const grantId = ((await g.json()) as { data: { id: string } }).data.id;
    assert.equal((await read(grantee.token, patients.grantor!)).status, 200, 'granted: visible on the next read');
    assert.equal((await read(grantee.token, patients.grantor!, grantor.builderId)).status, 200, 'inside the grantor');
    assert.equal((await read(grantee.token, patients.grantee!, grantor.builderId)).status, 404, 'inside the grantor, own data is not in scope');
    assert.equal((await read(grantee.token, patients.grantee!)).status, 200);
    assert.equal((await tp.fetchAs(tp.adminToken, `/auth/cross-builder-grants/${grantId}`, { method: 'DELETE' })).status, 204);
    assert.equal((await read(grantee.token, patients.grantor!)).status, 404, 'revoked: gone on the next read');
    assert.equal((await read(grantee.token, patients.grantor!, grantor.builderId)).status, 403);
    assert.equal((await read(grantee.token, patients.grantee!)).status, 200);
  });

  test('a role change, a deactivation and a revoked token apply on the next read', async () => {
    const c = await tp.createClient(grantee.builderId, 'Builder Admin');
    assert.equal((await read(c.token, patients.grantee!)).status, 200);
    assert.equal((await read(c.token, patients.grantee!)).status, 200);
    await tp.platform.access.updateClient(c.clientId, { roleId: roleByName('Permissionless')!.id });
    assert.equal((await read(c.token, patients.grantee!)).status, 403);
    await tp.platform.access.updateClient(c.clientId, { roleId: roleByName('Care Team User')!.id });
    assert.equal((await read(c.token, patients.grantee!)).status, 200);
    await tp.platform.access.updateClient(c.clientId, { active: false });
    assert.equal((await read(c.token, patients.grantee!)).status, 401);

    const d = await tp.createClient(grantee.builderId, 'Builder Admin');
    assert.equal((await read(d.token, patients.grantee!)).status, 200);
    const revoke = await fetch(`${tp.url}/oauth/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: d.token, client_id: d.clientId, client_secret: d.clientSecret }).toString() });
    assert.equal(revoke.status, 200);
    assert.equal((await read(d.token, patients.grantee!)).status, 401);
    const fresh = await tp.token(d.clientId, d.clientSecret);
    assert.equal((await read(fresh, patients.grantee!)).status, 200);
  });

  test('users: the login session ends on the next read', async () => {
    const u = await createUserAndLogin(tp, grantee.token, grantee.builderId, 'Care Team User');
    assert.equal((await read(u.accessToken, patients.grantee!)).status, 200);
    const second = await read(u.accessToken, patients.grantee!);
    assert.equal(second.status, 200);
    assert.equal(second.statements, 1);
    assert.equal((await read(u.accessToken, patients.grantor!)).status, 404);
    const revoke = await fetch(`${tp.url}/oauth/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: u.accessToken, client_id: u.clientId }).toString() });
    assert.equal(revoke.status, 200);
    assert.equal((await read(u.accessToken, patients.grantee!)).status, 401);
  });
});
