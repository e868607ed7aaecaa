// Builders, app clients and request authentication. Secrets are random 256-bit values stored as SHA-256
// hashes (a slow KDF adds nothing for secrets with that much entropy; passwords use argon2id).
import { timingSafeEqual } from 'node:crypto';
import type { Database, Queryable } from '../db/types.ts';
import type { Clock } from '../platform/clock.ts';
import { newId, newSecret } from '../platform/ids.ts';
import { badRequest, conflict, forbidden, notFound, tooManyRequests, unauthorized, HttpError } from '../platform/errors.ts';
import { hashSecret, type KeyRing } from './keys.ts';
import { MANAGED_ROLES, roleById, roleByName } from './roles.ts';
import { issueAccessToken, verifyAccessToken, type TokenSettings, type VerifiedToken } from './tokens.ts';
import type { AccessContext, Principal } from './context.ts';
import { authFlowSettingsFromEnv, type AuthFlowSettings } from './settings.ts';
import { createMailer, type Mailer } from './mail.ts';
import { UserService } from './users.ts';
import { GrantService, grantorsSql } from './grants.ts';
import { OAuthService } from './oauth.ts';
import type { FhirStore } from '../fhir/store/index.ts';

export interface BuilderRow {
  id: string;
  name: string;
  created_at: Date;
  updated_at: Date;
}

export interface AppClientRow {
  id: string;
  builder_id: string | null;
  name: string;
  client_type: string;
  user_type: string;
  role_id: string;
  secret_hash: string;
  is_platform_admin: boolean;
  active: boolean;
  /** where browser/native apps may be sent back after login (exact match) */
  redirect_uris: string[];
  created_at: Date;
  updated_at: Date;
}

export const CLIENT_TYPES = ['machine_to_machine', 'native', 'regular_web_application', 'single_page_application'] as const;

export interface AccessSettings extends TokenSettings {
  tokenRateLimitPerHour: number;
  /** user login, password and mail settings (defaults from the environment, see settings.ts) */
  flows: AuthFlowSettings;
}

/** The permission that lets a principal use cross-builder grants (Builder Admin only). */
export const USE_GRANTS_PERMISSION = 'auth:cross-builder-grants:use';

export class AccessService {
  readonly settings: AccessSettings;
  readonly mailer: Mailer;
  readonly users: UserService;
  readonly grants: GrantService;
  readonly oauth: OAuthService;
  /**
   * The store AuditEvents of grant access are written through. Set it to the platform's shared store (createDomain)
   * so they pass the same write interceptors as everything else; until then the audit hook uses a store of its own.
   */
  auditStore: FhirStore | null = null;

  constructor(
    readonly db: Database,
    readonly clock: Clock,
    readonly keys: KeyRing,
    settings: TokenSettings & { tokenRateLimitPerHour: number; flows?: Partial<AuthFlowSettings> },
    /** public base URL for links in mails (read per use: tests learn their port after start) */
    baseUrl: () => string = () => settings.audiences[0] ?? '',
  ) {
    // The audiences array is kept (not copied): the test helper adds its real URL to it after start.
    this.settings = Object.assign(settings, { flows: { ...authFlowSettingsFromEnv(), ...settings.flows } });
    this.mailer = createMailer(db, clock, this.settings.flows.smtpUrl, this.settings.flows.mailFrom);
    this.users = new UserService(db, clock, this.mailer, this.settings.flows, baseUrl);
    this.grants = new GrantService(db, clock);
    this.oauth = new OAuthService(db, clock, keys, this.settings, (id) => this.getClient(id));
  }

  // ---- builders -------------------------------------------------------------------------------------
  async createBuilder(name: string, q: Queryable = this.db): Promise<BuilderRow> {
    const trimmed = name.trim();
    if (!trimmed) throw badRequest('A builder needs a name', [{ code: 'required', message: 'name is required', path: '/data/attributes/name' }]);
    if (trimmed.length > 200) throw badRequest('Builder name is too long (max 200 characters)');
    const now = this.clock.now();
    try {
      const r = await q.query<BuilderRow>(
        'INSERT INTO builders (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING *',
        [newId(), trimmed, now],
      );
      return r.rows[0]!;
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw conflict(`A builder named '${trimmed}' already exists`);
      throw err;
    }
  }

  async getBuilder(id: string): Promise<BuilderRow | undefined> {
    return (await this.db.query<BuilderRow>('SELECT * FROM builders WHERE id = $1', [id])).rows[0];
  }

  async listBuilders(ids: string[] | 'all', limit: number, offset: number): Promise<{ rows: BuilderRow[]; total: number }> {
    const where = ids === 'all' ? '' : 'WHERE id = ANY($3::text[])';
    const params: unknown[] = [limit, offset];
    if (ids !== 'all') params.push(ids);
    const rows = (await this.db.query<BuilderRow>(`SELECT * FROM builders ${where} ORDER BY created_at, id LIMIT $1 OFFSET $2`, params)).rows;
    const totalParams = ids === 'all' ? [] : [ids];
    const total = (await this.db.query<{ n: number }>(`SELECT count(*)::int8 AS n FROM builders ${ids === 'all' ? '' : 'WHERE id = ANY($1::text[])'}`, totalParams)).rows[0]!.n;
    return { rows, total };
  }

  // ---- app clients ----------------------------------------------------------------------------------
  async createClient(input: { builderId: string | null; name: string; clientType: string; userType?: string; roleId: string; isPlatformAdmin?: boolean; id?: string; secret?: string; redirectUris?: unknown }, q: Queryable = this.db): Promise<{ client: AppClientRow; secret: string }> {
    if (!roleById(input.roleId)) throw badRequest(`Unknown role '${input.roleId}'`, [{ code: 'value', message: `Unknown role '${input.roleId}'`, path: '/data/relationships/auth~1roles/data/id' }]);
    if (!(CLIENT_TYPES as readonly string[]).includes(input.clientType)) {
      throw badRequest(`type must be one of ${CLIENT_TYPES.join(', ')}`, [{ code: 'value', message: `type must be one of ${CLIENT_TYPES.join(', ')}`, path: '/data/attributes/type' }]);
    }
    if (!input.name?.trim()) throw badRequest('An app client needs a name', [{ code: 'required', message: 'name is required', path: '/data/attributes/name' }]);
    const redirectUris = checkRedirectUris(input.redirectUris ?? [], input.clientType);
    const secret = input.secret ?? newSecret();
    const now = this.clock.now();
    try {
      const r = await q.query<AppClientRow>(
        `INSERT INTO app_clients (id, builder_id, name, client_type, user_type, role_id, secret_hash, is_platform_admin, created_at, updated_at, redirect_uris)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10::text[]) RETURNING *`,
        [input.id ?? newId(), input.builderId, input.name.trim(), input.clientType, input.userType ?? 'builder', input.roleId, hashSecret(secret), input.isPlatformAdmin ?? false, now, redirectUris],
      );
      return { client: r.rows[0]!, secret };
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw conflict('An app client with that id already exists');
      throw err;
    }
  }

  async getClient(id: string): Promise<AppClientRow | undefined> {
    return (await this.db.query<AppClientRow>('SELECT * FROM app_clients WHERE id = $1', [id])).rows[0];
  }

  async listClients(builderIds: string[], limit: number, offset: number): Promise<{ rows: AppClientRow[]; total: number }> {
    const rows = (await this.db.query<AppClientRow>('SELECT * FROM app_clients WHERE builder_id = ANY($1::text[]) ORDER BY created_at, id LIMIT $2 OFFSET $3', [builderIds, limit, offset])).rows;
    const total = (await this.db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM app_clients WHERE builder_id = ANY($1::text[])', [builderIds])).rows[0]!.n;
    return { rows, total };
  }

  async updateClient(id: string, changes: { name?: string; roleId?: string; active?: boolean; redirectUris?: unknown }): Promise<AppClientRow> {
    if (changes.roleId !== undefined && !roleById(changes.roleId)) throw badRequest(`Unknown role '${changes.roleId}'`);
    let redirectUris: string[] | null = null;
    if (changes.redirectUris !== undefined) {
      const current = await this.getClient(id);
      if (!current) throw notFound('App client not found');
      redirectUris = checkRedirectUris(changes.redirectUris, current.client_type);
    }
    const r = await this.db.query<AppClientRow>(
      `UPDATE app_clients SET name = COALESCE($2, name), role_id = COALESCE($3, role_id), active = COALESCE($4, active), updated_at = $5,
         redirect_uris = COALESCE($6::text[], redirect_uris)
       WHERE id = $1 RETURNING *`,
      [id, changes.name ?? null, changes.roleId ?? null, changes.active ?? null, this.clock.now(), redirectUris],
    );
    if (!r.rows[0]) throw notFound('App client not found');
    return r.rows[0];
  }

  async rotateSecret(id: string): Promise<{ client: AppClientRow; secret: string }> {
    const secret = newSecret();
    const r = await this.db.query<AppClientRow>('UPDATE app_clients SET secret_hash = $2, updated_at = $3 WHERE id = $1 RETURNING *', [id, hashSecret(secret), this.clock.now()]);
    if (!r.rows[0]) throw notFound('App client not found');
    return { client: r.rows[0], secret };
  }

  // ---- tokens ---------------------------------------------------------------------------------------
  /** OAuth client_credentials grant. Counts every attempt per client id toward the hourly limit. */
  async clientCredentialsToken(clientId: string, clientSecret: string, audience: string | undefined): Promise<{ access_token: string; token_type: 'Bearer'; expires_in: number }> {
    await this.enforceTokenRate(clientId);
    const client = await this.getClient(clientId);
    const ok = client !== undefined && client.active && safeEqualHex(client.secret_hash, hashSecret(clientSecret));
    if (!client || !ok) throw new HttpError(401, 'login', 'Unknown client or wrong client secret');
    if (client.client_type !== 'machine_to_machine') throw new HttpError(400, 'invalid', 'unauthorized_client: only machine_to_machine clients may use client_credentials');
    const aud = audience ?? this.settings.audiences[0]!;
    if (!this.settings.audiences.includes(aud)) throw new HttpError(400, 'invalid', `invalid_request: unknown audience '${aud}'`);
    const role = roleById(client.role_id)!;
    const builder = client.builder_id ? await this.getBuilder(client.builder_id) : undefined;
    const token = await issueAccessToken(this.keys, this.clock, this.settings, {
      kind: 'client',
      id: client.id,
      builderId: client.builder_id,
      builderName: builder?.name ?? null,
      roleName: role.name,
      permissions: role.permissions,
      isPlatformAdmin: client.is_platform_admin,
      authenticatedBy: 'client_credentials',
    }, aud);
    return { access_token: token, token_type: 'Bearer', expires_in: this.settings.ttlSeconds };
  }

  async enforceTokenRate(clientId: string): Promise<void> {
    const limit = this.settings.tokenRateLimitPerHour;
    const now = this.clock.nowMs();
    const windowStart = new Date(now - 3600_000);
    const r = await this.db.query<{ n: number; oldest: Date | null }>(
      'SELECT count(*)::int8 AS n, min(requested_at) AS oldest FROM token_requests WHERE client_id = $1 AND requested_at > $2',
      [clientId, windowStart],
    );
    const { n, oldest } = r.rows[0]!;
    if (limit > 0 && n >= limit) {
      const retryAfter = oldest ? (oldest.getTime() + 3600_000 - now) / 1000 : 3600;
      throw tooManyRequests(`Too many token requests for this client (limit ${limit} per hour)`, retryAfter);
    }
    await this.db.query('INSERT INTO token_requests (client_id, requested_at) VALUES ($1, $2)', [clientId, new Date(now)]);
    // Occasional pruning keeps the table small without a scheduler.
    if (Math.random() < 0.01) await this.db.query('DELETE FROM token_requests WHERE requested_at < $1', [windowStart]);
  }

  /**
   * Turns a bearer token and Zus-Account header into the request's AccessContext (401/403 otherwise). Status,
   * role and grants come from the database on every request, never from the token, so deactivation, role changes,
   * logouts and grant revocations apply to the next request.
   */
  async authenticate(authorization: string | undefined, accountHeader: string | undefined): Promise<AccessContext> {
    return this.#authenticateVerified(await this.#verify(authorization), accountHeader);
  }

  async #authenticateVerified(verified: VerifiedToken, accountHeader: string | undefined): Promise<AccessContext> {
    const auth = authStatement(verified, 0);
    return this.#contextOf(verified, (await this.db.query<AuthRow>(auth.sql, auth.params, { prepare: true })).rows[0], accountHeader);
  }

  /**
   * authenticate, plus one statement over the request's context, in ONE round trip where it can: the statement is
   * built for the context this principal had on its previous request (a prediction, never an authority) and sent
   * together with the authentication query. The rows are used only when the context the database then yields is
   * exactly the predicted one; otherwise (first request, changed role, grants or Zus-Account, a statement that
   * refuses the predicted context) the statement runs again for the real context. Reads by id use it: their two
   * round trips (authenticate, read) were most of their latency. The statement's text must come from a small fixed
   * set (it is kept prepared on every connection).
   */
  async authenticateWith<T>(authorization: string | undefined, accountHeader: string | undefined, statement: (ctx: AccessContext) => PiggybackStatement): Promise<{ ctx: AccessContext; rows: T[] }> {
    const verified = await this.#verify(authorization);
    const key = `${verified.kind}|${verified.id}|${accountHeader?.trim() ?? ''}`;
    const predicted = this.#predictions.get(key);
    let piggyback: PiggybackStatement | null = null;
    if (predicted) {
      try {
        piggyback = statement(predicted);
      } catch {
        piggyback = null; // e.g. a role that may not read the type: decided below against the real context
      }
    }
    let ctx: AccessContext;
    let rows: T[] | null = null;
    if (piggyback) {
      const auth = authStatement(verified, piggyback.params.length);
      const r = await this.db.query<AuthRow & { __found: boolean | null }>(
        `WITH __auth AS (${auth.sql}) SELECT __auth.*, __x.* FROM __auth LEFT JOIN LATERAL (SELECT true AS __found, __s.* FROM (${piggyback.sql}) __s) __x ON true`,
        [...piggyback.params, ...auth.params],
        { prepare: true },
      );
      ctx = this.#contextOf(verified, r.rows[0], accountHeader);
      if (sameContext(ctx, predicted!)) rows = r.rows.filter((x) => x.__found).map((x) => withoutAuthColumns(x as unknown as Record<string, unknown>)) as T[];
    } else {
      ctx = await this.#authenticateVerified(verified, accountHeader);
    }
    if (this.#predictions.size >= PREDICTIONS_MAX && !this.#predictions.has(key)) this.#predictions.delete(this.#predictions.keys().next().value!);
    // a copy: per-request state hangs off the context object itself (policy.ts sharing state)
    this.#predictions.set(key, { ...ctx });
    if (!rows) {
      const s = statement(ctx);
      rows = (await this.db.query<T>(s.sql, s.params, { prepare: true })).rows;
    }
    return { ctx, rows };
  }

  readonly #predictions = new Map<string, AccessContext>();

  async #verify(authorization: string | undefined): Promise<VerifiedToken> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) throw unauthorized('A bearer token is required');
    const verified = await verifyAccessToken(this.keys, this.clock, this.settings, m[1]!);
    if (!verified) throw unauthorized('The bearer token is invalid or expired');
    return verified;
  }

  /** The request's context from the row of authStatement (undefined: no such client or login). */
  #contextOf(verified: VerifiedToken, row: AuthRow | undefined, accountHeader: string | undefined): AccessContext {
    let principal: Principal;
    if (verified.kind === 'client') {
      if (!row || !row.__a_active) throw unauthorized('The client of this token is no longer active');
      if (row.__a_revoked) throw unauthorized('The bearer token has been revoked');
      principal = { kind: 'client', id: row.__a_id, builderId: row.__a_builder_id, role: roleById(row.__a_role_id) ?? roleByName('Permissionless')!, isPlatformAdmin: row.__a_is_platform_admin };
    } else {
      if (!row || !row.__a_active) throw unauthorized('The user of this token is no longer active');
      if (row.__a_revoked_at || row.__a_expires_at!.getTime() <= this.clock.nowMs()) throw unauthorized('The login of this token has ended');
      principal = { kind: 'user', id: row.__a_id, builderId: row.__a_builder_id, role: roleById(row.__a_role_id) ?? roleByName('Permissionless')!, isPlatformAdmin: false, email: row.__a_email! };
    }
    return contextFor(principal, accountHeader, row.__a_grantors ?? []);
  }

}

/** The builders a principal acts for in one request, given the Zus-Account header and its home builder's grants. */
function contextFor(principal: Principal, accountHeader: string | undefined, homeGrantors: string[]): AccessContext {
  const account = accountHeader?.trim() || null;
  if (principal.isPlatformAdmin) {
    return { principal, readBuilderIds: [], writeBuilderId: null, accountHeader: account, grantorBuilderIds: [] };
  }
  const home = principal.builderId!;
  // Only principals whose role may use grants see them at all (Builder Admin): for everyone else a grant does not exist.
  const grantors = principal.role.permissions.includes(USE_GRANTS_PERMISSION) ? homeGrantors : [];
  if (account && account !== home) {
    // Same answer whether the builder exists, exists without a grant, or had a revoked grant: nothing is revealed.
    if (!grantors.includes(account)) throw forbidden('No access to the builder named in Zus-Account');
    return { principal, readBuilderIds: [account], writeBuilderId: account, accountHeader: account, grantorBuilderIds: [account] };
  }
  if (account === home) return { principal, readBuilderIds: [home], writeBuilderId: home, accountHeader: account, grantorBuilderIds: [] };
  return { principal, readBuilderIds: [home, ...grantors], writeBuilderId: home, accountHeader: null, grantorBuilderIds: grantors };
}

/** A statement to send in the same round trip as authentication (AccessService.authenticateWith). */
export interface PiggybackStatement {
  sql: string;
  params: unknown[];
}

const PREDICTIONS_MAX = 10_000;

/** Authentication's columns, prefixed so they never collide with a piggybacked statement's. */
interface AuthRow {
  __a_id: string;
  __a_builder_id: string | null;
  __a_role_id: string;
  __a_active: boolean;
  __a_is_platform_admin: boolean;
  __a_grantors: string[] | null;
  /** clients */
  __a_revoked?: boolean;
  /** users */
  __a_email?: string;
  __a_revoked_at?: Date | null;
  __a_expires_at?: Date;
}

/**
 * The one authentication statement: the client (and its token's revocation) or the user (and its login session),
 * with the home builder's grants. Parameters are numbered after `offset` others.
 */
function authStatement(verified: VerifiedToken, offset: number): PiggybackStatement {
  const a = `$${offset + 1}`;
  const b = `$${offset + 2}`;
  if (verified.kind === 'client') {
    return {
      sql: `SELECT c.id AS __a_id, c.builder_id AS __a_builder_id, c.role_id AS __a_role_id, c.active AS __a_active, c.is_platform_admin AS __a_is_platform_admin,
          EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = ${b}) AS __a_revoked, ${grantorsSql('c.builder_id')} AS __a_grantors
        FROM app_clients c WHERE c.id = ${a}`,
      params: [verified.id, verified.jti ?? ''],
    };
  }
  return {
    sql: `SELECT u.id AS __a_id, u.builder_id AS __a_builder_id, u.role_id AS __a_role_id, u.active AS __a_active, false AS __a_is_platform_admin,
        u.email AS __a_email, s.revoked_at AS __a_revoked_at, s.expires_at AS __a_expires_at, ${grantorsSql('u.builder_id')} AS __a_grantors
      FROM users u JOIN auth_sessions s ON s.user_id = u.id AND s.id = ${b} WHERE u.id = ${a}`,
    params: [verified.id, verified.sessionId],
  };
}

function withoutAuthColumns(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k in row) if (!k.startsWith('__')) out[k] = row[k];
  return out;
}

/** Whether two contexts would let a statement see and do exactly the same (everything but the user's email). */
function sameContext(a: AccessContext, b: AccessContext): boolean {
  const same = (x: readonly string[] | undefined, y: readonly string[] | undefined) => (x ?? []).length === (y ?? []).length && (x ?? []).every((v, i) => v === y![i]);
  return a.principal.kind === b.principal.kind && a.principal.id === b.principal.id && a.principal.builderId === b.principal.builderId
    && a.principal.role === b.principal.role && a.principal.isPlatformAdmin === b.principal.isPlatformAdmin
    && same(a.readBuilderIds, b.readBuilderIds) && a.writeBuilderId === b.writeBuilderId && a.accountHeader === b.accountHeader
    && same(a.grantorBuilderIds, b.grantorBuilderIds) && !!a.firstParty === !!b.firstParty && !!a.ownDataOnly === !!b.ownDataOnly;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Redirect URIs must be absolute, without fragment; https, or http only on loopback (RFC 8252 §7.3); native apps
 * may also use a private-use scheme (com.example.app:/callback, RFC 8252 §7.1).
 */
export function checkRedirectUris(value: unknown, clientType: string): string[] {
  const fail = (message: string) => badRequest(message, [{ code: 'value', message, path: '/data/attributes/redirectUris' }]);
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw fail('redirectUris must be an array of URLs');
  if (value.length > 20) throw fail('At most 20 redirect URIs');
  if (value.length > 0 && clientType === 'machine_to_machine') throw fail('machine_to_machine clients have no redirect URIs');
  for (const v of value as string[]) {
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      throw fail(`'${v}' is not an absolute URL`);
    }
    if (u.hash || v.includes('#')) throw fail(`'${v}' must not contain a fragment`);
    const privateScheme = clientType === 'native' && /^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(u.protocol);
    const ok = u.protocol === 'https:' || (u.protocol === 'http:' && LOOPBACK_HOSTS.has(u.hostname)) || privateScheme;
    if (!ok) throw fail(`'${v}' must use https (http only on localhost${clientType === 'native' ? ', or a private-use scheme' : ''})`);
  }
  return [...new Set(value as string[])];
}

function safeEqualHex(a: string, b: string): boolean {
  const ba = Buffer.from(a, 'hex');
  const bb = Buffer.from(b, 'hex');
  return ba.length === bb.length && timingSafeEqual(ba, bb);
}

export { MANAGED_ROLES };
