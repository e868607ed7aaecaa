// Runs a queue's jobs: keeps up to `concurrency` handlers in flight, claims more in batches as slots free up,
// polls when idle (or is woken by a producer in the same process), and records outcomes in groups (the ones
// that finish while a write is under way go together in the next one). Stop() waits for the jobs in hand; a
// process killed mid-job loses only its leases.
import type { Logger } from '../platform/logger.ts';
import type { AttemptOutcome, Job, Queue } from './queue.ts';

export interface HandlerResult {
  ok: boolean;
  code?: number | null;
  error?: string | null;
  latencyMs?: number | null;
}

export interface RunnerOptions<P, C> {
  queue: Queue<P>;
  concurrency: number;
  /** how long a claim is leased: longer than the longest handler run */
  leaseMs: number;
  /** real milliseconds between polls when idle */
  pollMs: number;
  logger?: Logger;
  /** batch preparation shared by the claimed jobs (e.g. one query for their common data) */
  prepare?: (jobs: Job<P>[]) => Promise<C>;
  handle: (job: Job<P>, context: C) => Promise<HandlerResult>;
}

export class QueueRunner<P, C = undefined> {
  readonly #o: RunnerOptions<P, C>;
  #inFlight = new Set<Promise<void>>();
  #running = false;
  #loop: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  #outcomes: { job: Job<P>; outcome: AttemptOutcome }[] = [];
  #flushing: Promise<void> | null = null;

  constructor(options: RunnerOptions<P, C>) {
    this.#o = options;
  }

  /** Claims and runs due jobs once (up to the free slots); resolves when those jobs finished. Returns how many. */
  async runOnce(): Promise<number> {
    const started = await this.#claimAndStart(this.#o.concurrency);
    await Promise.all([...this.#inFlight]);
    await this.#flushAll();
    return started;
  }

  /** Runs until no job is due (tests, drains). Returns the total processed. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.runOnce();
      if (n === 0) return total;
      total += n;
    }
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Makes an idle runner poll now (a producer in this process just enqueued). */
  wake(): void {
    this.#wake?.();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.wake();
    await this.#loop;
    await Promise.all([...this.#inFlight]);
    await this.#flushAll();
  }

  async #run(): Promise<void> {
    while (this.#running) {
      let started = 0;
      // Claim in batches: when busy, wait until a quarter of the slots are free (one claim per batch, not per job).
      const free = this.#o.concurrency - this.#inFlight.size;
      const batch = Math.max(1, Math.floor(this.#o.concurrency / 4));
      if (free > 0 && (this.#inFlight.size === 0 || free >= batch)) {
        try {
          started = await this.#claimAndStart(free);
        } catch (err) {
          this.#o.logger?.error({ err, queue: this.#o.queue.name }, 'queue claim failed');
        }
      }
      if (!this.#running) break;
      const full = this.#inFlight.size > 0 && this.#o.concurrency - this.#inFlight.size < batch;
      if (started > 0 && !full) continue;
      // Idle or full: wait for a poll tick, a wake-up, or (when full) a finished job.
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, this.#o.pollMs);
        function done() {
          clearTimeout(t);
          resolve();
        }
        this.#wake = done;
        if (full) void Promise.race([...this.#inFlight]).then(done);
      });
      this.#wake = null;
    }
  }

  async #claimAndStart(limit: number): Promise<number> {
    const jobs = await this.#o.queue.claim(limit, this.#o.leaseMs);
    if (jobs.length === 0) return 0;
    let context: C;
    try {
      context = this.#o.prepare ? await this.#o.prepare(jobs) : (undefined as C);
    } catch (err) {
      // Leases expire and the jobs come back; nothing to record against them.
      this.#o.logger?.error({ err, queue: this.#o.queue.name }, 'queue batch preparation failed');
      return jobs.length;
    }
    for (const job of jobs) {
      const p = this.#runJob(job, context).finally(() => this.#inFlight.delete(p));
      this.#inFlight.add(p);
    }
    return jobs.length;
  }

  async #runJob(job: Job<P>, context: C): Promise<void> {
    const startedAt = this.#o.queue.clock.now();
    const t0 = performance.now();
    let outcome: AttemptOutcome;
    try {
      const r = await this.#o.handle(job, context);
      outcome = { ok: r.ok, code: r.code ?? null, error: r.error ?? null, latencyMs: r.latencyMs ?? performance.now() - t0, startedAt };
    } catch (err) {
      outcome = { ok: false, error: err instanceof Error ? err.message : String(err), latencyMs: performance.now() - t0, startedAt };
    }
    this.#outcomes.push({ job, outcome });
    if (!this.#flushing) this.#flushing = this.#flush();
  }

  async #flush(): Promise<void> {
    while (this.#outcomes.length > 0) {
      const items = this.#outcomes;
      this.#outcomes = [];
      try {
        await this.#o.queue.finishMany(items);
      } catch (err) {
        // The leases run out and the jobs are retried: at-least-once, never lost.
        this.#o.logger?.error({ err, jobs: items.length }, 'recording job outcomes failed');
      }
    }
    this.#flushing = null;
  }

  async #flushAll(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }
}
