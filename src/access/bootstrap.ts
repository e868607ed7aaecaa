// First start of an empty database: a platform-admin machine client (credentials from the environment or
// generated and printed once) and, for `npm start`, a demo builder with a Builder Admin client.
import type { Database } from '../db/types.ts';
import { roleByName } from './roles.ts';
import type { AccessService } from './service.ts';

export interface BootstrapResult {
  adminCreated: { clientId: string; clientSecret: string | null } | null;
  demo: { builderId: string; builderName: string; clientId: string; clientSecret: string } | null;
}

async function claim(db: Database, key: string): Promise<boolean> {
  // Only the process that inserts the marker does the work, so concurrent starts never create two admins.
  const r = await db.query("INSERT INTO platform_settings (key, value) VALUES ($1, 'true'::jsonb) ON CONFLICT (key) DO NOTHING", [key]);
  return r.rowCount === 1;
}

export async function bootstrap(db: Database, access: AccessService, opts: { adminClientId?: string; adminClientSecret?: string; demo: boolean }): Promise<BootstrapResult> {
  const result: BootstrapResult = { adminCreated: null, demo: null };
  if (await claim(db, 'bootstrap:platform_admin')) {
    const { client, secret } = await access.createClient({
      builderId: null,
      name: 'Platform admin',
      clientType: 'machine_to_machine',
      roleId: roleByName('Builder Admin')!.id,
      isPlatformAdmin: true,
      id: opts.adminClientId,
      secret: opts.adminClientSecret,
    });
    result.adminCreated = { clientId: client.id, clientSecret: opts.adminClientSecret ? null : secret };
  }
  if (opts.demo && (await claim(db, 'bootstrap:demo_builder'))) {
    const b = await access.createBuilder('Demo Builder');
    const { client, secret } = await access.createClient({ builderId: b.id, name: 'Demo Builder Admin', clientType: 'machine_to_machine', roleId: roleByName('Builder Admin')!.id });
    result.demo = { builderId: b.id, builderName: b.name, clientId: client.id, clientSecret: secret };
  }
  return result;
}
