// The patient profile (ZAP): `GET /fhir/Patient/{id}/$everything` and `GET /fhir/Patient/$everything?upid=`.
// Everything the caller may see for one person (one UPID) across builders and sources: the caller's own data,
// other builders' Designated Record Set data under a treatment relationship, and — as `include` entries — the
// foundational resources (Practitioner, Organization, Location, Medication, PractitionerRole, Provenance) those
// resources reference or that point at them (Provenance). Visibility is the one policy (src/access/policy.ts).
// Paged by (type, id) keyset with a `next` link; `_type` and `_since` narrow it; `_count` sizes a page.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Services } from '../../server/services.ts';
import type { Queryable } from '../../db/types.ts';
import type { AccessContext } from '../../access/context.ts';
import { getAccess } from '../../access/http.ts';
import { allowsFhir, requireFhir } from '../../access/context.ts';
import { FOUNDATIONAL_TYPES, prepareSharing, viaReferenceSql, visibleSql } from '../../access/policy.ts';
import { badRequest, notFound } from '../../platform/errors.ts';
import { isResourceType } from '../definitions/index.ts';
import { upidOf, type FhirResource } from '../store/meta.ts';
import type { FhirStore } from '../store/index.ts';
import { SqlParams } from '../search/sql.ts';

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const MAX_INCLUDED = 2000;

export interface EverythingQuery {
  /** the person: a UPID, or (a Patient without UPID) just that Patient and what references it */
  upid: string | null;
  patientId: string | null;
  types: string[] | null;
  since: Date | null;
  count: number;
  cursor: { t: string; i: string } | null;
}

export interface EverythingRow {
  type: string;
  id: string;
  builder_id: string;
  content: FhirResource;
}

export interface EverythingPage {
  matches: EverythingRow[];
  included: EverythingRow[];
  nextCursor: string | null;
}

function invalid(param: string, message: string): never {
  throw badRequest(message, [{ code: 'invalid', message, path: param }]);
}

export function parseEverythingParams(q: URLSearchParams, defaults: { defaultCount: number; maxCount: number }): Omit<EverythingQuery, 'upid' | 'patientId'> {
  let types: string[] | null = null;
  const typeRaw = q.getAll('_type').flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
  if (typeRaw.length) {
    for (const t of typeRaw) if (!isResourceType(t)) invalid('_type', `Unknown resource type '${t}' in _type`);
    types = [...new Set(typeRaw)];
  }
  let since: Date | null = null;
  const sinceRaw = q.get('_since');
  if (sinceRaw !== null) {
    since = new Date(sinceRaw);
    if (!/^\d{4}-\d{2}-\d{2}T/.test(sinceRaw) || Number.isNaN(since.getTime())) invalid('_since', `Invalid _since '${sinceRaw}' (an instant is required)`);
  }
  const countRaw = q.get('_count');
  if (countRaw !== null && !/^\d{1,6}$/.test(countRaw)) invalid('_count', '_count must be a non-negative integer');
  const count = Math.min(countRaw === null ? defaults.defaultCount : Number(countRaw), defaults.maxCount);
  let cursor: EverythingQuery['cursor'] = null;
  const c = q.get('_cursor');
  if (c !== null) {
    try {
      const v = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as { t: unknown; i: unknown };
      if (typeof v.t !== 'string' || typeof v.i !== 'string') throw new Error();
      cursor = { t: v.t, i: v.i };
    } catch {
      invalid('_cursor', 'Invalid _cursor');
    }
  }
  return { types, since, count, cursor };
}

/** One page of a person's record as the caller may see it. */
export async function everythingPage(db: Queryable, ctx: AccessContext, q: EverythingQuery): Promise<EverythingPage> {
  await prepareSharing(db, ctx);
  const p = new SqlParams();
  const conds: string[] = [];
  if (q.upid !== null) conds.push(`r.upid = ${p.add(q.upid)}`);
  else {
    const pid = p.add(q.patientId);
    conds.push(`((r.type = 'Patient' AND r.id = ${pid}) OR EXISTS (SELECT 1 FROM idx_reference pr WHERE pr.id = r.id AND pr.type = r.type AND pr.target_type = 'Patient' AND pr.target_id = ${pid}))`);
  }
  conds.push('NOT r.deleted', visibleSql(ctx, 'r', p.values));
  if (q.types) conds.push(`r.type = ANY(${p.add(q.types)}::text[])`);
  if (q.since) conds.push(`r.last_updated >= ${p.add(q.since.toISOString())}::timestamptz`);
  if (q.cursor) conds.push(`(r.type, r.id) > (${p.add(q.cursor.t)}::text, ${p.add(q.cursor.i)}::text)`);
  const rows = (await db.query<EverythingRow>(
    `SELECT r.type, r.id, r.builder_id, r.content FROM resources r WHERE ${conds.join(' AND ')} ORDER BY r.type, r.id LIMIT ${q.count + 1}`,
    p.values,
  )).rows;
  let nextCursor: string | null = null;
  if (rows.length > q.count) {
    rows.length = q.count;
    const last = rows[rows.length - 1];
    if (last) nextCursor = Buffer.from(JSON.stringify({ t: last.type, i: last.id })).toString('base64url');
  }
  const matches = rows.filter((r) => allowsFhir(ctx, 'read', r.type));
  const included = matches.length ? await foundationalFor(db, ctx, matches, q.types) : [];
  return { matches, included, nextCursor };
}

/** Foundational resources referenced by the page's resources, and Provenance pointing at them (rule 3). */
async function foundationalFor(db: Queryable, ctx: AccessContext, page: EverythingRow[], types: string[] | null): Promise<EverythingRow[]> {
  const wanted = FOUNDATIONAL_TYPES.filter((t) => !types || types.includes(t));
  if (wanted.length === 0) return [];
  const p = new SqlParams();
  const srcTypes = p.add(page.map((r) => r.type));
  const srcIds = p.add(page.map((r) => r.id));
  const wantedP = p.add(wanted);
  const fwd = `SELECT t.type, t.id, t.builder_id, t.content FROM idx_reference ref JOIN resources t ON t.type = ref.target_type AND t.id = ref.target_id
     WHERE (ref.type, ref.id) IN (SELECT * FROM unnest(${srcTypes}::text[], ${srcIds}::text[])) AND ref.target_type = ANY(${wantedP}::text[])
       AND NOT t.deleted AND (${visibleSql(ctx, 't', p.values)} OR ${viaReferenceSql(ctx, 't', 'ref.type', 'ref.builder_id', p.values)})`;
  const owner = '(SELECT tg.builder_id FROM resources tg WHERE tg.type = ref.target_type AND tg.id = ref.target_id)';
  const rev = wanted.includes('Provenance')
    ? ` UNION SELECT t.type, t.id, t.builder_id, t.content FROM idx_reference ref JOIN resources t ON t.type = ref.type AND t.id = ref.id
     WHERE ref.type = 'Provenance' AND ref.param = 'target' AND ref.target_id = ANY(${srcIds}::text[])
       AND (ref.target_type, ref.target_id) IN (SELECT * FROM unnest(${srcTypes}::text[], ${srcIds}::text[]))
       AND NOT t.deleted AND (${visibleSql(ctx, 't', p.values)} OR ${viaReferenceSql(ctx, 't', 'ref.target_type', owner, p.values)})`
    : '';
  const rows = (await db.query<EverythingRow>(`SELECT * FROM (${fwd}${rev}) x LIMIT ${MAX_INCLUDED}`, p.values)).rows;
  const inPage = new Set(page.map((r) => `${r.type}/${r.id}`));
  const seen = new Set<string>();
  return rows.filter((r) => {
    const k = `${r.type}/${r.id}`;
    if (inPage.has(k) || seen.has(k) || !allowsFhir(ctx, 'read', r.type)) return false;
    seen.add(k);
    return true;
  });
}

function queryOf(request: FastifyRequest): URLSearchParams {
  const i = request.url.indexOf('?');
  return new URLSearchParams(i < 0 ? '' : request.url.slice(i + 1));
}

export async function registerEverythingRoutes(app: FastifyInstance, services: Services, store: FhirStore): Promise<void> {
  const { db, config } = services;
  const respond = async (request: FastifyRequest, path: string, who: { upid: string | null; patientId: string | null }) => {
    const ctx = getAccess(request);
    const params = queryOf(request);
    const parsed = parseEverythingParams(params, { defaultCount: config.defaultPageSize, maxCount: config.maxPageSize });
    const page = await everythingPage(db, ctx, { ...who, ...parsed });
    const keep = [...params].filter(([k]) => k !== '_cursor');
    const url = (cursor?: string | null) => {
      const sp = new URLSearchParams(keep);
      if (cursor) sp.append('_cursor', cursor);
      const s = sp.toString();
      return `${store.fhirBase}${path}${s ? `?${s}` : ''}`;
    };
    const link = [{ relation: 'self', url: url(params.get('_cursor')) }];
    if (page.nextCursor) link.push({ relation: 'next', url: url(page.nextCursor) });
    const entry = (r: EverythingRow, mode: 'match' | 'include') => ({ fullUrl: `${store.fhirBase}/${r.type}/${r.id}`, resource: r.content, search: { mode } });
    return { resourceType: 'Bundle', type: 'searchset', link, entry: [...page.matches.map((r) => entry(r, 'match')), ...page.included.map((r) => entry(r, 'include'))] };
  };

  app.get<{ Params: { id: string } }>('/fhir/Patient/:id/$everything', async (request, reply) => {
    const ctx = getAccess(request);
    requireFhir(ctx, 'read', 'Patient');
    const patient = await store.read(ctx, 'Patient', request.params.id);
    const upid = upidOf(patient.resource!);
    const body = await respond(request, `/Patient/${request.params.id}/$everything`, { upid, patientId: upid ? null : request.params.id });
    return reply.type(FHIR_JSON).send(body);
  });

  app.get('/fhir/Patient/$everything', async (request, reply) => {
    const ctx = getAccess(request);
    requireFhir(ctx, 'read', 'Patient');
    const upid = queryOf(request).get('upid');
    if (!upid) invalid('upid', 'Patient/$everything needs a Patient id in the path or a upid parameter');
    // the caller must see some Patient of that person (its own, or one shared with it)
    await prepareSharing(db, ctx);
    const p: unknown[] = [upid];
    const found = await db.query(`SELECT 1 FROM resources r WHERE r.type = 'Patient' AND r.upid = $1 AND NOT r.deleted AND ${visibleSql(ctx, 'r', p)} LIMIT 1`, p);
    if (found.rows.length === 0) throw notFound(`No Patient with UPID '${upid}' is visible to this request`);
    const body = await respond(request, '/Patient/$everything', { upid, patientId: null });
    return reply.type(FHIR_JSON).send(body);
  });
}
