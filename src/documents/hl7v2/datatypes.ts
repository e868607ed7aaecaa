// HL7 v2 data types → FHIR R4 data types (following the HL7 v2-to-FHIR IG data type maps where they
// exist, simplified). Every function returns undefined rather than an invalid FHIR value.
import type { Hl7Field } from './parser.ts';

type Json = Record<string, unknown>;

const V2 = 'http://terminology.hl7.org/CodeSystem/v2-';
// Whole system strings, not `${V2}0203` per use: a template builds a new (cons) string every time.
const V2_0203 = `${V2}0203`;

/**
 * A lookup table without a prototype: tables are indexed with input ('constructor', 'toString' and
 * '__proto__' must find nothing, not Object.prototype's members).
 */
export function table<T>(entries: Record<string, T>): Record<string, T> {
  return Object.assign(Object.create(null) as Record<string, T>, entries);
}

/** HL7 table 0396 coding system names (and common local spellings) → FHIR system URIs. */
const CODE_SYSTEMS: Record<string, string> = table({
  LN: 'http://loinc.org', LOINC: 'http://loinc.org',
  SCT: 'http://snomed.info/sct', SNM: 'http://snomed.info/sct', SNOMED: 'http://snomed.info/sct', SNOMEDCT: 'http://snomed.info/sct', 'SNOMED-CT': 'http://snomed.info/sct', SNM3: 'http://snomed.info/sct',
  // Table 0396: I9 / I10 name WHO ICD-9 / ICD-10, I9C / I10C the US clinical modifications.
  I9: 'http://hl7.org/fhir/sid/icd-9', ICD9: 'http://hl7.org/fhir/sid/icd-9', 'ICD-9': 'http://hl7.org/fhir/sid/icd-9',
  I9C: 'http://hl7.org/fhir/sid/icd-9-cm', I9CDX: 'http://hl7.org/fhir/sid/icd-9-cm', ICD9CM: 'http://hl7.org/fhir/sid/icd-9-cm', 'ICD-9-CM': 'http://hl7.org/fhir/sid/icd-9-cm',
  I10: 'http://hl7.org/fhir/sid/icd-10', ICD10: 'http://hl7.org/fhir/sid/icd-10', 'ICD-10': 'http://hl7.org/fhir/sid/icd-10',
  I10C: 'http://hl7.org/fhir/sid/icd-10-cm', ICD10CM: 'http://hl7.org/fhir/sid/icd-10-cm', 'ICD-10-CM': 'http://hl7.org/fhir/sid/icd-10-cm',
  ICDO: 'http://terminology.hl7.org/CodeSystem/icd-o', 'ICD-O': 'http://terminology.hl7.org/CodeSystem/icd-o',
  I10P: 'http://www.cms.gov/Medicare/Coding/ICD10', ICD10PCS: 'http://www.cms.gov/Medicare/Coding/ICD10',
  RXNORM: 'http://www.nlm.nih.gov/research/umls/rxnorm', RXN: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  NDC: 'http://hl7.org/fhir/sid/ndc', CVX: 'http://hl7.org/fhir/sid/cvx', MVX: 'http://hl7.org/fhir/sid/mvx',
  C4: 'http://www.ama-assn.org/go/cpt', CPT: 'http://www.ama-assn.org/go/cpt', CPT4: 'http://www.ama-assn.org/go/cpt',
  HCPCS: 'https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets', HCPC: 'https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets',
  UCUM: 'http://unitsofmeasure.org', NUCC: 'http://nucc.org/provider-taxonomy', NPI: 'http://hl7.org/fhir/sid/us-npi',
  CDCREC: 'urn:oid:2.16.840.1.113883.6.238', ISO3166_1: 'urn:iso:std:iso:3166', ISO639: 'urn:ietf:bcp:47',
  UNII: 'http://fdasis.nlm.nih.gov', NCI: 'http://ncimeta.nci.nih.gov',
});

/** A coding system name (CWE-3) → FHIR system URI; HL7nnnn → v2 table; OIDs → urn:oid. */
export function codeSystemUri(name: string | undefined, oid?: string): string | undefined {
  if (oid !== undefined && isOid(oid)) return `urn:oid:${oid}`;
  if (name === undefined) return undefined;
  // Most names are already upper case: looked up as they are first (no new string).
  const known = CODE_SYSTEMS[name] ?? (hasLowerCase(name) ? CODE_SYSTEMS[name.toUpperCase()] : undefined);
  if (known !== undefined) return known;
  if (name.length === 8 && (name.startsWith('HL7') || name.startsWith('hl7'))) {
    const table = name.slice(3);
    if (isDigits(table)) return `${V2}${table}`;
  }
  if (isOid(name)) return `urn:oid:${name}`;
  if (name.startsWith('http://') || name.startsWith('https://') || name.startsWith('urn:')) return isUriSafe(name) ? name : undefined;
  return undefined;
}

function hasLowerCase(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 97 && c <= 122) || c > 127) return true;
  }
  return false;
}

export function isDigits(s: string): boolean {
  return digitsBetween(s, 0, s.length);
}

export function isOid(s: string): boolean {
  if (s.length < 3 || s.length > 200) return false;
  // Cheap rejection before splitting: most names checked here (LN, I10, L …) are not OIDs.
  const c0 = s.charCodeAt(0);
  if (c0 < 48 || c0 > 50 || s.indexOf('.') === -1) return false;
  // Dot-separated non-empty digit runs without leading zeros (a char loop: no split).
  let start = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46;
    if (c === 46) {
      if (i === start || (i - start > 1 && s.charCodeAt(start) === 48)) return false;
      start = i + 1;
    } else if (c < 48 || c > 57) return false;
  }
  return true;
}

/** A FHIR uri: no whitespace at all (R4's `\S*`, so Unicode spaces too) and no control characters. */
function isUriSafe(s: string): boolean {
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c === 127) return false;
    if (c > 127) ascii = false;
  }
  return ascii || !/\s/.test(s);
}

/** FHIR `code` values: no leading/trailing whitespace, no double spaces. */
export function cleanCode(s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  // Common case: printable ASCII without spaces needs neither trimming nor collapsing.
  if (isCompactAscii(s)) return s === '' ? undefined : s;
  const t = s.trim().replace(/\s+/g, ' ');
  return t === '' ? undefined : t;
}

function isCompactAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 33 || c > 126) return false;
  }
  return true;
}

export function clean(s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  const t = s.trim();
  return t === '' ? undefined : t;
}

// A module function, not a closure: tsx's keepNames wraps every named closure on each call.
function pushCoding(codings: Json[], code: string | undefined, display: string | undefined, sysName: string | undefined, oid: string | undefined, fallback: string | undefined): void {
  const c = cleanCode(code);
  if (c === undefined) return;
  const coding: Json = {};
  const system = codeSystemUri(sysName, oid) ?? fallback;
  if (system !== undefined) coding.system = system;
  coding.code = c;
  const d = clean(display);
  if (d !== undefined) coding.display = d;
  codings.push(coding);
}

/** CE / CNE / CWE (and the code-only IS/ID) → CodeableConcept. */
export function codeableConcept(f: Hl7Field | undefined, defaultSystem?: string): Json | undefined {
  if (f === undefined) return undefined;
  const codings: Json[] = [];
  const sys1 = f.get(3);
  pushCoding(codings, f.get(1), f.get(2), sys1, f.get(14), sys1 === undefined ? defaultSystem : undefined);
  pushCoding(codings, f.get(4), f.get(5), f.get(6), f.get(17), undefined);
  pushCoding(codings, f.get(10), f.get(11), f.get(12), f.get(20), undefined);
  const text = clean(f.get(9));
  if (codings.length === 0 && text === undefined) {
    const onlyText = clean(f.get(2)) ?? clean(f.get(5));
    return onlyText === undefined ? undefined : { text: onlyText };
  }
  const cc: Json = {};
  if (codings.length > 0) cc.coding = codings;
  if (text !== undefined) cc.text = text;
  return cc;
}

/** A bare code (ID/IS) from a v2 table → CodeableConcept with that table's system. */
export function tableConcept(code: string | undefined, table: string, display?: string): Json | undefined {
  const c = cleanCode(code);
  if (c === undefined) return undefined;
  const coding: Json = { system: `${V2}${table}`, code: c };
  if (display !== undefined) coding.display = display;
  return { coding: [coding] };
}

// ---------------------------------------------------------------- dates

export interface Hl7Time {
  /** FHIR date (YYYY, YYYY-MM or YYYY-MM-DD). */
  date: string;
  /** FHIR dateTime: with time only when a time zone is known (FHIR requires one with a time). */
  dateTime: string;
  /** FHIR instant when the value has seconds and a zone. */
  instant?: string;
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Reads the offset of a TS/DTM (e.g. "+0215"), formatted for FHIR ("+02:15"). */
export function tzOf(ts: string | undefined): string | undefined {
  if (ts === undefined) return undefined;
  const k = Math.max(ts.indexOf('+'), ts.indexOf('-'));
  return k === -1 ? undefined : zoneAt(ts, k);
}

/** FHIR zone strings by sign and offset: at most 2 × 1,500 of them, and strings are immutable, so they are shared. */
const ZONES = new Map<number, string>();

/** The zone whose sign is at ts[k] and whose four digits end the text; undefined when there are not exactly four. */
function zoneAt(ts: string, k: number): string | undefined {
  if (ts.length - k !== 5 || !digitsBetween(ts, k + 1, k + 5)) return undefined;
  const hh = twoDigits(ts, k + 1);
  const mm = twoDigits(ts, k + 3);
  // R4 zones: -13:59 … +13:59 and ±14:00.
  if (mm > 59 || hh > 14 || (hh === 14 && mm !== 0)) return undefined;
  const key = (ts.charCodeAt(k) === 43 ? 10000 : 0) + hh * 100 + mm;
  let zone = ZONES.get(key);
  if (zone === undefined) {
    zone = `${ts[k]!}${ts.slice(k + 1, k + 3)}:${ts.slice(k + 3, k + 5)}`;
    ZONES.set(key, zone);
  }
  return zone;
}

/** s[from, to) is non-empty and all ASCII digits. */
function digitsBetween(s: string, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

const FHIR_TZ = /^(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$/;

/** A zone given by the caller (e.g. "-05:00"), when it is one FHIR accepts. */
export function fhirZone(tz: string | undefined): string | undefined {
  return tz !== undefined && FHIR_TZ.test(tz) ? tz : undefined;
}

/**
 * TS / DTM / DT → FHIR date and dateTime. Without a zone in the value, `defaultTz` (the sender's
 * zone, taken from MSH-7) is used; without either, only the date part is kept.
 */
export function parseTs(value: string | undefined, defaultTz?: string): Hl7Time | undefined {
  if (value === undefined) return undefined;
  // Read within v[0, n): the zone and the fraction are cut off by moving n, not by slicing (time stamps are read
  // several times per message); digits are read as char codes and the output cut once per part.
  const v = value.trim();
  let n = v.length;
  let tz: string | undefined;
  const k = Math.max(v.indexOf('+'), v.indexOf('-'));
  if (k !== -1) {
    tz = zoneAt(v, k);
    if (tz === undefined) return undefined;
    n = k;
  }
  let frac = '';
  const dot = v.indexOf('.');
  if (dot !== -1 && dot < n) {
    if (n - dot - 1 > 4 || !digitsBetween(v, dot + 1, n)) return undefined;
    frac = v.slice(dot + 1, n);
    n = dot;
  }
  if (n < 4 || n > 14 || n % 2 !== 0 || !digitsBetween(v, 0, n)) return undefined;
  const year = twoDigits(v, 0) * 100 + twoDigits(v, 2);
  if (year === 0) return undefined;
  let date: string;
  if (n === 4) date = n === v.length ? v : v.slice(0, 4);
  else {
    const m = twoDigits(v, 4);
    if (m < 1 || m > 12) return undefined;
    if (n === 6) date = `${v.slice(0, 4)}-${v.slice(4, 6)}`;
    else {
      const d = twoDigits(v, 6);
      if (d < 1 || d > DAYS_IN_MONTH[m - 1]!) return undefined;
      if (m === 2 && d === 29 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0))) return undefined;
      date = `${v.slice(0, 4)}-${v.slice(4, 6)}-${v.slice(6, 8)}`;
    }
  }
  if (n <= 8) return { date, dateTime: date };
  const hh = twoDigits(v, 8);
  const mi = n >= 12 ? twoDigits(v, 10) : 0;
  const ss = n >= 14 ? twoDigits(v, 12) : 0;
  if (hh > 23 || mi > 59 || ss > 60) return { date, dateTime: date };
  const zone = tz ?? defaultTz;
  if (zone === undefined) return { date, dateTime: date };
  // Two digits each, as in the input (a leap second becomes :59).
  const time = `${v.slice(8, 10)}:${n >= 12 ? v.slice(10, 12) : '00'}:${n >= 14 ? (ss === 60 ? '59' : v.slice(12, 14)) : '00'}${frac !== '' ? `.${frac}` : ''}`;
  const dateTime = `${date}T${time}${zone}`;
  const full = date.length === 10 ? dateTime : undefined;
  return full === undefined ? { date, dateTime: date } : { date, dateTime, instant: n >= 14 ? dateTime : undefined };
}

/** The number written by the two ASCII digits at i (the caller has checked they are digits). */
function twoDigits(s: string, i: number): number {
  return (s.charCodeAt(i) - 48) * 10 + s.charCodeAt(i + 1) - 48;
}

// ---------------------------------------------------------------- people, places, contacts

const NAME_USE: Record<string, string> = table({ L: 'official', D: 'usual', M: 'maiden', N: 'nickname', A: 'anonymous', S: 'anonymous', T: 'temp', B: 'official', C: 'old', R: 'official' });

/** XPN (or the name part of XCN, from `offset`: 1 for XPN, 2 for XCN) → HumanName. */
export function humanName(f: Hl7Field | undefined, offset = 1): Json | undefined {
  if (f === undefined) return undefined;
  const o = offset - 1;
  const family = clean(f.get(1 + o, 1));
  // Given name, then the middle names (split on spaces); no intermediate arrays (names are read per field).
  const first = clean(f.get(2 + o));
  let given: string[] | undefined = first === undefined ? undefined : [first];
  const middle = clean(f.get(3 + o));
  if (middle !== undefined) {
    if (middle.indexOf(' ') === -1) (given ??= []).push(middle);
    else for (const x of middle.split(' ')) if (x !== '') (given ??= []).push(x);
  }
  if (family === undefined && given === undefined) return undefined;
  const suffix1 = clean(f.get(4 + o));
  const prefix = clean(f.get(5 + o));
  const suffix2 = clean(f.get(6 + o));
  const use = NAME_USE[f.get(offset === 1 ? 7 : 10) ?? ''];
  const name: Json = {};
  if (use !== undefined) name.use = use;
  if (family !== undefined) name.family = family;
  if (given !== undefined) name.given = given;
  if (prefix !== undefined) name.prefix = [prefix];
  if (suffix1 !== undefined) name.suffix = suffix2 !== undefined ? [suffix1, suffix2] : [suffix1];
  else if (suffix2 !== undefined) name.suffix = [suffix2];
  return name;
}

const ADDRESS_USE: Record<string, { use?: string; type?: string }> = table({
  H: { use: 'home' }, B: { use: 'work' }, O: { use: 'work' }, C: { use: 'temp' }, M: { type: 'postal' },
  BA: { use: 'old' }, BDL: { use: 'home' }, BR: { use: 'home' }, P: { use: 'home' }, V: { use: 'temp' }, SH: { type: 'postal' },
});

/** XAD → Address. */
export function address(f: Hl7Field | undefined): Json | undefined {
  if (f === undefined) return undefined;
  const line1 = clean(f.get(1, 1));
  const line2 = clean(f.get(2));
  const city = clean(f.get(3));
  const state = clean(f.get(4));
  const postal = clean(f.get(5));
  const country = clean(f.get(6));
  const district = clean(f.get(9));
  // An address needs more than its use/type.
  if (line1 === undefined && line2 === undefined && city === undefined && state === undefined && postal === undefined && country === undefined && district === undefined) return undefined;
  const a: Json = {};
  const use = ADDRESS_USE[f.get(7) ?? ''];
  if (use?.use !== undefined) a.use = use.use;
  if (use?.type !== undefined) a.type = use.type;
  if (line1 !== undefined) a.line = line2 !== undefined ? [line1, line2] : [line1];
  else if (line2 !== undefined) a.line = [line2];
  if (city !== undefined) a.city = city;
  if (district !== undefined) a.district = district;
  if (state !== undefined) a.state = state;
  if (postal !== undefined) a.postalCode = postal;
  if (country !== undefined) a.country = country;
  return a;
}

const TELECOM_USE: Record<string, string> = table({ PRN: 'home', ORN: 'home', WPN: 'work', VHN: 'temp', ASN: 'temp', EMR: 'home', PRS: 'mobile' });

/** XTN → ContactPoint; `defaultUse` for fields whose meaning implies it (PID-13 home, PID-14 work). */
export function contactPoint(f: Hl7Field | undefined, defaultUse?: string): Json | undefined {
  if (f === undefined) return undefined;
  const useCode = f.get(2);
  const equip = (f.get(3) ?? '').toUpperCase();
  const email = clean(f.get(4));
  let system = 'phone';
  if (equip === 'INTERNET' || equip === 'X.400' || useCode === 'NET') system = 'email';
  else if (equip === 'FX') system = 'fax';
  else if (equip === 'BP' || useCode === 'BPN') system = 'pager';
  let value: string | undefined;
  if (system === 'email') value = email ?? clean(f.get(1));
  else {
    value = clean(f.get(12)) ?? clean(f.get(1));
    if (value === undefined) {
      const parts = [f.get(5) !== undefined ? `+${f.get(5)}` : undefined, f.get(6) !== undefined ? `(${f.get(6)})` : undefined, f.get(7)].filter((x) => x !== undefined);
      if (f.get(7) !== undefined) value = parts.join(' ');
      const ext = clean(f.get(8));
      if (value !== undefined && ext !== undefined) value += ` ext. ${ext}`;
    }
    if (value === undefined && email !== undefined) {
      system = 'email';
      value = email;
    }
  }
  if (value === undefined) return undefined;
  const cp: Json = { system, value };
  const use = equip === 'CP' ? 'mobile' : TELECOM_USE[useCode ?? ''] ?? defaultUse;
  if (use !== undefined) cp.use = use;
  return cp;
}

// ---------------------------------------------------------------- identifiers

export const US_SSN = 'http://hl7.org/fhir/sid/us-ssn';
export const US_NPI = 'http://hl7.org/fhir/sid/us-npi';

/** Turns a namespace id (an assigning authority's local name) into a URI usable as Identifier.system. */
export function namespaceUri(ns: string): string {
  const t = ns.trim();
  try {
    return `urn:id:${encodeURIComponent(t)}`;
  } catch {
    // A lone surrogate makes encodeURIComponent throw: replace it (U+FFFD) as a well-formed string would.
    return `urn:id:${encodeURIComponent(t.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD'))}`;
  }
}

/** HD (namespace^universal id^type) or the same spread over subcomponents → system URI. */
export function hdSystem(namespace: string | undefined, universalId: string | undefined, type?: string): string | undefined {
  const uid = clean(universalId);
  if (uid !== undefined) {
    if (isOid(uid)) return `urn:oid:${uid}`;
    if ((type === 'URI' || uid.includes(':')) && isUriSafe(uid)) return uid;
    if (type === 'UUID' && isUriSafe(uid)) return `urn:uuid:${uid}`;
  }
  const ns = clean(namespace);
  if (ns === undefined) return undefined;
  // Upper-cased only when it could be one of the known names (most namespaces are longer local names).
  if (ns.length === 3 || ns.length === 5) {
    const up = ns.toUpperCase();
    if (up === 'NPI') return US_NPI;
    if (up === 'USSSA' || up === 'SSA') return US_SSN;
  }
  return namespaceUri(ns);
}

/** CX → Identifier (assigning authority in component 4 as subcomponents, type in component 5). */
export function identifierFromCx(f: Hl7Field | undefined, typeOverride?: string): Json | undefined {
  if (f === undefined) return undefined;
  const value = clean(f.get(1));
  if (value === undefined) return undefined;
  const id: Json = {};
  const typeCode = typeOverride ?? f.get(5);
  const aa = f.subcomponents(4);
  let system = hdSystem(aa[0], aa[1], aa[2]);
  if (typeCode === 'SS') system = US_SSN;
  if (typeCode === 'NPI') system = US_NPI;
  if (typeCode !== undefined) {
    const tc = cleanCode(typeCode);
    if (tc !== undefined) id.type = { coding: [{ system: V2_0203, code: tc }] };
  }
  if (system !== undefined) id.system = system;
  id.value = value;
  const assigner = clean(aa[0]);
  if (assigner !== undefined) id.assigner = { display: assigner };
  return id;
}

/** XCN → identifier + name of a practitioner; undefined when it carries neither. */
export function practitionerParts(f: Hl7Field | undefined): { identifier?: Json; name?: Json; key: string } | undefined {
  if (f === undefined || f.isEmpty()) return undefined;
  const idValue = clean(f.get(1));
  const name = humanName(f, 2);
  if (idValue === undefined && name === undefined) return undefined;
  let identifier: Json | undefined;
  if (idValue !== undefined) {
    const aa = f.subcomponents(9);
    const typeCode = f.get(13);
    let system = hdSystem(aa[0], aa[1], aa[2]);
    if (typeCode === 'NPI') system = US_NPI;
    identifier = { value: idValue };
    if (system !== undefined) identifier.system = system;
    const tc = cleanCode(typeCode);
    if (tc !== undefined) identifier.type = { coding: [{ system: V2_0203, code: tc }] };
  }
  const key = idValue !== undefined ? `id|${identifier?.system ?? ''}|${idValue}` : `name|${JSON.stringify(name)}`;
  const out: { identifier?: Json; name?: Json; key: string } = { key };
  if (identifier !== undefined) out.identifier = identifier;
  if (name !== undefined) out.name = name;
  return out;
}

export function num(s: string | undefined): number | undefined {
  const t = clean(s);
  if (t === undefined) return undefined;
  // Decimal as FHIR allows it: optional sign, digits, optional fraction; no exponent, no NaN.
  let i = 0;
  if (t[0] === '-' || t[0] === '+') i = 1;
  let digits = 0;
  let dot = false;
  for (; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (c === 46 && !dot) dot = true;
    else return undefined;
  }
  if (digits === 0 || digits > 18) return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}
