// Shared fixtures for the FHIR store tests: a store over a per-file test database and hand-made access contexts.
import { createTestDatabase } from '../../src/db/testing.ts';
import type { Database } from '../../src/db/types.ts';
import { FakeClock } from '../../src/platform/clock.ts';
import { roleByName, type RoleName } from '../../src/access/roles.ts';
import type { AccessContext } from '../../src/access/context.ts';
import { FhirStore } from '../../src/fhir/store/index.ts';

export function ctxFor(builderId: string, role: RoleName = 'Builder Admin'): AccessContext {
  return {
    principal: { kind: 'client', id: `client-${builderId}`, builderId, role: roleByName(role)!, isPlatformAdmin: false },
    readBuilderIds: [builderId],
    writeBuilderId: builderId,
    accountHeader: null,
  };
}

export async function createStoreFixture(): Promise<{ db: Database; clock: FakeClock; store: FhirStore }> {
  const db = await createTestDatabase();
  const clock = new FakeClock('2026-01-01T00:00:00Z');
  const store = new FhirStore({ db, clock, config: { baseUrl: 'http://tessera.test', maxPageSize: 500, defaultPageSize: 20 } });
  return { db, clock, store };
}

export async function counts(db: Database): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of ['resources', 'resource_versions', 'idx_token', 'idx_string', 'idx_reference', 'idx_date', 'outbox']) {
    out[t] = Number((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`)).rows[0]!.n);
  }
  return out;
}

export const qs = (s: string): [string, string][] => [...new URLSearchParams(s)];
