// Search-index values of a resource, computed from the R4 SearchParameter FHIRPath expressions
// (see ../definitions). Expressions are compiled once per (type, parameter) by ./fhirpath-compiler.ts;
// the few it cannot compile are evaluated with the `fhirpath` package instead.
// Composite parameters are indexed per composite item (e.g. each Observation.component): every component's values go
// to its kind's table under the parameter `<code>$<component index>` with the item's ordinal in `grp`, so a search
// pairs the components of one item. Special parameters (and _text, _content, _query) are not indexed.
import fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4/index.js';
import { listSearchParams, unionOfParams, type SearchParamDef } from '../definitions/index.ts';
import { CompileError, compileFhirPath, type Evaluator, type FhirNode } from './fhirpath-compiler.ts';
import { MAX_INSTANT, MIN_INSTANT, normalizeString, parseDateRange } from './values.ts';

export { normalizeString, parseDateRange, MIN_INSTANT, MAX_INSTANT } from './values.ts';
export { compileFhirPath, type FhirNode } from './fhirpath-compiler.ts';

/** `grp`: the composite item an entry belongs to (only on composite components, whose param is `<code>$<n>`). */
export type IndexEntry = (
  | { kind: 'token'; param: string; system: string | null; code: string | null; display?: string }
  /** `raw`: the verbatim value, only when it differs from the normalized `value` (for `:exact`) */
  | { kind: 'string'; param: string; value: string; raw?: string }
  | { kind: 'date'; param: string; start: string; end: string }
  | { kind: 'reference'; param: string; targetType: string | null; targetId: string | null; reference: string }
  | { kind: 'number'; param: string; value: number }
  | { kind: 'quantity'; param: string; value: number; system: string | null; code: string | null; unit: string | null }
  | { kind: 'uri'; param: string; value: string }
) & { grp?: number };

/** Parameters whose string values are indexed verbatim (exact match), not normalised. */
export const EXACT_STRING_PARAMS: ReadonlySet<string> = new Set(['upid']);

const INDEXED_TYPES = new Set(['token', 'string', 'date', 'reference', 'number', 'quantity', 'uri']);

/**
 * Parameters searched through columns of `resources` (id, last_updated), never through index rows: not
 * extracted (they were one token and one date row per resource, ~14 % of all index rows, that no query read).
 */
export const COLUMN_PARAMS: ReadonlySet<string> = new Set(['_id', '_lastUpdated']);

interface CompiledParam {
  def: SearchParamDef;
  evaluate: Evaluator;
  /** true when evaluated through the `fhirpath` package */
  fallback: boolean;
  /** composite parameters: each component's kind and evaluator (relative to one item of `evaluate`) */
  components?: { type: string; evaluate: Evaluator }[];
  /** evaluated (tests, tools) but never stored as index rows */
  unindexed?: boolean;
}

function compileOrFallback(expression: string): { evaluate: Evaluator; fallback: boolean } {
  try {
    return { evaluate: compileFhirPath(expression), fallback: false };
  } catch (e) {
    if (!(e instanceof CompileError)) throw e;
    return { evaluate: fallbackEvaluator(expression), fallback: true };
  }
}

const compiledByType = new Map<string, CompiledParam[]>();

/**
 * `resolve()` needs a server in the `fhirpath` package; for search indexing it only ever asks the type of a
 * literal reference, so fallback expressions test the reference string instead.
 */
export function rewriteResolveForFhirpath(expression: string): string {
  return expression.replace(/\.where\(resolve\(\) is ([A-Za-z]+)\)/g,
    (_m, t: string) => `.where(reference.matches('(^|/)${t}/[A-Za-z0-9\\\\-.]{1,64}(/_history/[A-Za-z0-9\\\\-.]{1,64})?$'))`);
}

/** Evaluates with the `fhirpath` package, keeping each result's FHIR type. */
export function evaluateWithFhirpath(expression: string, resource: unknown): FhirNode[] {
  const raw = fhirpath.evaluate(resource as object, rewriteResolveForFhirpath(expression), undefined, r4Model, { resolveInternalTypes: false }) as unknown[];
  const types = fhirpath.types(raw) as string[];
  const values = fhirpath.resolveInternalTypes(raw) as unknown[];
  return values.map((v, i) => {
    const node = raw[i] as { fhirNodeDataType?: string; data?: unknown } | undefined;
    const t = node?.fhirNodeDataType ?? String(types[i] ?? '').replace(/^(FHIR|System)\./, '');
    return { v, t: t === 'Boolean' ? 'boolean' : t === 'String' ? 'string' : t };
  });
}

function fallbackEvaluator(expression: string): Evaluator {
  return (focus) => focus.flatMap((n) => evaluateWithFhirpath(expression, n.v));
}

function compiledParams(resourceType: string): CompiledParam[] {
  let list = compiledByType.get(resourceType);
  if (list) return list;
  list = [];
  for (const def of listSearchParams(resourceType)) {
    if (!def.expression) continue;
    if (def.type === 'composite' && def.components) {
      if (unionOfParams(resourceType, def.code)) continue; // searched through the composites it unites
      const components = def.components.map((c) => ({ type: c.type, evaluate: compileOrFallback(c.expression).evaluate }));
      list.push({ def, ...compileOrFallback(def.expression), components });
      continue;
    }
    if (!INDEXED_TYPES.has(def.type)) continue;
    // union parameters (combo-code = code | component-code) are searched through the ones they unite: no rows
    list.push({ def, ...compileOrFallback(def.expression), unindexed: unionOfParams(resourceType, def.code) !== null });
  }
  compiledByType.set(resourceType, list);
  return list;
}

/** Which parameters of a type are evaluated by the `fhirpath` fallback (for tests and docs). */
export function fallbackParams(resourceType: string): string[] {
  return compiledParams(resourceType).filter((p) => p.fallback).map((p) => p.def.code);
}

/** The nodes an indexed parameter's expression selects (used by the compiler-vs-fhirpath test). */
export function evaluateSearchParam(resource: { resourceType: string }, code: string): FhirNode[] | undefined {
  const p = compiledParams(resource.resourceType).find((x) => x.def.code === code);
  return p?.evaluate([{ v: resource, t: resource.resourceType }]);
}

/** Index entries of every indexable search parameter of the resource's type. */
export function extractIndexEntries(resource: unknown): IndexEntry[] {
  if (typeof resource !== 'object' || resource === null) return [];
  const rt = (resource as { resourceType?: unknown }).resourceType;
  if (typeof rt !== 'string') return [];
  const out: IndexEntry[] = [];
  const root: FhirNode[] = [{ v: resource, t: rt }];
  for (const p of compiledParams(rt)) {
    if (p.unindexed || COLUMN_PARAMS.has(p.def.code)) continue;
    const nodes = p.evaluate(root);
    if (nodes.length === 0) continue;
    const before = out.length;
    const code = p.def.code;
    if (p.components) {
      compositeEntries(code, p.components, nodes, out);
      continue;
    }
    kindEntries(p.def.type, code, nodes, out);
    if (out.length - before > 1) dedupe(out, before);
  }
  return out;
}

function kindEntries(kind: string, code: string, nodes: FhirNode[], out: IndexEntry[]): void {
  switch (kind) {
    case 'token': for (const n of nodes) tokenEntries(code, n, out); break;
    case 'string': for (const n of nodes) stringEntries(code, n, out); break;
    case 'date': for (const n of nodes) dateEntries(code, n, out); break;
    case 'reference': for (const n of nodes) referenceEntries(code, n, out); break;
    case 'number': for (const n of nodes) numberEntries(code, n, out); break;
    case 'quantity': for (const n of nodes) quantityEntries(code, n, out); break;
    case 'uri': for (const n of nodes) uriEntries(code, n, out); break;
  }
}

/** One group of component entries per composite item that has a value for every component. */
function compositeEntries(code: string, components: { type: string; evaluate: Evaluator }[], items: FhirNode[], out: IndexEntry[]): void {
  for (let g = 0; g < items.length; g++) {
    const start = out.length;
    let complete = true;
    for (let k = 0; k < components.length && complete; k++) {
      const before = out.length;
      kindEntries(components[k]!.type, `${code}$${k}`, components[k]!.evaluate([items[g]!]), out);
      // a CodeableConcept's text is only for `:text`, which composites do not offer
      let w = before;
      for (let i = before; i < out.length; i++) { const e = out[i]!; if (e.kind !== 'token' || e.code !== null) out[w++] = e; }
      out.length = w;
      if (out.length === before) complete = false;
      else if (out.length - before > 1) dedupe(out, before);
    }
    if (!complete) { out.length = start; continue; }
    for (let i = start; i < out.length; i++) out[i]!.grp = g;
  }
}

function dedupe(out: IndexEntry[], from: number): void {
  const seen = new Set<string>();
  let w = from;
  for (let r = from; r < out.length; r++) {
    const key = JSON.stringify(out[r]);
    if (seen.has(key)) continue;
    seen.add(key);
    out[w++] = out[r];
  }
  out.length = w;
}

type Obj = Record<string, unknown>;
const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);

function tokenEntries(param: string, n: FhirNode, out: IndexEntry[]): void {
  const v = n.v;
  if (typeof v !== 'object' || v === null) {
    if (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') out.push({ kind: 'token', param, system: null, code: String(v) });
    return;
  }
  const o = v as Obj;
  switch (n.t) {
    case 'Coding': codingEntry(param, o, out); return;
    case 'CodeableConcept': {
      if (Array.isArray(o.coding)) for (const c of o.coding) if (c && typeof c === 'object') codingEntry(param, c as Obj, out);
      const text = str(o.text);
      if (text) out.push({ kind: 'token', param, system: null, code: null, display: text });
      return;
    }
    case 'Identifier': {
      const system = str(o.system), code = str(o.value);
      if (system || code) out.push({ kind: 'token', param, system, code });
      return;
    }
    case 'ContactPoint': {
      const code = str(o.value);
      if (code) out.push({ kind: 'token', param, system: null, code });
      return;
    }
  }
}

function codingEntry(param: string, c: Obj, out: IndexEntry[]): void {
  const system = str(c.system), code = str(c.code), display = str(c.display);
  if (!system && !code && !display) return;
  const e: IndexEntry = { kind: 'token', param, system, code };
  if (display) e.display = display;
  out.push(e);
}

function stringEntries(param: string, n: FhirNode, out: IndexEntry[]): void {
  const v = n.v;
  if (typeof v === 'string') {
    if (EXACT_STRING_PARAMS.has(param)) { if (v) out.push({ kind: 'string', param, value: v }); return; }
    pushString(param, v, out);
    return;
  }
  if (typeof v !== 'object' || v === null) return;
  const o = v as Obj;
  const fields = n.t === 'HumanName' ? HUMAN_NAME_FIELDS : n.t === 'Address' ? ADDRESS_FIELDS : null;
  if (!fields) return;
  for (const f of fields) {
    const x = o[f];
    if (Array.isArray(x)) { for (const s of x) pushString(param, s, out); } else pushString(param, x, out);
  }
}

const HUMAN_NAME_FIELDS = ['family', 'given', 'prefix', 'suffix', 'text'];
const ADDRESS_FIELDS = ['line', 'city', 'district', 'state', 'postalCode', 'country', 'text'];

function pushString(param: string, s: unknown, out: IndexEntry[]): void {
  if (typeof s !== 'string') return;
  const value = normalizeString(s);
  if (!value) return;
  out.push(value === s ? { kind: 'string', param, value } : { kind: 'string', param, value, raw: s });
}

function dateEntries(param: string, n: FhirNode, out: IndexEntry[]): void {
  const v = n.v;
  if (typeof v === 'string') {
    const r = parseDateRange(v);
    if (r) out.push({ kind: 'date', param, start: r.start, end: r.end });
    return;
  }
  if (typeof v !== 'object' || v === null) return;
  const o = v as Obj;
  if (n.t === 'Period') {
    const s = typeof o.start === 'string' ? parseDateRange(o.start) : null;
    const e = typeof o.end === 'string' ? parseDateRange(o.end) : null;
    if (s || e) out.push({ kind: 'date', param, start: s?.start ?? MIN_INSTANT, end: e?.end ?? MAX_INSTANT });
  } else if (n.t === 'Timing') {
    let start: string | null = null, end: string | null = null;
    for (const ev of Array.isArray(o.event) ? o.event : []) {
      const r = typeof ev === 'string' ? parseDateRange(ev) : null;
      if (!r) continue;
      if (start === null || r.start < start) start = r.start;
      if (end === null || r.end > end) end = r.end;
    }
    if (start !== null && end !== null) out.push({ kind: 'date', param, start, end });
    else {
      const bounds = (o.repeat as Obj | undefined)?.boundsPeriod;
      if (bounds && typeof bounds === 'object') dateEntries(param, { v: bounds, t: 'Period' }, out);
    }
  }
}

const LOCAL_REF_RE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

function referenceEntries(param: string, n: FhirNode, out: IndexEntry[]): void {
  const v = n.v;
  if (typeof v === 'string') {
    // canonical / uri targets: kept as the reference text only
    out.push({ kind: 'reference', param, targetType: null, targetId: null, reference: v });
    return;
  }
  if (typeof v !== 'object' || v === null) return;
  const rt = (v as Obj).resourceType, id = (v as Obj).id;
  if (typeof rt === 'string' && typeof id === 'string') {
    // An inline resource (Bundle composition/message: `Bundle.entry[0].resource`) indexes as a reference to it.
    out.push({ kind: 'reference', param, targetType: rt, targetId: id, reference: `${rt}/${id}` });
    return;
  }
  const ref = str((v as Obj).reference);
  if (!ref) return; // identifier-only / display-only references are not indexed
  const m = LOCAL_REF_RE.exec(ref);
  out.push(m
    ? { kind: 'reference', param, targetType: m[1], targetId: m[2], reference: `${m[1]}/${m[2]}` }
    : { kind: 'reference', param, targetType: null, targetId: null, reference: ref });
}

function numberEntries(param: string, n: FhirNode, out: IndexEntry[]): void {
  if (typeof n.v === 'number' && Number.isFinite(n.v)) out.push({ kind: 'number', param, value: n.v });
}

const QUANTITY_TYPES = new Set(['Quantity', 'Age', 'Duration', 'Count', 'Distance', 'SimpleQuantity', 'MoneyQuantity']);

function quantityEntries(param: string, n: FhirNode, out: IndexEntry[]): void {
  const o = n.v as Obj;
  if (typeof o !== 'object' || o === null || typeof o.value !== 'number') return;
  if (QUANTITY_TYPES.has(n.t)) {
    out.push({ kind: 'quantity', param, value: o.value, system: str(o.system), code: str(o.code), unit: str(o.unit) });
  } else if (n.t === 'Money') {
    const cur = str(o.currency);
    out.push({ kind: 'quantity', param, value: o.value, system: cur ? 'urn:iso:std:iso:4217' : null, code: cur, unit: cur });
  }
}

function uriEntries(param: string, n: FhirNode, out: IndexEntry[]): void {
  if (typeof n.v === 'string' && n.v.length > 0) out.push({ kind: 'uri', param, value: n.v });
}
