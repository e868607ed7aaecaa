// Turns FHIR search query parameters into a structured query, driven by the R4 SearchParameter definitions.
// Nothing here is written per parameter: every parameter of a type is handled by its value kind.
import { badRequest, type ErrorDetail } from '../../platform/errors.ts';
import { unionOfParams, getSearchParam, isResourceType, type SearchParamDef } from '../definitions/index.ts';

export type Prefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';
const PREFIXES = new Set<Prefix>(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']);

/** Parameter kinds this store indexes, searches and sorts by. */
export const SUPPORTED_KINDS = new Set(['token', 'string', 'date', 'reference', 'number', 'quantity', 'uri']);

/** Whether a search parameter can be used as a filter (indexed kinds, and composites whose parts are indexed). */
export function isSearchable(type: string, def: SearchParamDef): boolean {
  if (def.type === 'composite') return def.components !== undefined && def.expression !== '';
  return SUPPORTED_KINDS.has(def.type) && (def.expression !== '' || def.code === '_id');
}

/** The synthetic definition `_has` filters carry. */
const HAS_DEF: SearchParamDef = { code: '_has', type: 'special', expression: '', url: 'http://hl7.org/fhir/R4/search.html#has', description: 'Reverse chaining' };
const MAX_HAS_DEPTH = 3;

/** Modifiers accepted per kind (`missing` everywhere). */
const MODIFIERS: Record<string, Set<string>> = {
  token: new Set(['missing', 'not', 'text']),
  string: new Set(['missing', 'exact', 'contains']),
  date: new Set(['missing']),
  reference: new Set(['missing']), // plus `:<ResourceType>`
  number: new Set(['missing']),
  quantity: new Set(['missing']),
  uri: new Set(['missing', 'below', 'above']),
  composite: new Set(['missing']),
};

export interface Filter {
  /** the parameter as it appeared (for messages) */
  name: string;
  def: SearchParamDef;
  modifier: string | null;
  /** comma-separated alternatives (OR) */
  values: string[];
  /** for reference params with `:Type` modifier or a chain: the allowed target types */
  targetTypes?: string[];
  /** one-level chain `ref.param`: the filter applied to the referenced resource */
  chain?: Filter;
  /** `_has:Type:ref:param`: resources of `type` whose reference `param` points here and that match `filter` */
  has?: { type: string; param: string; filter: Filter };
  /** parameters searched as any of several others of the same kind (R4 combo-…; see unionOfParams) */
  unionOf?: SearchParamDef[];
}

export interface SortKey {
  /** `_id`, `_lastUpdated` or a search parameter */
  code: string;
  def: SearchParamDef | null;
  descending: boolean;
  /** the index-row parameters holding its values (several for a union parameter such as combo-code) */
  params?: string[];
}

export interface IncludeSpec {
  sourceType: string;
  /** null for `*` */
  param: string | null;
  targetType: string | null;
  iterate: boolean;
}

export interface ParsedSearch {
  type: string;
  filters: Filter[];
  sort: SortKey[];
  count: number;
  total: 'none' | 'estimate' | 'accurate';
  summary: 'count' | 'true' | 'false' | 'data' | 'text' | null;
  elements: string[] | null;
  include: IncludeSpec[];
  revinclude: IncludeSpec[];
  cursor: string | null;
  /** parameters ignored under lenient handling */
  warnings: ErrorDetail[];
  /** the parameters to repeat in paging links (everything except _cursor) */
  linkParams: [string, string][];
}

export interface ParseOptions {
  strict: boolean;
  defaultCount: number;
  maxCount: number;
}

/** Splits on commas not escaped with a backslash; unescapes `\,` `\$` `\|` `\\`. */
export function splitValues(raw: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '\\' && i + 1 < raw.length && ',$|\\'.includes(raw[i + 1]!)) {
      cur += c + raw[i + 1];
      i++;
    } else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** Splits a composite value at unescaped `$` (the parts keep their other escapes). */
export function splitComposite(value: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && i + 1 < value.length) {
      cur += c + value[i + 1];
      i++;
    } else if (c === '$') {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts;
}

/** Splits a token/quantity value at unescaped `|`. */
export function splitPipes(value: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && i + 1 < value.length) {
      cur += value[i + 1];
      i++;
    } else if (c === '|') {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts;
}

export function unescapeValue(value: string): string {
  return value.replace(/\\([,$|\\])/g, '$1');
}

export function splitPrefix(value: string): { prefix: Prefix; rest: string } {
  const p = value.slice(0, 2) as Prefix;
  if (PREFIXES.has(p) && value.length > 2 && !/^[a-z]$/.test(value[2]!)) return { prefix: p, rest: value.slice(2) };
  return { prefix: 'eq', rest: value };
}

function invalid(param: string, message: string): never {
  throw badRequest(message, [{ code: 'invalid', message, path: param }]);
}

// Result-shaping and paging parameters, handled outside the filters.
const CONTROL = new Set(['_count', '_sort', '_total', '_summary', '_elements', '_include', '_revinclude', '_cursor', '_format', '_pretty']);

export function parseSearch(type: string, params: [string, string][], opts: ParseOptions): ParsedSearch {
  const q: ParsedSearch = {
    type, filters: [], sort: [], count: opts.defaultCount, total: 'none', summary: null, elements: null,
    include: [], revinclude: [], cursor: null, warnings: [], linkParams: [],
  };
  const unknown = (name: string, message: string) => {
    if (opts.strict) invalid(name, message);
    q.warnings.push({ code: 'not-supported', message: `${message} (ignored)`, path: name, severity: 'warning' });
  };
  for (const [name, rawValue] of params) {
    if (name !== '_cursor') q.linkParams.push([name, rawValue]);
    const value = rawValue;
    if (/^_(rev)?include(:(iterate|recurse))?$/.test(name)) continue; // parseIncludes below
    if (CONTROL.has(name)) {
      parseControl(q, name, value, opts);
      continue;
    }
    const f = parseFilter(type, name, value, unknown, 0);
    if (f) q.filters.push(f);
  }
  parseIncludes(q, params);
  return q;
}

/** One filter parameter of `type` (plain, `:modifier`, chained `ref.param`, or reverse-chained `_has:…`); null = ignored. */
function parseFilter(type: string, name: string, value: string, unknown: (name: string, message: string) => void, depth: number): Filter | null {
  if (name.startsWith('_has:')) {
    // _has:Type:ref:param — param may itself carry a modifier, a chain or another _has
    const parts = name.split(':');
    if (parts.length < 4) invalid(name, `_has needs _has:Type:reference:parameter ('${name}')`);
    const [, srcType, refCode] = parts as [string, string, string];
    if (depth >= MAX_HAS_DEPTH) invalid(name, `_has may be nested at most ${MAX_HAS_DEPTH} levels`);
    if (!isResourceType(srcType)) invalid(name, `Unknown resource type '${srcType}' in '${name}'`);
    const refDef = getSearchParam(srcType, refCode);
    if (!refDef || refDef.type !== 'reference') invalid(name, `'${srcType}:${refCode}' is not a reference search parameter`);
    if (refDef.target && refDef.target.length > 0 && !refDef.target.includes(type)) invalid(name, `'${srcType}:${refCode}' cannot refer to ${type}`);
    const inner = parseFilter(srcType, parts.slice(3).join(':'), value, unknown, depth + 1);
    if (!inner) return null;
    return { name, def: HAS_DEF, modifier: null, values: [], has: { type: srcType, param: refCode, filter: inner } };
  }
  const colon = name.indexOf(':');
  const dot = name.indexOf('.');
  if (dot > 0) {
    // chain: `ref[:Type].param[:modifier]`
    const head = name.slice(0, dot);
    const tail = name.slice(dot + 1);
    const [refCode, refType] = head.split(':') as [string, string | undefined];
    const refDef = getSearchParam(type, refCode);
    if (!refDef) { unknown(name, `Unknown search parameter '${refCode}' for ${type}`); return null; }
    if (refDef.type !== 'reference') invalid(name, `Search parameter '${refCode}' is not a reference and cannot be chained`);
    if (tail.includes('.')) invalid(name, `Only one level of chaining is supported ('${name}')`);
    const [chainCode, chainMod] = tail.split(':') as [string, string | undefined];
    let targets = refType ? [refType] : (refDef.target ?? []);
    if (refType && !isResourceType(refType)) invalid(name, `Unknown resource type '${refType}' in '${name}'`);
    targets = targets.filter((t) => getSearchParam(t, chainCode));
    if (targets.length === 0) { unknown(name, `No target of '${refCode}' has a search parameter '${chainCode}'`); return null; }
    const chainDef = getSearchParam(targets[0]!, chainCode)!;
    const chain = makeFilter(targets[0]!, name, chainDef, chainMod ?? null, value);
    if (!chain) { unknown(name, `Search parameter '${chainCode}' is not supported`); return null; }
    return { name, def: refDef, modifier: null, values: [], targetTypes: targets, chain };
  }
  const [code, modifier] = colon > 0 ? [name.slice(0, colon), name.slice(colon + 1)] : [name, null];
  const def = getSearchParam(type, code);
  if (!def) { unknown(name, `Unknown search parameter '${code}' for ${type}`); return null; }
  const f = makeFilter(type, name, def, modifier, value);
  if (!f) { unknown(name, `Search parameter '${code}' (${def.type}) is not supported`); return null; }
  return f;
}

function makeFilter(type: string, name: string, def: SearchParamDef, modifier: string | null, value: string): Filter | null {
  if (!isSearchable(type, def)) return null;
  const f: Filter = { name, def, modifier, values: splitValues(value) };
  if (modifier !== null) {
    if (def.type === 'reference' && /^[A-Z][A-Za-z]+$/.test(modifier)) {
      if (!isResourceType(modifier)) invalid(name, `Unknown resource type modifier ':${modifier}'`);
      f.modifier = null;
      f.targetTypes = [modifier];
    } else if (!MODIFIERS[def.type]!.has(modifier)) {
      invalid(name, `Unknown or unsupported modifier ':${modifier}' for ${def.type} parameter '${def.code}'`);
    }
  }
  if (modifier === 'missing' && value !== 'true' && value !== 'false') invalid(name, `':missing' takes true or false`);
  if (f.values.some((v) => v === '') && modifier !== 'missing') invalid(name, `Empty value for search parameter '${name}'`);
  const union = unionOfParams(type, def.code);
  if (union) f.unionOf = union.map((c) => getSearchParam(type, c)!);
  if (def.type === 'composite') {
    if (modifier !== 'missing') {
      for (const v of f.values) {
        if (splitComposite(v).length !== def.components!.length) invalid(name, `'${name}' takes ${def.components!.length} values separated by '$'`);
      }
    }
  }
  return f;
}

function parseControl(q: ParsedSearch, name: string, value: string, opts: ParseOptions) {
  switch (name) {
    case '_count': {
      if (!/^\d+$/.test(value)) invalid(name, `_count must be a non-negative integer`);
      q.count = Math.min(Number(value), opts.maxCount);
      break;
    }
    case '_sort':
      for (const part of value.split(',').filter(Boolean)) {
        const descending = part.startsWith('-');
        const code = descending ? part.slice(1) : part;
        if (code === '_id' || code === '_lastUpdated') { q.sort.push({ code, def: null, descending }); continue; }
        const def = getSearchParam(q.type, code);
        if (!def || !SUPPORTED_KINDS.has(def.type) || def.expression === '') invalid(name, `Cannot sort by '${code}'`);
        q.sort.push({ code, def, descending, params: unionOfParams(q.type, code) ?? undefined });
      }
      break;
    case '_total':
      if (!['none', 'estimate', 'accurate'].includes(value)) invalid(name, `_total must be none, estimate or accurate`);
      q.total = value as ParsedSearch['total'];
      break;
    case '_summary':
      if (!['count', 'false', 'data', 'text', 'true'].includes(value)) invalid(name, `Unsupported _summary value '${value}'`);
      q.summary = value as ParsedSearch['summary'];
      break;
    case '_elements':
      q.elements = value.split(',').map((s) => s.trim()).filter(Boolean);
      if (q.elements.some((e) => !/^[A-Za-z][A-Za-z0-9_]*$/.test(e.replace(/^[A-Za-z]+\./, '')))) invalid(name, `Invalid _elements value`);
      q.elements = q.elements.map((e) => e.replace(/^[A-Z][A-Za-z]+\./, ''));
      break;
    case '_include':
    case '_revinclude':
    case '_include:iterate':
    case '_revinclude:iterate':
      break;
    case '_cursor':
      q.cursor = value;
      break;
    default:
      break; // _format / _pretty: JSON only, formatting ignored
  }
}

/** Parses `_include[:iterate]` / `_revinclude[:iterate]` (names carry the modifier). */
export function parseIncludes(q: ParsedSearch, params: [string, string][]): void {
  for (const [name, value] of params) {
    const m = /^_(rev)?include(?::(iterate|recurse))?$/.exec(name);
    if (!m) continue;
    const rev = Boolean(m[1]);
    const iterate = Boolean(m[2]);
    if (value === '*') {
      (rev ? q.revinclude : q.include).push({ sourceType: rev ? '*' : q.type, param: null, targetType: null, iterate });
      continue;
    }
    const [sourceType, param, targetType] = value.split(':') as [string, string | undefined, string | undefined];
    if (!isResourceType(sourceType)) invalid(name, `Unknown resource type '${sourceType}' in ${name}`);
    if (param === undefined) invalid(name, `${name} needs Type:param`);
    if (param !== '*') {
      const def = getSearchParam(sourceType, param);
      if (!def || def.type !== 'reference') invalid(name, `'${sourceType}:${param}' is not a reference search parameter`);
    }
    if (targetType !== undefined && !isResourceType(targetType)) invalid(name, `Unknown target type '${targetType}' in ${name}`);
    (rev ? q.revinclude : q.include).push({ sourceType, param: param === '*' ? null : param, targetType: targetType ?? null, iterate });
  }
}

/** Name/value pairs from a query string or form body, in order. */
export function searchParamsOf(query: string): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of new URLSearchParams(query)) out.push([k, v]);
  return out;
}

export { CONTROL as CONTROL_PARAMS };
