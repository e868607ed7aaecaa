import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../platform/config.ts';
import { openPGlite } from './pglite.ts';
import { openPostgres } from './postgres.ts';
import type { Database } from './types.ts';

export type { Database, Queryable, QueryResult, TransactionOptions } from './types.ts';
export { migrate, listMigrations, migrationsFingerprint } from './migrate.ts';

/** Opens the configured database: PostgreSQL when DATABASE_URL is set, else embedded PGlite in dataDir/pg. */
export async function openDatabase(config: Pick<Config, 'databaseUrl' | 'dataDir'>): Promise<Database> {
  if (config.databaseUrl) return openPostgres({ url: config.databaseUrl });
  mkdirSync(config.dataDir, { recursive: true });
  return openPGlite({ dataDir: join(config.dataDir, 'pg') });
}
