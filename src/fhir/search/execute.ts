// Runs a parsed search: the match page (keyset-paged), the optional total, and _include/_revinclude rows.
import type { Queryable } from '../../db/types.ts';
import type { AccessContext } from '../../access/context.ts';
import { allowsFhir } from '../../access/context.ts';
import { viaReferenceSql, visibleSql } from '../../access/policy.ts';
import { badRequest } from '../../platform/errors.ts';
import type { FhirResource } from '../store/meta.ts';
import type { IncludeSpec, ParsedSearch } from './parse.ts';
import { filterSql, isNestable, keysetCondition, nestedFiltersSql, sortColumn, SqlParams, type SqlContext } from './sql.ts';

export interface SearchRow {
  type: string;
  id: string;
  version_id: number;
  last_updated: Date;
  content: FhirResource;
  /** the stored JSON text (searches run with `raw`: `content` is then parsed only when asked for) */
  text?: string;
}

export interface SearchResult {
  matches: SearchRow[];
  included: SearchRow[];
  total: number | null;
  /** opaque cursor for the next page, null on the last page */
  nextCursor: string | null;
}

export interface SearchEnv {
  fhirBase: string;
  now: Date;
  /** fetch resources as JSON text (the HTTP layer sends it as stored, without parse/stringify) */
  raw?: boolean;
}

interface Cursor { k: (string | null)[]; id: string }

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decodeCursor(raw: string, keys: number): Cursor {
  try {
    const c = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Cursor;
    if (!Array.isArray(c.k) || typeof c.id !== 'string' || c.k.length !== keys || !c.k.every((v) => v === null || typeof v === 'string')) throw new Error();
    return c;
  } catch {
    throw badRequest('Invalid _cursor (it belongs to another query or was altered)', [{ code: 'invalid', message: 'Invalid _cursor', path: '_cursor' }]);
  }
}

const ROW_COLUMNS = (a: string, raw = false) => `${a}.type, ${a}.id, ${a}.version_id, ${a}.last_updated, ${a}.content${raw ? '::text AS content' : ''}`;

/** A result row; with `raw` the content column is JSON text, parsed lazily on first access of `content`. */
function toRow(r: SearchRow, raw: boolean): SearchRow {
  if (!raw) return { type: r.type, id: r.id, version_id: r.version_id, last_updated: r.last_updated, content: r.content };
  const text = r.content as unknown as string;
  let parsed: FhirResource | undefined;
  return {
    type: r.type, id: r.id, version_id: r.version_id, last_updated: r.last_updated, text,
    get content() { return (parsed ??= JSON.parse(text) as FhirResource); },
  };
}

/** The WHERE clause of a search over `resources r` (type, not deleted, visible, filters). */
export function searchWhere(ctx: AccessContext, q: ParsedSearch, s: SqlContext): string {
  const typeP = s.p.add(q.type);
  const parts = [`r.type = ${typeP}`, 'NOT r.deleted', visibleSql(ctx, 'r', s.p.values, q.type)];
  const nestable = q.filters.filter(isNestable);
  for (const f of q.filters) if (!isNestable(f)) parts.push(filterSql(f, 'r', typeP, s));
  if (nestable.length > 0) parts.push(nestedFiltersSql(nestable, 'r', typeP, s));
  return parts.join(' AND ');
}

export async function executeSearch(db: Queryable, ctx: AccessContext, q: ParsedSearch, env: SearchEnv): Promise<SearchResult> {
  const s: SqlContext = { ctx, p: new SqlParams(), fhirBase: env.fhirBase, now: env.now };
  const where = searchWhere(ctx, q, s);
  const whereParamCount = s.p.values.length;

  let total: number | null = null;
  if (q.total !== 'none' || q.summary === 'count') {
    const r = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM resources r WHERE ${where}`, s.p.values.slice(0, whereParamCount));
    total = Number(r.rows[0]!.n);
  }
  if (q.summary === 'count' || q.count === 0) return { matches: [], included: [], total, nextCursor: null };

  const cols = q.sort.map((k) => sortColumn(k, 'r', s));
  // With filters, order by an expression no index provides: otherwise PostgreSQL may walk the primary key in id
  // order hoping to find LIMIT matches early (seconds at 1M rows when the matches are few). Same order (C collation).
  // Reference filters (patient=…, chains) are the selective ones the planner misjudges; dense filters such as
  // status=final keep the indexable order, where walking the key is the fast plan.
  const selective = q.filters.filter((f) => f.def.code !== '_lastUpdated');
  const fence = selective.some((f) => f.def.type === 'reference' || f.chain || f.has);
  const idExpr = fence ? `(r.id || '')` : 'r.id';
  let pageWhere = where;
  if (q.cursor) {
    const c = decodeCursor(q.cursor, cols.length);
    pageWhere += ` AND ${keysetCondition(cols, c.k, c.id, idExpr, s)}`;
  }
  const order = [...cols.flatMap((c) => {
    const key = `${c.expr}${c.descending ? ' DESC' : ''}`;
    return c.notNull ? [key] : [`(${c.expr}) IS NULL`, key];
  }), idExpr].join(', ');
  const keySelect = cols.map((c, i) => `, ${c.text} AS k${i}`).join('');
  const raw = env.raw ?? false;
  const sql = `SELECT ${ROW_COLUMNS('r', raw)}${keySelect} FROM resources r WHERE ${pageWhere} ORDER BY ${order} LIMIT ${q.count + 1}`;
  const rows = (await db.query<SearchRow & Record<string, unknown>>(sql, s.p.values)).rows;
  let nextCursor: string | null = null;
  if (rows.length > q.count) {
    rows.length = q.count;
    const last = rows[rows.length - 1]!;
    nextCursor = encodeCursor({ k: cols.map((_, i) => (last[`k${i}`] ?? null) as string | null), id: last.id });
  }
  const matches = rows.map((row) => toRow(row, raw));
  const included = q.include.length || q.revinclude.length ? await includeRows(db, ctx, q, matches, raw) : [];
  return { matches, included, total, nextCursor };
}

const MAX_INCLUDE_ROUNDS = 4;
const MAX_INCLUDED = 5000;

async function includeRows(db: Queryable, ctx: AccessContext, q: ParsedSearch, matches: SearchRow[], raw: boolean): Promise<SearchRow[]> {
  const seen = new Set(matches.map((r) => `${r.type}/${r.id}`));
  const included: SearchRow[] = [];
  let frontier = matches;
  for (let round = 0; round < MAX_INCLUDE_ROUNDS && frontier.length > 0 && included.length < MAX_INCLUDED; round++) {
    const inc = q.include.filter((i) => round === 0 || i.iterate);
    const rev = q.revinclude.filter((i) => round === 0 || i.iterate);
    if (inc.length === 0 && rev.length === 0) break;
    const next: SearchRow[] = [];
    for (const spec of inc) next.push(...(await forwardInclude(db, ctx, spec, frontier, raw)));
    for (const spec of rev) next.push(...(await reverseInclude(db, ctx, spec, frontier, raw)));
    frontier = [];
    for (const r of next) {
      const key = `${r.type}/${r.id}`;
      if (seen.has(key) || !allowsFhir(ctx, 'read', r.type)) continue;
      seen.add(key);
      included.push(r);
      frontier.push(r);
    }
  }
  return included;
}

async function forwardInclude(db: Queryable, ctx: AccessContext, spec: IncludeSpec, sources: SearchRow[], raw: boolean): Promise<SearchRow[]> {
  const ids = sources.filter((r) => spec.sourceType === '*' || r.type === spec.sourceType);
  if (ids.length === 0) return [];
  const p = new SqlParams();
  const conds = [
    `(ref.type, ref.id) IN (SELECT * FROM unnest(${p.add(ids.map((r) => r.type))}::text[], ${p.add(ids.map((r) => r.id))}::text[]))`,
  ];
  if (spec.param) conds.push(`ref.param = ${p.add(spec.param)}`);
  if (spec.targetType) conds.push(`ref.target_type = ${p.add(spec.targetType)}`);
  conds.push('NOT t.deleted', `(${visibleSql(ctx, 't', p.values)} OR ${viaReferenceSql(ctx, 't', 'ref.type', 'ref.builder_id', p.values)})`);
  const sql = `SELECT ${ROW_COLUMNS('t', raw)} FROM idx_reference ref JOIN resources t ON t.type = ref.target_type AND t.id = ref.target_id
    WHERE ${conds.join(' AND ')} LIMIT ${MAX_INCLUDED}`;
  return (await db.query<SearchRow>(sql, p.values)).rows.map((row) => toRow(row, raw));
}

async function reverseInclude(db: Queryable, ctx: AccessContext, spec: IncludeSpec, targets: SearchRow[], raw: boolean): Promise<SearchRow[]> {
  const tgt = spec.targetType ? targets.filter((r) => r.type === spec.targetType) : targets;
  if (tgt.length === 0) return [];
  const p = new SqlParams();
  const conds = [
    `ref.target_id = ANY(${p.add(tgt.map((r) => r.id))}::text[])`,
    `(ref.target_type, ref.target_id) IN (SELECT * FROM unnest(${p.add(tgt.map((r) => r.type))}::text[], ${p.add(tgt.map((r) => r.id))}::text[]))`,
  ];
  if (spec.sourceType !== '*') conds.push(`ref.type = ${p.add(spec.sourceType)}`);
  if (spec.param) conds.push(`ref.param = ${p.add(spec.param)}`);
  const targetOwner = '(SELECT tg.builder_id FROM resources tg WHERE tg.type = ref.target_type AND tg.id = ref.target_id)';
  conds.push('NOT t.deleted', `(${visibleSql(ctx, 't', p.values)} OR ${viaReferenceSql(ctx, 't', 'ref.target_type', targetOwner, p.values)})`);
  const sql = `SELECT ${ROW_COLUMNS('t', raw)} FROM idx_reference ref JOIN resources t ON t.type = ref.type AND t.id = ref.id
    WHERE ${conds.join(' AND ')} LIMIT ${MAX_INCLUDED}`;
  return (await db.query<SearchRow>(sql, p.values)).rows.map((row) => toRow(row, raw));
}

/** Ids of visible resources matching the criteria (conditional create/update/delete, conditional references). */
export async function matchIds(db: Queryable, ctx: AccessContext, q: ParsedSearch, env: SearchEnv, limit: number): Promise<{ id: string; version_id: number }[]> {
  const s: SqlContext = { ctx, p: new SqlParams(), fhirBase: env.fhirBase, now: env.now };
  const where = searchWhere(ctx, q, s);
  return (await db.query<{ id: string; version_id: number }>(`SELECT r.id, r.version_id FROM resources r WHERE ${where} LIMIT ${limit}`, s.p.values)).rows;
}
