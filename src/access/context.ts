import { forbidden } from '../platform/errors.ts';
import { roleAllows, type FhirAction, type RoleDefinition } from './roles.ts';

export interface Principal {
  kind: 'client' | 'user';
  /** app client id or user id */
  id: string;
  /** home builder (null only for the platform admin) */
  builderId: string | null;
  role: RoleDefinition;
  /** the bootstrap platform-admin client: manages builders and grants, sees no FHIR data of its own */
  isPlatformAdmin: boolean;
  /** users: their email */
  email?: string;
}

/**
 * What one request may do: who it is and which builders it acts for. Built once per request by the auth layer
 * from the token and the `Zus-Account` header; every capability reads data only through it.
 */
export interface AccessContext {
  principal: Principal;
  /** builders whose own data this request reads (its builder, or the one named by Zus-Account, or it + grantors) */
  readBuilderIds: string[];
  /** builder that owns what this request writes (null: this request may not write FHIR data) */
  writeBuilderId: string | null;
  /** builder named by the Zus-Account header, if any */
  accountHeader: string | null;
  /**
   * The builders among readBuilderIds reached through a cross-builder grant (read per request, never from the
   * token). Requests touching their data are audited. Absent or empty: no grant in play.
   */
  grantorBuilderIds?: string[];
  /**
   * `firstparty=true` on a search: only the acting builders' own data that did not come from a network (no
   * third-party source tag) — no other builder's shared data (src/access/policy.ts).
   */
  firstParty?: boolean;
  /** conditional writes and conditional references: only the acting builders' own data (no shared data) */
  ownDataOnly?: boolean;
}

export function allowsFhir(ctx: AccessContext, action: FhirAction, resourceType: string): boolean {
  return roleAllows(ctx.principal.role, `fhir:${action}:${resourceType}`);
}

/** Throws 403 unless the principal's role grants the FHIR action on the type. */
export function requireFhir(ctx: AccessContext, action: FhirAction, resourceType: string): void {
  if (!allowsFhir(ctx, action, resourceType)) {
    throw forbidden(`Role '${ctx.principal.role.name}' may not ${action} ${resourceType}`);
  }
}

export function requirePermission(ctx: AccessContext, permission: string): void {
  if (!roleAllows(ctx.principal.role, permission)) throw forbidden(`Role '${ctx.principal.role.name}' lacks permission ${permission}`);
}
