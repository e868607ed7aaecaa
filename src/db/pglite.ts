import { PGlite, types } from '@electric-sql/pglite';
import type { Database, Queryable, QueryResult, TransactionOptions } from './types.ts';

// Same value conventions as the pg driver (see types.ts).
const parsers = {
  [types.INT8]: (v: string) => Number(v),
};

type PGliteLike = Pick<PGlite, 'query' | 'exec'>;

function wrap(pg: PGliteLike): Queryable {
  return {
    async query<T>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
      const r = await pg.query<T>(sql, params as unknown[] | undefined, { parsers });
      return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
    },
    async exec(sql: string): Promise<void> {
      await pg.exec(sql);
    },
  };
}

export interface PGliteOptions {
  /** directory for persistent data; undefined = in memory */
  dataDir?: string;
  /** a dumped data directory (tarball) to start from, e.g. a migrated snapshot */
  loadDataDir?: Blob | File;
}

export async function openPGlite(options: PGliteOptions = {}): Promise<Database & { dump(): Promise<Blob> }> {
  const pg = await PGlite.create({ dataDir: options.dataDir, loadDataDir: options.loadDataDir, relaxedDurability: false });
  const q = wrap(pg);
  return {
    kind: 'pglite',
    query: q.query,
    exec: q.exec,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>, opts?: TransactionOptions): Promise<T> {
      // PGlite has a single connection; its transaction() holds a lock so other queries wait.
      return pg.transaction(async (tx) => {
        if (opts?.isolation) await tx.exec(`SET TRANSACTION ISOLATION LEVEL ${opts.isolation.toUpperCase()}`);
        return fn(wrap(tx));
      });
    },
    async ping() {
      try {
        await pg.query('SELECT 1');
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      if (!pg.closed) await pg.close();
    },
    async dump() {
      return pg.dumpDataDir('none');
    },
  };
}
