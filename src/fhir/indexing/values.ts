// Value normalisation shared by indexing and by the store's query parsing (same rules on both sides).

export const MIN_INSTANT = '0001-01-01T00:00:00.000Z';
export const MAX_INSTANT = '9999-12-31T23:59:59.999Z';

const ASCII_RE = /^[\x20-\x7e]*$/;
const MARKS_RE = /[\u0300-\u036f]/g;
const SPACE_RE = /\s+/g;

/** Search form of a string: accents removed, lower-case, whitespace collapsed and trimmed. */
export function normalizeString(s: string): string {
  const base = ASCII_RE.test(s) ? s : s.normalize('NFD').replace(MARKS_RE, '');
  return base.toLowerCase().replace(SPACE_RE, ' ').trim();
}

const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysIn(y: number, m: number): number {
  return m === 2 && ((y % 4 === 0 && y % 100 !== 0) || y % 400 === 0) ? 29 : DAYS_IN_MONTH[m - 1];
}

function utcMs(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number {
  const t = Date.UTC(y, mo, d, h, mi, s, ms);
  if (y >= 100) return t;
  // Date.UTC maps years 0–99 to 1900–1999.
  const dt = new Date(t);
  dt.setUTCFullYear(y);
  return dt.getTime();
}

function iso(ms: number): string | null {
  if (!Number.isFinite(ms)) return null;
  const s = new Date(ms).toISOString();
  return s.length === 24 ? s : null; // outside years 0000–9999
}

/**
 * The closed range of instants a FHIR date/dateTime/instant denotes at its precision (UTC, ms precision):
 * "2020" → 2020-01-01T00:00:00.000Z..2020-12-31T23:59:59.999Z. A time without zone is taken as UTC.
 * Also accepts minute precision ("2020-01-01T10:00") for query values. Null when invalid.
 */
export function parseDateRange(value: string): { start: string; end: string } | null {
  const m = DATE_RE.exec(value);
  if (!m) return null;
  const y = +m[1];
  if (m[2] === undefined) return range(utcMs(y, 0, 1), utcMs(y + 1, 0, 1) - 1);
  const mo = +m[2];
  if (mo < 1 || mo > 12) return null;
  if (m[3] === undefined) return range(utcMs(y, mo - 1, 1), utcMs(y, mo, 1) - 1);
  const d = +m[3];
  if (d < 1 || d > daysIn(y, mo)) return null;
  if (m[4] === undefined) return range(utcMs(y, mo - 1, d), utcMs(y, mo - 1, d + 1) - 1);
  const h = +m[4], mi = +m[5];
  if (h > 23 || mi > 59) return null;
  let offsetMs = 0;
  const tz = m[8];
  if (tz !== undefined && tz !== 'Z') {
    const oh = +tz.slice(1, 3), om = +tz.slice(4, 6);
    if (oh > 14 || om > 59) return null;
    offsetMs = (tz[0] === '-' ? -1 : 1) * (oh * 60 + om) * 60000;
  }
  let start: number, width: number;
  if (m[6] === undefined) {
    start = utcMs(y, mo - 1, d, h, mi);
    width = 60000;
  } else {
    const s = +m[6];
    if (s > 60) return null;
    const frac = m[7] ?? '';
    const ms = frac ? Math.floor(Number(frac.slice(0, 3).padEnd(3, '0'))) : 0;
    start = utcMs(y, mo - 1, d, h, mi, s, ms);
    width = frac.length === 0 ? 1000 : frac.length === 1 ? 100 : frac.length === 2 ? 10 : 1;
  }
  start -= offsetMs;
  return range(start, start + width - 1);
}

function range(startMs: number, endMs: number): { start: string; end: string } | null {
  const start = iso(startMs), end = iso(endMs);
  return start && end ? { start, end } : null;
}
