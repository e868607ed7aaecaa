// THE write path for FHIR data (HTTP API, importers, connectors, UPI stamping, feeds all come through here) and the
// read path for read / vread / search / history. Every write is one transaction: resource row, version row,
// search-index rows and an outbox event. Every read filters with the sharing policy in SQL.
import type { Queryable } from '../../db/types.ts';
import type { Database } from '../../db/types.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Config } from '../../platform/config.ts';
import { HttpError, badRequest, conflict, forbidden, gone, notFound, preconditionFailed, unprocessable, type ErrorDetail } from '../../platform/errors.ts';
import { newResourceId } from './ids.ts';
import type { AccessContext } from '../../access/context.ts';
import { allowsFhir, requireFhir } from '../../access/context.ts';
import { forgetSharing, isWritableOwner, prepareSharing, visibleSql } from '../../access/policy.ts';
import { isResourceType } from '../definitions/index.ts';
import { extractIndexEntries } from '../indexing/index.ts';
import { SEMANTIC_ISSUE_CODES, validateResource } from '../validation/index.ts';
import { executeSearch, matchIds, type SearchResult } from '../search/execute.ts';
import { parseSearch, searchParamsOf, type ParsedSearch } from '../search/parse.ts';
import { INDEX_TABLE, SqlParams } from '../search/sql.ts';
import { assertClientMayWrite, createdAtOf, FHIR_ID, isRestricted, sourceOf, stampMeta, upidOf, type FhirResource } from './meta.ts';
import { applyJsonPatch } from './patch.ts';
import { writeRows, type PreparedRow } from './rows.ts';

export type { FhirResource } from './meta.ts';

/** Runs inside the write transaction, before indexing; may change `resource` in place (e.g. stamp a UPID). */
export type WriteInterceptor = (tx: Queryable, ctx: AccessContext, resource: FhirResource, previous: FhirResource | null) => Promise<void>;

export interface WriteOp {
  action: 'create' | 'update' | 'patch' | 'delete';
  type: string;
  /** create: optional preassigned id (transactions); others: required */
  id?: string;
  resource?: FhirResource;
  /** JSON Patch operations (action 'patch') */
  patch?: unknown;
  /** If-Match version (the number inside W/"n") */
  ifMatch?: string | null;
  /**
   * Platform writers only (`platform: true`): the caller already ran validateResource on this exact resource
   * (e.g. converter output, which is validated by contract), so the store does not validate it again.
   */
  validated?: boolean;
}

export interface WriteOutcome {
  outcome: 'created' | 'updated' | 'deleted' | 'unchanged';
  type: string;
  id: string;
  versionId: number | null;
  lastUpdated: Date | null;
  /** the stored resource (null for deletes) */
  resource: FhirResource | null;
}

export interface WriteOptions {
  /** platform-internal writer (connectors, lenses): may write third-party source and Lens tags */
  platform?: boolean;
  /** run inside this open transaction instead of a new one */
  tx?: Queryable;
}

/** A row of FhirStore.readStatement. */
export interface ReadRow {
  version_id: number;
  last_updated: Date;
  deleted: boolean;
  content: FhirResource | null;
}

export interface StoredVersion {
  type: string;
  id: string;
  versionId: number;
  lastUpdated: Date;
  deleted: boolean;
  resource: FhirResource | null;
  /** read with `raw: true`: the stored JSON text (and `resource` is null) */
  text?: string;
}

export interface HistoryEntry extends StoredVersion {
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
}

export interface HistoryQuery {
  type?: string;
  id?: string;
  since?: Date;
  count: number;
  cursor?: string | null;
}

export interface StoreServices {
  db: Database;
  clock: Clock;
  config: Pick<Config, 'baseUrl' | 'maxPageSize' | 'defaultPageSize'>;
}

interface PreviousRow {
  type: string;
  id: string;
  version_id: number;
  builder_id: string;
  deleted: boolean;
  created_at: Date;
  content: FhirResource | null;
  visible: boolean;
}

// PGlite statistics upkeep (see FhirStore.#noteWrites)
const ANALYZE_MIN_ROWS = 500;
const ANALYZE_SCALE = 0.1;
const ANALYZE_DELAY_MS = 2000;

/** Deep equality ignoring key order and the version-specific meta fields (versionId, lastUpdated). */
export function sameContent(a: FhirResource, b: FhirResource): boolean {
  const strip = (r: FhirResource) => {
    const meta = { ...((r.meta as Record<string, unknown>) ?? {}) };
    delete meta.versionId;
    delete meta.lastUpdated;
    return { ...r, meta };
  };
  return deepEqual(strip(a), strip(b));
}

function deepEqual(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
  if (Array.isArray(x) !== Array.isArray(y)) return false;
  if (Array.isArray(x)) {
    const ya = y as unknown[];
    return x.length === ya.length && x.every((v, i) => deepEqual(v, ya[i]));
  }
  const xo = x as Record<string, unknown>;
  const yo = y as Record<string, unknown>;
  const xk = Object.keys(xo).filter((k) => xo[k] !== undefined);
  const yk = Object.keys(yo).filter((k) => yo[k] !== undefined);
  return xk.length === yk.length && xk.every((k) => deepEqual(xo[k], yo[k]));
}

export function assertValid(resource: unknown, where = ''): void {
  const issues = validateResource(resource).filter((i) => i.severity === 'error');
  if (issues.length === 0) return;
  // The issue code decides: malformed input (structure, value, …) → 400; well-formed but invalid content → 422.
  const details: ErrorDetail[] = issues.slice(0, 50).map((i) => ({ code: i.code, message: i.message, path: where + i.path }));
  const malformed = issues.some((i) => !SEMANTIC_ISSUE_CODES.has(i.code));
  const summary = `Invalid resource: ${issues[0]!.path ? `${issues[0]!.path}: ` : ''}${issues[0]!.message}`;
  throw malformed ? badRequest(summary, details) : unprocessable(summary, details);
}

export function assertResourceType(type: string): void {
  if (!isResourceType(type)) throw notFound(`Unknown resource type '${type}'`);
}

export class FhirStore {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #config: StoreServices['config'];
  readonly #interceptors: WriteInterceptor[] = [];
  /** PGlite statistics upkeep (it has no autovacuum): rows written since the last ANALYZE, and the table size then */
  #sinceAnalyze = 0;
  #rowsAtAnalyze = 0;
  #analyzeTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(services: StoreServices) {
    this.#db = services.db;
    this.#clock = services.clock;
    this.#config = services.config;
  }

  get db(): Database {
    return this.#db;
  }

  /** Absolute base of the FHIR endpoint, e.g. https://host/fhir. */
  get fhirBase(): string {
    return `${this.#config.baseUrl}/fhir`;
  }

  addWriteInterceptor(fn: WriteInterceptor): void {
    this.#interceptors.push(fn);
  }

  /** Runs fn in the given transaction, or in a new one. */
  inTransaction<T>(tx: Queryable | undefined, fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return tx ? fn(tx) : this.#db.transaction(fn);
  }

  // ---------------------------------------------------------------- writes

  async create(ctx: AccessContext, resource: FhirResource, opts: WriteOptions = {}): Promise<WriteOutcome> {
    const type = resource?.resourceType;
    if (typeof type !== 'string') throw badRequest('resourceType is required');
    return (await this.inTransaction(opts.tx, (tx) => this.writeBatch(tx, ctx, [{ action: 'create', type, resource }], opts)))[0]!;
  }

  async update(ctx: AccessContext, type: string, id: string, resource: FhirResource, opts: WriteOptions & { ifMatch?: string | null } = {}): Promise<WriteOutcome> {
    return (await this.inTransaction(opts.tx, (tx) => this.writeBatch(tx, ctx, [{ action: 'update', type, id, resource, ifMatch: opts.ifMatch }], opts)))[0]!;
  }

  async patch(ctx: AccessContext, type: string, id: string, patch: unknown, opts: WriteOptions & { ifMatch?: string | null } = {}): Promise<WriteOutcome> {
    return (await this.inTransaction(opts.tx, (tx) => this.writeBatch(tx, ctx, [{ action: 'patch', type, id, patch, ifMatch: opts.ifMatch }], opts)))[0]!;
  }

  async delete(ctx: AccessContext, type: string, id: string, opts: WriteOptions & { ifMatch?: string | null } = {}): Promise<WriteOutcome> {
    return (await this.inTransaction(opts.tx, (tx) => this.writeBatch(tx, ctx, [{ action: 'delete', type, id, ifMatch: opts.ifMatch }], opts)))[0]!;
  }

  /** Create unless a visible resource matches `criteria` (If-None-Exist): 0 → create, 1 → return it, more → 412. */
  async conditionalCreate(ctx: AccessContext, resource: FhirResource, criteria: string, opts: WriteOptions = {}): Promise<WriteOutcome> {
    const type = resource?.resourceType;
    if (typeof type !== 'string') throw badRequest('resourceType is required');
    assertResourceType(type);
    requireFhir(ctx, 'create', type);
    return this.inTransaction(opts.tx, async (tx) => {
      await this.#lockCriteria(tx, ctx, type, criteria);
      const found = await this.resolveCriteria(tx, ctx, type, criteria, 2);
      if (found.length > 1) throw preconditionFailed(`Multiple ${type} resources match '${criteria}'`);
      if (found.length === 1) {
        const cur = await this.read(ctx, type, found[0]!, { tx });
        return { outcome: 'unchanged', type, id: cur.id, versionId: cur.versionId, lastUpdated: cur.lastUpdated, resource: cur.resource };
      }
      return (await this.writeBatch(tx, ctx, [{ action: 'create', type, resource }], opts))[0]!;
    });
  }

  /** PUT Type?criteria: 0 matches → create (id from body if given), 1 → update it, more → 412. */
  async conditionalUpdate(ctx: AccessContext, type: string, criteria: string, resource: FhirResource, opts: WriteOptions & { ifMatch?: string | null } = {}): Promise<WriteOutcome> {
    assertResourceType(type);
    return this.inTransaction(opts.tx, async (tx) => {
      await this.#lockCriteria(tx, ctx, type, criteria);
      const found = await this.resolveCriteria(tx, ctx, type, criteria, 2);
      if (found.length > 1) throw preconditionFailed(`Multiple ${type} resources match '${criteria}'`);
      if (found.length === 1) {
        if (resource?.id !== undefined && resource.id !== found[0]) throw badRequest(`Resource id '${resource.id}' does not match the resource found by '${criteria}'`);
        return (await this.writeBatch(tx, ctx, [{ action: 'update', type, id: found[0]!, resource: { ...resource, id: found[0]! }, ifMatch: opts.ifMatch }], opts))[0]!;
      }
      if (typeof resource?.id === 'string') return (await this.writeBatch(tx, ctx, [{ action: 'update', type, id: resource.id, resource }], opts))[0]!;
      return (await this.writeBatch(tx, ctx, [{ action: 'create', type, resource }], opts))[0]!;
    });
  }

  /** DELETE Type?criteria: 0 matches → nothing, 1 → delete it, more → 412 (single-match conditional delete). */
  async conditionalDelete(ctx: AccessContext, type: string, criteria: string, opts: WriteOptions = {}): Promise<WriteOutcome> {
    assertResourceType(type);
    requireFhir(ctx, 'delete', type);
    return this.inTransaction(opts.tx, async (tx) => {
      const found = await this.resolveCriteria(tx, ctx, type, criteria, 2);
      if (found.length > 1) throw preconditionFailed(`Multiple ${type} resources match '${criteria}'`);
      if (found.length === 0) return { outcome: 'unchanged', type, id: '', versionId: null, lastUpdated: null, resource: null };
      return (await this.writeBatch(tx, ctx, [{ action: 'delete', type, id: found[0]! }], opts))[0]!;
    });
  }

  /** PATCH Type?criteria: exactly one match is patched; none → 404, more → 412. */
  async conditionalPatch(ctx: AccessContext, type: string, criteria: string, patch: unknown, opts: WriteOptions & { ifMatch?: string | null } = {}): Promise<WriteOutcome> {
    assertResourceType(type);
    return this.inTransaction(opts.tx, async (tx) => {
      const found = await this.resolveCriteria(tx, ctx, type, criteria, 2);
      if (found.length > 1) throw preconditionFailed(`Multiple ${type} resources match '${criteria}'`);
      if (found.length === 0) throw notFound(`No ${type} matches '${criteria}'`);
      return (await this.writeBatch(tx, ctx, [{ action: 'patch', type, id: found[0]!, patch, ifMatch: opts.ifMatch }], opts))[0]!;
    });
  }

  /** Serializes concurrent conditional writes on the same criteria (no duplicate creates). */
  async #lockCriteria(tx: Queryable, ctx: AccessContext, type: string, criteria: string): Promise<void> {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${ctx.writeBuilderId}|${type}|${criteria}`]);
  }

  /** Ids of visible, non-deleted resources of `type` matching a search query string (strict parameters). */
  async resolveCriteria(tx: Queryable, ctx: AccessContext, type: string, criteria: string, limit: number): Promise<string[]> {
    const params = searchParamsOf(criteria.replace(/^\?/, ''));
    const q = parseSearch(type, params, { strict: true, defaultCount: limit, maxCount: limit });
    if (q.filters.length === 0) throw badRequest(`Conditional criteria '${criteria}' must contain at least one search parameter`);
    // conditional writes and conditional references act on the caller's own data only, never on shared data
    return (await matchIds(tx, { ...ctx, ownDataOnly: true }, q, { fhirBase: this.fhirBase, now: this.#clock.now() }, limit)).map((r) => r.id);
  }

  /**
   * Applies several writes in one transaction with bulk SQL (the path bundles use). Each op is checked (role,
   * ownership, If-Match, validation, platform tags), interceptors run, then all rows are written at once.
   */
  async writeBatch(tx: Queryable, ctx: AccessContext, ops: WriteOp[], opts: WriteOptions = {}): Promise<WriteOutcome[]> {
    if (ops.length === 0) return [];
    const lastUpdated = this.#clock.now();
    for (const op of ops) {
      assertResourceType(op.type);
      if (op.id !== undefined && !FHIR_ID.test(op.id)) throw badRequest(`Invalid resource id '${op.id}'`);
    }
    // Creates never look for a previous row: their ids are fresh (a preassigned id that is somehow taken makes the
    // guarded upsert in writeRows update nothing, which is a 409, never an overwrite).
    const keyed = ops.filter((o) => o.id !== undefined && o.action !== 'create');
    const previous = new Map<string, PreviousRow>();
    if (keyed.length > 0) {
      const p = new SqlParams();
      const typesP = p.add(keyed.map((o) => o.type));
      const idsP = p.add(keyed.map((o) => o.id));
      const vis = visibleSql(ctx, 'r', p.values);
      const r = await tx.query<PreviousRow>(
        `SELECT r.type, r.id, r.version_id, r.builder_id, r.deleted, r.created_at, r.content, ${vis} AS visible
           FROM resources r WHERE (r.type, r.id) IN (SELECT * FROM unnest(${typesP}::text[], ${idsP}::text[])) FOR UPDATE`,
        p.values,
      );
      for (const row of r.rows) previous.set(`${row.type}/${row.id}`, row);
    }

    const prepared: PreparedRow[] = [];
    const outcomes: WriteOutcome[] = [];
    for (const op of ops) {
      const prev = op.id !== undefined ? previous.get(`${op.type}/${op.id}`) ?? null : null;
      const result = await this.#prepare(tx, ctx, op, prev, lastUpdated, opts);
      outcomes.push(result.outcome);
      if (result.row) prepared.push(result.row);
    }
    await writeRows(tx, prepared);
    this.#noteWrites(prepared.length);
    if (prepared.some((r) => r.type === 'Patient')) forgetSharing(ctx);
    return outcomes;
  }

  async #prepare(tx: Queryable, ctx: AccessContext, op: WriteOp, prev: PreviousRow | null, lastUpdated: Date, opts: WriteOptions): Promise<{ outcome: WriteOutcome; row: PreparedRow | null }> {
    const { type } = op;
    const live = prev && prev.visible && !prev.deleted ? prev : null;
    if (op.action === 'delete') {
      requireFhir(ctx, 'delete', type);
      if (!live) {
        if (op.ifMatch) throw preconditionFailed(`${type}/${op.id} has no current version`);
        return { outcome: { outcome: 'unchanged', type, id: op.id!, versionId: null, lastUpdated: null, resource: null }, row: null };
      }
      if (!isWritableOwner(ctx, live.builder_id)) throw forbidden(`This request may not delete ${type}/${op.id}`);
      this.#checkIfMatch(op, live.version_id);
      assertClientMayWrite(null, live.content, opts.platform ?? false);
      const versionId = live.version_id + 1;
      return {
        outcome: { outcome: 'deleted', type, id: live.id, versionId, lastUpdated, resource: null },
        row: {
          type, id: live.id, versionId, builderId: live.builder_id, upid: null, restricted: false, deleted: true, source: null,
          createdAt: live.created_at, lastUpdated, method: 'DELETE', content: null, hadPrevious: true, entries: [],
          event: { action: 'delete', resourceType: type, id: live.id, versionId: String(versionId), builderId: live.builder_id, upid: upidOf(live.content ?? { resourceType: type }), lastUpdated: lastUpdated.toISOString() },
        },
      };
    }

    let resource: FhirResource;
    if (op.action === 'patch') {
      requireFhir(ctx, 'update', type);
      if (!prev || !prev.visible) throw notFound(`${type}/${op.id} not found`);
      if (prev.deleted) throw gone(`${type}/${op.id} was deleted`);
      resource = applyJsonPatch(prev.content!, op.patch);
      if (resource?.resourceType !== type || resource.id !== op.id) throw unprocessable('A patch must not change resourceType or id');
    } else {
      resource = op.resource as FhirResource;
      if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) throw badRequest('The body must be a FHIR resource (JSON object)');
      if (resource.resourceType !== type) throw badRequest(`resourceType '${String(resource.resourceType)}' does not match '${type}'`, [{ code: 'invalid', message: `resourceType '${String(resource.resourceType)}' does not match '${type}'`, path: 'resourceType' }]);
      if (op.action === 'update') {
        if (resource.id === undefined) throw badRequest('The resource in an update must carry its id', [{ code: 'required', message: 'Resource.id is required for update', path: `${type}.id` }]);
        if (resource.id !== op.id) throw badRequest(`Resource id '${String(resource.id)}' does not match the URL id '${op.id}'`, [{ code: 'invalid', message: `Resource id does not match the URL id '${op.id}'`, path: `${type}.id` }]);
      }
    }
    if (!(op.validated && opts.platform)) assertValid(resource);

    let creating: boolean;
    if (op.action === 'create') {
      creating = true;
      requireFhir(ctx, 'create', type);
    } else {
      if (prev && !prev.visible) throw conflict(`The id '${op.id}' is not available for ${type}`);
      creating = !live;
      requireFhir(ctx, creating ? 'create' : 'update', type);
      if (live) {
        if (!isWritableOwner(ctx, live.builder_id)) throw forbidden(`This request may not change ${type}/${op.id}`);
        this.#checkIfMatch(op, live.version_id);
      } else if (op.ifMatch) throw preconditionFailed(`${type}/${op.id} has no current version to match`);
    }
    const builderId = live?.builder_id ?? ctx.writeBuilderId;
    if (!builderId) throw forbidden('This request may not write FHIR data');
    assertClientMayWrite(resource, live?.content ?? null, opts.platform ?? false);

    const id = op.action === 'create' ? op.id ?? newResourceId() : op.id!;
    const versionId = (prev?.version_id ?? 0) + 1;
    const createdAt = live ? createdAtOf(live.content) ?? live.created_at : lastUpdated;
    resource = { ...resource, id };
    for (const fn of this.#interceptors) await fn(tx, ctx, resource, live?.content ?? null);
    const stored = stampMeta(resource, { builderId, versionId, lastUpdated, createdAt });
    // A no-op update (same content as the current version) creates no version, no index rows and no event:
    // re-imports and client retries stay idempotent and webhooks never fire for nothing.
    if (live?.content && op.action !== 'create' && sameContent(stored, live.content)) {
      return { outcome: { outcome: 'unchanged', type, id, versionId: live.version_id, lastUpdated: live.content.meta ? new Date(String((live.content.meta as { lastUpdated?: string }).lastUpdated)) : null, resource: live.content }, row: null };
    }
    const upid = upidOf(stored);
    const method = op.action === 'create' ? 'POST' : op.action === 'patch' ? 'PATCH' : 'PUT';
    return {
      outcome: { outcome: creating ? 'created' : 'updated', type, id, versionId, lastUpdated, resource: stored },
      row: {
        type, id, versionId, builderId, upid, restricted: isRestricted(stored), deleted: false, source: sourceOf(stored),
        createdAt, lastUpdated, method, content: JSON.stringify(stored), hadPrevious: prev !== null, entries: extractIndexEntries(stored),
        event: { action: creating ? 'create' : 'update', resourceType: type, id, versionId: String(versionId), builderId, upid, lastUpdated: lastUpdated.toISOString() },
      },
    };
  }

  /**
   * PGlite has no autovacuum, so without this its planner would never have statistics. Like autovacuum's analyze
   * threshold (50 rows + 10 % of the table): once enough rows changed, ANALYZE the FHIR tables shortly after the
   * writes (debounced, outside the write transaction). PostgreSQL's autovacuum does this on its own.
   */
  #noteWrites(rows: number): void {
    if (this.#db.kind !== 'pglite' || rows === 0) return;
    this.#sinceAnalyze += rows;
    if (this.#sinceAnalyze < ANALYZE_MIN_ROWS + ANALYZE_SCALE * this.#rowsAtAnalyze || this.#analyzeTimer) return;
    this.#analyzeTimer = setTimeout(() => void this.analyzeNow(), ANALYZE_DELAY_MS);
    this.#analyzeTimer.unref?.();
  }

  /** Refreshes planner statistics of the FHIR tables (PGlite upkeep; also called by the benchmark after a load). */
  async analyzeNow(): Promise<void> {
    this.#analyzeTimer = null;
    this.#sinceAnalyze = 0;
    try {
      await this.#db.exec(`ANALYZE resources, resource_versions, ${Object.values(INDEX_TABLE).join(', ')}`);
      this.#rowsAtAnalyze = Number((await this.#db.query<{ n: number }>(`SELECT reltuples::float8 AS n FROM pg_class WHERE relname = 'resources'`)).rows[0]?.n ?? 0);
    } catch {
      // closed database (tests, shutdown): nothing to keep up to date
    }
  }

  #checkIfMatch(op: WriteOp, current: number): void {
    if (op.ifMatch === undefined || op.ifMatch === null || op.ifMatch === '') return;
    if (op.ifMatch !== String(current)) throw preconditionFailed(`Version conflict: ${op.type}/${op.id} is at version ${current}, not ${op.ifMatch}`);
  }

  // ---------------------------------------------------------------- reads

  /** Current version; 404 when absent or not visible, 410 when deleted. */
  async read(ctx: AccessContext, type: string, id: string, opts: { tx?: Queryable; raw?: boolean } = {}): Promise<StoredVersion> {
    const s = this.readStatement(ctx, type, id, opts);
    return this.readResult(type, id, (await (opts.tx ?? this.#db).query<ReadRow>(s.sql, s.params)).rows[0], opts);
  }

  /**
   * read as a statement and its interpretation, for callers that send the statement themselves (the HTTP read
   * sends it with authentication in one round trip). Throws 404/403 as read does.
   */
  readStatement(ctx: AccessContext, type: string, id: string, opts: { raw?: boolean } = {}): { sql: string; params: unknown[] } {
    assertResourceType(type);
    requireFhir(ctx, 'read', type);
    // No prepareSharing here: on one primary-key row the full sharing predicate costs nothing (own rows pass its
    // first test; other rows one sharing_pairs key probe), while asking first costs a round trip per read.
    const p = new SqlParams();
    const sql = `SELECT r.version_id, r.last_updated, r.deleted, r.content${opts.raw ? '::text AS content' : ''} FROM resources r
      WHERE r.type = ${p.add(type)} AND r.id = ${p.add(id)} AND ${visibleSql(ctx, 'r', p.values)}`;
    return { sql, params: p.values };
  }

  readResult(type: string, id: string, row: ReadRow | undefined, opts: { raw?: boolean } = {}): StoredVersion {
    if (!row) throw notFound(`${type}/${id} not found`);
    if (row.deleted) throw new HttpError(410, 'deleted', `${type}/${id} was deleted`, undefined, { etag: `W/"${row.version_id}"` });
    if (opts.raw) return { type, id, versionId: row.version_id, lastUpdated: row.last_updated, deleted: false, resource: null, text: row.content as unknown as string };
    return { type, id, versionId: row.version_id, lastUpdated: row.last_updated, deleted: false, resource: row.content };
  }

  async vread(ctx: AccessContext, type: string, id: string, versionId: string, opts: { tx?: Queryable } = {}): Promise<StoredVersion> {
    assertResourceType(type);
    requireFhir(ctx, 'read', type);
    if (!/^\d{1,9}$/.test(versionId)) throw notFound(`${type}/${id}/_history/${versionId} not found`);
    // (no prepareSharing: see read)
    const p = new SqlParams();
    const sql = `SELECT v.version_id, v.last_updated, v.deleted, v.content FROM resource_versions v
      WHERE v.type = ${p.add(type)} AND v.id = ${p.add(id)} AND v.version_id = ${p.add(Number(versionId))} AND ${visibleSql(ctx, 'v', p.values)}`;
    const row = (await (opts.tx ?? this.#db).query<{ version_id: number; last_updated: Date; deleted: boolean; content: FhirResource | null }>(sql, p.values)).rows[0];
    if (!row) throw notFound(`${type}/${id}/_history/${versionId} not found`);
    if (row.deleted) throw gone(`${type}/${id} version ${versionId} is a deletion`);
    return { type, id, versionId: row.version_id, lastUpdated: row.last_updated, deleted: false, resource: row.content };
  }

  /** Parses and runs a search for `type` (role-checked, policy-filtered). */
  async search(ctx: AccessContext, type: string, params: [string, string][], opts: { strict?: boolean; tx?: Queryable; raw?: boolean } = {}): Promise<{ query: ParsedSearch; result: SearchResult }> {
    assertResourceType(type);
    requireFhir(ctx, 'read', type);
    // firstparty=true (notes §5): only the caller's own, non-third-party data (src/access/policy.ts)
    const fp = params.filter(([k]) => k === 'firstparty');
    if (fp.some(([, v]) => v !== 'true' && v !== 'false')) throw badRequest("firstparty must be 'true' or 'false'", [{ code: 'invalid', message: "firstparty must be 'true' or 'false'", path: 'firstparty' }]);
    if (fp.some(([, v]) => v === 'true')) ctx = { ...ctx, firstParty: true };
    if (fp.length) params = params.filter(([k]) => k !== 'firstparty');
    const query = parseSearch(type, params, { strict: opts.strict ?? false, defaultCount: this.#config.defaultPageSize, maxCount: this.#config.maxPageSize });
    await prepareSharing(opts.tx ?? this.#db, ctx);
    const result = await executeSearch(opts.tx ?? this.#db, ctx, query, { fhirBase: this.fhirBase, now: this.#clock.now(), raw: opts.raw });
    return { query, result };
  }

  /** Instance, type or system history, newest first, keyset-paged. */
  async history(ctx: AccessContext, h: HistoryQuery): Promise<{ entries: HistoryEntry[]; nextCursor: string | null }> {
    if (h.type) {
      assertResourceType(h.type);
      requireFhir(ctx, 'read', h.type);
    }
    await prepareSharing(this.#db, ctx);
    const p = new SqlParams();
    const conds = [visibleSql(ctx, 'v', p.values)];
    if (h.type) conds.push(`v.type = ${p.add(h.type)}`);
    if (h.id) conds.push(`v.id = ${p.add(h.id)}`);
    if (h.since) conds.push(`v.last_updated >= ${p.add(h.since.toISOString())}::timestamptz`);
    if (h.cursor) {
      let c: { t: string; ty: string; i: string; v: number };
      try {
        c = JSON.parse(Buffer.from(h.cursor, 'base64url').toString('utf8'));
        if (typeof c.t !== 'string' || typeof c.ty !== 'string' || typeof c.i !== 'string' || typeof c.v !== 'number') throw new Error();
      } catch {
        throw badRequest('Invalid _cursor', [{ code: 'invalid', message: 'Invalid _cursor', path: '_cursor' }]);
      }
      const t = `${p.add(c.t)}::timestamptz`;
      conds.push(`(v.last_updated, v.type, v.id, v.version_id) < (${t}, ${p.add(c.ty)}, ${p.add(c.i)}, ${p.add(c.v)})`);
    }
    const count = Math.max(0, Math.min(h.count, this.#config.maxPageSize));
    const rows = (await this.#db.query<{ type: string; id: string; version_id: number; last_updated: Date; deleted: boolean; method: HistoryEntry['method']; content: FhirResource | null; lu: string }>(
      `SELECT v.type, v.id, v.version_id, v.last_updated, v.deleted, v.method, v.content,
              to_char(v.last_updated AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS lu
         FROM resource_versions v WHERE ${conds.join(' AND ')}
        ORDER BY v.last_updated DESC, v.type DESC, v.id DESC, v.version_id DESC LIMIT ${count + 1}`,
      p.values,
    )).rows.filter((r) => allowsFhir(ctx, 'read', r.type));
    let nextCursor: string | null = null;
    if (rows.length > count) {
      rows.length = count;
      const last = rows[rows.length - 1];
      if (last) nextCursor = Buffer.from(JSON.stringify({ t: last.lu, ty: last.type, i: last.id, v: last.version_id })).toString('base64url');
    }
    return {
      entries: rows.map((r) => ({ type: r.type, id: r.id, versionId: r.version_id, lastUpdated: r.last_updated, deleted: r.deleted, method: r.method, resource: r.content })),
      nextCursor,
    };
  }
}

const storesByServices = new WeakMap<object, FhirStore>();

/**
 * The one store of a running platform (keyed by its Services object): the HTTP routes and every other capability
 * (UPI interceptors, importers, connectors) share it, so interceptors registered anywhere apply to all writes.
 */
export function fhirStoreFor(services: StoreServices): FhirStore {
  let store = storesByServices.get(services);
  if (!store) {
    store = new FhirStore(services);
    storesByServices.set(services, store);
  }
  return store;
}
