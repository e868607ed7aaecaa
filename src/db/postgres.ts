import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Database, Queryable, QueryOptions, QueryResult, TransactionOptions } from './types.ts';

// Same value conventions as the PGlite driver (see types.ts).
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v));

export interface PostgresOptions {
  url: string;
  /** schema to use as search_path (tests use one schema per test file) */
  schema?: string;
  max?: number;
}

// Named statements (QueryOptions.prepare): the name is a hash of the text, so every connection and process agrees.
// Bounded: past the limit statements run unnamed, as before.
const PREPARED_MAX = 256;
const preparedNames = new Map<string, string>();
const prepareEnabled = process.env.TESSERA_DB_PREPARE !== '0';

function statementName(sql: string): string | undefined {
  let name = preparedNames.get(sql);
  if (name === undefined && preparedNames.size < PREPARED_MAX) {
    name = `tessera_${createHash('sha256').update(sql).digest('hex').slice(0, 32)}`;
    preparedNames.set(sql, name);
  }
  return name;
}

function wrap(c: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query<T>(sql: string, params?: readonly unknown[], options?: QueryOptions): Promise<QueryResult<T>> {
      const name = options?.prepare && prepareEnabled ? statementName(sql) : undefined;
      const r = name ? await c.query({ name, text: sql, values: params as unknown[] | undefined }) : await c.query(sql, params as unknown[] | undefined);
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
