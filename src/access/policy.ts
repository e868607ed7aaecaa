// THE sharing policy. Every read of FHIR data (read, search, _include, history, $everything, hooks, network
// responses) asks this module, which states the rule once as a SQL predicate and once as a function over a
// resource row; tests check the two against each other.
//
// Current rule set (issue 2): a resource is visible when its owner is a builder the request acts for.
// The Designated Record Set / TPO / foundational rules of DESIGN.md are added here (issue 4), nowhere else.
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
  params.push(ctx.readBuilderIds);
  return `(${alias}.builder_id = ANY($${params.length}::text[]))`;
}

/** The same rule over one row. */
export function isVisible(ctx: AccessContext, row: PolicyRow): boolean {
  return ctx.readBuilderIds.includes(row.builder_id);
}

/** Whether the request may change (update/delete) a resource owned by `ownerBuilderId`. */
export function isWritableOwner(ctx: AccessContext, ownerBuilderId: string): boolean {
  return ctx.writeBuilderId !== null && ctx.writeBuilderId === ownerBuilderId;
}
