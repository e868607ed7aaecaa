// Batch and transaction bundles (FHIR R4 §3.1.0.11). A transaction runs in one database transaction: all entries
// succeed or nothing is written. Processing order DELETE, POST, PUT/PATCH, GET; `urn:uuid:` fullUrls and
// conditional references (`Patient?identifier=s|v`) are resolved before anything is written, and all writes of
// a kind go to the store in one bulk batch.
import type { Queryable } from '../../db/types.ts';
import type { AccessContext } from '../../access/context.ts';
import { HttpError, badRequest, notFound, preconditionFailed } from '../../platform/errors.ts';
import { newId } from '../../platform/ids.ts';
import { newResourceId } from '../store/ids.ts';
import { operationOutcome } from '../../server/errors.ts';
import type { FhirStore, FhirResource, WriteOp, WriteOutcome } from '../store/index.ts';
import { assertResourceType } from '../store/index.ts';
import { searchParamsOf } from '../search/parse.ts';
import { renderSearchBundle } from '../search/render.ts';

interface BundleEntry {
  fullUrl?: string;
  resource?: FhirResource;
  request?: { method?: string; url?: string; ifMatch?: string; ifNoneExist?: string; ifNoneMatch?: string };
}

export interface BundleOptions {
  /** Prefer: return=minimal → no resources in the response entries */
  returnMinimal: boolean;
  platform?: boolean;
}

interface ParsedUrl {
  type: string;
  id?: string;
  versionId?: string;
  query?: string;
  history?: boolean;
}

const STATUS_TEXT: Record<number, string> = { 200: '200 OK', 201: '201 Created', 204: '204 No Content' };

function parseEntryUrl(url: string, index: number): ParsedUrl {
  // absolute URLs of a FHIR base ("https://host/fhir/Patient/1") are taken relative to that base
  const abs = /^https?:\/\/[^/]+(?:\/[^?]*?)?\/fhir\/(.*)$/.exec(url);
  const u = (abs ? abs[1]! : url).replace(/^\//, '');
  const [path, query] = u.split('?', 2) as [string, string | undefined];
  const parts = path.split('/').filter((x) => x !== '');
  const bad = () => badRequest(`Bundle entry ${index}: unsupported request.url '${url}'`, [{ code: 'invalid', message: `Unsupported request.url '${url}'`, path: `Bundle.entry[${index}].request.url` }]);
  if (parts.length === 0 || parts.length > 4) throw bad();
  const type = parts[0]!;
  assertResourceType(type);
  if (parts.length === 1) return { type, query };
  if (parts[1] === '_history' && parts.length === 2) return { type, history: true, query };
  if (parts[1] === '_search' && parts.length === 2) return { type, query };
  if (parts.length === 2) return { type, id: parts[1], query };
  if (parts[2] === '_history' && parts.length === 3) return { type, id: parts[1], history: true, query };
  if (parts[2] === '_history' && parts.length === 4) return { type, id: parts[1], versionId: parts[3] };
  throw bad();
}

const etagVersion = (v: string | undefined) => (v ? v.replace(/^W\//, '').replace(/"/g, '') : undefined);

function writeResponse(o: WriteOutcome, minimal: boolean): Record<string, unknown> {
  const status = o.outcome === 'created' ? 201 : o.outcome === 'deleted' || (o.outcome === 'unchanged' && !o.resource) ? 204 : 200;
  const response: Record<string, unknown> = { status: STATUS_TEXT[status] };
  if (o.versionId !== null && o.resource) {
    response.location = `${o.type}/${o.id}/_history/${o.versionId}`;
    response.etag = `W/"${o.versionId}"`;
  }
  if (o.lastUpdated) response.lastModified = o.lastUpdated.toISOString();
  return { ...(o.resource && !minimal ? { resource: o.resource } : {}), response };
}

function errorEntry(err: unknown): Record<string, unknown> {
  const e = err instanceof HttpError ? err : new HttpError(500, 'exception', 'Internal server error');
  return { response: { status: String(e.status), outcome: operationOutcome(e.details) } };
}

/** Visits every `reference` string (synchronously: bundles carry thousands of nested objects). */
function visitReferences(node: unknown, fn: (ref: string, holder: Record<string, unknown>) => void): void {
  if (Array.isArray(node)) {
    for (const x of node) visitReferences(x, fn);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const o = node as Record<string, unknown>;
  for (const k in o) {
    const v = o[k];
    if (k === 'reference' && typeof v === 'string') fn(v, o);
    else if (typeof v === 'object' && v !== null) visitReferences(v, fn);
  }
}

/** Replaces references found in `map` (fullUrl → Type/id) and conditional references (resolved first), in place. */
async function rewriteReferences(resources: unknown[], map: Map<string, string>, resolveConditional: (ref: string) => Promise<string>): Promise<void> {
  const conditional = new Set<string>();
  for (const r of resources) {
    visitReferences(r, (ref) => {
      if (map.has(ref)) return;
      if (ref.startsWith('urn:uuid:') || ref.startsWith('urn:oid:')) throw badRequest(`Reference '${ref}' does not match any fullUrl in the transaction`);
      if (/^[A-Z][A-Za-z]+\?/.test(ref)) conditional.add(ref);
    });
  }
  const resolved = new Map(map);
  for (const ref of conditional) resolved.set(ref, await resolveConditional(ref));
  for (const r of resources) {
    visitReferences(r, (ref, holder) => {
      const hit = resolved.get(ref);
      if (hit) holder.reference = hit;
    });
  }
}

export async function processBundle(store: FhirStore, ctx: AccessContext, bundle: unknown, opts: BundleOptions): Promise<FhirResource> {
  const b = bundle as { resourceType?: unknown; type?: unknown; entry?: unknown };
  if (typeof b !== 'object' || b === null || b.resourceType !== 'Bundle') throw badRequest('POST /fhir expects a Bundle');
  if (b.type !== 'batch' && b.type !== 'transaction') throw badRequest(`Bundle.type must be 'batch' or 'transaction', not '${String(b.type)}'`, [{ code: 'invalid', message: 'Bundle.type must be batch or transaction', path: 'Bundle.type' }]);
  const entries = (b.entry ?? []) as BundleEntry[];
  if (!Array.isArray(entries)) throw badRequest('Bundle.entry must be an array');
  entries.forEach((e, i) => {
    if (typeof e !== 'object' || e === null || typeof e.request?.method !== 'string' || typeof e.request.url !== 'string') {
      throw badRequest(`Bundle entry ${i} needs request.method and request.url`, [{ code: 'required', message: 'request.method and request.url are required', path: `Bundle.entry[${i}].request` }]);
    }
  });
  if (b.type === 'batch') {
    const out: Record<string, unknown>[] = [];
    for (let i = 0; i < entries.length; i++) {
      try {
        out.push(await store.inTransaction(undefined, (tx) => runEntry(store, ctx, tx, entries[i]!, i, opts)));
      } catch (err) {
        out.push(errorEntry(err));
      }
    }
    return { resourceType: 'Bundle', id: newId(), type: 'batch-response', entry: out };
  }
  const out = await store.inTransaction(undefined, (tx) => runTransaction(store, ctx, tx, entries, opts));
  return { resourceType: 'Bundle', id: newId(), type: 'transaction-response', entry: out };
}

/** One entry of a batch, or a GET entry of a transaction. */
async function runEntry(store: FhirStore, ctx: AccessContext, tx: Queryable, e: BundleEntry, i: number, opts: BundleOptions): Promise<Record<string, unknown>> {
  const method = e.request!.method!.toUpperCase();
  const u = parseEntryUrl(e.request!.url!, i);
  const ifMatch = etagVersion(e.request!.ifMatch);
  const w = { tx, platform: opts.platform, ifMatch };
  switch (method) {
    case 'GET': case 'HEAD': {
      if (u.versionId) {
        const v = await store.vread(ctx, u.type, u.id!, u.versionId, { tx });
        return { resource: v.resource, response: { status: '200 OK', etag: `W/"${v.versionId}"`, lastModified: v.lastUpdated.toISOString() } };
      }
      if (u.history) {
        throw badRequest(`Bundle entry ${i}: history is not supported inside bundles`);
      }
      if (u.id) {
        const v = await store.read(ctx, u.type, u.id, { tx });
        return { resource: v.resource, response: { status: '200 OK', etag: `W/"${v.versionId}"`, lastModified: v.lastUpdated.toISOString() } };
      }
      const params = searchParamsOf(u.query ?? '');
      const { query, result } = await store.search(ctx, u.type, params, { tx });
      return { resource: renderSearchBundle(store.fhirBase, query, result), response: { status: '200 OK' } };
    }
    case 'POST': {
      const r = e.resource!;
      if (r?.resourceType !== u.type) throw badRequest(`Bundle entry ${i}: resourceType does not match request.url`);
      const o = e.request!.ifNoneExist ? await store.conditionalCreate(ctx, r, e.request!.ifNoneExist, w) : await store.create(ctx, r, w);
      return writeResponse(o, opts.returnMinimal);
    }
    case 'PUT': {
      const o = u.id ? await store.update(ctx, u.type, u.id, e.resource!, w) : await store.conditionalUpdate(ctx, u.type, u.query ?? '', e.resource!, w);
      return writeResponse(o, opts.returnMinimal);
    }
    case 'PATCH': {
      const patch = patchOf(e, i);
      const o = u.id ? await store.patch(ctx, u.type, u.id, patch, w) : await store.conditionalPatch(ctx, u.type, u.query ?? '', patch, w);
      return writeResponse(o, opts.returnMinimal);
    }
    case 'DELETE': {
      const o = u.id ? await store.delete(ctx, u.type, u.id, w) : await store.conditionalDelete(ctx, u.type, u.query ?? '', w);
      return writeResponse(o, true);
    }
    default:
      throw badRequest(`Bundle entry ${i}: unsupported method '${method}'`);
  }
}

/** JSON Patch in a bundle travels as a Binary (base64 JSON) per FHIR, or directly as an array. */
function patchOf(e: BundleEntry, i: number): unknown {
  const r = e.resource as unknown;
  if (Array.isArray(r)) return r;
  const bin = r as { resourceType?: string; data?: string } | undefined;
  if (bin?.resourceType === 'Binary' && typeof bin.data === 'string') {
    try {
      return JSON.parse(Buffer.from(bin.data, 'base64').toString('utf8'));
    } catch {
      throw badRequest(`Bundle entry ${i}: Binary data is not a JSON Patch`);
    }
  }
  throw badRequest(`Bundle entry ${i}: PATCH needs a Binary resource carrying a JSON Patch`);
}

const ORDER: Record<string, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };

async function runTransaction(store: FhirStore, ctx: AccessContext, tx: Queryable, entries: BundleEntry[], opts: BundleOptions): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = new Array(entries.length);
  const order = entries.map((_, i) => i).sort((a, b) => (ORDER[entries[a]!.request!.method!.toUpperCase()] ?? 9) - (ORDER[entries[b]!.request!.method!.toUpperCase()] ?? 9) || a - b);
  const refMap = new Map<string, string>();
  const targets = new Set<string>();
  const claim = (key: string, i: number) => {
    if (targets.has(key)) throw badRequest(`Bundle entry ${i}: ${key} appears more than once in the transaction`);
    targets.add(key);
  };
  interface Planned { i: number; method: string; u: ParsedUrl; op?: WriteOp; existing?: WriteOutcome }
  const plan: Planned[] = [];

  // 1. resolve ids: conditional operations are looked up before anything is written
  for (const i of order) {
    const e = entries[i]!;
    const method = e.request!.method!.toUpperCase();
    if (ORDER[method] === undefined) throw badRequest(`Bundle entry ${i}: unsupported method '${method}'`);
    const u = parseEntryUrl(e.request!.url!, i);
    const ifMatch = etagVersion(e.request!.ifMatch);
    if (method === 'GET' || method === 'HEAD') { plan.push({ i, method, u }); continue; }
    if (method === 'POST') {
      if (u.id || u.query) throw badRequest(`Bundle entry ${i}: POST must target a type`);
      const r = e.resource;
      if (typeof r !== 'object' || r === null || r.resourceType !== u.type) throw badRequest(`Bundle entry ${i}: resourceType does not match request.url '${e.request!.url}'`, [{ code: 'invalid', message: 'resourceType does not match request.url', path: `Bundle.entry[${i}].resource.resourceType` }]);
      if (e.request!.ifNoneExist) {
        const found = await store.resolveCriteria(tx, ctx, u.type, e.request!.ifNoneExist, 2);
        if (found.length > 1) throw preconditionFailed(`Bundle entry ${i}: multiple ${u.type} match '${e.request!.ifNoneExist}'`);
        if (found.length === 1) {
          const cur = await store.read(ctx, u.type, found[0]!, { tx });
          if (e.fullUrl) refMap.set(e.fullUrl, `${u.type}/${cur.id}`);
          plan.push({ i, method, u, existing: { outcome: 'unchanged', type: u.type, id: cur.id, versionId: cur.versionId, lastUpdated: cur.lastUpdated, resource: cur.resource } });
          continue;
        }
      }
      const id = newResourceId();
      if (e.fullUrl) refMap.set(e.fullUrl, `${u.type}/${id}`);
      plan.push({ i, method, u, op: { action: 'create', type: u.type, id, resource: { ...r } } });
      continue;
    }
    let id = u.id;
    if (!id) {
      const criteria = u.query ?? '';
      const found = await store.resolveCriteria(tx, ctx, u.type, criteria, 2);
      if (found.length > 1) throw preconditionFailed(`Bundle entry ${i}: multiple ${u.type} match '${criteria}'`);
      if (found.length === 1) id = found[0]!;
      else if (method === 'DELETE') { out[i] = { response: { status: '204 No Content' } }; continue; }
      else if (method === 'PATCH') throw notFound(`Bundle entry ${i}: no ${u.type} matches '${criteria}'`);
      else id = typeof e.resource?.id === 'string' ? e.resource.id : newResourceId();
    }
    claim(`${u.type}/${id}`, i);
    if (e.fullUrl) refMap.set(e.fullUrl, `${u.type}/${id}`);
    if (method === 'DELETE') plan.push({ i, method, u, op: { action: 'delete', type: u.type, id, ifMatch } });
    else if (method === 'PATCH') plan.push({ i, method, u, op: { action: 'patch', type: u.type, id, patch: patchOf(e, i), ifMatch } });
    else {
      const r = e.resource;
      if (typeof r !== 'object' || r === null) throw badRequest(`Bundle entry ${i}: PUT needs a resource`);
      // a conditional PUT's body may omit the id; the match (or the new id) fills it in
      plan.push({ i, method, u, op: { action: 'update', type: u.type, id, resource: { ...r, id: r.id ?? id }, ifMatch } });
    }
  }
  // fullUrls may also be absolute URLs of this server
  for (const [k, v] of [...refMap]) if (k.startsWith(`${store.fhirBase}/`)) refMap.set(k.slice(store.fhirBase.length + 1), v);

  // 2. rewrite references inside every resource being written
  const conditionalCache = new Map<string, string>();
  const resolveConditional = async (ref: string): Promise<string> => {
    const hit = conditionalCache.get(ref);
    if (hit) return hit;
    const [type, criteria] = ref.split('?', 2) as [string, string];
    assertResourceType(type);
    const found = await store.resolveCriteria(tx, ctx, type, criteria, 2);
    if (found.length !== 1) throw preconditionFailed(`Conditional reference '${ref}' matched ${found.length === 0 ? 'no' : 'several'} resources`);
    const resolved = `${type}/${found[0]}`;
    conditionalCache.set(ref, resolved);
    return resolved;
  };
  await rewriteReferences(plan.flatMap((p) => (p.op?.resource ? [p.op.resource] : [])), refMap, resolveConditional);

  // 3. write: deletes, creates, updates/patches — one bulk batch each
  for (const group of [['DELETE'], ['POST'], ['PUT', 'PATCH']]) {
    const items = plan.filter((p) => p.op && group.includes(p.method));
    const results = await store.writeBatch(tx, ctx, items.map((p) => p.op!), { platform: opts.platform });
    items.forEach((p, k) => { out[p.i] = writeResponse(results[k]!, opts.returnMinimal || p.method === 'DELETE'); });
  }
  for (const p of plan) if (p.existing) out[p.i] = writeResponse(p.existing, opts.returnMinimal);
  // 4. reads see the transaction's writes
  for (const p of plan) {
    if (p.method === 'GET' || p.method === 'HEAD') out[p.i] = await runEntry(store, ctx, tx, entries[p.i]!, p.i, opts);
  }
  return out;
}
