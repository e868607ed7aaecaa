// OAuth 2.0 for people: authorization code with PKCE (S256 only, RFC 7636), rotating refresh tokens with reuse
// detection (OAuth 2.0 Security BCP §4.14), token revocation (RFC 7009) and login throttling. There is
// deliberately no password grant: credentials are typed only into Tessera's own login page.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Database } from '../db/types.ts';
import type { Clock } from '../platform/clock.ts';
import { newId, newSecret } from '../platform/ids.ts';
import { hashSecret, type KeyRing } from './keys.ts';
import { roleById } from './roles.ts';
import { issueAccessToken, verifyAccessToken } from './tokens.ts';
import { verifyAgainstDummy, verifyPassword } from './passwords.ts';
import type { AppClientRow, AccessSettings } from './service.ts';
import type { UserRow } from './users.ts';

/** An OAuth error answered as `{error, error_description}` (RFC 6749 §5.2). */
export class OAuthError extends Error {
  constructor(readonly status: number, readonly error: string, description: string, readonly headers: Record<string, string> = {}) {
    super(description);
  }
}

export const BROWSER_CLIENT_TYPES = ['single_page_application', 'native', 'regular_web_application'] as const;

/** What GET /oauth/authorize asked for, sealed into the login form so the POST cannot be forged or altered. */
export interface LoginRequest {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  state: string | undefined;
  scope: string;
  /** expiry (ms since epoch) */
  exp: number;
}

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  scope: string;
}

const PKCE_RE = /^[A-Za-z0-9\-._~]{43,128}$/;

export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

function safeEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a);
  const bb = Buffer.from(b);
  return ba.length === bb.length && timingSafeEqual(ba, bb);
}

export interface AuthorizeProblem {
  /** true: the redirect URI is trusted, so the error goes back to the app; false: show it on an error page */
  redirect: boolean;
  error: string;
  description: string;
}

export class OAuthService {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly keys: KeyRing,
    private readonly settings: AccessSettings,
    private readonly getClient: (id: string) => Promise<AppClientRow | undefined>,
  ) {}

  /** Checks GET /oauth/authorize parameters. Client and redirect URI are checked first: until both are known to be good, nothing is redirected. */
  async checkAuthorizeRequest(q: Record<string, unknown>): Promise<{ ok: LoginRequest; client: AppClientRow } | { problem: AuthorizeProblem; redirectUri?: string; state?: string }> {
    const str = (k: string) => (typeof q[k] === 'string' ? (q[k] as string) : undefined);
    const clientId = str('client_id');
    const redirectUri = str('redirect_uri');
    const state = str('state');
    const client = clientId ? await this.getClient(clientId) : undefined;
    if (!client || !client.active || !(BROWSER_CLIENT_TYPES as readonly string[]).includes(client.client_type)) {
      return { problem: { redirect: false, error: 'invalid_client', description: 'Unknown client, or a client that cannot log users in' } };
    }
    if (!redirectUri || !client.redirect_uris.includes(redirectUri)) {
      return { problem: { redirect: false, error: 'invalid_request', description: 'redirect_uri is missing or not registered for this client' } };
    }
    const fail = (error: string, description: string) => ({ problem: { redirect: true, error, description }, redirectUri, state });
    if (str('response_type') !== 'code') return fail('unsupported_response_type', 'response_type must be code');
    const challenge = str('code_challenge');
    if (!challenge || !PKCE_RE.test(challenge)) return fail('invalid_request', 'code_challenge (PKCE) is required');
    if (str('code_challenge_method') !== 'S256') return fail('invalid_request', 'code_challenge_method must be S256');
    const scope = (str('scope') ?? '').trim();
    if (scope.length > 1000) return fail('invalid_scope', 'scope is too long');
    return {
      client,
      ok: { clientId: client.id, redirectUri, codeChallenge: challenge, state, scope, exp: this.clock.nowMs() + this.settings.flows.loginFormTtlSeconds * 1000 },
    };
  }

  sealLoginRequest(r: LoginRequest): string {
    return this.keys.encrypt(JSON.stringify(r));
  }

  openLoginRequest(sealed: unknown): LoginRequest | null {
    if (typeof sealed !== 'string' || sealed.length > 4000) return null;
    try {
      const r = JSON.parse(this.keys.decrypt(sealed)) as LoginRequest;
      return r.exp > this.clock.nowMs() ? r : null;
    } catch {
      return null;
    }
  }

  /**
   * Checks a login. Throttled per account and per client IP: past the configured number of failures in the window,
   * 429 with Retry-After, before the password is even looked at.
   */
  async checkLogin(email: string, password: string, ip: string, findUser: (email: string) => Promise<UserRow | undefined>): Promise<UserRow> {
    const f = this.settings.flows;
    const now = this.clock.nowMs();
    const windowStart = new Date(now - f.loginFailureWindowSeconds * 1000);
    const accountKey = `account:${email.trim().toLowerCase()}`;
    const ipKey = `ip:${ip}`;
    const counts = (await this.db.query<{ key: string; n: number; oldest: Date }>(
      'SELECT key, count(*)::int8 AS n, min(failed_at) AS oldest FROM login_failures WHERE key = ANY($1::text[]) AND failed_at > $2 GROUP BY key',
      [[accountKey, ipKey], windowStart],
    )).rows;
    for (const c of counts) {
      const max = c.key === accountKey ? f.loginMaxFailuresPerAccount : f.loginMaxFailuresPerIp;
      if (max > 0 && c.n >= max) {
        const retry = Math.max(1, Math.ceil((c.oldest.getTime() + f.loginFailureWindowSeconds * 1000 - now) / 1000));
        throw new OAuthError(429, 'too_many_requests', 'Too many failed logins; try again later', { 'retry-after': String(retry) });
      }
    }
    const user = email ? await findUser(email) : undefined;
    const ok = user?.password_hash ? await verifyPassword(user.password_hash, password) : await verifyAgainstDummy(password);
    if (!user || !ok || !user.active) {
      await this.db.query('INSERT INTO login_failures (key, failed_at) VALUES ($1, $3), ($2, $3)', [accountKey, ipKey, new Date(now)]);
      if (Math.random() < 0.01) await this.db.query('DELETE FROM login_failures WHERE failed_at < $1', [windowStart]);
      throw new OAuthError(401, 'access_denied', 'Wrong email or password');
    }
    await this.db.query('DELETE FROM login_failures WHERE key = $1', [accountKey]);
    return user;
  }

  async issueCode(r: LoginRequest, user: UserRow): Promise<string> {
    const code = newSecret();
    const now = this.clock.nowMs();
    await this.db.query(
      `INSERT INTO authorization_codes (code_hash, client_id, user_id, redirect_uri, code_challenge, scope, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [hashSecret(code), r.clientId, user.id, r.redirectUri, r.codeChallenge, r.scope, new Date(now), new Date(now + this.settings.flows.authorizationCodeTtlSeconds * 1000)],
    );
    return code;
  }

  /** Public clients (SPA, native) authenticate by client_id alone, PKCE binds the code; confidential ones also by secret. */
  async authenticateClient(clientId: string | undefined, clientSecret: string | undefined): Promise<AppClientRow> {
    const client = clientId ? await this.getClient(clientId) : undefined;
    if (!client || !client.active || client.is_platform_admin) throw new OAuthError(401, 'invalid_client', 'Unknown client');
    const confidential = client.client_type === 'regular_web_application' || client.client_type === 'machine_to_machine';
    if (confidential || clientSecret !== undefined) {
      if (!clientSecret || !safeEqual(client.secret_hash, hashSecret(clientSecret))) throw new OAuthError(401, 'invalid_client', 'Wrong client secret');
    }
    return client;
  }

  async exchangeCode(p: { code?: string; redirectUri?: string; codeVerifier?: string; audience?: string; client: AppClientRow; loadUser: (id: string) => Promise<UserRow | undefined> }): Promise<TokenResponse> {
    if (!(BROWSER_CLIENT_TYPES as readonly string[]).includes(p.client.client_type)) throw new OAuthError(400, 'unauthorized_client', 'This client may not use the authorization_code grant');
    if (!p.code || !p.codeVerifier || !p.redirectUri) throw new OAuthError(400, 'invalid_request', 'code, code_verifier and redirect_uri are required');
    const now = this.clock.now();
    const codeHash = hashSecret(p.code);
    const row = (await this.db.query<{ client_id: string; user_id: string; redirect_uri: string; code_challenge: string; scope: string; expires_at: Date; used_at: Date | null; session_id: string | null }>(
      'SELECT * FROM authorization_codes WHERE code_hash = $1', [codeHash],
    )).rows[0];
    if (!row) throw new OAuthError(400, 'invalid_grant', 'Unknown authorization code');
    const replayed = async () => {
      // A replayed code means it leaked: end whatever was issued for it (RFC 6749 §4.1.2).
      const used = (await this.db.query<{ session_id: string | null }>('SELECT session_id FROM authorization_codes WHERE code_hash = $1', [codeHash])).rows[0];
      if (used?.session_id) await this.revokeSession(used.session_id, 'authorization code replayed');
      return new OAuthError(400, 'invalid_grant', 'The authorization code was already used');
    };
    if (row.used_at) throw await replayed();
    if (row.expires_at.getTime() <= now.getTime()) throw new OAuthError(400, 'invalid_grant', 'The authorization code has expired');
    if (row.client_id !== p.client.id) throw new OAuthError(400, 'invalid_grant', 'The authorization code was issued to another client');
    if (row.redirect_uri !== p.redirectUri) throw new OAuthError(400, 'invalid_grant', 'redirect_uri does not match the authorization request');
    if (!PKCE_RE.test(p.codeVerifier) || !safeEqual(pkceChallenge(p.codeVerifier), row.code_challenge)) throw new OAuthError(400, 'invalid_grant', 'code_verifier does not match the code_challenge');
    const user = await p.loadUser(row.user_id);
    if (!user || !user.active) throw new OAuthError(400, 'invalid_grant', 'The user is not active');
    const sessionId = newId();
    const refresh = newSecret();
    const won = await this.db.transaction(async (tx) => {
      // The claim is the single-use check: of two concurrent redemptions exactly one updates the row.
      const claimed = await tx.query('UPDATE authorization_codes SET used_at = $2, session_id = $3 WHERE code_hash = $1 AND used_at IS NULL', [codeHash, now, sessionId]);
      if (claimed.rowCount !== 1) return false;
      await tx.query('INSERT INTO auth_sessions (id, user_id, client_id, scope, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)',
        [sessionId, user.id, p.client.id, row.scope, now, new Date(now.getTime() + this.settings.flows.sessionTtlSeconds * 1000)]);
      await tx.query('INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)', [hashSecret(refresh), sessionId, now]);
      return true;
    });
    if (!won) throw await replayed();
    return this.tokenResponse(user, p.client.id, sessionId, row.scope, refresh, p.audience);
  }

  async refresh(p: { refreshToken?: string; audience?: string; client: AppClientRow; loadUser: (id: string) => Promise<UserRow | undefined> }): Promise<TokenResponse> {
    if (!p.refreshToken) throw new OAuthError(400, 'invalid_request', 'refresh_token is required');
    const now = this.clock.now();
    const hash = hashSecret(p.refreshToken);
    const found = (await this.db.query<{ session_id: string; used_at: Date | null; client_id: string; user_id: string; scope: string; expires_at: Date; revoked_at: Date | null }>(
      `SELECT t.session_id, t.used_at, s.client_id, s.user_id, s.scope, s.expires_at, s.revoked_at
       FROM refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id WHERE t.token_hash = $1`, [hash],
    )).rows[0];
    if (!found || found.client_id !== p.client.id) throw new OAuthError(400, 'invalid_grant', 'Unknown refresh token');
    if (found.revoked_at || found.expires_at.getTime() <= now.getTime()) throw new OAuthError(400, 'invalid_grant', 'The login has ended; sign in again');
    // Rotation: the token is claimed once. A second presentation means two parties hold it, so the whole login ends.
    const claimed = await this.db.query('UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL', [hash, now]);
    if (claimed.rowCount !== 1) {
      await this.revokeSession(found.session_id, 'refresh token reused');
      throw new OAuthError(400, 'invalid_grant', 'The refresh token was already used; the login has been ended');
    }
    const user = await p.loadUser(found.user_id);
    if (!user || !user.active) throw new OAuthError(400, 'invalid_grant', 'The user is not active');
    const refresh = newSecret();
    await this.db.query('INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)', [hashSecret(refresh), found.session_id, now]);
    return this.tokenResponse(user, p.client.id, found.session_id, found.scope, refresh, p.audience);
  }

  /** RFC 7009: refresh tokens end their login; user access tokens end their login; client tokens are blocklisted by jti. Unknown tokens are ignored. */
  async revoke(token: string, client: AppClientRow): Promise<void> {
    const refresh = (await this.db.query<{ session_id: string; client_id: string }>(
      'SELECT t.session_id, s.client_id FROM refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id WHERE t.token_hash = $1', [hashSecret(token)],
    )).rows[0];
    if (refresh) {
      if (refresh.client_id === client.id) await this.revokeSession(refresh.session_id, 'revoked by client');
      return;
    }
    const verified = await verifyAccessToken(this.keys, this.clock, this.settings, token);
    if (!verified) return;
    if (verified.kind === 'user' && verified.sessionId && verified.clientId === client.id) {
      await this.revokeSession(verified.sessionId, 'revoked by client');
    } else if (verified.kind === 'client' && verified.id === client.id && verified.jti) {
      await this.db.query('INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING', [verified.jti, new Date(verified.expiresAt * 1000)]);
    }
  }

  async revokeSession(sessionId: string, reason: string): Promise<void> {
    await this.db.query('UPDATE auth_sessions SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL', [sessionId, this.clock.now(), reason]);
  }

  private async tokenResponse(user: UserRow, clientId: string, sessionId: string, scope: string, refresh: string, audience: string | undefined): Promise<TokenResponse> {
    const aud = audience ?? this.settings.audiences[0]!;
    if (!this.settings.audiences.includes(aud)) throw new OAuthError(400, 'invalid_request', `unknown audience '${aud}'`);
    const role = roleById(user.role_id)!;
    const builder = (await this.db.query<{ name: string }>('SELECT name FROM builders WHERE id = $1', [user.builder_id])).rows[0];
    const access = await issueAccessToken(this.keys, this.clock, this.settings, {
      kind: 'user',
      id: user.id,
      builderId: user.builder_id,
      builderName: builder?.name ?? null,
      roleName: role.name,
      permissions: role.permissions,
      isPlatformAdmin: false,
      email: user.email,
      authenticatedBy: 'authorization_code',
      sessionId,
      clientId,
      scope,
    }, aud);
    return { access_token: access, token_type: 'Bearer', expires_in: this.settings.ttlSeconds, refresh_token: refresh, scope };
  }
}
