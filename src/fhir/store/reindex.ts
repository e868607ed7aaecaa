// Rebuilds search-index rows from the stored resources: after an upgrade that adds or changes search parameters
// (composites came with migration 0105), index rows written by an older version are stale until the resource is
// written again. Resources, versions and the outbox are not touched (no new version, no webhook); each batch is
// one transaction that locks its resources (FOR UPDATE), so a concurrent write waits for the batch and then
// replaces the rows itself.
import type { Database } from '../../db/types.ts';
import { extractIndexEntries } from '../indexing/index.ts';
import { deleteIndexRows, writeIndexRows, type IndexedRow } from './rows.ts';
import { retryOnConflict } from '../../db/retry.ts';

export interface ReindexOptions {
  /** Only these resource types (default: all). */
  types?: string[];
  /** Resources per transaction (default 500). */
  batchSize?: number;
  /** Called after each batch. */
  onProgress?: (p: ReindexProgress) => void;
}

export interface ReindexProgress {
  /** Resources reindexed so far. */
  resources: number;
  /** Live (not deleted) resources to reindex, counted at the start. */
  total: number;
  /** Index rows written so far. */
  indexRows: number;
}

export async function reindexResources(db: Database, options: ReindexOptions = {}): Promise<ReindexProgress> {
  const batchSize = Math.max(1, Math.min(options.batchSize ?? 500, 10_000));
  const types = options.types !== undefined && options.types.length > 0 ? options.types : null;
  const total = Number((await db.query<{ n: number | string }>(
    'SELECT count(*)::int8 AS n FROM resources WHERE NOT deleted AND ($1::text[] IS NULL OR type = ANY($1::text[]))', [types],
  )).rows[0]!.n);
  const progress: ReindexProgress = { resources: 0, total, indexRows: 0 };
  // Keyset over the primary key: every live resource once, whatever is written meanwhile.
  let after: [string, string] = ['', ''];
  for (;;) {
    // The cursor and the counts move only once the batch has committed (a retried batch is done again, whole).
    const batch = await retryOnConflict(() => db.transaction(async (tx) => {
      const rows = (await tx.query<{ type: string; id: string; builder_id: string; content: unknown }>(
        `SELECT type, id, builder_id, content FROM resources
          WHERE (type, id) > ($1, $2) AND NOT deleted AND ($3::text[] IS NULL OR type = ANY($3::text[]))
          ORDER BY type, id LIMIT ${batchSize} FOR UPDATE`,
        [after[0], after[1], types],
      )).rows;
      if (rows.length === 0) return { n: 0, indexRows: 0, last: after };
      const indexed: IndexedRow[] = rows.map((r) => ({
        type: r.type, id: r.id, builderId: r.builder_id, deleted: false,
        entries: extractIndexEntries(typeof r.content === 'string' ? JSON.parse(r.content) : r.content),
      }));
      await deleteIndexRows(tx, indexed);
      await writeIndexRows(tx, indexed);
      const last = rows[rows.length - 1]!;
      return { n: rows.length, indexRows: indexed.reduce((a, r) => a + r.entries.length, 0), last: [last.type, last.id] as [string, string] };
    }));
    after = batch.last;
    progress.resources += batch.n;
    progress.indexRows += batch.indexRows;
    if (batch.n > 0) options.onProgress?.({ ...progress });
    if (batch.n < batchSize) return progress;
  }
}
