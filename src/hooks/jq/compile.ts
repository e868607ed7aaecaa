// AST → JavaScript closures. Each node becomes a value stream (`v`), a path stream (`p`, used by
// path(f), assignments, del, paths …) and, when it provably yields exactly one output, a direct
// function (`s`) so typical predicates run without any callback plumbing.
import type { Node, Pattern } from './parser.ts';
import { JqParseError, parseJq } from './parser.ts';
import {
  type C, type Emit, type Env, type Gen, type PGen, type Path, type Single,
  BINOPS, BreakSignal, budget, charge, checkCollection, checkString, collect, delpaths, fromGen, fromSingle,
  getpath, indexValue, invalidPathResult, negate, setpath, sliceValue, step,
} from './runtime.ts';
import { JqAbort, JqError, describe, isObject, quoteString, setKey, truthy, typeOf } from './values.ts';
import { NATIVES, PRELUDE, applyFormat, setRecurse, tostring } from './builtins.ts';

// ---- compile-time scope ----
interface FuncInfo {
  name: string;
  params: string[];
  framesAtDef: number;
  body: C | null;
}
type Scope =
  | { kind: 'var' | 'param' | 'label'; name: string; next: Scope; frames: number }
  | { kind: 'func'; name: string; arity: number; fn: FuncInfo; next: Scope; frames: number }
  | null;

const framesOf = (sc: Scope) => (sc ? sc.frames : 0);
const push = (sc: Scope, kind: 'var' | 'param' | 'label', name: string): Scope => ({ kind, name, next: sc, frames: framesOf(sc) + 1 });

function walk(e: Env, d: number): { v: any; n: Env } {
  let f = e;
  for (let j = 0; j < d; j++) f = f!.n;
  return f!;
}

export interface CompileContext {
  source: string;
  /** What `env` / `$ENV` return; hook filters get `{}`, the CLI passes the process environment. */
  env?: Record<string, string>;
  /** Source for `input` / `inputs` (the CLI's remaining inputs); absent for hook filters. */
  input?: () => { value: unknown } | null;
}

export class Compiler {
  constructor(private readonly ctx: CompileContext) {}

  private fail(msg: string, pos: number): never {
    throw new JqParseError(msg, this.ctx.source, pos);
  }

  compile(n: Node, sc: Scope): C {
    switch (n.type) {
      case 'Identity':
        return { s: (i) => i, v: (i, _e, k) => k(i), p: (i, p, _e, k) => k(i, p) };
      case 'RecurseAll':
        return recurseNode(null);
      case 'Literal': {
        const val = n.value;
        return fromSingle(() => val);
      }
      case 'Loc': {
        const line = n.line;
        return fromSingle(() => ({ file: '<top-level>', line }));
      }
      case 'Index':
        return this.compileIndex(n, sc);
      case 'Slice':
        return this.compileSlice(n, sc);
      case 'Iterate':
        return this.compileIterate(this.compile(n.target, sc));
      case 'Str':
        return this.compileStr(n, sc);
      case 'Format': {
        const name = n.name;
        if (!isKnownFormat(name)) this.fail(`${name.slice(1)} is not a valid format`, n.pos);
        return fromSingle((i) => applyFormat(name, i));
      }
      case 'Array': {
        if (!n.body) return fromSingle(() => []);
        const body = this.compile(n.body, sc);
        const bs = body.s;
        if (bs) return fromSingle((i, e) => [bs(i, e)]);
        const bv = body.v;
        return fromSingle((i, e) => {
          const out: any[] = [];
          bv(i, e, (x) => {
            if (out.push(x) > budget.maxCollection) checkCollection(out.length);
            step();
            return true;
          });
          return out;
        });
      }
      case 'Object':
        return this.compileObject(n, sc);
      case 'Neg': {
        const b = this.compile(n.body, sc);
        const bs = b.s;
        if (bs) return fromSingle((i, e) => negate(bs(i, e)));
        return fromGen((i, e, k) => b.v(i, e, (x) => k(negate(x))));
      }
      case 'Pipe': {
        const l = this.compile(n.left, sc), r = this.compile(n.right, sc);
        const ls = l.s, rs = r.s, lv = l.v, rv = r.v, lp = l.p, rp = r.p;
        const p: PGen = (i, path, e, k) => lp(i, path, e, (x, xp) => rp(x, xp, e, k));
        if (ls && rs) return { s: (i, e) => rs(ls(i, e), e), v: (i, e, k) => k(rs(ls(i, e), e)), p };
        if (ls) return { s: null, v: (i, e, k) => rv(ls(i, e), e, k), p };
        return { s: null, v: (i, e, k) => lv(i, e, (x) => rv(x, e, k)), p };
      }
      case 'Comma': {
        const l = this.compile(n.left, sc), r = this.compile(n.right, sc);
        const lv = l.v, rv = r.v, lp = l.p, rp = r.p;
        return { s: null, v: (i, e, k) => lv(i, e, k) && rv(i, e, k), p: (i, p, e, k) => lp(i, p, e, k) && rp(i, p, e, k) };
      }
      case 'Binop': {
        const l = this.compile(n.left, sc), r = this.compile(n.right, sc);
        const op = BINOPS[n.op]!;
        const ls = l.s, rs = r.s;
        if (ls && rs) return fromSingle((i, e) => { const b = rs(i, e); return op(ls(i, e), b); });
        // jq evaluates the right operand as the outer loop
        return fromGen((i, e, k) => r.v(i, e, (b) => l.v(i, e, (a) => k(op(a, b)))));
      }
      case 'And':
      case 'Or': {
        const l = this.compile(n.left, sc), r = this.compile(n.right, sc);
        const ls = l.s, rs = r.s;
        const isAnd = n.type === 'And';
        if (ls && rs) {
          return fromSingle(isAnd
            ? (i, e) => truthy(ls(i, e)) && truthy(rs(i, e))
            : (i, e) => truthy(ls(i, e)) || truthy(rs(i, e)));
        }
        return fromGen((i, e, k) => l.v(i, e, (a) => {
          if (isAnd ? !truthy(a) : truthy(a)) return k(!isAnd);
          return r.v(i, e, (b) => k(truthy(b)));
        }));
      }
      case 'Alt':
        return this.compileAlt(this.compile(n.left, sc), this.compile(n.right, sc));
      case 'Assign':
        return this.compileAssign(n.op, this.compile(n.left, sc), this.compile(n.right, sc));
      case 'If':
        return this.compileIf(n, sc);
      case 'Try':
        return this.compileTry(n, sc);
      case 'Reduce':
        return this.compileReduce(n, sc);
      case 'Foreach':
        return this.compileForeach(n, sc);
      case 'FuncDef': {
        const fn: FuncInfo = { name: n.name, params: n.params.map((p) => p.replace(/^\$/, '')), framesAtDef: framesOf(sc), body: null };
        const defScope: Scope = { kind: 'func', name: n.name, arity: n.params.length, fn, next: sc, frames: framesOf(sc) };
        let bodyScope: Scope = defScope;
        for (const p of fn.params) bodyScope = push(bodyScope, 'param', p);
        // `def f($a)` is `def f(a): a as $a | …`, first parameter outermost
        let body: Node = n.body;
        for (let j = n.params.length - 1; j >= 0; j--) {
          const p = n.params[j]!;
          if (!p.startsWith('$')) continue;
          const name = p.slice(1);
          body = { type: 'Bind', pos: n.pos, source: { type: 'Call', pos: n.pos, name, args: [] }, patterns: [{ type: 'PVar', name, pos: n.pos }], body };
        }
        fn.body = this.compile(body, bodyScope);
        return this.compile(n.rest, defScope);
      }
      case 'Call':
        return this.compileCall(n, sc);
      case 'Var': {
        if (n.name === 'ENV' && !lookupVar(sc, 'ENV')) {
          const env = this.ctx.env ?? {};
          return fromSingle(() => env);
        }
        if (n.name === '__prog_args') return fromSingle(() => ({}));
        const found = lookupVar(sc, n.name);
        if (!found) this.fail(`$${n.name} is not defined`, n.pos);
        const d = framesOf(sc) - found.frames;
        if (d === 0) return fromSingle((_i, e) => e!.v);
        if (d === 1) return fromSingle((_i, e) => e!.n!.v);
        return fromSingle((_i, e) => walk(e, d).v);
      }
      case 'Bind':
        return this.compileBind(n, sc);
      case 'Label': {
        const inner = push(sc, 'label', n.name);
        const body = this.compile(n.body, inner);
        const bv = body.v, bp = body.p;
        return {
          s: null,
          v: (i, e, k) => {
            const label = {};
            try {
              return bv(i, { v: label, n: e }, k);
            } catch (x) {
              if (x instanceof BreakSignal && x.label === label) return true;
              throw x;
            }
          },
          p: (i, p, e, k) => {
            const label = {};
            try {
              return bp(i, p, { v: label, n: e }, k);
            } catch (x) {
              if (x instanceof BreakSignal && x.label === label) return true;
              throw x;
            }
          },
        };
      }
      case 'Break': {
        let s: Scope = sc;
        while (s && !(s.kind === 'label' && s.name === n.name)) s = s.next;
        if (!s) this.fail(`$*label-${n.name} is not defined`, n.pos);
        const d = framesOf(sc) - s.frames;
        const v: Gen = (_i, e) => { throw new BreakSignal(walk(e, d).v); };
        return { s: null, v, p: (_i, _p, e) => { throw new BreakSignal(walk(e, d).v); } };
      }
    }
  }

  private compileIndex(n: Node & { type: 'Index' }, sc: Scope): C {
    const t = this.compile(n.target, sc);
    const idxNode = n.index;
    const ts = t.s, tv = t.v, tp = t.p;
    if (idxNode.type === 'Literal' && typeof idxNode.value === 'string' && idxNode.value !== '__proto__') {
      const key = idxNode.value;
      const quoted = quoteString(key);
      const field = (x: any) => {
        if (x !== null && typeof x === 'object' && !Array.isArray(x)) {
          const r = x[key];
          return r === undefined || typeof r === 'function' ? null : r;
        }
        if (x === null || x === undefined) return null;
        throw new JqError(`Cannot index ${typeOf(x)} with string ${quoted}`);
      };
      const p: PGen = (i, path, e, k) => tp(i, path, e, (x, xp) => {
        if (xp === null) throw new JqError(`Invalid path expression near attempt to access element ${quoted} of ${describe(x, 30).replace(/^[a-z]+ \((.*)\)$/s, '$1')}`);
        return k(field(x), [...xp, key]);
      });
      if (ts) {
        if (n.target.type === 'Identity') return { s: field, v: (i, _e, k) => k(field(i)), p };
        return { s: (i, e) => field(ts(i, e)), v: (i, e, k) => k(field(ts(i, e))), p };
      }
      return { s: null, v: (i, e, k) => tv(i, e, (x) => k(field(x))), p };
    }
    const idx = this.compile(idxNode, sc);
    const is = idx.s;
    const p: PGen = (i, path, e, k) => idx.v(i, e, (key) => tp(i, path, e, (x, xp) => {
      if (xp === null) throw invalidNear(x, key);
      return k(indexValue(x, key), [...xp, normalizeKey(x, key)]);
    }));
    if (ts && is) return { s: (i, e) => indexValue(ts(i, e), is(i, e)), v: (i, e, k) => k(indexValue(ts(i, e), is(i, e))), p };
    return { s: null, v: (i, e, k) => idx.v(i, e, (key) => tv(i, e, (x) => k(indexValue(x, key)))), p };
  }

  private compileSlice(n: Node & { type: 'Slice' }, sc: Scope): C {
    const t = this.compile(n.target, sc);
    const lit = (x: any) => fromSingle(() => x);
    const from = n.from ? this.compile(n.from, sc) : lit(null);
    const to = n.to ? this.compile(n.to, sc) : lit(null);
    const v: Gen = (i, e, k) => to.v(i, e, (b) => from.v(i, e, (a) => t.v(i, e, (x) => k(sliceValue(x, a, b)))));
    const p: PGen = (i, path, e, k) => to.v(i, e, (b) => from.v(i, e, (a) => t.p(i, path, e, (x, xp) => {
      const key = { start: a, end: b };
      if (xp === null) throw invalidNear(x, key);
      return k(sliceValue(x, a, b), [...xp, key]);
    })));
    const ts = t.s, fs = from.s, tos = to.s;
    if (ts && fs && tos) return { s: (i, e) => sliceValue(ts(i, e), fs(i, e), tos(i, e)), v, p };
    return { s: null, v, p };
  }

  private compileIterate(t: C): C {
    const ts = t.s, tv = t.v, tp = t.p;
    const each = (x: any, k: Emit): boolean => {
      if (Array.isArray(x)) {
        for (let j = 0; j < x.length; j++) {
          step();
          if (!k(x[j] === undefined ? null : x[j])) return false;
        }
        return true;
      }
      if (x !== null && typeof x === 'object') {
        for (const key of Object.keys(x)) {
          step();
          if (!k(x[key])) return false;
        }
        return true;
      }
      throw new JqError(`Cannot iterate over ${describe(x)}`);
    };
    const p: PGen = (i, path, e, k) => tp(i, path, e, (x, xp) => {
      if (xp === null) throw new JqError(`Invalid path expression near attempt to iterate through ${describe(x, 30).replace(/^[a-z]+ \((.*)\)$/s, '$1')}`);
      if (Array.isArray(x)) {
        for (let j = 0; j < x.length; j++) { step(); if (!k(x[j], [...xp, j])) return false; }
        return true;
      }
      if (isObject(x)) {
        for (const key of Object.keys(x)) { step(); if (!k(x[key], [...xp, key])) return false; }
        return true;
      }
      throw new JqError(`Cannot iterate over ${describe(x)}`);
    });
    if (ts) return { s: null, v: (i, e, k) => each(ts(i, e), k), p };
    return { s: null, v: (i, e, k) => tv(i, e, (x) => each(x, k)), p };
  }

  /** `chain?` where chain is only `.`, `.key`/`.[literal]` and `.[]`: errors just mean "no output", no exceptions. */
  private compileOptionalChain(n: Node): C | null {
    if (n.type === 'Identity') return { s: null, v: (i, _e, k) => k(i), p: (i, p, _e, k) => k(i, p) };
    if (n.type === 'Index' && n.index.type === 'Literal' && (typeof n.index.value === 'string' || typeof n.index.value === 'number') && n.index.value !== '__proto__') {
      const t = this.compileOptionalChain(n.target);
      if (!t) return null;
      const key = n.index.value;
      const ok = typeof key === 'string'
        ? (x: any) => x === null || isObject(x)
        : (x: any) => x === null || Array.isArray(x);
      const tv = t.v, tp = t.p;
      return {
        s: null,
        v: (i, e, k) => tv(i, e, (x) => (ok(x) ? k(indexValue(x, key)) : true)),
        p: (i, path, e, k) => tp(i, path, e, (x, xp) => (xp !== null && ok(x) ? k(indexValue(x, key), [...xp, normalizeKey(x, key)]) : true)),
      };
    }
    if (n.type === 'Iterate') {
      const t = this.compileOptionalChain(n.target);
      if (!t) return null;
      const tv = t.v, tp = t.p;
      return {
        s: null,
        v: (i, e, k) => tv(i, e, (x) => {
          if (Array.isArray(x)) {
            for (let j = 0; j < x.length; j++) { step(); if (!k(x[j])) return false; }
          } else if (isObject(x)) {
            for (const key of Object.keys(x)) { step(); if (!k(x[key])) return false; }
          }
          return true;
        }),
        p: (i, path, e, k) => tp(i, path, e, (x, xp) => {
          if (xp === null) return true;
          if (Array.isArray(x)) {
            for (let j = 0; j < x.length; j++) { step(); if (!k(x[j], [...xp, j])) return false; }
          } else if (isObject(x)) {
            for (const key of Object.keys(x)) { step(); if (!k(x[key], [...xp, key])) return false; }
          }
          return true;
        }),
      };
    }
    return null;
  }

  private compileStr(n: Node & { type: 'Str' }, sc: Scope): C {
    const fmt = n.format ?? '@text';
    if (!isKnownFormat(fmt)) this.fail(`${fmt.slice(1)} is not a valid format`, n.pos);
    const parts = n.parts.map((p) => (typeof p === 'string' ? p : this.compile(p, sc)));
    const conv = (x: any) => (fmt === '@text' ? tostring(x) : applyFormat(fmt, x));
    if (parts.every((p) => typeof p === 'string' || p.s)) {
      return fromSingle((i, e) => {
        let s = '';
        for (const p of parts) s += typeof p === 'string' ? p : conv(p.s!(i, e));
        return checkString(s);
      });
    }
    // later interpolations are the outer loops, as in jq (string interpolation is nested `+`)
    const gen = (idx: number, i: any, e: Env, suffix: string, k: Emit): boolean => {
      if (idx < 0) return k(checkString(suffix));
      const p = parts[idx]!;
      if (typeof p === 'string') return gen(idx - 1, i, e, p + suffix, k);
      return p.v(i, e, (x) => gen(idx - 1, i, e, conv(x) + suffix, k));
    };
    return fromGen((i, e, k) => gen(parts.length - 1, i, e, '', k));
  }

  private compileObject(n: Node & { type: 'Object' }, sc: Scope): C {
    const entries = n.entries.map((en) => ({ key: this.compile(en.key, sc), value: this.compile(en.value, sc) }));
    const checkKey = (k: any): string => {
      if (typeof k !== 'string') throw new JqError(`Cannot use ${describe(k)} as object key`);
      return k;
    };
    if (entries.every((en) => en.key.s && en.value.s)) {
      const ks = entries.map((en) => en.key.s!), vs = entries.map((en) => en.value.s!);
      const len = ks.length;
      return fromSingle((i, e) => {
        const o: Record<string, any> = {};
        for (let j = 0; j < len; j++) setKey(o, checkKey(ks[j]!(i, e)), vs[j]!(i, e));
        return o;
      });
    }
    const gen = (idx: number, i: any, e: Env, acc: Record<string, any>, k: Emit): boolean => {
      if (idx === entries.length) return k({ ...acc });
      const en = entries[idx]!;
      return en.key.v(i, e, (key) => en.value.v(i, e, (val) => {
        const next = { ...acc };
        setKey(next, checkKey(key), val);
        return gen(idx + 1, i, e, next, k);
      }));
    };
    return fromGen((i, e, k) => gen(0, i, e, {}, k));
  }

  private compileAlt(l: C, r: C): C {
    const lv = l.v, rv = r.v, lp = l.p, rp = r.p;
    const v: Gen = (i, e, k) => {
      let any = false, inK = false;
      try {
        const cont = lv(i, e, (x) => {
          if (!truthy(x)) return true;
          any = true;
          inK = true;
          const res = k(x);
          inK = false;
          return res;
        });
        if (!cont) return false;
      } catch (err) {
        if (inK || !(err instanceof JqError)) throw err;
      }
      return any ? true : rv(i, e, k);
    };
    const p: PGen = (i, path, e, k) => {
      let any = false, inK = false;
      try {
        const cont = lp(i, path, e, (x, xp) => {
          if (!truthy(x)) return true;
          any = true;
          inK = true;
          const res = k(x, xp);
          inK = false;
          return res;
        });
        if (!cont) return false;
      } catch (err) {
        if (inK || !(err instanceof JqError)) throw err;
      }
      return any ? true : rp(i, path, e, k);
    };
    const ls = l.s, rs = r.s;
    if (ls && rs) {
      return {
        s: (i, e) => {
          try {
            const x = ls(i, e);
            if (truthy(x)) return x;
          } catch (err) {
            if (!(err instanceof JqError)) throw err;
          }
          return rs(i, e);
        },
        v, p,
      };
    }
    return { s: null, v, p };
  }

  private compileAssign(op: string, l: C, r: C): C {
    const paths = (i: any, e: Env): Path[] => {
      const out: Path[] = [];
      l.p(i, [], e, (x, p) => {
        if (p === null) throw invalidPathResult(x);
        out.push(p);
        return true;
      });
      return out;
    };
    if (op === '|=') {
      const rv = r.v;
      return fromSingle((i, e) => {
        let root = i;
        const dels: Path[] = [];
        for (const p of paths(i, e)) {
          let got = false, nv: any = null;
          rv(getpath(root, p), e, (x) => { got = true; nv = x; return false; });
          if (got) root = setpath(root, p, nv);
          else dels.push(p);
        }
        return dels.length ? delpaths(root, dels) : root;
      });
    }
    let combine: (old: any, val: any) => any;
    if (op === '=') combine = (_old, val) => val;
    else if (op === '//=') combine = (old, val) => (truthy(old) ? old : val);
    else combine = BINOPS[op.slice(0, -1)]!;
    const apply = (i: any, ps: Path[], val: any) => {
      let root = i;
      for (const p of ps) root = setpath(root, p, combine(getpath(root, p), val));
      return root;
    };
    const rs = r.s;
    if (rs) return fromSingle((i, e) => apply(i, paths(i, e), rs(i, e)));
    return fromGen((i, e, k) => {
      const ps = paths(i, e);
      return r.v(i, e, (val) => k(apply(i, ps, val)));
    });
  }

  private compileIf(n: Node & { type: 'If' }, sc: Scope): C {
    const cond = this.compile(n.cond, sc), then = this.compile(n.then, sc);
    const els = n.else ? this.compile(n.else, sc) : this.compile({ type: 'Identity', pos: n.pos }, sc);
    const cs = cond.s, ts = then.s, es = els.s;
    const tv = then.v, ev = els.v, tp = then.p, ep = els.p;
    const p: PGen = (i, path, e, k) => cond.v(i, e, (c) => (truthy(c) ? tp(i, path, e, k) : ep(i, path, e, k)));
    if (cs && ts && es) {
      const s: Single = (i, e) => (truthy(cs(i, e)) ? ts(i, e) : es(i, e));
      return { s, v: (i, e, k) => k(s(i, e)), p };
    }
    if (cs) return { s: null, v: (i, e, k) => (truthy(cs(i, e)) ? tv(i, e, k) : ev(i, e, k)), p };
    return { s: null, v: (i, e, k) => cond.v(i, e, (c) => (truthy(c) ? tv(i, e, k) : ev(i, e, k))), p };
  }

  private compileTry(n: Node & { type: 'Try' }, sc: Scope): C {
    if (!n.catch) {
      const chain = this.compileOptionalChain(n.body);
      if (chain) return chain;
    }
    const body = this.compile(n.body, sc);
    const handler = n.catch ? this.compile(n.catch, sc) : null;
    const bv = body.v, bp = body.p;
    // Errors raised downstream of the try (inside k) must pass through untouched.
    const v: Gen = (i, e, k) => {
      let inK = false;
      try {
        return bv(i, e, (x) => {
          inK = true;
          const res = k(x);
          inK = false;
          return res;
        });
      } catch (err) {
        if (inK || !(err instanceof JqError)) throw err;
        if (!handler) return true;
        return handler.v(errorValue(err), e, k);
      }
    };
    const p: PGen = (i, path, e, k) => {
      let inK = false;
      try {
        return bp(i, path, e, (x, xp) => {
          inK = true;
          const res = k(x, xp);
          inK = false;
          return res;
        });
      } catch (err) {
        if (inK || !(err instanceof JqError)) throw err;
        if (!handler) return true;
        return handler.p(errorValue(err), null, e, k);
      }
    };
    const bs = body.s, hs = handler?.s;
    if (bs && hs) {
      return {
        s: (i, e) => {
          try {
            return bs(i, e);
          } catch (err) {
            if (!(err instanceof JqError)) throw err;
            return hs(errorValue(err), e);
          }
        },
        v, p,
      };
    }
    return { s: null, v, p };
  }

  // ---- destructuring ----
  private patternVars(pats: Pattern[]): string[] {
    const names: string[] = [];
    const add = (nm: string) => { if (!names.includes(nm)) names.push(nm); };
    const visit = (p: Pattern) => {
      if (p.type === 'PVar') add(p.name);
      else if (p.type === 'PArray') p.elems.forEach(visit);
      else for (const en of p.entries) { if (en.keyVar) add(en.keyVar); if (en.value) visit(en.value); }
    };
    pats.forEach(visit);
    return names;
  }

  /** Binder: destructure `val`, filling `slots`, then call `k` (once per combination of generated keys). */
  private compilePattern(p: Pattern, names: string[], sc: Scope): (val: any, i: any, e: Env, slots: any[], k: () => boolean) => boolean {
    if (p.type === 'PVar') {
      const idx = names.indexOf(p.name);
      return (val, _i, _e, slots, k) => { slots[idx] = val; return k(); };
    }
    if (p.type === 'PArray') {
      const elems = p.elems.map((el) => this.compilePattern(el, names, sc));
      const bindFrom = (j: number, val: any, i: any, e: Env, slots: any[], k: () => boolean): boolean => {
        if (j === elems.length) return k();
        return elems[j]!(indexValue(val, j), i, e, slots, () => bindFrom(j + 1, val, i, e, slots, k));
      };
      return (val, i, e, slots, k) => {
        if (val !== null && !Array.isArray(val)) throw new JqError(`Cannot index ${typeOf(val)} with number`);
        return bindFrom(0, val, i, e, slots, k);
      };
    }
    const entries = p.entries.map((en) => ({
      key: this.compile(en.key, sc),
      keyVar: en.keyVar === null ? -1 : names.indexOf(en.keyVar),
      value: en.value ? this.compilePattern(en.value, names, sc) : null,
    }));
    const bindFrom = (j: number, val: any, i: any, e: Env, slots: any[], k: () => boolean): boolean => {
      if (j === entries.length) return k();
      const en = entries[j]!;
      return en.key.v(i, e, (key) => {
        if (typeof key !== 'string') throw new JqError(`Cannot index ${typeOf(val)} with ${typeOf(key)}`);
        const x = indexValue(val, key);
        if (en.keyVar >= 0) slots[en.keyVar] = x;
        if (en.value) return en.value(x, i, e, slots, () => bindFrom(j + 1, val, i, e, slots, k));
        return bindFrom(j + 1, val, i, e, slots, k);
      });
    };
    return (val, i, e, slots, k) => bindFrom(0, val, i, e, slots, k);
  }

  /** Compiles patterns (with `?//` alternatives) into a binder that pushes one env frame per variable. */
  private compileBinder(pats: Pattern[], sc: Scope): { scope: Scope; bind: (val: any, i: any, e: Env, body: (e2: Env) => boolean) => boolean } {
    const names = this.patternVars(pats);
    let inner: Scope = sc;
    for (const nm of names) inner = push(inner, 'var', nm);
    if (pats.length === 1 && pats[0]!.type === 'PVar') {
      return { scope: inner, bind: (val, _i, e, body) => body({ v: val, n: e }) };
    }
    const binders = pats.map((p) => this.compilePattern(p, names, sc));
    const pushAll = (e: Env, slots: any[]): Env => {
      for (const x of slots) e = { v: x, n: e };
      return e;
    };
    const n = names.length;
    const bind = (val: any, i: any, e: Env, body: (e2: Env) => boolean): boolean => {
      for (let a = 0; a < binders.length; a++) {
        const slots = new Array(n).fill(null);
        if (a === binders.length - 1) return binders[a]!(val, i, e, slots, () => body(pushAll(e, slots)));
        try {
          return binders[a]!(val, i, e, slots, () => body(pushAll(e, slots)));
        } catch (err) {
          if (!(err instanceof JqError)) throw err;
        }
      }
      return true;
    };
    return { scope: inner, bind };
  }

  private compileBind(n: Node & { type: 'Bind' }, sc: Scope): C {
    const src = this.compile(n.source, sc);
    const { scope, bind } = this.compileBinder(n.patterns, sc);
    const body = this.compile(n.body, scope);
    const bv = body.v, bp = body.p, ss = src.s, bs = body.s;
    if (n.patterns.length === 1 && n.patterns[0]!.type === 'PVar') {
      const p: PGen = (i, path, e, k) => src.v(i, e, (x) => bp(i, path, { v: x, n: e }, k));
      if (ss && bs) return { s: (i, e) => bs(i, { v: ss(i, e), n: e }), v: (i, e, k) => k(bs(i, { v: ss(i, e), n: e })), p };
      if (ss) return { s: null, v: (i, e, k) => bv(i, { v: ss(i, e), n: e }, k), p };
      return { s: null, v: (i, e, k) => src.v(i, e, (x) => bv(i, { v: x, n: e }, k)), p };
    }
    return {
      s: null,
      v: (i, e, k) => src.v(i, e, (x) => bind(x, i, e, (e2) => bv(i, e2, k))),
      p: (i, path, e, k) => src.v(i, e, (x) => bind(x, i, e, (e2) => bp(i, path, e2, k))),
    };
  }

  private compileReduce(n: Node & { type: 'Reduce' }, sc: Scope): C {
    const src = this.compile(n.source, sc);
    const init = this.compile(n.init, sc);
    const { scope, bind } = this.compileBinder(n.patterns, sc);
    const update = this.compile(n.update, scope);
    const us = update.s, uv = update.v;
    // (not with `?//` patterns: an error in the update re-runs it with the next alternative)
    const inPlace = us !== null && n.patterns.length === 1 && isInPlaceUpdate(n.update);
    const run = (i: any, e: Env, acc0: any): any => {
      let acc = acc0;
      let owned = false;
      src.v(i, e, (x) => bind(x, i, e, (e2) => {
        step();
        if (inPlace) {
          // Only this reduce holds `acc` once an update has produced a fresh root; let the
          // update's top-level setpath / `+` modify it in place instead of copying it.
          const prev = acc;
          budget.ownedRoot = owned ? acc : null;
          budget.lastFresh = null;
          try {
            acc = us!(acc, e2);
          } finally {
            budget.ownedRoot = null;
          }
          owned = acc !== null && typeof acc === 'object' && (acc === budget.lastFresh || (owned && acc === prev));
          return true;
        }
        if (us) { acc = us(acc, e2); return true; }
        let last: any = null;
        uv(acc, e2, (y) => { last = y; return true; });
        acc = last;
        return true;
      }));
      return acc;
    };
    const is = init.s;
    if (is) return fromSingle((i, e) => run(i, e, is(i, e)));
    return fromGen((i, e, k) => init.v(i, e, (a) => k(run(i, e, a))));
  }

  private compileForeach(n: Node & { type: 'Foreach' }, sc: Scope): C {
    const src = this.compile(n.source, sc);
    const init = this.compile(n.init, sc);
    const { scope, bind } = this.compileBinder(n.patterns, sc);
    const update = this.compile(n.update, scope);
    const extract = n.extract ? this.compile(n.extract, scope) : null;
    return fromGen((i, e, k) => init.v(i, e, (acc0) => {
      let acc = acc0;
      return src.v(i, e, (x) => bind(x, i, e, (e2) => {
        step();
        return update.v(acc, e2, (y) => {
          acc = y;
          return extract ? extract.v(y, e2, k) : k(y);
        });
      }));
    }));
  }

  private compileCall(n: Node & { type: 'Call' }, sc: Scope): C {
    const arity = n.args.length;
    // user definitions and filter parameters shadow builtins
    let s: Scope = sc;
    while (s) {
      if (s.kind === 'param' && arity === 0 && s.name === n.name) break;
      if (s.kind === 'func' && s.name === n.name && s.arity === arity) break;
      s = s.next;
    }
    if (s && s.kind === 'param') {
      const d = framesOf(sc) - s.frames;
      return {
        s: null,
        v: (i, e, k) => { const cl = walk(e, d).v as Closure; return cl.c.v(i, cl.e, k); },
        p: (i, p, e, k) => { const cl = walk(e, d).v as Closure; return cl.c.p(i, p, cl.e, k); },
      };
    }
    if (s && s.kind === 'func') return this.compileFuncCall(s.fn, n, sc);
    const next = this.ctx.input;
    if (next && arity === 0 && n.name === 'input') {
      return fromGen((_i, _e, k) => {
        const r = next();
        if (!r) throw new JqError('No more inputs');
        return k(r.value);
      });
    }
    if (next && arity === 0 && n.name === 'inputs') {
      return fromGen((_i, _e, k) => {
        for (let r = next(); r; r = next()) {
          step();
          if (!k(r.value)) return false;
        }
        return true;
      });
    }
    if (n.name === 'env' && arity === 0) {
      const env = this.ctx.env ?? {};
      return fromSingle(() => env);
    }
    const native = NATIVES[`${n.name}/${arity}`];
    if (native) {
      const args = n.args.map((a) => this.compile(a, sc));
      const src = this.ctx.source;
      return native(args, { get line() { return src.slice(0, n.pos).split('\n').length; } });
    }
    if (arity === 0 && (n.name === 'true' || n.name === 'false' || n.name === 'null')) {
      const val = n.name === 'null' ? null : n.name === 'true';
      return fromSingle(() => val);
    }
    return this.fail(`${n.name}/${arity} is not defined`, n.pos);
  }

  private compileFuncCall(fn: FuncInfo, n: Node & { type: 'Call' }, sc: Scope): C {
    const args = n.args.map((a) => this.compile(a, sc));
    const d = framesOf(sc) - fn.framesAtDef;
    const enter = (e: Env): Env => {
      let ce: Env = fn.framesAtDef === 0 ? null : walk(e, d);
      for (const a of args) ce = { v: { c: a, e } satisfies Closure, n: ce };
      return ce;
    };
    const compiled = fn.body;
    if (compiled) {
      // Non-recursive call (body already compiled): no depth bookkeeping needed.
      const bv = compiled.v, bp = compiled.p, bs = compiled.s;
      return {
        s: bs ? (i, e) => bs(i, enter(e)) : null,
        v: (i, e, k) => bv(i, enter(e), k),
        p: (i, p, e, k) => bp(i, p, enter(e), k),
      };
    }
    const enterRec = () => {
      step();
      if (++budget.depth > budget.maxDepth) {
        budget.depth--;
        throw new JqAbort('depth', `recursion deeper than ${budget.maxDepth}`);
      }
    };
    return {
      s: null,
      v: (i, e, k) => {
        enterRec();
        try {
          return fn.body!.v(i, enter(e), k);
        } finally {
          budget.depth--;
        }
      },
      p: (i, p, e, k) => {
        enterRec();
        try {
          return fn.body!.p(i, p, enter(e), k);
        } finally {
          budget.depth--;
        }
      },
    };
  }
}

interface Closure {
  c: C;
  e: Env;
}

// ---- in-place reduce updates ----
// An update qualifies when it is `PATH op= RHS` / `PATH |= f` with PATH a non-empty chain of
// `.key`, `.[e]`, `.[]`, `.[a:b]` steps, or `. + RHS`, and RHS (and the index expressions) are
// "root-safe": given the accumulator as input they can neither return it, embed it, nor pass it
// whole to anything that could modify it.
const SCALAR_BUILTINS = new Set([
  'empty/0', 'null/0', 'true/0', 'false/0', 'not/0', 'length/0', 'utf8bytelength/0', 'tostring/0', 'tojson/0',
  'tonumber/0', 'type/0', 'keys/0', 'keys_unsorted/0', 'has/1', 'test/1', 'test/2', 'ascii_downcase/0',
  'ascii_upcase/0', 'startswith/1', 'endswith/1', 'floor/0', 'ceil/0', 'round/0', 'abs/0', 'now/0',
]);
function rootSafe(n: Node | null): boolean {
  if (!n) return true;
  switch (n.type) {
    case 'Literal': case 'Var': case 'Loc': case 'Format':
      return true;
    case 'Str':
      return n.parts.every((p) => typeof p === 'string' || rootSafe(p));
    case 'Index':
      return (n.target.type === 'Identity' || rootSafe(n.target)) && rootSafe(n.index);
    case 'Iterate':
      return n.target.type === 'Identity' || rootSafe(n.target);
    case 'Slice':
      return (n.target.type === 'Identity' || rootSafe(n.target)) && rootSafe(n.from) && rootSafe(n.to);
    case 'Pipe':
      return rootSafe(n.left);
    case 'Binop': case 'And': case 'Or': case 'Alt': case 'Comma':
      return rootSafe(n.left) && rootSafe(n.right);
    case 'Neg':
      return rootSafe(n.body);
    case 'If':
      return rootSafe(n.cond) && rootSafe(n.then) && n.else !== null && rootSafe(n.else);
    case 'Try':
      return rootSafe(n.body) && rootSafe(n.catch);
    case 'Array':
      return rootSafe(n.body);
    case 'Object':
      return n.entries.every((en) => rootSafe(en.key) && rootSafe(en.value));
    case 'Call':
      return SCALAR_BUILTINS.has(`${n.name}/${n.args.length}`) && n.args.every(rootSafe);
    default:
      return false;
  }
}
function isPathChain(n: Node): boolean {
  switch (n.type) {
    case 'Index': return (n.target.type === 'Identity' || isPathChain(n.target)) && rootSafe(n.index);
    case 'Iterate': return n.target.type === 'Identity' || isPathChain(n.target);
    case 'Slice': return (n.target.type === 'Identity' || isPathChain(n.target)) && rootSafe(n.from) && rootSafe(n.to);
    default: return false;
  }
}
export function isInPlaceUpdate(n: Node): boolean {
  if (n.type === 'Assign') return isPathChain(n.left) && (n.op === '|=' || rootSafe(n.right));
  if (n.type === 'Binop' && n.op === '+') return n.left.type === 'Identity' && rootSafe(n.right);
  return false;
}

function lookupVar(sc: Scope, name: string): Scope {
  let s = sc;
  while (s && !(s.kind === 'var' && s.name === name)) s = s.next;
  return s;
}

function normalizeKey(container: any, key: any): any {
  if (typeof key === 'number' && key < 0 && Array.isArray(container)) {
    const idx = Math.floor(key) + container.length;
    return idx >= 0 ? idx : key;
  }
  return key;
}

function invalidNear(x: any, key: any): JqError {
  const what = typeof key === 'string' ? quoteString(key) : typeof key === 'number' ? String(key) : describe(key).replace(/^[a-z]+ \((.*)\)$/s, '$1');
  return new JqError(`Invalid path expression near attempt to access element ${what} of ${describe(x, 30).replace(/^[a-z]+ \((.*)\)$/s, '$1')}`);
}

function errorValue(err: JqError): any {
  return err.value;
}

const FORMATS = new Set(['@text', '@json', '@html', '@uri', '@csv', '@tsv', '@sh', '@base64', '@base64d', '@base32', '@base32d', '@urid']);
export function isKnownFormat(name: string): boolean {
  return FORMATS.has(name);
}

// ---- recursion (`..`, recurse/1, recurse/2) with an explicit stack, so deep data cannot blow the JS stack ----
export function recurseNode(f: C | null, cond: C | null = null): C {
  const children = (x: any, e: Env): any[] => {
    if (!f) {
      if (Array.isArray(x)) return x;
      if (isObject(x)) return Object.values(x);
      return [];
    }
    const out = collect(f, x, e);
    if (!cond) return out;
    return out.filter((c) => collect(cond, c, e).some(truthy));
  };
  const v: Gen = (i, e, k) => {
    const stack: any[][] = [[i]];
    const pos: number[] = [0];
    while (stack.length) {
      const top = stack.length - 1;
      const arr = stack[top]!;
      if (pos[top]! >= arr.length) { stack.pop(); pos.pop(); continue; }
      const x = arr[pos[top]!++];
      step();
      if (!k(x === undefined ? null : x)) return false;
      const ch = children(x, e);
      if (ch.length) { stack.push(ch); pos.push(0); }
    }
    return true;
  };
  const pchildren = (x: any, xp: Path, e: Env): [any, Path][] => {
    if (!f) {
      if (Array.isArray(x)) return x.map((c, j) => [c, [...xp, j]]);
      if (isObject(x)) return Object.keys(x).map((key) => [x[key], [...xp, key]]);
      return [];
    }
    const out: [any, Path][] = [];
    f.p(x, xp, e, (c, cp) => {
      if (cp === null) throw invalidPathResult(c);
      out.push([c, cp]);
      return true;
    });
    if (!cond) return out;
    return out.filter(([c]) => collect(cond, c, e).some(truthy));
  };
  const p: PGen = (i, path, e, k) => {
    if (path === null) return v(i, e, (x) => k(x, null));
    const stack: [any, Path][][] = [[[i, path]]];
    const pos: number[] = [0];
    while (stack.length) {
      const top = stack.length - 1;
      const arr = stack[top]!;
      if (pos[top]! >= arr.length) { stack.pop(); pos.pop(); continue; }
      const [x, xp] = arr[pos[top]!++]!;
      step();
      if (!k(x, xp)) return false;
      const ch = pchildren(x, xp, e);
      if (ch.length) { stack.push(ch); pos.push(0); }
    }
    return true;
  };
  return { s: null, v, p };
}

// ---- prelude (builtins written in jq) ----
let preludeScope: Scope | undefined;
function getPrelude(): Scope {
  if (preludeScope !== undefined) return preludeScope;
  const compiler = new Compiler({ source: PRELUDE });
  let sc: Scope = null;
  // Parse the whole prelude as `def …; def …; .` and walk the FuncDef chain into a scope.
  let node = parseJq(PRELUDE + ' .');
  while (node.type === 'FuncDef') {
    const fn: FuncInfo = { name: node.name, params: node.params.map((p) => p.replace(/^\$/, '')), framesAtDef: 0, body: null };
    const defScope: Scope = { kind: 'func', name: node.name, arity: node.params.length, fn, next: sc, frames: 0 };
    const wrapped: Node = { ...node, rest: { type: 'Identity', pos: node.pos } };
    // compile the body in the def scope (re-using FuncDef handling for $params)
    let bodyScope: Scope = defScope;
    for (const p of fn.params) bodyScope = push(bodyScope, 'param', p);
    let body: Node = wrapped.body;
    for (let j = wrapped.params.length - 1; j >= 0; j--) {
      const p = wrapped.params[j]!;
      if (!p.startsWith('$')) continue;
      const name = p.slice(1);
      body = { type: 'Bind', pos: node.pos, source: { type: 'Call', pos: node.pos, name, args: [] }, patterns: [{ type: 'PVar', name, pos: node.pos }], body };
    }
    fn.body = compiler.compile(body, bodyScope);
    sc = defScope;
    node = node.rest;
  }
  preludeScope = sc;
  return sc;
}

export const MAX_FILTER_LENGTH = 1_000_000;

export function compileProgram(source: string, options: { env?: Record<string, string>; input?: () => { value: unknown } | null } = {}): C {
  if (source.length > MAX_FILTER_LENGTH) throw new JqParseError(`filter longer than ${MAX_FILTER_LENGTH} characters`, source, 0);
  const prelude = getPrelude();
  try {
    const ast = parseJq(source);
    return new Compiler({ source, env: options.env, input: options.input }).compile(ast, prelude);
  } catch (err) {
    // pathological nesting ((((…)))) exhausts the parser's / compiler's JS stack
    if (err instanceof RangeError) throw new JqParseError('filter nests too deeply', source, 0);
    throw err;
  }
}

export { JqAbort, JqError, charge, step };
export type { C as Compiled, Env };

setRecurse((f, c) => recurseNode(f, c));
