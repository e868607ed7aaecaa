// Hardened, dependency-free XML parser shared by the document converters (C-CDA, NCPDP SCRIPT).
//
// Why our own: documents come from outside, so the parser must refuse DTDs (entity bombs, external
// entities / XXE) and bound size and depth, and it sits on the hot path of C-CDA conversion
// (target ≥ 30 MB/s per core). A single pass over the string with indexOf/charCodeAt does both.
//
// What it accepts: well-formed XML 1.0 without a DOCTYPE. Predefined entities (&lt; &gt; &amp;
// &quot; &apos;) and numeric character references are decoded; nothing else is ever expanded
// (an unknown `&name;` stays literal text, a stray `&` stays `&`). Comments and processing
// instructions are skipped, CDATA becomes text. It never throws: every problem is an error value.

export interface XmlElement {
  type: 'element';
  /** Qualified name as written, e.g. `sdtc:raceCode`. */
  name: string;
  /** Name without its prefix, e.g. `raceCode`. */
  local: string;
  /** Namespace URI resolved from the xmlns declarations in scope ('' when none). */
  ns: string;
  /** Attributes by qualified name as written (`xsi:type`, `value`), values decoded. */
  attrs: Record<string, string>;
  children: XmlNode[];
}

export interface XmlText {
  type: 'text';
  text: string;
}

export type XmlNode = XmlElement | XmlText;

export type XmlErrorCode =
  | 'empty'
  | 'too-large'
  | 'too-deep'
  | 'doctype'
  | 'malformed';

export interface XmlParseError {
  code: XmlErrorCode;
  message: string;
  /** Character offset, 1-based line and column of the problem. */
  offset: number;
  line: number;
  column: number;
}

export type XmlParseResult =
  /** `warnings` lists what was tolerated (junk around the root element, an unescaped `<` in text). */
  | { ok: true; root: XmlElement; warnings?: string[] }
  | { ok: false; error: XmlParseError };

export interface XmlParseOptions {
  /** Maximum input size in UTF-8 bytes (default 20 MB). */
  maxBytes?: number;
  /** Maximum element nesting depth (default 200). */
  maxDepth?: number;
  /** Keep text nodes made only of whitespace (default false: they are dropped). */
  keepWhitespace?: boolean;
}

export const DEFAULT_MAX_BYTES = 20 * 1024 * 1024;
export const DEFAULT_MAX_DEPTH = 200;

const XML_NS = 'http://www.w3.org/XML/1998/namespace';

class ParseFailure {
  constructor(readonly code: XmlErrorCode, readonly message: string, readonly offset: number) {}
}

function isWs(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

/** True for characters that end a tag or attribute name. */
function endsName(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9 || c === 62 /* > */ || c === 47 /* / */ || c === 61 /* = */ || c !== c;
}

function isAllWhitespace(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (!isWs(s.charCodeAt(i))) return false;
  return true;
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Decodes predefined entities and numeric character references; anything else is left as written. */
export function decodeEntities(raw: string): string {
  let amp = raw.indexOf('&');
  if (amp === -1) return raw;
  let out = '';
  let last = 0;
  while (amp !== -1) {
    const semi = raw.indexOf(';', amp + 1);
    // Entity names are short; a far-away ';' means this '&' is a stray literal.
    if (semi === -1 || semi - amp > 12) {
      amp = raw.indexOf('&', amp + 1);
      continue;
    }
    const body = raw.slice(amp + 1, semi);
    let rep: string | undefined;
    if (body.charCodeAt(0) === 35 /* # */) {
      const hex = body.charCodeAt(1) === 120 || body.charCodeAt(1) === 88;
      const digits = hex ? body.slice(2) : body.slice(1);
      if (digits.length > 0 && (hex ? /^[0-9a-fA-F]+$/ : /^[0-9]+$/).test(digits)) {
        const cp = parseInt(digits, hex ? 16 : 10);
        const valid = cp > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
        rep = valid ? String.fromCodePoint(cp) : '\uFFFD';
      }
    } else {
      rep = PREDEFINED[body];
    }
    if (rep !== undefined) {
      out += raw.slice(last, amp) + rep;
      last = semi + 1;
      amp = raw.indexOf('&', last);
    } else {
      amp = raw.indexOf('&', amp + 1);
    }
  }
  return out + raw.slice(last);
}

function lineCol(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}

function failure(text: string, f: ParseFailure): XmlParseResult {
  const { line, column } = lineCol(text, f.offset);
  return { ok: false, error: { code: f.code, message: `${f.message} (line ${line}, column ${column})`, offset: f.offset, line, column } };
}

type NsScope = Record<string, string>;
const ROOT_SCOPE: NsScope = { xml: XML_NS };

function utf8Length(text: string, stopAt: number): number {
  // Cheap upper-bound test first: a UTF-8 byte count is at most 3× the UTF-16 length.
  if (text.length * 3 <= stopAt) return text.length;
  return Buffer.byteLength(text, 'utf8');
}

/** Parses an XML document into a tree. Never throws; problems come back as `{ ok: false, error }`. */
export function parseXml(text: string, opts: XmlParseOptions = {}): XmlParseResult {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
  const keepWs = opts.keepWhitespace ?? false;
  if (typeof text !== 'string') return failure('', new ParseFailure('malformed', 'Input is not text', 0));
  if (text.length > maxBytes || utf8Length(text, maxBytes) > maxBytes) {
    return failure('', new ParseFailure('too-large', `Document exceeds the ${maxBytes}-byte limit`, 0));
  }
  try {
    const warnings: string[] = [];
    const root = parseInto(text, maxDepth, keepWs, warnings);
    return warnings.length > 0 ? { ok: true, root, warnings } : { ok: true, root };
  } catch (e) {
    if (e instanceof ParseFailure) return failure(text, e);
    // Defensive: a bug here must still not escape as an exception (e.g. RangeError on huge input).
    return failure('', new ParseFailure('malformed', `Unparseable XML: ${(e as Error)?.message ?? String(e)}`, 0));
  }
}

/** After the root element: the document is complete; trailing junk (NULs, a second copy …) is ignored, and said so. */
function trailing(s: string, from: number, warnings: string[]): void {
  const rest = s.slice(from).replace(/<!--[\s\S]*?-->|<\?[\s\S]*?\?>/g, '');
  if (!isAllWhitespace(rest)) warnings.push(`Ignored ${rest.length} characters after the root element`);
}

function isNameStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 /* _ */ || c === 58 /* : */ || c >= 0xc0;
}

function parseInto(s: string, maxDepth: number, keepWs: boolean, warnings: string[]): XmlElement {
  const n = s.length;
  let i = s.charCodeAt(0) === 0xfeff ? 1 : 0;
  if (isAllWhitespace(s.slice(i, Math.min(n, i + 1024))) && isAllWhitespace(s)) {
    throw new ParseFailure('empty', 'Document is empty', 0);
  }
  const stack: XmlElement[] = [];
  const scopes: NsScope[] = [];
  let root: XmlElement | undefined;
  let top: XmlElement | undefined;

  const addText = (raw: string, at: number): void => {
    if (top === undefined) {
      if (root !== undefined) throw new ParseFailure('malformed', 'Text outside the root element', at);
      // Junk before the root element (a mis-decoded BOM, a stray line) is skipped, and said so.
      if (!isAllWhitespace(raw)) warnings.push(`Ignored ${raw.length} characters before the root element`);
      return;
    }
    if (!keepWs && isAllWhitespace(raw)) return;
    top.children.push({ type: 'text', text: decodeEntities(raw) });
  };

  while (i < n) {
    const lt = s.indexOf('<', i);
    if (lt === -1) {
      addText(s.slice(i), i);
      break;
    }
    if (lt > i) addText(s.slice(i, lt), i);
    const c = s.charCodeAt(lt + 1);
    if (c === 47 /* / */) {
      const gt = s.indexOf('>', lt + 2);
      if (gt === -1) throw new ParseFailure('malformed', 'Unterminated end tag', lt);
      const name = s.slice(lt + 2, gt).trimEnd();
      if (top === undefined) throw new ParseFailure('malformed', `End tag </${name}> without a start tag`, lt);
      if (name !== top.name) throw new ParseFailure('malformed', `End tag </${name}> does not match <${top.name}>`, lt);
      stack.pop();
      scopes.pop();
      top = stack.length > 0 ? stack[stack.length - 1] : undefined;
      i = gt + 1;
      if (top === undefined) {
        trailing(s, i, warnings);
        break;
      }
      continue;
    }
    if (c === 33 /* ! */) {
      if (s.startsWith('<!--', lt)) {
        const end = s.indexOf('-->', lt + 4);
        if (end === -1) throw new ParseFailure('malformed', 'Unterminated comment', lt);
        i = end + 3;
        continue;
      }
      if (s.startsWith('<![CDATA[', lt)) {
        const end = s.indexOf(']]>', lt + 9);
        if (end === -1) throw new ParseFailure('malformed', 'Unterminated CDATA section', lt);
        if (top === undefined) throw new ParseFailure('malformed', 'CDATA outside the root element', lt);
        const data = s.slice(lt + 9, end);
        if (keepWs || !isAllWhitespace(data)) top.children.push({ type: 'text', text: data });
        i = end + 3;
        continue;
      }
      if (s.slice(lt + 2, lt + 9).toUpperCase() === 'DOCTYPE') {
        throw new ParseFailure('doctype', 'DOCTYPE declarations are not allowed (no DTDs, no entity definitions)', lt);
      }
      throw new ParseFailure('malformed', 'Markup declarations (<!…>) are not allowed', lt);
    }
    if (c === 63 /* ? */) {
      const end = s.indexOf('?>', lt + 2);
      if (end === -1) throw new ParseFailure('malformed', 'Unterminated processing instruction', lt);
      i = end + 2;
      continue;
    }
    if (!isNameStart(c)) {
      // "<" that cannot start a tag ("< 5 mg", "<=") inside text: keep it as text rather than fail.
      if (top === undefined || lt + 1 >= n) throw new ParseFailure('malformed', lt + 1 >= n ? 'Unterminated start tag' : 'Invalid "<"', lt);
      top.children.push({ type: 'text', text: '<' });
      if (!warnings.includes('Unescaped "<" in text kept as text')) warnings.push('Unescaped "<" in text kept as text');
      i = lt + 1;
      continue;
    }
    // Start tag.
    let j = lt + 1;
    while (j < n && !endsName(s.charCodeAt(j))) j++;
    if (j === lt + 1 || j >= n) throw new ParseFailure('malformed', j >= n ? 'Unterminated start tag' : 'Invalid "<"', lt);
    const name = s.slice(lt + 1, j);
    if (root !== undefined && top === undefined) throw new ParseFailure('malformed', 'More than one root element', lt);
    const attrs: Record<string, string> = {};
    let nsDecl: NsScope | undefined;
    let selfClosing = false;
    for (;;) {
      while (j < n && isWs(s.charCodeAt(j))) j++;
      if (j >= n) throw new ParseFailure('malformed', `Unterminated start tag <${name}>`, lt);
      const ch = s.charCodeAt(j);
      if (ch === 62 /* > */) {
        j++;
        break;
      }
      if (ch === 47 /* / */) {
        if (s.charCodeAt(j + 1) !== 62) throw new ParseFailure('malformed', `Expected "/>" in <${name}>`, j);
        selfClosing = true;
        j += 2;
        break;
      }
      const an = j;
      while (j < n && !endsName(s.charCodeAt(j))) j++;
      if (j === an) throw new ParseFailure('malformed', `Invalid attribute in <${name}>`, j);
      const attrName = s.slice(an, j);
      while (j < n && isWs(s.charCodeAt(j))) j++;
      if (s.charCodeAt(j) !== 61 /* = */) throw new ParseFailure('malformed', `Attribute ${attrName} in <${name}> has no value`, j);
      j++;
      while (j < n && isWs(s.charCodeAt(j))) j++;
      const q = s.charCodeAt(j);
      if (q !== 34 && q !== 39) throw new ParseFailure('malformed', `Attribute ${attrName} in <${name}> is not quoted`, j);
      const close = s.indexOf(q === 34 ? '"' : "'", j + 1);
      if (close === -1) throw new ParseFailure('malformed', `Unterminated value of attribute ${attrName}`, j);
      const value = decodeEntities(s.slice(j + 1, close));
      attrs[attrName] = value;
      if (attrName.charCodeAt(0) === 120 /* x */ && attrName.startsWith('xmlns')) {
        if (nsDecl === undefined) nsDecl = {};
        if (attrName.length === 5) nsDecl[''] = value;
        else if (attrName.charCodeAt(5) === 58 /* : */) nsDecl[attrName.slice(6)] = value;
      }
      j = close + 1;
    }
    const parentScope = scopes.length > 0 ? scopes[scopes.length - 1] : ROOT_SCOPE;
    const scope = nsDecl === undefined ? parentScope : Object.assign(Object.create(parentScope) as NsScope, nsDecl);
    const colon = name.indexOf(':');
    const local = colon === -1 ? name : name.slice(colon + 1);
    const ns = scope[colon === -1 ? '' : name.slice(0, colon)] ?? '';
    const el: XmlElement = { type: 'element', name, local, ns, attrs, children: [] };
    if (top === undefined) root = el;
    else top.children.push(el);
    i = j;
    if (!selfClosing) {
      if (stack.length >= maxDepth) throw new ParseFailure('too-deep', `Elements nest deeper than the ${maxDepth}-level limit`, lt);
      stack.push(el);
      scopes.push(scope);
      top = el;
    } else if (top === undefined) {
      trailing(s, i, warnings);
      break;
    }
  }
  if (top !== undefined) throw new ParseFailure('malformed', `Document ends before </${top.name}> (truncated?)`, n);
  if (root === undefined) throw new ParseFailure('empty', 'Document has no root element', 0);
  return root;
}

// ---- Small navigation helpers over the tree (by local name, so any namespace prefix works). ----

/** First child element with this local name. */
export function child(el: XmlElement | undefined, local: string): XmlElement | undefined {
  if (el === undefined) return undefined;
  for (const c of el.children) if (c.type === 'element' && c.local === local) return c;
  return undefined;
}

/** All child elements with this local name (all child elements when no name is given). */
export function children(el: XmlElement | undefined, local?: string): XmlElement[] {
  const out: XmlElement[] = [];
  if (el === undefined) return out;
  for (const c of el.children) if (c.type === 'element' && (local === undefined || c.local === local)) out.push(c);
  return out;
}

/** Follows a path of local names through first matches: `path(doc, 'recordTarget', 'patientRole')`. */
export function path(el: XmlElement | undefined, ...locals: string[]): XmlElement | undefined {
  let cur = el;
  for (const l of locals) {
    cur = child(cur, l);
    if (cur === undefined) return undefined;
  }
  return cur;
}

/** Concatenated text of the element and its descendants. */
export function textContent(el: XmlElement | undefined): string {
  if (el === undefined) return '';
  if (el.children.length === 1 && el.children[0].type === 'text') return el.children[0].text;
  let out = '';
  const walk = (e: XmlElement): void => {
    for (const c of e.children) {
      if (c.type === 'text') out += c.text;
      else walk(c);
    }
  };
  walk(el);
  return out;
}

/** Attribute by local name, whatever its prefix (`type` finds `xsi:type`). */
export function attrLocal(el: XmlElement | undefined, local: string): string | undefined {
  if (el === undefined) return undefined;
  const direct = el.attrs[local];
  if (direct !== undefined) return direct;
  for (const k in el.attrs) {
    const colon = k.indexOf(':');
    if (colon !== -1 && k.slice(colon + 1) === local && !k.startsWith('xmlns')) return el.attrs[k];
  }
  return undefined;
}
