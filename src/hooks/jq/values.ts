// JSON value helpers with jq semantics: types, total ordering, equality, jq-style number
// printing and the truncated value dumps jq puts in error messages.

/** A jq runtime error; `value` is what `try … catch .` sees. Not an Error subclass: throwing it must be cheap. */
export class JqError {
  constructor(public readonly value: unknown) {}
  get message(): string {
    const v = this.value;
    if (typeof v === 'string') return v;
    if (v === null || v === undefined) return 'null (null) not a string';
    return `${dumpTrunc(v, 1000)} (not a string)`;
  }
}

/** A resource budget ran out; never caught by jq `try`. */
export class JqAbort {
  constructor(public readonly kind: 'steps' | 'memory' | 'depth', public readonly detail: string) {}
  get message(): string { return `jq evaluation aborted: ${this.detail}`; }
}

export type JqType = 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object';

export function typeOf(v: unknown): JqType {
  if (v === null || v === undefined) return 'null';
  switch (typeof v) {
    case 'boolean': return 'boolean';
    case 'number': return 'number';
    case 'string': return 'string';
    default: return Array.isArray(v) ? 'array' : 'object';
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function truthy(v: unknown): boolean {
  return v !== false && v !== null && v !== undefined;
}

/** Own property read; inherited members (`constructor`, `__proto__`, …) read as null. */
export function getKey(o: Record<string, unknown>, k: string): unknown {
  const v = o[k];
  if (v === undefined || typeof v === 'function') return null;
  if (k === '__proto__' && !Object.hasOwn(o, k)) return null;
  return v;
}

/** Own property write that cannot touch the prototype. */
export function setKey(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  else o[k] = v;
}

export function hasKey(o: Record<string, unknown>, k: string): boolean {
  return Object.hasOwn(o, k);
}

export function copyObject(o: Record<string, unknown>): Record<string, unknown> {
  return { ...o };
}

const TYPE_ORDER: Record<JqType, number> = { null: 0, boolean: 1, number: 3, string: 4, array: 5, object: 6 };

function orderOf(v: unknown): number {
  if (v === true) return 2;
  return TYPE_ORDER[typeOf(v)];
}

function compareStrings(a: string, b: string): number {
  // jq compares UTF-8 bytes, which is code point order; UTF-16 order differs only with astral vs U+E000–U+FFFF.
  return a < b ? -1 : a > b ? 1 : 0;
}

/** jq's total order: null < false < true < numbers < strings < arrays < objects. */
export function compare(a: unknown, b: unknown): number {
  const oa = orderOf(a), ob = orderOf(b);
  if (oa !== ob) return oa < ob ? -1 : 1;
  switch (oa) {
    case 3: {
      const x = a as number, y = b as number;
      // jq sorts nan below all numbers
      if (x < y) return -1;
      if (x > y) return 1;
      if (x === y) return 0;
      if (Number.isNaN(x)) return Number.isNaN(y) ? 0 : -1;
      return 1;
    }
    case 4: return compareStrings(a as string, b as string);
    case 5: {
      const x = a as unknown[], y = b as unknown[];
      const n = Math.min(x.length, y.length);
      for (let i = 0; i < n; i++) {
        const c = compare(x[i], y[i]);
        if (c !== 0) return c;
      }
      return x.length === y.length ? 0 : x.length < y.length ? -1 : 1;
    }
    case 6: {
      const x = a as Record<string, unknown>, y = b as Record<string, unknown>;
      const kx = Object.keys(x).sort(compareStrings), ky = Object.keys(y).sort(compareStrings);
      const c = compare(kx, ky);
      if (c !== 0) return c;
      for (const k of kx) {
        const d = compare(x[k], y[k]);
        if (d !== 0) return d;
      }
      return 0;
    }
    default: return 0;
  }
}

export function equals(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === undefined) a = null;
  if (b === undefined) b = null;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') {
    return a === b;
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!equals(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const x = a as Record<string, unknown>, y = b as Record<string, unknown>;
  const kx = Object.keys(x);
  if (kx.length !== Object.keys(y).length) return false;
  for (const k of kx) {
    if (!Object.hasOwn(y, k) || !equals(x[k], y[k])) return false;
  }
  return true;
}

export function sortKeys(o: Record<string, unknown>): string[] {
  return Object.keys(o).sort(compareStrings);
}

/** Number text as jq 1.7+ prints it (shortest round-trip digits, %g-like exponent choice). */
export function numberToString(n: number): string {
  if (Number.isNaN(n)) return 'null';
  if (!Number.isFinite(n)) return n > 0 ? '1.7976931348623157e+308' : '-1.7976931348623157e+308';
  if (Number.isInteger(n) && Math.abs(n) < 1e15) return Object.is(n, -0) ? "-0" : String(n);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(n.toExponential())!;
  const sign = m[1]!, digits = m[2]! + (m[3] ?? ''), exp = Number(m[4]);
  const decpt = exp + 1;
  if (decpt <= -4 || decpt > digits.length + 15) {
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const ax = Math.abs(exp);
    return `${sign}${mant}e${exp < 0 ? '-' : '+'}${ax < 10 ? '0' + ax : ax}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return sign + digits + '0'.repeat(decpt - digits.length);
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

export function quoteString(s: string): string {
  const j = JSON.stringify(s);
  return j.includes('\x7f') ? j.replace(/\x7f/g, '\\u007f') : j;
}

/** Compact JSON text exactly as jq's `tojson` prints it. */
export function toJson(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  switch (typeof v) {
    case 'boolean': return v ? 'true' : 'false';
    case 'number': return numberToString(v);
    case 'string': return quoteString(v);
  }
  if (Array.isArray(v)) {
    let s = '[';
    for (let i = 0; i < v.length; i++) s += (i ? ',' : '') + toJson(v[i]);
    return s + ']';
  }
  let s = '{', first = true;
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    s += (first ? '' : ',') + quoteString(k) + ':' + toJson(o[k]);
    first = false;
  }
  return s + '}';
}

/** Indented JSON (jq's default CLI output, 2 spaces). */
export function toJsonPretty(v: unknown, indent = '  ', cur = ''): string {
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    const inner = cur + indent;
    return '[\n' + v.map((x) => inner + toJsonPretty(x, indent, inner)).join(',\n') + '\n' + cur + ']';
  }
  if (isObject(v)) {
    const keys = Object.keys(v);
    if (keys.length === 0) return '{}';
    const inner = cur + indent;
    return '{\n' + keys.map((k) => `${inner}${quoteString(k)}: ${toJsonPretty(v[k], indent, inner)}`).join(',\n') + '\n' + cur + '}';
  }
  return toJson(v);
}

/** jq's jv_dump_string_trunc: at most bufsize-1 characters, ending in "..." when cut. */
export function dumpTrunc(v: unknown, bufsize = 15): string {
  const s = toJson(v);
  if (s.length <= bufsize - 1) return s;
  return s.slice(0, bufsize - 4) + '...';
}

/** "number (123)" style description used in most jq error messages. */
export function describe(v: unknown, bufsize = 15): string {
  return `${typeOf(v)} (${dumpTrunc(v, bufsize)})`;
}

export function codepointLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) { n--; i++; }
    }
  }
  return n;
}

const SURROGATE = /[\ud800-\udfff]/;
export function hasSurrogates(s: string): boolean { return SURROGATE.test(s); }

/** Code-unit offset → code point offset. */
export function cpIndex(s: string, unitIndex: number): number {
  if (!hasSurrogates(s)) return unitIndex;
  return codepointLength(s.slice(0, unitIndex));
}

/** Slice a string by code point offsets. */
export function cpSlice(s: string, from: number, to: number): string {
  if (!hasSurrogates(s)) return s.slice(from, to);
  return Array.from(s).slice(from, to).join('');
}
