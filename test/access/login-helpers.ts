// Helpers for tests that need people: create users through the API, read their mail from the outbox, set a
// password through the mailed link, and sign in with the authorization-code flow (PKCE) like a browser app.
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import type { TestPlatform } from '../helpers/platform.ts';
import { pkceChallenge } from '../../src/access/oauth.ts';
import { roleByName, type RoleName } from '../../src/access/roles.ts';

export const REDIRECT_URI = 'https://app.example.com/callback';
export const PASSWORD = 'correct horse battery staple';

export interface LoggedInUser {
  userId: string;
  email: string;
  builderId: string;
  accessToken: string;
  refreshToken: string;
  clientId: string;
  fetch(path: string, init?: RequestInit): Promise<Response>;
}

let n = 0;
export const uniqueEmail = (prefix = 'user') => `${prefix}.${Date.now().toString(36)}.${++n}.${randomBytes(3).toString('hex')}@example.com`;

export function jsonApi(body: unknown, headers: Record<string, string> = {}): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/vnd.api+json', ...headers }, body: JSON.stringify(body) };
}

export function userBody(email: string, roleName: RoleName, builderId?: string, extra: Record<string, unknown> = {}) {
  return {
    data: {
      type: 'auth/users',
      attributes: { email, name: `Name of ${email}`, userType: 'builder', ...extra },
      relationships: {
        'auth/roles': { data: { type: 'auth/roles', id: roleByName(roleName)!.id } },
        ...(builderId ? { 'auth/builders': { data: { type: 'auth/builders', id: builderId } } } : {}),
      },
    },
  };
}

/** The token in the newest mail to `email` whose link goes to `path`. */
export async function tokenFromMail(tp: TestPlatform, email: string, path = '/auth/password-reset'): Promise<string> {
  const rows = await tp.db.query<{ text_body: string }>('SELECT text_body FROM mail_outbox WHERE lower(to_address) = lower($1) ORDER BY created_at DESC, id', [email]);
  for (const r of rows.rows) {
    const m = new RegExp(`${path.replace(/\//g, '\\/')}\\?token=([A-Za-z0-9_-]+)`).exec(r.text_body);
    if (m) return m[1]!;
  }
  throw new Error(`no mail with ${path} for ${email}`);
}

/** A single-page-application client registered with REDIRECT_URI in the builder (direct, not through the API). */
export async function spaClient(tp: TestPlatform, builderId: string | null): Promise<string> {
  const { client } = await tp.platform.access.createClient({ builderId, name: `SPA ${++n}`, clientType: 'single_page_application', roleId: roleByName('Permissionless')!.id, redirectUris: [REDIRECT_URI] });
  return client.id;
}

export function pkcePair() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: pkceChallenge(verifier) };
}

/** Walks the authorization endpoint like a browser: GET the form, POST credentials, return the redirect. */
export async function authorize(tp: TestPlatform, opts: { clientId: string; email: string; password: string; challenge: string; state?: string; ip?: string }): Promise<Response> {
  const q = new URLSearchParams({ response_type: 'code', client_id: opts.clientId, redirect_uri: REDIRECT_URI, code_challenge: opts.challenge, code_challenge_method: 'S256', state: opts.state ?? 'st', scope: 'openid' });
  const page = await fetch(`${tp.url}/oauth/authorize?${q}`);
  assert.equal(page.status, 200, await page.clone().text());
  const html = await page.text();
  const sealed = /name="request" value="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&');
  return fetch(`${tp.url}/oauth/authorize`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(opts.ip ? { 'x-forwarded-for': opts.ip } : {}) },
    body: new URLSearchParams({ request: sealed, email: opts.email, password: opts.password }).toString(),
  });
}

export async function exchange(tp: TestPlatform, params: Record<string, string>): Promise<Response> {
  return fetch(`${tp.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params).toString() });
}

export async function loginAs(tp: TestPlatform, email: string, password: string, clientId: string): Promise<{ accessToken: string; refreshToken: string }> {
  const { verifier, challenge } = pkcePair();
  const r = await authorize(tp, { clientId, email, password, challenge });
  assert.equal(r.status, 302, await r.text());
  const code = new URL(r.headers.get('location')!).searchParams.get('code')!;
  const t = await exchange(tp, { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: clientId, redirect_uri: REDIRECT_URI });
  assert.equal(t.status, 200, await t.clone().text());
  const body = (await t.json()) as { access_token: string; refresh_token: string };
  return { accessToken: body.access_token, refreshToken: body.refresh_token };
}

/**
 * Creates a user through POST /auth/users (as `creatorToken`), sets the password through the mailed link and
 * signs in through an SPA client of the user's builder.
 */
export async function createUserAndLogin(tp: TestPlatform, creatorToken: string, builderId: string, roleName: RoleName, headers: Record<string, string> = {}): Promise<LoggedInUser> {
  const email = uniqueEmail(roleName.replace(/\s/g, '').toLowerCase());
  const r = await tp.fetchAs(creatorToken, '/auth/users', jsonApi(userBody(email, roleName, builderId, { sendVerificationEmail: false }), headers));
  assert.equal(r.status, 201, await r.clone().text());
  const userId = ((await r.json()) as { data: { id: string } }).data.id;
  const token = await tokenFromMail(tp, email);
  const set = await fetch(`${tp.url}/auth/password-reset`, jsonApi({ data: { type: 'auth/password-resets', attributes: { token, password: PASSWORD } } }));
  assert.equal(set.status, 200, await set.clone().text());
  const clientId = await spaClient(tp, builderId);
  const { accessToken, refreshToken } = await loginAs(tp, email, PASSWORD, clientId);
  return { userId, email, builderId, accessToken, refreshToken, clientId, fetch: (p, i) => tp.fetchAs(accessToken, p, i) };
}
