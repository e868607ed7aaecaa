// Runtime core shared by the compiler and the builtins: the compiled-closure shapes, the
// evaluation budget, jq's operators and the path primitives (getpath / setpath / delpaths).
import {
  JqAbort, JqError, compare, copyObject, describe, equals, getKey, isObject, quoteString, setKey, typeOf,
  cpSlice, codepointLength, hasSurrogates,
} from './values.ts';

/** Runtime environment: one frame per variable / filter parameter / label, innermost first. */
export type Env = { v: any; n: Env } | null;
/** Output continuation: return false to ask the producer to stop (first/limit/any…). */
export type Emit = (v: any) => boolean;
export type Path = any[];
/** Path-mode continuation: value plus its path, or null when the value is not a path expression. */
export type PEmit = (v: any, p: Path | null) => boolean;
export type Gen = (i: any, e: Env, k: Emit) => boolean;
export type PGen = (i: any, p: Path | null, e: Env, k: PEmit) => boolean;
export type Single = (i: any, e: Env) => any;

/** A compiled filter node: `v` streams outputs, `p` streams (value, path) pairs, `s` is set when the node always yields exactly one output. */
export interface C {
  v: Gen;
  p: PGen;
  s: Single | null;
}

export class BreakSignal {
  constructor(public readonly label: object) {}
}

// ---- evaluation budget (module state: evaluation is synchronous, one run at a time) ----
export const budget = {
  steps: 0,
  maxSteps: 1_000_000,
  depth: 0,
  maxDepth: 2_000,
  maxString: 10_000_000,
  maxCollection: 200_000,

  /**
   * The accumulator of the innermost running `reduce` when nothing else can reference it; the
   * top level of an assignment (`.[k] = v`) or `. + x` on exactly this value may update it in place,
   * which turns jq's `reduce … ({}; .[$k] = …)` idiom from quadratic into linear.
   */
  ownedRoot: null as object | null,
  /** Last root container freshly copied by setpath / `+` (a candidate for ownership). */
  lastFresh: null as object | null,
  /** wall-clock backstop: a negative value is the allowance in ms, armed at the first check */
  deadline: Infinity,
  nextClockCheck: 1024,
};

function overBudget(): void {
  if (budget.steps > budget.maxSteps) throw new JqAbort('steps', `more than ${budget.maxSteps} evaluation steps`);
  budget.nextClockCheck = Math.min(budget.steps + 1024, budget.maxSteps + 1);
  // The clock starts at the first check, so short evaluations never read it.
  const now = performance.now();
  if (budget.deadline < 0) budget.deadline = now - budget.deadline;
  else if (now > budget.deadline) throw new JqAbort('steps', 'evaluation time limit exceeded');
}
export function step(): void {
  if (++budget.steps >= budget.nextClockCheck) overBudget();
}
export function charge(n: number): void {
  budget.steps += n;
  if (budget.steps >= budget.nextClockCheck) overBudget();
}
/** Copying an object costs its size; large (dictionary-mode) objects are several times slower per key. */
export function copyObjectCharged(o: Record<string, unknown>): Record<string, unknown> {
  const c = copyObject(o);
  const n = Object.keys(c).length;
  charge(1 + (n > 128 ? n * 16 : n));
  return c;
}
export function checkString(s: string): string {
  if (s.length > budget.maxString) throw new JqAbort('memory', `string longer than ${budget.maxString} characters`);
  return s;
}
export function checkCollection(n: number): void {
  if (n > budget.maxCollection) throw new JqAbort('memory', `collection larger than ${budget.maxCollection} elements`);
}

// ---- node helpers ----
export function invalidPathResult(v: unknown): JqError {
  return new JqError(`Invalid path expression with result ${dumpPath(v)}`);
}
function dumpPath(v: unknown): string {
  return describe(v, 30).replace(/^[a-z]+ \((.*)\)$/s, '$1');
}
export function noPaths(v: Gen): PGen {
  return (i, _p, e, k) => v(i, e, (x) => k(x, null));
}
export function fromSingle(s: Single, p?: PGen): C {
  const v: Gen = (i, e, k) => k(s(i, e));
  return { s, v, p: p ?? noPaths(v) };
}
export function fromGen(v: Gen, p?: PGen): C {
  return { s: null, v, p: p ?? noPaths(v) };
}
export function collect(c: C, i: any, e: Env): any[] {
  if (c.s) return [c.s(i, e)];
  const out: any[] = [];
  c.v(i, e, (x) => { out.push(x); if (out.length > budget.maxCollection) checkCollection(out.length); return true; });
  return out;
}
/** Call `f(i, x)` for each output x of `a` (evaluated on the same input). */
export function cart1(a: C, f: (i: any, x: any) => any): C {
  const as = a.s;
  if (as) return fromSingle((i, e) => f(i, as(i, e)));
  return fromGen((i, e, k) => a.v(i, e, (x) => k(f(i, x))));
}
/** Cartesian product over two value arguments, first argument outermost (jq's `def f($a; $b)`). */
export function cart2(a: C, b: C, f: (i: any, x: any, y: any) => any): C {
  const as = a.s, bs = b.s;
  if (as && bs) return fromSingle((i, e) => f(i, as(i, e), bs(i, e)));
  return fromGen((i, e, k) => a.v(i, e, (x) => b.v(i, e, (y) => k(f(i, x, y)))));
}
export function cart3(a: C, b: C, c: C, f: (i: any, x: any, y: any, z: any) => any): C {
  return fromGen((i, e, k) => a.v(i, e, (x) => b.v(i, e, (y) => c.v(i, e, (z) => k(f(i, x, y, z))))));
}

// ---- indexing ----
export function indexValue(t: any, key: any): any {
  if (typeof key === 'string') {
    if (isObject(t)) return getKey(t, key);
    if (t === null || t === undefined) return null;
    throw new JqError(`Cannot index ${typeOf(t)} with string ${quoteString(key)}`);
  }
  if (typeof key === 'number') {
    if (Array.isArray(t)) {
      if (Number.isNaN(key)) return null;
      let idx = Math.floor(key);
      if (idx < 0) idx += t.length;
      const v = idx >= 0 && idx < t.length ? t[idx] : null;
      return v === undefined ? null : v;
    }
    if (t === null || t === undefined) return null;
    throw new JqError(`Cannot index ${typeOf(t)} with number`);
  }
  if (isObject(key) && (t === null || Array.isArray(t) || typeof t === 'string') && ('start' in key || 'end' in key)) {
    return sliceValue(t, getKey(key, 'start'), getKey(key, 'end'));
  }
  if (Array.isArray(key) && Array.isArray(t)) return arrayIndices(t, key);
  if (t === null && (key === null || isObject(key))) return null;
  throw new JqError(`Cannot index ${typeOf(t)} with ${typeOf(key)}`);
}

export function iterateValues(t: any): any[] {
  if (Array.isArray(t)) return t;
  if (isObject(t)) return Object.values(t);
  throw new JqError(`Cannot iterate over ${describe(t)}`);
}

function sliceBounds(len: number, from: any, to: any): [number, number] {
  if ((from !== null && typeof from !== 'number') || (to !== null && typeof to !== 'number')) {
    throw new JqError('Start and end indices of an array slice must be numbers');
  }
  let s = from === null ? 0 : from;
  let en = to === null ? len : to;
  if (s < 0) s += len;
  if (en < 0) en += len;
  if (s < 0) s = 0;
  if (s > len) s = len;
  if (en > len) en = len;
  if (en < s) en = s;
  s = Math.floor(s);
  en = Math.ceil(en);
  if (en > len) en = len;
  return [s, en];
}

export function sliceValue(t: any, from: any, to: any): any {
  if (t === null || t === undefined) return null;
  if (Array.isArray(t)) {
    const [s, e] = sliceBounds(t.length, from, to);
    return t.slice(s, e);
  }
  if (typeof t === 'string') {
    const len = hasSurrogates(t) ? codepointLength(t) : t.length;
    const [s, e] = sliceBounds(len, from, to);
    return cpSlice(t, s, e);
  }
  throw new JqError(`Cannot index ${typeOf(t)} with object`);
}

export function arrayIndices(a: any[], b: any[]): any {
  if (b.length === 0) return null;
  const out: number[] = [];
  for (let i = 0; i + b.length <= a.length; i++) {
    let ok = true;
    for (let j = 0; j < b.length; j++) if (!equals(a[i + j], b[j])) { ok = false; break; }
    if (ok) out.push(i);
  }
  return out;
}

// ---- paths ----
export function getpath(v: any, path: any): any {
  if (!Array.isArray(path)) throw new JqError('Path must be specified as an array');
  let cur = v;
  for (const k of path) {
    if (cur === null || cur === undefined) return null;
    cur = indexValue(cur, k);
  }
  return cur;
}

export function setpath(v: any, path: any, nv: any): any {
  if (!Array.isArray(path)) throw new JqError('Path must be specified as an array');
  return setIn(v, path, 0, nv);
}

function setIn(t: any, path: any[], at: number, nv: any): any {
  if (at === path.length) return nv;
  const key = path[at];
  // The root may be updated in place when `reduce` owns it (see budget.ownedRoot).
  const inPlace = at === 0 && t !== null && t === budget.ownedRoot;
  if (typeof key === 'string') {
    if (t === null || t === undefined) t = {};
    else if (!isObject(t)) throw new JqError(`Cannot index ${typeOf(t)} with string ${quoteString(key)}`);
    const child = setIn(getKey(t, key), path, at + 1, nv);
    if (inPlace) { step(); setKey(t, key, child); return t; }
    const o = copyObjectCharged(t);
    setKey(o, key, child);
    if (at === 0) budget.lastFresh = o;
    return o;
  }
  if (typeof key === 'number') {
    if (t === null || t === undefined) t = [];
    else if (!Array.isArray(t)) throw new JqError(`Cannot index ${typeOf(t)} with number`);
    let idx = Number.isNaN(key) ? 0 : Math.floor(key);
    if (idx < 0) {
      idx += t.length;
      if (idx < 0) throw new JqError('Out of bounds negative array index');
    }
    checkCollection(idx + 1);
    const child = setIn(idx < t.length ? t[idx] : null, path, at + 1, nv);
    let a: any[];
    if (inPlace) { step(); a = t; } else { a = t.slice(); charge(1 + (a.length >> 2)); }
    while (a.length < idx) a.push(null);
    a[idx] = child;
    if (at === 0 && !inPlace) budget.lastFresh = a;
    return a;
  }
  if (isObject(key)) {
    if (t === null || t === undefined) t = [];
    if (!Array.isArray(t)) throw new JqError(`Cannot update field at object index of ${typeOf(t)}`);
    const [s, e] = sliceBounds(t.length, getKey(key, 'start'), getKey(key, 'end'));
    const cur = t.slice(s, e);
    const repl = setIn(cur, path, at + 1, nv);
    if (!Array.isArray(repl)) throw new JqError('A slice of an array can only be assigned another array');
    checkCollection(t.length - (e - s) + repl.length);
    return [...t.slice(0, s), ...repl, ...t.slice(e)];
  }
  if (Array.isArray(key)) throw new JqError('Cannot update field at array index of array');
  throw new JqError(`Invalid path component ${describe(key)}`);
}

export function delpaths(v: any, paths: any): any {
  if (!Array.isArray(paths)) throw new JqError('Paths must be specified as an array');
  const sorted = paths.slice().sort(compare);
  for (let i = sorted.length - 1; i >= 0; i--) {
    const p = sorted[i];
    if (!Array.isArray(p)) throw new JqError('Path must be specified as an array');
    v = delpath(v, p, 0);
  }
  return v;
}

function delpath(t: any, path: any[], at: number): any {
  if (path.length === 0) return null;
  if (t === null || t === undefined) return null;
  const key = path[at];
  const last = at === path.length - 1;
  if (typeof key === 'string') {
    if (!isObject(t)) throw new JqError(`Cannot delete field at object index of ${typeOf(t)}`);
    if (!Object.hasOwn(t, key)) return t;
    const o = copyObjectCharged(t);
    if (last) delete o[key];
    else setKey(o, key, delpath(getKey(t, key), path, at + 1));
    return o;
  }
  if (typeof key === 'number') {
    if (!Array.isArray(t)) throw new JqError(`Cannot delete field at index of ${typeOf(t)}`);
    let idx = Math.floor(key);
    if (idx < 0) idx += t.length;
    if (idx < 0 || idx >= t.length) {
      if (key < 0 && idx < 0) return t;
      return t;
    }
    const a = t.slice();
    if (last) a.splice(idx, 1);
    else a[idx] = delpath(t[idx], path, at + 1);
    return a;
  }
  if (isObject(key)) {
    if (!Array.isArray(t)) throw new JqError(`Cannot delete slice of ${typeOf(t)}`);
    const [s, e] = sliceBounds(t.length, getKey(key, 'start'), getKey(key, 'end'));
    if (last) return [...t.slice(0, s), ...t.slice(e)];
    const inner = delpath(t.slice(s, e), path, at + 1);
    return [...t.slice(0, s), ...inner, ...t.slice(e)];
  }
  throw new JqError(`Invalid path component ${describe(key)}`);
}

// ---- operators ----
export function add(a: any, b: any): any {
  if (a === null || a === undefined) return b === undefined ? null : b;
  if (b === null || b === undefined) return a;
  const ta = typeof a;
  if (ta === 'number' && typeof b === 'number') return a + b;
  if (ta === 'string' && typeof b === 'string') {
    const len = a.length + b.length;
    if (len > budget.maxString) checkString(a + b);
    if (len > 1024) charge(len >> 10);
    return a + b;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    checkCollection(a.length + b.length);
    if (a === budget.ownedRoot) {
      charge(1 + (b.length >> 2));
      for (const x of b) a.push(x);
      return a;
    }
    charge((a.length + b.length) >> 2);
    return (budget.lastFresh = a.concat(b));
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(b);
    charge(keys.length);
    if (a === budget.ownedRoot) {
      for (const k of keys) setKey(a, k, b[k]);
      return a;
    }
    const o = copyObjectCharged(a);
    for (const k of keys) setKey(o, k, b[k]);
    return (budget.lastFresh = o);
  }
  throw new JqError(`${describe(a)} and ${describe(b)} cannot be added`);
}

export function subtract(a: any, b: any): any {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (Array.isArray(a) && Array.isArray(b)) {
    charge((a.length * b.length) >> 4);
    return a.filter((x) => !b.some((y) => equals(x, y)));
  }
  throw new JqError(`${describe(a)} and ${describe(b)} cannot be subtracted`);
}

function deepMerge(a: Record<string, any>, b: Record<string, any>): Record<string, any> {
  const o = copyObjectCharged(a);
  for (const k of Object.keys(b)) {
    const av = getKey(a, k), bv = b[k];
    setKey(o, k, isObject(av) && isObject(bv) ? deepMerge(av, bv) : bv);
  }
  return o;
}

function repeatString(s: string, n: number): any {
  if (Number.isNaN(n) || n < 0) return null;
  const times = Math.floor(n);
  if (s.length * times > budget.maxString) throw new JqAbort('memory', `string longer than ${budget.maxString} characters`);
  return s.repeat(times);
}

export function multiply(a: any, b: any): any {
  if (typeof a === 'number' && typeof b === 'number') return a * b;
  if (typeof a === 'string' && typeof b === 'number') return repeatString(a, b);
  if (typeof a === 'number' && typeof b === 'string') return repeatString(b, a);
  if (isObject(a) && isObject(b)) return deepMerge(a, b);
  throw new JqError(`${describe(a)} and ${describe(b)} cannot be multiplied`);
}

export function splitString(s: string, sep: string): string[] {
  if (s === '') return [];
  const parts = s.split(sep);
  checkCollection(parts.length);
  return parts;
}

export function divide(a: any, b: any): any {
  if (typeof a === 'number' && typeof b === 'number') {
    if (b === 0 && a !== 0) throw new JqError(`${describe(a)} and ${describe(b)} cannot be divided because the divisor is zero`);
    return a / b;
  }
  if (typeof a === 'string' && typeof b === 'string') return splitString(a, b);
  throw new JqError(`${describe(a)} and ${describe(b)} cannot be divided`);
}

const INTMAX = 9223372036854775807;
function toIntmax(x: number): number {
  if (Number.isNaN(x)) return 0;
  if (x >= INTMAX) return INTMAX;
  if (x <= -INTMAX) return -INTMAX;
  return Math.trunc(x);
}

export function modulo(a: any, b: any): any {
  if (typeof a === 'number' && typeof b === 'number') {
    if (Number.isNaN(a) || Number.isNaN(b)) return NaN;
    const x = toIntmax(a), y = toIntmax(b);
    if (y === 0) throw new JqError(`${describe(a)} and ${describe(b)} cannot be divided (remainder) because the divisor is zero`);
    const r = Math.abs(y) === 1 ? 0 : x % y;
    return r === 0 ? 0 : r;
  }
  throw new JqError(`${describe(a)} and ${describe(b)} cannot be divided (remainder)`);
}

export function negate(a: any): any {
  if (typeof a === 'number') return -a;
  throw new JqError(`${describe(a)} cannot be negated`);
}

export const BINOPS: Record<string, (a: any, b: any) => any> = {
  '+': add,
  '-': subtract,
  '*': multiply,
  '/': divide,
  '%': modulo,
  '==': (a, b) => equals(a, b),
  '!=': (a, b) => !equals(a, b),
  '<': (a, b) => compare(a, b) < 0,
  '<=': (a, b) => compare(a, b) <= 0,
  '>': (a, b) => compare(a, b) > 0,
  '>=': (a, b) => compare(a, b) >= 0,
};
