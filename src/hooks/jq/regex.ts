// Oniguruma (jq) regular expressions on top of JavaScript RegExp.
//
// Safety: JavaScript regexes cannot be interrupted, so patterns that can backtrack
// catastrophically are rejected up front: a quantified group that itself contains a
// quantifier or an alternation (`(a+)+`, `(a|aa)*`, `(\w+\s?)*`), and back-references.
// Subject strings are bounded by the string budget. See docs/jq.md.
import { JqError, describe, cpIndex } from './values.ts';

const cache = new Map<string, RegExp>();

export interface RegexMatch {
  offset: number;
  length: number;
  string: string;
  captures: { offset: number; length: number; string: string | null; name: string | null }[];
}

function translateFlags(flags: string | null): { js: string; global: boolean; skipEmpty: boolean; extended: boolean } {
  let global = false, skipEmpty = false, extended = false;
  let ignoreCase = false, singleLine = false, dotAll = false;
  for (const f of flags ?? '') {
    switch (f) {
      case 'g': global = true; break;
      case 'i': ignoreCase = true; break;
      case 'x': extended = true; break;
      case 'n': skipEmpty = true; break;
      case 's': singleLine = true; break;
      case 'p': singleLine = true; dotAll = true; break;
      case 'l': break; // longest match: JS is leftmost-first; documented difference
      default: throw new JqError(`${flags} is not a valid modifier string`);
    }
  }
  // jq compiles with ONIG_SYNTAX_PERL_NT, whose default options include SINGLELINE: `^` is the start
  // of the string and `$` its end (or before a final newline) — so 's' changes nothing here.
  void singleLine;
  let js = 'gu';
  if (ignoreCase) js += 'i';
  if (dotAll) js += 's';
  return { js, global, skipEmpty, extended };
}

const POSIX: Record<string, string> = {
  alpha: 'a-zA-Z', digit: '0-9', alnum: 'a-zA-Z0-9', upper: 'A-Z', lower: 'a-z', space: '\\s',
  punct: '!-\\/:-@\\[-`{-~', xdigit: '0-9A-Fa-f', word: '\\w', blank: ' \\t', cntrl: '\\x00-\\x1f\\x7f',
  print: '\\x20-\\x7e', graph: '\\x21-\\x7e',
};

/** Oniguruma → JS syntax, plus the catastrophic-backtracking check. */
// Oniguruma's \w, \d and \b are Unicode-aware (UTF-8 encoding, no ASCII_RANGE option); JS's are ASCII.
const WORD = '\\p{L}\\p{M}\\p{Nd}\\p{Pc}';

function translatePattern(src: string, extended: boolean, unicode = true): string {
  let out = '';
  // stack of groups: whether the group contains a quantifier or alternation
  const groups: { risky: boolean }[] = [];
  let lastAtomRisky = false; // the atom just closed was a group containing quantifiers/alternation
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (inClass) {
      if (c === '\\') {
        const d = src[i + 1] ?? '';
        i++;
        if (unicode && d === 'w') out += WORD;
        else if (unicode && d === 'd') out += '\\p{Nd}';
        else if (d === 'h') out += '0-9a-fA-F';
        else out += '\\' + d;
        continue;
      }
      if (c === '[' && src[i + 1] === ':') {
        const end = src.indexOf(':]', i + 2);
        if (end > 0) {
          const name = src.slice(i + 2, end);
          const neg = name.startsWith('^');
          const cls = POSIX[neg ? name.slice(1) : name];
          if (cls && !neg) { out += cls; i = end + 1; continue; }
        }
      }
      if (c === '[') { out += '\\['; continue; }
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (extended && /\s/.test(c)) continue;
    if (extended && c === '#') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    switch (c) {
      case '\\': {
        const d = src[i + 1] ?? '';
        i++;
        if (/[1-9]/.test(d) || d === 'k') throw new JqError(`${src} (at offset ${i}) is not a valid regex: back-references are not supported`);
        if (unicode && d === 'w') out += `[${WORD}]`;
        else if (unicode && d === 'W') out += `[^${WORD}]`;
        else if (unicode && d === 'd') out += '\\p{Nd}';
        else if (unicode && d === 'D') out += '\\P{Nd}';
        else if (unicode && d === 'b') out += `(?:(?<=[${WORD}])(?![${WORD}])|(?<![${WORD}])(?=[${WORD}]))`;
        else if (unicode && d === 'B') out += `(?:(?<=[${WORD}])(?=[${WORD}])|(?<![${WORD}])(?![${WORD}]))`;
        else if (d === 'A') out += '(?<![\\s\\S])';
        else if (d === 'z') out += '(?![\\s\\S])';
        else if (d === 'Z') out += '(?=\\n?(?![\\s\\S]))';
        else if (d === 'h') out += '[0-9a-fA-F]';
        else if (d === 'H') out += '[^0-9a-fA-F]';
        else out += '\\' + d;
        lastAtomRisky = false;
        continue;
      }
      case '[':
        inClass = true;
        out += c;
        if (src[i + 1] === '^') { out += '^'; i++; }
        if (src[i + 1] === ']') { out += '\\]'; i++; }
        lastAtomRisky = false;
        continue;
      case '(':
        groups.push({ risky: false });
        out += c;
        if (src[i + 1] === '?' && src[i + 2] === '<' && src[i + 3] !== '=' && src[i + 3] !== '!') {
          // named group: (?<name>…) is the same in JS
        }
        lastAtomRisky = false;
        continue;
      case ')': {
        const g = groups.pop();
        out += c;
        lastAtomRisky = g?.risky ?? false;
        if (g?.risky && groups.length) groups[groups.length - 1]!.risky = true;
        continue;
      }
      case '$':
        out += '(?=\\n?$)';
        lastAtomRisky = false;
        continue;
      case '|':
        if (groups.length) groups[groups.length - 1]!.risky = true;
        out += c;
        lastAtomRisky = false;
        continue;
      case '*': case '+': case '?': case '{': {
        let q: string = c;
        if (c === '{') {
          const m = /^\{(\d*)(,?)(\d*)\}/.exec(src.slice(i));
          if (!m) { out += '\\{'; lastAtomRisky = false; continue; }
          q = m[0];
          i += q.length - 1;
        }
        const unbounded = q === '*' || q === '+' || /^\{\d*,\}$/.test(q);
        const multi = q !== '?' && q !== '{0,1}' && q !== '{1}';
        // a fixed count like {3} matches one way only, so it does not make an enclosing repetition ambiguous
        const exact = /^\{(\d+)\}$/.test(q) || /^\{(\d+),\1\}$/.test(q);
        if (lastAtomRisky && (unbounded || multi)) {
          throw new JqError(`${src} is not a supported regex: nested quantifiers can backtrack catastrophically`);
        }
        if (multi && !exact && groups.length) groups[groups.length - 1]!.risky = true;
        // lazy / possessive suffixes
        if (src[i + 1] === '?') { q += '?'; i++; }
        else if (src[i + 1] === '+') { i++; }
        out += q;
        lastAtomRisky = false;
        continue;
      }
      default:
        out += c;
        lastAtomRisky = false;
    }
  }
  return out;
}

export function compileRegex(re: unknown, flags: unknown, withIndices = true): { rx: RegExp; global: boolean; skipEmpty: boolean } {
  if (typeof re !== 'string') throw new JqError(`${describe(re)} cannot be matched, as it is not a string`);
  if (flags !== null && typeof flags !== 'string') throw new JqError(`${describe(flags)} is not a string`);
  const f = translateFlags(flags as string | null);
  if (withIndices) f.js = 'd' + f.js;
  const key = `${f.js}\u0000${f.extended ? 'x' : ''}\u0000${re}`;
  let rx = cache.get(key);
  if (!rx) {
    let src = translatePattern(re, f.extended);
    try {
      rx = new RegExp(src, f.js);
    } catch {
      try {
        src = translatePattern(re, f.extended, false);
        rx = new RegExp(src, f.js.replace('u', ''));
      } catch (err) {
        throw new JqError(`${re} (at offset 0) is not a valid regex: ${(err as Error).message}`);
      }
    }
    if (cache.size > 500) cache.clear();
    cache.set(key, rx);
  }
  return { rx, global: f.global, skipEmpty: f.skipEmpty };
}

/** Capture-group index → name, by scanning the translated source for group openings. */
function groupNames(rx: RegExp, m: RegExpExecArray, names: (string | null)[]): void {
  const declared = m.groups ? Object.keys(m.groups) : [];
  const src = rx.source;
  let idx = 0;
  for (let i = 0; i < src.length; i++) {
    if (src[i] === '\\') { i++; continue; }
    if (src[i] === '[') { while (i < src.length && src[i] !== ']') { if (src[i] === '\\') i++; i++; } continue; }
    if (src[i] !== '(') continue;
    if (src[i + 1] === '?') {
      const nm = /^\(\?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(src.slice(i));
      if (nm && declared.includes(nm[1]!)) names[idx++] = nm[1]!;
      continue;
    }
    names[idx++] = null;
  }
}

export function regexMatches(input: unknown, re: unknown, flags: unknown, testOnly = false): RegexMatch[] {
  if (typeof input !== 'string') throw new JqError(`${describe(input)} cannot be matched, as it is not a string`);
  const { rx, global, skipEmpty } = compileRegex(re, flags, !testOnly);
  const out: RegexMatch[] = [];
  const names: (string | null)[] = [];
  // jq's loop: search from `start`; after an empty match move one code point on; stop once start reaches the end.
  let start = 0;
  do {
    rx.lastIndex = start;
    const m = rx.exec(input);
    if (!m) break;
    const empty = m[0].length === 0;
    if (empty) {
      const cp = input.codePointAt(m.index);
      start = m.index + (cp !== undefined && cp > 0xffff ? 2 : 1);
    } else start = m.index + m[0].length;
    if (empty && skipEmpty) continue;
    if (testOnly) return [{ offset: 0, length: 0, string: '', captures: [] }];
    const offset = cpIndex(input, m.index);
    if (empty) {
      out.push({ offset, length: 0, string: '', captures: [] });
      continue;
    }
    if (names.length === 0 && m.length > 1) groupNames(rx, m, names);
    const captures = [];
    for (let g = 1; g < m.length; g++) {
      const sub = m[g];
      const name = names[g - 1] ?? null;
      if (sub === undefined) {
        captures.push({ offset: -1, length: 0, string: null, name });
        continue;
      }
      const at = m.indices ? m.indices[g]![0] : input.indexOf(sub, m.index);
      captures.push({ offset: cpIndex(input, at), length: [...sub].length, string: sub, name });
    }
    out.push({ offset, length: [...m[0]].length, string: m[0], captures });
  } while (global && start < input.length);
  return out;
}
