// The sharing policy exists twice — as a SQL predicate (visibleSql) and as a function over a row (isVisible).
// Random contexts (with and without grants) against every (owner, type) row: both forms must agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPGlite } from '../../src/db/pglite.ts';
import { isVisible, visibleSql, isWritableOwner } from '../../src/access/policy.ts';
import { roleByName } from '../../src/access/roles.ts';
import type { AccessContext } from '../../src/access/context.ts';

test('visibleSql and isVisible agree on random contexts', async () => {
  const db = await openPGlite();
  try {
    const builders = ['b1', 'b2', 'b3', 'b4', "o'brien"];
    const types = ['Patient', 'Observation', 'AuditEvent'];
    const rows = builders.flatMap((b) => types.map((t) => ({ builder_id: b, type: t })));
    const values = rows.map((_, i) => `($${2 * i + 1}, $${2 * i + 2})`).join(', ');
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 200; i++) {
      const read = builders.filter(() => rnd() < 0.5);
      const grantors = read.filter(() => rnd() < 0.5);
      const ctx: AccessContext = {
        principal: { kind: 'client', id: 'c', builderId: read[0] ?? 'b1', role: roleByName('Builder Admin')!, isPlatformAdmin: false },
        readBuilderIds: read,
        writeBuilderId: read[0] ?? null,
        accountHeader: null,
        ...(rnd() < 0.8 ? { grantorBuilderIds: grantors } : {}),
      };
      const params: unknown[] = rows.flatMap((r) => [r.builder_id, r.type]);
      const pred = visibleSql(ctx, 'r', params);
      const got = (await db.query<{ builder_id: string; type: string }>(`SELECT builder_id, type FROM (VALUES ${values}) AS r(builder_id, type) WHERE ${pred}`, params)).rows
        .map((r) => `${r.builder_id}|${r.type}`).sort();
      const want = rows.filter((r) => isVisible(ctx, r)).map((r) => `${r.builder_id}|${r.type}`).sort();
      assert.deepEqual(got, want, JSON.stringify(ctx));
      // a grantor's AuditEvents are never visible through the grant
      for (const g of ctx.grantorBuilderIds ?? []) assert.equal(isVisible(ctx, { builder_id: g, type: 'AuditEvent' }), false);
      if (ctx.writeBuilderId) assert.equal(isWritableOwner(ctx, ctx.writeBuilderId), true);
      assert.equal(isWritableOwner(ctx, 'elsewhere'), false);
    }
  } finally {
    await db.close();
  }
});
