// `tessera subscriptions package add|list`: operators manage subscription packages on the host (the platform
// admin can do the same with POST /zap-data-subscriptions/packages).
import { parseArgs } from 'node:util';
import { loadConfig } from '../platform/config.ts';
import { systemClock } from '../platform/clock.ts';
import { HttpError } from '../platform/errors.ts';
import { openDatabase, migrate } from '../db/index.ts';
import type { Database } from '../db/types.ts';
import { insertPackage, packageJson, type PackageRow } from './service.ts';

const USAGE = `usage:
  tessera subscriptions package add --id <id> --name "<name>" [--description "<text>"] --meta '<PackageMeta JSON>' [--json]
  tessera subscriptions package list [--json]
PackageMeta: {"initialProviders":[…],"freshmakerProviders":[…],"recurringProvidersWithInterval":[{"intervalDays":28,"provider":"commonwell"}],"subscriptionProviders":[…]}
provider codes: commonwell, surescripts, bamboo, collective, quest`;

export async function subscriptionsCommand(argv: string[], deps: { db?: Database; out?: (s: string) => void; err?: (s: string) => void } = {}): Promise<number> {
  const out = deps.out ?? ((s: string) => process.stdout.write(s + '\n'));
  const err = deps.err ?? ((s: string) => process.stderr.write(s + '\n'));
  const [what, sub, ...rest] = argv;
  if (what !== 'package' || (sub !== 'add' && sub !== 'list')) {
    err(USAGE);
    return 2;
  }
  const db = deps.db ?? (await openDatabase(loadConfig()));
  try {
    if (!deps.db) await migrate(db);
    const show = (p: PackageRow, json: boolean) => out(json ? JSON.stringify(packageJson(p)) : `${p.id}\t${p.name}\t${JSON.stringify(p.meta)}`);
    if (sub === 'list') {
      const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean' } } });
      for (const p of (await db.query<PackageRow>('SELECT * FROM subscription_packages ORDER BY created_at, id')).rows) show(p, values.json ?? false);
      return 0;
    }
    const { values } = parseArgs({ args: rest, options: { id: { type: 'string' }, name: { type: 'string' }, description: { type: 'string' }, meta: { type: 'string' }, json: { type: 'boolean' } } });
    let meta: unknown;
    try {
      meta = JSON.parse(values.meta ?? '');
    } catch {
      err('error: --meta must be PackageMeta as JSON');
      return 2;
    }
    const p = await insertPackage(db, systemClock, { data: { type: 'zap-data-subscriptions/package', id: values.id, attributes: { name: values.name, description: values.description, meta } } });
    show(p, values.json ?? false);
    return 0;
  } catch (e) {
    if (e instanceof HttpError || String((e as { code?: string }).code ?? '').startsWith('ERR_PARSE_ARGS')) {
      err(`error: ${(e as Error).message}`);
      return 2;
    }
    throw e;
  } finally {
    if (!deps.db) await db.close();
  }
}
