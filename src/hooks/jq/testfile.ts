// jq's own test-file format (as `jq --run-tests` reads it): a program line, an input line and
// the expected outputs up to a blank or comment line; `%%FAIL` / `%%FAIL IGNORE MSG` blocks hold a
// program that must not compile followed by the expected error message.
import { compileJq, JqParseError, JqLimitError, JqRuntimeError, type CompileOptions } from './index.ts';
import { parseJsonValue } from './json.ts';
import { equals, toJson } from './values.ts';

export interface JqTestCase {
  line: number;
  program: string;
  kind: 'run' | 'fail';
  /** for 'run' */
  input?: string;
  expected: string[];
  /** for 'fail': compare the message unless IGNORE MSG */
  checkMessage?: boolean;
}

export interface JqTestResult {
  test: JqTestCase;
  ok: boolean;
  detail?: string;
}

const isSkip = (l: string) => l.trim() === '' || l.trimStart().startsWith('#');

export function parseJqTests(text: string): JqTestCase[] {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const tests: JqTestCase[] = [];
  let i = 0;
  while (i < lines.length) {
    if (isSkip(lines[i]!)) { i++; continue; }
    const head = lines[i]!;
    if (head.startsWith('%%FAIL')) {
      const checkMessage = !head.includes('IGNORE MSG');
      const program = lines[i + 1] ?? '';
      const line = i + 2;
      i += 2;
      const expected: string[] = [];
      while (i < lines.length && lines[i]!.trim() !== '') expected.push(lines[i++]!);
      tests.push({ line, program, kind: 'fail', expected, checkMessage });
      continue;
    }
    const line = i + 1;
    const program = head;
    const input = lines[i + 1] ?? 'null';
    i += 2;
    const expected: string[] = [];
    while (i < lines.length && !isSkip(lines[i]!)) expected.push(lines[i++]!);
    tests.push({ line, program, kind: 'run', input, expected });
  }
  return tests;
}

export function formatCompileError(err: JqParseError): string {
  return `jq: error: ${err.message} at <top-level>, line ${err.line}:`;
}

export function runJqTest(t: JqTestCase, options: CompileOptions = {}): JqTestResult {
  if (t.kind === 'fail') {
    try {
      compileJq(t.program, options);
    } catch (err) {
      if (!(err instanceof JqParseError)) return { test: t, ok: false, detail: `unexpected ${String(err)}` };
      if (!t.checkMessage) return { test: t, ok: true };
      const got = formatCompileError(err);
      const want = t.expected[0] ?? '';
      return got === want ? { test: t, ok: true } : { test: t, ok: false, detail: `expected error ${want}, but got ${got}` };
    }
    return { test: t, ok: false, detail: 'program compiled but was expected to fail' };
  }
  let filter;
  try {
    filter = compileJq(t.program, options);
  } catch (err) {
    return { test: t, ok: false, detail: `compile error: ${(err as Error).message}` };
  }
  let input: unknown;
  let expected: unknown[];
  try {
    input = parseJsonValue(t.input!);
    expected = t.expected.map((l) => parseJsonValue(l));
  } catch (err) {
    return { test: t, ok: false, detail: `malformed test: ${(err as Error).message}` };
  }
  const got: unknown[] = [];
  let error: string | null = null;
  try {
    filter.each(input, (v) => {
      got.push(v);
      return got.length <= expected.length;
    }, { maxSteps: 5_000_000 });
  } catch (err) {
    if (err instanceof JqRuntimeError || err instanceof JqLimitError) error = err.message;
    else error = `internal error: ${String(err)}`;
  }
  for (let j = 0; j < expected.length; j++) {
    if (j >= got.length) return { test: t, ok: false, detail: `insufficient results${error ? ` (error: ${error})` : ''}: expected ${toJson(expected[j])}` };
    if (!equals(expected[j], got[j])) return { test: t, ok: false, detail: `expected ${toJson(expected[j])}, but got ${toJson(got[j])}` };
  }
  if (got.length > expected.length) return { test: t, ok: false, detail: `superfluous result ${toJson(got[expected.length])}` };
  return { test: t, ok: true };
}

export function runJqTests(text: string, options: CompileOptions = {}): { results: JqTestResult[]; passed: number; failed: number } {
  const results = parseJqTests(text).map((t) => runJqTest(t, options));
  const passed = results.filter((r) => r.ok).length;
  return { results, passed, failed: results.length - passed };
}
