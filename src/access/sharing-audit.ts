// Audit of sharing: a FHIR read whose response shows another builder's data through a treatment relationship
// (src/access/policy.ts rules 2 and 3) becomes one AuditEvent per such owner, owned by that owner and written
// through the store by the platform (like the grant audit in audit.ts). Requests known not to share (searches ask
// sharing_pairs first) are skipped; the rest get a text scan for another builder's owner tag, and only a hit is
// parsed. Cost when data was shared: one JSON parse of the response and one write transaction per foreign owner
// shown. TESSERA_SHARING_AUDIT=0 turns it off.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../platform/clock.ts';
import type { FhirStore, FhirResource } from '../fhir/store/index.ts';
import type { AccessContext } from './context.ts';
import { sharingKnown } from './policy.ts';
import { PLATFORM_AUDIT_ROLE } from './roles.ts';
import { auditEventFor, dataByOwner } from './audit.ts';

/** Owners (other than `mine`) of the resources in a response, with up to 100 `Type/id` each. */
export function foreignOwnersIn(payload: unknown, mine: readonly string[]): Map<string, Set<string>> {
  return dataByOwner(payload, (owner) => !mine.includes(owner), false);
}

const OWNER_CODE = /"code"\s*:\s*"builder\/([^"\\]+)"/g;

/** Whether a JSON text names an owner (`builder/<id>` tag code) outside `mine` (a superset test: parse to be sure). */
export function mentionsForeignOwner(text: string, mine: readonly string[]): boolean {
  for (const m of text.matchAll(OWNER_CODE)) if (!mine.includes(m[1]!)) return true;
  return false;
}

function platformContext(owner: string): AccessContext {
  return {
    principal: { kind: 'client', id: 'tessera-audit', builderId: owner, role: PLATFORM_AUDIT_ROLE, isPlatformAdmin: false },
    readBuilderIds: [owner], writeBuilderId: owner, accountHeader: null, grantorBuilderIds: [],
  };
}

export function sharingAuditHook(store: () => FhirStore, clock: Clock) {
  const enabled = process.env.TESSERA_SHARING_AUDIT !== '0';
  return async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const ctx = request.access;
    if (!enabled || !ctx || request.method !== 'GET' || reply.statusCode >= 400 || sharingKnown(ctx) === 'no') return payload;
    const path = request.url.split('?')[0]!;
    if (!path.startsWith('/fhir/') || path === '/fhir/metadata') return payload;
    if (typeof payload !== 'string' || payload.length === 0) return payload;
    // reads by id do not ask whether the request shares: a text scan for another owner's tag decides cheaply
    if (!mentionsForeignOwner(payload, ctx.readBuilderIds)) return payload;
    let body: unknown;
    try {
      body = JSON.parse(payload);
    } catch {
      return payload;
    }
    const at = clock.now();
    for (const [owner, what] of foreignOwnersIn(body, ctx.readBuilderIds)) {
      const event: FhirResource = auditEventFor({ ctx, grantorBuilderId: owner, method: request.method, path, status: reply.statusCode, ip: request.ip, what, at });
      event.purposeOfEvent = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT', display: 'treatment' }], text: 'Designated Record Set shared under a treatment relationship' }];
      const entity = event.entity as { description?: string }[];
      if (entity[0]) entity[0].description = 'Builder whose data was shared with the requesting builder (treatment relationship)';
      try {
        await store().create(platformContext(owner), event);
      } catch (err) {
        request.log.error({ err, owner }, 'could not record the AuditEvent of a shared-data read');
      }
    }
    return payload;
  };
}
