import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, generateKeyPair } from 'jose';
import { startTestPlatform, type TestPlatform, type TestBuilder } from '../helpers/platform.ts';
import { PASSWORD, REDIRECT_URI, authorize, createUserAndLogin, exchange, jsonApi, pkcePair, spaClient } from './login-helpers.ts';
import { roleByName } from '../../src/access/roles.ts';

const decode = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

describe('user login: authorization code + PKCE, refresh rotation, revocation', () => {
  let tp: TestPlatform;
  let admin: TestBuilder;
  before(async () => {
    tp = await startTestPlatform();
    admin = await tp.createBuilder('Login Co');
  });
  after(async () => { await tp.close(); });

  test('authorization server metadata (RFC 8414)', async () => {
    const r = await fetch(`${tp.url}/.well-known/oauth-authorization-server`);
    assert.equal(r.status, 200);
    const m = (await r.json()) as Record<string, unknown>;
    assert.equal(m.authorization_endpoint, `${tp.url}/oauth/authorize`);
    assert.deepEqual(m.code_challenge_methods_supported, ['S256']);
    assert.ok(!(m.grant_types_supported as string[]).includes('password'));
  });

  test('there is no password grant', async () => {
    const u = await createUserAndLogin(tp, admin.token, admin.builderId, 'Care Team User');
    const r = await exchange(tp, { grant_type: 'password', username: u.email, password: PASSWORD, client_id: u.clientId });
    assert.equal(r.status, 400);
    assert.equal(((await r.json()) as { error: string }).error, 'unsupported_grant_type');
  });

  test('full flow: user token carries the user claims and authenticates', async () => {
    const u = await createUserAndLogin(tp, admin.token, admin.builderId, 'Builder Admin');
    const claims = decode(u.accessToken);
    assert.equal(claims['https://zusapi.com/user_id'], u.userId);
    assert.equal(claims['https://zusapi.com/email'], u.email);
    assert.equal(claims['https://zusapi.com/builder_id'], admin.builderId);
    assert.equal(claims['https://zusapi.com/builder_name'], 'Login Co');
    assert.equal(claims['https://zusapi.com/role'], 'Builder Admin');
    assert.equal(claims['https://zusapi.com/authenticated_by'], 'authorization_code');
    assert.equal(claims.azp, u.clientId);
    const me = (await (await u.fetch('/auth/users/me')).json()) as { data: { id: string; type: string } };
    assert.deepEqual([me.data.type, me.data.id], ['auth/users', u.userId]);
    // a user with Builder Admin manages users like a machine client with that role
    const list = await u.fetch('/auth/users');
    assert.equal(list.status, 200);
  });

  test('authorize endpoint: unknown client / unregistered redirect → error page, never a redirect', async () => {
    const clientId = await spaClient(tp, admin.builderId);
    const { challenge } = pkcePair();
    const base = { response_type: 'code', client_id: clientId, redirect_uri: REDIRECT_URI, code_challenge: challenge, code_challenge_method: 'S256', state: 'xyz' };
    const bad = async (q: Record<string, string>) => fetch(`${tp.url}/oauth/authorize?${new URLSearchParams(q)}`, { redirect: 'manual' });
    for (const q of [{ ...base, client_id: 'nope' }, { ...base, redirect_uri: 'https://evil.example.com/cb' }, { ...base, client_id: admin.clientId }]) {
      const r = await bad(q);
      assert.equal(r.status, 400);
      assert.match(r.headers.get('content-type')!, /text\/html/);
    }
    // trusted redirect: errors go back to the app with the state
    for (const [q, error] of [
      [{ ...base, code_challenge_method: 'plain' }, 'invalid_request'],
      [{ ...base, code_challenge: '' }, 'invalid_request'],
      [{ ...base, response_type: 'token' }, 'unsupported_response_type'],
    ] as const) {
      const r = await bad(q);
      assert.equal(r.status, 302);
      const loc = new URL(r.headers.get('location')!);
      assert.equal(loc.origin + loc.pathname, REDIRECT_URI);
      assert.equal(loc.searchParams.get('error'), error);
      assert.equal(loc.searchParams.get('state'), 'xyz');
    }
    // a tampered sealed form is refused
    const post = await fetch(`${tp.url}/oauth/authorize`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ request: 'v1.AAAA.BBBB.CCCC', email: 'a@b.co', password: PASSWORD }).toString() });
    assert.equal(post.status, 400);
  });

  test('wrong password re-renders the form (401); code is single use, bound to client, redirect URI and verifier', async () => {
    const u = await createUserAndLogin(tp, admin.token, admin.builderId, 'Care Team User');
    const { verifier, challenge } = pkcePair();
    const wrong = await authorize(tp, { clientId: u.clientId, email: u.email, password: 'not the password at all', challenge });
    assert.equal(wrong.status, 401);
    assert.match(await wrong.text(), /Wrong email or password/);
    const ok = await authorize(tp, { clientId: u.clientId, email: u.email, password: PASSWORD, challenge, state: 'abc' });
    assert.equal(ok.status, 302);
    const loc = new URL(ok.headers.get('location')!);
    assert.equal(loc.searchParams.get('state'), 'abc');
    const code = loc.searchParams.get('code')!;
    const other = await spaClient(tp, admin.builderId);
    const tries: [Record<string, string>, string][] = [
      [{ code_verifier: pkcePair().verifier }, 'invalid_grant'],
      [{ redirect_uri: 'https://app.example.com/other' }, 'invalid_grant'],
      [{ client_id: other }, 'invalid_grant'],
    ];
    for (const [change, error] of tries) {
      const r = await exchange(tp, { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: u.clientId, redirect_uri: REDIRECT_URI, ...change });
      assert.equal(r.status, 400, JSON.stringify(change));
      assert.equal(((await r.json()) as { error: string }).error, error);
    }
    const good = await exchange(tp, { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: u.clientId, redirect_uri: REDIRECT_URI });
    assert.equal(good.status, 200);
    const tokens = (await good.json()) as { access_token: string; refresh_token: string };
    assert.equal((await tp.fetchAs(tokens.access_token, '/auth/users/me')).status, 200);
    // replaying the code fails and ends the login it produced (RFC 6749 §4.1.2)
    const replay = await exchange(tp, { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: u.clientId, redirect_uri: REDIRECT_URI });
    assert.equal(replay.status, 400);
    assert.equal((await tp.fetchAs(tokens.access_token, '/auth/users/me')).status, 401);
  });

  test('a regular_web_application (confidential) must send its secret; an expired login form is refused', async () => {
    const u = await createUserAndLogin(tp, admin.token, admin.builderId, 'Care Team User');
    const { client, secret } = await tp.platform.access.createClient({ builderId: admin.builderId, name: 'Web', clientType: 'regular_web_application', roleId: roleByName('Permissionless')!.id, redirectUris: [REDIRECT_URI] });
    const { verifier, challenge } = pkcePair();
    const r = await authorize(tp, { clientId: client.id, email: u.email, password: PASSWORD, challenge });
    const code = new URL(r.headers.get('location')!).searchParams.get('code')!;
    const params = { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: client.id, redirect_uri: REDIRECT_URI };
    const noSecret = await exchange(tp, params);
    assert.equal(noSecret.status, 401);
    assert.equal(((await noSecret.json()) as { error: string }).error, 'invalid_client');
    assert.equal((await exchange(tp, { ...params, client_secret: 'wrong' })).status, 401);
    assert.equal((await exchange(tp, { ...params, client_secret: secret })).status, 200);
    // the sealed login form expires (TESSERA_LOGIN_FORM_TTL_SECONDS, 30 min by default; 5 s here)
    const flows = tp.platform.access.settings.flows;
    const savedTtl = flows.loginFormTtlSeconds;
    flows.loginFormTtlSeconds = 5;
    const q = new URLSearchParams({ response_type: 'code', client_id: u.clientId, redirect_uri: REDIRECT_URI, code_challenge: challenge, code_challenge_method: 'S256' });
    const html = await (await fetch(`${tp.url}/oauth/authorize?${q}`)).text();
    flows.loginFormTtlSeconds = savedTtl;
    const sealed = /name="request" value="([^"]+)"/.exec(html)![1]!;
    tp.clock.advance(6_000);
    const late = await fetch(`${tp.url}/oauth/authorize`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ request: sealed, email: u.email, password: PASSWORD }).toString() });
    assert.equal(late.status, 400);
    assert.match(await late.text(), /expired/);
  });

  test('authorization codes expire', async () => {
    const u = await createUserAndLogin(tp, admin.token, admin.builderId, 'Care Team User');
    const { verifier, challenge } = pkcePair();
    const r = await authorize(tp, { clientId: u.clientId, email: u.email, password: PASSWORD, challenge });
    const code = new URL(r.headers.get('location')!).searchParams.get('code')!;
    tp.clock.advance(61_000);
    const late = await exchange(tp, { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: u.clientId, redirect_uri: REDIRECT_URI });
    assert.equal(late.status, 400);
    assert.match(((await late.json()) as { error_description: string }).error_description, /expired/);
  });

  test('refresh tokens rotate; reusing an old one ends the whole login', async () => {
    const u = await createUserAndLogin(tp, admin.token, admin.builderId, 'Care Team User');
    const r1 = await exchange(tp, { grant_type: 'refresh_token', refresh_token: u.refreshToken, client_id: u.clientId });
    assert.equal(r1.status, 200);
    const t1 = (await r1.json()) as { access_token: string; refresh_token: string };
    assert.notEqual(t1.refresh_token, u.refreshToken);
    assert.equal((await tp.fetchAs(t1.access_token, '/auth/users/me')).status, 200);
    // another client cannot use it
    const other = await spaClient(tp, admin.builderId);
    assert.equal((await exchange(tp, { grant_type: 'refresh_token', refresh_token: t1.refresh_token, client_id: other })).status, 400);
    // the first refresh token again: reuse → the family is revoked
    const reuse = await exchange(tp, { grant_type: 'refresh_token', refresh_token: u.refreshToken, client_id: u.clientId });
    assert.equal(reuse.status, 400);
    assert.equal(((await reuse.json()) as { error: string }).error, 'invalid_grant');
    assert.equal((await exchange(tp, { grant_type: 'refresh_token', refresh_token: t1.refresh_token, client_id: u.clientId })).status, 400);
    assert.equal((await tp.fetchAs(t1.access_token, '/auth/users/me')).status, 401, 'access tokens of the login end too');
    const stored = await tp.db.query<{ token_hash: string }>('SELECT token_hash FROM refresh_tokens');
    assert.ok(stored.rows.every((x) => x.token_hash !== u.refreshToken && x.token_hash !== t1.refresh_token), 'refresh tokens are stored hashed');
  });

  test('revocation (RFC 7009): refresh token, user access token, client access token', async () => {
    const u = await createUserAndLogin(tp, admin.token, admin.builderId, 'Care Team User');
    const revoke = (params: Record<string, string>) => fetch(`${tp.url}/oauth/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params).toString() });
    assert.equal((await revoke({ token: 'unknown-token', client_id: u.clientId })).status, 200);
    assert.equal((await revoke({ token: u.refreshToken, client_id: 'no-such-client' })).status, 401);
    assert.equal((await revoke({ token: u.refreshToken, client_id: u.clientId, token_type_hint: 'refresh_token' })).status, 200);
    assert.equal((await u.fetch('/auth/users/me')).status, 401);
    assert.equal((await exchange(tp, { grant_type: 'refresh_token', refresh_token: u.refreshToken, client_id: u.clientId })).status, 400);

    const u2 = await createUserAndLogin(tp, admin.token, admin.builderId, 'Care Team User');
    assert.equal((await revoke({ token: u2.accessToken, client_id: u2.clientId })).status, 200);
    assert.equal((await u2.fetch('/auth/users/me')).status, 401);

    const m2m = await tp.createClient(admin.builderId, 'Care Team User');
    assert.equal((await revoke({ token: m2m.token, client_id: m2m.clientId })).status, 401, 'a confidential client authenticates');
    assert.equal((await revoke({ token: m2m.token, client_id: m2m.clientId, client_secret: m2m.clientSecret })).status, 200);
    assert.equal((await m2m.fetch('/auth/roles')).status, 401);
    const fresh = await tp.token(m2m.clientId, m2m.clientSecret);
    assert.equal((await tp.fetchAs(fresh, '/auth/roles')).status, 200, 'only that token ended');
  });

  test('deactivating a user or changing the role applies on the next request', async () => {
    const u = await createUserAndLogin(tp, admin.token, admin.builderId, 'Builder Admin');
    assert.equal((await u.fetch('/auth/users')).status, 200);
    const patch = (body: unknown) => admin.fetch(`/auth/users/${u.userId}`, { method: 'PATCH', headers: { 'content-type': 'application/vnd.api+json' }, body: JSON.stringify(body) });
    assert.equal((await patch({ data: { type: 'auth/users', id: u.userId, relationships: { 'auth/roles': { data: { type: 'auth/roles', id: roleByName('Permissionless')!.id } } } } })).status, 200);
    assert.equal((await u.fetch('/auth/users')).status, 403);
    assert.equal((await admin.fetch(`/auth/users/${u.userId}`, { method: 'DELETE' })).status, 204);
    assert.equal((await u.fetch('/auth/users/me')).status, 401);
    assert.equal((await exchange(tp, { grant_type: 'refresh_token', refresh_token: u.refreshToken, client_id: u.clientId })).status, 400);
    // and cannot sign in again
    const r = await authorize(tp, { clientId: u.clientId, email: u.email, password: PASSWORD, challenge: pkcePair().challenge });
    assert.equal(r.status, 401);
  });

  test('an app of one builder does not sign in another builder\'s people', async () => {
    const u = await createUserAndLogin(tp, admin.token, admin.builderId, 'Care Team User');
    const other = await tp.createBuilder();
    const foreignApp = await spaClient(tp, other.builderId);
    const r = await authorize(tp, { clientId: foreignApp, email: u.email, password: PASSWORD, challenge: pkcePair().challenge });
    assert.equal(r.status, 403);
    const consoleApp = await spaClient(tp, null);
    const ok = await authorize(tp, { clientId: consoleApp, email: u.email, password: PASSWORD, challenge: pkcePair().challenge });
    assert.equal(ok.status, 302, 'a platform-level app (no builder) signs in anyone');
  });

  test('app clients: redirect URIs are registered, validated and shown', async () => {
    const create = (attributes: Record<string, unknown>) => admin.fetch('/auth/app-clients', jsonApi({ data: { type: 'auth/app-clients', attributes, relationships: { 'auth/roles': { data: { type: 'auth/roles', id: roleByName('Permissionless')!.id } } } } }));
    const ok = await create({ type: 'single_page_application', name: 'Console', redirectUris: ['https://console.example.com/cb', 'http://localhost:3000/cb'] });
    assert.equal(ok.status, 201);
    const c = (await ok.json()) as { data: { id: string; attributes: { redirectUris: string[] } } };
    assert.deepEqual(c.data.attributes.redirectUris, ['https://console.example.com/cb', 'http://localhost:3000/cb']);
    for (const redirectUris of [['http://evil.example.com/cb'], ['https://a.example.com/cb#frag'], ['not a url'], 'https://x.example.com']) {
      assert.equal((await create({ type: 'single_page_application', name: 'Bad', redirectUris })).status, 400, JSON.stringify(redirectUris));
    }
    assert.equal((await create({ type: 'machine_to_machine', name: 'M2M', redirectUris: ['https://x.example.com/cb'] })).status, 400);
    assert.equal((await create({ type: 'native', name: 'Mobile', redirectUris: ['com.example.app:/callback'] })).status, 201);
    const patched = await admin.fetch(`/auth/app-clients/${c.data.id}`, { method: 'PATCH', headers: { 'content-type': 'application/vnd.api+json' }, body: JSON.stringify({ data: { type: 'auth/app-clients', id: c.data.id, attributes: { redirectUris: ['https://new.example.com/cb'] } } }) });
    assert.deepEqual(((await patched.json()) as typeof c).data.attributes.redirectUris, ['https://new.example.com/cb']);
  });

  test('brute force: per account and per IP 429 with Retry-After, configurable, window on the injected clock', async () => {
    const flows = tp.platform.access.settings.flows;
    const saved = { ...flows };
    flows.loginMaxFailuresPerAccount = 3;
    flows.loginMaxFailuresPerIp = 6;
    try {
      tp.clock.advance(901_000); // no failures of earlier tests in the window
      const u = await createUserAndLogin(tp, admin.token, admin.builderId, 'Care Team User');
      const challenge = pkcePair().challenge;
      for (let i = 0; i < 3; i++) assert.equal((await authorize(tp, { clientId: u.clientId, email: u.email, password: 'wrong password number ' + i, challenge })).status, 401);
      const locked = await authorize(tp, { clientId: u.clientId, email: u.email, password: PASSWORD, challenge });
      assert.equal(locked.status, 429, 'even the right password is refused while throttled');
      assert.ok(Number(locked.headers.get('retry-after')) > 0);
      // per IP: failures on other accounts from the same address add up
      for (let i = 0; i < 3; i++) assert.equal((await authorize(tp, { clientId: u.clientId, email: `ghost${i}@example.com`, password: 'whatever password', challenge })).status, 401);
      const ipLocked = await authorize(tp, { clientId: u.clientId, email: 'ghost-x@example.com', password: 'whatever password', challenge });
      assert.equal(ipLocked.status, 429);
      tp.clock.advance(901_000);
      assert.equal((await authorize(tp, { clientId: u.clientId, email: u.email, password: PASSWORD, challenge })).status, 302, 'the window passed');
    } finally {
      Object.assign(flows, saved);
    }
  });

  test('token endpoint limit (per client per hour) also covers user grants', async () => {
    const settings = tp.platform.access.settings;
    const saved = settings.tokenRateLimitPerHour;
    settings.tokenRateLimitPerHour = 2;
    try {
      const clientId = await spaClient(tp, admin.builderId);
      for (let i = 0; i < 2; i++) assert.equal((await exchange(tp, { grant_type: 'refresh_token', refresh_token: 'x', client_id: clientId })).status, 400);
      const r = await exchange(tp, { grant_type: 'refresh_token', refresh_token: 'x', client_id: clientId });
      assert.equal(r.status, 429);
      assert.ok(Number(r.headers.get('retry-after')) > 0);
    } finally {
      settings.tokenRateLimitPerHour = saved;
    }
  });

  test('expired, tampered, wrongly signed and wrong-audience tokens are rejected', async () => {
    const u = await createUserAndLogin(tp, admin.token, admin.builderId, 'Care Team User');
    assert.equal((await u.fetch('/auth/users/me')).status, 200);
    const [h, p, s] = u.accessToken.split('.');
    const claims = decode(u.accessToken);
    const tamperedPayload = Buffer.from(JSON.stringify({ ...claims, 'https://zusapi.com/role': 'Builder Admin', 'https://zusapi.com/builder_id': 'other' })).toString('base64url');
    assert.equal((await tp.fetchAs(`${h}.${tamperedPayload}.${s}`, '/auth/users/me')).status, 401, 'tampered payload');
    const flipped = s!.slice(0, -2) + (s!.endsWith('AA') ? 'BB' : 'AA');
    assert.equal((await tp.fetchAs(`${h}.${p}.${flipped}`, '/auth/users/me')).status, 401, 'tampered signature');
    assert.equal((await tp.fetchAs(`${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${p}.`, '/auth/users/me')).status, 401, 'alg none');
    const { privateKey } = await generateKeyPair('ES256');
    const foreign = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'x' }).sign(privateKey);
    assert.equal((await tp.fetchAs(foreign, '/auth/users/me')).status, 401, 'signed by another key');
    // wrong audience: signed with the platform's own key, for another API
    const keys = tp.platform.access.keys;
    const wrongAud = await new SignJWT({ ...claims, aud: 'https://other-api.example.com' }).setProtectedHeader({ alg: 'ES256', kid: keys.kid }).sign(keys.privateKey);
    assert.equal((await tp.fetchAs(wrongAud, '/auth/users/me')).status, 401, 'wrong audience');
    const rightAud = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: keys.kid }).sign(keys.privateKey);
    assert.equal((await tp.fetchAs(rightAud, '/auth/users/me')).status, 200, 'control: same claims, right audience');
    const wrongIss = await new SignJWT({ ...claims, iss: 'someone-else' }).setProtectedHeader({ alg: 'ES256', kid: keys.kid }).sign(keys.privateKey);
    assert.equal((await tp.fetchAs(wrongIss, '/auth/users/me')).status, 401, 'wrong issuer');
    // requesting a token for an unknown audience fails at the token endpoint
    const r = await exchange(tp, { grant_type: 'refresh_token', refresh_token: u.refreshToken, client_id: u.clientId, audience: 'https://other-api.example.com' });
    assert.equal(r.status, 400);
    // expiry on the fake clock
    tp.clock.advance(3601_000);
    assert.equal((await u.fetch('/auth/users/me')).status, 401, 'expired');
  });
});
