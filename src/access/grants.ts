// Cross-builder grants: the grantor lets the grantee's Builder Admins act on its data. One direction, created and
// revoked only by the platform admin. They are read on every request (never copied into tokens), so a
// revocation applies to the very next request.
import type { Database } from '../db/types.ts';
import type { Clock } from '../platform/clock.ts';
import { newId } from '../platform/ids.ts';
import { badRequest, conflict, notFound } from '../platform/errors.ts';

export interface GrantRow {
  id: string;
  grantor_builder_id: string;
  grantee_builder_id: string;
  relationship: string;
  created_by: string;
  created_at: Date;
  revoked_at: Date | null;
  revoked_by: string | null;
}

export class GrantService {
  constructor(private readonly db: Database, private readonly clock: Clock) {}

  async create(input: { grantorBuilderId: string; granteeBuilderId: string; relationship: unknown; createdBy: string }): Promise<GrantRow> {
    const relationship = typeof input.relationship === 'string' ? input.relationship.trim() : '';
    if (!relationship) throw badRequest('The nature of the business relationship is required', [{ code: 'required', message: 'relationship is required', path: '/data/attributes/relationship' }]);
    if (relationship.length > 2000) throw badRequest('relationship is too long (max 2000 characters)', [{ code: 'value', message: 'relationship is too long', path: '/data/attributes/relationship' }]);
    if (input.grantorBuilderId === input.granteeBuilderId) throw badRequest('A builder cannot grant access to itself', [{ code: 'value', message: 'grantor and grantee must differ', path: '/data/relationships/grantee' }]);
    return this.db.transaction(async (tx) => {
      const found = await tx.query<{ id: string }>('SELECT id FROM builders WHERE id = ANY($1::text[])', [[input.grantorBuilderId, input.granteeBuilderId]]);
      const ids = new Set(found.rows.map((r) => r.id));
      if (!ids.has(input.grantorBuilderId)) throw notFound(`Builder '${input.grantorBuilderId}' (grantor) not found`);
      if (!ids.has(input.granteeBuilderId)) throw notFound(`Builder '${input.granteeBuilderId}' (grantee) not found`);
      try {
        return (await tx.query<GrantRow>(
          `INSERT INTO cross_builder_grants (id, grantor_builder_id, grantee_builder_id, relationship, created_by, created_at)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
          [newId(), input.grantorBuilderId, input.granteeBuilderId, relationship, input.createdBy, this.clock.now()],
        )).rows[0]!;
      } catch (err) {
        if ((err as { code?: string }).code === '23505') throw conflict('An active grant between these builders already exists');
        throw err;
      }
    });
  }

  async get(id: string): Promise<GrantRow | undefined> {
    return (await this.db.query<GrantRow>('SELECT * FROM cross_builder_grants WHERE id = $1', [id])).rows[0];
  }

  async list(filter: { grantorBuilderId?: string; granteeBuilderId?: string; includeRevoked?: boolean }, limit: number, offset: number): Promise<{ rows: GrantRow[]; total: number }> {
    const params: unknown[] = [];
    const conds: string[] = [];
    if (filter.grantorBuilderId) { params.push(filter.grantorBuilderId); conds.push(`grantor_builder_id = $${params.length}`); }
    if (filter.granteeBuilderId) { params.push(filter.granteeBuilderId); conds.push(`grantee_builder_id = $${params.length}`); }
    if (!filter.includeRevoked) conds.push('revoked_at IS NULL');
    const where = conds.length ? `WHERE ${conds.join(' AND ')}` : '';
    const total = (await this.db.query<{ n: number }>(`SELECT count(*)::int8 AS n FROM cross_builder_grants ${where}`, params)).rows[0]!.n;
    const rows = (await this.db.query<GrantRow>(
      `SELECT * FROM cross_builder_grants ${where} ORDER BY created_at, id LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
      [...params, limit, offset],
    )).rows;
    return { rows, total };
  }

  /** Revokes an active grant (idempotent: revoking a revoked grant returns it unchanged). */
  async revoke(id: string, by: string): Promise<GrantRow> {
    const r = await this.db.query<GrantRow>('UPDATE cross_builder_grants SET revoked_at = $2, revoked_by = $3 WHERE id = $1 AND revoked_at IS NULL RETURNING *', [id, this.clock.now(), by]);
    if (r.rows[0]) return r.rows[0];
    const existing = await this.get(id);
    if (!existing) throw notFound('Grant not found');
    return existing;
  }
}

/**
 * Builders that currently grant access to the grantee (a builder id expression), in a stable order, as an SQL
 * expression (text[]): authentication reads the principal and its grants in one statement.
 */
export function grantorsSql(granteeExpr: string): string {
  return `ARRAY(SELECT g.grantor_builder_id FROM cross_builder_grants g WHERE g.grantee_builder_id = ${granteeExpr} AND g.revoked_at IS NULL ORDER BY g.grantor_builder_id)`;
}
