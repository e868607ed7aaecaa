// The /fhir REST API (FHIR R4 RESTful interactions over the store).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../server/services.ts';
import { accessWith, getAccess } from '../../access/http.ts';
import { badRequest } from '../../platform/errors.ts';
import { operationOutcome } from '../../server/errors.ts';
import { FhirStore, fhirStoreFor, assertResourceType, type FhirResource, type ReadRow, type WriteOutcome } from '../store/index.ts';
import { processBundle } from '../bundle/index.ts';
import { searchParamsOf } from '../search/parse.ts';
import { renderSearchBundleText } from '../search/render.ts';
import { capabilityStatement } from './capability.ts';

const FHIR_JSON = 'application/fhir+json; charset=utf-8';

interface Prefer {
  return: 'minimal' | 'representation' | 'OperationOutcome';
  strict: boolean;
}

function header(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function preferOf(request: FastifyRequest): Prefer {
  const raw = header(request, 'prefer') ?? '';
  const ret = /return=(minimal|representation|OperationOutcome)/i.exec(raw)?.[1];
  return {
    return: ret?.toLowerCase() === 'minimal' ? 'minimal' : ret?.toLowerCase() === 'operationoutcome' ? 'OperationOutcome' : 'representation',
    strict: /handling=strict/i.test(raw),
  };
}

/** The version number inside an ETag (`W/"3"` → "3"). */
function ifMatchOf(request: FastifyRequest): string | null {
  const v = header(request, 'if-match');
  if (!v) return null;
  const m = /^(?:W\/)?"?([^"]*)"?$/.exec(v.trim());
  return m ? m[1]! : v;
}

function queryOf(request: FastifyRequest): string {
  const i = request.url.indexOf('?');
  return i < 0 ? '' : request.url.slice(i + 1);
}

function versionHeaders(reply: FastifyReply, versionId: number, lastUpdated: Date) {
  reply.header('etag', `W/"${versionId}"`).header('last-modified', lastUpdated.toUTCString());
}

function resourceBody(o: { resource: FhirResource | null }, prefer: Prefer, status: number): unknown {
  if (prefer.return === 'minimal') return undefined;
  if (prefer.return === 'OperationOutcome') {
    return operationOutcome([{ code: 'informational', message: status === 201 ? 'Created' : 'Updated', severity: 'information' }]);
  }
  return o.resource;
}

function sendWrite(store: FhirStore, reply: FastifyReply, o: WriteOutcome, prefer: Prefer) {
  if (o.outcome === 'deleted' || (o.outcome === 'unchanged' && !o.resource)) return reply.status(204).send();
  const status = o.outcome === 'created' ? 201 : 200;
  versionHeaders(reply, o.versionId!, o.lastUpdated!);
  if (o.outcome === 'created') reply.header('location', `${store.fhirBase}/${o.type}/${o.id}/_history/${o.versionId}`);
  const body = resourceBody(o, prefer, status);
  reply.status(status).type(FHIR_JSON);
  return body === undefined ? reply.send() : reply.send(body);
}

function bodyResource(request: FastifyRequest): FhirResource {
  const b = request.body;
  if (typeof b !== 'object' || b === null || Array.isArray(b)) throw badRequest('The body must be a FHIR resource (JSON object)');
  return b as FhirResource;
}

/** Form body of POST _search as ordered pairs (formbody gives an object; repeated keys become arrays). */
function formPairs(body: unknown): [string, string][] {
  if (typeof body === 'string') return searchParamsOf(body);
  if (typeof body !== 'object' || body === null) return [];
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    for (const x of Array.isArray(v) ? v : [v]) out.push([k, String(x)]);
  }
  return out;
}

export async function registerFhirRoutes(app: FastifyInstance, services: Services, store: FhirStore = fhirStoreFor(services)): Promise<FhirStore> {
  await app.register(async (f) => {
    // FHIR clients send Content-Type on bodiless DELETE/GET; an empty JSON body is "no body" here, not an error.
    const json = f.getDefaultJsonParser('error', 'error');
    const types = ['application/json', 'application/fhir+json', 'application/json-patch+json'];
    f.removeContentTypeParser(types);
    f.addContentTypeParser(types, { parseAs: 'string' }, (req, body, done) => {
      if (body === '' || (typeof body === 'string' && body.trim() === '')) return done(null, undefined);
      return json(req, body as string, done);
    });
    f.get('/metadata', async (_req, reply) => reply.type(FHIR_JSON).send(capabilityStatement(store.fhirBase, services.clock.now())));

    f.post('/', async (request, reply) => {
      const ctx = getAccess(request);
      const prefer = preferOf(request);
      const out = await processBundle(store, ctx, request.body, { returnMinimal: prefer.return === 'minimal' });
      return reply.type(FHIR_JSON).send(out);
    });

    f.get('/_history', async (request, reply) => {
      const ctx = getAccess(request);
      return reply.type(FHIR_JSON).send(await historyBundle(request, ctx, {}));
    });

    const search = async (request: FastifyRequest, reply: FastifyReply, type: string, params: [string, string][]) => {
      const ctx = getAccess(request);
      // resources travel as stored JSON text: no parse/stringify per resource on the way out
      const { query, result } = await store.search(ctx, type, params, { strict: preferOf(request).strict, raw: true });
      return reply.type(FHIR_JSON).send(renderSearchBundleText(store.fhirBase, query, result));
    };

    f.get<{ Params: { type: string } }>('/:type', async (request, reply) => search(request, reply, request.params.type, searchParamsOf(queryOf(request))));
    f.post<{ Params: { type: string } }>('/:type/_search', async (request, reply) =>
      search(request, reply, request.params.type, [...searchParamsOf(queryOf(request)), ...formPairs(request.body)]));

    f.post<{ Params: { type: string } }>('/:type', async (request, reply) => {
      const ctx = getAccess(request);
      const { type } = request.params;
      assertResourceType(type);
      const resource = bodyResource(request);
      if (resource.resourceType !== type) throw badRequest(`resourceType '${String(resource.resourceType)}' does not match '${type}'`, [{ code: 'invalid', message: `resourceType does not match '${type}'`, path: 'resourceType' }]);
      const ifNoneExist = header(request, 'if-none-exist');
      const o = ifNoneExist ? await store.conditionalCreate(ctx, resource, ifNoneExist) : await store.create(ctx, resource);
      return sendWrite(store, reply, o, preferOf(request));
    });

    f.put<{ Params: { type: string } }>('/:type', async (request, reply) => {
      const ctx = getAccess(request);
      const q = queryOf(request);
      if (!q) throw badRequest('PUT on a type needs search criteria (conditional update) or an id in the URL');
      const o = await store.conditionalUpdate(ctx, request.params.type, q, bodyResource(request), { ifMatch: ifMatchOf(request) });
      return sendWrite(store, reply, o, preferOf(request));
    });

    f.patch<{ Params: { type: string } }>('/:type', async (request, reply) => {
      const ctx = getAccess(request);
      const q = queryOf(request);
      if (!q) throw badRequest('PATCH on a type needs search criteria (conditional patch)');
      const o = await store.conditionalPatch(ctx, request.params.type, q, request.body, { ifMatch: ifMatchOf(request) });
      return sendWrite(store, reply, o, preferOf(request));
    });

    f.delete<{ Params: { type: string } }>('/:type', async (request, reply) => {
      const ctx = getAccess(request);
      const q = queryOf(request);
      if (!q) throw badRequest('DELETE on a type needs search criteria (conditional delete)');
      await store.conditionalDelete(ctx, request.params.type, q);
      return reply.status(204).send();
    });

    f.get<{ Params: { type: string } }>('/:type/_history', async (request, reply) => {
      const ctx = getAccess(request);
      assertResourceType(request.params.type);
      return reply.type(FHIR_JSON).send(await historyBundle(request, ctx, { type: request.params.type }));
    });

    // Reads by id authenticate with their read in one round trip (accessWith): two were most of their latency.
    f.get<{ Params: { type: string; id: string } }>('/:type/:id', { config: { deferAuth: true } }, async (request, reply) => {
      const { type, id } = request.params;
      const { rows } = await accessWith<ReadRow>(request, (ctx) => store.readStatement(ctx, type, id, { raw: true }));
      const v = store.readResult(type, id, rows[0], { raw: true });
      versionHeaders(reply, v.versionId, v.lastUpdated);
      const inm = header(request, 'if-none-match');
      if (inm && inm.replace(/^W\//, '') === `"${v.versionId}"`) return reply.status(304).send();
      return reply.type(FHIR_JSON).send(v.text);
    });

    f.put<{ Params: { type: string; id: string } }>('/:type/:id', async (request, reply) => {
      const ctx = getAccess(request);
      const o = await store.update(ctx, request.params.type, request.params.id, bodyResource(request), { ifMatch: ifMatchOf(request) });
      return sendWrite(store, reply, o, preferOf(request));
    });

    f.patch<{ Params: { type: string; id: string } }>('/:type/:id', async (request, reply) => {
      const ctx = getAccess(request);
      const ct = header(request, 'content-type') ?? '';
      if (!ct.includes('json-patch+json')) throw badRequest('PATCH needs Content-Type application/json-patch+json');
      const o = await store.patch(ctx, request.params.type, request.params.id, request.body, { ifMatch: ifMatchOf(request) });
      return sendWrite(store, reply, o, preferOf(request));
    });

    f.delete<{ Params: { type: string; id: string } }>('/:type/:id', async (request, reply) => {
      const ctx = getAccess(request);
      await store.delete(ctx, request.params.type, request.params.id, { ifMatch: ifMatchOf(request) });
      return reply.status(204).send();
    });

    f.get<{ Params: { type: string; id: string } }>('/:type/:id/_history', async (request, reply) => {
      const ctx = getAccess(request);
      assertResourceType(request.params.type);
      return reply.type(FHIR_JSON).send(await historyBundle(request, ctx, { type: request.params.type, id: request.params.id }));
    });

    f.get<{ Params: { type: string; id: string; vid: string } }>('/:type/:id/_history/:vid', async (request, reply) => {
      const ctx = getAccess(request);
      const v = await store.vread(ctx, request.params.type, request.params.id, request.params.vid);
      versionHeaders(reply, v.versionId, v.lastUpdated);
      return reply.type(FHIR_JSON).send(v.resource);
    });
  }, { prefix: '/fhir' });

  async function historyBundle(request: FastifyRequest, ctx: ReturnType<typeof getAccess>, scope: { type?: string; id?: string }) {
    const params = new URLSearchParams(queryOf(request));
    const countRaw = params.get('_count');
    if (countRaw !== null && !/^\d+$/.test(countRaw)) throw badRequest('_count must be a non-negative integer', [{ code: 'invalid', message: '_count must be a non-negative integer', path: '_count' }]);
    const sinceRaw = params.get('_since');
    let since: Date | undefined;
    if (sinceRaw !== null) {
      since = new Date(sinceRaw);
      if (!/^\d{4}-\d{2}-\d{2}T/.test(sinceRaw) || Number.isNaN(since.getTime())) throw badRequest(`Invalid _since '${sinceRaw}' (an instant is required)`, [{ code: 'invalid', message: 'Invalid _since', path: '_since' }]);
    }
    const count = countRaw === null ? services.config.defaultPageSize : Number(countRaw);
    const { entries, nextCursor } = await store.history(ctx, { ...scope, since, count, cursor: params.get('_cursor') });
    if (scope.id && entries.length === 0 && !params.get('_cursor') && !since) {
      await store.read(ctx, scope.type!, scope.id).catch((e: { status?: number }) => { if (e.status !== 410) throw e; });
    }
    const path = `${store.fhirBase}${scope.type ? `/${scope.type}` : ''}${scope.id ? `/${scope.id}` : ''}/_history`;
    const keep = [...params].filter(([k]) => k !== '_cursor');
    const url = (cursor?: string) => {
      const sp = new URLSearchParams(keep);
      if (cursor) sp.append('_cursor', cursor);
      const s = sp.toString();
      return s ? `${path}?${s}` : path;
    };
    const link = [{ relation: 'self', url: url(params.get('_cursor') ?? undefined) }];
    if (nextCursor) link.push({ relation: 'next', url: url(nextCursor) });
    return {
      resourceType: 'Bundle',
      type: 'history',
      link,
      entry: entries.map((e) => ({
        fullUrl: `${store.fhirBase}/${e.type}/${e.id}`,
        ...(e.resource ? { resource: e.resource } : {}),
        request: { method: e.method, url: e.method === 'POST' ? e.type : `${e.type}/${e.id}` },
        response: {
          status: e.method === 'POST' ? '201 Created' : e.method === 'DELETE' ? '204 No Content' : '200 OK',
          etag: `W/"${e.versionId}"`,
          lastModified: e.lastUpdated.toISOString(),
        },
      })),
    };
  }

  return store;
}
