// JSON text → values the way jq reads them: a stream of whitespace-separated values, also
// accepting jq's extensions nan / NaN / Infinity / -Infinity. JSON.parse is tried first (fast path).

export class JsonParseError extends Error {}

export function parseJsonValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    const values = parseJsonStream(text);
    if (values.length !== 1) throw new JsonParseError(values.length === 0 ? 'Expected JSON value' : 'Unexpected extra JSON values');
    return values[0];
  }
}

export function parseJsonStream(text: string): unknown[] {
  const out: unknown[] = [];
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13 || c === 0xfeff) i++;
      else break;
    }
  };
  const fail = (msg: string): never => { throw new JsonParseError(`${msg} at offset ${i}`); };
  const word = (w: string) => text.startsWith(w, i);
  const value = (depth: number): unknown => {
    if (depth > 10000) fail('Exceeds depth limit for parsing');
    ws();
    if (i >= n) fail('Unfinished JSON term');
    const c = text[i]!;
    if (c === '{') {
      i++;
      const o: Record<string, unknown> = {};
      ws();
      if (text[i] === '}') { i++; return o; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('Object keys must be strings');
        const k = str();
        ws();
        if (text[i] !== ':') fail("Objects must consist of key:value pairs");
        i++;
        const v = value(depth + 1);
        if (k === '__proto__') Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
        else o[k] = v;
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return o; }
        fail("Expected separator between values");
      }
    }
    if (c === '[') {
      i++;
      const a: unknown[] = [];
      ws();
      if (text[i] === ']') { i++; return a; }
      for (;;) {
        a.push(value(depth + 1));
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return a; }
        fail('Expected separator between values');
      }
    }
    if (c === '"') return str();
    if (word('true')) { i += 4; return true; }
    if (word('false')) { i += 5; return false; }
    if (word('null')) { i += 4; return null; }
    if (word('nan') || word('NaN')) { i += 3; return NaN; }
    if (word('-nan') || word('-NaN')) { i += 4; return NaN; }
    if (word('Infinity')) { i += 8; return Infinity; }
    if (word('-Infinity')) { i += 9; return -Infinity; }
    const m = /-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/y;
    m.lastIndex = i;
    const r = m.exec(text);
    if (!r) fail('Invalid literal');
    i += r![0].length;
    return Number(r![0]);
  };
  const str = (): string => {
    i++; // opening quote
    let s = '';
    let start = i;
    for (;;) {
      if (i >= n) fail('Unfinished string');
      const c = text.charCodeAt(i);
      if (c === 34) { s += text.slice(start, i); i++; return s; }
      if (c === 92) {
        s += text.slice(start, i);
        const e = text[i + 1];
        i += 2;
        switch (e) {
          case '"': s += '"'; break;
          case '\\': s += '\\'; break;
          case '/': s += '/'; break;
          case 'b': s += '\b'; break;
          case 'f': s += '\f'; break;
          case 'n': s += '\n'; break;
          case 'r': s += '\r'; break;
          case 't': s += '\t'; break;
          case 'u': {
            const h = text.slice(i, i + 4);
            if (!/^[0-9a-fA-F]{4}$/.test(h)) fail('Invalid escape');
            s += String.fromCharCode(parseInt(h, 16));
            i += 4;
            break;
          }
          default: fail('Invalid escape');
        }
        start = i;
        continue;
      }
      i++;
    }
  };
  for (;;) {
    ws();
    if (i >= n) break;
    out.push(value(0));
  }
  return out;
}
