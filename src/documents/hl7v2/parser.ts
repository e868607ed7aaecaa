// HL7 v2.x message parser (2.1–2.8 wire format; ER7 "pipe and hat").
//
// Hand-written single pass: segments are cut with indexOf over CR/LF, fields with String.split on the
// (message-declared) field separator when a segment is first read, components and subcomponents on demand. No regular expression
// touches the input, so run time is linear in its size whatever it contains. Any encoding characters
// declared in MSH-1/MSH-2 are honoured. Values are unescaped (\F\ \S\ \T\ \R\ \E\ \Xhh..\, \.br\ → line
// break, \H\ \N\ and character-set switches dropped) only when read through the accessors.

export const DEFAULT_MAX_HL7_BYTES = 5 * 1024 * 1024;
export const MAX_SEGMENTS = 50_000;

export interface Hl7Encoding {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
}

export type Hl7ErrorCode = 'empty' | 'too-large' | 'no-msh' | 'bad-encoding' | 'bad-segment' | 'too-many-segments';

/** The error value returned instead of a message; never thrown. */
export interface Hl7ParseError {
  kind: 'error';
  code: Hl7ErrorCode;
  message: string;
  /** 1-based segment (line) number where the problem was found, when there is one. */
  segment?: number;
}

export interface Hl7ParseOptions {
  /** Maximum input size in UTF-16 code units ≈ bytes for ASCII (default 5 MB). */
  maxBytes?: number;
  /**
   * What to do with a line that is not a segment (no 3-character id followed by the field separator):
   * 'skip' (default) keeps parsing and records a warning, 'error' rejects the message.
   */
  badSegments?: 'skip' | 'error';
}

/** One repetition of a field: components and subcomponents, unescaped on read. */
export class Hl7Field {
  private comps: string[] | undefined;
  constructor(readonly raw: string, private readonly enc: Hl7Encoding) {}

  /** Raw components (escaped), split once. */
  components(): string[] {
    if (this.comps === undefined) this.comps = this.raw.split(this.enc.component);
    return this.comps;
  }

  /**
   * Raw component k (1-based) as `components()[k - 1]` would give it, found by scanning (no array):
   * most fields are read for a few components once.
   */
  private component(k: number): string | undefined {
    if (this.comps !== undefined) return this.comps[k - 1];
    if (k < 1) return componentAt(this.raw, this.enc.component, k);
    // Data-type mappings read components mostly in increasing order: the scan resumes where the last one
    // found its component (no array of every component, no rescan from the start).
    const raw = this.raw;
    const sep = this.enc.component;
    let i = 1;
    let start = 0;
    if (k >= this.atK) {
      if (this.atStart === -1) return undefined;
      i = this.atK;
      start = this.atStart;
    }
    for (; i < k; i++) {
      const j = raw.indexOf(sep, start);
      if (j === -1) {
        this.atK = i + 1;
        this.atStart = -1;
        return undefined;
      }
      start = j + 1;
    }
    this.atK = k;
    this.atStart = start;
    const end = raw.indexOf(sep, start);
    return end === -1 ? (start === 0 ? raw : raw.slice(start)) : raw.slice(start, end);
  }

  /** Scan cursor of component(): component `atK` starts at `atStart` (-1: there is no component atK). */
  private atK = 1;
  private atStart = 0;

  /**
   * 1: the raw repetition holds no subcomponent separator and no escape character, so a component is its own
   * value; 0: it holds one of them; -1: not looked at yet. Looked for once per repetition, not once per read.
   */
  private plain = -1;

  /** Unescaped component (1-based) or subcomponent (1-based); undefined when empty or `""` (HL7 null). */
  get(component = 1, subcomponent?: number): string | undefined {
    const c = this.component(component);
    if (c === undefined || c === '') return undefined;
    let plain = this.plain;
    if (plain === -1) {
      const raw = this.raw;
      plain = this.plain = raw.indexOf(this.enc.subcomponent) === -1 && raw.indexOf(this.enc.escape) === -1 ? 1 : 0;
    }
    if (plain === 1) return (subcomponent === undefined || subcomponent === 1) && c !== '""' ? c : undefined;
    return valueOf(c, this.enc, subcomponent);
  }

  /** Subcomponents of a component, unescaped (empty strings kept so positions hold). */
  subcomponents(component: number): string[] {
    const c = this.component(component);
    if (c === undefined || c === '') return [];
    const enc = this.enc;
    if (c.indexOf(enc.subcomponent) === -1) return [unescapeHl7(c, enc)];
    const parts = c.split(enc.subcomponent);
    for (let i = 0; i < parts.length; i++) parts[i] = unescapeHl7(parts[i]!, enc);
    return parts;
  }

  /** The whole repetition unescaped as text (components joined with the component separator). */
  text(): string | undefined {
    if (this.raw === '' || this.raw === '""') return undefined;
    return unescapeHl7(this.raw, this.enc);
  }

  isEmpty(): boolean {
    for (let i = 0; i < this.raw.length; i++) {
      const ch = this.raw[i];
      if (ch !== this.enc.component && ch !== this.enc.subcomponent && ch !== ' ') return false;
    }
    return true;
  }
}

// The empty reps() answer, with the elements kind of the non-empty ones (PACKED_ELEMENTS, where `[]` would be
// PACKED_SMI_ELEMENTS): callers map over both, and two array maps at one site deoptimize the optimized caller.
const NO_FIELDS: Hl7Field[] = [undefined as unknown as Hl7Field].slice(0, 0);

/** Component k (1-based) of a raw repetition, as `raw.split(component)[k - 1]`, by scanning. */
function componentAt(raw: string, sep: string, k: number): string | undefined {
  let start = 0;
  for (let i = 1; i < k; i++) {
    const j = raw.indexOf(sep, start);
    if (j === -1) return undefined;
    start = j + 1;
  }
  const end = raw.indexOf(sep, start);
  return end === -1 ? (start === 0 ? raw : raw.slice(start)) : raw.slice(start, end);
}

/** The unescaped value of a raw component (or of one of its subcomponents); undefined when empty or `""`. */
function valueOf(c: string | undefined, enc: Hl7Encoding, subcomponent: number | undefined): string | undefined {
  if (c === undefined || c === '') return undefined;
  let v = c;
  if (subcomponent !== undefined) {
    v = c.indexOf(enc.subcomponent) === -1 ? (subcomponent === 1 ? c : '') : (c.split(enc.subcomponent)[subcomponent - 1] ?? '');
  } else if (c.indexOf(enc.subcomponent) !== -1) {
    // Reading a whole component that has subcomponents: its first subcomponent is the value.
    v = c.split(enc.subcomponent)[0] ?? '';
  }
  if (v === '' || v === '""') return undefined;
  return unescapeHl7(v, enc);
}

function readComponent(raw: string, enc: Hl7Encoding, component: number, subcomponent: number | undefined): string | undefined {
  return valueOf(componentAt(raw, enc.component, component), enc, subcomponent);
}

export class Hl7Segment {
  private split: string[] | undefined;
  private readonly text: string;
  /** `fields`: the split fields, or the segment's line, split on first use (EVN, SFT, CON … are mostly never read). */
  constructor(readonly name: string, fields: string[] | string, private readonly enc: Hl7Encoding, readonly line: number) {
    if (typeof fields === 'string') {
      this.text = fields;
    } else {
      this.text = '';
      this.split = fields;
    }
  }

  /** fields[0] is the segment id; fields[n] is field n (for MSH, fields[1] is the field separator). */
  get fields(): string[] {
    let f = this.split;
    if (f === undefined) {
      f = this.text.split(this.enc.field);
      // MSH-1 is the field separator itself, so MSH field numbers are shifted by one.
      if (this.name === 'MSH') f.splice(1, 0, this.enc.field);
      this.split = f;
    }
    return f;
  }

  /** Raw (escaped) field n, '' when absent. */
  raw(n: number): string {
    return this.fields[n] ?? '';
  }

  private repCache: (Hl7Field[] | undefined)[] | undefined;

  /** All repetitions of field n (empty array when the field is empty). MSH-2 is never split. */
  reps(n: number): Hl7Field[] {
    const cached = this.repCache?.[n];
    if (cached !== undefined) return cached;
    const r = this.fields[n];
    let out: Hl7Field[];
    if (r === undefined || r === '') out = NO_FIELDS;
    else if (this.name === 'MSH' && n <= 2) out = [new Hl7Field(r, { ...this.enc, component: '\u0000', subcomponent: '\u0000', escape: '\u0000' })];
    else if (r.indexOf(this.enc.repetition) === -1) out = [new Hl7Field(r, this.enc)];
    else out = r.split(this.enc.repetition).map((x) => new Hl7Field(x, this.enc));
    (this.repCache ??= [])[n] = out;
    return out;
  }

  /** First repetition of field n, or undefined when empty. */
  field(n: number): Hl7Field | undefined {
    return this.reps(n)[0];
  }

  /** Unescaped value at field n, component c, subcomponent s of repetition rep (all 1-based except rep). */
  get(n: number, component = 1, subcomponent?: number, rep = 0): string | undefined {
    const cached = this.repCache?.[n];
    if (cached === undefined && rep === 0 && (n > 2 || this.name !== 'MSH')) {
      // Fast path (most reads): the first repetition read straight from the raw field, no Hl7Field made.
      const r = this.fields[n];
      if (r === undefined || r === '') return undefined;
      const enc = this.enc;
      const stop = r.indexOf(enc.repetition);
      return readComponent(stop === -1 ? r : r.slice(0, stop), enc, component, subcomponent);
    }
    const f = (cached ?? this.reps(n))[rep];
    return f === undefined ? undefined : f.get(component, subcomponent);
  }
}

export class Hl7Message {
  readonly kind = 'message';
  constructor(
    readonly segments: Hl7Segment[],
    readonly encoding: Hl7Encoding,
    /** Lines that were skipped as not being segments (with 'skip' mode). */
    readonly warnings: string[],
    /** Characters of the message's lines (an upper bound on what any value read from it can hold). */
    readonly textLength = Infinity,
  ) {}

  get msh(): Hl7Segment {
    return this.segments[0]!;
  }
  segment(name: string): Hl7Segment | undefined {
    for (const s of this.segments) if (s.name === name) return s;
    return undefined;
  }
  segmentsNamed(name: string): Hl7Segment[] {
    return this.segments.filter((s) => s.name === name);
  }
  /** MSH-9.1 (e.g. ADT). */
  get messageCode(): string | undefined {
    return this.msh.get(9, 1);
  }
  /** MSH-9.2, falling back to EVN-1 (older senders leave the trigger out of MSH-9). */
  get triggerEvent(): string | undefined {
    return this.msh.get(9, 2) ?? this.segment('EVN')?.get(1);
  }
  get controlId(): string | undefined {
    return this.msh.get(10);
  }
  get version(): string | undefined {
    return this.msh.get(12);
  }
}

export function isHl7Error(x: Hl7Message | Hl7ParseError): x is Hl7ParseError {
  return x.kind === 'error';
}

function fail(code: Hl7ErrorCode, message: string, segment?: number): Hl7ParseError {
  return segment === undefined ? { kind: 'error', code, message } : { kind: 'error', code, message, segment };
}

/** Strips MLLP framing (VT … FS CR) and a UTF-8 byte-order mark when present. */
export function stripFraming(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end) {
    const c = text.charCodeAt(start);
    if (c === 0x0b || c === 0xfeff || c === 0x20 || c === 0x0d || c === 0x0a || c === 0x09) start++;
    else break;
  }
  while (end > start) {
    const c = text.charCodeAt(end - 1);
    if (c === 0x1c || c === 0x0d || c === 0x0a || c === 0x20 || c === 0x09 || c === 0x00) end--;
    else break;
  }
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

/** Splits text into non-empty lines on CR, LF or CRLF. */
export function splitLines(text: string): string[] {
  const out: string[] = [];
  const n = text.length;
  // The next CR and the next LF, each found with indexOf (a native scan) and looked for again only once passed.
  let cr = text.indexOf('\r');
  let lf = text.indexOf('\n');
  let i = 0;
  while (i < n) {
    if (cr !== -1 && cr < i) cr = text.indexOf('\r', i);
    if (lf !== -1 && lf < i) lf = text.indexOf('\n', i);
    const j = cr === -1 ? (lf === -1 ? n : lf) : lf === -1 || cr < lf ? cr : lf;
    if (j > i) out.push(text.slice(i, j));
    i = j + 1;
  }
  return out;
}

/** Reads the encoding characters from a header segment line (MSH, FHS or BHS). */
export function readEncoding(line: string): Hl7Encoding | Hl7ParseError {
  if (line.length < 8) return fail('bad-encoding', `${line.slice(0, 3)} segment too short to declare encoding characters`);
  const field = line[3]!;
  // Usual header (exactly four encoding characters, all valid): checked by character, no Sets or arrays;
  // anything else takes the general path below, which also words the errors.
  if (line.indexOf(field, 4) === 8) {
    const f = line.charCodeAt(3), a = line.charCodeAt(4), b = line.charCodeAt(5), c = line.charCodeAt(6), d = line.charCodeAt(7);
    if (isDelimiter(f) && isDelimiter(a) && isDelimiter(b) && isDelimiter(c) && isDelimiter(d)
      && f !== a && f !== b && f !== c && f !== d && a !== b && a !== c && a !== d && b !== c && b !== d && c !== d) {
      return { field, component: line[4]!, repetition: line[5]!, escape: line[6]!, subcomponent: line[7]! };
    }
  }
  const rest = line.slice(4);
  const end = rest.indexOf(field);
  let chars = end === -1 ? rest : rest.slice(0, end);
  // Tolerate a doubled escape character ("^~\\&", a common artefact of senders that escape it twice).
  if (chars.length > 4 && new Set(chars.slice(0, 4)).size < 4) chars = [...new Set(chars)].join('');
  if (chars.length < 4) return fail('bad-encoding', `${line.slice(0, 3)}-2 must declare 4 encoding characters, found "${chars}"`);
  const [component, repetition, escape, subcomponent] = [chars[0]!, chars[1]!, chars[2]!, chars[3]!];
  const all = [field, component, repetition, escape, subcomponent];
  if (new Set(all).size !== 5) return fail('bad-encoding', 'encoding characters must be distinct');
  for (const c of all) {
    if (!isDelimiter(c.charCodeAt(0))) {
      return fail('bad-encoding', `encoding character ${JSON.stringify(c)} is not a printable delimiter`);
    }
  }
  return { field, component, repetition, escape, subcomponent };
}

/** A printable ASCII character other than a letter or digit. */
function isDelimiter(code: number): boolean {
  return !(code < 0x21 || code > 0x7e || (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a));
}

function isSegmentId(line: string, fieldSep: string): boolean {
  if (line.length < 3) return false;
  for (let k = 0; k < 3; k++) {
    const c = line.charCodeAt(k);
    if (!((c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39))) return false;
  }
  return line.length === 3 || line[3] === fieldSep;
}

/** Parses one message (the first MSH and what follows it). Never throws. */
export function parseHl7v2(text: string, options: Hl7ParseOptions = {}): Hl7Message | Hl7ParseError {
  if (typeof text !== 'string') return fail('empty', 'input is not text');
  const max = options.maxBytes ?? DEFAULT_MAX_HL7_BYTES;
  if (text.length > max) return fail('too-large', `message is ${text.length} characters, limit is ${max}`);
  const body = stripFraming(text);
  if (body.length === 0) return fail('empty', 'message is empty');
  const lines = splitLines(body);
  // A batch envelope before the message is skipped; a second message ends this one.
  let first = 0;
  while (first < lines.length && isEnvelope(lines[first]!)) first++;
  let last = first + 1;
  while (last < lines.length && !isEnvelope(lines[last]!) && !lines[last]!.startsWith('MSH')) last++;
  const msg = parseLines(lines, first, options, last);
  if (!isHl7Error(msg) && last < lines.length && lines.slice(last).some((l) => l.startsWith('MSH'))) {
    msg.warnings.push('the text holds more than one message; only the first was read (use the batch functions for all)');
  }
  return msg;
}

function isEnvelope(line: string): boolean {
  // FHS, BHS, BTS, FTS, compared by character (no slice per line).
  if (line.length < 3) return false;
  const a = line.charCodeAt(0), b = line.charCodeAt(1), c = line.charCodeAt(2);
  if (b === 72 /* H */ && c === 83 /* S */) return a === 70 /* F */ || a === 66 /* B */;
  if (b === 84 /* T */ && c === 83 /* S */) return a === 66 || a === 70;
  return false;
}

/** Builds a message from pre-split lines; lines[first] must be the MSH. */
export function parseLines(lines: string[], first: number, options: Hl7ParseOptions = {}, last = lines.length): Hl7Message | Hl7ParseError {
  const head = lines[first];
  if (head === undefined || !head.startsWith('MSH')) return fail('no-msh', 'message must start with an MSH segment', first + 1);
  const enc = readEncoding(head);
  if ('kind' in enc) return enc;
  if (last - first > MAX_SEGMENTS) return fail('too-many-segments', `more than ${MAX_SEGMENTS} segments`);
  const segments: Hl7Segment[] = [];
  const warnings: string[] = [];
  let textLength = 0;
  for (let i = first; i < last; i++) {
    const line = lines[i]!;
    textLength += line.length + 1;
    if (!isSegmentId(line, enc.field)) {
      if (options.badSegments === 'error') return fail('bad-segment', `line ${i + 1} is not a segment: ${JSON.stringify(line.slice(0, 40))}`, i + 1);
      warnings.push(`line ${i + 1} skipped, not a segment: ${JSON.stringify(line.slice(0, 40))}`);
      continue;
    }
    segments.push(new Hl7Segment(line.slice(0, 3), line, enc, i + 1));
  }
  const msg = new Hl7Message(segments, enc, warnings, textLength);
  if (msg.messageCode === undefined) return fail('bad-segment', 'MSH-9 (message type) is empty', first + 1);
  return msg;
}

/**
 * Unescapes an HL7 value. Unknown escape sequences are kept literally; an unterminated escape is
 * kept as text (senders often forget to escape a lone backslash).
 */
export function unescapeHl7(value: string, enc: Hl7Encoding): string {
  const e = enc.escape;
  if (value.indexOf(e) === -1) return value;
  let out = '';
  let pos = 0;
  for (;;) {
    const i = value.indexOf(e, pos);
    if (i === -1) {
      out += value.slice(pos);
      return out;
    }
    out += value.slice(pos, i);
    const close = value.indexOf(e, i + 1);
    if (close === -1) {
      out += value.slice(i);
      return out;
    }
    const rep = decodeEscape(value.slice(i + 1, close), enc);
    if (rep === undefined) {
      // Not an escape sequence: keep the escape character literally and rescan right after it.
      out += e;
      pos = i + 1;
      continue;
    }
    out += rep;
    pos = close + 1;
  }
}

function decodeEscape(seq: string, enc: Hl7Encoding): string | undefined {
  switch (seq) {
    case 'F': return enc.field;
    case 'S': return enc.component;
    case 'T': return enc.subcomponent;
    case 'R': return enc.repetition;
    case 'E': return enc.escape;
    case 'H': case 'N': return ''; // highlighting on/off: presentation only
    case '.br': return '\n';
    case '': return undefined;
  }
  const c0 = seq[0];
  if (c0 === 'X') return decodeHex(seq.slice(1));
  if (c0 === 'C' || c0 === 'M') return /^[0-9A-Fa-f]+$/.test(seq.slice(1)) ? '' : undefined; // character-set switches
  if (c0 === 'Z') return ''; // locally defined escape: meaning unknown, drop
  if (c0 === '.') return seq.startsWith('.sp') ? '\n' : seq === '.in' || seq.startsWith('.ti') || seq.startsWith('.in') || seq === '.fi' || seq === '.nf' || seq === '.ce' || seq.startsWith('.sk') ? '' : undefined;
  return undefined;
}

function decodeHex(hex: string): string | undefined {
  if (hex.length === 0 || hex.length % 2 !== 0 || hex.length > 4096) return undefined;
  const bytes = new Uint8Array(hex.length / 2);
  for (let k = 0; k < bytes.length; k++) {
    const hi = hexVal(hex.charCodeAt(2 * k));
    const lo = hexVal(hex.charCodeAt(2 * k + 1));
    if (hi < 0 || lo < 0) return undefined;
    bytes[k] = hi * 16 + lo;
  }
  // UTF-8 when the bytes are valid UTF-8, otherwise Latin-1 (the common single-byte default).
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    let s = '';
    for (const b of bytes) s += String.fromCharCode(b);
    return s;
  }
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** Escapes text for use inside a field value (used by the ACK builder). */
export function escapeHl7(value: string, enc: Hl7Encoding): string {
  let out = '';
  for (const ch of value) {
    if (ch === enc.escape) out += `${enc.escape}E${enc.escape}`;
    else if (ch === enc.field) out += `${enc.escape}F${enc.escape}`;
    else if (ch === enc.component) out += `${enc.escape}S${enc.escape}`;
    else if (ch === enc.subcomponent) out += `${enc.escape}T${enc.escape}`;
    else if (ch === enc.repetition) out += `${enc.escape}R${enc.escape}`;
    else if (ch === '\r' || ch === '\n') out += `${enc.escape}.br${enc.escape}`;
    else out += ch;
  }
  return out;
}

export interface Hl7Batch {
  /** Each message's text span parsed, or its error. */
  messages: (Hl7Message | Hl7ParseError)[];
  /** Batch-level problems (e.g. count in BTS/FTS does not match). */
  warnings: string[];
}

/**
 * Splits a batch (FHS/BHS … BTS/FTS) or plain concatenation of messages into messages. Each message
 * starts at an MSH line; batch header and trailer segments are consumed here.
 */
export function parseHl7v2Batch(text: string, options: Hl7ParseOptions = {}): Hl7Batch | Hl7ParseError {
  if (typeof text !== 'string') return fail('empty', 'input is not text');
  const max = options.maxBytes ?? DEFAULT_MAX_HL7_BYTES;
  if (text.length > max) return fail('too-large', `input is ${text.length} characters, limit is ${max}`);
  // MLLP may frame each message separately; frame characters become line breaks.
  let body = text;
  if (body.indexOf('\u000b') !== -1 || body.indexOf('\u001c') !== -1) body = body.split('\u000b').join('\n').split('\u001c').join('\n');
  body = stripFraming(body);
  if (body.length === 0) return fail('empty', 'input is empty');
  const lines = splitLines(body);
  const messages: (Hl7Message | Hl7ParseError)[] = [];
  const warnings: string[] = [];
  let start = -1;
  let batchCount: number | undefined;
  for (let i = 0; i <= lines.length; i++) {
    const line = i < lines.length ? lines[i]! : undefined;
    const id = line?.slice(0, 3);
    const boundary = line === undefined || id === 'MSH' || id === 'FHS' || id === 'BHS' || id === 'BTS' || id === 'FTS';
    if (!boundary) {
      if (start === -1) warnings.push(`line ${i + 1} outside any message skipped`);
      continue;
    }
    if (start !== -1) {
      messages.push(parseLines(lines, start, options, i));
      start = -1;
    }
    if (id === 'MSH') start = i;
    else if (id === 'BTS' && line !== undefined) {
      const n = Number.parseInt(line.slice(4).split(line[3] ?? '|')[0] ?? '', 10);
      if (Number.isFinite(n)) batchCount = (batchCount ?? 0) + n;
    }
  }
  if (messages.length === 0) return fail('no-msh', 'no MSH segment found');
  if (batchCount !== undefined && batchCount !== messages.length) {
    warnings.push(`batch trailer counts ${batchCount} messages, found ${messages.length}`);
  }
  return { messages, warnings };
}

/** The text of each message in a batch or concatenation (CR-separated), batch envelope removed. */
export function splitMessages(text: string): string[] {
  const body = stripFraming(text.split('\u000b').join('\n').split('\u001c').join('\n'));
  const out: string[] = [];
  let current: string[] | undefined;
  for (const line of splitLines(body)) {
    const id = line.slice(0, 3);
    if (id === 'MSH') {
      if (current !== undefined) out.push(current.join('\r'));
      current = [line];
    } else if (id === 'FHS' || id === 'BHS' || id === 'BTS' || id === 'FTS') {
      if (current !== undefined) out.push(current.join('\r'));
      current = undefined;
    } else if (current !== undefined) current.push(line);
  }
  if (current !== undefined) out.push(current.join('\r'));
  return out;
}
