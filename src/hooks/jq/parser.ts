// jq lexer + recursive-descent parser producing an AST with source offsets.
// The lexer is on-demand (driven by the parser) so string interpolation `"\(…)"` can
// recurse into the expression parser from inside a string literal.

export class JqParseError extends Error {
  readonly position: number;
  readonly line: number;
  readonly column: number;
  constructor(message: string, source: string, position: number) {
    const before = source.slice(0, position);
    const line = before.split('\n').length;
    const column = position - (before.lastIndexOf('\n') + 1) + 1;
    super(message);
    this.name = 'JqParseError';
    this.position = position;
    this.line = line;
    this.column = column;
  }
}

export type Pattern =
  | { type: 'PVar'; name: string; pos: number }
  | { type: 'PArray'; elems: Pattern[]; pos: number }
  | { type: 'PObject'; entries: { key: Node; keyVar: string | null; value: Pattern | null }[]; pos: number };

export type Node =
  | { type: 'Identity'; pos: number }
  | { type: 'RecurseAll'; pos: number }
  | { type: 'Index'; pos: number; target: Node; index: Node }
  | { type: 'Slice'; pos: number; target: Node; from: Node | null; to: Node | null }
  | { type: 'Iterate'; pos: number; target: Node }
  | { type: 'Literal'; pos: number; value: unknown }
  | { type: 'Str'; pos: number; parts: (string | Node)[]; format: string | null }
  | { type: 'Format'; pos: number; name: string }
  | { type: 'Array'; pos: number; body: Node | null }
  | { type: 'Object'; pos: number; entries: { key: Node; value: Node }[] }
  | { type: 'Neg'; pos: number; body: Node }
  | { type: 'Pipe'; pos: number; left: Node; right: Node }
  | { type: 'Comma'; pos: number; left: Node; right: Node }
  | { type: 'Binop'; pos: number; op: string; left: Node; right: Node }
  | { type: 'And'; pos: number; left: Node; right: Node }
  | { type: 'Or'; pos: number; left: Node; right: Node }
  | { type: 'Alt'; pos: number; left: Node; right: Node }
  | { type: 'Assign'; pos: number; op: string; left: Node; right: Node }
  | { type: 'If'; pos: number; cond: Node; then: Node; else: Node | null }
  | { type: 'Try'; pos: number; body: Node; catch: Node | null }
  | { type: 'Reduce'; pos: number; source: Node; patterns: Pattern[]; init: Node; update: Node }
  | { type: 'Foreach'; pos: number; source: Node; patterns: Pattern[]; init: Node; update: Node; extract: Node | null }
  | { type: 'FuncDef'; pos: number; name: string; params: string[]; body: Node; rest: Node }
  | { type: 'Call'; pos: number; name: string; args: Node[] }
  | { type: 'Var'; pos: number; name: string }
  | { type: 'Bind'; pos: number; source: Node; patterns: Pattern[]; body: Node }
  | { type: 'Label'; pos: number; name: string; body: Node }
  | { type: 'Break'; pos: number; name: string }
  | { type: 'Loc'; pos: number; line: number };

const KEYWORDS = new Set([
  'def', 'if', 'then', 'elif', 'else', 'end', 'as', 'reduce', 'foreach', 'try', 'catch', 'label',
  'import', 'include', 'and', 'or', '__loc__',
]);

type Tok =
  | { k: 'num'; v: number; s: number; e: number }
  | { k: 'ident'; v: string; s: number; e: number }
  | { k: 'field'; v: string; s: number; e: number } // .name
  | { k: 'var'; v: string; s: number; e: number } // $name
  | { k: 'format'; v: string; s: number; e: number } // @name
  | { k: 'str'; v: ''; s: number; e: number } // opening quote; parser reads the body
  | { k: 'op'; v: string; s: number; e: number }
  | { k: 'eof'; v: ''; s: number; e: number };

const OPS = [
  '?//=', '?//', '//=', '|=', '+=', '-=', '*=', '/=', '%=', '==', '!=', '<=', '>=', '//', '..',
  '.', '[', ']', '{', '}', '(', ')', '|', ',', ':', ';', '=', '<', '>', '+', '-', '*', '/', '%', '?',
];

const isIdStart = (c: string) => /[a-zA-Z_]/.test(c);
const isIdChar = (c: string) => /[a-zA-Z_0-9]/.test(c);

export class Parser {
  private pos = 0;
  private tok: Tok | null = null;
  constructor(private readonly src: string) {}

  static parse(src: string): Node {
    const p = new Parser(src);
    const node = p.parsePipe();
    const t = p.peek();
    if (t.k !== 'eof') p.fail(`syntax error, unexpected ${p.describe(t)}, expecting end of file`, t.s);
    return node;
  }

  fail(msg: string, at: number = this.peek().s): never {
    throw new JqParseError(msg, this.src, at);
  }

  private describe(t: Tok): string {
    if (t.k === 'eof') return 'end of file';
    if (t.k === 'str') return 'QQSTRING_START';
    if (t.k === 'op') return `'${t.v}'`;
    if (t.k === 'ident' && KEYWORDS.has(t.v)) return `"${t.v}"`;
    return `${t.k === 'num' ? 'LITERAL' : t.k.toUpperCase()} ${this.src.slice(t.s, t.e)}`;
  }

  private skipWs(): void {
    const s = this.src;
    while (this.pos < s.length) {
      const c = s[this.pos]!;
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\ufeff') this.pos++;
      else if (c === '#') {
        while (this.pos < s.length && s[this.pos] !== '\n') {
          // jq 1.7: a backslash before the newline continues the comment
          if (s[this.pos] === '\\' && s[this.pos + 1] === '\r' && s[this.pos + 2] === '\n') this.pos += 2;
          else if (s[this.pos] === '\\' && s[this.pos + 1] === '\n') this.pos++;
          this.pos++;
        }
      } else break;
    }
  }

  private lex(): Tok {
    this.skipWs();
    const s = this.src, start = this.pos;
    if (start >= s.length) return { k: 'eof', v: '', s: start, e: start };
    const c = s[start]!;
    if (c === '"') { return { k: 'str', v: '', s: start, e: start + 1 }; }
    const num = /(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/y;
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(s[start + 1] ?? ''))) {
      num.lastIndex = start;
      const m = num.exec(s)!;
      this.pos = start + m[0].length;
      return { k: 'num', v: Number(m[0]), s: start, e: this.pos };
    }
    if (isIdStart(c)) {
      let i = start + 1;
      for (;;) {
        while (i < s.length && isIdChar(s[i]!)) i++;
        if (s[i] === ':' && s[i + 1] === ':' && isIdStart(s[i + 2] ?? '')) { i += 3; continue; }
        break;
      }
      this.pos = i;
      return { k: 'ident', v: s.slice(start, i), s: start, e: i };
    }
    if ((c === '$' || c === '@') && isIdStart(s[start + 1] ?? '')) {
      let i = start + 2;
      for (;;) {
        while (i < s.length && isIdChar(s[i]!)) i++;
        if (c === '$' && s[i] === ':' && s[i + 1] === ':' && isIdStart(s[i + 2] ?? '')) { i += 3; continue; }
        break;
      }
      this.pos = i;
      return { k: c === '$' ? 'var' : 'format', v: s.slice(start + 1, i), s: start, e: i };
    }
    if (c === '.' && isIdStart(s[start + 1] ?? '')) {
      let i = start + 2;
      while (i < s.length && isIdChar(s[i]!)) i++;
      this.pos = i;
      return { k: 'field', v: s.slice(start + 1, i), s: start, e: i };
    }
    for (const op of OPS) {
      if (s.startsWith(op, start)) {
        this.pos = start + op.length;
        return { k: 'op', v: op, s: start, e: this.pos };
      }
    }
    this.pos = start + 1;
    return this.fail(`syntax error, unexpected INVALID_CHARACTER '${c}'`, start);
  }

  peek(): Tok {
    if (!this.tok) this.tok = this.lex();
    return this.tok;
  }
  private next(): Tok {
    const t = this.peek();
    this.tok = null;
    return t;
  }
  private isOp(v: string): boolean {
    const t = this.peek();
    return t.k === 'op' && t.v === v;
  }
  private isKw(v: string): boolean {
    const t = this.peek();
    return t.k === 'ident' && t.v === v;
  }
  private expectOp(v: string): Tok {
    const t = this.next();
    if (t.k !== 'op' || t.v !== v) this.fail(`syntax error, unexpected ${this.describe(t)}, expecting '${v}'`, t.s);
    return t;
  }
  private expectKw(v: string): Tok {
    const t = this.next();
    if (t.k !== 'ident' || t.v !== v) this.fail(`syntax error, unexpected ${this.describe(t)}, expecting "${v}"`, t.s);
    return t;
  }
  private lineOf(pos: number): number {
    return this.src.slice(0, pos).split('\n').length;
  }

  // Pipe: def … ; Pipe | Comma ('|' Pipe)?
  parsePipe(noComma = false): Node {
    if (this.isKw('def')) {
      const def = this.parseFuncDefHead();
      const rest = this.parsePipe(noComma);
      return { ...def, rest };
    }
    const left = noComma ? this.parseAlt() : this.parseComma();
    if (this.isOp('|')) {
      const t = this.next();
      return { type: 'Pipe', pos: t.s, left, right: this.parsePipe(noComma) };
    }
    return left;
  }

  private parseFuncDefHead(): { type: 'FuncDef'; pos: number; name: string; params: string[]; body: Node } {
    const d = this.expectKw('def');
    const nameTok = this.next();
    if (nameTok.k !== 'ident' || KEYWORDS.has(nameTok.v)) this.fail(`syntax error, unexpected ${this.describe(nameTok)}, expecting IDENT`, nameTok.s);
    const params: string[] = [];
    if (this.isOp('(')) {
      this.next();
      for (;;) {
        const p = this.next();
        if (p.k === 'ident' && !KEYWORDS.has(p.v)) params.push(p.v);
        else if (p.k === 'var') params.push('$' + p.v);
        else if (p.k === 'ident') params.push(p.v);
        else this.fail(`syntax error, unexpected ${this.describe(p)}, expecting IDENT or '$'`, p.s);
        if (this.isOp(';')) { this.next(); continue; }
        this.expectOp(')');
        break;
      }
    }
    this.expectOp(':');
    const body = this.parsePipe();
    this.expectOp(';');
    return { type: 'FuncDef', pos: d.s, name: nameTok.v as string, params, body };
  }

  private parseComma(): Node {
    let left = this.parseAlt();
    while (this.isOp(',')) {
      const t = this.next();
      left = { type: 'Comma', pos: t.s, left, right: this.parseAlt() };
    }
    return left;
  }

  // '//' is right-associative and binds looser than assignment
  private parseAlt(): Node {
    const left = this.parseAssign();
    if (this.isOp('//')) {
      const t = this.next();
      return { type: 'Alt', pos: t.s, left, right: this.parseAlt() };
    }
    return left;
  }

  private parseAssign(): Node {
    const left = this.parseOr();
    const t = this.peek();
    if (t.k === 'op' && ['=', '|=', '+=', '-=', '*=', '/=', '%=', '//='].includes(t.v)) {
      this.next();
      // nonassoc in jq; the right side may contain '//' (lower precedence) only via parentheses
      const right = this.parseAlt();
      return { type: 'Assign', pos: t.s, op: t.v, left, right };
    }
    return left;
  }

  private parseOr(): Node {
    let left = this.parseAnd();
    while (this.isKw('or')) {
      const t = this.next();
      left = { type: 'Or', pos: t.s, left, right: this.parseAnd() };
    }
    return left;
  }

  private parseAnd(): Node {
    let left = this.parseCompare();
    while (this.isKw('and')) {
      const t = this.next();
      left = { type: 'And', pos: t.s, left, right: this.parseCompare() };
    }
    return left;
  }

  private parseCompare(): Node {
    const left = this.parseAdditive();
    const t = this.peek();
    if (t.k === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(t.v)) {
      this.next();
      const right = this.parseAdditive();
      const n2 = this.peek();
      if (n2.k === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(n2.v)) this.fail(`syntax error, unexpected '${n2.v}'`, n2.s);
      return { type: 'Binop', pos: t.s, op: t.v, left, right };
    }
    return left;
  }

  private parseAdditive(): Node {
    let left = this.parseMultiplicative();
    for (;;) {
      const t = this.peek();
      if (t.k === 'op' && (t.v === '+' || t.v === '-')) {
        this.next();
        left = { type: 'Binop', pos: t.s, op: t.v, left, right: this.parseMultiplicative() };
      } else return left;
    }
  }

  private parseMultiplicative(): Node {
    let left = this.parseUnary();
    for (;;) {
      const t = this.peek();
      if (t.k === 'op' && (t.v === '*' || t.v === '/' || t.v === '%')) {
        this.next();
        const right = this.parseUnary();
        if (t.v === '/' && left.type === 'Literal' && right.type === 'Literal' && typeof left.value === 'number' && left.value !== 0 && right.value === 0) {
          this.fail('Division by zero?', t.s);
        }
        if (t.v === '%' && left.type === 'Literal' && right.type === 'Literal' && typeof left.value === 'number' && right.value === 0) {
          this.fail('Remainder by zero?', t.s);
        }
        left = { type: 'Binop', pos: t.s, op: t.v, left, right };
      } else return left;
    }
  }

  private parseUnary(): Node {
    if (this.isOp('-')) {
      const t = this.next();
      return { type: 'Neg', pos: t.s, body: this.parseUnary() };
    }
    return this.parsePostfix();
  }

  private parsePostfix(): Node {
    let t = this.parsePrimary();
    for (;;) {
      const n = this.peek();
      if (n.k === 'field') {
        this.next();
        t = { type: 'Index', pos: n.s, target: t, index: { type: 'Literal', pos: n.s, value: n.v } };
      } else if (n.k === 'op' && n.v === '.' ) {
        // `.` followed by a string or '[' as a suffix: ."foo", .[…]
        const save = this.pos;
        this.next();
        const m = this.peek();
        if (m.k === 'str') {
          const key = this.parseString(null);
          t = { type: 'Index', pos: n.s, target: t, index: key };
        } else if (m.k === 'op' && m.v === '[') {
          t = this.parseBracketSuffix(t);
        } else {
          this.pos = save;
          this.tok = n;
          this.fail(`syntax error, unexpected ${this.describe(m)}`, m.s);
        }
      } else if (n.k === 'op' && n.v === '[') {
        t = this.parseBracketSuffix(t);
      } else if (n.k === 'op' && n.v === '?') {
        this.next();
        t = { type: 'Try', pos: n.s, body: t, catch: null };
      } else if (n.k === 'ident' && n.v === 'as') {
        this.next();
        const patterns = this.parsePatterns();
        this.expectOp('|');
        const body = this.parsePipe();
        return { type: 'Bind', pos: n.s, source: t, patterns, body };
      } else return t;
    }
  }

  private parseBracketSuffix(target: Node): Node {
    const open = this.expectOp('[');
    if (this.isOp(']')) {
      this.next();
      return { type: 'Iterate', pos: open.s, target };
    }
    if (this.isOp(':')) {
      this.next();
      const to = this.parsePipe();
      this.expectOp(']');
      return { type: 'Slice', pos: open.s, target, from: null, to };
    }
    const idx = this.parsePipe();
    if (this.isOp(':')) {
      this.next();
      if (this.isOp(']')) {
        this.next();
        return { type: 'Slice', pos: open.s, target, from: idx, to: null };
      }
      const to = this.parsePipe();
      this.expectOp(']');
      return { type: 'Slice', pos: open.s, target, from: idx, to };
    }
    this.expectOp(']');
    return { type: 'Index', pos: open.s, target, index: idx };
  }

  private parsePatterns(): Pattern[] {
    const pats = [this.parsePattern()];
    while (this.isOp('?//')) {
      this.next();
      pats.push(this.parsePattern());
    }
    return pats;
  }

  private parsePattern(): Pattern {
    const t = this.next();
    if (t.k === 'var') return { type: 'PVar', name: t.v, pos: t.s };
    if (t.k === 'op' && t.v === '[') {
      const elems: Pattern[] = [];
      if (this.isOp(']')) this.fail(`syntax error, unexpected ']', expecting '$' or '[' or '{'`);
      for (;;) {
        elems.push(this.parsePattern());
        if (this.isOp(',')) { this.next(); continue; }
        this.expectOp(']');
        return { type: 'PArray', elems, pos: t.s };
      }
    }
    if (t.k === 'op' && t.v === '{') {
      const entries: { key: Node; keyVar: string | null; value: Pattern | null }[] = [];
      if (this.isOp('}')) this.fail(`syntax error, unexpected '}'`);
      for (;;) {
        const k = this.peek();
        if (k.k === 'var') {
          this.next();
          let value: Pattern | null = null;
          if (this.isOp(':')) { this.next(); value = this.parsePattern(); }
          entries.push({ key: { type: 'Literal', pos: k.s, value: k.v }, keyVar: k.v, value });
        } else if (k.k === 'ident') {
          this.next();
          this.expectOp(':');
          entries.push({ key: { type: 'Literal', pos: k.s, value: k.v }, keyVar: null, value: this.parsePattern() });
        } else if (k.k === 'str') {
          const key = this.parseString(null);
          this.expectOp(':');
          entries.push({ key, keyVar: null, value: this.parsePattern() });
        } else if (k.k === 'op' && k.v === '(') {
          this.next();
          const key = this.parsePipe();
          this.expectOp(')');
          this.expectOp(':');
          entries.push({ key, keyVar: null, value: this.parsePattern() });
        } else this.fail(`syntax error, unexpected ${this.describe(k)} in object pattern`);
        if (this.isOp(',')) { this.next(); continue; }
        this.expectOp('}');
        return { type: 'PObject', entries, pos: t.s };
      }
    }
    return this.fail(`syntax error, unexpected ${this.describe(t)}, expecting '$' or '[' or '{'`, t.s);
  }

  /** Reads a string literal body starting at the opening quote token; returns Literal or Str. */
  private parseString(format: string | null): Node {
    const q = this.next();
    if (q.k !== 'str') this.fail(`syntax error, unexpected ${this.describe(q)}, expecting string`, q.s);
    const s = this.src;
    let i = q.e;
    const parts: (string | Node)[] = [];
    let buf = '';
    for (;;) {
      if (i >= s.length) this.fail('unterminated string literal', q.s);
      const c = s[i]!;
      if (c === '"') { i++; break; }
      if (c === '\\') {
        const e = s[i + 1];
        switch (e) {
          case '"': buf += '"'; i += 2; continue;
          case '\\': buf += '\\'; i += 2; continue;
          case '/': buf += '/'; i += 2; continue;
          case 'b': buf += '\b'; i += 2; continue;
          case 'f': buf += '\f'; i += 2; continue;
          case 'n': buf += '\n'; i += 2; continue;
          case 'r': buf += '\r'; i += 2; continue;
          case 't': buf += '\t'; i += 2; continue;
          case 'u': {
            const h = s.slice(i + 2, i + 6);
            if (!/^[0-9a-fA-F]{4}$/.test(h)) this.fail('Invalid escape', i);
            buf += String.fromCharCode(parseInt(h, 16));
            i += 6;
            continue;
          }
          case '(': {
            if (buf) parts.push(buf);
            buf = '';
            this.pos = i + 2;
            this.tok = null;
            const e2 = this.parsePipe();
            const close = this.expectOp(')');
            parts.push(e2);
            i = close.e;
            continue;
          }
          default:
            this.fail(`Invalid escape at line 1, column ${i - q.s + 1} (while parsing '${s.slice(q.s, i + 2)}"')`, i);
        }
      }
      buf += c;
      i++;
    }
    this.pos = i;
    this.tok = null;
    if (buf || parts.length === 0) parts.push(buf);
    if (parts.length === 1 && typeof parts[0] === 'string' && format === null) {
      return { type: 'Literal', pos: q.s, value: parts[0] };
    }
    return { type: 'Str', pos: q.s, parts, format };
  }

  private parsePrimary(): Node {
    const t = this.peek();
    switch (t.k) {
      case 'num':
        this.next();
        return { type: 'Literal', pos: t.s, value: t.v };
      case 'str':
        return this.parseString(null);
      case 'format': {
        this.next();
        if (this.peek().k === 'str') return this.parseString('@' + t.v);
        return { type: 'Format', pos: t.s, name: '@' + t.v };
      }
      case 'field':
        this.next();
        return { type: 'Index', pos: t.s, target: { type: 'Identity', pos: t.s }, index: { type: 'Literal', pos: t.s, value: t.v } };
      case 'var':
        this.next();
        if (t.v === '__loc__') return { type: 'Loc', pos: t.s, line: this.lineOf(t.s) };
        return { type: 'Var', pos: t.s, name: t.v };
      case 'op':
        switch (t.v) {
          case '.': {
            this.next();
            const n = this.peek();
            if (n.k === 'str') {
              const key = this.parseString(null);
              return { type: 'Index', pos: t.s, target: { type: 'Identity', pos: t.s }, index: key };
            }
            if (n.k === 'op' && n.v === '[') return this.parseBracketSuffix({ type: 'Identity', pos: t.s });
            return { type: 'Identity', pos: t.s };
          }
          case '..':
            this.next();
            return { type: 'RecurseAll', pos: t.s };
          case '(': {
            this.next();
            const e = this.parsePipe();
            this.expectOp(')');
            return e;
          }
          case '[': {
            this.next();
            if (this.isOp(']')) { this.next(); return { type: 'Array', pos: t.s, body: null }; }
            const body = this.parsePipe();
            this.expectOp(']');
            return { type: 'Array', pos: t.s, body };
          }
          case '{':
            return this.parseObject();
          case '-': {
            this.next();
            return { type: 'Neg', pos: t.s, body: this.parsePostfix() };
          }
        }
        return this.fail(`syntax error, unexpected ${this.describe(t)}`, t.s);
      case 'ident':
        return this.parseKeywordOrCall();
      case 'eof':
        return this.fail('syntax error, unexpected end of file', t.s);
    }
  }

  private parseKeywordOrCall(): Node {
    const t = this.peek() as Tok & { k: 'ident' };
    switch (t.v) {
      case 'def': {
        const def = this.parseFuncDefHead();
        const rest = this.parsePipe();
        return { ...def, rest };
      }
      case 'if': {
        this.next();
        const cond = this.parsePipe();
        this.expectKw('then');
        const then = this.parsePipe();
        return { type: 'If', pos: t.s, cond, then, else: this.parseElse() };
      }
      case 'try': {
        this.next();
        const body = this.parsePostTry();
        let c: Node | null = null;
        if (this.isKw('catch')) {
          this.next();
          c = this.parsePostTry();
        }
        return { type: 'Try', pos: t.s, body, catch: c };
      }
      case 'reduce': {
        this.next();
        const source = this.parsePostfixNoBind();
        this.expectKw('as');
        const patterns = this.parsePatterns();
        this.expectOp('(');
        const init = this.parsePipe();
        this.expectOp(';');
        const update = this.parsePipe();
        this.expectOp(')');
        return { type: 'Reduce', pos: t.s, source, patterns, init, update };
      }
      case 'foreach': {
        this.next();
        const source = this.parsePostfixNoBind();
        this.expectKw('as');
        const patterns = this.parsePatterns();
        this.expectOp('(');
        const init = this.parsePipe();
        this.expectOp(';');
        const update = this.parsePipe();
        let extract: Node | null = null;
        if (this.isOp(';')) { this.next(); extract = this.parsePipe(); }
        this.expectOp(')');
        return { type: 'Foreach', pos: t.s, source, patterns, init, update, extract };
      }
      case 'label': {
        this.next();
        const v = this.next();
        if (v.k !== 'var') this.fail(`syntax error, unexpected ${this.describe(v)}, expecting '$'`, v.s);
        this.expectOp('|');
        const body = this.parsePipe();
        return { type: 'Label', pos: t.s, name: v.v as string, body };
      }
      case 'import': case 'include':
        return this.fail(`${t.v} is not supported (jq modules are not available in filters)`, t.s);
    }
    if (t.v === 'break') {
      this.next();
      const v = this.next();
      if (v.k !== 'var') this.fail(`syntax error, unexpected ${this.describe(v)}, expecting '$'`, v.s);
      return { type: 'Break', pos: t.s, name: v.v as string };
    }
    if (KEYWORDS.has(t.v)) this.fail(`syntax error, unexpected ${this.describe(t)}`, t.s);
    this.next();
    const args: Node[] = [];
    if (this.isOp('(')) {
      this.next();
      for (;;) {
        args.push(this.parsePipe());
        if (this.isOp(';')) { this.next(); continue; }
        this.expectOp(')');
        break;
      }
    }
    return { type: 'Call', pos: t.s, name: t.v, args };
  }

  // try bodies bind tighter than any binary operator (jq's %precedence "try")
  private parsePostTry(): Node {
    if (this.isOp('-')) {
      const t = this.next();
      return { type: 'Neg', pos: t.s, body: this.parsePostTry() };
    }
    return this.parsePostfixNoBind();
  }

  private parsePostfixNoBind(): Node {
    // Like parsePostfix but stops before `as` (reduce/foreach sources, try bodies).
    let t = this.parsePrimary();
    for (;;) {
      const n = this.peek();
      if (n.k === 'field') {
        this.next();
        t = { type: 'Index', pos: n.s, target: t, index: { type: 'Literal', pos: n.s, value: n.v } };
      } else if (n.k === 'op' && n.v === '.') {
        this.next();
        const m = this.peek();
        if (m.k === 'str') t = { type: 'Index', pos: n.s, target: t, index: this.parseString(null) };
        else if (m.k === 'op' && m.v === '[') t = this.parseBracketSuffix(t);
        else this.fail(`syntax error, unexpected ${this.describe(m)}`, m.s);
      } else if (n.k === 'op' && n.v === '[') {
        t = this.parseBracketSuffix(t);
      } else if (n.k === 'op' && n.v === '?') {
        this.next();
        t = { type: 'Try', pos: n.s, body: t, catch: null };
      } else return t;
    }
  }

  private parseElse(): Node | null {
    const t = this.next();
    if (t.k === 'ident' && t.v === 'end') return null;
    if (t.k === 'ident' && t.v === 'else') {
      const e = this.parsePipe();
      this.expectKw('end');
      return e;
    }
    if (t.k === 'ident' && t.v === 'elif') {
      const cond = this.parsePipe();
      this.expectKw('then');
      const then = this.parsePipe();
      return { type: 'If', pos: t.s, cond, then, else: this.parseElse() };
    }
    return this.fail(`syntax error, unexpected ${this.describe(t)}, expecting "end" or "else" or "elif"`, t.s);
  }

  private parseObject(): Node {
    const open = this.expectOp('{');
    const entries: { key: Node; value: Node }[] = [];
    if (this.isOp('}')) { this.next(); return { type: 'Object', pos: open.s, entries }; }
    for (;;) {
      const t = this.peek();
      let key: Node;
      let value: Node | null = null;
      if (t.k === 'var') {
        this.next();
        if (t.v === '__loc__') {
          key = { type: 'Literal', pos: t.s, value: '__loc__' };
          value = { type: 'Loc', pos: t.s, line: this.lineOf(t.s) };
        } else if (this.isOp(':')) {
          key = { type: 'Var', pos: t.s, name: t.v };
        } else {
          key = { type: 'Literal', pos: t.s, value: t.v };
          value = { type: 'Var', pos: t.s, name: t.v };
        }
      } else if (t.k === 'ident') {
        this.next();
        key = { type: 'Literal', pos: t.s, value: t.v };
      } else if (t.k === 'num') {
        this.next();
        if (this.isOp(':')) this.fail(`Cannot use number (${t.v}) as object key`, t.s);
        this.fail(`syntax error, unexpected LITERAL`, t.s);
      } else if (t.k === 'str') {
        key = this.parseString(null);
      } else if (t.k === 'format') {
        this.next();
        key = this.peek().k === 'str' ? this.parseString('@' + t.v) : { type: 'Format', pos: t.s, name: '@' + t.v };
      } else if (t.k === 'op' && t.v === '(') {
        this.next();
        key = this.parsePipe();
        this.expectOp(')');
        if (key.type === 'Literal' && typeof key.value !== 'string') {
          this.fail(`Cannot use ${key.value === null ? 'null' : typeof key.value} (${JSON.stringify(key.value)}) as object key`, t.s);
        }
        if (!this.isOp(':')) this.fail(`syntax error, unexpected ${this.describe(this.peek())}, expecting ':'`);
      } else {
        return this.fail(`syntax error, unexpected ${this.describe(t)}`, t.s);
      }
      if (value === null) {
        if (this.isOp(':')) {
          this.next();
          value = this.parseObjectValue();
        } else {
          value = { type: 'Index', pos: t.s, target: { type: 'Identity', pos: t.s }, index: key };
        }
      }
      entries.push({ key, value });
      if (this.isOp(',')) { this.next(); continue; }
      this.expectOp('}');
      return { type: 'Object', pos: open.s, entries };
    }
  }

  // jq's ObjVal: terms joined by '|' (no ',' — it separates entries)
  private parseObjectValue(): Node {
    const left = this.parseAlt();
    if (this.isOp('|')) {
      const t = this.next();
      return { type: 'Pipe', pos: t.s, left, right: this.parseObjectValue() };
    }
    return left;
  }
}

export function parseJq(source: string): Node {
  return Parser.parse(source);
}
