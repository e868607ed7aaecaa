// Randomized isolation test. Random builders, grants, principals (machine clients and signed-in users of every
// role), users and FHIR resources (with references across builders, updates and deletions); then thousands of
// random requests — read, vread, searches with _include/_revinclude and chains, instance/type/system history,
// creates with and without Zus-Account, JSON:API listings — each checked against the rules restated below,
// independently of src/access. Patients are mostly active (a treatment relationship) but never linked across
// builders (family names only), so sharing (test/access/sharing*.test.ts) must add nothing here. Grants are revoked and created while it runs. Seed: ISOLATION_SEED; size:
// ISOLATION_REQUESTS (default 2000).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.ts';
import { roleByName } from '../../src/access/roles.ts';
import { createUserAndLogin } from './login-helpers.ts';
import { seededRandom } from '../../src/platform/random.ts';

// ---- the rules, restated ------------------------------------------------------------------------------------
type Role = 'Builder Admin' | 'Care Team User' | 'Permissionless';
const CARE_TEAM_WRITABLE = new Set(['Patient', 'CarePlan', 'CareTeam', 'Goal', 'Task', 'Communication', 'Appointment', 'QuestionnaireResponse']);
const canRead = (role: Role) => role !== 'Permissionless';
const canCreate = (role: Role, type: string) => role === 'Builder Admin' || (role === 'Care Team User' && CARE_TEAM_WRITABLE.has(type));
const canManage = (role: Role) => role === 'Builder Admin';

interface World {
  grants: Set<string>; // `${grantor}>${grantee}`, active only
}
/** The builders a request acts for, or 'forbidden' when Zus-Account names a builder it may not act for. */
function actsFor(w: World, home: string, role: Role, header: string | null, builders: string[]): { read: string[]; write: string } | 'forbidden' {
  const grantors = role === 'Builder Admin' ? builders.filter((g) => w.grants.has(`${g}>${home}`)) : [];
  if (header === null) return { read: [home, ...grantors], write: home };
  if (header === home) return { read: [home], write: home };
  if (grantors.includes(header)) return { read: [header], write: header };
  return 'forbidden';
}

// ---- deterministic randomness ---------------------------------------------------------------------------------
const mulberry32 = seededRandom;

interface ModelResource { type: string; id: string; owner: string; deleted: boolean; versions: number; subject?: string; family?: string }
interface Principal { label: string; home: string; role: Role; token: string; kind: 'client' | 'user' }
type Entry = { resource?: { resourceType: string; id: string; meta?: { tag?: { system: string; code: string }[] } }; search?: { mode: string } };
type Bundle = { entry?: Entry[] };

const FAMILIES = ['Ng', 'Okafor', 'Silva', 'Kowalski'];

describe('randomized isolation', () => {
  let tp: TestPlatform;
  const seed = Number(process.env.ISOLATION_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const total = Number(process.env.ISOLATION_REQUESTS ?? 2000);
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const world: World = { grants: new Set() };
  const grantIds = new Map<string, string>();
  const builders: string[] = [];
  const principals: Principal[] = [];
  const resources = new Map<string, ModelResource>();
  const usersOf = new Map<string, Set<string>>();
  const clientsOf = new Map<string, Set<string>>();
  let counts: Record<string, number> = {};
  const msByKind: Record<string, number> = {};

  const fetchAs = (p: Principal, path: string, header: string | null, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (header !== null) headers.set('zus-account', header);
    return tp.fetchAs(p.token, path, { ...init, headers });
  };
  const adminJson = (path: string, body: unknown, method = 'POST') => tp.fetchAs(tp.adminToken, path, body === undefined ? { method } : { method, headers: { 'content-type': 'application/vnd.api+json' }, body: JSON.stringify(body) });

  async function addGrant(grantor: string, grantee: string) {
    const r = await adminJson('/auth/cross-builder-grants', { data: { type: 'auth/cross-builder-grants', attributes: { relationship: 'random test' }, relationships: { grantor: { data: { type: 'auth/builders', id: grantor } }, grantee: { data: { type: 'auth/builders', id: grantee } } } } });
    assert.equal(r.status, 201);
    grantIds.set(`${grantor}>${grantee}`, ((await r.json()) as { data: { id: string } }).data.id);
    world.grants.add(`${grantor}>${grantee}`);
  }
  async function revokeGrant(key: string) {
    assert.equal((await adminJson(`/auth/cross-builder-grants/${grantIds.get(key)}`, undefined, 'DELETE')).status, 204);
    world.grants.delete(key);
  }

  before(async () => {
    tp = await startTestPlatform();
    const access = tp.platform.access;
    for (let i = 0; i < 5; i++) {
      const b = await tp.createBuilder(`Iso ${seed} ${i}`);
      builders.push(b.builderId);
      usersOf.set(b.builderId, new Set());
      clientsOf.set(b.builderId, new Set([b.clientId]));
      principals.push({ label: `admin-client@${i}`, home: b.builderId, role: 'Builder Admin', token: b.token, kind: 'client' });
      for (const role of ['Care Team User', 'Permissionless'] as Role[]) {
        const c = await tp.createClient(b.builderId, role);
        clientsOf.get(b.builderId)!.add(c.clientId);
        principals.push({ label: `${role}-client@${i}`, home: b.builderId, role, token: c.token, kind: 'client' });
      }
      for (let u = 0; u < 2; u++) {
        const role = pick(['Builder Admin', 'Care Team User', 'Permissionless'] as Role[]);
        const row = await access.users.create({ builderId: b.builderId, email: `iso-${seed}-${i}-${u}@example.com`, name: `U${u}`, roleId: roleByName(role)!.id, sendPasswordResetEmail: false, sendVerificationEmail: false });
        usersOf.get(b.builderId)!.add(row.id);
      }
    }
    for (const g of builders) for (const e of builders) if (g !== e && rnd() < 0.3) await addGrant(g, e);
    // people signed in through the authorization-code flow, as well as machine clients
    for (const role of ['Builder Admin', 'Care Team User'] as Role[]) {
      const home = pick(builders);
      const u = await createUserAndLogin(tp, tp.adminToken, home, role, {});
      usersOf.get(home)!.add(u.userId);
      clientsOf.get(home)!.add(u.clientId);
      principals.push({ label: `${role}-user@${builders.indexOf(home)}`, home, role, token: u.accessToken, kind: 'user' });
    }
    // resources: patients, then observations and encounters pointing at random patients (a third in other builders)
    const adminOf = (b: string) => principals.find((p) => p.home === b && p.role === 'Builder Admin' && p.kind === 'client')!;
    const create = async (owner: string, body: Record<string, unknown>) => {
      const r = await fetchAs(adminOf(owner), `/fhir/${body.resourceType as string}`, null, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(body) });
      assert.equal(r.status, 201, await r.clone().text());
      const id = ((await r.json()) as { id: string }).id;
      const m: ModelResource = { type: body.resourceType as string, id, owner, deleted: false, versions: 1 };
      resources.set(`${m.type}/${id}`, m);
      return m;
    };
    for (const b of builders) {
      for (let i = 0; i < 3; i++) {
        const family = pick(FAMILIES);
        // most are active (a treatment relationship): with no UPI link between builders nothing may be shared
        (await create(b, { resourceType: 'Patient', name: [{ family }], ...(rnd() < 0.7 ? { active: true } : {}) })).family = family;
      }
    }
    const patients = [...resources.values()].filter((r) => r.type === 'Patient');
    for (const b of builders) {
      for (let i = 0; i < 4; i++) {
        const own = patients.filter((p) => p.owner === b);
        const subject = rnd() < 0.33 ? pick(patients) : pick(own);
        const type = rnd() < 0.6 ? 'Observation' : 'Encounter';
        const body = type === 'Observation'
          ? { resourceType: type, status: 'final', code: { text: 'hr' }, subject: { reference: `Patient/${subject.id}` } }
          : { resourceType: type, status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: { reference: `Patient/${subject.id}` } };
        (await create(b, body)).subject = `Patient/${subject.id}`;
      }
    }
    // some updates (history) and deletions (tombstones), by the owner
    for (const m of [...resources.values()]) {
      const admin = adminOf(m.owner);
      if (rnd() < 0.3) {
        const cur = (await (await fetchAs(admin, `/fhir/${m.type}/${m.id}`, null)).json()) as Record<string, unknown>;
        const r = await fetchAs(admin, `/fhir/${m.type}/${m.id}`, null, { method: 'PUT', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ ...cur, language: 'en' }) });
        assert.equal(r.status, 200);
        m.versions++;
      }
      if (rnd() < 0.12) {
        assert.equal((await fetchAs(admin, `/fhir/${m.type}/${m.id}`, null, { method: 'DELETE' })).status, 204);
        m.deleted = true;
        m.versions++;
      }
    }
  });
  after(async () => {
    await tp.close();
  });

  // ---- expectations -------------------------------------------------------------------------------------------
  const visible = (scope: { read: string[] }, m: ModelResource) => scope.read.includes(m.owner);
  const live = (scope: { read: string[] }, type: string) => [...resources.values()].filter((m) => m.type === type && !m.deleted && visible(scope, m));
  const ids = (ms: ModelResource[]) => ms.map((m) => `${m.type}/${m.id}`).sort();
  const entriesOf = (b: Bundle, mode?: string) => (b.entry ?? []).filter((e) => e.resource && (!mode || e.search?.mode === mode)).map((e) => `${e.resource!.resourceType}/${e.resource!.id}`).sort();

  test('every response matches the rules', async () => {
    const started = Date.now();
    const failures: string[] = [];
    counts = {};
    const resourceList = () => [...resources.values()];
    for (let n = 0; n < total && failures.length < 5; n++) {
      // grants change while requests run: revocation and new grants apply to the next request
      if (n > 0 && n % 250 === 0) {
        const active = [...world.grants];
        if (active.length && rnd() < 0.6) await revokeGrant(pick(active));
        else {
          const g = pick(builders);
          const e = pick(builders.filter((x) => x !== g));
          if (!world.grants.has(`${g}>${e}`)) await addGrant(g, e);
        }
      }
      const p = pick(principals);
      const r0 = rnd();
      const header = r0 < 0.45 ? null : r0 < 0.55 ? p.home : r0 < 0.85 ? pick(builders) : r0 < 0.95 ? pick(builders.filter((g) => world.grants.has(`${g}>${p.home}`)).concat([p.home])) : 'no-such-builder';
      const scope = actsFor(world, p.home, p.role, header, builders);
      const kind = pick(['read', 'vread', 'search', 'include', 'revinclude', 'chain', 'reference', 'history-instance', 'history-type', 'history-system', 'create', 'users', 'builders', 'clients'] as const);
      counts[kind] = (counts[kind] ?? 0) + 1;
      const t0 = Date.now();
      await (async () => {
        const label = `#${n} seed=${seed} ${p.label} header=${header ?? '-'} ${kind}`;
        const fail = (msg: string) => failures.push(`${label}: ${msg}`);
        const forbiddenExpected = scope === 'forbidden';
        const readDenied = !forbiddenExpected && !canRead(p.role);
        const expectStatus = async (r: Response, want: number) => {
          if (r.status !== want) fail(`status ${r.status}, expected ${want}: ${(await r.text()).slice(0, 300)}`);
          return r.status === want;
        };

        if (kind === 'read' || kind === 'vread' || kind === 'history-instance') {
          const m = pick(resourceList());
          const path = kind === 'read' ? `/fhir/${m.type}/${m.id}` : kind === 'vread' ? `/fhir/${m.type}/${m.id}/_history/1` : `/fhir/${m.type}/${m.id}/_history?_count=500`;
          const r = await fetchAs(p, path, header);
          if (forbiddenExpected || readDenied) { await expectStatus(r, 403); return; }
          if (!visible(scope, m)) { await expectStatus(r, 404); return; }
          if (kind === 'read') { await expectStatus(r, m.deleted ? 410 : 200); return; }
          if (!(await expectStatus(r, 200))) return;
          if (kind === 'history-instance') {
            const b = (await r.json()) as Bundle;
            if ((b.entry ?? []).length !== m.versions) fail(`history has ${(b.entry ?? []).length} entries, expected ${m.versions}`);
          } else await r.body?.cancel();
          return;
        }
        if (kind === 'create') {
          const type = pick(['Patient', 'Observation'] as const);
          const anyPatient = pick(resourceList().filter((x) => x.type === 'Patient'));
          const body = type === 'Patient' ? { resourceType: type, active: true, name: [{ family: pick(FAMILIES) }] } : { resourceType: type, status: 'final', code: { text: 'bp' }, subject: { reference: `Patient/${anyPatient.id}` } };
          const before = (await tp.db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM resources WHERE type <> $1', ['AuditEvent'])).rows[0]!.n;
          const r = await fetchAs(p, `/fhir/${type}`, header, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(body) });
          if (forbiddenExpected || !canCreate(p.role, type)) {
            await expectStatus(r, 403);
            const afterN = (await tp.db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM resources WHERE type <> $1', ['AuditEvent'])).rows[0]!.n;
            if (afterN !== before) fail('a denied create wrote something');
            return;
          }
          if (!(await expectStatus(r, 201))) return;
          const created = (await r.json()) as { id: string; meta: { tag: { system: string; code: string }[] } };
          const owner = created.meta.tag.find((t) => t.system === 'https://zusapi.com/accesscontrol/owner')?.code;
          if (owner !== `builder/${scope.write}`) fail(`created with owner ${owner}, expected builder/${scope.write}`);
          const m: ModelResource = { type, id: created.id, owner: scope.write, deleted: false, versions: 1 };
          if (type === 'Patient') m.family = body.name![0]!.family; else m.subject = `Patient/${anyPatient.id}`;
          resources.set(`${type}/${m.id}`, m);
          return;
        }
        if (kind === 'users' || kind === 'builders' || kind === 'clients') {
          const filterBuilder = rnd() < 0.5 ? pick(builders) : null;
          const path = kind === 'users' ? `/auth/users?page[size]=500&filter[active]=all${filterBuilder ? `&filter[builderId]=${filterBuilder}` : ''}`
            : kind === 'clients' ? `/auth/app-clients?page[size]=500${filterBuilder ? `&filter[builderId]=${filterBuilder}` : ''}` : '/auth/builders?page[size]=500';
          const r = await fetchAs(p, path, header);
          if (forbiddenExpected) { await expectStatus(r, 403); return; }
          if (kind !== 'builders' && !canManage(p.role)) { await expectStatus(r, 403); return; }
          if (!(await expectStatus(r, 200))) return;
          const got = ((await r.json()) as { data: { id: string }[] }).data.map((d) => d.id).sort();
          const inScope = scope.read.filter((b) => !filterBuilder || kind === 'builders' || b === filterBuilder);
          const want = (kind === 'builders' ? inScope : inScope.flatMap((b) => [...(kind === 'users' ? usersOf : clientsOf).get(b)!])).sort();
          if (JSON.stringify(got) !== JSON.stringify(want)) fail(`${path} returned ${got.length} ids, expected ${want.length}`);
          return;
        }

        // searches and type/system history
        let path: string;
        let wantMatch: string[] = [];
        let wantInclude: string[] = [];
        let historyType: string | null = null;
        const s = forbiddenExpected ? { read: [] as string[] } : scope;
        if (kind === 'search') {
          const type = pick(['Patient', 'Observation', 'Encounter']);
          path = `/fhir/${type}?_count=500`;
          wantMatch = ids(live(s, type));
        } else if (kind === 'include') {
          const type = pick(['Observation', 'Encounter']);
          path = `/fhir/${type}?_count=500&_include=${type}:subject`;
          const matches = live(s, type);
          wantMatch = ids(matches);
          const targets = new Set(matches.map((m) => m.subject));
          wantInclude = ids(live(s, 'Patient').filter((pt) => targets.has(`Patient/${pt.id}`)));
        } else if (kind === 'revinclude') {
          const type = pick(['Observation', 'Encounter']);
          path = `/fhir/Patient?_count=500&_revinclude=${type}:subject`;
          const matches = live(s, 'Patient');
          wantMatch = ids(matches);
          const matched = new Set(matches.map((m) => `Patient/${m.id}`));
          wantInclude = ids(live(s, type).filter((o) => matched.has(o.subject!)));
        } else if (kind === 'chain') {
          const family = pick(FAMILIES);
          path = `/fhir/Observation?_count=500&subject:Patient.family=${family}`;
          const pats = new Set(live(s, 'Patient').filter((pt) => pt.family === family).map((pt) => `Patient/${pt.id}`));
          wantMatch = ids(live(s, 'Observation').filter((o) => pats.has(o.subject!)));
        } else if (kind === 'reference') {
          const target = pick(resourceList().filter((x) => x.type === 'Patient'));
          path = `/fhir/Observation?_count=500&subject=Patient/${target.id}`;
          wantMatch = ids(live(s, 'Observation').filter((o) => o.subject === `Patient/${target.id}`));
        } else if (kind === 'history-type') {
          historyType = pick(['Patient', 'Observation']);
          path = `/fhir/${historyType}/_history?_count=500`;
        } else {
          path = '/fhir/_history?_count=500';
        }
        const r = await fetchAs(p, path, header);
        if (forbiddenExpected) { await expectStatus(r, 403); return; }
        if (readDenied && kind !== 'history-system') { await expectStatus(r, 403); return; }
        if (kind === 'history-system' && readDenied) {
          if (r.status === 403) return;
          if (!(await expectStatus(r, 200))) return;
          if (((await r.json()) as Bundle).entry?.length) fail('a Permissionless principal saw history entries');
          return;
        }
        if (!(await expectStatus(r, 200))) return;
        const b = (await r.json()) as Bundle;
        if (kind === 'history-type' || kind === 'history-system') {
          const entries = b.entry ?? [];
          // deletions carry no resource; count versions per visible resource of the scope
          const want = [...resources.values()].filter((m) => visible(s, m) && (historyType === null || m.type === historyType)).reduce((a, m) => a + m.versions, 0);
          const auditEntries = entries.filter((e) => e.resource?.resourceType === 'AuditEvent');
          for (const e of auditEntries) {
            const owner = e.resource!.meta?.tag?.find((t) => t.system === 'https://zusapi.com/accesscontrol/owner')?.code;
            if (p.role !== 'Builder Admin' || owner !== `builder/${p.home}` || !s.read.includes(p.home)) fail(`history shows an AuditEvent of ${owner}`);
          }
          // AuditEvents (own builder's) may also be in system history; their tombstone-free versions are counted apart
          const got = entries.length - auditEntries.length;
          if (got > 500 - auditEntries.length) return; // page full: nothing more to compare
          if (got !== want) fail(`${path}: ${got} non-audit entries, expected ${want}`);
          return;
        }
        const gotMatch = entriesOf(b, 'match');
        const gotInclude = entriesOf(b, 'include');
        if (JSON.stringify(gotMatch) !== JSON.stringify(wantMatch)) fail(`${path}: matches ${JSON.stringify(gotMatch)} expected ${JSON.stringify(wantMatch)}`);
        if (JSON.stringify(gotInclude) !== JSON.stringify(wantInclude)) fail(`${path}: includes ${JSON.stringify(gotInclude)} expected ${JSON.stringify(wantInclude)}`);
      })();
      msByKind[kind] = (msByKind[kind] ?? 0) + Date.now() - t0;
    }
    const seconds = (Date.now() - started) / 1000;
    process.stdout.write(`# isolation: seed ${seed}, ${total} requests in ${seconds.toFixed(1)} s (${(total / seconds).toFixed(0)}/s) on ${tp.db.kind}; requests ${JSON.stringify(counts)}; ms ${JSON.stringify(msByKind)}\n`);
    assert.deepEqual(failures, [], `reproduce with ISOLATION_SEED=${seed}`);
  });
});
