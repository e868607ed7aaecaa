// Bulk writes of resource, version, search-index and outbox rows: one INSERT … SELECT FROM unnest(…) per table per
// batch, whatever the number of resources (a 500-entry transaction bundle costs ~11 statements).
import type { Queryable } from '../../db/types.ts';
import type { IndexEntry } from '../indexing/index.ts';
import { conflict } from '../../platform/errors.ts';

export interface PreparedRow {
  type: string;
  id: string;
  versionId: number;
  builderId: string;
  upid: string | null;
  restricted: boolean;
  deleted: boolean;
  source: string | null;
  createdAt: Date;
  lastUpdated: Date;
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** null for a delete tombstone */
  content: string | null;
  /** the resource had a current row before (its index rows are replaced) */
  hadPrevious: boolean;
  entries: IndexEntry[];
  event: Record<string, unknown>;
}

class Columns {
  readonly cols: unknown[][];
  constructor(n: number) {
    this.cols = Array.from({ length: n }, () => []);
  }
  push(...values: unknown[]) {
    values.forEach((v, i) => this.cols[i]!.push(v));
  }
  get size() {
    return this.cols[0]!.length;
  }
}

const iso = (d: Date) => d.toISOString();

export async function writeRows(tx: Queryable, rows: PreparedRow[]): Promise<void> {
  if (rows.length === 0) return;
  const r = new Columns(11);
  for (const x of rows) {
    r.push(x.type, x.id, x.versionId, x.builderId, x.upid, x.restricted, x.deleted, x.source, iso(x.createdAt), iso(x.lastUpdated), x.method);
  }
  // The contents travel once, as one JSON array (no per-element text[] escaping, parsed into jsonb once), and feed
  // both the current row and the version row. Update only the version we locked (or insert a new id): a lost race
  // or a taken id updates nothing, so fewer version rows than resources means a conflict.
  const contents = `[${rows.map((x) => x.content ?? 'null').join(',')}]`;
  const res = await tx.query(
    `WITH x AS (
       SELECT t, i, v, b, u, rs, d, s, c, l, m, CASE WHEN jsonb_typeof(e.j) = 'null' THEN NULL ELSE e.j END AS j
         FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::bool[], $7::bool[], $8::text[], $9::text[], $10::text[], $11::text[])
                WITH ORDINALITY AS x(t, i, v, b, u, rs, d, s, c, l, m, n)
         JOIN jsonb_array_elements($12::jsonb) WITH ORDINALITY AS e(j, n) USING (n)
     ), ins AS (
       INSERT INTO resources (type, id, version_id, builder_id, upid, restricted, deleted, source, created_at, last_updated, content)
       SELECT t, i, v, b, u, rs, d, s, c::timestamptz, l::timestamptz, j FROM x
       ON CONFLICT (type, id) DO UPDATE SET version_id = EXCLUDED.version_id, builder_id = EXCLUDED.builder_id, upid = EXCLUDED.upid,
         restricted = EXCLUDED.restricted, deleted = EXCLUDED.deleted, source = EXCLUDED.source, created_at = EXCLUDED.created_at,
         last_updated = EXCLUDED.last_updated, content = EXCLUDED.content
       WHERE resources.version_id = EXCLUDED.version_id - 1
       RETURNING type, id
     )
     INSERT INTO resource_versions (type, id, version_id, builder_id, upid, restricted, deleted, last_updated, method, content)
     SELECT t, i, v, b, u, rs, d, l::timestamptz, m, j FROM x JOIN ins ON ins.type = x.t AND ins.id = x.i`,
    [...r.cols, contents],
  );
  if (res.rowCount !== rows.length) {
    throw conflict('A resource was changed concurrently or its id is not available; retry the request');
  }

  const replaced = rows.filter((x) => x.hadPrevious);
  if (replaced.length > 0) await deleteIndexRows(tx, replaced);
  await writeIndexRows(tx, rows);

  await tx.query(
    `INSERT INTO outbox (created_at, event) SELECT $1::timestamptz, e::jsonb FROM unnest($2::text[]) WITH ORDINALITY AS x(e, n) ORDER BY n`,
    [iso(rows[0]!.lastUpdated), rows.map((x) => JSON.stringify(x.event))],
  );
}

const INDEX_TABLES = ['idx_token', 'idx_string', 'idx_date', 'idx_reference', 'idx_number', 'idx_quantity', 'idx_uri'];

/** The search-index rows of a resource: what writeIndexRows needs. */
export type IndexedRow = Pick<PreparedRow, 'type' | 'id' | 'builderId' | 'deleted' | 'entries'>;

/** Deletes every search-index row of these resources. */
export async function deleteIndexRows(tx: Queryable, rows: Pick<PreparedRow, 'type' | 'id'>[]): Promise<void> {
  const types = rows.map((x) => x.type);
  const ids = rows.map((x) => x.id);
  for (const table of INDEX_TABLES) {
    await tx.query(`DELETE FROM ${table} WHERE (id, type) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, [ids, types]);
  }
}

/** Inserts the search-index rows of these resources (none for deleted ones). */
export async function writeIndexRows(tx: Queryable, rows: IndexedRow[]): Promise<void> {
  const token = new Columns(8), str = new Columns(7), date = new Columns(7), ref = new Columns(8);
  const num = new Columns(6), qty = new Columns(9), uri = new Columns(6);
  for (const x of rows) {
    if (x.deleted) continue;
    for (const e of x.entries) {
      const g = e.grp ?? null;
      switch (e.kind) {
        case 'token': token.push(x.type, x.id, x.builderId, e.param, e.system, e.code, e.display ?? null, g); break;
        case 'string': str.push(x.type, x.id, x.builderId, e.param, e.value, e.raw ?? null, g); break;
        case 'date': date.push(x.type, x.id, x.builderId, e.param, e.start, e.end, g); break;
        case 'reference': ref.push(x.type, x.id, x.builderId, e.param, e.targetType, e.targetId, e.reference, g); break;
        case 'number': num.push(x.type, x.id, x.builderId, e.param, String(e.value), g); break;
        case 'quantity': qty.push(x.type, x.id, x.builderId, e.param, String(e.value), e.system, e.code, e.unit, g); break;
        case 'uri': uri.push(x.type, x.id, x.builderId, e.param, e.value, g); break;
      }
    }
  }
  const ins = async (c: Columns, sql: string) => {
    if (c.size > 0) await tx.query(sql, c.cols);
  };
  await ins(token, `INSERT INTO idx_token (type, id, builder_id, param, system, code, display, grp) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[])`);
  await ins(str, `INSERT INTO idx_string (type, id, builder_id, param, value, raw, grp) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[])`);
  await ins(date, `INSERT INTO idx_date (type, id, builder_id, param, start_at, end_at, grp) SELECT t, i, b, p, s::timestamptz, e::timestamptz, g FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[]) AS x(t, i, b, p, s, e, g)`);
  await ins(ref, `INSERT INTO idx_reference (type, id, builder_id, param, target_type, target_id, reference, grp) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[])`);
  await ins(num, `INSERT INTO idx_number (type, id, builder_id, param, value, grp) SELECT t, i, b, p, v::numeric, g FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[]) AS x(t, i, b, p, v, g)`);
  await ins(qty, `INSERT INTO idx_quantity (type, id, builder_id, param, value, system, code, unit, grp) SELECT t, i, b, p, v::numeric, s, c, u, g FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int[]) AS x(t, i, b, p, v, s, c, u, g)`);
  await ins(uri, `INSERT INTO idx_uri (type, id, builder_id, param, value, grp) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[])`);
}
