import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestPlatform, ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, type TestPlatform } from '../helpers/platform.ts';
import { roleByName } from '../../src/access/roles.ts';

describe('builders, machine clients and tokens', () => {
  let tp: TestPlatform;
  before(async () => { tp = await startTestPlatform(); });
  after(async () => { await tp.close(); });

  test('health and readiness', async () => {
    assert.equal((await fetch(`${tp.url}/healthz`)).status, 200);
    const r = await fetch(`${tp.url}/readyz`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { status: 'ready' });
  });

  test('token endpoint: JSON and form bodies, token shape and claims', async () => {
    const json = await fetch(`${tp.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'client_credentials', client_id: ADMIN_CLIENT_ID, client_secret: ADMIN_CLIENT_SECRET }) });
    assert.equal(json.status, 200);
    const body = (await json.json()) as Record<string, unknown>;
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.expires_in, 3600);
    const form = await fetch(`${tp.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', client_id: ADMIN_CLIENT_ID, client_secret: ADMIN_CLIENT_SECRET }).toString() });
    assert.equal(form.status, 200);
    const b = await tp.createBuilder('Claims Co');
    const payload = JSON.parse(Buffer.from(b.token.split('.')[1]!, 'base64url').toString());
    assert.equal(payload['https://zusapi.com/builder_id'], b.builderId);
    assert.equal(payload['https://zusapi.com/app_client_id'], b.clientId);
    assert.equal(payload['https://zusapi.com/role'], 'Builder Admin');
    assert.equal(payload['https://zusapi.com/builder_name'], 'Claims Co');
  });

  test('wrong credentials → 401 with an OAuth error body; secrets are stored hashed', async () => {
    const r = await fetch(`${tp.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'client_credentials', client_id: ADMIN_CLIENT_ID, client_secret: 'nope' }) });
    assert.equal(r.status, 401);
    assert.equal(((await r.json()) as { error: string }).error, 'invalid_client');
    const bad = await fetch(`${tp.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'password', username: 'a', password: 'b' }) });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: string }).error, 'unsupported_grant_type');
    const rows = await tp.db.query<{ secret_hash: string }>('SELECT secret_hash FROM app_clients WHERE id = $1', [ADMIN_CLIENT_ID]);
    assert.notEqual(rows.rows[0]!.secret_hash, ADMIN_CLIENT_SECRET);
    assert.match(rows.rows[0]!.secret_hash, /^[0-9a-f]{64}$/);
  });

  test('platform admin creates builders (JSON:API); builders cannot', async () => {
    const r = await tp.fetchAs(tp.adminToken, '/auth/builders', { method: 'POST', headers: { 'content-type': 'application/vnd.api+json' }, body: JSON.stringify({ data: { type: 'auth/builders', attributes: { name: 'Acme Health' } } }) });
    assert.equal(r.status, 201);
    const created = (await r.json()) as { data: { type: string; id: string; attributes: { name: string } } };
    assert.equal(created.data.type, 'auth/builders');
    assert.equal(created.data.attributes.name, 'Acme Health');
    const dup = await tp.fetchAs(tp.adminToken, '/auth/builders', { method: 'POST', body: JSON.stringify({ data: { type: 'auth/builders', attributes: { name: 'acme health' } } }) });
    assert.equal(dup.status, 409);
    assert.ok(((await dup.json()) as { errors: unknown[] }).errors.length > 0);
    const b = await tp.createBuilder();
    const forbidden = await b.fetch('/auth/builders', { method: 'POST', body: JSON.stringify({ data: { type: 'auth/builders', attributes: { name: 'Nope' } } }) });
    assert.equal(forbidden.status, 403);
    const mine = (await (await b.fetch('/auth/builders')).json()) as { data: { id: string }[] };
    assert.deepEqual(mine.data.map((d) => d.id), [b.builderId]);
  });

  test('app clients: create with the notes body, secret shown once, rotate, deactivate', async () => {
    const b = await tp.createBuilder();
    const roles = (await (await b.fetch('/auth/roles?filter[name]=Care Team User')).json()) as { data: { id: string; type: string; attributes: { name: string; isManaged: boolean; permissions: string[] } } };
    assert.equal(roles.data.type, 'auth/roles');
    assert.equal(roles.data.attributes.isManaged, true);
    const create = await b.fetch('/auth/app-clients', { method: 'POST', body: JSON.stringify({ data: { type: 'auth/app-clients', attributes: { type: 'machine_to_machine', name: 'Integration', userType: 'builder' }, relationships: { 'auth/roles': { data: { type: 'auth/roles', id: roles.data.id } } } } }) });
    assert.equal(create.status, 201);
    const c = (await create.json()) as { data: { id: string; attributes: { clientId: string; clientSecret: string } } };
    assert.ok(c.data.attributes.clientSecret);
    const got = (await (await b.fetch(`/auth/app-clients/${c.data.id}`)).json()) as { data: { attributes: Record<string, unknown> } };
    assert.equal(got.data.attributes.clientSecret, undefined, 'the secret is shown only once');
    const t1 = await tp.token(c.data.attributes.clientId, c.data.attributes.clientSecret);
    assert.ok(t1);
    const rot = (await (await b.fetch(`/auth/app-clients/${c.data.id}/rotate-secret`, { method: 'POST' })).json()) as { data: { attributes: { clientSecret: string } } };
    await assert.rejects(tp.token(c.data.attributes.clientId, c.data.attributes.clientSecret));
    const t2 = await tp.token(c.data.attributes.clientId, rot.data.attributes.clientSecret);
    assert.equal((await b.fetch(`/auth/app-clients/${c.data.id}`, { method: 'DELETE' })).status, 204);
    const afterDelete = await tp.fetchAs(t2, '/auth/roles');
    assert.equal(afterDelete.status, 401, 'a deactivated client token stops working on the next request');
    // admin creates a client in a builder named by the Zus-Account header
    const adminCreate = await tp.fetchAs(tp.adminToken, '/auth/app-clients', { method: 'POST', headers: { 'zus-account': b.builderId }, body: JSON.stringify({ data: { type: 'auth/app-clients', attributes: { type: 'machine_to_machine', name: 'By admin' }, relationships: { 'auth/roles': { data: { type: 'auth/roles', id: roleByName('Builder Admin')!.id } } } } }) });
    assert.equal(adminCreate.status, 201);
    const ac = (await adminCreate.json()) as { data: { relationships: { 'auth/builders': { data: { id: string } } } } };
    assert.equal(ac.data.relationships['auth/builders'].data.id, b.builderId);
  });

  test('missing or bad bearer token → 401; Zus-Account of another builder → 403', async () => {
    assert.equal((await fetch(`${tp.url}/auth/roles`)).status, 401);
    assert.equal((await tp.fetchAs('not-a-jwt', '/auth/roles')).status, 401);
    const fhir = await fetch(`${tp.url}/fhir/Patient`);
    assert.equal(fhir.status, 401);
    const oo = (await fhir.json()) as { resourceType: string };
    assert.equal(oo.resourceType, 'OperationOutcome');
    const a = await tp.createBuilder();
    const b = await tp.createBuilder();
    const r = await a.fetch('/auth/roles', { headers: { 'zus-account': b.builderId } });
    assert.equal(r.status, 403);
  });

  test('expired token is rejected (fake clock)', async () => {
    const b = await tp.createBuilder();
    tp.clock.advance(3601_000);
    assert.equal((await b.fetch('/auth/roles')).status, 401);
  });
});

describe('token rate limit', () => {
  test('429 with Retry-After past the hourly limit', async () => {
    const tp = await startTestPlatform({ config: { tokenRateLimitPerHour: 3 } });
    try {
      const b = await tp.createBuilder(); // 1 token request
      await tp.token(b.clientId, b.clientSecret);
      await tp.token(b.clientId, b.clientSecret);
      const r = await fetch(`${tp.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'client_credentials', client_id: b.clientId, client_secret: b.clientSecret }) });
      assert.equal(r.status, 429);
      assert.ok(Number(r.headers.get('retry-after')) > 0);
      tp.clock.advance(3601_000);
      assert.ok(await tp.token(b.clientId, b.clientSecret));
    } finally {
      await tp.close();
    }
  });
});
