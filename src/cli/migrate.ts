import { loadConfig } from '../platform/config.ts';
import { openDatabase, migrate } from '../db/index.ts';

export async function migrateCommand(_argv: string[]): Promise<number> {
  const config = loadConfig();
  const db = await openDatabase(config);
  try {
    const applied = await migrate(db);
    process.stdout.write(applied.length ? `applied ${applied.length} migration(s): ${applied.join(', ')}\n` : 'database is up to date\n');
    return 0;
  } finally {
    await db.close();
  }
}
