// The sharing policy exists twice — as a SQL predicate (visibleSql, viaReferenceSql) and as a function over a row
// (isVisible, isVisibleViaReference). Random contexts (with and without grants, firstparty, sharing known or not)
// and random treatment relationships (sharing_pairs) against rows of every (owner, type, upid, restricted,
// source) shape: both forms must agree. Runs on PGlite, and on PostgreSQL with DATABASE_URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase } from '../../src/db/testing.ts';
import { isVisible, isVisibleViaReference, isWritableOwner, loadSharingFacts, prepareSharing, viaReferenceSql, visibleSql, type PolicyRow } from '../../src/access/policy.ts';
import { roleByName } from '../../src/access/roles.ts';
import type { AccessContext } from '../../src/access/context.ts';
import { seededRandom } from '../../src/platform/random.ts';

test('visibleSql / viaReferenceSql and isVisible / isVisibleViaReference agree on random contexts', async () => {
  const db = await createTestDatabase();
  try {
    const builders = ['b1', 'b2', 'b3', 'b4', "o'brien"];
    const types = ['Patient', 'Observation', 'AuditEvent', 'Practitioner', 'Provenance', 'Binary', 'Basic'];
    const upids = ['u1', 'u2', 'u3', null];
    const rows: Required<PolicyRow>[] = [];
    for (const b of builders) for (const t of types) for (const u of upids) for (const restricted of [false, true]) {
      rows.push({ builder_id: b, type: t, upid: u, restricted, source: restricted ? null : u === 'u2' ? 'commonwell' : null });
    }
    const key = (r: PolicyRow) => `${r.builder_id}|${r.type}|${r.upid}|${r.restricted}|${r.source}`;
    const cols = 5;
    const values = rows.map((_, i) => `($${cols * i + 1}, $${cols * i + 2}, $${cols * i + 3}, $${cols * i + 4}::boolean, $${cols * i + 5})`).join(', ');
    const rowParams = () => rows.flatMap((r) => [r.builder_id, r.type, r.upid, r.restricted, r.source]);
    const rnd = seededRandom(7);
    for (let i = 0; i < 150; i++) {
      // random treatment relationships
      await db.query('DELETE FROM sharing_pairs');
      for (const u of ['u1', 'u2', 'u3']) for (const o of builders) for (const v of builders) {
        if (o !== v && rnd() < 0.2) await db.query('INSERT INTO sharing_pairs (upid, owner_id, viewer_id) VALUES ($1, $2, $3)', [u, o, v]);
      }
      const read = builders.filter(() => rnd() < 0.5);
      const grantors = read.filter(() => rnd() < 0.5);
      const ctx: AccessContext = {
        principal: { kind: 'client', id: 'c', builderId: read[0] ?? 'b1', role: roleByName('Builder Admin')!, isPlatformAdmin: false },
        readBuilderIds: read,
        writeBuilderId: read[0] ?? null,
        accountHeader: null,
        ...(rnd() < 0.8 ? { grantorBuilderIds: grantors } : {}),
        ...(rnd() < 0.2 ? { firstParty: true } : {}),
        ...(rnd() < 0.1 ? { ownDataOnly: true } : {}),
      };
      if (rnd() < 0.5) await prepareSharing(db, ctx);
      const facts = await loadSharingFacts(db, ctx);

      const params: unknown[] = rowParams();
      const pred = visibleSql(ctx, 'r', params);
      const got = (await db.query<PolicyRow>(`SELECT * FROM (VALUES ${values}) AS r(builder_id, type, upid, restricted, source) WHERE ${pred}`, params)).rows.map(key).sort();
      const want = rows.filter((r) => isVisible(ctx, r, facts)).map(key).sort();
      assert.deepEqual(got, want, JSON.stringify(ctx));

      // rule 3: a target reached from a visible source
      const sources = rows.filter((r) => isVisible(ctx, r, facts) && r.upid !== null);
      const src = sources.length ? sources[Math.floor(rnd() * sources.length)]! : null;
      if (src) {
        const p2: unknown[] = [...rowParams(), src.type, src.builder_id];
        const srcType = `$${rows.length * cols + 1}::text`;
        const srcOwner = `$${rows.length * cols + 2}::text`;
        const pred2 = `(${visibleSql(ctx, 't', p2)} OR ${viaReferenceSql(ctx, 't', srcType, srcOwner, p2)})`;
        const got2 = (await db.query<PolicyRow>(`SELECT * FROM (VALUES ${values}) AS t(builder_id, type, upid, restricted, source) WHERE ${srcType} IS NOT NULL AND ${srcOwner} IS NOT NULL AND ${pred2}`, p2)).rows.map(key).sort();
        const want2 = rows.filter((r) => isVisibleViaReference(ctx, r, src, facts)).map(key).sort();
        assert.deepEqual(got2, want2, `${JSON.stringify(ctx)} from ${key(src)}`);
      }
      // a grantor's AuditEvents are never visible through the grant
      for (const g of ctx.grantorBuilderIds ?? []) assert.equal(isVisible(ctx, { builder_id: g, type: 'AuditEvent' }, facts), false);
      if (ctx.writeBuilderId) assert.equal(isWritableOwner(ctx, ctx.writeBuilderId), true);
      assert.equal(isWritableOwner(ctx, 'elsewhere'), false);
    }
  } finally {
    await db.close();
  }
});

test('sharing_pairs follow Patient writes (triggers): active viewer, any-state owner, deletes and UPID moves', async () => {
  const db = await createTestDatabase();
  try {
    const put = async (id: string, builder: string, upid: string | null, active: boolean | undefined, deleted = false) => {
      const content = deleted ? null : JSON.stringify({ resourceType: 'Patient', id, ...(active === undefined ? {} : { active }) });
      await db.query(
        `INSERT INTO resources (type, id, version_id, builder_id, upid, restricted, deleted, source, created_at, last_updated, content)
         VALUES ('Patient', $1, 1, $2, $3, false, $4, NULL, now(), now(), $5::jsonb)
         ON CONFLICT (type, id) DO UPDATE SET builder_id = EXCLUDED.builder_id, upid = EXCLUDED.upid, deleted = EXCLUDED.deleted, content = EXCLUDED.content`,
        [id, builder, upid, deleted, content],
      );
    };
    const pairs = async () => (await db.query<{ p: string }>(`SELECT upid || ':' || owner_id || '>' || viewer_id AS p FROM sharing_pairs ORDER BY 1`)).rows.map((r) => r.p);
    await put('a1', 'A', 'U', true);
    assert.deepEqual(await pairs(), []);
    await put('b1', 'B', 'U', false);
    assert.deepEqual(await pairs(), ['U:B>A']);
    await put('b1', 'B', 'U', true);
    assert.deepEqual(await pairs(), ['U:A>B', 'U:B>A']);
    await put('c1', 'C', 'U', undefined);
    assert.deepEqual(await pairs(), ['U:A>B', 'U:B>A', 'U:C>A', 'U:C>B']);
    await put('a1', 'A', 'V', true); // A's patient re-linked to another person
    assert.deepEqual(await pairs(), ['U:C>B']);
    await put('b1', 'B', 'U', true, true); // deleted
    assert.deepEqual(await pairs(), []);
    await db.query("DELETE FROM resources WHERE type = 'Patient'");
    assert.deepEqual((await db.query('SELECT * FROM sharing_patients')).rows, []);
  } finally {
    await db.close();
  }
});

test('two builders linking the same person at the same moment both get the relationship (PostgreSQL)', async (t) => {
  const db = await createTestDatabase();
  try {
    if (db.kind !== 'postgres') return t.skip('needs concurrent connections');
    const insert = (id: string, builder: string) => db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO resources (type, id, version_id, builder_id, upid, restricted, deleted, source, created_at, last_updated, content)
         VALUES ('Patient', $1, 1, $2, 'SAME', false, false, NULL, now(), now(), '{"resourceType":"Patient","active":true}'::jsonb)`,
        [id, builder],
      );
      await tx.query('SELECT pg_sleep(0.3)');
    });
    await Promise.all([insert('x1', 'A'), insert('x2', 'B')]);
    const pairs = (await db.query<{ p: string }>(`SELECT owner_id || '>' || viewer_id AS p FROM sharing_pairs WHERE upid = 'SAME' ORDER BY 1`)).rows.map((r) => r.p);
    assert.deepEqual(pairs, ['A>B', 'B>A']);
  } finally {
    await db.close();
  }
});
