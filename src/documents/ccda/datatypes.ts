// CDA R2 data types → FHIR R4 data types (CD, TS/IVL_TS, PQ, II, AD, TEL, PN, ON).
import { type XmlElement, child, children, textContent, attrLocal } from '../xml/index.ts';
import { OID_TO_IDENTIFIER_SYSTEM, codeSystemByName, codeSystemUri, identifierSystemUri } from './codes.ts';

export type Json = Record<string, unknown>;

export interface Coding { system?: string; code?: string; display?: string; [key: string]: unknown }
export interface CodeableConcept { coding?: Coding[]; text?: string; [key: string]: unknown }

/** Resolves `<reference value="#id"/>` against the document narrative. */
export type NarrativeLookup = (id: string) => string | undefined;

/** Collapses whitespace; FHIR strings must not be empty or padded. */
/** True when the string has no tab/newline, no double space and no padding: already clean. */
function isClean(s: string): boolean {
  const n = s.length;
  if (n === 0 || s.charCodeAt(0) <= 32 || s.charCodeAt(n - 1) <= 32) return false;
  let prevSpace = false;
  for (let i = 1; i < n - 1; i++) {
    const c = s.charCodeAt(i);
    if (c < 32) return false;
    if (c === 32) {
      if (prevSpace) return false;
      prevSpace = true;
    } else prevSpace = false;
  }
  return true;
}

export function clean(s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  if (isClean(s)) return s;
  const t = s.replace(/\s+/g, ' ').trim();
  return t === '' ? undefined : t;
}

export function hasNullFlavor(el: XmlElement | undefined): boolean {
  return el !== undefined && el.attrs.nullFlavor !== undefined;
}

/** Text of an ED/ST-like element, following a narrative reference when the element has one. */
export function edText(el: XmlElement | undefined, lookup: NarrativeLookup): string | undefined {
  if (el === undefined) return undefined;
  const ref = child(el, 'reference');
  const value = ref?.attrs.value;
  if (value !== undefined) {
    const resolved = lookup(value.startsWith('#') ? value.slice(1) : value);
    if (resolved !== undefined) return clean(resolved);
  }
  // Text directly inside (ignoring the reference element itself).
  let own = '';
  for (const c of el.children) if (c.type === 'text') own += c.text;
  return clean(own);
}

function coding(el: XmlElement): Coding | undefined {
  const code = clean(el.attrs.code);
  if (code === undefined) return undefined;
  const out: Coding = {};
  const system = codeSystemUri(el.attrs.codeSystem) ?? codeSystemByName(el.attrs.codeSystemName);
  if (system !== undefined) out.system = system;
  out.code = code;
  const display = clean(el.attrs.displayName);
  if (display !== undefined) out.display = display;
  return out;
}

/** CD/CE/CV/CO → CodeableConcept, translations kept, originalText resolved; undefined when there is nothing. */
export function codeableConcept(el: XmlElement | undefined, lookup: NarrativeLookup): CodeableConcept | undefined {
  if (el === undefined) return undefined;
  const codings: Coding[] = [];
  const main = coding(el);
  if (main !== undefined) codings.push(main);
  for (const t of el.children) {
    if (t.type !== 'element' || t.local !== 'translation') continue;
    const c = coding(t);
    if (c !== undefined && !codings.some((x) => x.system === c.system && x.code === c.code)) codings.push(c);
  }
  const text = edText(child(el, 'originalText'), lookup) ?? main?.display ?? codings.find((c) => c.display)?.display;
  if (codings.length === 0 && text === undefined) return undefined;
  const cc: CodeableConcept = {};
  if (codings.length > 0) cc.coding = codings;
  if (text !== undefined) cc.text = text;
  return cc;
}

/** First coding with a code, for places that need a single Coding (Encounter.class …). */
export function firstCoding(el: XmlElement | undefined): Coding | undefined {
  return el === undefined ? undefined : coding(el);
}

// ---- Time ----

const TS_RE = /^(\d{4})(\d{2})?(\d{2})?(?:(\d{2})(\d{2})?(\d{2})?(\.\d+)?)?\s*([+-]\d{2}(?::?\d{2})?|Z)?$/;
const ISO_RE = /^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

// The zone of the document's own effectiveTime, used for times written without one (set for the
// duration of one synchronous conversion by withDocumentZone).
let documentZone: string | undefined;

/** Runs `fn` with `zone` (e.g. "-0500") as the zone of zoneless times; restores the previous one. */
export function withDocumentZone<T>(zone: string | undefined, fn: () => T): T {
  const previous = documentZone;
  documentZone = zone;
  try {
    return fn();
  } finally {
    documentZone = previous;
  }
}

/** The zone suffix of an HL7 TS ("-0500"), if it has one. */
export function tsZone(v: string | undefined): string | undefined {
  const m = v === undefined ? null : /\d{10,}(?:\.\d+)?\s*([+-]\d{4})$/.exec(v.trim());
  return m === null ? undefined : m[1];
}

/**
 * HL7 TS → FHIR dateTime, keeping the precision given. A FHIR dateTime with a time needs a zone: a
 * time written without one takes the zone of the document's effectiveTime (same sending system);
 * when the document has none either, the value is kept to the day rather than given an invented zone.
 */
export function tsToDateTime(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  let s = v.trim();
  // Some senders write ISO 8601 instead of HL7 TS: bring it to TS form and parse it the same way.
  if (s.length >= 7 && ISO_RE.test(s)) {
    const zone = /(Z|[+-]\d{2}:\d{2})$/.exec(s.slice(10));
    const body = zone === null ? s : s.slice(0, s.length - zone[1].length);
    s = body.replace(/[-:T]/g, '') + (zone === null ? '' : zone[1]);
  }
  const m = TS_RE.exec(s);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, se, frac, written] = m;
  const tz = written ?? (h !== undefined ? documentZone : undefined);
  if (y === '0000') return undefined;
  if (mo === undefined) return y;
  const mon = Number(mo);
  if (mon < 1 || mon > 12) return y;
  if (d === undefined) return `${y}-${mo}`;
  const day = Number(d);
  const dim = new Date(Date.UTC(Number(y), mon, 0)).getUTCDate();
  if (day < 1 || day > dim) return `${y}-${mo}`;
  const date = `${y}-${mo}-${d}`;
  if (h === undefined || tz === undefined) return date;
  if (Number(h) > 23 || Number(mi ?? '0') > 59 || Number(se ?? '0') > 59) return date;
  let zone: string;
  if (tz === 'Z') zone = 'Z';
  else {
    const digits = tz.replace(':', '');
    const zh = Number(digits.slice(1, 3));
    const zm = digits.length >= 5 ? Number(digits.slice(3, 5)) : 0;
    if (zh > 14 || zm > 59) return date;
    zone = `${tz[0]}${digits.slice(1, 3)}:${digits.length >= 5 ? digits.slice(3, 5) : '00'}`;
  }
  return `${date}T${h}:${mi ?? '00'}:${se ?? '00'}${frac ?? ''}${zone}`;
}

/** HL7 TS → FHIR date (birthDate …). */
export function tsToDate(v: string | undefined): string | undefined {
  const dt = tsToDateTime(v);
  return dt === undefined ? undefined : dt.slice(0, 10);
}

export interface TimeValue { value?: string; low?: string; high?: string }

/** TS or IVL_TS element → instant value and/or interval bounds (FHIR dateTimes). */
export function timeOf(el: XmlElement | undefined): TimeValue {
  const out: TimeValue = {};
  if (el === undefined) return out;
  const v = tsToDateTime(el.attrs.value);
  if (v !== undefined) out.value = v;
  const low = tsToDateTime(child(el, 'low')?.attrs.value);
  const high = tsToDateTime(child(el, 'high')?.attrs.value);
  const center = tsToDateTime(child(el, 'center')?.attrs.value);
  if (low !== undefined) out.low = low;
  if (high !== undefined) out.high = high;
  if (out.value === undefined && center !== undefined) out.value = center;
  return out;
}

/** The effectiveTime elements of an act; the first one that is an IVL_TS/TS (not a PIVL frequency). */
export function mainTime(act: XmlElement): TimeValue {
  for (const e of children(act, 'effectiveTime')) {
    const t = attrLocal(e, 'type');
    if (t === undefined || t === 'IVL_TS' || t === 'TS') return timeOf(e);
  }
  return {};
}

/** A period from a time value, or undefined when it has no bounds. */
export function period(t: TimeValue): Json | undefined {
  const p: Json = {};
  const start = t.low ?? t.value;
  if (start !== undefined) p.start = start;
  if (t.high !== undefined) p.end = t.high;
  if (p.start !== undefined && p.end !== undefined && String(p.end) < String(p.start) && String(p.end).length === String(p.start).length) delete p.end;
  return Object.keys(p).length > 0 ? p : undefined;
}

/** Sets `<prefix>DateTime` or `<prefix>Period` on a resource from a time value. */
export function setTimeChoice(target: Json, prefix: string, t: TimeValue): void {
  if (t.low !== undefined || t.high !== undefined) {
    if (t.high === undefined && t.value === undefined) {
      target[`${prefix}DateTime`] = t.low;
      return;
    }
    const p = period(t);
    if (p !== undefined) target[`${prefix}Period`] = p;
  } else if (t.value !== undefined) target[`${prefix}DateTime`] = t.value;
}

// ---- Quantities ----

const DECIMAL_RE = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;

export function decimal(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  let s = v.trim();
  if (s.startsWith('+')) s = s.slice(1);
  if (s.startsWith('.')) s = '0' + s;
  if (s.startsWith('-.')) s = '-0' + s.slice(1);
  s = s.replace(/^(-?)0+(?=\d)/, '$1');
  if (!DECIMAL_RE.test(s)) return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

/** PQ → Quantity (UCUM when a unit is given). */
export function quantity(el: XmlElement | undefined): Json | undefined {
  if (el === undefined) return undefined;
  const value = decimal(el.attrs.value);
  if (value === undefined) return undefined;
  const q: Json = { value };
  const unit = clean(el.attrs.unit);
  if (unit !== undefined) {
    q.unit = unit;
    if (!/\s/.test(unit)) {
      q.system = 'http://unitsofmeasure.org';
      q.code = unit;
    }
  }
  return q;
}

// ---- Identifiers ----

/** II → Identifier; undefined for nullFlavor or empty ids. */
export function identifier(el: XmlElement | undefined): Json | undefined {
  if (el === undefined || hasNullFlavor(el) && el.attrs.root === undefined) return undefined;
  const root = clean(el.attrs.root);
  const ext = clean(el.attrs.extension);
  if (root === undefined && ext === undefined) return undefined;
  if (ext === undefined && isAssigningAuthority(root)) return undefined;
  if (ext !== undefined) {
    const id: Json = {};
    const system = identifierSystemUri(root);
    if (system !== undefined) id.system = system;
    id.value = ext;
    return id;
  }
  const system = identifierSystemUri(root);
  if (system === undefined) return { value: root };
  return { system: 'urn:ietf:rfc:3986', value: system.startsWith('urn:') ? system : `urn:oid:${root}` };
}

export function identifiers(parent: XmlElement | undefined, local = 'id'): Json[] {
  const out: Json[] = [];
  for (const e of children(parent, local)) {
    const id = identifier(e);
    if (id !== undefined && !out.some((x) => x.system === id.system && x.value === id.value)) out.push(id);
  }
  return out;
}

/** Stable text key of an II (root + extension) or undefined. */
export function idKey(el: XmlElement | undefined): string | undefined {
  if (el === undefined || el.attrs.nullFlavor !== undefined) return undefined;
  const root = el.attrs.root?.trim();
  if (!root) return undefined;
  const ext = el.attrs.extension?.trim();
  if (!ext && isAssigningAuthority(root)) return undefined;
  return ext ? `${root}^${ext}` : root;
}

/**
 * A root that names an identifier system (NPI, SSN …) identifies nothing by itself: senders that
 * write `<id root="2.16.840.1.113883.4.6"/>` for "NPI unknown" must not make all such people one.
 */
function isAssigningAuthority(root: string | undefined): boolean {
  return root !== undefined && OID_TO_IDENTIFIER_SYSTEM[root] !== undefined;
}

// ---- Names, addresses, telecoms ----

const NAME_USE: Record<string, string> = { L: 'official', C: 'official', P: 'nickname', A: 'anonymous', ASGN: 'usual', OR: 'official', SRCH: 'usual', PHON: 'usual', I: 'usual', R: 'usual', M: 'maiden' };

/** PN → HumanName. */
export function humanName(el: XmlElement | undefined): Json | undefined {
  if (el === undefined || hasNullFlavor(el)) return undefined;
  const n: Json = {};
  const use = el.attrs.use?.split(/\s+/).map((u) => NAME_USE[u]).find((u) => u !== undefined);
  if (use !== undefined) n.use = use;
  const given: string[] = [];
  const prefix: string[] = [];
  const suffix: string[] = [];
  let family: string | undefined;
  let hasParts = false;
  for (const c of el.children) {
    if (c.type !== 'element') continue;
    const v = clean(textContent(c));
    if (c.local === 'given') { hasParts = true; if (v) given.push(v); }
    else if (c.local === 'family') { hasParts = true; if (v && family === undefined) family = v; else if (v && c.attrs.qualifier === 'BR') n.use ??= 'maiden'; }
    else if (c.local === 'prefix') { hasParts = true; if (v) prefix.push(v); }
    else if (c.local === 'suffix') { hasParts = true; if (v) suffix.push(v); }
  }
  if (family !== undefined) n.family = family;
  if (given.length) n.given = given;
  if (prefix.length) n.prefix = prefix;
  if (suffix.length) n.suffix = suffix;
  if (!hasParts) {
    let own = '';
    for (const c of el.children) if (c.type === 'text') own += c.text;
    const text = clean(own);
    if (text !== undefined) n.text = text;
  }
  const p = period(timeOf(child(el, 'validTime')));
  if (p !== undefined) n.period = p;
  return n.family !== undefined || n.given !== undefined || n.text !== undefined ? n : undefined;
}

const ADDR_USE: Record<string, string> = { H: 'home', HP: 'home', HV: 'home', WP: 'work', DIR: 'work', PUB: 'work', TMP: 'temp', OLD: 'old', BAD: 'old', PHYS: 'home' };

/** AD → Address. */
export function address(el: XmlElement | undefined): Json | undefined {
  if (el === undefined || hasNullFlavor(el)) return undefined;
  const a: Json = {};
  const use = el.attrs.use?.split(/\s+/).map((u) => ADDR_USE[u]).find((u) => u !== undefined);
  if (use !== undefined) a.use = use;
  const lines: string[] = [];
  const parts: Record<string, string> = {};
  for (const c of el.children) {
    if (c.type !== 'element' || c.attrs.nullFlavor !== undefined) continue;
    const v = clean(textContent(c));
    if (v === undefined) continue;
    if (c.local === 'streetAddressLine' || c.local === 'houseNumber' || c.local === 'streetName' || c.local === 'additionalLocator' || c.local === 'unitID' || c.local === 'deliveryAddressLine') lines.push(v);
    else if (c.local === 'city' || c.local === 'state' || c.local === 'postalCode' || c.local === 'country' || c.local === 'county') parts[c.local] = parts[c.local] ?? v;
  }
  if (lines.length) a.line = lines;
  if (parts.city) a.city = parts.city;
  if (parts.county) a.district = parts.county;
  if (parts.state) a.state = parts.state;
  if (parts.postalCode) a.postalCode = parts.postalCode;
  if (parts.country) a.country = parts.country;
  if (lines.length === 0 && Object.keys(parts).length === 0) {
    let own = '';
    for (const c of el.children) if (c.type === 'text') own += c.text;
    const text = clean(own);
    if (text === undefined) return undefined;
    a.text = text;
  }
  const p = period(timeOf(child(el, 'useablePeriod')));
  if (p !== undefined) a.period = p;
  return a;
}

const TEL_USE: Record<string, string> = { H: 'home', HP: 'home', HV: 'home', WP: 'work', DIR: 'work', PUB: 'work', MC: 'mobile', PG: 'mobile', TMP: 'temp', BAD: 'old', EC: 'home' };

/** TEL → ContactPoint. */
export function contactPoint(el: XmlElement | undefined): Json | undefined {
  if (el === undefined || hasNullFlavor(el)) return undefined;
  const raw = clean(el.attrs.value);
  if (raw === undefined) return undefined;
  const cp: Json = {};
  const lower = raw.toLowerCase();
  let value = raw;
  if (lower.startsWith('tel:')) { cp.system = 'phone'; value = raw.slice(4); }
  else if (lower.startsWith('fax:')) { cp.system = 'fax'; value = raw.slice(4); }
  else if (lower.startsWith('mailto:')) { cp.system = 'email'; value = raw.slice(7); }
  else if (lower.startsWith('http:') || lower.startsWith('https:')) cp.system = 'url';
  else if (raw.includes('@')) cp.system = 'email';
  else if (/^[+()0-9 .-]{7,}$/.test(raw)) cp.system = 'phone';
  else cp.system = 'other';
  value = clean(value.replace(/^\/\//, '')) ?? '';
  if (value === '') return undefined;
  cp.value = value;
  const use = el.attrs.use?.split(/\s+/).map((u) => TEL_USE[u]).find((u) => u !== undefined);
  if (use !== undefined) cp.use = use;
  return cp;
}

export function collect<T>(items: (T | undefined)[]): T[] {
  const out: T[] = [];
  for (const x of items) if (x !== undefined) out.push(x);
  return out;
}
