// Audit of cross-builder access: every request that reads or writes a grantor's data through a grant becomes a
// FHIR AuditEvent owned by the grantor, written through the FHIR store (the one write path) by the platform.
// With `Zus-Account: <grantor>` every request is inside the grantor and is recorded, whatever its outcome;
// without the header a request is recorded for each grantor whose data appears in its response.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccessContext } from './context.ts';
import { PLATFORM_AUDIT_ROLE } from './roles.ts';
import { FhirStore, OWNER_TAG_SYSTEM, type FhirResource } from '../fhir/store/index.ts';
import type { Services } from '../server/services.ts';
import type { AccessService } from './service.ts';
import { sharingAuditHook } from './sharing-audit.ts';

const OWNER_PREFIX = 'builder/';
const MAX_ENTITIES = 100;

/**
 * What a response shows of the builders `accept` takes: resources (FHIR `Type/id`, by their owner tag) and, with
 * `jsonApi`, JSON:API builder records naming them (no entity). Used by the grant audit and the sharing audit.
 */
export function dataByOwner(payload: unknown, accept: (builderId: string) => boolean, jsonApi: boolean): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  const note = (builder: string, what: string | null) => {
    if (!accept(builder)) return;
    let s = found.get(builder);
    if (!s) found.set(builder, (s = new Set()));
    if (what && s.size < MAX_ENTITIES) s.add(what);
  };
  const walk = (v: unknown, depth: number): void => {
    if (depth > 64 || v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      for (const x of v) walk(x, depth + 1);
      return;
    }
    const o = v as Record<string, unknown>;
    if (typeof o.resourceType === 'string' && typeof o.id === 'string') {
      const tags = (o.meta as { tag?: unknown } | undefined)?.tag;
      if (Array.isArray(tags)) {
        for (const t of tags as { system?: unknown; code?: unknown }[]) {
          if (t?.system === OWNER_TAG_SYSTEM && typeof t.code === 'string' && t.code.startsWith(OWNER_PREFIX)) note(t.code.slice(OWNER_PREFIX.length), `${o.resourceType}/${o.id}`);
        }
      }
    }
    if (jsonApi && o.type === 'auth/builders' && typeof o.id === 'string') note(o.id, null);
    for (const x of Object.values(o)) if (typeof x === 'object') walk(x, depth + 1);
  };
  walk(payload, 0);
  return found;
}

/** What a response shows of each of `builderIds`: resources or JSON:API records naming it. */
export function builderDataIn(payload: unknown, builderIds: readonly string[]): Map<string, Set<string>> {
  const wanted = new Set(builderIds);
  return dataByOwner(payload, (b) => wanted.has(b), true);
}

function interactionOf(method: string, path: string): { subtype: string | null; action: 'C' | 'R' | 'U' | 'D' | 'E' } {
  const action = method === 'POST' ? (/_search$/.test(path) ? 'E' : 'C') : method === 'PUT' || method === 'PATCH' ? 'U' : method === 'DELETE' ? 'D' : path.split('/').length <= 3 ? 'E' : 'R';
  if (!path.startsWith('/fhir')) return { subtype: null, action };
  const parts = path.split('/').filter(Boolean).slice(1); // after "fhir"
  let subtype: string;
  if (parts.length === 0) subtype = method === 'POST' ? 'transaction' : 'search-system';
  else if (parts.includes('_history')) subtype = parts.length === 4 ? 'vread' : parts.length === 3 ? 'history-instance' : parts.length === 2 ? 'history-type' : 'history-system';
  else if (method === 'GET' || parts[1] === '_search') subtype = parts.length >= 2 && parts[1] !== '_search' ? 'read' : 'search-type';
  else subtype = method === 'POST' ? 'create' : method === 'PUT' ? 'update' : method === 'PATCH' ? 'patch' : 'delete';
  return { subtype, action };
}

export interface AuditInput {
  ctx: AccessContext;
  grantorBuilderId: string;
  method: string;
  path: string;
  status: number;
  ip: string;
  what: Iterable<string>;
  at: Date;
}

/** The FHIR R4 AuditEvent for one request through a grant. */
export function auditEventFor(a: AuditInput): FhirResource {
  const { subtype, action } = interactionOf(a.method, a.path);
  const p = a.ctx.principal;
  const entities: Record<string, unknown>[] = [{
    what: { identifier: { system: 'https://zusapi.com/builder_id', value: a.grantorBuilderId } },
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
    description: 'Builder whose data was accessed through a cross-builder grant',
  }];
  for (const ref of a.what) {
    entities.push({ what: { reference: ref }, type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' } });
  }
  return {
    resourceType: 'AuditEvent',
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' },
    ...(subtype ? { subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: subtype }] } : {}),
    action,
    recorded: a.at.toISOString(),
    outcome: a.status < 400 ? '0' : a.status < 500 ? '4' : '8',
    outcomeDesc: `${a.method} ${a.path} → HTTP ${a.status}`,
    purposeOfEvent: [{ text: 'Cross-builder grant' }],
    agent: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/extra-security-role-type', code: p.kind === 'user' ? 'humanuser' : 'dataprocessor' }] },
        who: { identifier: { system: p.kind === 'user' ? 'https://zusapi.com/user_id' : 'https://zusapi.com/app_client_id', value: p.id }, ...(p.email ? { display: p.email } : {}) },
        requestor: true,
        network: { address: a.ip, type: '2' },
      },
      {
        type: { text: 'grantee builder' },
        who: { identifier: { system: 'https://zusapi.com/builder_id', value: p.builderId } },
        requestor: false,
      },
    ],
    source: {
      site: 'Tessera',
      observer: { display: 'Tessera API' },
      type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }],
    },
    entity: entities,
  };
}

/** Context in which the platform itself writes an AuditEvent into the grantor's data. */
function platformContext(grantorBuilderId: string): AccessContext {
  return {
    principal: { kind: 'client', id: 'tessera-audit', builderId: grantorBuilderId, role: PLATFORM_AUDIT_ROLE, isPlatformAdmin: false },
    readBuilderIds: [grantorBuilderId],
    writeBuilderId: grantorBuilderId,
    accountHeader: null,
    grantorBuilderIds: [],
  };
}

/** Requests that never carry builder data. */
function isAuditable(path: string): boolean {
  return !(path === '/auth/roles' || path.startsWith('/auth/roles/') || path === '/auth/users/me' || path === '/fhir/metadata');
}

/**
 * Without Zus-Account, the data a grant exposes is FHIR data and the grantor's users and app clients; listing the
 * builders one may act for, or the grants themselves, is not reading the grantor's data.
 */
function carriesGrantorData(path: string): boolean {
  return path === '/fhir' || path.startsWith('/fhir/') || path.startsWith('/auth/users') || path.startsWith('/auth/app-clients');
}

export function registerAudit(app: FastifyInstance, services: Services, access: AccessService): void {
  let ownStore: FhirStore | null = null;
  const store = () => access.auditStore ?? (ownStore ??= new FhirStore(services));
  // reads of other builders' data shared under a treatment relationship (src/access/sharing-audit.ts)
  app.addHook('onSend', sharingAuditHook(store, services.clock));
  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const ctx = request.access;
    const grantors = ctx?.grantorBuilderIds ?? [];
    if (!ctx || grantors.length === 0) return payload;
    const path = request.url.split('?')[0]!;
    if (!isAuditable(path)) return payload;
    let touched: Map<string, Set<string>>;
    let body: unknown = null;
    if (typeof payload === 'string' && payload.length > 0 && /json/.test(String(reply.getHeader('content-type') ?? ''))) {
      try {
        body = JSON.parse(payload);
      } catch {
        body = null;
      }
    }
    if (ctx.accountHeader && grantors.includes(ctx.accountHeader)) {
      touched = builderDataIn(body, [ctx.accountHeader]);
      if (!touched.has(ctx.accountHeader)) touched.set(ctx.accountHeader, new Set());
    } else {
      if (!carriesGrantorData(path)) return payload;
      touched = builderDataIn(body, grantors);
    }
    const at = services.clock.now();
    for (const [grantor, what] of touched) {
      const event = auditEventFor({ ctx, grantorBuilderId: grantor, method: request.method, path, status: reply.statusCode, ip: request.ip, what, at });
      try {
        await store().create(platformContext(grantor), event);
      } catch (err) {
        // Never silently: an unrecorded access is an operational incident.
        request.log.error({ err, grantor }, 'could not record the AuditEvent of a cross-builder access');
      }
    }
    return payload;
  });
}
