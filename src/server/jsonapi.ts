// Small helpers for the JSON:API endpoints (/auth/*, /patient-history/*, /zap-data-subscriptions/*, hooks).
import { badRequest } from '../platform/errors.ts';

export interface JsonApiResource {
  type: string;
  id: string;
  attributes?: Record<string, unknown>;
  relationships?: Record<string, { data: { type: string; id: string } | { type: string; id: string }[] | null }>;
  links?: Record<string, string>;
}

/** Reads `data` of a JSON:API request body; 400 with a pointer when the shape is wrong. */
export function readData(body: unknown, expectedType?: string): { type?: string; id?: string; attributes: Record<string, unknown>; relationships: Record<string, { data?: { type?: string; id?: string } }>; raw: Record<string, unknown> } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('The request body must be a JSON:API document', [{ code: 'structure', message: 'body must be an object with `data`', path: '/' }]);
  const data = (body as { data?: unknown }).data;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw badRequest('`data` must be an object', [{ code: 'structure', message: '`data` must be an object', path: '/data' }]);
  const d = data as Record<string, unknown>;
  if (expectedType && d.type !== undefined && d.type !== expectedType) {
    throw badRequest(`data.type must be '${expectedType}'`, [{ code: 'value', message: `data.type must be '${expectedType}'`, path: '/data/type' }]);
  }
  const attributes = (typeof d.attributes === 'object' && d.attributes !== null ? d.attributes : {}) as Record<string, unknown>;
  const relationships = (typeof d.relationships === 'object' && d.relationships !== null ? d.relationships : {}) as Record<string, { data?: { type?: string; id?: string } }>;
  return { type: d.type as string | undefined, id: d.id as string | undefined, attributes, relationships, raw: d };
}

export function relationshipId(rel: Record<string, { data?: { type?: string; id?: string } }>, name: string): string | undefined {
  const id = rel[name]?.data?.id;
  return typeof id === 'string' && id.length > 0 ? id : undefined;
}

/** page[size] (default 50, max 500) and page[number] (1-based) or page[offset]. */
export function readPage(query: Record<string, unknown>, maxSize = 500): { limit: number; offset: number } {
  const num = (k: string, d: number) => {
    const v = query[k];
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw badRequest(`${k} must be a non-negative integer`);
    return n;
  };
  const limit = Math.min(Math.max(num('page[size]', num('page[count]', 50)), 1), maxSize);
  const offset = query['page[offset]'] !== undefined ? num('page[offset]', 0) : (Math.max(num('page[number]', 1), 1) - 1) * limit;
  return { limit, offset };
}

export function pageLinks(baseUrl: string, path: string, query: Record<string, unknown>, limit: number, offset: number, total: number) {
  const make = (off: number) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (!k.startsWith('page[') && typeof v === 'string') q.set(k, v);
    q.set('page[size]', String(limit));
    q.set('page[offset]', String(off));
    return `${baseUrl}${path}?${q.toString()}`;
  };
  return {
    self: make(offset),
    ...(offset + limit < total ? { next: make(offset + limit) } : {}),
    ...(offset > 0 ? { prev: make(Math.max(0, offset - limit)) } : {}),
  };
}
