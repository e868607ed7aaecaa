// Checks for FHIR R4 primitive values in their JSON form. Regexes are the ones the R4 StructureDefinitions
// declare (structuredefinition-regex), anchored; dates additionally get a calendar check (no 2021-02-30).

export type PrimitiveCheck = (v: unknown) => string | null;

const YEAR = '([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)';
const TZ = '(Z|(\\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))';
const TIME = '([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]+)?';
export const DATE_RE = new RegExp(`^${YEAR}(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?$`);
export const DATETIME_RE = new RegExp(`^${YEAR}(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T${TIME}${TZ})?)?)?$`);
export const INSTANT_RE = new RegExp(`^${YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T${TIME}${TZ}$`);
const TIME_RE = new RegExp(`^${TIME}$`);
const CODE_RE = /^[^\s]+(\s[^\s]+)*$/;
const OID_RE = /^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$/;
const UUID_RE = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NO_SPACE_RE = /^\S*$/;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const XHTML_DIV_RE = /^\s*<div[\s>]/;

/** R4: "strings SHALL NOT exceed 1MB in size" (counted in UTF-16 units here, close enough to reject abuse). */
export const MAX_STRING_LENGTH = 1024 * 1024;

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) v = v * 10 + (s.charCodeAt(i) - 48);
  return v;
}

/** Day-of-month exists (the regexes accept 31 for every month). Expects a string already matching a date regex. */
export function calendarDayValid(s: string): boolean {
  if (s.length < 10) return true;
  // Digits at these positions (the regexes guarantee it): read without slicing.
  const y = digits(s, 0, 4), m = digits(s, 5, 2), d = digits(s, 8, 2);
  if (d <= 28) return true;
  if (m === 2 && d === 29) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  return d <= DAYS_IN_MONTH[m - 1];
}

function str(check: (s: string) => boolean, what: string): PrimitiveCheck {
  return (v) => {
    if (typeof v !== 'string') return `must be a JSON string (${what})`;
    if (v.length === 0) return 'must not be an empty string';
    return check(v) ? null : `invalid ${what} value ${JSON.stringify(v.length > 80 ? v.slice(0, 80) + '…' : v)}`;
  };
}

function int(min: number, what: string): PrimitiveCheck {
  return (v) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) return `must be a JSON number without fraction (${what})`;
    if (v < min || v > 2147483647) return `${what} value ${v} out of range`;
    return null;
  };
}

// Char-loop fast paths for the common all-printable-ASCII values; anything else goes to the regex, so results
// are exactly the regex's.
function isPrintableAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 33 || c > 126) return false;
  }
  return true;
}

/** 1 for the characters of an id ([A-Za-z0-9\-.]). */
const ID_CHAR = new Uint8Array(128);
for (let c = 0; c < 128; c++) ID_CHAR[c] = /[A-Za-z0-9\-.]/.test(String.fromCharCode(c)) ? 1 : 0;

/** `^[A-Za-z0-9\-.]{1,64}$` */
export function idValid(s: string): boolean {
  if (s.length === 0 || s.length > 64) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || ID_CHAR[c] === 0) return false;
  }
  return true;
}

/**
 * Remembers strings that passed a check. Codes, code systems and profile URLs repeat across resources
 * (most are constants in the converters), so a set lookup replaces the scan. Bounded: cleared when full;
 * long strings are not kept.
 */
function remembered(check: (s: string) => boolean): (s: string) => boolean {
  const valid = new Set<string>();
  return (s) => {
    if (valid.has(s)) return true;
    if (!check(s)) return false;
    if (s.length <= 256) {
      if (valid.size >= 4096) valid.clear();
      valid.add(s);
    }
    return true;
  };
}

function base64Valid(s: string): boolean {
  // Whitespace is allowed between groups; stripping it first keeps this linear on large attachments.
  const t = /\s/.test(s) ? s.replace(/\s+/g, '') : s;
  return t.length % 4 === 0 && BASE64_RE.test(t);
}

export const PRIMITIVE_CHECKS: Record<string, PrimitiveCheck> = {
  boolean: (v) => (typeof v === 'boolean' ? null : 'must be a JSON boolean'),
  integer: int(-2147483648, 'integer'),
  positiveInt: int(1, 'positiveInt'),
  unsignedInt: int(0, 'unsignedInt'),
  decimal: (v) => (typeof v === 'number' && Number.isFinite(v) ? null : 'must be a JSON number (decimal)'),
  string: str((s) => s.length <= MAX_STRING_LENGTH, 'string (at most 1 MiB)'),
  markdown: str((s) => s.length <= MAX_STRING_LENGTH, 'markdown (at most 1 MiB)'),
  code: str(remembered((s) => isPrintableAscii(s) || CODE_RE.test(s)), 'code'),
  id: str(idValid, 'id'),
  uri: str(remembered((s) => isPrintableAscii(s) || NO_SPACE_RE.test(s)), 'uri'),
  url: str(remembered((s) => isPrintableAscii(s) || NO_SPACE_RE.test(s)), 'url'),
  canonical: str(remembered((s) => isPrintableAscii(s) || NO_SPACE_RE.test(s)), 'canonical'),
  oid: str((s) => OID_RE.test(s), 'oid'),
  uuid: str((s) => UUID_RE.test(s), 'uuid'),
  base64Binary: str(base64Valid, 'base64Binary'),
  date: str((s) => DATE_RE.test(s) && calendarDayValid(s), 'date'),
  dateTime: str((s) => DATETIME_RE.test(s) && calendarDayValid(s), 'dateTime'),
  instant: str((s) => INSTANT_RE.test(s) && calendarDayValid(s), 'instant'),
  time: str((s) => TIME_RE.test(s), 'time'),
  xhtml: str((s) => XHTML_DIV_RE.test(s), 'xhtml (must be a <div> element)'),
};
