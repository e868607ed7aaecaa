// The benchmarks' own PostgreSQL databases: created on first use, or dropped and re-created for a fresh run.
import pg from 'pg';

/** Makes sure the database named in `url` exists; with `fresh`, drops it first (closing its connections). */
export async function ensureDatabase(url: string, opts: { fresh?: boolean } = {}): Promise<void> {
  const u = new URL(url);
  const name = u.pathname.slice(1).replace(/"/g, '');
  u.pathname = '/postgres';
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  try {
    if (opts.fresh) await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    const exists = (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rows.length > 0;
    if (!exists) await c.query(`CREATE DATABASE "${name}"`);
  } finally {
    await c.end();
  }
}
