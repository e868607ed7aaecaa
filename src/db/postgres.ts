import pg from 'pg';
import type { Database, Queryable, QueryResult, TransactionOptions } from './types.ts';

// Same value conventions as the PGlite driver (see types.ts).
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v));

export interface PostgresOptions {
  url: string;
  /** schema to use as search_path (tests use one schema per test file) */
  schema?: string;
  max?: number;
}

function wrap(c: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query<T>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
      const r = await c.query(sql, params as unknown[] | undefined);
      return { rows: r.rows as T[], rowCount: r.rowCount ?? r.rows.length };
    },
    async exec(sql: string): Promise<void> {
      await c.query(sql);
    },
  };
}

export async function openPostgres(options: PostgresOptions): Promise<Database & { pool: pg.Pool }> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? Number(process.env.TESSERA_DB_POOL_SIZE ?? 20),
    // JIT off: the platform runs short OLTP statements, and a misestimated batch lookup (e.g. the store's
    // `(type, id) IN (unnest …) FOR UPDATE`) crossed jit_above_cost and spent ~200 ms compiling per call —
    // two thirds of PostgreSQL's time in patient-history imports.
    options: ['-c jit=off', options.schema ? `-c search_path=${options.schema}` : ''].filter(Boolean).join(' '),
  });
  // An idle client error (server restart) must not crash the process; the pool replaces the client.
  pool.on('error', () => {});
  const q = wrap(pool);
  return {
    kind: 'postgres',
    pool,
    query: q.query,
    exec: q.exec,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>, opts?: TransactionOptions): Promise<T> {
      const client = await pool.connect();
      try {
        await client.query(opts?.isolation ? `BEGIN ISOLATION LEVEL ${opts.isolation.toUpperCase()}` : 'BEGIN');
        const result = await fn(wrap(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    async ping() {
      try {
        await pool.query('SELECT 1');
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await pool.end();
    },
  };
}
