// THE sharing policy. Every read of FHIR data (read, search, _include, history, $everything, hooks, network
// responses) asks this module, which states the rule once as a SQL predicate and once as a function over a
// resource row; tests check the two against each other (test/access/policy.test.ts) and against an independent
// statement of the rules (test/access/sharing-random.test.ts). docs/sharing.md explains the rules and the SQL.
//
// A resource is visible to a request when
//  1. its owner is a builder the request acts for (ctx.readBuilderIds) — except a grantor's AuditEvents, which
//     are never visible through the grant itself; or
//  2. it is of a Designated Record Set type, not restricted (meta.security v3-Confidentiality R or V), carries a
//     UPID, and a builder the request acts for has an ACTIVE Patient with that UPID (treatment relationship, TPO)
//     while the owner has a Patient (any state) with that UPID — kept in `sharing_pairs` by triggers
//     (migration 0210); or
//  3. (includes and $everything only) it is a foundational type (Location, Medication, Organization, Practitioner,
//     PractitionerRole, Provenance) of the same owner as a visible DRS resource it is reached from through a
//     reference — never by a direct read or search.
// Writes: only the owner (isWritableOwner). `firstparty=true` narrows rule 1 to non-third-party rows and drops 2–3;
// conditional writes and conditional references (ctx.ownDataOnly) see rule 1 only.
import type { Queryable } from '../db/types.ts';
import type { AccessContext } from './context.ts';

// ---------------------------------------------------------------------------------------------- configuration

/**
 * Default Designated Record Set: the R4 Patient compartment's record types plus Binary (source documents such as
 * C-CDA and raw ADT messages, notes §1) and Device, minus what the notes rule out (AdverseEvent,
 * DeviceUseStatement: they fall between listed neighbours of the published table), the foundational Provenance
 * (rule 3), AuditEvent (access records), and administrative/definitional members (Basic, Group, Person, Schedule).
 */
export const DEFAULT_DRS_TYPES: readonly string[] = [
  'Account', 'AllergyIntolerance', 'Appointment', 'AppointmentResponse', 'Binary', 'BodyStructure', 'CarePlan', 'CareTeam',
  'ChargeItem', 'Claim', 'ClaimResponse', 'ClinicalImpression', 'Communication', 'CommunicationRequest', 'Composition',
  'Condition', 'Consent', 'Coverage', 'CoverageEligibilityRequest', 'CoverageEligibilityResponse', 'DetectedIssue', 'Device',
  'DeviceRequest', 'DiagnosticReport', 'DocumentManifest', 'DocumentReference', 'Encounter', 'EnrollmentRequest',
  'EpisodeOfCare', 'ExplanationOfBenefit', 'FamilyMemberHistory', 'Flag', 'Goal', 'ImagingStudy', 'Immunization',
  'ImmunizationEvaluation', 'ImmunizationRecommendation', 'Invoice', 'List', 'MeasureReport', 'Media',
  'MedicationAdministration', 'MedicationDispense', 'MedicationRequest', 'MedicationStatement', 'MolecularSequence',
  'NutritionOrder', 'Observation', 'Patient', 'Procedure', 'QuestionnaireResponse', 'RelatedPerson', 'RequestGroup',
  'ResearchSubject', 'RiskAssessment', 'ServiceRequest', 'Specimen', 'SupplyDelivery', 'SupplyRequest', 'VisionPrescription',
];

/** Foundational resources of another builder: only through a reference from a visible DRS resource (rule 3). */
export const FOUNDATIONAL_TYPES: readonly string[] = ['Location', 'Medication', 'Organization', 'Practitioner', 'PractitionerRole', 'Provenance'];

export const THIRD_PARTY_SOURCE_SYSTEM = 'https://zusapi.com/thirdparty/source';

let drsTypes: string[] = [...DEFAULT_DRS_TYPES];
let drsSet = new Set(drsTypes);
const foundationalSet = new Set(FOUNDATIONAL_TYPES);

/**
 * The DRS list from `TESSERA_DRS_TYPES` (comma-separated; entries `+Type` / `-Type` adjust the default, bare
 * names replace it). Unknown names are an error (checked by `isType`, the FHIR type registry).
 */
export function configureSharing(opts: { drsTypes?: string; isType?: (t: string) => boolean } = {}): void {
  const raw = (opts.drsTypes ?? process.env.TESSERA_DRS_TYPES ?? '').trim();
  let list = [...DEFAULT_DRS_TYPES];
  if (raw) {
    const parts = raw.split(',').map((s) => s.trim()).filter(Boolean);
    const deltas = parts.every((p) => p.startsWith('+') || p.startsWith('-'));
    if (!deltas) list = [];
    for (const p of parts) {
      const name = p.replace(/^[+-]/, '');
      if (opts.isType && !opts.isType(name)) throw new Error(`TESSERA_DRS_TYPES: '${name}' is not a FHIR R4 resource type`);
      if (foundationalSet.has(name)) throw new Error(`TESSERA_DRS_TYPES: '${name}' is a foundational type (shared only through references)`);
      if (name === 'AuditEvent') throw new Error('TESSERA_DRS_TYPES: AuditEvent records access and is never shared');
      if (p.startsWith('-')) list = list.filter((t) => t !== name);
      else if (!list.includes(name)) list.push(name);
    }
  }
  drsTypes = [...new Set(list)].sort();
  drsSet = new Set(drsTypes);
}

configureSharing();

export function designatedRecordSetTypes(): readonly string[] {
  return drsTypes;
}
export function isDrsType(type: string): boolean {
  return drsSet.has(type);
}
export function isFoundationalType(type: string): boolean {
  return foundationalSet.has(type);
}

// ------------------------------------------------------------------------------------ per-request sharing state

/**
 * Whether the builders a request acts for have any treatment relationship that reaches another builder's data
 * (a row in sharing_pairs). When they have none, every predicate below is exactly the own-builder one (same SQL,
 * same plans as without sharing). Not knowing (prepareSharing not called) means "maybe": the full predicate,
 * always correct. "Yes" is kept for the life of the context; "no" for a second (and forgotten on Patient writes).
 */
const sharingState = new WeakMap<AccessContext, { shared: boolean; at: number }>();
const NO_SHARING_TTL_MS = 1000;

export async function prepareSharing(db: Queryable, ctx: AccessContext): Promise<void> {
  if (ctx.firstParty || ctx.readBuilderIds.length === 0) return;
  const cur = sharingState.get(ctx);
  if (cur && (cur.shared || Date.now() - cur.at < NO_SHARING_TTL_MS)) return;
  const r = await db.query<{ x: number }>('SELECT 1 AS x FROM sharing_pairs WHERE viewer_id = ANY($1::text[]) LIMIT 1', [ctx.readBuilderIds]);
  sharingState.set(ctx, { shared: r.rows.length > 0, at: Date.now() });
}

/** What prepareSharing found for this request: 'yes' / 'no' (recently), or 'unknown' (not asked: reads by id). */
export function sharingKnown(ctx: AccessContext): 'yes' | 'no' | 'unknown' {
  if (ctx.firstParty || ctx.ownDataOnly || ctx.readBuilderIds.length === 0) return 'no';
  const cur = sharingState.get(ctx);
  if (!cur) return 'unknown';
  return cur.shared ? 'yes' : 'no';
}

/** Call after writing Patients in a request (its sharing may have started). */
export function forgetSharing(ctx: AccessContext): void {
  sharingState.delete(ctx);
}

/** false only when the request is known to reach no other builder's data through sharing. */
export function maySeeShared(ctx: AccessContext): boolean {
  if (ctx.firstParty || ctx.ownDataOnly || ctx.readBuilderIds.length === 0) return false;
  return sharingState.get(ctx)?.shared ?? true;
}

// ------------------------------------------------------------------------------------------------ the rule in SQL

const AUDIT_EVENT = 'AuditEvent';

/** The columns of a stored resource the policy looks at. */
export interface PolicyRow {
  builder_id: string;
  type: string;
  upid?: string | null;
  restricted?: boolean;
  /** third-party source tag code (resources.source); only `firstparty` looks at it */
  source?: string | null;
}

function ownSql(ctx: AccessContext, alias: string, params: unknown[]): string {
  const viaGrant = ctx.grantorBuilderIds ?? [];
  if (viaGrant.length === 0) {
    // One builder (nearly every request) as an equality: PostgreSQL reads an index led by builder_id in order
    // only for `=`, not for `= ANY(array)` (`_sort=-_lastUpdated` walks resources_builder_type_updated).
    if (ctx.readBuilderIds.length === 1) {
      params.push(ctx.readBuilderIds[0]);
      return `${alias}.builder_id = $${params.length}::text`;
    }
    params.push(ctx.readBuilderIds);
    return `${alias}.builder_id = ANY($${params.length}::text[])`;
  }
  const own = ctx.readBuilderIds.filter((b) => !viaGrant.includes(b));
  params.push(own);
  const ownP = params.length;
  params.push(viaGrant.filter((b) => ctx.readBuilderIds.includes(b)));
  return `(${alias}.builder_id = ANY($${ownP}::text[]) OR (${alias}.builder_id = ANY($${params.length}::text[]) AND ${alias}.type <> '${AUDIT_EVENT}'))`;
}

/** Rule 2 alone over `alias` (a resources or resource_versions row). */
export function sharedSql(ctx: AccessContext, alias: string, params: unknown[]): string {
  params.push(drsTypes);
  const drsP = params.length;
  params.push(ctx.readBuilderIds);
  return `(${alias}.type = ANY($${drsP}::text[]) AND NOT ${alias}.restricted AND ${alias}.upid IS NOT NULL
    AND EXISTS (SELECT 1 FROM sharing_pairs sp WHERE sp.upid = ${alias}.upid AND sp.owner_id = ${alias}.builder_id AND sp.viewer_id = ANY($${params.length}::text[])))`;
}

/**
 * SQL predicate: true for rows (`alias`.builder_id, type, upid, restricted …) the request may see by read or
 * search (rules 1 and 2). Appends its parameters to `params` and refers to them by position.
 */
export function visibleSql(ctx: AccessContext, alias: string, params: unknown[], type?: string): string {
  const own = ownSql(ctx, alias, params);
  if (ctx.firstParty) return `(${own} AND ${alias}.source IS NULL)`;
  // `type`: the rows are known to be of this type. Rule 2 cannot apply to a type that is not shared, and without
  // the OR the planner can use the own-builder indexes (order, selectivity).
  if (!maySeeShared(ctx) || (type !== undefined && !drsSet.has(type))) return `(${own})`;
  return `(${own} OR ${sharedSql(ctx, alias, params)})`;
}

/**
 * Rule 3 for a target row `t` reached through a reference from (or, for Provenance, to) a source row that is
 * already visible: true when `t` is a non-restricted foundational resource of the source's owner and the source
 * is of a DRS type. `sourceType` / `sourceOwner` are SQL expressions. Use as `visibleSql(t) OR viaReferenceSql(…)`.
 * Returns 'false' when the request cannot see other builders' data anyway (the own-builder SQL is unchanged).
 */
export function viaReferenceSql(ctx: AccessContext, t: string, sourceType: string, sourceOwner: string, params: unknown[]): string {
  if (!maySeeShared(ctx)) return 'false';
  params.push(FOUNDATIONAL_TYPES);
  const fP = params.length;
  params.push(drsTypes);
  return `(${t}.type = ANY($${fP}::text[]) AND NOT ${t}.restricted AND ${t}.builder_id = ${sourceOwner} AND ${sourceType} = ANY($${params.length}::text[]))`;
}

// ------------------------------------------------------------------------------------------ the rule as a function

/** The treatment relationships of a request: `${upid}|${owner}` pairs from sharing_pairs. */
export interface SharingFacts {
  pairs: ReadonlySet<string>;
}

export async function loadSharingFacts(db: Queryable, ctx: AccessContext): Promise<SharingFacts> {
  const r = await db.query<{ upid: string; owner_id: string }>('SELECT upid, owner_id FROM sharing_pairs WHERE viewer_id = ANY($1::text[])', [ctx.readBuilderIds]);
  return { pairs: new Set(r.rows.map((x) => `${x.upid}|${x.owner_id}`)) };
}

function isOwnVisible(ctx: AccessContext, row: PolicyRow): boolean {
  if (!ctx.readBuilderIds.includes(row.builder_id)) return false;
  return !(ctx.grantorBuilderIds ?? []).includes(row.builder_id) || row.type !== AUDIT_EVENT;
}

/** The same rule as visibleSql over one row (rules 1 and 2); `facts` from loadSharingFacts. */
export function isVisible(ctx: AccessContext, row: PolicyRow, facts?: SharingFacts): boolean {
  const own = isOwnVisible(ctx, row);
  if (ctx.firstParty) return own && !row.source;
  if (own || ctx.ownDataOnly) return own;
  if (!facts || !row.upid || row.restricted || !drsSet.has(row.type)) return false;
  return facts.pairs.has(`${row.upid}|${row.builder_id}`);
}

/** The same rule as `visibleSql(t) OR viaReferenceSql(t, source…)`, for a target reached from a visible source. */
export function isVisibleViaReference(ctx: AccessContext, target: PolicyRow, source: PolicyRow, facts?: SharingFacts): boolean {
  if (isVisible(ctx, target, facts)) return true;
  if (ctx.firstParty || ctx.ownDataOnly) return false;
  return foundationalSet.has(target.type) && !target.restricted && target.builder_id === source.builder_id && drsSet.has(source.type) && isVisible(ctx, source, facts);
}

/** Whether the request may change (update/delete) a resource owned by `ownerBuilderId`: only the owner. */
export function isWritableOwner(ctx: AccessContext, ownerBuilderId: string): boolean {
  return ctx.writeBuilderId !== null && ctx.writeBuilderId === ownerBuilderId;
}
