// Outgoing mail: SMTP through nodemailer when TESSERA_SMTP_URL is set, otherwise the local `mail_outbox` table
// (read with `tessera mail list|show` or GET /auth/mail-outbox) so a fresh install works without a mail server.
import { createTransport, type Transporter } from 'nodemailer';
import type { Queryable } from '../db/types.ts';
import type { Clock } from '../platform/clock.ts';
import { newId } from '../platform/ids.ts';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html?: string;
}

export interface MailRow {
  id: string;
  created_at: Date;
  to_address: string;
  subject: string;
  text_body: string;
  html_body: string | null;
}

export interface Mailer {
  readonly kind: 'smtp' | 'outbox';
  /** `q` lets the outbox write join the caller's transaction (the mail exists iff the change committed). */
  send(message: MailMessage, q?: Queryable): Promise<void>;
}

export function createMailer(db: Queryable, clock: Clock, smtpUrl: string | undefined, from: string): Mailer {
  if (smtpUrl) {
    const transport: Transporter = createTransport(smtpUrl);
    return {
      kind: 'smtp',
      async send(m) {
        await transport.sendMail({ from, to: m.to, subject: m.subject, text: m.text, ...(m.html ? { html: m.html } : {}) });
      },
    };
  }
  return {
    kind: 'outbox',
    async send(m, q = db) {
      await q.query('INSERT INTO mail_outbox (id, created_at, to_address, subject, text_body, html_body) VALUES ($1, $2, $3, $4, $5, $6)',
        [newId(), clock.now(), m.to, m.subject, m.text, m.html ?? null]);
    },
  };
}

export async function listMail(db: Queryable, opts: { to?: string; limit: number; offset: number }): Promise<{ rows: MailRow[]; total: number }> {
  const where = opts.to ? 'WHERE lower(to_address) = lower($1)' : '';
  const params: unknown[] = opts.to ? [opts.to] : [];
  const total = (await db.query<{ n: number }>(`SELECT count(*)::int8 AS n FROM mail_outbox ${where}`, params)).rows[0]!.n;
  const rows = (await db.query<MailRow>(
    `SELECT * FROM mail_outbox ${where} ORDER BY created_at DESC, id LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
    [...params, opts.limit, opts.offset],
  )).rows;
  return { rows, total };
}

export async function getMail(db: Queryable, id: string): Promise<MailRow | undefined> {
  return (await db.query<MailRow>('SELECT * FROM mail_outbox WHERE id = $1', [id])).rows[0];
}
