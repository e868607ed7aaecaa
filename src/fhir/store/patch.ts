// JSON Patch (RFC 6902) over a plain JSON value; pointers per RFC 6901. Written here because it is ~80 lines
// and the packages in the registry snapshot either mutate in place or lag on `test` semantics.
import { badRequest, unprocessable } from '../../platform/errors.ts';

export interface PatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: unknown;
}

type Json = unknown;

function parsePointer(pointer: string, where: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw badRequest(`Invalid JSON pointer '${pointer}'`, [{ code: 'invalid', message: `Invalid JSON pointer '${pointer}'`, path: where }]);
  return pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

function fail(message: string, index: number): never {
  throw unprocessable(message, [{ code: 'processing', message, path: `/${index}` }]);
}

function getParent(doc: Json, tokens: string[], index: number): Json {
  let cur = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) {
      const i = Number(t);
      if (!/^\d+$/.test(t) || i >= cur.length) fail(`Path segment '${t}' does not exist`, index);
      cur = cur[i];
    } else if (isObject(cur)) {
      if (!Object.hasOwn(cur, t)) fail(`Path segment '${t}' does not exist`, index);
      cur = cur[t];
    } else fail(`Path segment '${t}' does not exist`, index);
  }
  return cur;
}

function getValue(doc: Json, tokens: string[], index: number): Json {
  if (tokens.length === 0) return doc;
  const parent = getParent(doc, tokens, index);
  const last = tokens[tokens.length - 1]!;
  if (Array.isArray(parent)) {
    const i = Number(last);
    if (!/^\d+$/.test(last) || i >= parent.length) fail(`Path '${last}' does not exist`, index);
    return parent[i];
  }
  if (isObject(parent) && Object.hasOwn(parent, last)) return parent[last];
  return fail(`Path '/${tokens.join('/')}' does not exist`, index);
}

function add(doc: Json, tokens: string[], value: Json, index: number): Json {
  if (tokens.length === 0) return value;
  const parent = getParent(doc, tokens, index);
  const last = tokens[tokens.length - 1]!;
  if (Array.isArray(parent)) {
    const i = last === '-' ? parent.length : Number(last);
    if (last !== '-' && (!/^\d+$/.test(last) || i > parent.length)) fail(`Array index '${last}' out of range`, index);
    parent.splice(i, 0, value);
  } else if (isObject(parent)) parent[last] = value;
  else fail(`Cannot add at '/${tokens.join('/')}'`, index);
  return doc;
}

function remove(doc: Json, tokens: string[], index: number): Json {
  if (tokens.length === 0) fail('Cannot remove the whole document', index);
  getValue(doc, tokens, index);
  const parent = getParent(doc, tokens, index);
  const last = tokens[tokens.length - 1]!;
  if (Array.isArray(parent)) parent.splice(Number(last), 1);
  else delete (parent as Record<string, Json>)[last];
  return doc;
}

/** Applies the operations to a deep copy of `document` and returns the result; throws 400/422 on bad patches. */
export function applyJsonPatch<T>(document: T, operations: unknown): T {
  if (!Array.isArray(operations)) throw badRequest('A JSON Patch body must be an array of operations');
  let doc: Json = structuredClone(document);
  operations.forEach((raw, index) => {
    const op = raw as PatchOperation;
    if (!isObject(op) || typeof op.op !== 'string' || typeof op.path !== 'string') {
      throw badRequest(`Patch operation ${index} needs 'op' and 'path'`, [{ code: 'invalid', message: `Patch operation ${index} needs 'op' and 'path'`, path: `/${index}` }]);
    }
    const path = parsePointer(op.path, `/${index}/path`);
    switch (op.op) {
      case 'add':
        if (!('value' in op)) throw badRequest(`Patch operation ${index} needs 'value'`);
        doc = add(doc, path, structuredClone(op.value), index);
        break;
      case 'remove':
        doc = remove(doc, path, index);
        break;
      case 'replace':
        if (!('value' in op)) throw badRequest(`Patch operation ${index} needs 'value'`);
        getValue(doc, path, index);
        doc = add(remove(doc, path, index), path, structuredClone(op.value), index);
        break;
      case 'move': {
        const from = parsePointer(String(op.from ?? ''), `/${index}/from`);
        const v = getValue(doc, from, index);
        doc = add(remove(doc, from, index), path, v, index);
        break;
      }
      case 'copy': {
        const from = parsePointer(String(op.from ?? ''), `/${index}/from`);
        doc = add(doc, path, structuredClone(getValue(doc, from, index)), index);
        break;
      }
      case 'test':
        if (!deepEqual(getValue(doc, path, index), op.value)) fail(`Patch test failed at '${op.path}'`, index);
        break;
      default:
        throw badRequest(`Unknown patch operation '${String(op.op)}'`, [{ code: 'invalid', message: `Unknown patch operation '${String(op.op)}'`, path: `/${index}/op` }]);
    }
  });
  return doc as T;
}
