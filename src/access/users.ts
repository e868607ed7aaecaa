// Users of a builder: JSON:API-managed records, argon2id passwords set through mailed single-use tokens.
import type { Database, Queryable } from '../db/types.ts';
import type { Clock } from '../platform/clock.ts';
import { newId, newSecret } from '../platform/ids.ts';
import { badRequest, conflict, gone, notFound } from '../platform/errors.ts';
import { hashSecret } from './keys.ts';
import { roleById } from './roles.ts';
import { checkPasswordPolicy, hashPassword } from './passwords.ts';
import type { Mailer } from './mail.ts';
import type { AuthFlowSettings } from './settings.ts';

export interface UserRow {
  id: string;
  builder_id: string;
  email: string;
  name: string;
  user_type: string;
  role_id: string;
  password_hash: string | null;
  password_changed_at: Date | null;
  email_verified: boolean;
  active: boolean;
  created_at: Date;
  updated_at: Date;
}

export const USER_TYPES = ['builder', 'patient'] as const;
export type UserTokenPurpose = 'password_setup' | 'password_reset' | 'verify_email';

// Deliberately simple: one @, something on both sides, a dot in the domain, no spaces (full RFC 5322 is not
// what users mean by "an email address").
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function normalizeEmail(email: unknown, pointer = '/data/attributes/email'): string {
  const fail = (message: string) => badRequest(message, [{ code: 'value', message, path: pointer }]);
  if (typeof email !== 'string' || !email.trim()) throw fail('email is required');
  const e = email.trim();
  if (e.length > 254 || !EMAIL_RE.test(e)) throw fail(`'${e.slice(0, 100)}' is not an email address`);
  return e;
}

export interface UserFilter {
  /** 'all': every builder (platform admin) */
  builderIds: string[] | 'all';
  email?: string;
  /** true: active users only; false: deactivated only; undefined: both */
  active?: boolean;
}

export class UserService {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly mailer: Mailer,
    private readonly settings: AuthFlowSettings,
    /** public base URL (links in mails); read lazily because tests change it after start */
    private readonly baseUrl: () => string,
  ) {}

  async create(input: { builderId: string; email: unknown; name: unknown; userType?: unknown; roleId: string; sendPasswordResetEmail: boolean; sendVerificationEmail: boolean }): Promise<UserRow> {
    const email = normalizeEmail(input.email);
    const name = typeof input.name === 'string' && input.name.trim() ? input.name.trim() : email;
    if (name.length > 200) throw badRequest('name is too long (max 200 characters)', [{ code: 'value', message: 'name is too long', path: '/data/attributes/name' }]);
    const userType = input.userType === undefined ? 'builder' : input.userType;
    if (typeof userType !== 'string' || !(USER_TYPES as readonly string[]).includes(userType)) {
      throw badRequest(`userType must be one of ${USER_TYPES.join(', ')}`, [{ code: 'value', message: 'unknown userType', path: '/data/attributes/userType' }]);
    }
    if (!roleById(input.roleId)) throw badRequest(`Unknown role '${input.roleId}'`, [{ code: 'value', message: `Unknown role '${input.roleId}'`, path: '/data/relationships/auth~1roles/data/id' }]);
    const now = this.clock.now();
    const mails: { purpose: UserTokenPurpose; token: string }[] = [];
    const user = await this.db.transaction(async (tx) => {
      let row: UserRow;
      try {
        row = (await tx.query<UserRow>(
          `INSERT INTO users (id, builder_id, email, name, user_type, role_id, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING *`,
          [newId(), input.builderId, email, name, userType, input.roleId, now],
        )).rows[0]!;
      } catch (err) {
        if ((err as { code?: string }).code === '23505') throw conflict('A user with that email already exists');
        throw err;
      }
      if (input.sendPasswordResetEmail) mails.push({ purpose: 'password_setup', token: await this.issueToken(tx, row.id, 'password_setup') });
      if (input.sendVerificationEmail) mails.push({ purpose: 'verify_email', token: await this.issueToken(tx, row.id, 'verify_email') });
      return row;
    });
    // Mail goes out after the commit, so no mail is sent for a user that does not exist.
    for (const m of mails) await this.mailer.send(this.mailFor(user, m.purpose, m.token));
    return user;
  }

  async get(id: string, q: Queryable = this.db): Promise<UserRow | undefined> {
    return (await q.query<UserRow>('SELECT * FROM users WHERE id = $1', [id])).rows[0];
  }

  async getByEmail(email: string): Promise<UserRow | undefined> {
    return (await this.db.query<UserRow>('SELECT * FROM users WHERE lower(email) = lower($1)', [email.trim()])).rows[0];
  }

  async list(filter: UserFilter, limit: number, offset: number): Promise<{ rows: UserRow[]; total: number }> {
    const params: unknown[] = [];
    const conds: string[] = [];
    if (filter.builderIds !== 'all') {
      params.push(filter.builderIds);
      conds.push('builder_id = ANY($1::text[])');
    }
    if (filter.email !== undefined) {
      params.push(filter.email.trim());
      conds.push(`lower(email) = lower($${params.length})`);
    }
    if (filter.active !== undefined) conds.push(filter.active ? 'active' : 'NOT active');
    const where = conds.length ? conds.join(' AND ') : 'true';
    const total = (await this.db.query<{ n: number }>(`SELECT count(*)::int8 AS n FROM users WHERE ${where}`, params)).rows[0]!.n;
    const rows = (await this.db.query<UserRow>(
      `SELECT * FROM users WHERE ${where} ORDER BY created_at, id LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
      [...params, limit, offset],
    )).rows;
    return { rows, total };
  }

  async update(id: string, changes: { email?: unknown; name?: unknown; roleId?: string; active?: boolean }): Promise<UserRow> {
    const email = changes.email === undefined ? null : normalizeEmail(changes.email);
    let name: string | null = null;
    if (changes.name !== undefined) {
      if (typeof changes.name !== 'string' || !changes.name.trim()) throw badRequest('name must be a non-empty string', [{ code: 'value', message: 'name must be a non-empty string', path: '/data/attributes/name' }]);
      name = changes.name.trim();
    }
    if (changes.roleId !== undefined && !roleById(changes.roleId)) throw badRequest(`Unknown role '${changes.roleId}'`, [{ code: 'value', message: 'unknown role', path: '/data/relationships/auth~1roles/data/id' }]);
    const now = this.clock.now();
    return this.db.transaction(async (tx) => {
      const before = await this.get(id, tx);
      if (!before) throw notFound('User not found');
      let row: UserRow;
      try {
        row = (await tx.query<UserRow>(
          `UPDATE users SET email = COALESCE($2, email), name = COALESCE($3, name), role_id = COALESCE($4, role_id),
             active = COALESCE($5, active), updated_at = $6,
             email_verified = CASE WHEN $2::text IS NOT NULL AND lower($2::text) <> lower(email) THEN false ELSE email_verified END
           WHERE id = $1 RETURNING *`,
          [id, email, name, changes.roleId ?? null, changes.active ?? null, now],
        )).rows[0]!;
      } catch (err) {
        if ((err as { code?: string }).code === '23505') throw conflict('A user with that email already exists');
        throw err;
      }
      // Deactivation ends every login at once; reactivation does not bring old logins back.
      if (changes.active === false) await tx.query("UPDATE auth_sessions SET revoked_at = $2, revoked_reason = 'user deactivated' WHERE user_id = $1 AND revoked_at IS NULL", [id, now]);
      return row;
    });
  }

  /** Reset links sent to the user in the last hour (caps unauthenticated reset requests). */
  async recentResetCount(userId: string): Promise<number> {
    const r = await this.db.query<{ n: number }>("SELECT count(*)::int8 AS n FROM user_tokens WHERE user_id = $1 AND purpose = 'password_reset' AND created_at > $2",
      [userId, new Date(this.clock.nowMs() - 3600_000)]);
    return r.rows[0]!.n;
  }

  /** Mails a password-reset link (also used to re-send a setup link). */
  async sendPasswordReset(user: UserRow): Promise<void> {
    const token = await this.issueToken(this.db, user.id, 'password_reset');
    await this.mailer.send(this.mailFor(user, 'password_reset', token));
  }

  /** Consumes a setup/reset token and sets the password; the token works once, before its expiry. */
  async resetPassword(token: unknown, password: unknown): Promise<UserRow> {
    if (typeof token !== 'string' || !token) throw badRequest('token is required', [{ code: 'required', message: 'token is required', path: '/data/attributes/token' }]);
    const found = await this.peekToken(token, ['password_setup', 'password_reset']);
    const user = (await this.get(found.user_id))!;
    checkPasswordPolicy(password, user.email, this.settings.passwordMinLength);
    const hashed = await hashPassword(password as string);
    const now = this.clock.now();
    return this.db.transaction(async (tx) => {
      // Claiming the token in the same statement that checks it makes it single-use under concurrency.
      const claimed = await tx.query('UPDATE user_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2', [hashSecret(token), now]);
      if (claimed.rowCount !== 1) throw gone('This link has already been used or has expired');
      // A new password ends existing logins and voids other outstanding reset links.
      await tx.query("UPDATE user_tokens SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL AND purpose IN ('password_setup', 'password_reset')", [user.id, now]);
      await tx.query("UPDATE auth_sessions SET revoked_at = $2, revoked_reason = 'password changed' WHERE user_id = $1 AND revoked_at IS NULL", [user.id, now]);
      // Proving control of the mailbox also verifies the address.
      return (await tx.query<UserRow>('UPDATE users SET password_hash = $2, password_changed_at = $3, email_verified = true, updated_at = $3 WHERE id = $1 RETURNING *', [user.id, hashed, now])).rows[0]!;
    });
  }

  async verifyEmail(token: string): Promise<UserRow> {
    await this.peekToken(token, ['verify_email']);
    const now = this.clock.now();
    return this.db.transaction(async (tx) => {
      const claimed = await tx.query<{ user_id: string }>('UPDATE user_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id', [hashSecret(token), now]);
      if (!claimed.rows[0]) throw gone('This link has already been used or has expired');
      return (await tx.query<UserRow>('UPDATE users SET email_verified = true, updated_at = $2 WHERE id = $1 RETURNING *', [claimed.rows[0].user_id, now])).rows[0]!;
    });
  }

  /** Validates a token without using it (to show the reset form); 410 when used or expired, 404 when unknown. */
  async peekToken(token: string, purposes: UserTokenPurpose[]): Promise<{ user_id: string; purpose: UserTokenPurpose }> {
    const r = (await this.db.query<{ user_id: string; purpose: UserTokenPurpose; expires_at: Date; used_at: Date | null; active: boolean }>(
      'SELECT t.user_id, t.purpose, t.expires_at, t.used_at, u.active FROM user_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1',
      [hashSecret(token)],
    )).rows[0];
    if (!r || !purposes.includes(r.purpose) || !r.active) throw notFound('This link is not valid');
    if (r.used_at || r.expires_at.getTime() <= this.clock.nowMs()) throw gone('This link has already been used or has expired');
    return { user_id: r.user_id, purpose: r.purpose };
  }

  private async issueToken(q: Queryable, userId: string, purpose: UserTokenPurpose): Promise<string> {
    const ttl = purpose === 'password_setup' ? this.settings.passwordSetupTtlSeconds
      : purpose === 'password_reset' ? this.settings.passwordResetTtlSeconds : this.settings.verifyEmailTtlSeconds;
    const token = newSecret();
    const now = this.clock.nowMs();
    await q.query('INSERT INTO user_tokens (token_hash, user_id, purpose, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)',
      [hashSecret(token), userId, purpose, new Date(now), new Date(now + ttl * 1000)]);
    return token;
  }

  private mailFor(user: UserRow, purpose: UserTokenPurpose, token: string) {
    const base = this.baseUrl();
    const link = purpose === 'verify_email' ? `${base}/auth/verify-email?token=${token}` : `${base}/auth/password-reset?token=${token}`;
    const hours = Math.round((purpose === 'password_setup' ? this.settings.passwordSetupTtlSeconds
      : purpose === 'password_reset' ? this.settings.passwordResetTtlSeconds : this.settings.verifyEmailTtlSeconds) / 360) / 10;
    const subject = purpose === 'password_setup' ? 'Set up your Tessera password'
      : purpose === 'password_reset' ? 'Reset your Tessera password' : 'Verify your email address for Tessera';
    const action = purpose === 'verify_email' ? 'verify your email address' : purpose === 'password_setup' ? 'choose your password' : 'choose a new password';
    const text = `Hello ${user.name},\n\nOpen this link to ${action}:\n\n${link}\n\nThe link works once and expires in ${hours} hours. If you did not expect this message, ignore it.\n`;
    const html = `<p>Hello ${escapeHtml(user.name)},</p><p><a href="${escapeHtml(link)}">Open this link to ${action}</a>.</p><p>The link works once and expires in ${hours} hours. If you did not expect this message, ignore it.</p>`;
    return { to: user.email, subject, text, html };
  }
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
