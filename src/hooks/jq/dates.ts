// jq date builtins in UTC: gmtime / mktime / strftime / strptime and the ISO 8601 helpers.
// "Broken down time" is jq's array [year, month(0-11), day, hours, minutes, seconds, weekday, yearday].
// Local time is treated as UTC (a hook runs on a server; no locale or TZ database is consulted).
import { JqError, describe } from './values.ts';

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

function yday(y: number, m: number, d: number): number {
  return Math.round((Date.UTC(y, m, d) - Date.UTC(y, 0, 1)) / 86400000);
}

export function gmtime(t: number): number[] {
  if (!Number.isFinite(t)) throw new JqError('gmtime() requires a finite number');
  const d = new Date(Math.floor(t) * 1000);
  const y = d.getUTCFullYear(), mo = d.getUTCMonth(), da = d.getUTCDate();
  const secs = d.getUTCSeconds() + (t - Math.floor(t));
  return [y, mo, da, d.getUTCHours(), d.getUTCMinutes(), secs, d.getUTCDay(), yday(y, mo, da)];
}

function requireBrokenDown(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || v.length < 6 || v.slice(0, 6).some((x) => typeof x !== 'number')) {
    throw new JqError(`${what} requires parsed datetime inputs`);
  }
  return v as number[];
}

export function mktime(v: unknown): number {
  if (!Array.isArray(v)) throw new JqError('mktime requires array of 6 numbers');
  const b = requireBrokenDown(v, 'mktime');
  return Math.floor(Date.UTC(b[0]!, b[1]!, b[2]!, b[3]!, b[4]!, Math.floor(b[5]!)) / 1000);
}

const pad = (n: number, w = 2, c = '0') => String(Math.trunc(n)).padStart(w, c);

export function strftime(v: unknown, fmt: unknown, what: string): string {
  if (typeof v === 'number') v = gmtime(v);
  if (typeof fmt !== 'string') throw new JqError(`${what} requires a string format`);
  const b = requireBrokenDown(v, what);
  const [y, mo, d, h, mi, s] = b as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo, d, h, mi, Math.floor(s)));
  const wd = date.getUTCDay();
  const yd = yday(y, mo, d);
  return fmt.replace(/%([a-zA-Z%+])/g, (_m, c: string) => {
    switch (c) {
      case 'Y': return String(y);
      case 'C': return pad(Math.floor(y / 100));
      case 'y': return pad(y % 100);
      case 'm': return pad(mo + 1);
      case 'd': return pad(d);
      case 'e': return pad(d, 2, ' ');
      case 'H': return pad(h);
      case 'I': return pad(h % 12 === 0 ? 12 : h % 12);
      case 'M': return pad(mi);
      case 'S': return pad(Math.floor(s));
      case 'j': return pad(yd + 1, 3);
      case 'Z': return 'UTC';
      case 'z': return '+0000';
      case 'a': return DAYS[wd]!.slice(0, 3);
      case 'A': return DAYS[wd]!;
      case 'b': case 'h': return MONTHS[mo]!.slice(0, 3);
      case 'B': return MONTHS[mo]!;
      case 'p': return h < 12 ? 'AM' : 'PM';
      case 'c': return `${DAYS[wd]!.slice(0, 3)} ${MONTHS[mo]!.slice(0, 3)} ${pad(d, 2, ' ')} ${pad(h)}:${pad(mi)}:${pad(Math.floor(s))} ${y}`;
      case 'D': return `${pad(mo + 1)}/${pad(d)}/${pad(y % 100)}`;
      case 'F': return `${y}-${pad(mo + 1)}-${pad(d)}`;
      case 'T': return `${pad(h)}:${pad(mi)}:${pad(Math.floor(s))}`;
      case 'R': return `${pad(h)}:${pad(mi)}`;
      case 'r': return `${pad(h % 12 === 0 ? 12 : h % 12)}:${pad(mi)}:${pad(Math.floor(s))} ${h < 12 ? 'AM' : 'PM'}`;
      case 's': return String(Math.floor(date.getTime() / 1000));
      case 'u': return String(wd === 0 ? 7 : wd);
      case 'w': return String(wd);
      case 'n': return '\n';
      case 't': return '\t';
      case '%': return '%';
      case 'G': return String(y);
      default: return `%${c}`;
    }
  });
}

export function strptime(v: unknown, fmt: unknown): number[] {
  if (typeof v !== 'string') throw new JqError(`strptime/1 requires string inputs and arguments`);
  if (typeof fmt !== 'string') throw new JqError('strptime/1 requires string inputs and arguments');
  let y = 1900, mo = 0, d = 1, h = 0, mi = 0, s = 0, offset = 0;
  let i = 0;
  const fail = (): never => { throw new JqError(`date "${v}" does not match format "${fmt}"`); };
  const num = (min: number, max: number): number => {
    const m = new RegExp(`^[+-]?\\d{${min},${max}}`).exec(v.slice(i));
    if (!m) fail();
    i += m![0].length;
    return Number(m![0]);
  };
  const word = (list: string[]): number => {
    const rest = v.slice(i).toLowerCase();
    for (let j = 0; j < list.length; j++) {
      const full = list[j]!.toLowerCase();
      if (rest.startsWith(full)) { i += full.length; return j; }
      if (rest.startsWith(full.slice(0, 3))) { i += 3; return j; }
    }
    return fail();
  };
  for (let f = 0; f < fmt.length; f++) {
    const c = fmt[f]!;
    if (c !== '%') {
      if (/\s/.test(c)) { while (i < v.length && /\s/.test(v[i]!)) i++; continue; }
      if (v[i] !== c) fail();
      i++;
      continue;
    }
    const spec = fmt[++f];
    switch (spec) {
      case 'Y': y = num(1, 4); break;
      case 'm': mo = num(1, 2) - 1; break;
      case 'd': case 'e': while (v[i] === ' ') i++; d = num(1, 2); break;
      case 'H': h = num(1, 2); break;
      case 'M': mi = num(1, 2); break;
      case 'S': s = num(1, 2); break;
      case 'y': { const yy = num(1, 2); y = yy < 69 ? 2000 + yy : 1900 + yy; break; }
      case 'j': { const jd = num(1, 3); const dt = new Date(Date.UTC(y, 0, jd)); mo = dt.getUTCMonth(); d = dt.getUTCDate(); break; }
      case 'a': case 'A': word(DAYS); break;
      case 'b': case 'B': case 'h': mo = word(MONTHS); break;
      case 'T': h = num(1, 2); if (v[i++] !== ':') fail(); mi = num(1, 2); if (v[i++] !== ':') fail(); s = num(1, 2); break;
      case 'F': y = num(1, 4); if (v[i++] !== '-') fail(); mo = num(1, 2) - 1; if (v[i++] !== '-') fail(); d = num(1, 2); break;
      case 'Z': { const m = /^[A-Za-z]+/.exec(v.slice(i)); if (m) i += m[0].length; break; }
      case 'z': {
        const m = /^([+-])(\d\d):?(\d\d)|^Z/.exec(v.slice(i));
        if (!m) fail();
        i += m![0].length;
        if (m![1]) offset = (m![1] === '-' ? -1 : 1) * (Number(m![2]) * 60 + Number(m![3]));
        break;
      }
      case 's': { const t = num(1, 20); const b = gmtime(t); [y, mo, d, h, mi, s] = b as [number, number, number, number, number, number]; break; }
      case '%': if (v[i++] !== '%') fail(); break;
      default: throw new JqError(`strptime/1: unsupported format directive %${spec}`);
    }
  }
  if (i !== v.length) fail();
  let t = Date.UTC(y, mo, d, h, mi, s);
  if (offset) t -= offset * 60000;
  const dt = new Date(t);
  const Y = dt.getUTCFullYear(), M = dt.getUTCMonth(), D = dt.getUTCDate();
  return [Y, M, D, dt.getUTCHours(), dt.getUTCMinutes(), dt.getUTCSeconds(), dt.getUTCDay(), yday(Y, M, D)];
}

export function fromDateIso(v: unknown): number {
  if (typeof v !== 'string') throw new JqError(`${describe(v)} cannot be parsed as a date`);
  return mktime(strptime(v, '%Y-%m-%dT%H:%M:%SZ'));
}

export function toDateIso(v: unknown): string {
  return strftime(v, '%Y-%m-%dT%H:%M:%SZ', 'strftime/1');
}
