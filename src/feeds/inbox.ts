// The feed inbox: raw messages stored durably before they are acknowledged, processed later by workers.
// Writes are group-committed: messages arriving while an INSERT is in flight wait and go in the next one,
// so N concurrent messages cost about one commit instead of N.
import type { Database, Queryable } from '../db/types.ts';
import type { Clock } from '../platform/clock.ts';

export interface InboxMessage {
  network: string;
  kind: 'hl7v2' | 'pharmacy';
  controlId: string;
  messageType: string;
  transport: 'mllp' | 'https';
  peer: string | null;
  body: string;
}

export interface InboxRow {
  id: number;
  network: string;
  kind: 'hl7v2' | 'pharmacy';
  control_id: string;
  message_type: string;
  transport: string;
  body: string;
  received_at: Date;
  attempts: number;
}

interface Pending {
  msg: InboxMessage;
  resolve: (r: 'inserted' | 'duplicate') => void;
  reject: (err: unknown) => void;
}

export class InboxWriter {
  #queue: Pending[] = [];
  #flushing = 0;
  /** commits so far (for the benchmark: messages per commit) */
  commits = 0;

  constructor(
    readonly db: Database,
    readonly clock: Clock,
    readonly batch = 200,
    /** INSERTs in flight at once (PostgreSQL pool: 2 keeps the disk busy while the next batch fills) */
    readonly parallel = 2,
  ) {}

  /** Resolves once the message is committed ('duplicate' when (network, controlId) was already there). */
  add(msg: InboxMessage): Promise<'inserted' | 'duplicate'> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ msg, resolve, reject });
      if (this.#flushing < this.parallel) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#flushing++;
    try {
      while (this.#queue.length) {
        const batch = this.#queue.splice(0, this.batch);
        try {
          const inserted = await insertMessages(this.db, batch.map((p) => p.msg), this.clock.now());
          this.commits++;
          for (const p of batch) {
            const k = `${p.msg.network}\u0000${p.msg.controlId}`;
            if (inserted.delete(k)) p.resolve('inserted');
            else p.resolve('duplicate');
          }
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.#flushing--;
    }
  }
}

/** One multi-row INSERT; returns the keys actually inserted (duplicates are skipped). */
export async function insertMessages(db: Queryable, msgs: InboxMessage[], now: Date): Promise<Set<string>> {
  const col = <K extends keyof InboxMessage>(k: K) => msgs.map((m) => m[k]);
  const r = await db.query<{ network: string; control_id: string }>(
    `INSERT INTO feed_inbox (network, kind, control_id, message_type, transport, peer, body, received_at)
     SELECT n, k, c, t, tr, p, b, $8 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS u(n, k, c, t, tr, p, b)
     ON CONFLICT (network, control_id) DO NOTHING
     RETURNING network, control_id`,
    [col('network'), col('kind'), col('controlId'), col('messageType'), col('transport'), col('peer'), col('body'), now],
  );
  return new Set(r.rows.map((x) => `${x.network}\u0000${x.control_id}`));
}

/** Claims up to `limit` pending rows (oldest first) under a lease; other workers skip them. */
export async function claimMessages(db: Database, now: Date, leaseMs: number, limit: number): Promise<InboxRow[]> {
  const r = await db.query<InboxRow>(
    `UPDATE feed_inbox SET locked_until = $1::timestamptz + ($2::int8 * interval '1 millisecond'), attempts = attempts + 1
      WHERE id IN (SELECT id FROM feed_inbox WHERE status = 'pending' AND (locked_until IS NULL OR locked_until < $1)
                    ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
      RETURNING id, network, kind, control_id, message_type, transport, body, received_at, attempts`,
    [now, leaseMs, limit],
  );
  return r.rows.sort((a, b) => a.id - b.id);
}

export type Outcome =
  | { status: 'done'; result: unknown }
  | { status: 'dropped'; reason: string; result?: unknown }
  | { status: 'failed'; reason: string }
  | { status: 'retry'; reason: string };

export async function finishMessage(db: Queryable, id: number, now: Date, o: Outcome): Promise<void> {
  if (o.status === 'retry') {
    await db.query('UPDATE feed_inbox SET locked_until = NULL, reason = $2 WHERE id = $1', [id, o.reason]);
    return;
  }
  // A dropped message concerns nobody enrolled: keep its id (duplicates, counts), not its content.
  await db.query(
    `UPDATE feed_inbox SET status = $2, processed_at = $3, locked_until = NULL, reason = $4, result = $5::jsonb,
            body = CASE WHEN $2 = 'dropped' THEN '' ELSE body END
      WHERE id = $1`,
    [id, o.status, now, 'reason' in o ? o.reason : null, 'result' in o && o.result !== undefined ? JSON.stringify(o.result) : null],
  );
}

/**
 * Deletes processed rows (done, dropped) older than `before`: their data lives in the FHIR store; a resend of such
 * an old control id is then stored and processed again, which writes nothing new (deterministic ids). Failed rows
 * stay for the operator.
 */
export async function purgeProcessed(db: Queryable, before: Date): Promise<number> {
  const r = await db.query("DELETE FROM feed_inbox WHERE status IN ('done', 'dropped') AND processed_at < $1", [before]);
  return r.rowCount;
}

export interface FeedStats {
  network: string;
  status: string;
  reason: string | null;
  count: number;
}

export async function inboxStats(db: Queryable): Promise<FeedStats[]> {
  const r = await db.query<FeedStats>(
    `SELECT network, status, CASE WHEN status IN ('dropped', 'failed') THEN reason END AS reason, count(*)::int8 AS count
       FROM feed_inbox GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
  );
  return r.rows;
}
