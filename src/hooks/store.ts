// Hook configurations: validation, sealed secrets (AES-GCM through the key ring), Standard Webhooks signing
// secrets. Secrets are decrypted only by the delivery worker and never leave through the API.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../db/types.ts';
import type { Clock } from '../platform/clock.ts';
import type { KeyRing } from '../access/keys.ts';
import { badRequest, type ErrorDetail } from '../platform/errors.ts';
import { compileFilter, FilterSyntaxError } from './filter.ts';
import { checkResolvedUrl, TargetRefusedError, type TargetPolicy } from './ssrf.ts';

export type HookAuth =
  | { type: 'basic'; username: string; password: string }
  | { type: 'oauth'; clientId: string; clientSecret: string; tokenUrl: string; audience: string | null };

export interface HookRow {
  id: string;
  builder_id: string;
  webhook_url: string;
  filter: string;
  auth_type: 'basic' | 'oauth';
  basic_username: string | null;
  basic_password_sealed: string | null;
  oauth_client_id: string | null;
  oauth_client_secret_sealed: string | null;
  oauth_token_url: string | null;
  oauth_audience: string | null;
  signing_secret_sealed: string;
  previous_signing_secret_sealed: string | null;
  previous_secret_until: Date | null;
  active: boolean;
  paused: boolean;
  version: number;
  filter_errors: number;
  last_filter_error: string | null;
  last_filter_error_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface HookInput {
  webhookUrl?: unknown;
  filter?: unknown;
  auth?: unknown;
  active?: unknown;
}

/** A new Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
export const newSigningSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`;

const attr = (name: string) => `/data/attributes/${name}`;
const invalid = (message: string, path: string): never => {
  throw badRequest(message, [{ code: 'invalid', message, path }]);
};

function str(v: unknown, path: string, required = true): string | null {
  if (v === undefined || v === null || v === '') {
    if (required) invalid(`${path.split('/').pop()} is required`, path);
    return null;
  }
  if (typeof v !== 'string') return invalid(`${path.split('/').pop()} must be a string`, path);
  return v;
}

async function checkTarget(url: string, policy: TargetPolicy, path: string): Promise<void> {
  try {
    await checkResolvedUrl(url, policy);
  } catch (err) {
    if (err instanceof TargetRefusedError) invalid(err.message, path);
    throw err;
  }
}

/** Parses and checks `auth`; secrets omitted on update keep their stored values. */
export async function readAuth(raw: unknown, policy: TargetPolicy, existing: HookRow | null): Promise<HookAuth & { webhookUrl?: string }> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return invalid('auth must be an object with a type of basic or oauth', attr('auth'));
  const a = raw as Record<string, unknown>;
  const keep = existing && existing.auth_type === a.type;
  if (a.type === 'basic') {
    const username = str(a.username, attr('auth/username'))!;
    const password = str(a.password, attr('auth/password'), !keep);
    return { type: 'basic', username, password: password ?? '\u0000keep' };
  }
  if (a.type === 'oauth') {
    const tokenUrl = str(a.tokenUrl, attr('auth/tokenUrl'))!;
    await checkTarget(tokenUrl, policy, attr('auth/tokenUrl'));
    const webhookUrl = str(a.webhookUrl, attr('auth/webhookUrl'), false);
    return {
      type: 'oauth',
      clientId: str(a.clientId, attr('auth/clientId'))!,
      clientSecret: str(a.clientSecret, attr('auth/clientSecret'), !keep) ?? '\u0000keep',
      tokenUrl,
      audience: str(a.audience, attr('auth/audience'), false),
      ...(webhookUrl ? { webhookUrl } : {}),
    };
  }
  return invalid("auth.type must be 'basic' or 'oauth'", attr('auth/type'));
}

export class HookStore {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #keys: KeyRing;
  readonly #policy: TargetPolicy;

  constructor(db: Database, clock: Clock, keys: KeyRing, policy: TargetPolicy) {
    this.#db = db;
    this.#clock = clock;
    this.#keys = keys;
    this.#policy = policy;
  }

  /** Validates the whole configuration the way a save would (400 with pointers), returning normalized values. */
  async #validate(input: HookInput, existing: HookRow | null) {
    const auth = input.auth !== undefined || !existing ? await readAuth(input.auth, this.#policy, existing) : null;
    const webhookUrl = str(input.webhookUrl ?? (auth && 'webhookUrl' in auth ? auth.webhookUrl : undefined), attr('webhookUrl'), !existing);
    if (webhookUrl) await checkTarget(webhookUrl, this.#policy, attr('webhookUrl'));
    const filter = str(input.filter, attr('filter'), !existing);
    if (filter !== null) {
      try {
        compileFilter(filter);
      } catch (err) {
        if (err instanceof FilterSyntaxError) {
          const message = `Invalid jq filter: ${err.message}`;
          const detail: ErrorDetail = { code: 'invalid', message, path: attr('filter') };
          throw badRequest(message, [detail]);
        }
        throw err;
      }
    }
    if (input.active !== undefined && typeof input.active !== 'boolean') invalid('active must be a boolean', attr('active'));
    return { auth, webhookUrl, filter, active: input.active as boolean | undefined };
  }

  async create(builderId: string, input: HookInput): Promise<{ hook: HookRow; signingSecret: string }> {
    const v = await this.#validate(input, null);
    const auth = v.auth!;
    const signingSecret = newSigningSecret();
    const now = this.#clock.now().toISOString();
    const seal = (s: string) => this.#keys.encrypt(s);
    const r = await this.#db.query<HookRow>(
      `INSERT INTO hooks (id, builder_id, webhook_url, filter, auth_type, basic_username, basic_password_sealed, oauth_client_id,
         oauth_client_secret_sealed, oauth_token_url, oauth_audience, signing_secret_sealed, active, created_at, updated_at)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$14) RETURNING *`,
      [randomUUID(), builderId, v.webhookUrl, v.filter, auth.type,
        auth.type === 'basic' ? auth.username : null, auth.type === 'basic' ? seal(auth.password) : null,
        auth.type === 'oauth' ? auth.clientId : null, auth.type === 'oauth' ? seal(auth.clientSecret) : null,
        auth.type === 'oauth' ? auth.tokenUrl : null, auth.type === 'oauth' ? auth.audience : null,
        seal(signingSecret), v.active ?? true, now],
    );
    return { hook: r.rows[0]!, signingSecret };
  }

  async update(existing: HookRow, input: HookInput): Promise<HookRow> {
    const v = await this.#validate(input, existing);
    const auth = v.auth;
    const sealOrKeep = (s: string, old: string | null) => (s === '\u0000keep' ? old : this.#keys.encrypt(s));
    const r = await this.#db.query<HookRow>(
      `UPDATE hooks SET webhook_url = coalesce($2, webhook_url), filter = coalesce($3, filter), active = coalesce($4, active),
         auth_type = coalesce($5, auth_type),
         basic_username = CASE WHEN $5::text IS NULL THEN basic_username ELSE $6 END,
         basic_password_sealed = CASE WHEN $5::text IS NULL THEN basic_password_sealed ELSE $7 END,
         oauth_client_id = CASE WHEN $5::text IS NULL THEN oauth_client_id ELSE $8 END,
         oauth_client_secret_sealed = CASE WHEN $5::text IS NULL THEN oauth_client_secret_sealed ELSE $9 END,
         oauth_token_url = CASE WHEN $5::text IS NULL THEN oauth_token_url ELSE $10 END,
         oauth_audience = CASE WHEN $5::text IS NULL THEN oauth_audience ELSE $11 END,
         version = version + 1, updated_at = $12
       WHERE id = $1 RETURNING *`,
      [existing.id, v.webhookUrl, v.filter, v.active ?? null, auth?.type ?? null,
        auth?.type === 'basic' ? auth.username : null,
        auth?.type === 'basic' ? sealOrKeep(auth.password, existing.basic_password_sealed) : null,
        auth?.type === 'oauth' ? auth.clientId : null,
        auth?.type === 'oauth' ? sealOrKeep(auth.clientSecret, existing.oauth_client_secret_sealed) : null,
        auth?.type === 'oauth' ? auth.tokenUrl : null, auth?.type === 'oauth' ? auth.audience : null,
        this.#clock.now().toISOString()],
    );
    return r.rows[0]!;
  }

  async setPaused(id: string, paused: boolean, tx: Queryable = this.#db): Promise<HookRow | null> {
    const r = await tx.query<HookRow>('UPDATE hooks SET paused = $2, version = version + 1, updated_at = $3 WHERE id = $1 RETURNING *',
      [id, paused, this.#clock.now().toISOString()]);
    return r.rows[0] ?? null;
  }

  /** New signing secret; the old one keeps signing (second signature) during the overlap. */
  async rotateSecret(hook: HookRow, overlapMs: number): Promise<{ hook: HookRow; signingSecret: string }> {
    const signingSecret = newSigningSecret();
    const now = this.#clock.nowMs();
    const r = await this.#db.query<HookRow>(
      `UPDATE hooks SET previous_signing_secret_sealed = signing_secret_sealed, previous_secret_until = $3,
         signing_secret_sealed = $2, version = version + 1, updated_at = $4 WHERE id = $1 RETURNING *`,
      [hook.id, this.#keys.encrypt(signingSecret), new Date(now + overlapMs).toISOString(), new Date(now).toISOString()]);
    return { hook: r.rows[0]!, signingSecret };
  }

  async get(id: string, builderIds: string[]): Promise<HookRow | null> {
    const r = await this.#db.query<HookRow>('SELECT * FROM hooks WHERE id = $1 AND builder_id = ANY($2::text[])', [id, builderIds]);
    return r.rows[0] ?? null;
  }

  async getMany(ids: string[]): Promise<HookRow[]> {
    if (ids.length === 0) return [];
    return (await this.#db.query<HookRow>('SELECT * FROM hooks WHERE id = ANY($1::text[])', [ids])).rows;
  }

  async list(builderIds: string[], limit: number, offset: number): Promise<{ rows: HookRow[]; total: number }> {
    const [rows, total] = await Promise.all([
      this.#db.query<HookRow>(`SELECT * FROM hooks WHERE builder_id = ANY($1::text[]) ORDER BY created_at, id LIMIT ${limit} OFFSET ${offset}`, [builderIds]),
      this.#db.query<{ n: number }>('SELECT count(*)::int AS n FROM hooks WHERE builder_id = ANY($1::text[])', [builderIds]),
    ]);
    return { rows: rows.rows, total: total.rows[0]?.n ?? 0 };
  }

  async delete(id: string): Promise<void> {
    await this.#db.query('DELETE FROM hooks WHERE id = $1', [id]);
  }

  unseal(sealed: string): string {
    return this.#keys.decrypt(sealed);
  }
}
