import { readdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { Database } from './types.ts';

// Migrations are plain SQL files in src/db/migrations, applied in file-name order.
// Number ranges per capability keep parallel work from colliding:
//   0001-0099 platform/db · 0100-0199 fhir · 0200-0299 access · 0300-0399 upi · 0400-0499 history
//   0500-0599 hooks · 0600-0699 queue · 0700-0799 subscriptions · 0800-0899 networks/feeds
const migrationsDir = new URL('./migrations/', import.meta.url);

export interface Migration {
  version: string;
  sql: string;
}

export function listMigrations(): Migration[] {
  return readdirSync(migrationsDir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((f) => ({ version: f.replace(/\.sql$/, ''), sql: readFileSync(new URL(f, migrationsDir), 'utf8') }));
}

/** A hash of all migration files: identifies a schema version (used to cache migrated test snapshots). */
export function migrationsFingerprint(): string {
  const h = createHash('sha256');
  for (const m of listMigrations()) h.update(m.version).update(m.sql);
  return h.digest('hex').slice(0, 16);
}

/** Applies pending migrations; safe to run from several processes at once (advisory lock). Returns versions applied. */
export async function migrate(db: Database): Promise<string[]> {
  const applied: string[] = [];
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(7411001)');
    await tx.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const done = new Set((await tx.query<{ version: string }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    for (const m of listMigrations()) {
      if (done.has(m.version)) continue;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (version) VALUES ($1)', [m.version]);
      applied.push(m.version);
    }
  });
  return applied;
}
