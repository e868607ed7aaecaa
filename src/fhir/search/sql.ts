// Search → SQL, in one place. Every predicate is parameterized; every resource row a query can return passes the
// sharing policy (visibleSql) in SQL, including rows reached through chains.
import { badRequest } from '../../platform/errors.ts';
import { visibleSql } from '../../access/policy.ts';
import type { AccessContext } from '../../access/context.ts';
import { EXACT_STRING_PARAMS, normalizeString, parseDateRange } from '../indexing/index.ts';
import { splitComposite, splitPipes, splitPrefix, unescapeValue, type Filter, type Prefix, type SortKey } from './parse.ts';
import type { SearchParamDef } from '../definitions/index.ts';

export const INDEX_TABLE: Record<string, string> = {
  token: 'idx_token', string: 'idx_string', date: 'idx_date', reference: 'idx_reference',
  number: 'idx_number', quantity: 'idx_quantity', uri: 'idx_uri',
};

export class SqlParams {
  readonly values: unknown[] = [];
  #aliases = 0;
  /** a fresh table alias for nested subqueries */
  alias(prefix: string): string {
    return `${prefix}${this.#aliases++}`;
  }
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

export interface SqlContext {
  ctx: AccessContext;
  p: SqlParams;
  /** base URL of this server's FHIR endpoint (absolute references to it are made relative) */
  fhirBase: string;
  /** now, for `ap` on dates */
  now: Date;
}

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function invalid(param: string, message: string): never {
  throw badRequest(message, [{ code: 'invalid', message, path: param }]);
}

export function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Filters that are a plain "some index row matches" test, which can be nested inside one another. */
export function isNestable(f: Filter): boolean {
  return f.def.code !== '_id' && f.def.code !== '_lastUpdated' && !f.chain && !f.has && !f.unionOf && f.def.type !== 'composite' && f.modifier !== 'missing' && f.modifier !== 'not';
}

// Most selective kinds first: the outermost EXISTS is where PostgreSQL starts.
const KIND_RANK: Record<string, number> = { reference: 0, string: 1, uri: 2, token: 3, date: 4, number: 5, quantity: 5 };

/**
 * Several index filters as one nested EXISTS chain (ref → token → … → resources): the planner then checks each
 * further filter against the index rows (index-only) before fetching any resource row, instead of fetching every
 * candidate resource first when its row estimates are off.
 */
export function nestedFiltersSql(filters: Filter[], alias: string, typeSql: string, s: SqlContext): string {
  const sorted = [...filters].sort((a, b) => (KIND_RANK[a.def.type] ?? 9) - (KIND_RANK[b.def.type] ?? 9));
  const build = (list: Filter[], outer: string): string =>
    filterSql(list[0]!, outer, typeSql, s, list.length > 1 ? (ia) => build(list.slice(1), ia) : undefined);
  return build(sorted, alias);
}

/** A predicate over resource rows aliased `alias` (a `resources` row) for one filter. */
export function filterSql(f: Filter, alias: string, typeSql: string, s: SqlContext, nested?: (indexAlias: string) => string): string {
  const { def } = f;
  if (def.code === '_id') {
    const ids = f.values.map(unescapeValue);
    const cond = `${alias}.id = ANY(${s.p.add(ids)}::text[])`;
    if (f.modifier === 'missing') return f.values[0] === 'true' ? 'false' : 'true';
    return f.modifier === 'not' ? `NOT (${cond})` : cond;
  }
  if (def.code === '_lastUpdated') {
    if (f.modifier === 'missing') return f.values[0] === 'true' ? 'false' : 'true';
    return `(${f.values.map((v) => dateCondition(f.name, v, `${alias}.last_updated`, `${alias}.last_updated`, s)).join(' OR ')})`;
  }
  if (f.chain) return chainSql(f, alias, typeSql, s);
  if (f.has) return hasSql(f, alias, typeSql, s);
  if (def.type === 'composite') return compositeSql(f, alias, typeSql, s);
  if (f.unionOf) {
    // any of the united parameters matches; `:not` / `:missing=true` mean none of them does
    const parts = f.unionOf.map((d) => filterSql({ ...f, def: d, unionOf: undefined }, alias, typeSql, s));
    const all = f.modifier === 'not' || (f.modifier === 'missing' && f.values[0] === 'true');
    return `(${parts.join(all ? ' AND ' : ' OR ')})`;
  }
  const table = INDEX_TABLE[def.type]!;
  const base = `FROM ${table} i WHERE i.id = ${alias}.id AND i.type = ${typeSql} AND i.param = ${s.p.add(def.code)}`;
  if (f.modifier === 'missing') {
    return f.values[0] === 'true' ? `NOT EXISTS (SELECT 1 ${base})` : `EXISTS (SELECT 1 ${base})`;
  }
  const alternatives = f.values.map((v) => valueCondition(f, v, s));
  const cond = alternatives.length === 1 ? alternatives[0] : `(${alternatives.join(' OR ')})`;
  if (f.modifier === 'not') return `NOT EXISTS (SELECT 1 ${base} AND ${cond})`;
  if (nested) {
    // our own SQL text only: rename the index alias so nested subqueries do not shadow each other
    const ia = s.p.alias('i');
    const rename = (sql: string) => sql.replace(/\bi\./g, `${ia}.`).replace(/ i WHERE/, ` ${ia} WHERE`);
    return `EXISTS (SELECT 1 ${rename(base)} AND ${rename(cond!)} AND ${nested(ia)})`;
  }
  return `EXISTS (SELECT 1 ${base} AND ${cond})`;
}

function chainSql(f: Filter, alias: string, typeSql: string, s: SqlContext): string {
  const chain = f.chain!;
  const t = `t${s.p.values.length}`;
  const inner = filterSql(chain, t, `${t}.type`, s);
  return `EXISTS (SELECT 1 FROM idx_reference ci JOIN resources ${t} ON ${t}.type = ci.target_type AND ${t}.id = ci.target_id
    WHERE ci.id = ${alias}.id AND ci.type = ${typeSql} AND ci.param = ${s.p.add(f.def.code)}
      AND ci.target_type = ANY(${s.p.add(f.targetTypes ?? [])}::text[])
      AND NOT ${t}.deleted AND ${visibleSql(s.ctx, t, s.p.values)} AND ${inner})`;
}

/** `_has:Type:ref:param=v`: some visible Type resource whose `ref` points at this row matches param=v. */
function hasSql(f: Filter, alias: string, typeSql: string, s: SqlContext): string {
  const { type, param, filter } = f.has!;
  const hr = s.p.alias('hr');
  const h = s.p.alias('h');
  const srcType = s.p.add(type);
  const inner = filterSql(filter, h, srcType, s);
  return `EXISTS (SELECT 1 FROM idx_reference ${hr} JOIN resources ${h} ON ${h}.type = ${hr}.type AND ${h}.id = ${hr}.id
    WHERE ${hr}.target_id = ${alias}.id AND ${hr}.target_type = ${typeSql} AND ${hr}.type = ${srcType} AND ${hr}.param = ${s.p.add(param)}
      AND NOT ${h}.deleted AND ${visibleSql(s.ctx, h, s.p.values)} AND ${inner})`;
}

/**
 * Composite parameters: the components of one composite item (rows of the same resource and `grp`, under the
 * parameters `<code>$0`, `<code>$1`, …) must each match their part of the `$`-separated value.
 */
function compositeSql(f: Filter, alias: string, typeSql: string, s: SqlContext): string {
  const defs = f.unionOf ?? [f.def];
  if (f.modifier === 'missing') {
    const any = defs.map((d) => `EXISTS (SELECT 1 FROM ${INDEX_TABLE[d.components![0]!.type]} i WHERE i.id = ${alias}.id AND i.type = ${typeSql} AND i.param = ${s.p.add(`${d.code}$0`)})`).join(' OR ');
    return f.values[0] === 'true' ? `NOT (${any})` : `(${any})`;
  }
  const alternatives: string[] = [];
  for (const d of defs) for (const v of f.values) alternatives.push(compositeValueSql(f.name, d, splitComposite(v), alias, typeSql, s));
  return alternatives.length === 1 ? alternatives[0]! : `(${alternatives.join(' OR ')})`;
}

function compositeValueSql(name: string, def: SearchParamDef, parts: string[], alias: string, typeSql: string, s: SqlContext): string {
  const build = (k: number, prev: string | null): string => {
    const comp = def.components![k]!;
    const c = s.p.alias('c');
    const part: Filter = { name, def: { ...def, code: `${def.code}$${k}`, type: comp.type, components: undefined }, modifier: null, values: [parts[k]!] };
    const cond = valueCondition(part, parts[k]!, s).replace(/\bi\./g, `${c}.`);
    const link = prev === null
      ? `${c}.id = ${alias}.id AND ${c}.type = ${typeSql}`
      : `${c}.id = ${prev}.id AND ${c}.type = ${prev}.type AND ${c}.grp = ${prev}.grp`;
    const rest = k + 1 < def.components!.length ? ` AND ${build(k + 1, c)}` : '';
    return `EXISTS (SELECT 1 FROM ${INDEX_TABLE[comp.type]} ${c} WHERE ${link} AND ${c}.param = ${s.p.add(`${def.code}$${k}`)} AND ${cond}${rest})`;
  };
  return build(0, null);
}

function valueCondition(f: Filter, raw: string, s: SqlContext): string {
  switch (f.def.type) {
    case 'token': return tokenCondition(f, raw, s);
    case 'string': return stringCondition(f, raw, s);
    case 'date': return dateCondition(f.name, raw, 'i.start_at', 'i.end_at', s);
    case 'reference': return referenceCondition(f, raw, s);
    case 'number': return numberCondition(f.name, raw, 'i.value', s);
    case 'quantity': return quantityCondition(f, raw, s);
    case 'uri': return uriCondition(f, raw, s);
    default: return invalid(f.name, `Unsupported parameter type ${f.def.type}`);
  }
}

function tokenCondition(f: Filter, raw: string, s: SqlContext): string {
  if (f.modifier === 'text') {
    return `lower(i.display) LIKE ${s.p.add(`%${escapeLike(unescapeValue(raw).toLowerCase())}%`)}`;
  }
  const parts = splitPipes(raw);
  if (parts.length > 2) invalid(f.name, `Invalid token '${raw}' for '${f.name}'`);
  if (parts.length === 1) return `i.code = ${s.p.add(parts[0])}`;
  const [system, code] = parts as [string, string];
  if (system === '' && code === '') invalid(f.name, `Invalid token '${raw}' for '${f.name}'`);
  if (system === '') return `(i.system IS NULL AND i.code = ${s.p.add(code)})`;
  if (code === '') return `i.system = ${s.p.add(system)}`;
  return `(i.system = ${s.p.add(system)} AND i.code = ${s.p.add(code)})`;
}

function stringCondition(f: Filter, raw: string, s: SqlContext): string {
  const value = unescapeValue(raw);
  if (EXACT_STRING_PARAMS.has(f.def.code)) return `i.value = ${s.p.add(value)}`;
  const norm = normalizeString(value);
  // :exact: the normalized value narrows through the index, then the verbatim value (raw is stored only when
  // normalization changed it) must be equal — case, accents and whitespace included
  if (f.modifier === 'exact') return `(i.value = ${s.p.add(norm)} AND coalesce(i.raw, i.value) = ${s.p.add(value)})`;
  if (f.modifier === 'contains') return `i.value LIKE ${s.p.add(`%${escapeLike(norm)}%`)}`;
  return `i.value LIKE ${s.p.add(`${escapeLike(norm)}%`)}`;
}

function uriCondition(f: Filter, raw: string, s: SqlContext): string {
  const value = unescapeValue(raw);
  if (f.modifier === 'below') return `i.value LIKE ${s.p.add(`${escapeLike(value)}%`)}`;
  if (f.modifier === 'above') return `starts_with(${s.p.add(value)}::text, i.value)`;
  return `i.value = ${s.p.add(value)}`;
}

/** Date comparison of a stored range [startCol, endCol] with a prefixed search value (FHIR R4 §3.1.1.4.3). */
export function dateCondition(param: string, raw: string, startCol: string, endCol: string, s: SqlContext): string {
  const { prefix, rest } = splitPrefix(raw);
  const range = parseDateRange(rest);
  if (!range) invalid(param, `Invalid date '${raw}' for '${param}'`);
  let lo = new Date(range.start);
  let hi = new Date(range.end);
  if (prefix === 'ap') {
    // "approximately": widen by 10% of the distance to now, at least a day
    const widen = Math.max(86_400_000, Math.abs(s.now.getTime() - lo.getTime()) * 0.1);
    lo = new Date(lo.getTime() - widen);
    hi = new Date(hi.getTime() + widen);
  }
  // parameters are added only when used (PostgreSQL rejects untyped unused parameters)
  const ps = () => `${s.p.add(lo.toISOString())}::timestamptz`;
  const pe = () => `${s.p.add(hi.toISOString())}::timestamptz`;
  switch (prefix as Prefix) {
    case 'eq': return `(${startCol} >= ${ps()} AND ${endCol} <= ${pe()})`;
    case 'ne': return `NOT (${startCol} >= ${ps()} AND ${endCol} <= ${pe()})`;
    case 'gt': return `${endCol} > ${pe()}`;
    case 'lt': return `${startCol} < ${ps()}`;
    case 'ge': return `${endCol} >= ${ps()}`;
    case 'le': return `${startCol} <= ${pe()}`;
    case 'sa': return `${startCol} > ${pe()}`;
    case 'eb': return `${endCol} < ${ps()}`;
    case 'ap': return `(${startCol} <= ${pe()} AND ${endCol} >= ${ps()})`;
  }
}

function numberRange(param: string, rest: string): { n: number; lo: number; hi: number; text: string } {
  if (!NUMBER.test(rest)) invalid(param, `Invalid number '${rest}' for '${param}'`);
  const n = Number(rest);
  if (!Number.isFinite(n)) invalid(param, `Invalid number '${rest}' for '${param}'`);
  // implicit precision: 100 matches [99.5, 100.5), 1.50 matches [1.495, 1.505)
  const mantissa = rest.replace(/[eE].*$/, '');
  const exp = /[eE]([+-]?\d+)$/.exec(rest);
  const decimals = (mantissa.split('.')[1]?.length ?? 0) - (exp ? Number(exp[1]) : 0);
  const half = 0.5 * 10 ** -decimals;
  return { n, lo: n - half, hi: n + half, text: rest };
}

function numberCondition(param: string, raw: string, col: string, s: SqlContext): string {
  const { prefix, rest } = splitPrefix(raw);
  const r = numberRange(param, rest);
  const v = (x: number | string) => `${s.p.add(String(x))}::numeric`;
  switch (prefix as Prefix) {
    case 'eq': return `(${col} >= ${v(r.lo)} AND ${col} < ${v(r.hi)})`;
    case 'ne': return `NOT (${col} >= ${v(r.lo)} AND ${col} < ${v(r.hi)})`;
    case 'gt': case 'sa': return `${col} > ${v(r.text)}`;
    case 'lt': case 'eb': return `${col} < ${v(r.text)}`;
    case 'ge': return `${col} >= ${v(r.text)}`;
    case 'le': return `${col} <= ${v(r.text)}`;
    case 'ap': {
      const d = Math.abs(r.n) * 0.1;
      return `(${col} >= ${v(r.n - d)} AND ${col} <= ${v(r.n + d)})`;
    }
  }
}

function quantityCondition(f: Filter, raw: string, s: SqlContext): string {
  const parts = splitPipes(raw);
  if (parts.length !== 1 && parts.length !== 3) invalid(f.name, `Invalid quantity '${raw}' for '${f.name}' (number|system|code)`);
  const conds = [numberCondition(f.name, parts[0]!, 'i.value', s)];
  if (parts.length === 3) {
    const [, system, code] = parts as [string, string, string];
    if (system) conds.push(`i.system = ${s.p.add(system)}`);
    if (code) conds.push(system ? `i.code = ${s.p.add(code)}` : `(i.code = ${s.p.add(code)} OR i.unit = ${s.p.add(code)})`);
  }
  return `(${conds.join(' AND ')})`;
}

function referenceCondition(f: Filter, raw: string, s: SqlContext): string {
  let value = unescapeValue(raw);
  if (value.startsWith(`${s.fhirBase}/`)) value = value.slice(s.fhirBase.length + 1);
  value = value.replace(/\/_history\/[^/]+$/, '');
  const rel = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(value);
  if (rel) {
    if (f.targetTypes && !f.targetTypes.includes(rel[1]!)) return 'false';
    return `(i.target_type = ${s.p.add(rel[1])} AND i.target_id = ${s.p.add(rel[2])})`;
  }
  if (FHIR_ID.test(value)) {
    const types = f.targetTypes ? ` AND i.target_type = ANY(${s.p.add(f.targetTypes)}::text[])` : '';
    return `(i.target_id = ${s.p.add(value)}${types})`;
  }
  return `i.reference = ${s.p.add(value)}`;
}

export interface SortColumn {
  /** SQL expression over alias r */
  expr: string;
  /** SQL expression rendering the key as text (for cursors) */
  text: string;
  cast: 'text' | 'timestamptz' | 'numeric';
  descending: boolean;
  /**
   * The key is a NOT NULL column (`_id`, `_lastUpdated`): no "missing values last" flag in ORDER BY or the keyset,
   * so an index on the column gives the order (`_sort=-_lastUpdated` walks resources_builder_type_updated
   * backwards instead of sorting every resource of the type).
   */
  notNull?: boolean;
}

const SORT_COLUMN: Record<string, { col: string; cast: SortColumn['cast'] }> = {
  string: { col: 'value', cast: 'text' }, token: { col: 'code', cast: 'text' }, date: { col: 'start_at', cast: 'timestamptz' },
  number: { col: 'value', cast: 'numeric' }, quantity: { col: 'value', cast: 'numeric' }, reference: { col: 'reference', cast: 'text' },
  uri: { col: 'value', cast: 'text' },
};

export function asText(expr: string, cast: SortColumn['cast']): string {
  if (cast === 'timestamptz') return `to_char(${expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
  return `(${expr})::text`;
}

/** One sort key as a SQL expression: a column, or the min/max of the parameter's index values. */
export function sortColumn(k: SortKey, alias: string, s: SqlContext): SortColumn {
  if (k.code === '_id') return { expr: `${alias}.id`, text: `${alias}.id`, cast: 'text', descending: k.descending, notNull: true };
  if (k.code === '_lastUpdated') {
    return { expr: `${alias}.last_updated`, text: asText(`${alias}.last_updated`, 'timestamptz'), cast: 'timestamptz', descending: k.descending, notNull: true };
  }
  const def = k.def!;
  const sc = SORT_COLUMN[def.type]!;
  const col = def.type === 'date' && k.descending ? 'end_at' : sc.col;
  const param = k.params ? `ANY(${s.p.add(k.params)}::text[])` : s.p.add(def.code);
  const expr = `(SELECT ${k.descending ? 'max' : 'min'}(i.${col}) FROM ${INDEX_TABLE[def.type]} i WHERE i.id = ${alias}.id AND i.type = ${alias}.type AND i.param = ${param})`;
  return { expr, text: asText(expr, sc.cast), cast: sc.cast, descending: k.descending };
}

/**
 * Keyset condition "row comes after the cursor" for keys ordered by (key IS NULL, key [desc]) …, id.
 * `values` are the cursor's key values as text (null = missing).
 */
export function keysetCondition(cols: { expr: string; cast: SortColumn['cast']; descending: boolean; notNull?: boolean }[], values: (string | null)[], lastId: string, idExpr: string, s: SqlContext): string {
  // components: [nullFlag asc, value dir] per key, then id asc
  type Comp = { expr: string; op: '>' | '<'; param: string } | { nullFlag: string; cursorNull: boolean };
  const comps: Comp[] = [];
  cols.forEach((c, i) => {
    const v = values[i] ?? null;
    if (!c.notNull) comps.push({ nullFlag: `(${c.expr}) IS NULL`, cursorNull: v === null });
    if (v !== null) comps.push({ expr: c.expr, op: c.descending ? '<' : '>', param: `${s.p.add(v)}::${c.cast}` });
  });
  comps.push({ expr: idExpr, op: '>', param: `${s.p.add(lastId)}::text` });
  const ors: string[] = [];
  const eqs: string[] = [];
  for (const c of comps) {
    if ('nullFlag' in c) {
      // nulls sort last: a row is "after" when it is null and the cursor is not
      if (!c.cursorNull) ors.push([...eqs, c.nullFlag].join(' AND '));
      eqs.push(c.cursorNull ? c.nullFlag : `NOT ${c.nullFlag}`);
    } else {
      ors.push([...eqs, `${c.expr} ${c.op} ${c.param}`].join(' AND '));
      eqs.push(`${c.expr} = ${c.param}`);
    }
  }
  return `(${ors.map((o) => `(${o})`).join(' OR ')})`;
}
