import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Database } from '../../src/db/types.ts';
import type { FakeClock } from '../../src/platform/clock.ts';
import { FhirStore, fhirStoreFor, OWNER_TAG_SYSTEM, CREATED_AT_URL, SOURCE_TAG_SYSTEM, UPID_SYSTEM, type FhirResource } from '../../src/fhir/store/index.ts';
import { ctxFor, createStoreFixture, counts } from './helpers.ts';

let db: Database;
let clock: FakeClock;
let store: FhirStore;
const A = ctxFor('builder-a');
const B = ctxFor('builder-b');

before(async () => ({ db, clock, store } = await createStoreFixture()));
after(async () => db.close());

const patient = (family: string, extra: Record<string, unknown> = {}): FhirResource => ({
  resourceType: 'Patient', name: [{ family, given: ['Ann'] }], birthDate: '1980-05-06', ...extra,
});

async function status(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 0;
  } catch (e) {
    return (e as { status?: number }).status ?? -1;
  }
}

describe('create / read / update / delete', () => {
  test('create stamps meta: versionId, lastUpdated, created-at extension, owner tag', async () => {
    const o = await store.create(A, patient('Meta'));
    assert.equal(o.outcome, 'created');
    assert.equal(o.versionId, 1);
    const r = o.resource!;
    assert.equal(r.meta!.versionId, '1');
    assert.equal(r.meta!.lastUpdated, '2026-01-01T00:00:00.000Z');
    assert.deepEqual(r.meta!.extension, [{ url: CREATED_AT_URL, valueInstant: '2026-01-01T00:00:00.000Z' }]);
    assert.deepEqual(r.meta!.tag, [{ system: OWNER_TAG_SYSTEM, code: 'builder/builder-a' }]);
    const read = await store.read(A, 'Patient', o.id);
    assert.deepEqual(read.resource, r);
  });

  test('a client-supplied owner tag is replaced, not kept; created-at survives updates', async () => {
    const o = await store.create(A, patient('Owner', { meta: { tag: [{ system: OWNER_TAG_SYSTEM, code: 'builder/evil' }, { system: 'x', code: 'y' }] } }));
    assert.deepEqual(o.resource!.meta!.tag, [{ system: 'x', code: 'y' }, { system: OWNER_TAG_SYSTEM, code: 'builder/builder-a' }]);
    clock.advance(60_000);
    const u = await store.update(A, 'Patient', o.id, { ...o.resource!, meta: { tag: [{ system: OWNER_TAG_SYSTEM, code: 'builder/builder-b' }] }, gender: 'female' });
    assert.equal(u.versionId, 2);
    assert.deepEqual(u.resource!.meta!.tag, [{ system: OWNER_TAG_SYSTEM, code: 'builder/builder-a' }]);
    assert.equal((u.resource!.meta!.extension as unknown as { valueInstant: string }[])[0]!.valueInstant, '2026-01-01T00:00:00.000Z');
    assert.notEqual(u.resource!.meta!.lastUpdated, o.resource!.meta!.lastUpdated);
  });

  test('update with If-Match: current version passes, stale version → 412', async () => {
    const o = await store.create(A, patient('IfMatch'));
    await store.update(A, 'Patient', o.id, { ...o.resource!, gender: 'male' }, { ifMatch: '1' });
    assert.equal(await status(store.update(A, 'Patient', o.id, { ...o.resource!, gender: 'other' }, { ifMatch: '1' })), 412);
    assert.equal((await store.read(A, 'Patient', o.id)).resource!.gender, 'male');
  });

  test('update-as-create with a client id; same id in another builder → 409, nothing revealed or written', async () => {
    const o = await store.update(A, 'Patient', 'client-chosen-1', { ...patient('Chosen'), id: 'client-chosen-1' });
    assert.equal(o.outcome, 'created');
    const before = await counts(db);
    assert.equal(await status(store.update(B, 'Patient', 'client-chosen-1', { ...patient('Other'), id: 'client-chosen-1' })), 409);
    assert.deepEqual(await counts(db), before);
    assert.equal(await status(store.read(B, 'Patient', 'client-chosen-1')), 404);
  });

  test('id in body must match the URL id; resourceType must match', async () => {
    const o = await store.create(A, patient('Ids'));
    assert.equal(await status(store.update(A, 'Patient', o.id, { ...o.resource!, id: 'other' })), 400);
    assert.equal(await status(store.update(A, 'Observation', o.id, o.resource!)), 400);
    assert.equal(await status(store.update(A, 'NotAType', o.id, o.resource!)), 404);
  });

  test('delete leaves a versioned tombstone: read → 410, vread of old version works, history lists the delete', async () => {
    const o = await store.create(A, patient('Deleted'));
    const d = await store.delete(A, 'Patient', o.id);
    assert.equal(d.outcome, 'deleted');
    assert.equal(d.versionId, 2);
    assert.equal(await status(store.read(A, 'Patient', o.id)), 410);
    assert.equal((await store.vread(A, 'Patient', o.id, '1')).resource!.id, o.id);
    assert.equal(await status(store.vread(A, 'Patient', o.id, '2')), 410);
    const h = await store.history(A, { type: 'Patient', id: o.id, count: 10 });
    assert.deepEqual(h.entries.map((e) => [e.versionId, e.method]), [[2, 'DELETE'], [1, 'POST']]);
    // deleting again or deleting something missing changes nothing
    assert.equal((await store.delete(A, 'Patient', o.id)).outcome, 'unchanged');
    assert.equal((await store.delete(A, 'Patient', 'never-existed')).outcome, 'unchanged');
    // re-creating by PUT continues the version sequence
    const again = await store.update(A, 'Patient', o.id, { ...patient('Deleted'), id: o.id });
    assert.equal(again.outcome, 'created');
    assert.equal(again.versionId, 3);
  });

  test('JSON Patch applies, validates the result and keeps id/type', async () => {
    const o = await store.create(A, patient('Patchy'));
    const p = await store.patch(A, 'Patient', o.id, [{ op: 'replace', path: '/name/0/family', value: 'Patched' }, { op: 'add', path: '/active', value: true }]);
    assert.equal(p.versionId, 2);
    assert.equal((p.resource!.name as { family: string }[])[0]!.family, 'Patched');
    assert.equal(await status(store.patch(A, 'Patient', o.id, [{ op: 'add', path: '/bogusElement', value: 1 }])), 400);
    assert.equal(await status(store.patch(A, 'Patient', o.id, [{ op: 'replace', path: '/id', value: 'x' }])), 422);
    assert.equal(await status(store.patch(A, 'Patient', o.id, [{ op: 'test', path: '/active', value: false }])), 422);
    assert.equal(await status(store.patch(A, 'Patient', o.id, { not: 'an array' })), 400);
    assert.equal((await store.read(A, 'Patient', o.id)).versionId, 2);
  });

  test('validation: unknown element → 400, bad required-binding code → 422, nothing written', async () => {
    const before = await counts(db);
    assert.equal(await status(store.create(A, { resourceType: 'Patient', foo: 1 })), 400);
    assert.equal(await status(store.create(A, { resourceType: 'Patient', gender: 'robot' })), 422);
    assert.equal(await status(store.create(A, { resourceType: 'Patient', birthDate: '1980-13-45' })), 400);
    assert.deepEqual(await counts(db), before);
  });

  test('one transaction per write: resource, version, index rows and an outbox event', async () => {
    const before = await counts(db);
    const o = await store.create(A, patient('Outbox', { identifier: [{ system: 'urn:s', value: 'v1' }] }));
    const after = await counts(db);
    assert.equal(after.resources, before.resources + 1);
    assert.equal(after.resource_versions, before.resource_versions + 1);
    assert.ok(after.idx_token > before.idx_token && after.idx_string > before.idx_string);
    const ev = (await db.query<{ event: Record<string, unknown> }>('SELECT event FROM outbox ORDER BY seq DESC LIMIT 1')).rows[0]!.event;
    assert.deepEqual(ev, { action: 'create', resourceType: 'Patient', id: o.id, versionId: '1', builderId: 'builder-a', upid: null, lastUpdated: o.lastUpdated!.toISOString() });
  });

  test('third-party source tags: clients get 403, platform writers may set them', async () => {
    const tagged = patient('Source', { meta: { tag: [{ system: SOURCE_TAG_SYSTEM, code: 'commonwell' }] } });
    assert.equal(await status(store.create(A, tagged)), 403);
    const o = await store.create(A, tagged, { platform: true });
    const row = (await db.query<{ source: string }>('SELECT source FROM resources WHERE type = $1 AND id = $2', ['Patient', o.id])).rows[0]!;
    assert.equal(row.source, 'commonwell');
    assert.equal(await status(store.update(A, 'Patient', o.id, { ...patient('Source2'), id: o.id })), 403);
    assert.equal(await status(store.delete(A, 'Patient', o.id)), 403);
  });

  test('roles: Permissionless cannot read or write; Care Team User cannot write Observation', async () => {
    assert.equal(await status(store.create(ctxFor('builder-a', 'Permissionless'), patient('Role'))), 403);
    const o = await store.create(A, patient('Role'));
    assert.equal(await status(store.read(ctxFor('builder-a', 'Permissionless'), 'Patient', o.id)), 403);
    assert.equal(await status(store.create(ctxFor('builder-a', 'Care Team User'), { resourceType: 'Observation', status: 'final', code: { text: 'x' } })), 403);
    assert.equal((await store.create(ctxFor('builder-a', 'Care Team User'), patient('CareTeam'))).outcome, 'created');
  });

  test('write interceptors run inside the transaction and may stamp the resource (UPID column follows)', async () => {
    const s2 = new FhirStore({ db, clock, config: { baseUrl: 'http://tessera.test', maxPageSize: 500, defaultPageSize: 20 } });
    const seen: (string | null)[] = [];
    s2.addWriteInterceptor(async (tx, _ctx, resource, previous) => {
      assert.ok(tx);
      seen.push(previous ? String(previous.id) : null);
      if (resource.resourceType === 'Patient') resource.identifier = [{ system: UPID_SYSTEM, value: 'upid-123' }];
    });
    const o = await s2.create(A, patient('Upid'));
    await s2.update(A, 'Patient', o.id, { ...o.resource!, active: true });
    assert.deepEqual(seen, [null, o.id]);
    const row = (await db.query<{ upid: string }>('SELECT upid FROM resources WHERE type = $1 AND id = $2', ['Patient', o.id])).rows[0]!;
    assert.equal(row.upid, 'upid-123');
    // a failing interceptor rolls the whole write back
    s2.addWriteInterceptor(async () => { throw new Error('boom'); });
    const before = await counts(db);
    await assert.rejects(s2.create(A, patient('Boom')));
    assert.deepEqual(await counts(db), before);
  });

  test('fhirStoreFor gives every capability of one platform the same store', () => {
    const services = { db, clock, config: { baseUrl: 'http://tessera.test', maxPageSize: 500, defaultPageSize: 20 } };
    assert.equal(fhirStoreFor(services), fhirStoreFor(services));
    assert.notEqual(fhirStoreFor(services), fhirStoreFor({ ...services }));
  });

  test('restricted column follows meta.security R/V', async () => {
    const o = await store.create(A, patient('Restricted', { meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] } }));
    const row = (await db.query<{ restricted: boolean }>('SELECT restricted FROM resources WHERE type = $1 AND id = $2', ['Patient', o.id])).rows[0]!;
    assert.equal(row.restricted, true);
  });
});

describe('conditional operations', () => {
  test('conditional create: none → create, one → existing returned, several → 412', async () => {
    const r = patient('Cond', { identifier: [{ system: 'urn:cond', value: 'c1' }] });
    const first = await store.conditionalCreate(A, r, 'identifier=urn:cond|c1');
    assert.equal(first.outcome, 'created');
    const second = await store.conditionalCreate(A, r, 'identifier=urn:cond|c1');
    assert.equal(second.outcome, 'unchanged');
    assert.equal(second.id, first.id);
    await store.create(A, r);
    assert.equal(await status(store.conditionalCreate(A, r, 'identifier=urn:cond|c1')), 412);
    // another builder's identical data is invisible: B creates its own
    assert.equal((await store.conditionalCreate(B, r, 'identifier=urn:cond|c1')).outcome, 'created');
  });

  test('conditional update (upsert) as in the Patient History guide', async () => {
    const body = patient('Bergamel', { identifier: [{ system: 'https://zusapi.com/test', value: 'test-identifier-value' }] });
    const c = await store.conditionalUpdate(A, 'Patient', 'identifier=https://zusapi.com/test|test-identifier-value', body);
    assert.equal(c.outcome, 'created');
    const u = await store.conditionalUpdate(A, 'Patient', 'identifier=https://zusapi.com/test|test-identifier-value', { ...body, gender: 'male' });
    assert.equal(u.outcome, 'updated');
    assert.equal(u.id, c.id);
    assert.equal(u.versionId, 2);
    const other = await store.conditionalUpdate(B, 'Patient', 'identifier=https://zusapi.com/test|test-identifier-value', body);
    assert.equal(other.outcome, 'created');
    assert.notEqual(other.id, c.id);
    await store.create(A, body);
    assert.equal(await status(store.conditionalUpdate(A, 'Patient', 'identifier=https://zusapi.com/test|test-identifier-value', body)), 412);
    assert.equal(await status(store.conditionalUpdate(A, 'Patient', '', body)), 400);
    assert.equal(await status(store.conditionalUpdate(A, 'Patient', 'bogus-param=1', body)), 400);
  });

  test('conditional delete: single match deleted, several → 412, none → no-op', async () => {
    const r = patient('CondDel', { identifier: [{ system: 'urn:del', value: 'd1' }] });
    const o = await store.create(A, r);
    await store.create(B, r);
    assert.equal((await store.conditionalDelete(A, 'Patient', 'identifier=urn:del|d1')).outcome, 'deleted');
    assert.equal(await status(store.read(A, 'Patient', o.id)), 410);
    assert.equal((await store.conditionalDelete(A, 'Patient', 'identifier=urn:del|d1')).outcome, 'unchanged');
    await store.create(A, r);
    await store.create(A, r);
    assert.equal(await status(store.conditionalDelete(A, 'Patient', 'identifier=urn:del|d1')), 412);
    // B's copy was never touched
    const bs = await store.search(B, 'Patient', [['identifier', 'urn:del|d1']]);
    assert.equal(bs.result.matches.length, 1);
  });
});

describe('history', () => {
  test('type history pages newest first with _since and a cursor', async () => {
    const { store: s, db: d, clock: c } = await createStoreFixture();
    try {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        c.advance(1000);
        ids.push((await s.create(A, { resourceType: 'Practitioner', name: [{ family: `P${i}` }] })).id);
      }
      const p1 = await s.history(A, { type: 'Practitioner', count: 2 });
      assert.equal(p1.entries.length, 2);
      assert.equal(p1.entries[0]!.id, ids[4]);
      const p2 = await s.history(A, { type: 'Practitioner', count: 2, cursor: p1.nextCursor });
      const p3 = await s.history(A, { type: 'Practitioner', count: 2, cursor: p2.nextCursor });
      assert.deepEqual([...p1.entries, ...p2.entries, ...p3.entries].map((e) => e.id), [...ids].reverse());
      assert.equal(p3.nextCursor, null);
      const since = await s.history(A, { type: 'Practitioner', count: 10, since: new Date(c.nowMs() - 1500) });
      assert.equal(since.entries.length, 2);
      assert.equal((await s.history(B, { type: 'Practitioner', count: 10 })).entries.length, 0);
    } finally {
      await d.close();
    }
  });
});

describe('resource ids', () => {
  test('new ids are UUIDv7, increasing; a create with a taken preassigned id is a 409, never an overwrite', async () => {
    const a = await store.create(A, patient('IdOne'));
    const b = await store.create(A, patient('IdTwo'));
    assert.match(a.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(b.id > a.id);
    const before = await counts(db);
    const taken = await db.transaction((tx) => store.writeBatch(tx, B, [{ action: 'create', type: 'Patient', id: a.id, resource: patient('Takeover') }])).then(() => 0, (e: { status?: number }) => e.status);
    assert.equal(taken, 409);
    assert.deepEqual(await counts(db), before);
    assert.equal(((await store.read(A, 'Patient', a.id)).resource!.name as { family: string }[])[0]!.family, 'IdOne');
  });
});

describe('planner statistics', () => {
  test('analyzeNow gives the planner row counts for the FHIR tables (PGlite has no autovacuum)', async () => {
    await store.create(A, patient('Stats'));
    await store.analyzeNow();
    const r = await db.query<{ n: number }>(`SELECT reltuples::float8 AS n FROM pg_class WHERE relname = 'idx_token'`);
    assert.ok(Number(r.rows[0]!.n) > 0);
  });
});
