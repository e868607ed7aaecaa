// Auth costs per request and per login: argon2id hash/verify, and AccessService.authenticate() (token verify +
// the database reads that make status, role and grants current on every request) for a machine client, a
// signed-in user, and a grantee Builder Admin with 10 grantors, with and without Zus-Account.
// PGlite in memory by default; DATABASE_URL=postgres://… for PostgreSQL.
import { performance } from 'node:perf_hooks';
import { createTestDatabase } from '../../src/db/testing.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { loadKeyRing } from '../../src/access/keys.ts';
import { AccessService } from '../../src/access/service.ts';
import { roleByName } from '../../src/access/roles.ts';
import { hashPassword, verifyPassword } from '../../src/access/passwords.ts';
import { issueAccessToken } from '../../src/access/tokens.ts';
import { newId } from '../../src/platform/ids.ts';

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const fmt = (ms: number) => `${ms.toFixed(2)} ms`;

async function time(n: number, fn: () => Promise<unknown>): Promise<{ p50: number; p99: number; perSecond: number }> {
  for (let i = 0; i < Math.min(50, n); i++) await fn(); // warm-up
  const samples: number[] = [];
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  return { p50: pct(samples, 50), p99: pct(samples, 99), perSecond: n / ((performance.now() - start) / 1000) };
}

const db = await createTestDatabase();
try {
  const keys = await loadKeyRing(db, undefined);
  const settings = { issuer: 'tessera', audiences: ['http://bench'], ttlSeconds: 3600, tokenRateLimitPerHour: 1_000_000 };
  const access = new AccessService(db, systemClock, keys, settings);
  const admin = roleByName('Builder Admin')!;

  const rows: [string, string][] = [];
  const pw = 'correct horse battery staple';
  const h = await time(10, () => hashPassword(pw));
  const stored = await hashPassword(pw);
  const v = await time(10, () => verifyPassword(stored, pw));
  rows.push(['argon2id hash (m=19 MiB, t=2, p=1)', `p50 ${fmt(h.p50)}`], ['argon2id verify', `p50 ${fmt(v.p50)}`]);

  const home = await access.createBuilder(`Bench home ${newId()}`);
  const { client } = await access.createClient({ builderId: home.id, name: 'bench', clientType: 'machine_to_machine', roleId: admin.id });
  const clientToken = await issueAccessToken(keys, systemClock, settings, { kind: 'client', id: client.id, builderId: home.id, builderName: home.name, roleName: admin.name, permissions: admin.permissions, isPlatformAdmin: false, authenticatedBy: 'client_credentials' }, 'http://bench');
  const n = 2000;
  const r1 = await time(n, () => access.authenticate(`Bearer ${clientToken}`, undefined));
  rows.push(['authenticate: machine client, no grants', `p50 ${fmt(r1.p50)}, p99 ${fmt(r1.p99)}, ${r1.perSecond.toFixed(0)}/s`]);

  const user = await access.users.create({ builderId: home.id, email: `bench-${newId()}@example.com`, name: 'Bench', roleId: admin.id, sendPasswordResetEmail: false, sendVerificationEmail: false });
  const spa = await access.createClient({ builderId: home.id, name: 'spa', clientType: 'single_page_application', roleId: admin.id, redirectUris: ['https://bench.example.com/cb'] });
  const sessionId = newId();
  await db.query('INSERT INTO auth_sessions (id, user_id, client_id, created_at, expires_at) VALUES ($1, $2, $3, now(), now() + interval \'1 day\')', [sessionId, user.id, spa.client.id]);
  const userToken = await issueAccessToken(keys, systemClock, settings, { kind: 'user', id: user.id, builderId: home.id, builderName: home.name, roleName: admin.name, permissions: admin.permissions, isPlatformAdmin: false, email: user.email, authenticatedBy: 'authorization_code', sessionId, clientId: spa.client.id }, 'http://bench');
  const r2 = await time(n, () => access.authenticate(`Bearer ${userToken}`, undefined));
  rows.push(['authenticate: signed-in user', `p50 ${fmt(r2.p50)}, p99 ${fmt(r2.p99)}, ${r2.perSecond.toFixed(0)}/s`]);

  const grantors: string[] = [];
  for (let i = 0; i < 10; i++) {
    const g = await access.createBuilder(`Bench grantor ${i} ${newId()}`);
    await access.grants.create({ grantorBuilderId: g.id, granteeBuilderId: home.id, relationship: 'bench', createdBy: 'bench' });
    grantors.push(g.id);
  }
  const r3 = await time(n, () => access.authenticate(`Bearer ${clientToken}`, undefined));
  rows.push(['authenticate: grantee Builder Admin, 10 grantors, no Zus-Account', `p50 ${fmt(r3.p50)}, p99 ${fmt(r3.p99)}, ${r3.perSecond.toFixed(0)}/s`]);
  const r4 = await time(n, () => access.authenticate(`Bearer ${clientToken}`, grantors[3]));
  rows.push(['authenticate: same, Zus-Account: <grantor>', `p50 ${fmt(r4.p50)}, p99 ${fmt(r4.p99)}, ${r4.perSecond.toFixed(0)}/s`]);

  process.stdout.write(`\nAuth on ${db.kind} (${n} calls each, sequential, one process)\n\n| what | result |\n| --- | --- |\n`);
  for (const [k, val] of rows) process.stdout.write(`| ${k} | ${val} |\n`);
} finally {
  await db.close();
}
