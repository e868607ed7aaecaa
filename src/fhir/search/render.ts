// A search result as a FHIR searchset Bundle: matches (search.mode match), included resources (include),
// warnings as an OperationOutcome (outcome), total when asked, and self/next links with keyset cursors.
import type { FhirResource } from '../store/meta.ts';
import { getTypeDef, type ElementDef, type TypeDef } from '../definitions/index.ts';
import type { SearchResult, SearchRow } from './execute.ts';
import type { ParsedSearch } from './parse.ts';

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED', display: 'subsetted' };

/** Applies _elements / _summary=text|data to a resource (mandatory id, meta, resourceType kept). */
export function shapeResource(r: FhirResource, q: Pick<ParsedSearch, 'elements' | 'summary'>): FhirResource {
  if (q.elements) {
    const keep = new Set(['resourceType', 'id', 'meta', ...q.elements]);
    const out: FhirResource = { resourceType: r.resourceType };
    for (const [k, v] of Object.entries(r)) if (keep.has(k)) out[k] = v;
    return withSubsetted(out);
  }
  if (q.summary === 'data') {
    const { text: _text, ...rest } = r;
    return withSubsetted(rest as FhirResource);
  }
  if (q.summary === 'true') return withSubsetted(summaryOf(r, r.resourceType) as FhirResource);
  if (q.summary === 'text') {
    const out: FhirResource = { resourceType: r.resourceType, id: r.id, meta: r.meta };
    if (r.text !== undefined) out.text = r.text;
    return withSubsetted(out);
  }
  return r;
}

/** The element of `def` a JSON key stands for (`valueQuantity` → `value[x]`, `_birthDate` → `birthDate`). */
function elementFor(def: TypeDef, key: string): ElementDef | undefined {
  const name = key.startsWith('_') ? key.slice(1) : key;
  const direct = def.elements.get(name);
  if (direct) return direct;
  for (const el of def.elements.values()) {
    if (el.choice && name.startsWith(el.name) && name.length > el.name.length && /[A-Z]/.test(name[el.name.length]!)) return el;
  }
  return undefined;
}

/**
 * `_summary=true`: only the elements the R4 definitions mark as summary (ElementDefinition.isSummary), walking into
 * backbone elements; data-type values are kept whole. resourceType, id and meta always stay.
 */
function summaryOf(value: Record<string, unknown>, typeName: string): Record<string, unknown> {
  const def = getTypeDef(typeName);
  if (!def) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === 'resourceType' || k === 'id' || k === 'meta') { out[k] = v; continue; }
    const el = elementFor(def, k);
    if (!el?.isSummary) continue;
    const child = el.types.length === 1 ? getTypeDef(el.types[0]!) : undefined;
    if (child?.kind === 'backbone' && !k.startsWith('_')) {
      const shape = (x: unknown) => (typeof x === 'object' && x !== null && !Array.isArray(x) ? summaryOf(x as Record<string, unknown>, child.name) : x);
      out[k] = Array.isArray(v) ? v.map(shape) : shape(v);
    } else out[k] = v;
  }
  return out;
}

function withSubsetted(r: FhirResource): FhirResource {
  return { ...r, meta: { ...(r.meta ?? {}), tag: [...(r.meta?.tag ?? []), SUBSETTED] } };
}

function linkUrl(fhirBase: string, type: string, params: [string, string][], cursor?: string): string {
  const sp = new URLSearchParams();
  for (const [k, v] of params) sp.append(k, v);
  if (cursor) sp.append('_cursor', cursor);
  const qs = sp.toString();
  return `${fhirBase}/${type}${qs ? `?${qs}` : ''}`;
}

/**
 * The same Bundle as JSON text. Rows fetched as text (`raw` searches) whose resource is sent unchanged (no
 * `_elements` / `_summary`) are spliced in as stored, without JSON.parse/JSON.stringify.
 */
export function renderSearchBundleText(fhirBase: string, q: ParsedSearch, result: SearchResult): string {
  const shaped = q.elements !== null || (q.summary !== null && q.summary !== 'false' && q.summary !== 'count');
  const rows = [...result.matches, ...result.included];
  if (shaped || rows.some((r) => r.text === undefined)) return JSON.stringify(renderSearchBundle(fhirBase, q, result));
  const head = renderSearchBundle(fhirBase, q, { ...result, matches: [], included: [] }) as { entry?: unknown[] };
  const tail = head.entry ?? []; // the outcome entry with warnings, if any
  const entries = [
    ...result.matches.map((r) => `{"fullUrl":${JSON.stringify(`${fhirBase}/${r.type}/${r.id}`)},"resource":${r.text},"search":{"mode":"match"}}`),
    ...result.included.map((r) => `{"fullUrl":${JSON.stringify(`${fhirBase}/${r.type}/${r.id}`)},"resource":${r.text},"search":{"mode":"include"}}`),
    ...tail.map((e) => JSON.stringify(e)),
  ];
  if (head.entry === undefined && entries.length === 0) return JSON.stringify(head);
  const { entry: _entry, ...rest } = head;
  return `${JSON.stringify(rest).slice(0, -1)},"entry":[${entries.join(',')}]}`;
}

export function renderSearchBundle(fhirBase: string, q: ParsedSearch, result: SearchResult): FhirResource {
  const entry = (r: SearchRow, mode: 'match' | 'include') => ({
    fullUrl: `${fhirBase}/${r.type}/${r.id}`,
    resource: shapeResource(r.content, q),
    search: { mode },
  });
  const entries: unknown[] = [
    ...result.matches.map((r) => entry(r, 'match')),
    ...result.included.map((r) => entry(r, 'include')),
  ];
  if (q.warnings.length > 0) {
    entries.push({
      resource: { resourceType: 'OperationOutcome', issue: q.warnings.map((w) => ({ severity: 'warning', code: w.code, diagnostics: w.message, ...(w.path ? { expression: [w.path] } : {}) })) },
      search: { mode: 'outcome' },
    });
  }
  const link = [{ relation: 'self', url: linkUrl(fhirBase, q.type, q.linkParams, q.cursor ?? undefined) }];
  if (result.nextCursor) link.push({ relation: 'next', url: linkUrl(fhirBase, q.type, q.linkParams, result.nextCursor) });
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    ...(result.total !== null ? { total: result.total } : {}),
    link,
    ...(entries.length > 0 || q.summary !== 'count' ? { entry: entries } : {}),
  };
}
