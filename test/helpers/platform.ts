// A whole platform on a random port with a fresh test database, a fake clock and known admin credentials.
import type { FastifyInstance } from 'fastify';
import { createTestDatabase } from '../../src/db/testing.ts';
import { FakeClock } from '../../src/platform/clock.ts';
import { createPlatform, type Platform } from '../../src/server/platform.ts';
import { roleByName, type RoleName } from '../../src/access/roles.ts';
import type { Services } from '../../src/server/services.ts';
import type { Database } from '../../src/db/types.ts';
import type { Config } from '../../src/platform/config.ts';
import type { DomainOptions } from '../../src/server/domain.ts';

export const ADMIN_CLIENT_ID = 'test-platform-admin';
export const ADMIN_CLIENT_SECRET = 'test-platform-admin-secret-0123456789';

export interface TestBuilder {
  builderId: string;
  clientId: string;
  clientSecret: string;
  token: string;
  /** fetch against the platform with this builder's token */
  fetch(path: string, init?: RequestInit): Promise<Response>;
}

export interface TestPlatform {
  app: FastifyInstance;
  platform: Platform;
  url: string;
  db: Database;
  services: Services;
  clock: FakeClock;
  adminToken: string;
  close(): Promise<void>;
  token(clientId: string, clientSecret: string): Promise<string>;
  createBuilder(name?: string, role?: RoleName): Promise<TestBuilder>;
  /** another machine client in an existing builder */
  createClient(builderId: string, role: RoleName): Promise<TestBuilder>;
  fetchAs(token: string, path: string, init?: RequestInit): Promise<Response>;
}

let counter = 0;

export async function startTestPlatform(opts: { config?: Partial<Config>; clock?: FakeClock; domain?: DomainOptions } = {}): Promise<TestPlatform> {
  const db = await createTestDatabase();
  const clock = opts.clock ?? new FakeClock(new Date());
  const platform = await createPlatform({
    db,
    clock,
    domain: opts.domain,
    config: { adminClientId: ADMIN_CLIENT_ID, adminClientSecret: ADMIN_CLIENT_SECRET, port: 0, host: '127.0.0.1', tokenRateLimitPerHour: 100_000, ...opts.config },
  });
  await platform.app.listen({ port: 0, host: '127.0.0.1' });
  const addr = platform.app.server.address();
  const url = typeof addr === 'object' && addr ? `http://127.0.0.1:${addr.port}` : '';
  // Tokens carry the configured base URL as audience; point it at the real port.
  platform.services.config.baseUrl = url;
  (platform.access.settings.audiences as string[]).unshift(url);

  const fetchAs = (token: string, path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${token}`);
    if (init.body && !headers.has('content-type')) headers.set('content-type', 'application/json');
    return fetch(url + path, { ...init, headers });
  };
  const token = async (clientId: string, clientSecret: string) => {
    const r = await fetch(`${url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }) });
    if (r.status !== 200) throw new Error(`token request failed: ${r.status} ${await r.text()}`);
    return ((await r.json()) as { access_token: string }).access_token;
  };
  const adminToken = await token(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET);
  const tp: TestPlatform = {
    app: platform.app,
    platform,
    url,
    db,
    services: platform.services,
    clock,
    adminToken,
    fetchAs,
    token,
    async close() {
      await platform.close();
      await db.close();
    },
    async createClient(builderId, role) {
      const { client, secret } = await platform.access.createClient({ builderId, name: `client ${++counter}`, clientType: 'machine_to_machine', roleId: roleByName(role)!.id });
      const t = await token(client.id, secret);
      return { builderId, clientId: client.id, clientSecret: secret, token: t, fetch: (p, i) => fetchAs(t, p, i) };
    },
    async createBuilder(name, role = 'Builder Admin') {
      const b = await platform.access.createBuilder(name ?? `Builder ${++counter} ${Math.random().toString(36).slice(2, 8)}`);
      return tp.createClient(b.id, role);
    },
  };
  return tp;
}
