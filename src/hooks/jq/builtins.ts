// jq builtins. Hot or stream-shaped ones are native closures over compiled arguments
// ("macros": they receive the argument nodes and call them with the caller's environment);
// the rest are written in jq in PRELUDE below.
import {
  type C, type Emit, type Env, type Path, type PGen,
  budget, cart1, cart2, cart3, charge, checkCollection, checkString, collect, delpaths, fromGen, fromSingle,
  getpath, indexValue, invalidPathResult, iterateValues, setpath, splitString, step, add as addValues, arrayIndices,
} from './runtime.ts';
import {
  JqError, codepointLength, compare, describe, dumpTrunc, equals, getKey, hasKey, isObject, numberToString, setKey, sortKeys,
  toJson, truthy, typeOf, cpIndex,
} from './values.ts';
import { parseJsonValue } from './json.ts';
import { regexMatches } from './regex.ts';
import { fromDateIso, gmtime, mktime, strftime, strptime, toDateIso } from './dates.ts';

type Native = (args: C[], info: { line: number }) => C;
export const NATIVES: Record<string, Native> = Object.create(null);

const def0 = (name: string, f: (i: any) => any) => { NATIVES[`${name}/0`] = () => fromSingle((i) => f(i)); };
const def1 = (name: string, f: (i: any, a: any) => any) => { NATIVES[`${name}/1`] = ([a]) => cart1(a!, f); };
const def2 = (name: string, f: (i: any, a: any, b: any) => any) => { NATIVES[`${name}/2`] = ([a, b]) => cart2(a!, b!, f); };

export function tostring(v: any): string {
  return typeof v === 'string' ? v : toJson(v);
}

function requireString(v: any, what: string): string {
  if (typeof v !== 'string') throw new JqError(`${describe(v)} ${what}`);
  return v;
}
function stringOr(v: any, message: string): string {
  if (typeof v !== 'string') throw new JqError(message);
  return v;
}
function requireNumber(v: any, name: string): number {
  if (typeof v !== 'number') throw new JqError(`${describe(v)} number required`);
  void name;
  return v;
}

// ---- core ----
NATIVES['empty/0'] = () => ({ s: null, v: () => true, p: () => true });
NATIVES['not/0'] = () => fromSingle((i) => !truthy(i));
// jq ≥ 1.7: error(null) raises an error whose value is null (before 1.7 it acted like `empty`)
const raise = (m: any): boolean => {
  throw new JqError(m === undefined ? null : m);
};
NATIVES['error/0'] = () => ({ s: null, v: (i) => raise(i), p: (i) => raise(i) });
NATIVES['error/1'] = ([a]) => ({ s: null, v: (i, e) => a!.v(i, e, raise), p: (i, _p, e) => a!.v(i, e, raise) });

NATIVES['path/1'] = ([f]) => fromGen((i, e, k) => f!.p(i, [], e, (x, p) => {
  if (p === null) throw invalidPathResult(x);
  return k(p);
}));
NATIVES['getpath/1'] = ([a]) => {
  const c = cart1(a!, (i, p) => getpath(i, p));
  const p: PGen = (i, path, e, k) => a!.v(i, e, (pa) => {
    if (path === null) throw invalidPathResult(i);
    if (!Array.isArray(pa)) throw new JqError('Path must be specified as an array');
    let cur = i;
    for (const key of pa) cur = cur === null ? null : indexValue(cur, key);
    return k(cur, [...path, ...pa]);
  });
  return { ...c, p };
};
def2('setpath', (i, p, v) => setpath(i, p, v));
def1('delpaths', (i, ps) => delpaths(i, ps));
NATIVES['del/1'] = ([f]) => fromSingle((i, e) => {
  const ps: Path[] = [];
  f!.p(i, [], e, (x, p) => { if (p === null) throw invalidPathResult(x); ps.push(p); return true; });
  return delpaths(i, ps);
});
NATIVES['paths/0'] = () => fromGen((i, _e, k) => walkPaths(i, [], (_v, p) => (p.length ? k(p) : true)));
NATIVES['paths/1'] = ([f]) => fromGen((i, e, k) => walkPaths(i, [], (v, p) => {
  if (!p.length) return true;
  return f!.v(v, e, (c) => (truthy(c) ? k(p) : true));
}));
function walkPaths(v: any, p: Path, k: (v: any, p: Path) => boolean): boolean {
  step();
  if (!k(v, p)) return false;
  if (Array.isArray(v)) {
    for (let j = 0; j < v.length; j++) if (!walkPaths(v[j], [...p, j], k)) return false;
  } else if (isObject(v)) {
    for (const key of Object.keys(v)) if (!walkPaths(v[key], [...p, key], k)) return false;
  }
  return true;
}
NATIVES['pick/1'] = ([f]) => fromSingle((i, e) => {
  let out: any = null;
  f!.p(i, [], e, (x, p) => {
    if (p === null) throw invalidPathResult(x);
    out = setpath(out, p, getpath(i, p));
    return true;
  });
  return out;
});

NATIVES['select/1'] = ([f]) => {
  const fs = f!.s, fv = f!.v;
  const p: PGen = (i, path, e, k) => fv(i, e, (c) => (truthy(c) ? k(i, path) : true));
  if (fs) return { s: null, v: (i, e, k) => (truthy(fs(i, e)) ? k(i) : true), p };
  return { s: null, v: (i, e, k) => fv(i, e, (c) => (truthy(c) ? k(i) : true)), p };
};

NATIVES['recurse/0'] = () => recurseNative(null, null);
NATIVES['recurse/1'] = ([f]) => recurseNative(f!, null);
NATIVES['recurse/2'] = ([f, c]) => recurseNative(f!, c!);
let recurseNative: (f: C | null, c: C | null) => C;
export function setRecurse(r: (f: C | null, c: C | null) => C): void { recurseNative = r; }

NATIVES['map/1'] = ([f]) => {
  const fs = f!.s, fv = f!.v;
  return fromSingle((i, e) => {
    const src = iterateValues(i);
    const out: any[] = [];
    if (fs) {
      for (const x of src) { step(); out.push(fs(x, e)); }
    } else {
      for (const x of src) {
        step();
        fv(x, e, (y) => { if (out.push(y) > budget.maxCollection) checkCollection(out.length); return true; });
      }
    }
    return out;
  });
};
NATIVES['map_values/1'] = ([f]) => fromSingle((i, e) => {
  const first = (x: any): [boolean, any] => {
    let got = false, val: any = null;
    f!.v(x, e, (y) => { got = true; val = y; return false; });
    return [got, val];
  };
  if (Array.isArray(i)) {
    const out: any[] = [];
    for (const x of i) { step(); const [g, v] = first(x); if (g) out.push(v); }
    return out;
  }
  if (isObject(i)) {
    const out: Record<string, any> = {};
    for (const key of Object.keys(i)) { step(); const [g, v] = first(i[key]); if (g) setKey(out, key, v); }
    return out;
  }
  throw new JqError(`Cannot iterate over ${describe(i)}`);
});

// ---- generators and control ----
NATIVES['range/1'] = ([n]) => fromGen((i, e, k) => n!.v(i, e, (upto) => rangeLoop(0, upto, 1, k)));
NATIVES['range/2'] = ([a, b]) => fromGen((i, e, k) => a!.v(i, e, (from) => b!.v(i, e, (upto) => rangeLoop(from, upto, 1, k))));
NATIVES['range/3'] = ([a, b, c]) => fromGen((i, e, k) => a!.v(i, e, (from) => b!.v(i, e, (upto) => c!.v(i, e, (by) => rangeLoop(from, upto, by, k)))));
function rangeLoop(from: any, upto: any, by: any, k: Emit): boolean {
  if (typeof from !== 'number' || typeof upto !== 'number' || typeof by !== 'number') throw new JqError('Range bounds must be numeric');
  if (by > 0) {
    for (let x = from; x < upto; x += by) { step(); if (!k(x)) return false; }
  } else if (by < 0) {
    for (let x = from; x > upto; x += by) { step(); if (!k(x)) return false; }
  } else if (from < upto) {
    for (;;) { step(); if (!k(from)) return false; }
  }
  return true;
}

// limit / skip / nth work in value and in path mode (`path(limit(1; .a, .b))`, `del(nth(1; .[]))`).
type Pair = [any, Path | null];
const pairwise = (f: C, select: (n: any, src: (k: (x: Pair) => boolean) => boolean, k: (x: Pair) => boolean) => boolean, n: C): C => ({
  s: null,
  v: (i, e, k) => n.v(i, e, (cnt) => select(cnt, (kk) => f.v(i, e, (x) => kk([x, null])), ([x]) => k(x))),
  p: (i, path, e, k) => n.v(i, e, (cnt) => select(cnt, (kk) => f.p(i, path, e, (x, xp) => kk([x, xp])), ([x, xp]) => k(x, xp))),
});
NATIVES['limit/2'] = ([n, f]) => pairwise(f!, (lim, src, k) => {
  if (typeof lim !== 'number') throw new JqError('Invalid limit: must be a number');
  if (lim === 0) return true;
  if (lim < 0) return src(k);
  let count = 0, downstream = true;
  src((x) => {
    downstream = k(x);
    return downstream && ++count < lim;
  });
  return downstream;
}, n!);
NATIVES['skip/2'] = ([n, f]) => pairwise(f!, (cnt, src, k) => {
  if (typeof cnt !== 'number') throw new JqError('Invalid skip: must be a number');
  if (cnt < 0) throw new JqError("skip doesn't support negative count");
  let seen = 0;
  return src((x) => (seen++ < cnt ? true : k(x)));
}, n!);
NATIVES['nth/2'] = ([n, f]) => pairwise(f!, (idx, src, k) => {
  if (typeof idx !== 'number') throw new JqError('nth requires a number');
  if (idx < 0) throw new JqError("nth doesn't support negative indices");
  let count = 0, res = true;
  src((x) => {
    if (count++ < idx) return true;
    res = k(x);
    return false;
  });
  return res;
}, n!);
NATIVES['first/1'] = ([f]) => {
  const v = (i: any, e: Env, k: Emit) => {
    let res = true;
    f!.v(i, e, (x) => { res = k(x); return false; });
    return res;
  };
  const p: PGen = (i, path, e, k) => {
    let res = true;
    f!.p(i, path, e, (x, xp) => { res = k(x, xp); return false; });
    return res;
  };
  return { s: null, v, p };
};
NATIVES['last/1'] = ([f]) => {
  const p: PGen = (i, path, e, k) => {
    let got = false, lv: any = null, lp: Path | null = null;
    f!.p(i, path, e, (x, xp) => { got = true; lv = x; lp = xp; return true; });
    return got ? k(lv, lp) : true;
  };
  return {
    s: null,
    v: (i, e, k) => {
      let got = false, last: any = null;
      f!.v(i, e, (x) => { got = true; last = x; return true; });
      return got ? k(last) : true;
    },
    p,
  };
};
NATIVES['isempty/1'] = ([f]) => fromSingle((i, e) => {
  let empty = true;
  f!.v(i, e, () => { empty = false; return false; });
  return empty;
});
NATIVES['until/2'] = ([cond, update]) => fromGen((i, e, k) => {
  const cs1 = cond!.s, us1 = update!.s;
  if (cs1 && us1) {
    let v = i;
    for (;;) {
      step();
      if (truthy(cs1(v, e))) return k(v);
      v = us1(v, e);
    }
  }
  const run = (v: any): boolean => {
    for (;;) {
      step();
      const cs = collect(cond!, v, e);
      if (cs.length === 1) {
        if (truthy(cs[0])) return k(v);
        const us = collect(update!, v, e);
        if (us.length === 1) { v = us[0]; continue; }
        for (const u of us) if (!run(u)) return false;
        return true;
      }
      for (const c of cs) {
        if (truthy(c)) { if (!k(v)) return false; }
        else for (const u of collect(update!, v, e)) if (!run(u)) return false;
      }
      return true;
    }
  };
  return run(i);
});
NATIVES['while/2'] = ([cond, update]) => fromGen((i, e, k) => {
  const cs1 = cond!.s, us1 = update!.s;
  if (cs1 && us1) {
    let v = i;
    for (;;) {
      step();
      if (!truthy(cs1(v, e))) return true;
      if (!k(v)) return false;
      v = us1(v, e);
    }
  }
  const run = (v: any): boolean => {
    for (;;) {
      step();
      const cs = collect(cond!, v, e);
      if (cs.length === 1) {
        if (!truthy(cs[0])) return true;
        if (!k(v)) return false;
        const us = collect(update!, v, e);
        if (us.length === 1) { v = us[0]; continue; }
        for (const u of us) if (!run(u)) return false;
        return true;
      }
      for (const c of cs) {
        if (!truthy(c)) continue;
        if (!k(v)) return false;
        for (const u of collect(update!, v, e)) if (!run(u)) return false;
      }
      return true;
    }
  };
  return run(i);
});
// jq 1.8: `def repeat(f): def _repeat: f, _repeat; _repeat;` — f applied to the same input, forever
NATIVES['repeat/1'] = ([f]) => fromGen((i, e, k) => {
  for (;;) {
    step();
    if (!f!.v(i, e, k)) return false;
  }
});

// any/all: short-circuit on the first deciding value. One specialised closure per shape:
// creating several closures per call made this several times slower.
const anyAll = (isAny: boolean, gen: C | null, cond: C | null): C => {
  const cs = cond?.s ?? null;
  if (gen && cs) {
    const gv = gen.v;
    return fromSingle((i, e) => {
      let result = !isAny;
      gv(i, e, (x) => {
        if (truthy(cs(x, e)) === isAny) { result = isAny; return false; }
        return true;
      });
      return result;
    });
  }
  if (gen && cond) {
    const gv = gen.v, cv = cond.v;
    return fromSingle((i, e) => {
      let result = !isAny;
      gv(i, e, (x) => cv(x, e, (c) => {
        if (truthy(c) === isAny) { result = isAny; return false; }
        return true;
      }));
      return result;
    });
  }
  return fromSingle((i, e) => {
    for (const x of iterateValues(i)) {
      step();
      if (!cond) {
        if (truthy(x) === isAny) return isAny;
      } else if (cs) {
        if (truthy(cs(x, e)) === isAny) return isAny;
      } else {
        let hit = false;
        cond.v(x, e, (c) => { if (truthy(c) === isAny) { hit = true; return false; } return true; });
        if (hit) return isAny;
      }
    }
    return !isAny;
  });
};
NATIVES['any/0'] = () => anyAll(true, null, null);
NATIVES['all/0'] = () => anyAll(false, null, null);
NATIVES['any/1'] = ([c]) => anyAll(true, null, c!);
NATIVES['all/1'] = ([c]) => anyAll(false, null, c!);
NATIVES['any/2'] = ([g, c]) => anyAll(true, g!, c!);
NATIVES['all/2'] = ([g, c]) => anyAll(false, g!, c!);
NATIVES['IN/1'] = ([s]) => fromSingle((i, e) => {
  let found = false;
  s!.v(i, e, (x) => { if (equals(x, i)) { found = true; return false; } return true; });
  return found;
});
NATIVES['IN/2'] = ([src, s]) => fromSingle((i, e) => {
  let found = false;
  src!.v(i, e, (x) => s!.v(i, e, (y) => { if (equals(x, y)) { found = true; return false; } return true; }));
  return found;
});

NATIVES['add/0'] = () => fromSingle((i) => {
  let acc: any = null;
  for (const x of iterateValues(i)) { step(); acc = addValues(acc, x); }
  return acc;
});
NATIVES['add/1'] = ([f]) => fromSingle((i, e) => {
  let acc: any = null;
  f!.v(i, e, (x) => { step(); acc = addValues(acc, x); return true; });
  return acc;
});

// ---- simple value functions ----
def0('length', (i) => {
  if (i === null || i === undefined) return 0;
  switch (typeof i) {
    case 'boolean': throw new JqError(`${describe(i)} has no length`);
    case 'number': return Math.abs(i);
    case 'string': return codepointLength(i);
  }
  return Array.isArray(i) ? i.length : Object.keys(i).length;
});
def0('utf8bytelength', (i) => Buffer.byteLength(requireString(i, 'only strings have UTF-8 byte length'), 'utf8'));
def0('type', (i) => typeOf(i));
def0('keys', (i) => {
  if (isObject(i)) return sortKeys(i);
  if (Array.isArray(i)) return i.map((_x, j) => j);
  throw new JqError(`${describe(i)} has no keys`);
});
def0('keys_unsorted', (i) => {
  if (isObject(i)) return Object.keys(i);
  if (Array.isArray(i)) return i.map((_x, j) => j);
  throw new JqError(`${describe(i)} has no keys`);
});
def1('has', (i, k) => {
  if (isObject(i)) {
    if (typeof k !== 'string') throw new JqError(`Cannot check whether object has a key of type ${typeOf(k)}`);
    return hasKey(i, k);
  }
  if (Array.isArray(i)) {
    if (typeof k !== 'number') throw new JqError(`Cannot check whether array has a key of type ${typeOf(k)}`);
    return k >= 0 && k < i.length;
  }
  throw new JqError(`Cannot check whether ${typeOf(i)} has a ${typeOf(k)} key`);
});
const kindOf = (v: any) => (v === true ? 'true' : v === false ? 'false' : typeOf(v));
function contains(a: any, b: any): boolean {
  const ta = kindOf(a), tb = kindOf(b);
  if (ta !== tb) return false;
  if (ta === 'object') return Object.keys(b).every((k) => hasKey(a, k) && contains(a[k], b[k]));
  if (ta === 'array') return (b as any[]).every((y) => (a as any[]).some((x) => contains(x, y)));
  if (ta === 'string') return (a as string).includes(b as string);
  return equals(a, b);
}
function containsTop(a: any, b: any): boolean {
  if (kindOf(a) !== kindOf(b)) throw new JqError(`${describe(a)} and ${describe(b)} cannot have their containment checked`);
  return contains(a, b);
}
def1('contains', (i, b) => containsTop(i, b));
def1('inside', (i, b) => containsTop(b, i));
def1('startswith', (i, s) => {
  if (typeof i !== 'string' || typeof s !== 'string') throw new JqError('startswith() requires string inputs');
  return i.startsWith(s);
});
def1('endswith', (i, s) => {
  if (typeof i !== 'string' || typeof s !== 'string') throw new JqError('endswith() requires string inputs');
  return i.endsWith(s);
});
def1('ltrimstr', (i, s) => (typeof i === 'string' && typeof s === 'string' && i.startsWith(s) ? i.slice(s.length) : i));
def1('rtrimstr', (i, s) => (typeof i === 'string' && typeof s === 'string' && i.endsWith(s) && s.length ? i.slice(0, i.length - s.length) : i));
def1('trimstr', (i, s) => {
  if (typeof i !== 'string' || typeof s !== 'string' || !s.length) return i;
  let r = i;
  if (r.startsWith(s)) r = r.slice(s.length);
  if (r.endsWith(s)) r = r.slice(0, r.length - s.length);
  return r;
});
const WS = /^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g;
def0('trim', (i) => stringOr(i, 'trim input must be a string').replace(WS, ''));
def0('ltrim', (i) => stringOr(i, 'trim input must be a string').replace(/^[ \t\n\r\f\v]+/, ''));
def0('rtrim', (i) => stringOr(i, 'trim input must be a string').replace(/[ \t\n\r\f\v]+$/, ''));
def0('explode', (i) => {
  if (typeof i !== 'string') throw new JqError('explode input must be a string');
  checkCollection(i.length >> 1);
  const out: number[] = [];
  for (const ch of i) out.push(ch.codePointAt(0)!);
  checkCollection(out.length);
  return out;
});
def0('implode', (i) => {
  if (!Array.isArray(i)) throw new JqError('implode input must be an array');
  let s = '';
  for (const c of i) {
    if (typeof c !== 'number' || Number.isNaN(c)) throw new JqError(`${describe(Number.isNaN(c) ? null : c).replace(/^null/, typeOf(c))} can't be imploded, unicode codepoint needs to be numeric`);
    const cp = Math.trunc(c);
    s += cp < 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? '\ufffd' : String.fromCodePoint(cp);
  }
  return checkString(s);
});
def1('split', (i, sep) => {
  if (typeof i !== 'string' || typeof sep !== 'string') throw new JqError('split input and separator must be strings');
  return splitString(i, sep);
});
def1('join', (i, sep) => {
  let acc: any = null;
  for (const x of iterateValues(i)) {
    step();
    acc = addValues(acc === null ? '' : addValues(acc, sep), x === null ? '' : typeof x === 'number' || typeof x === 'boolean' ? tostring(x) : x);
  }
  return acc === null ? '' : acc;
});
def0('ascii_downcase', (i) => stringOr(i, 'explode input must be a string').replace(/[A-Z]+/g, (m) => m.toLowerCase()));
def0('ascii_upcase', (i) => stringOr(i, 'explode input must be a string').replace(/[a-z]+/g, (m) => m.toUpperCase()));
def0('tostring', tostring);
def0('tojson', toJson);
def0('fromjson', (i) => {
  const s = requireString(i, 'only strings can be parsed');
  try {
    return parseJsonValue(s);
  } catch (err) {
    throw new JqError(`${s} (while parsing '${s}')`.replace(/^.*$/s, `${(err as Error).message} (while parsing '${s}')`));
  }
});
const NUM_RX = /^\s*-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;
def0('tonumber', (i) => {
  if (typeof i === 'number') return i;
  if (typeof i === 'string') {
    if (NUM_RX.test(i) && !/^\s|\s$/.test(i)) return Number(i);
    if (i === 'nan' || i === 'NaN') return NaN;
    throw new JqError(`Cannot parse '${i}' as JSON`);
  }
  throw new JqError(`${describe(i)} cannot be parsed as a number`);
});
def0('toboolean', (i) => {
  if (typeof i === 'boolean') return i;
  if (i === 'true') return true;
  if (i === 'false') return false;
  throw new JqError(`${describe(i)} cannot be parsed as a boolean`);
});
def0('ascii', (i) => String.fromCharCode(requireNumber(i, 'ascii')));
def0('toarray', (i) => (Array.isArray(i) ? i : [i]));
def0('infinite', () => Infinity);
def0('nan', () => NaN);
def0('isinfinite', (i) => { requireNumber(i, 'isinfinite'); return i === Infinity || i === -Infinity; });
def0('isnan', (i) => { requireNumber(i, 'isnan'); return Number.isNaN(i); });
def0('isnormal', (i) => { requireNumber(i, 'isnormal'); return Number.isFinite(i) && i !== 0 && Math.abs(i) >= 2.2250738585072014e-308; });
def0('isvalid', () => true);
def0('have_literal_numbers', () => true);
def0('have_decnum', () => false);
def0('env', () => ({}));
def0('builtins', () => BUILTIN_NAMES());
def0('input_line_number', () => 0);
def0('now', () => Date.now() / 1000);
def0('localtime', (i) => gmtime(requireNumber(i, 'localtime')));
def0('gmtime', (i) => { if (typeof i !== 'number') throw new JqError('gmtime() requires a number'); return gmtime(i); });
def0('mktime', (i) => mktime(i));
def1('strftime', (i, f) => strftime(i, f, 'strftime/1'));
def1('strflocaltime', (i, f) => strftime(i, f, 'strflocaltime/1'));
def1('strptime', (i, f) => strptime(i, f));
def0('fromdateiso8601', (i) => fromDateIso(i));
def0('todateiso8601', (i) => toDateIso(i));
def0('fromdate', (i) => fromDateIso(i));
def0('todate', (i) => toDateIso(i));

for (const name of ['input', 'inputs', 'halt', 'get_search_list', 'get_prog_origin', 'get_jq_origin', 'modulemeta']) {
  NATIVES[`${name}/0`] = () => fromGen(() => { throw new JqError(`${name} is not supported in filters`); });
}
NATIVES['halt_error/0'] = NATIVES['halt/0']!;
NATIVES['halt_error/1'] = NATIVES['halt/0']!;
// debug/stderr pass the value through; a hook filter has no terminal to print to.
NATIVES['debug/0'] = () => fromSingle((i) => i);
NATIVES['stderr/0'] = () => fromSingle((i) => i);
NATIVES['debug/1'] = ([m]) => fromGen((i, e, k) => { m!.v(i, e, () => true); return k(i); });
NATIVES['input_filename/0'] = () => fromSingle(() => null);

// ---- math ----
const math1: Record<string, (x: number) => number> = {
  floor: Math.floor, ceil: Math.ceil, round: (x) => (x < 0 ? -Math.round(-x) : Math.round(x)), sqrt: Math.sqrt, fabs: Math.abs,
  log: Math.log, log2: Math.log2, log10: Math.log10, log1p: Math.log1p, exp: Math.exp, exp2: (x) => 2 ** x, exp10: (x) => 10 ** x,
  expm1: Math.expm1, sin: Math.sin, cos: Math.cos, tan: Math.tan, asin: Math.asin, acos: Math.acos, atan: Math.atan,
  sinh: Math.sinh, cosh: Math.cosh, tanh: Math.tanh, asinh: Math.asinh, acosh: Math.acosh, atanh: Math.atanh,
  cbrt: Math.cbrt, trunc: Math.trunc, rint: roundEven, nearbyint: roundEven,
  significand: (x) => { if (x === 0 || !Number.isFinite(x)) return x; const e = Math.floor(Math.log2(Math.abs(x))); return x / 2 ** e; },
  logb: (x) => (x === 0 ? -Infinity : Math.floor(Math.log2(Math.abs(x)))),
  gamma: lgamma, lgamma, tgamma: (x) => Math.exp(lgamma(x)) * (x < 0 && Math.floor(-x) % 2 === 0 ? -1 : 1), lgamma_r: lgamma,
};
function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
function lgamma(x: number): number {
  // Lanczos approximation
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lgamma(1 - x);
  const g = 7;
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  x -= 1;
  let a = c[0]!;
  const t = x + g + 0.5;
  for (let i = 1; i < g + 2; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}
for (const [name, f] of Object.entries(math1)) {
  def0(name, (i) => {
    if (typeof i !== 'number') throw new JqError(`${describe(i)} number required`);
    return f(i);
  });
}
def0('abs', (i) => (typeof i === 'number' && i < 0 ? -i : i));
def0('frexp', (i) => {
  const x = requireNumber(i, 'frexp');
  if (x === 0 || !Number.isFinite(x)) return [x, 0];
  let e = Math.floor(Math.log2(Math.abs(x))) + 1;
  let m = x / 2 ** e;
  if (Math.abs(m) >= 1) { m /= 2; e += 1; }
  return [m, e];
});
def0('modf', (i) => { const x = requireNumber(i, 'modf'); const t = Math.trunc(x); return [x - t, t]; });
const math2: Record<string, (a: number, b: number) => number> = {
  pow: (a, b) => a ** b, atan2: Math.atan2, fmin: Math.min, fmax: Math.max, fmod: (a, b) => a % b,
  ldexp: (a, b) => a * 2 ** b, scalb: (a, b) => a * 2 ** b, scalbln: (a, b) => a * 2 ** b, nearbyint: roundEven,
  copysign: (a, b) => Math.sign(b) * Math.abs(a) || (Object.is(b, -0) || b < 0 ? -Math.abs(a) : Math.abs(a)),
  drem: (a, b) => a - b * roundEven(a / b), hypot: Math.hypot, fdim: (a, b) => (a > b ? a - b : 0),
};
for (const [name, f] of Object.entries(math2)) {
  def2(name, (_i, a, b) => {
    if (typeof a !== 'number' || typeof b !== 'number') throw new JqError(`${name}/2 requires numbers`);
    return f(a, b);
  });
}
NATIVES['fma/3'] = ([a, b, c]) => cart3(a!, b!, c!, (_i, x, y, z) => x * y + z);

// ---- ordering ----
function sortValues(a: any[]): any[] {
  charge(a.length);
  return a.slice().sort(compare);
}
function requireArray(i: any, what: string): any[] {
  if (!Array.isArray(i)) throw new JqError(`${describe(i)} cannot be ${what}, as it is not an array`);
  return i;
}
def0('sort', (i) => sortValues(requireArray(i, 'sorted')));
const keyed = (f: C, i: any, e: Env, what: string): { v: any; k: any[] }[] => {
  const arr = requireArray(i, what);
  charge(arr.length);
  return arr.map((v) => ({ v, k: collect(f, v, e) }));
};
NATIVES['sort_by/1'] = ([f]) => fromSingle((i, e) => keyed(f!, i, e, 'sorted').sort((x, y) => compare(x.k, y.k)).map((x) => x.v));
NATIVES['group_by/1'] = ([f]) => fromSingle((i, e) => {
  const items = keyed(f!, i, e, 'grouped').sort((x, y) => compare(x.k, y.k));
  const out: any[][] = [];
  let prev: any;
  for (const it of items) {
    if (out.length && equals(prev, it.k)) out[out.length - 1]!.push(it.v);
    else { out.push([it.v]); prev = it.k; }
  }
  return out;
});
NATIVES['unique_by/1'] = ([f]) => fromSingle((i, e) => {
  const items = keyed(f!, i, e, 'grouped').sort((x, y) => compare(x.k, y.k));
  const out: any[] = [];
  let prev: any, first = true;
  for (const it of items) {
    if (first || !equals(prev, it.k)) { out.push(it.v); prev = it.k; first = false; }
  }
  return out;
});
def0('unique', (i) => {
  const s = sortValues(requireArray(i, 'sorted'));
  return s.filter((x, j) => j === 0 || !equals(s[j - 1], x));
});
const extreme = (isMax: boolean) => (items: { v: any; k: any }[]) => {
  if (!items.length) return null;
  let best = items[0]!;
  for (const it of items.slice(1)) {
    const c = compare(it.k, best.k);
    if (isMax ? c >= 0 : c < 0) best = it;
  }
  return best.v;
};
def0('min', (i) => extreme(false)(requireArray(i, 'iterated over').map((v) => ({ v, k: v }))));
def0('max', (i) => extreme(true)(requireArray(i, 'iterated over').map((v) => ({ v, k: v }))));
NATIVES['min_by/1'] = ([f]) => fromSingle((i, e) => extreme(false)(keyed(f!, i, e, 'iterated over')));
NATIVES['max_by/1'] = ([f]) => fromSingle((i, e) => extreme(true)(keyed(f!, i, e, 'iterated over')));
def0('reverse', (i) => {
  if (i === null) return [];
  if (typeof i === 'string') return Array.from(i).reverse().join('');
  if (Array.isArray(i)) return i.slice().reverse();
  throw new JqError(`Cannot reverse ${describe(i)}`);
});
function indicesOf(i: any, x: any): any {
  if (i === null) return null;
  if (typeof i === 'string' && typeof x === 'string') {
    if (x === '') return null;
    const out: number[] = [];
    let at = i.indexOf(x);
    while (at >= 0) { out.push(cpIndex(i, at)); at = i.indexOf(x, at + 1); }
    return out;
  }
  if (Array.isArray(i) && Array.isArray(x)) return arrayIndices(i, x);
  if (Array.isArray(i)) return arrayIndices(i, [x]);
  if (typeof i === 'string') throw new JqError(`Cannot determine indices of ${describe(x)} in a string`);
  return indexValue(i, x);
}
def1('indices', indicesOf);
def1('_indices', indicesOf);
def1('index', (i, x) => { const r = indicesOf(i, x); return Array.isArray(r) ? (r.length ? r[0] : null) : r; });
def1('rindex', (i, x) => { const r = indicesOf(i, x); return Array.isArray(r) ? (r.length ? r[r.length - 1] : null) : r; });
function flatten(a: any[], depth: number, out: any[]): any[] {
  for (const x of a) {
    step();
    if (Array.isArray(x) && depth > 0) flatten(x, depth - 1, out);
    else out.push(x);
  }
  return out;
}
def0('flatten', (i) => flatten(requireArray(i, 'flattened'), 1e9, []));
def1('flatten', (i, d) => {
  if (typeof d !== 'number') throw new JqError('flatten depth must not be negative');
  if (d < 0) throw new JqError('flatten depth must not be negative');
  return flatten(requireArray(i, 'flattened'), d, []);
});
def0('transpose', (i) => {
  const rows = requireArray(i, 'transposed');
  const n = Math.max(0, ...rows.map((r) => (Array.isArray(r) ? r.length : 0)));
  const out: any[][] = [];
  for (let j = 0; j < n; j++) out.push(rows.map((r) => (Array.isArray(r) && j < r.length ? r[j] : null)));
  return out;
});
def1('bsearch', (i, target) => {
  const a = requireArray(i, 'searched from');
  let lo = 0, hi = a.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = compare(a[mid], target);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1 - lo;
});
def0('to_entries', (i) => {
  if (isObject(i)) return Object.keys(i).map((key) => ({ key, value: i[key] }));
  if (Array.isArray(i)) return i.map((value, key) => ({ key, value }));
  throw new JqError(`${describe(i)} has no keys`);
});
def0('from_entries', (i) => {
  const out: Record<string, any> = {};
  for (const x of iterateValues(i)) {
    step();
    if (!isObject(x)) throw new JqError(`Cannot index ${typeOf(x)} with string "key"`);
    let key: any = null;
    for (const n of ['key', 'Key', 'name', 'Name']) {
      key = getKey(x, n);
      if (key !== null && key !== false) break;
    }
    const value = hasKey(x, 'value') ? x.value : getKey(x, 'Value');
    if (typeof key === 'number' || typeof key === 'boolean') key = toJson(key);
    if (typeof key !== 'string') throw new JqError(`Cannot use ${describe(key)} as object key`);
    setKey(out, key, value === undefined ? null : value);
  }
  return out;
});
NATIVES['tostream/0'] = () => fromGen((i, _e, k) => {
  const go = (v: any, p: Path, top: boolean): boolean => {
    step();
    const entries = Array.isArray(v) ? v.map((x, j) => [j, x] as const) : isObject(v) ? Object.keys(v).map((key) => [key, v[key]] as const) : null;
    if (!entries || entries.length === 0) return k([p, v]) && (top ? true : true);
    for (const [key, x] of entries) if (!go(x, [...p, key], false)) return false;
    return k([[...p, entries[entries.length - 1]![0]]]);
  };
  return go(i, [], true);
});
NATIVES['fromstream/1'] = ([f]) => fromGen((i, e, k) => {
  let x: any = null, emitted = false;
  return f!.v(i, e, (ev) => {
    if (emitted) { x = null; emitted = false; }
    if (!Array.isArray(ev) || !Array.isArray(ev[0])) throw new JqError('Invalid stream event');
    const p = ev[0] as Path;
    if (ev.length === 2) {
      if (p.length === 0) { emitted = true; return k(ev[1]); }
      x = setpath(x, p, ev[1]);
      return true;
    }
    if (p.length === 1) { emitted = true; return k(x); }
    return true;
  });
});
NATIVES['truncate_stream/1'] = ([f]) => fromGen((i, e, k) => {
  const depth = i;
  return f!.v(null, e, (ev) => {
    if (Array.isArray(ev) && Array.isArray(ev[0]) && ev[0].length > depth) {
      const copy = ev.slice();
      copy[0] = ev[0].slice(depth);
      return k(copy);
    }
    return true;
  });
});
NATIVES['splits/1'] = ([re]) => fromGen((i, e, k) => re!.v(i, e, (r) => { for (const s of regexSplit(i, r, null)) if (!k(s)) return false; return true; }));
NATIVES['splits/2'] = ([re, fl]) => fromGen((i, e, k) => re!.v(i, e, (r) => fl!.v(i, e, (f) => { for (const s of regexSplit(i, r, f)) if (!k(s)) return false; return true; })));
def2('split', (i, re, flags) => regexSplit(i, re, flags));
function regexSplit(i: any, re: any, flags: any): string[] {
  if (typeof i !== 'string') throw new JqError(`${describe(i)} cannot be matched, as it is not a string`);
  const ms = regexMatches(i, re, (flags ?? '') + 'g');
  const out: string[] = [];
  const cps = Array.from(i);
  let prev = 0;
  for (const m of ms) {
    out.push(cps.slice(prev, m.offset).join(''));
    prev = m.offset + m.length;
  }
  out.push(cps.slice(prev).join(''));
  return out;
}

// ---- regex ----
function reArgs(re: any, flags: any): [any, any] {
  if (Array.isArray(re)) {
    if (flags !== null && flags !== undefined) throw new JqError(`${describe(re)} cannot be matched, as it is not a string`);
    return [re[0], re.length > 1 ? re[1] : null];
  }
  return [re, flags];
}
NATIVES['test/1'] = ([re]) => cart1(re!, (i, r) => { const [x, f] = reArgs(r, null); return regexMatches(i, x, f, true).length > 0; });
NATIVES['test/2'] = ([re, fl]) => cart2(re!, fl!, (i, r, f) => { const [x, g] = reArgs(r, f); return regexMatches(i, x, g, true).length > 0; });
const matchGen = (re: C, fl: C | null): C => fromGen((i, e, k) => re.v(i, e, (r) => {
  const run = (f: any) => {
    const [x, g] = reArgs(r, f);
    for (const m of regexMatches(i, x, g)) if (!k(m)) return false;
    return true;
  };
  return fl ? fl.v(i, e, run) : run(null);
}));
NATIVES['match/1'] = ([re]) => matchGen(re!, null);
NATIVES['match/2'] = ([re, fl]) => matchGen(re!, fl!);
const captureObject = (m: { captures: { name: string | null; string: string | null }[] }) => {
  const o: Record<string, any> = {};
  for (const c of m.captures) if (c.name !== null) setKey(o, c.name, c.string);
  return o;
};
const captureGen = (re: C, fl: C | null): C => {
  const m = matchGen(re, fl);
  return fromGen((i, e, k) => m.v(i, e, (x) => k(captureObject(x))));
};
NATIVES['capture/1'] = ([re]) => captureGen(re!, null);
NATIVES['capture/2'] = ([re, fl]) => captureGen(re!, fl!);
const scanGen = (re: C, fl: C | null): C => fromGen((i, e, k) => re.v(i, e, (r) => {
  const run = (f: any) => {
    for (const m of regexMatches(i, r, 'g' + (f ?? ''))) {
      if (!k(m.captures.length ? m.captures.map((c) => c.string) : m.string)) return false;
    }
    return true;
  };
  return fl ? fl.v(i, e, run) : run(null);
}));
NATIVES['scan/1'] = ([re]) => scanGen(re!, null);
NATIVES['scan/2'] = ([re, fl]) => scanGen(re!, fl!);
const subGen = (re: C, repl: C, fl: C | null, global: boolean): C => fromGen((i, e, k) => re.v(i, e, (r) => {
  const run = (f: any): boolean => {
    if (typeof i !== 'string') throw new JqError(`${describe(i)} cannot be matched, as it is not a string`);
    const flags = (global ? 'g' : '') + (f ?? '');
    const ms = regexMatches(i, r, flags);
    const cps = Array.from(i);
    // every combination of replacement outputs, first match outermost
    const go = (j: number, prev: number, acc: string): boolean => {
      if (j === ms.length) return k(checkString(acc + cps.slice(prev).join('')));
      const m = ms[j]!;
      const gap = cps.slice(prev, m.offset).join('');
      return repl.v(captureObject(m), e, (s) => {
        if (typeof s !== 'string') throw new JqError(`${describe(s)} cannot be added to a string`);
        return go(j + 1, m.offset + m.length, acc + gap + s);
      });
    };
    return go(0, 0, '');
  };
  return fl ? fl.v(i, e, run) : run(null);
}));
NATIVES['sub/2'] = ([re, s]) => subGen(re!, s!, null, false);
NATIVES['sub/3'] = ([re, s, f]) => subGen(re!, s!, f!, false);
NATIVES['gsub/2'] = ([re, s]) => subGen(re!, s!, null, true);
NATIVES['gsub/3'] = ([re, s, f]) => subGen(re!, s!, f!, true);

// ---- formats ----
function csvField(x: any, what: string): string {
  switch (typeOf(x)) {
    case 'number': return numberToString(x);
    case 'boolean': return x ? 'true' : 'false';
    case 'null': return '';
    case 'string': return what === 'csv' ? `"${x.replace(/"/g, '""')}"` : x.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
  }
  throw new JqError(`${describe(x)} is not valid in a ${what} row`);
}
function shQuote(x: any): string {
  switch (typeOf(x)) {
    case 'string': return `'${x.replace(/'/g, "'\\''")}'`;
    case 'array': case 'object': throw new JqError(`${describe(x)} can not be escaped for shell`);
    default: return toJson(x);
  }
}
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
export function applyFormat(name: string, v: any): string {
  switch (name) {
    case '@text': return tostring(v);
    case '@json': return toJson(v);
    case '@html': return tostring(v).replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
    case '@uri': {
      const s = tostring(v);
      let out = '';
      for (const b of Buffer.from(s, 'utf8')) {
        const c = String.fromCharCode(b);
        out += /[A-Za-z0-9\-_.~]/.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
      }
      return out;
    }
    case '@csv': case '@tsv': {
      if (!Array.isArray(v)) throw new JqError(`${describe(v)} cannot be ${name === '@csv' ? 'csv' : 'tsv'}-formatted, only an array can be`);
      return v.map((x) => csvField(x, name.slice(1))).join(name === '@csv' ? ',' : '\t');
    }
    case '@sh':
      return Array.isArray(v) ? v.map(shQuote).join(' ') : shQuote(v);
    case '@base64': return Buffer.from(tostring(v), 'utf8').toString('base64');
    case '@base64d': {
      const s = tostring(v);
      const clean = s.replace(/=+$/, '');
      if (/[^A-Za-z0-9+/]/.test(clean)) throw new JqError(`Invalid base64 data (${dumpTrunc(s)})`);
      if (clean.length % 4 === 1) throw new JqError(`Invalid base64 data (trailing base64 byte found) (${dumpTrunc(s)})`);
      return Buffer.from(clean, 'base64').toString('utf8');
    }
    case '@urid': {
      const s = tostring(v);
      try {
        return decodeURIComponent(s);
      } catch {
        throw new JqError(`${describe(s)} is not a valid uri encoding`);
      }
    }
    case '@base32': {
      const bytes = Buffer.from(tostring(v), 'utf8');
      let out = '', bits = 0, val = 0;
      for (const b of bytes) {
        val = (val << 8) | b;
        bits += 8;
        while (bits >= 5) { out += B32[(val >>> (bits - 5)) & 31]; bits -= 5; }
      }
      if (bits > 0) out += B32[(val << (5 - bits)) & 31];
      while (out.length % 8) out += '=';
      return out;
    }
    case '@base32d': {
      const s = tostring(v).replace(/=+$/, '');
      const bytes: number[] = [];
      let bits = 0, val = 0;
      for (const ch of s) {
        const d = B32.indexOf(ch.toUpperCase());
        if (d < 0) throw new JqError(`${describe(v)} is not valid base32 data`);
        val = (val << 5) | d;
        bits += 5;
        if (bits >= 8) { bytes.push((val >>> (bits - 8)) & 255); bits -= 8; }
      }
      return Buffer.from(bytes).toString('utf8');
    }
  }
  throw new JqError(`${name.slice(1)} is not a valid format`);
}
def1('format', (i, f) => {
  if (typeof f !== 'string') throw new JqError(`${describe(f)} is not a valid format`);
  return applyFormat('@' + f, i);
});

function BUILTIN_NAMES(): string[] {
  const names = new Set(Object.keys(NATIVES).filter((n) => !n.startsWith('_')));
  for (const m of PRELUDE.matchAll(/def ([a-zA-Z_][a-zA-Z0-9_]*)(\(([^)]*)\))?:/g)) {
    if (m[1]!.startsWith('_')) continue;
    names.add(`${m[1]}/${m[3] ? m[3].split(';').length : 0}`);
  }
  return [...names];
}

/** Builtins expressed in jq itself (compiled once, shared by every filter). */
export const PRELUDE = `
def values: select(. != null);
def nulls: select(. == null);
def booleans: select(type == "boolean");
def numbers: select(type == "number");
def strings: select(type == "string");
def arrays: select(type == "array");
def objects: select(type == "object");
def iterables: select(type == "array" or type == "object");
def scalars: select(type != "array" and type != "object");
def finites: select(type == "number" and (isinfinite or isnan | not));
def normals: select(type == "number" and isnormal);
def in(xs): . as $x | xs | has($x);
def first: .[0];
def last: .[-1];
def nth($n): .[$n];
def leaf_paths: paths(scalars);
def with_entries(f): to_entries | map(f) | from_entries;
def combinations: if length == 0 then [] else .[0][] as $x | (.[1:] | combinations) as $w | [$x] + $w end;
def combinations(n): . as $dot | [range(n)] | map($dot) | combinations;
def walk(f): def w: if type == "object" then map_values(w) elif type == "array" then map(w) else . end | f; w;
def dateadd(u; n): . + n;
def datesub(u; n): . - n;
def date: todate;
def splits($re): splits($re; null);
def INDEX(stream; idx_expr): reduce stream as $row ({}; .[$row | idx_expr | tostring] |= $row);
def INDEX(idx_expr): INDEX(.[]; idx_expr);
def JOIN($idx; idx_expr): [.[] | [., $idx[idx_expr]]];
def JOIN($idx; stream; idx_expr): stream | [., $idx[idx_expr]];
def JOIN($idx; stream; idx_expr; join_expr): stream | [., $idx[idx_expr]] | join_expr;
def nwise($n): if $n <= 0 then error("nwise: argument should be non-negative") else def n: if length <= $n then . else .[0:$n] , (.[$n:] | n) end; n end;
def nwise(a; $n): a | nwise($n);
def lpad($len; $fill): if length >= $len then . else ($fill * ($len - length)) + . end;
def lpad($len): lpad($len; " ");
def rpad($len; $fill): if length >= $len then . else . + ($fill * ($len - length)) end;
def rpad($len): rpad($len; " ");
def _nwise($n): def n: if length <= $n then . else .[0:$n] , (.[$n:] | n) end; n;
def _nwise(a; $n): a | _nwise($n);
`;
