// Outbox → deliveries. One transaction reads the next events after the cursor (the cursor row locked, SKIP
// LOCKED so a second dispatcher simply waits its turn), evaluates them against the active hooks of each
// event's owner, enqueues one delivery per (event, hook) (deduplicated on that pair) and advances the cursor.
// A crash before commit loses nothing and creates nothing; a crash after commit is already complete.
//
// Outbox sequence numbers are handed out before their transactions commit, so a reader can see seq 12 while
// seq 11 is still in flight. The dispatcher never steps over such a gap until every transaction that was
// running when it saw the gap has finished (PostgreSQL snapshot xmin ≥ the xmax observed then): after that,
// a still-missing number belongs to a rolled-back transaction and is skipped.
import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../db/types.ts';
import type { Clock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import type { Queue, NewJob } from '../queue/index.ts';
import { parseEvent, loadVersions, versionKey, type ChangeEvent } from './events.ts';
import { FilterCache, FilterSyntaxError, HOOK_FILTER_LIMITS } from './filter.ts';
import type { HookConfig } from './config.ts';
import { messageTime, type DeliveryPayload } from './payload.ts';

const CURSOR = 'hooks';
/** a gap is also given this much real time before it is skipped (see above) */
const GAP_MIN_WAIT_MS = 250;

export interface DispatchResult {
  /** events consumed (cursor advance) */
  events: number;
  deliveries: number;
  /** another dispatcher holds the cursor */
  busy: boolean;
  /** stopped at a gap that may still fill */
  waitingOnGap: boolean;
}

interface ActiveHook {
  id: string;
  builder_id: string;
  filter: string;
  version: number;
}

interface Gap {
  /** gaps up to this sequence number are covered by the observation */
  upTo: number;
  /** snapshot xmax when observed */
  horizon: bigint;
  seenAt: number;
}

function parseSnapshot(s: string): { xmin: bigint; xmax: bigint } {
  const [xmin, xmax] = s.split(':');
  return { xmin: BigInt(xmin!), xmax: BigInt(xmax!) };
}

export class Dispatcher {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #queue: Queue<DeliveryPayload>;
  readonly #filters: FilterCache;
  readonly #config: Pick<HookConfig, 'dispatchBatch' | 'filterMaxSteps'>;
  readonly #logger: Logger | undefined;
  #gap: Gap | null = null;
  #cursorReady = false;

  constructor(db: Database, clock: Clock, queue: Queue<DeliveryPayload>, config: Pick<HookConfig, 'dispatchBatch' | 'filterMaxSteps'>, logger?: Logger) {
    this.#db = db;
    this.#clock = clock;
    this.#queue = queue;
    this.#config = config;
    this.#filters = new FilterCache({ ...HOOK_FILTER_LIMITS, maxSteps: config.filterMaxSteps });
    this.#logger = logger;
  }

  async #ensureCursor(): Promise<void> {
    if (this.#cursorReady) return;
    await this.#db.query('INSERT INTO hook_dispatch_cursor (name, last_seq, updated_at) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING',
      [CURSOR, this.#clock.now().toISOString()]);
    this.#cursorReady = true;
  }

  async dispatchOnce(): Promise<DispatchResult> {
    await this.#ensureCursor();
    return this.#db.transaction(async (tx) => {
      // The snapshot must be read before this transaction takes a lock (which gives it an xid of its own).
      const snap = parseSnapshot((await tx.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s')).rows[0]!.s);
      const cur = await tx.query<{ last_seq: number }>('SELECT last_seq FROM hook_dispatch_cursor WHERE name = $1 FOR UPDATE SKIP LOCKED', [CURSOR]);
      if (!cur.rows[0]) return { events: 0, deliveries: 0, busy: true, waitingOnGap: false };
      const last = Number(cur.rows[0].last_seq);
      const rows = (await tx.query<{ seq: number; event: unknown }>('SELECT seq, event FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2', [last, this.#config.dispatchBatch])).rows;

      const accepted: { seq: number; event: unknown }[] = [];
      let cursor = last;
      let waitingOnGap = false;
      for (const row of rows) {
        const seq = Number(row.seq);
        if (seq !== cursor + 1 && !this.#gapSettled(seq, snap.xmin)) {
          if (!this.#gap || this.#gap.upTo < seq) {
            this.#gap = { upTo: Number(rows[rows.length - 1]!.seq), horizon: snap.xmax, seenAt: performance.now() };
          }
          waitingOnGap = true;
          break;
        }
        accepted.push(row);
        cursor = seq;
      }
      if (this.#gap && cursor >= this.#gap.upTo) this.#gap = null;
      if (accepted.length === 0) return { events: 0, deliveries: 0, busy: false, waitingOnGap };

      const jobs = await this.#evaluate(tx, accepted);
      await this.#queue.enqueue(tx, jobs);
      await tx.query('UPDATE hook_dispatch_cursor SET last_seq = $2, updated_at = $3 WHERE name = $1', [CURSOR, cursor, this.#clock.now().toISOString()]);
      return { events: accepted.length, deliveries: jobs.length, busy: false, waitingOnGap };
    });
  }

  #gapSettled(seq: number, xminNow: bigint): boolean {
    const g = this.#gap;
    return !!g && seq <= g.upTo && xminNow >= g.horizon && performance.now() - g.seenAt >= GAP_MIN_WAIT_MS;
  }

  async #evaluate(tx: Queryable, rows: { seq: number; event: unknown }[]): Promise<NewJob<DeliveryPayload>[]> {
    const events = rows.map((r) => parseEvent(Number(r.seq), r.event)).filter((e): e is ChangeEvent => e !== null);
    if (events.length === 0) return [];
    const builders = [...new Set(events.map((e) => e.builderId))];
    const hooks = (await tx.query<ActiveHook>('SELECT id, builder_id, filter, version FROM hooks WHERE active AND builder_id = ANY($1::text[]) ORDER BY id', [builders])).rows;
    if (hooks.length === 0) return [];
    const byBuilder = new Map<string, ActiveHook[]>();
    for (const h of hooks) byBuilder.set(h.builder_id, [...(byBuilder.get(h.builder_id) ?? []), h]);
    const relevant = events.filter((e) => byBuilder.has(e.builderId));
    const contents = await loadVersions(tx, relevant);

    const time = messageTime(this.#clock.now());
    const jobs: NewJob<DeliveryPayload>[] = [];
    const errors = new Map<string, { count: number; last: string }>();
    for (const e of relevant) {
      const resource = contents.get(versionKey(e.resourceType, e.id, e.versionId)) ?? { resourceType: e.resourceType, id: e.id };
      for (const h of byBuilder.get(e.builderId)!) {
        const filter = this.#filters.get(h.id, h.version, h.filter);
        const r = filter instanceof FilterSyntaxError ? { matched: false, error: `filter does not compile: ${filter.message}` } : filter.matches(resource);
        if (r.error) {
          const prev = errors.get(h.id);
          errors.set(h.id, { count: (prev?.count ?? 0) + 1, last: `${e.resourceType}/${e.id}/_history/${e.versionId}: ${r.error}`.slice(0, 1000) });
        }
        if (!r.matched) continue;
        jobs.push({
          id: randomUUID(),
          groupKey: h.id,
          dedupeKey: `${e.seq}:${h.id}`,
          payload: {
            hookId: h.id, seq: e.seq, resourceType: e.resourceType, id: e.id, versionId: e.versionId,
            builderId: e.builderId, upid: e.upid ?? upidOf(resource), operation: e.operation, time,
          },
        });
      }
    }
    if (errors.size > 0) {
      const ids = [...errors.keys()];
      await tx.query(
        `UPDATE hooks h SET filter_errors = h.filter_errors + u.n, last_filter_error = u.msg, last_filter_error_at = $4
         FROM unnest($1::text[], $2::int[], $3::text[]) AS u(id, n, msg) WHERE h.id = u.id`,
        [ids, ids.map((id) => errors.get(id)!.count), ids.map((id) => errors.get(id)!.last), this.#clock.now().toISOString()]);
      this.#logger?.debug({ hooks: ids.length }, 'hook filters reported errors');
    }
    return jobs;
  }
}

const UPID_EXTENSION = 'https://zusapi.com/fhir/identifier/universal-id';

/** The UPID extension of a resource (when the event did not carry the UPID). */
function upidOf(resource: Record<string, unknown>): string | null {
  const ext = Array.isArray(resource.extension) ? (resource.extension as { url?: unknown; valueString?: unknown }[]) : [];
  const hit = ext.find((x) => x?.url === UPID_EXTENSION && typeof x.valueString === 'string');
  return hit ? (hit.valueString as string) : null;
}
