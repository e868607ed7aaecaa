// THE sharing policy. Every read of FHIR data (read, search, _include, history, $everything, hooks, network
// responses) asks this module, which states the rule once as a SQL predicate and once as a function over a
// resource row; tests check the two against each other.
//
// Current rule set (issues 2, 3): a resource is visible when its owner is a builder the request acts for,
// except that a grantor's AuditEvents (the record of what grantees did through the grant) are never visible
// through the grant itself. The Designated Record Set / TPO / foundational rules of DESIGN.md are added here (issue 4), nowhere else.
import type { AccessContext } from './context.ts';

/** The columns of a stored resource the policy looks at. */
export interface PolicyRow {
  builder_id: string;
  type: string;
}

/**
 * SQL predicate: true for rows (`alias`.builder_id, `alias`.type …) the request may see. Appends its
 * parameters to `params` and refers to them by position.
 */
export function visibleSql(ctx: AccessContext, alias: string, params: unknown[]): string {
  const viaGrant = ctx.grantorBuilderIds ?? [];
  if (viaGrant.length === 0) {
    params.push(ctx.readBuilderIds);
    return `(${alias}.builder_id = ANY($${params.length}::text[]))`;
  }
  const own = ctx.readBuilderIds.filter((b) => !viaGrant.includes(b));
  params.push(own);
  const ownP = params.length;
  params.push(viaGrant.filter((b) => ctx.readBuilderIds.includes(b)));
  return `(${alias}.builder_id = ANY($${ownP}::text[]) OR (${alias}.builder_id = ANY($${params.length}::text[]) AND ${alias}.type <> '${AUDIT_EVENT}'))`;
}

const AUDIT_EVENT = 'AuditEvent';

/** The same rule over one row. */
export function isVisible(ctx: AccessContext, row: PolicyRow): boolean {
  if (!ctx.readBuilderIds.includes(row.builder_id)) return false;
  return !(ctx.grantorBuilderIds ?? []).includes(row.builder_id) || row.type !== AUDIT_EVENT;
}

/** Whether the request may change (update/delete) a resource owned by `ownerBuilderId`. */
export function isWritableOwner(ctx: AccessContext, ownerBuilderId: string): boolean {
  return ctx.writeBuilderId !== null && ctx.writeBuilderId === ownerBuilderId;
}
