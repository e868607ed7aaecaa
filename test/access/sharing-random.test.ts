// Randomized sharing test. Random builders (some with cross-builder grants), people recorded by several builders
// (the UPI links them to one UPID), Patients whose `active` flag flips while the test runs (and some deleted),
// resources of Designated Record Set types, a non-DRS type and foundational types, some restricted (v3
// Confidentiality R / V), some pointing at another builder's Patient; then random requests — read, search,
// firstparty=true, _include, _revinclude=Provenance:target, $everything (by id and by UPID, paged) and writes to
// shared data — each checked against the rules restated below, independently of src/access.
// Seed: SHARING_SEED; size: SHARING_REQUESTS (default 400).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestPlatform, type TestPlatform, type TestBuilder } from '../helpers/platform.ts';
import { seededRandom } from '../../src/platform/random.ts';

// ---- the rules, restated ------------------------------------------------------------------------------------
const DRS = new Set(['Patient', 'Observation', 'Condition', 'MedicationRequest', 'Binary']); // of the types used here
const FOUNDATIONAL = new Set(['Practitioner', 'Provenance']);
// Basic is patient-scoped but not in the DRS.

interface M {
  type: string; id: string; owner: string; deleted: boolean; restricted: boolean;
  upid: string | null;
  active?: boolean; // Patient
  patientId?: string; // the Patient it points at
  refs: string[]; // `Type/id` it references (requester, Provenance.target)
}
interface World { grants: Set<string>; res: Map<string, M> }

const live = (w: World) => [...w.res.values()].filter((m) => !m.deleted);
/** builder b has a treatment relationship with UPID u: an active, live Patient of its own with that UPID */
const tpo = (w: World, b: string, u: string) => live(w).some((m) => m.type === 'Patient' && m.owner === b && m.upid === u && m.active === true);
/** builder b holds a record of the person: a live Patient (any state) with that UPID */
const holds = (w: World, b: string, u: string) => live(w).some((m) => m.type === 'Patient' && m.owner === b && m.upid === u);
function visible(w: World, read: string[], m: M): boolean {
  if (read.includes(m.owner)) return true;
  if (m.deleted) return false; // a tombstone carries no UPID: only the owner's scope sees the 410
  if (!DRS.has(m.type) || m.restricted || !m.upid) return false;
  return holds(w, m.owner, m.upid) && read.some((b) => b !== m.owner && tpo(w, b, m.upid!));
}
/** a foundational target reached through a reference from (or, Provenance, to) a visible source */
function viaRef(w: World, read: string[], target: M, source: M): boolean {
  if (visible(w, read, target)) return true;
  return FOUNDATIONAL.has(target.type) && !target.restricted && target.owner === source.owner && DRS.has(source.type) && visible(w, read, source);
}

// ---- people ---------------------------------------------------------------------------------------------------
const PEOPLE = [
  { family: 'Quintero', given: 'Rosalind', birthDate: '1961-07-23', gender: 'female', ssn: '123-45-6789', line: '4417 Larkspur Court', city: 'Dayton', state: 'OH', zip: '45402', phone: '937-555-0188' },
  { family: 'Abernathy', given: 'Theodore', birthDate: '1948-02-11', gender: 'male', ssn: '231-54-8876', line: '19 Whitcomb Lane', city: 'Provo', state: 'UT', zip: '84601', phone: '801-555-0117' },
  { family: 'Nakamura', given: 'Keiko', birthDate: '1979-11-30', gender: 'female', ssn: '318-62-4410', line: '802 Juniper Ave', city: 'Tacoma', state: 'WA', zip: '98402', phone: '253-555-0160' },
  { family: 'Osei', given: 'Kwabena', birthDate: '1990-05-04', gender: 'male', ssn: '409-71-2253', line: '55 Harbor View Rd', city: 'Mobile', state: 'AL', zip: '36602', phone: '251-555-0135' },
  { family: 'Lindqvist', given: 'Astrid', birthDate: '2001-09-17', gender: 'female', ssn: '512-83-9034', line: '7 Birchwood Terrace', city: 'Duluth', state: 'MN', zip: '55802', phone: '218-555-0199' },
];
const patientBody = (i: number, active: boolean | undefined, restricted: boolean) => {
  const p = PEOPLE[i]!;
  return {
    resourceType: 'Patient', ...(active === undefined ? {} : { active }),
    ...(restricted ? { meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] } } : {}),
    identifier: [{ system: 'http://hl7.org/fhir/sid/us-ssn', value: p.ssn }],
    name: [{ family: p.family, given: [p.given] }], gender: p.gender, birthDate: p.birthDate,
    address: [{ line: [p.line], city: p.city, state: p.state, postalCode: p.zip }],
    telecom: [{ system: 'phone', value: p.phone }],
  };
};

type Entry = { resource?: { resourceType: string; id: string }; search?: { mode: string } };
type Bundle = { entry?: Entry[]; link?: { relation: string; url: string }[] };
const UPID_URL = 'https://zusapi.com/fhir/identifier/universal-id';

describe('randomized sharing', () => {
  let tp: TestPlatform;
  const seed = Number(process.env.SHARING_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const total = Number(process.env.SHARING_REQUESTS ?? 400);
  const rnd = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const w: World = { grants: new Set(), res: new Map() };
  const builders: TestBuilder[] = [];
  const byId = new Map<string, TestBuilder>();
  const personUpid = new Map<number, string>();
  const counts: Record<string, number> = {};
  let sharedReads = 0;
  const readScope = (b: string) => [b, ...[...w.grants].filter((g) => g.endsWith(`>${b}`)).map((g) => g.split('>')[0]!)];

  const write = async (owner: string, body: Record<string, unknown>, method = 'POST', id?: string) => {
    const r = await byId.get(owner)!.fetch(`/fhir/${body.resourceType as string}${id ? `/${id}` : ''}`, { method, body: JSON.stringify(body), headers: { 'content-type': 'application/fhir+json' } });
    assert.ok(r.status === 201 || r.status === 200, `${method} ${body.resourceType as string}: ${r.status} ${await r.clone().text()}`);
    return (await r.json()) as Record<string, unknown> & { id: string };
  };
  const restrictedMeta = () => ({ meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: rnd() < 0.5 ? 'R' : 'V' }] } });
  const normalMeta = () => (rnd() < 0.3 ? { meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'N' }] } } : {});

  async function addPatient(owner: string, person: number) {
    const active = pick([true, true, true, false, undefined] as const);
    const restricted = rnd() < 0.1;
    const r = await write(owner, patientBody(person, active, restricted));
    const upid = (r.identifier as { system: string; value: string }[]).find((i) => i.system === UPID_URL)!.value;
    if (!personUpid.has(person)) personUpid.set(person, upid);
    assert.equal(upid, personUpid.get(person), `the UPI links person ${person}'s records (seed ${seed})`);
    w.res.set(`Patient/${r.id}`, { type: 'Patient', id: r.id, owner, deleted: false, restricted, upid, active: active === true, refs: [] });
  }
  async function addClinical(owner: string) {
    const pats = live(w).filter((m) => m.type === 'Patient');
    const own = pats.filter((m) => m.owner === owner);
    if (pats.length === 0) return;
    const patient = own.length && rnd() < 0.9 ? pick(own) : pick(pats); // sometimes another builder's Patient
    const restricted = rnd() < 0.2;
    const meta = restricted ? restrictedMeta() : normalMeta();
    const subject = { reference: `Patient/${patient.id}` };
    const kind = pick(['Observation', 'Condition', 'Basic', 'MedicationRequest', 'Binary', 'Provenance'] as const);
    const add = (m: Omit<M, 'owner' | 'deleted'>) => w.res.set(`${m.type}/${m.id}`, { ...m, owner, deleted: false });
    if (kind === 'Observation' || kind === 'Condition' || kind === 'Basic') {
      const body = kind === 'Observation' ? { resourceType: kind, status: 'final', code: { text: 'x' }, subject, ...meta }
        : kind === 'Condition' ? { resourceType: kind, code: { text: 'y' }, subject, ...meta } : { resourceType: kind, code: { text: 'z' }, subject, ...meta };
      const r = await write(owner, body);
      const ext = (r.extension as { url: string; valueString: string }[] | undefined)?.find((e) => e.url === UPID_URL)?.valueString ?? null;
      assert.equal(ext, patient.upid, 'resources carry their patient\'s UPID');
      add({ type: kind, id: r.id, restricted, upid: patient.upid, patientId: patient.id, refs: [] });
    } else if (kind === 'MedicationRequest') {
      const pracRestricted = rnd() < 0.15;
      const prac = await write(owner, { resourceType: 'Practitioner', name: [{ family: 'Doc' }], ...(pracRestricted ? restrictedMeta() : {}) });
      add({ type: 'Practitioner', id: prac.id, restricted: pracRestricted, upid: null, refs: [] });
      const r = await write(owner, { resourceType: 'MedicationRequest', status: 'active', intent: 'order', medicationCodeableConcept: { text: 'm' }, subject, requester: { reference: `Practitioner/${prac.id}` }, ...meta });
      add({ type: 'MedicationRequest', id: r.id, restricted, upid: patient.upid, patientId: patient.id, refs: [`Practitioner/${prac.id}`] });
    } else if (kind === 'Binary') {
      const r = await write(owner, { resourceType: 'Binary', contentType: 'text/plain', securityContext: subject, data: 'aGVsbG8=', ...meta });
      add({ type: 'Binary', id: r.id, restricted, upid: patient.upid, patientId: patient.id, refs: [] });
    } else {
      const targets = live(w).filter((m) => m.owner === owner && (m.type === 'Observation' || m.type === 'Condition'));
      if (!targets.length) return;
      const t = pick(targets);
      const r = await write(owner, { resourceType: 'Provenance', target: [{ reference: `${t.type}/${t.id}` }], recorded: '2026-01-01T00:00:00Z', agent: [{ who: { display: 'x' } }], ...(rnd() < 0.15 ? restrictedMeta() : {}) });
      add({ type: 'Provenance', id: r.id, restricted: false, upid: null, refs: [`${t.type}/${t.id}`] });
      w.res.get(`Provenance/${r.id}`)!.restricted = JSON.stringify(r.meta ?? {}).includes('v3-Confidentiality');
    }
  }

  before(async () => {
    tp = await startTestPlatform();
    for (let i = 0; i < 4; i++) {
      const b = await tp.createBuilder(`Share ${seed} ${i}`);
      builders.push(b);
      byId.set(b.builderId, b);
    }
    // a couple of cross-builder grants (grants keep working next to sharing)
    for (const g of builders) for (const e of builders) {
      if (g !== e && rnd() < 0.12) {
        const r = await tp.fetchAs(tp.adminToken, '/auth/cross-builder-grants', { method: 'POST', headers: { 'content-type': 'application/vnd.api+json' }, body: JSON.stringify({ data: { type: 'auth/cross-builder-grants', attributes: { relationship: 'random' }, relationships: { grantor: { data: { type: 'auth/builders', id: g.builderId } }, grantee: { data: { type: 'auth/builders', id: e.builderId } } } } }) });
        assert.equal(r.status, 201);
        w.grants.add(`${g.builderId}>${e.builderId}`);
      }
    }
    for (const b of builders) for (let p = 0; p < PEOPLE.length; p++) if (rnd() < (p < 3 ? 0.7 : 0.3)) await addPatient(b.builderId, p);
    for (let i = 0; i < 40; i++) await addClinical(pick(builders).builderId);
  });
  after(async () => {
    await tp.close();
  });

  const keysOf = (b: Bundle, mode: string) => (b.entry ?? []).filter((e) => e.resource && e.search?.mode === mode).map((e) => `${e.resource!.resourceType}/${e.resource!.id}`).sort();
  const keys = (ms: M[]) => ms.map((m) => `${m.type}/${m.id}`).sort();

  test('every response matches the rules', async () => {
    const failures: string[] = [];
    const started = Date.now();
    for (let n = 0; n < total && failures.length < 5; n++) {
      const caller = pick(builders);
      const me = caller.builderId;
      const read = readScope(me);
      const kind = pick(['flip', 'flip', 'add', 'read', 'read', 'search', 'firstparty', 'include', 'revinclude', 'everything', 'everything-upid', 'write-shared', 'delete-patient'] as const);
      counts[kind] = (counts[kind] ?? 0) + 1;
      const label = `#${n} seed=${seed} ${kind} as ${builders.indexOf(caller)}`;
      const fail = (msg: string) => failures.push(`${label}: ${msg}`);
      const getJson = async (path: string): Promise<Bundle | null> => {
        const r = await caller.fetch(path);
        if (r.status !== 200) { fail(`${path}: status ${r.status} ${(await r.text()).slice(0, 200)}`); return null; }
        return (await r.json()) as Bundle;
      };
      if (kind === 'flip') {
        const p = pick(live(w).filter((m) => m.type === 'Patient'));
        if (!p) continue;
        const cur = (await (await byId.get(p.owner)!.fetch(`/fhir/Patient/${p.id}`)).json()) as Record<string, unknown>;
        await write(p.owner, { ...cur, active: !p.active }, 'PUT', p.id);
        p.active = !p.active;
      } else if (kind === 'add') {
        if (rnd() < 0.3) await addPatient(me, Math.floor(rnd() * PEOPLE.length));
        else await addClinical(me);
      } else if (kind === 'delete-patient') {
        if (rnd() < 0.85) continue; // rarer
        const p = live(w).find((m) => m.type === 'Patient' && m.owner === me);
        if (!p) continue;
        const r = await caller.fetch(`/fhir/Patient/${p.id}`, { method: 'DELETE' });
        if (r.status !== 204) fail(`delete: ${r.status}`);
        p.deleted = true;
      } else if (kind === 'read') {
        const others = [...w.res.values()].filter((x) => x.owner !== me);
        const m = others.length && rnd() < 0.7 ? pick(others) : pick([...w.res.values()]);
        const r = await caller.fetch(`/fhir/${m.type}/${m.id}`);
        const want = !visible(w, read, m) ? 404 : m.deleted ? 410 : 200;
        if (want === 200 && !read.includes(m.owner)) sharedReads++;
        if (r.status !== want) fail(`read ${m.type}/${m.id} (owner ${m.owner === me ? 'me' : 'other'}): ${r.status}, expected ${want}`);
        await r.body?.cancel();
      } else if (kind === 'search' || kind === 'firstparty') {
        const type = pick(['Patient', 'Observation', 'Condition', 'Basic', 'MedicationRequest', 'Binary', 'Practitioner', 'Provenance']);
        const b = await getJson(`/fhir/${type}?_count=500${kind === 'firstparty' ? '&firstparty=true' : ''}`);
        if (!b) continue;
        const want = keys(live(w).filter((m) => m.type === type && (kind === 'firstparty' ? read.includes(m.owner) : visible(w, read, m))));
        const got = keysOf(b, 'match');
        sharedReads += want.filter((k) => !read.includes(w.res.get(k)!.owner)).length;
        if (JSON.stringify(got) !== JSON.stringify(want)) fail(`${type} ${kind}: got ${got.length} ${JSON.stringify(got)}, expected ${want.length} ${JSON.stringify(want)}`);
      } else if (kind === 'include') {
        const b = await getJson('/fhir/MedicationRequest?_count=500&_include=MedicationRequest:requester');
        if (!b) continue;
        const matches = live(w).filter((m) => m.type === 'MedicationRequest' && visible(w, read, m));
        const inc = new Set<string>();
        for (const s of matches) for (const ref of s.refs) {
          const t = w.res.get(ref);
          if (t && !t.deleted && viaRef(w, read, t, s)) inc.add(ref);
        }
        if (JSON.stringify(keysOf(b, 'match')) !== JSON.stringify(keys(matches))) fail(`include matches ${JSON.stringify(keysOf(b, 'match'))} expected ${JSON.stringify(keys(matches))}`);
        if (JSON.stringify(keysOf(b, 'include')) !== JSON.stringify([...inc].sort())) fail(`includes ${JSON.stringify(keysOf(b, 'include'))} expected ${JSON.stringify([...inc].sort())}`);
      } else if (kind === 'revinclude') {
        const type = pick(['Observation', 'Condition']);
        const b = await getJson(`/fhir/${type}?_count=500&_revinclude=Provenance:target`);
        if (!b) continue;
        const matches = live(w).filter((m) => m.type === type && visible(w, read, m));
        const mk = new Set(keys(matches));
        const inc = live(w).filter((p) => p.type === 'Provenance' && p.refs.some((ref) => mk.has(ref) && viaRef(w, read, p, w.res.get(ref)!)));
        if (JSON.stringify(keysOf(b, 'include')) !== JSON.stringify(keys(inc))) fail(`revincludes ${JSON.stringify(keysOf(b, 'include'))} expected ${JSON.stringify(keys(inc))}`);
      } else if (kind === 'everything' || kind === 'everything-upid') {
        const p = pick([...w.res.values()].filter((m) => m.type === 'Patient'));
        if (!p) continue;
        const first = kind === 'everything' ? `/fhir/Patient/${p.id}/$everything?_count=${pick([3, 7, 500])}` : `/fhir/Patient/$everything?upid=${p.upid}&_count=${pick([3, 7, 500])}`;
        const allowed = kind === 'everything' ? visible(w, read, p) && !p.deleted : live(w).some((m) => m.type === 'Patient' && m.upid === p.upid && visible(w, read, m));
        const r0 = await caller.fetch(first);
        const wantStatus = allowed ? 200 : kind === 'everything' && visible(w, read, p) && p.deleted ? 410 : 404;
        if (r0.status !== wantStatus) { fail(`${first}: ${r0.status}, expected ${wantStatus}`); await r0.body?.cancel(); continue; }
        if (!allowed) { await r0.body?.cancel(); continue; }
        let page = (await r0.json()) as Bundle;
        const gotMatch: string[] = [];
        const gotInc = new Set<string>();
        for (let pages = 0; pages < 50; pages++) {
          gotMatch.push(...keysOf(page, 'match'));
          for (const k of keysOf(page, 'include')) gotInc.add(k);
          const next = page.link?.find((l) => l.relation === 'next')?.url;
          if (!next) break;
          const pg = await getJson(next.replace(tp.url, ''));
          if (!pg) break;
          page = pg;
        }
        const matches = live(w).filter((m) => m.upid === p.upid && visible(w, read, m));
        const mk = new Set(keys(matches));
        const inc = new Set<string>();
        for (const s of matches) for (const ref of s.refs) {
          const t = w.res.get(ref);
          if (t && !t.deleted && FOUNDATIONAL.has(t.type) && viaRef(w, read, t, s)) inc.add(ref);
        }
        for (const pv of live(w).filter((x) => x.type === 'Provenance')) {
          if (pv.refs.some((ref) => mk.has(ref) && viaRef(w, read, pv, w.res.get(ref)!))) inc.add(`Provenance/${pv.id}`);
        }
        if (JSON.stringify(gotMatch.sort()) !== JSON.stringify([...mk].sort())) fail(`${first}: matches ${JSON.stringify(gotMatch)} expected ${JSON.stringify([...mk].sort())}`);
        if (JSON.stringify([...gotInc].sort()) !== JSON.stringify([...inc].sort())) fail(`${first}: includes ${JSON.stringify([...gotInc].sort())} expected ${JSON.stringify([...inc].sort())}`);
      } else if (kind === 'write-shared') {
        const shared = live(w).filter((m) => !read.includes(m.owner) && visible(w, read, m) && m.type !== 'Binary');
        if (!shared.length) continue;
        const m = pick(shared);
        const cur = (await (await caller.fetch(`/fhir/${m.type}/${m.id}`)).json()) as Record<string, unknown>;
        const r = await caller.fetch(`/fhir/${m.type}/${m.id}`, { method: rnd() < 0.5 ? 'PUT' : 'DELETE', body: JSON.stringify({ ...cur, language: 'en' }), headers: { 'content-type': 'application/fhir+json' } });
        if (r.status !== 403) fail(`write to shared ${m.type}/${m.id}: ${r.status}, expected 403`);
        await r.body?.cancel();
      }
    }
    const s = (Date.now() - started) / 1000;
    const shared = live(w).filter((m) => builders.some((b) => !readScope(b.builderId).includes(m.owner) && visible(w, readScope(b.builderId), m))).length;
    process.stdout.write(`# sharing: seed ${seed}, ${total} steps in ${s.toFixed(1)} s on ${tp.db.kind}; ${w.res.size} resources, ${shared} visible to another builder at the end, ${sharedReads} shared resources returned by read and search; steps ${JSON.stringify(counts)}\n`);
    assert.deepEqual(failures, [], `reproduce with SHARING_SEED=${seed}`);
  });
});
