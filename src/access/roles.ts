// The managed roles (notes §5, issue 3). Permissions are data: "fhir:<action>:<resource type or *>" plus
// management permissions; a leading "-" denies and wins over any grant (so "all types but AuditEvent" is data
// too). The role list is served by GET /auth/roles.
export type RoleName = 'Builder Admin' | 'Care Team User' | 'Permissionless' | 'Platform';
export type FhirAction = 'read' | 'create' | 'update' | 'delete';

export interface RoleDefinition {
  id: string;
  name: RoleName;
  description: string;
  permissions: string[];
}

/** Types a Care Team User may write (issue 3). */
export const CARE_TEAM_WRITABLE_TYPES = [
  'Patient', 'CarePlan', 'CareTeam', 'Goal', 'Task', 'Communication', 'Appointment', 'QuestionnaireResponse',
] as const;

const AUDIT_WRITE_DENIED = ['-fhir:create:AuditEvent', '-fhir:update:AuditEvent', '-fhir:delete:AuditEvent'];

// Fixed ids so that clients can hard-code them across installations, like managed roles on the reference platform.
export const MANAGED_ROLES: readonly RoleDefinition[] = [
  {
    id: '6d0a3b7e-0c1f-4a8e-9b1e-000000000001',
    name: 'Builder Admin',
    description: 'Full FHIR create, read, update and delete on the builder\'s data; manages users and app clients; may use cross-builder grants.',
    // AuditEvents are written only by the platform and never changed by anyone.
    permissions: ['fhir:read:*', 'fhir:create:*', 'fhir:update:*', 'fhir:delete:*', ...AUDIT_WRITE_DENIED, 'auth:users:manage', 'auth:app-clients:manage', 'auth:cross-builder-grants:use', 'hooks:manage', 'patient-history:manage', 'subscriptions:manage'],
  },
  {
    id: '6d0a3b7e-0c1f-4a8e-9b1e-000000000002',
    name: 'Care Team User',
    description: 'Reads everything its builder may read; writes only Patient, CarePlan, CareTeam, Goal, Task, Communication, Appointment and QuestionnaireResponse.',
    // The audit trail of cross-builder access is for Builder Admins only.
    permissions: ['fhir:read:*', '-fhir:read:AuditEvent', ...CARE_TEAM_WRITABLE_TYPES.flatMap((t) => [`fhir:create:${t}`, `fhir:update:${t}`]), 'patient-history:manage', 'subscriptions:manage'],
  },
  {
    id: '6d0a3b7e-0c1f-4a8e-9b1e-000000000003',
    name: 'Permissionless',
    description: 'No permissions.',
    permissions: [],
  },
];

/** Not a managed role (never listed nor assignable): the platform itself when it records AuditEvents. */
export const PLATFORM_AUDIT_ROLE: RoleDefinition = {
  id: '6d0a3b7e-0c1f-4a8e-9b1e-0000000000ff',
  name: 'Platform',
  description: 'The platform recording audit events',
  permissions: ['fhir:create:AuditEvent'],
};

export function roleByName(name: string): RoleDefinition | undefined {
  return MANAGED_ROLES.find((r) => r.name.toLowerCase() === name.toLowerCase());
}
export function roleById(id: string): RoleDefinition | undefined {
  return MANAGED_ROLES.find((r) => r.id === id);
}

export function roleAllows(role: RoleDefinition, permission: string): boolean {
  if (role.permissions.includes(`-${permission}`)) return false;
  if (role.permissions.includes(permission)) return true;
  const parts = permission.split(':');
  if (parts.length === 3) return role.permissions.includes(`${parts[0]}:${parts[1]}:*`);
  return false;
}
