// A durable job queue that is just SQL on the platform database (in the spirit of pg-boss / graphile-worker):
// jobs are enqueued inside the caller's transaction, claimed with FOR UPDATE SKIP LOCKED under a lease (a worker
// that dies loses its lease and the job becomes due again), retried after a fixed delay, and moved to 'dead'
// after max failures. All times come from the injected clock, never from SQL now().
import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../db/types.ts';
import type { Clock } from '../platform/clock.ts';

export type JobStatus = 'pending' | 'done' | 'dead';

export interface NewJob<P = unknown> {
  payload: P;
  groupKey?: string | null;
  /** at most one job per (queue, dedupeKey); enqueueing it again is a no-op */
  dedupeKey?: string | null;
  runAt?: Date;
  maxFailures?: number;
  retryDelayMs?: number;
  /** defaults to a random UUID */
  id?: string;
}

export interface Job<P = unknown> {
  id: string;
  queue: string;
  groupKey: string | null;
  dedupeKey: string | null;
  payload: P;
  status: JobStatus;
  runAt: Date;
  attempts: number;
  failures: number;
  maxFailures: number;
  retryDelayMs: number;
  lastError: string | null;
  lastCode: number | null;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
}

export interface AttemptOutcome {
  ok: boolean;
  /** handler-reported code (webhooks: HTTP status) */
  code?: number | null;
  error?: string | null;
  latencyMs?: number | null;
  startedAt: Date;
}

export interface Attempt {
  jobId: string;
  attempt: number;
  startedAt: Date;
  latencyMs: number | null;
  ok: boolean;
  code: number | null;
  error: string | null;
}

export interface QueueDefaults {
  maxFailures: number;
  retryDelayMs: number;
}

interface JobRow {
  id: string; queue: string; group_key: string | null; dedupe_key: string | null; payload: unknown; status: JobStatus;
  run_at: Date; attempts: number; failures: number; max_failures: number; retry_delay_ms: number; last_error: string | null;
  last_code: number | null; created_at: Date; updated_at: Date; finished_at: Date | null;
}

const toJob = <P>(r: JobRow): Job<P> => ({
  id: r.id, queue: r.queue, groupKey: r.group_key, dedupeKey: r.dedupe_key, payload: r.payload as P, status: r.status,
  runAt: new Date(r.run_at), attempts: r.attempts, failures: r.failures, maxFailures: r.max_failures, retryDelayMs: Number(r.retry_delay_ms),
  lastError: r.last_error, lastCode: r.last_code, createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at),
  finishedAt: r.finished_at ? new Date(r.finished_at) : null,
});

export interface RedriveSelector {
  ids?: string[];
  groupKey?: string;
  /** dead letters that died in [from, to) */
  from?: Date;
  to?: Date;
}

export interface ListSelector {
  groupKey?: string | string[];
  status?: JobStatus;
  from?: Date;
  to?: Date;
  limit: number;
  offset: number;
}

/** One named queue. Cheap to construct; holds no state beyond its settings. */
export class Queue<P = unknown> {
  readonly name: string;
  readonly db: Database;
  readonly clock: Clock;
  readonly defaults: QueueDefaults;

  constructor(db: Database, clock: Clock, name: string, defaults: QueueDefaults) {
    this.db = db;
    this.clock = clock;
    this.name = name;
    this.defaults = defaults;
  }

  /** Enqueues jobs inside `tx` (the caller's transaction); returns the ids of the jobs actually created. */
  async enqueue(tx: Queryable, jobs: NewJob<P>[]): Promise<string[]> {
    if (jobs.length === 0) return [];
    const now = this.clock.now();
    const ids: string[] = [], groups: (string | null)[] = [], keys: (string | null)[] = [], payloads: string[] = [];
    const runAts: string[] = [], maxF: number[] = [], delays: number[] = [];
    for (const j of jobs) {
      ids.push(j.id ?? randomUUID());
      groups.push(j.groupKey ?? null);
      keys.push(j.dedupeKey ?? null);
      payloads.push(JSON.stringify(j.payload));
      runAts.push((j.runAt ?? now).toISOString());
      maxF.push(j.maxFailures ?? this.defaults.maxFailures);
      delays.push(j.retryDelayMs ?? this.defaults.retryDelayMs);
    }
    const r = await tx.query<{ id: string }>(
      `INSERT INTO queue_jobs (id, queue, group_key, dedupe_key, payload, status, run_at, max_failures, retry_delay_ms, created_at, updated_at)
       SELECT u.id, $1, u.g, u.k, u.p::jsonb, 'pending', u.r::timestamptz, u.m, u.d, $2, $2
       FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::bigint[]) AS u(id, g, k, p, r, m, d)
       ON CONFLICT (queue, dedupe_key) DO NOTHING
       RETURNING id`,
      [this.name, now.toISOString(), ids, groups, keys, payloads, runAts, maxF, delays],
    );
    return r.rows.map((x) => x.id);
  }

  /**
   * Claims up to `limit` due jobs of unpaused groups. Each claim counts an attempt and leases the job until
   * now + leaseMs: if the claimer dies, the job is due again when the lease ends (at-least-once).
   */
  async claim(limit: number, leaseMs: number): Promise<Job<P>[]> {
    if (limit <= 0) return [];
    const now = this.clock.nowMs();
    const r = await this.db.query<JobRow>(
      `WITH due AS (
         SELECT j.id FROM queue_jobs j
         WHERE j.queue = $1 AND j.status = 'pending' AND j.run_at <= $2
           AND NOT EXISTS (SELECT 1 FROM queue_paused_groups p WHERE p.queue = j.queue AND p.group_key = j.group_key)
         ORDER BY j.run_at
         LIMIT $3
         FOR UPDATE SKIP LOCKED)
       UPDATE queue_jobs j SET run_at = $4, attempts = j.attempts + 1, updated_at = $2
       FROM due WHERE j.id = due.id
       RETURNING j.*`,
      [this.name, new Date(now).toISOString(), limit, new Date(now + leaseMs).toISOString()],
    );
    return r.rows.map((row) => toJob<P>(row)).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }

  /**
   * Records the outcome of a claimed attempt. Success finishes the job; failure schedules a retry after the
   * job's delay, or moves it to 'dead' when it reached max failures. An outcome arriving after another
   * worker re-claimed the job (lease expired) is logged as an attempt but changes nothing else.
   */
  async finish(job: Job<P>, outcome: AttemptOutcome): Promise<JobStatus | 'stale'> {
    return (await this.finishMany([{ job, outcome }]))[0]!;
  }

  /** finish() for many attempts in one statement (workers record outcomes in groups). Statuses in input order. */
  async finishMany(items: { job: Job<P>; outcome: AttemptOutcome }[]): Promise<(JobStatus | 'stale')[]> {
    if (items.length === 0) return [];
    const now = this.clock.now().toISOString();
    const col = <T>(f: (x: { job: Job<P>; outcome: AttemptOutcome }) => T) => items.map(f);
    const r = await this.db.query<{ id: string; status: JobStatus }>(
      `WITH u AS (
         SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::bool[], $6::int[], $7::text[]) AS u(id, attempt, started_at, latency_ms, ok, code, error)),
       a AS (
         INSERT INTO queue_job_attempts (job_id, attempt, started_at, latency_ms, ok, code, error)
         SELECT id, attempt, started_at::timestamptz, latency_ms, ok, code, error FROM u ON CONFLICT DO NOTHING)
       UPDATE queue_jobs j SET
         status = CASE WHEN u.ok THEN 'done' WHEN j.failures + 1 >= j.max_failures THEN 'dead' ELSE 'pending' END,
         failures = j.failures + CASE WHEN u.ok THEN 0 ELSE 1 END,
         run_at = CASE WHEN u.ok THEN j.run_at ELSE $8::timestamptz + j.retry_delay_ms * interval '1 millisecond' END,
         finished_at = CASE WHEN u.ok OR j.failures + 1 >= j.max_failures THEN $8::timestamptz ELSE NULL END,
         last_error = CASE WHEN u.ok THEN j.last_error ELSE u.error END,
         last_code = u.code,
         updated_at = $8::timestamptz
       FROM u
       WHERE j.id = u.id AND j.queue = $9 AND j.status = 'pending' AND j.attempts = u.attempt
       RETURNING j.id, j.status`,
      [col((x) => x.job.id), col((x) => x.job.attempts), col((x) => x.outcome.startedAt.toISOString()),
        col((x) => (x.outcome.latencyMs == null ? null : Math.round(x.outcome.latencyMs))), col((x) => x.outcome.ok),
        col((x) => x.outcome.code ?? null), col((x) => x.outcome.error ?? null), now, this.name],
    );
    const by = new Map(r.rows.map((x) => [x.id, x.status]));
    return items.map((x) => by.get(x.job.id) ?? 'stale');
  }

  /** Dead letters back to pending (due now, failure count reset). Returns how many were redriven. */
  async redrive(sel: RedriveSelector): Promise<number> {
    const now = this.clock.now().toISOString();
    const r = await this.db.query(
      `UPDATE queue_jobs SET status = 'pending', failures = 0, run_at = $2, finished_at = NULL, updated_at = $2
       WHERE queue = $1 AND status = 'dead'
         AND ($3::text[] IS NULL OR id = ANY($3::text[]))
         AND ($4::text IS NULL OR group_key = $4)
         AND ($5::timestamptz IS NULL OR finished_at >= $5)
         AND ($6::timestamptz IS NULL OR finished_at < $6)`,
      [this.name, now, sel.ids ?? null, sel.groupKey ?? null, sel.from?.toISOString() ?? null, sel.to?.toISOString() ?? null],
    );
    return r.rowCount;
  }

  async pauseGroup(groupKey: string): Promise<void> {
    await this.db.query('INSERT INTO queue_paused_groups (queue, group_key, paused_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
      [this.name, groupKey, this.clock.now().toISOString()]);
  }

  async resumeGroup(groupKey: string): Promise<void> {
    await this.db.query('DELETE FROM queue_paused_groups WHERE queue = $1 AND group_key = $2', [this.name, groupKey]);
  }

  async isPaused(groupKey: string): Promise<boolean> {
    const r = await this.db.query('SELECT 1 FROM queue_paused_groups WHERE queue = $1 AND group_key = $2', [this.name, groupKey]);
    return r.rows.length > 0;
  }

  /** Deletes finished (done and dead) jobs that finished before `before`; returns how many. */
  async purgeFinished(before: Date): Promise<number> {
    const r = await this.db.query(`DELETE FROM queue_jobs WHERE queue = $1 AND status <> 'pending' AND finished_at < $2`, [this.name, before.toISOString()]);
    return r.rowCount;
  }

  /** Removes every job of a group (its owner was deleted). */
  async deleteGroup(groupKey: string): Promise<void> {
    await this.db.query('DELETE FROM queue_jobs WHERE queue = $1 AND group_key = $2', [this.name, groupKey]);
    await this.resumeGroup(groupKey);
  }

  async get(id: string): Promise<Job<P> | null> {
    const r = await this.db.query<JobRow>('SELECT * FROM queue_jobs WHERE queue = $1 AND id = $2', [this.name, id]);
    return r.rows[0] ? toJob<P>(r.rows[0]) : null;
  }

  /** Newest first; `from`/`to` bound created_at (finished_at for dead letters). */
  async list(sel: ListSelector): Promise<{ jobs: Job<P>[]; total: number }> {
    const groups = sel.groupKey === undefined ? null : Array.isArray(sel.groupKey) ? sel.groupKey : [sel.groupKey];
    const timeCol = sel.status === 'dead' ? 'finished_at' : 'created_at';
    const where = `queue = $1 AND ($2::text[] IS NULL OR group_key = ANY($2::text[])) AND ($3::text IS NULL OR status = $3)
      AND ($4::timestamptz IS NULL OR ${timeCol} >= $4) AND ($5::timestamptz IS NULL OR ${timeCol} < $5)`;
    const params = [this.name, groups, sel.status ?? null, sel.from?.toISOString() ?? null, sel.to?.toISOString() ?? null];
    const [rows, count] = await Promise.all([
      this.db.query<JobRow>(`SELECT * FROM queue_jobs WHERE ${where} ORDER BY ${timeCol} DESC, id LIMIT ${sel.limit} OFFSET ${sel.offset}`, params),
      this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM queue_jobs WHERE ${where}`, params),
    ]);
    return { jobs: rows.rows.map((r) => toJob<P>(r)), total: count.rows[0]?.n ?? 0 };
  }

  async attempts(jobIds: string[]): Promise<Map<string, Attempt[]>> {
    const out = new Map<string, Attempt[]>();
    if (jobIds.length === 0) return out;
    const r = await this.db.query<{ job_id: string; attempt: number; started_at: Date; latency_ms: number | null; ok: boolean; code: number | null; error: string | null }>(
      'SELECT * FROM queue_job_attempts WHERE job_id = ANY($1::text[]) ORDER BY job_id, attempt', [jobIds]);
    for (const a of r.rows) {
      const list = out.get(a.job_id) ?? [];
      list.push({ jobId: a.job_id, attempt: a.attempt, startedAt: new Date(a.started_at), latencyMs: a.latency_ms, ok: a.ok, code: a.code, error: a.error });
      out.set(a.job_id, list);
    }
    return out;
  }

  /** Counts by status and attempt latency percentiles of a group (or the whole queue). */
  async stats(groupKey?: string): Promise<QueueStats> {
    const [jobs, attempts] = await Promise.all([
      this.db.query<{ status: JobStatus; n: number }>(
        'SELECT status, count(*)::int AS n FROM queue_jobs WHERE queue = $1 AND ($2::text IS NULL OR group_key = $2) GROUP BY status',
        [this.name, groupKey ?? null]),
      this.db.query<{ failed: number; succeeded: number; p50: number | null; p99: number | null }>(
        `SELECT count(*) FILTER (WHERE NOT a.ok)::int AS failed, count(*) FILTER (WHERE a.ok)::int AS succeeded,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY a.latency_ms) AS p50,
                percentile_cont(0.99) WITHIN GROUP (ORDER BY a.latency_ms) AS p99
         FROM queue_job_attempts a JOIN queue_jobs j ON j.id = a.job_id
         WHERE j.queue = $1 AND ($2::text IS NULL OR j.group_key = $2)`,
        [this.name, groupKey ?? null]),
    ]);
    const by = Object.fromEntries(jobs.rows.map((r) => [r.status, r.n])) as Partial<Record<JobStatus, number>>;
    const a = attempts.rows[0];
    return {
      pending: by.pending ?? 0,
      done: by.done ?? 0,
      dead: by.dead ?? 0,
      failedAttempts: a?.failed ?? 0,
      succeededAttempts: a?.succeeded ?? 0,
      latencyMs: { p50: a?.p50 == null ? null : Number(a.p50), p99: a?.p99 == null ? null : Number(a.p99) },
    };
  }
}

export interface QueueStats {
  pending: number;
  done: number;
  dead: number;
  failedAttempts: number;
  succeededAttempts: number;
  latencyMs: { p50: number | null; p99: number | null };
}
