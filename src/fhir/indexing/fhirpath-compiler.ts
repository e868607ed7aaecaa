// A compiler for the subset of FHIRPath used by the R4 SearchParameter expressions, into JS closures over
// typed nodes. It exists because the `fhirpath` package interprets an AST per call and costs tens of µs per
// expression; search indexing runs every parameter of every written resource.
// Supported: type-name roots, member access (choice elements resolved via the R4 element model), `[n]`,
// `|`, `=`, `!=`, `and`, `or`, `is`/`as` operators, and the functions where, ofType, as, is, exists, empty,
// not, first, last, resolve (type of a literal reference, for `resolve() is X`), extension(url), hasValue.
// Anything else throws CompileError at compile time so the caller can fall back to `fhirpath`.
import { getTypeDef, isResourceType, isTypeOrSubtype } from '../definitions/index.ts';

/** A value with its FHIR type (a data type, primitive type, backbone path like "Patient.contact", or resource type). */
export interface FhirNode {
  v: unknown;
  t: string;
}

export type Evaluator = (focus: FhirNode[]) => FhirNode[];

export class CompileError extends Error {}

// ---------------------------------------------------------------- tokenizer

type Tok = { k: 'id' | 'str' | 'num' | 'sym'; s: string };

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { i++; continue; }
    if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < src.length && /[A-Za-z0-9_]/.test(src[j])) j++;
      out.push({ k: 'id', s: src.slice(i, j) });
      i = j;
    } else if (c === '`') {
      const j = src.indexOf('`', i + 1);
      if (j < 0) throw new CompileError('unterminated identifier');
      out.push({ k: 'id', s: src.slice(i + 1, j) });
      i = j + 1;
    } else if (c === "'") {
      let j = i + 1, s = '';
      while (j < src.length && src[j] !== "'") {
        if (src[j] === '\\') { s += src[j + 1]; j += 2; } else s += src[j++];
      }
      if (j >= src.length) throw new CompileError('unterminated string');
      out.push({ k: 'str', s });
      i = j + 1;
    } else if (/[0-9]/.test(c)) {
      let j = i + 1;
      while (j < src.length && /[0-9.]/.test(src[j])) j++;
      out.push({ k: 'num', s: src.slice(i, j) });
      i = j;
    } else if (c === '!' && src[i + 1] === '=') {
      out.push({ k: 'sym', s: '!=' });
      i += 2;
    } else if ('.()[]|=,'.includes(c)) {
      out.push({ k: 'sym', s: c });
      i++;
    } else {
      throw new CompileError(`unsupported character '${c}'`);
    }
  }
  return out;
}

// ---------------------------------------------------------------- parser → closures

const childCache = new Map<string, { key: string; type: string | null }[]>();

/** JSON keys (and their types) that FHIRPath member `name` maps to on a value of `type`. */
function childAccessors(type: string, name: string): { key: string; type: string | null }[] {
  const cacheKey = type + '\u0000' + name;
  let acc = childCache.get(cacheKey);
  if (acc) return acc;
  acc = [];
  const el = getTypeDef(type)?.elements.get(name);
  if (el) {
    if (el.choice) for (const t of el.types) acc.push({ key: name + t.charAt(0).toUpperCase() + t.slice(1), type: t });
    else acc.push({ key: name, type: el.types[0] === 'Resource' ? null : el.types[0] });
  }
  childCache.set(cacheKey, acc);
  return acc;
}

function pushValue(out: FhirNode[], v: unknown, type: string | null): void {
  if (v === undefined || v === null) return;
  if (Array.isArray(v)) {
    for (const item of v) pushValue(out, item, type);
    return;
  }
  // Resource-typed elements (contained, Bundle.entry.resource) take their type from the value.
  const t = type ?? (typeof v === 'object' ? String((v as { resourceType?: unknown }).resourceType ?? 'Resource') : 'Resource');
  out.push({ v, t });
}

function member(focus: FhirNode[], name: string): FhirNode[] {
  const out: FhirNode[] = [];
  for (const n of focus) {
    if (typeof n.v !== 'object' || n.v === null) continue;
    const obj = n.v as Record<string, unknown>;
    for (const a of childAccessors(n.t, name)) pushValue(out, obj[a.key], a.type);
  }
  return out;
}

function typeMatches(t: string, wanted: string): boolean {
  const w = wanted.startsWith('FHIR.') ? wanted.slice(5) : wanted;
  return t === w || isTypeOrSubtype(t, w);
}

function singleBoolean(nodes: FhirNode[]): boolean | undefined {
  if (nodes.length !== 1) return undefined;
  const v = nodes[0].v;
  return typeof v === 'boolean' ? v : true; // a single non-boolean item counts as true (FHIRPath singleton evaluation)
}

const REF_TYPE_RE = /(?:^|\/)([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** resolve() without a server: the type named by a literal reference ("Patient/1", ".../Patient/1"). */
function resolveNodes(focus: FhirNode[]): FhirNode[] {
  const out: FhirNode[] = [];
  for (const n of focus) {
    const ref = typeof n.v === 'object' && n.v !== null ? (n.v as { reference?: unknown }).reference : n.v;
    if (typeof ref !== 'string') continue;
    const m = REF_TYPE_RE.exec(ref);
    if (m && isResourceType(m[1])) out.push({ v: { resourceType: m[1] }, t: m[1] });
  }
  return out;
}

function literalEquals(a: FhirNode[], b: FhirNode[]): boolean | undefined {
  if (a.length === 0 || b.length === 0) return undefined;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i].v, y = b[i].v;
    if (typeof x === 'object' || typeof y === 'object') { if (JSON.stringify(x) !== JSON.stringify(y)) return false; } else if (x !== y) return false;
  }
  return true;
}

function nodeKey(n: FhirNode): string {
  return typeof n.v === 'object' ? JSON.stringify(n.v) : `${typeof n.v}:${String(n.v)}`;
}

const boolNode = (b: boolean): FhirNode[] => [{ v: b, t: 'boolean' }];

class Parser {
  private pos = 0;
  constructor(private readonly toks: Tok[]) {}

  parse(): Evaluator {
    const e = this.expr();
    if (this.pos < this.toks.length) throw new CompileError(`unexpected '${this.toks[this.pos].s}'`);
    return e;
  }

  private peek(s?: string): Tok | undefined {
    const t = this.toks[this.pos];
    return s === undefined || (t && t.s === s && (t.k === 'sym' || t.k === 'id')) ? t : undefined;
  }

  private eat(s: string): void {
    if (!this.peek(s)) throw new CompileError(`expected '${s}'`);
    this.pos++;
  }

  private expr(): Evaluator {
    let left = this.and();
    while (this.peek('or')) {
      this.pos++;
      const l = left, r = this.and();
      left = (f) => {
        const a = singleBoolean(l(f)), b = singleBoolean(r(f));
        if (a === true || b === true) return boolNode(true);
        if (a === false && b === false) return boolNode(false);
        return [];
      };
    }
    return left;
  }

  private and(): Evaluator {
    let left = this.equality();
    while (this.peek('and')) {
      this.pos++;
      const l = left, r = this.equality();
      left = (f) => {
        const a = singleBoolean(l(f)), b = singleBoolean(r(f));
        if (a === false || b === false) return boolNode(false);
        if (a === true && b === true) return boolNode(true);
        return [];
      };
    }
    return left;
  }

  private equality(): Evaluator {
    const left = this.union();
    const op = this.peek('=') ? '=' : this.peek('!=') ? '!=' : null;
    if (!op) return left;
    this.pos++;
    const right = this.union();
    return (f) => {
      const eq = literalEquals(left(f), right(f));
      return eq === undefined ? [] : boolNode(op === '=' ? eq : !eq);
    };
  }

  private union(): Evaluator {
    const parts = [this.typeOp()];
    while (this.peek('|')) { this.pos++; parts.push(this.typeOp()); }
    if (parts.length === 1) return parts[0];
    // FHIRPath union removes duplicates by value equality, not identity.
    return (f) => {
      const out: FhirNode[] = [];
      let keys: Set<string> | null = null;
      for (const p of parts) {
        for (const n of p(f)) {
          keys ??= new Set(out.map(nodeKey));
          const k = nodeKey(n);
          if (keys.has(k)) continue;
          keys.add(k);
          out.push(n);
        }
      }
      return out;
    };
  }

  private typeOp(): Evaluator {
    const left = this.postfix();
    if (this.peek('is') || this.peek('as')) {
      const op = this.toks[this.pos++].s;
      const type = this.typeName();
      if (op === 'as') return (f) => left(f).filter((n) => typeMatches(n.t, type));
      return (f) => {
        const r = left(f);
        return r.length === 1 ? boolNode(typeMatches(r[0].t, type)) : [];
      };
    }
    return left;
  }

  private typeName(): string {
    const t = this.toks[this.pos++];
    if (!t || t.k !== 'id') throw new CompileError('type name expected');
    let name = t.s;
    if (this.peek('.') && this.toks[this.pos + 1]?.k === 'id' && (name === 'FHIR' || name === 'System')) {
      this.pos++;
      name = `${name}.${this.toks[this.pos++].s}`;
    }
    if (name.startsWith('System.')) throw new CompileError('System types are not supported');
    return name;
  }

  private postfix(): Evaluator {
    let e = this.term(true);
    for (;;) {
      if (this.peek('.')) {
        this.pos++;
        e = this.invocation(e);
      } else if (this.peek('[')) {
        this.pos++;
        const t = this.toks[this.pos++];
        if (!t || t.k !== 'num') throw new CompileError('only literal indexes are supported');
        this.eat(']');
        const idx = Number(t.s), prev = e;
        e = (f) => { const r = prev(f); return idx < r.length ? [r[idx]] : []; };
      } else {
        return e;
      }
    }
  }

  private term(first: boolean): Evaluator {
    const t = this.toks[this.pos];
    if (!t) throw new CompileError('unexpected end');
    if (t.s === '(' && t.k === 'sym') {
      this.pos++;
      const e = this.expr();
      this.eat(')');
      return e;
    }
    if (t.k === 'str') { this.pos++; const v = t.s; return () => [{ v, t: 'string' }]; }
    if (t.k === 'num') {
      this.pos++;
      const v = Number(t.s), ty = t.s.includes('.') ? 'decimal' : 'integer';
      return () => [{ v, t: ty }];
    }
    if (t.k === 'id' && (t.s === 'true' || t.s === 'false')) { this.pos++; const v = t.s === 'true'; return () => boolNode(v); }
    if (t.k === 'id' && first && /^[A-Z]/.test(t.s) && (isResourceType(t.s) || t.s === 'Resource' || t.s === 'DomainResource') && !this.isCall()) {
      // A leading type name filters the input ("Patient.name" on a Patient).
      this.pos++;
      const type = t.s;
      return (f) => f.filter((n) => typeMatches(n.t, type));
    }
    return this.invocation((f) => f);
  }

  private isCall(): boolean {
    return this.toks[this.pos + 1]?.s === '(' && this.toks[this.pos + 1]?.k === 'sym';
  }

  private invocation(input: Evaluator): Evaluator {
    const t = this.toks[this.pos];
    if (!t || t.k !== 'id') throw new CompileError('identifier expected');
    if (!this.isCall()) {
      this.pos++;
      const name = t.s;
      return (f) => member(input(f), name);
    }
    this.pos += 2; // name (
    const fn = t.s;
    switch (fn) {
      case 'where': {
        const cond = this.expr();
        this.eat(')');
        return (f) => input(f).filter((n) => singleBoolean(cond([n])) === true);
      }
      case 'exists': {
        const cond = this.peek(')') ? null : this.expr();
        this.eat(')');
        return (f) => {
          const r = input(f);
          return boolNode(cond ? r.some((n) => singleBoolean(cond([n])) === true) : r.length > 0);
        };
      }
      case 'ofType': case 'as': case 'is': {
        const type = this.typeName();
        this.eat(')');
        if (fn === 'is') return (f) => { const r = input(f); return r.length === 1 ? boolNode(typeMatches(r[0].t, type)) : []; };
        return (f) => input(f).filter((n) => typeMatches(n.t, type));
      }
      case 'extension': {
        const arg = this.toks[this.pos++];
        if (!arg || arg.k !== 'str') throw new CompileError('extension() needs a string literal');
        this.eat(')');
        const url = arg.s;
        return (f) => member(input(f), 'extension').filter((n) => (n.v as { url?: unknown }).url === url);
      }
      case 'empty': case 'not': case 'first': case 'last': case 'resolve': case 'hasValue': {
        this.eat(')');
        if (fn === 'empty') return (f) => boolNode(input(f).length === 0);
        if (fn === 'not') return (f) => { const b = singleBoolean(input(f)); return b === undefined ? [] : boolNode(!b); };
        if (fn === 'first') return (f) => input(f).slice(0, 1);
        if (fn === 'last') return (f) => input(f).slice(-1);
        if (fn === 'hasValue') return (f) => { const r = input(f); return boolNode(r.length === 1 && typeof r[0].v !== 'object'); };
        return (f) => resolveNodes(input(f));
      }
      default:
        throw new CompileError(`function ${fn}() is not supported`);
    }
  }
}

/** Compiles an expression; throws CompileError when it uses FHIRPath outside the supported subset. */
export function compileFhirPath(expression: string): Evaluator {
  return new Parser(tokenize(expression)).parse();
}
