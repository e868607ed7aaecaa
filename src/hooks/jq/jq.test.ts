import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileJq, checkJq, JqParseError, JqLimitError, JqRuntimeError } from './index.ts';
import { parseJqTests, runJqTest } from './testfile.ts';
import { jqCommand } from './cli.ts';

const corpus = new URL('../../../../shared/corpora/jq/', import.meta.url).pathname;

// jq's own test setup runs with PAGER=less in the environment (the `$ENV.PAGER` / `env.PAGER`
// examples expect it). Hook filters get `env == {}`; the corpus runs with that one variable.
const CORPUS_ENV = { PAGER: 'less' };

for (const file of ['man.test', 'manonig.test']) {
  describe(`jq corpus ${file}`, () => {
    const path = join(corpus, file);
    if (!existsSync(path)) {
      test.skip(`corpus ${path} not present`, () => {});
      return;
    }
    const cases = parseJqTests(readFileSync(path, 'utf8'));
    test('every case passes (pass rate 100 %, nothing left out)', () => {
      const failures: string[] = [];
      let passed = 0;
      for (const t of cases) {
        const r = runJqTest(t, { env: CORPUS_ENV });
        if (r.ok) passed++;
        else failures.push(`line ${t.line}: ${t.program}\n  ${r.detail}`);
      }
      assert.deepEqual(failures, []);
      assert.equal(passed, cases.length);
      assert.ok(cases.length > (file === 'man.test' ? 200 : 15));
    });
  });
}

describe('jq language', () => {
  const run = (f: string, input: unknown = null) => compileJq(f).run(input);
  test('paths, pipes, alternatives, optional', () => {
    assert.deepEqual(run('.a.b, .["x"], (.c // "d")', { a: { b: 1 }, x: 2, c: null }), [1, 2, 'd']);
    assert.deepEqual(run('.[1:3], .[-1:], .[1]', [1, 2, 3, 4]), [[2, 3], [4], 2]);
    assert.deepEqual(run('[.[] | .a?]', [1, { a: 2 }, 'x']), [[2]]);
    assert.deepEqual(run('[..]', [[1]]), [[[[1]], [1], 1]]);
    assert.deepEqual(run('.meta.tag[]? | .code', { resourceType: 'X' }), []);
    assert.deepEqual(run('.constructor, .__proto__, .toString', {}), [null, null, null]);
  });
  test('total ordering across types', () => {
    assert.deepEqual(run('sort', [{}, [], 'a', 1, true, false, null]), [[null, false, true, 1, 'a', [], {}]]);
  });
  test('functions, closures, recursion, destructuring', () => {
    assert.deepEqual(run('def f(g): [g, g]; def fac: if . <= 1 then 1 else . * (. - 1 | fac) end; f(5 | fac)'), [[120, 120]]);
    assert.deepEqual(run('. as [$a, {b: $c}] | $a + $c', [1, { b: 2 }]), [3]);
    assert.deepEqual(run('. as {a: $x} ?// [$x] | $x', [7]), [7]);
    assert.deepEqual(run('[label $f | range(10) | ., (select(. == 2) | break $f)]'), [[0, 1, 2]]);
  });
  test('assignment operators', () => {
    assert.deepEqual(run('.a += 1 | .b //= 5 | .c |= length | del(.d)', { a: 1, c: 'abc', d: 0 }), [{ a: 2, c: 3, b: 5 }]);
    assert.deepEqual(run('(.[] | select(. > 1)) |= empty', [1, 2, 3, 1]), [[1, 1]]);
  });
  test('reduce may update its own accumulator in place without leaking the mutation', () => {
    assert.deepEqual(run('. as $orig | reduce range(3) as $i (.; .[$i|tostring] = $i) | [., $orig]', {}), [[{ 0: 0, 1: 1, 2: 2 }, {}]]);
    assert.deepEqual(run('[.[] as $a | reduce (1,2) as $x ($a; . + [$x])], .', [[0], [5]]), [[[0, 1, 2], [5, 1, 2]], [[0], [5]]]);
    assert.deepEqual(run('reduce range(3) as $i ({a: []}; .a += [$i])'), [{ a: [0, 1, 2] }]);
    assert.deepEqual(run('reduce range(2) as $i ({}; .x = .)'), [{ x: { x: {} } }]);
    assert.deepEqual(run('[foreach range(3) as $i ({}; .[$i|tostring] = 1)]'), [[{ 0: 1 }, { 0: 1, 1: 1 }, { 0: 1, 1: 1, 2: 1 }]]);
    assert.deepEqual(run('reduce range(2) as $i ({}; .[$i|tostring] |= (reduce range(2) as $j ({}; .[$j|tostring] = $j)))'),
      [{ 0: { 0: 0, 1: 1 }, 1: { 0: 0, 1: 1 } }]);
    assert.deepEqual(run('INDEX(.[]; .id) | keys', [{ id: 'b' }, { id: 'a' }]), [['a', 'b']]);
    const big = compileJq('reduce range(20000) as $i ({}; .["k\\($i)"] = $i) | length').run(null);
    assert.deepEqual(big, [20000]);
  });
  test('errors: try/catch sees jq messages; uncaught errors surface from run()', () => {
    assert.deepEqual(run('try (1 / .) catch .', 0), ['number (1) and number (0) cannot be divided because the divisor is zero']);
    assert.deepEqual(run('[.[] | try .a catch .]', [{ a: 1 }, 'x']), [[1, 'Cannot index string with string "a"']]);
    assert.throws(() => run('.a', 5), (e: unknown) => e instanceof JqRuntimeError && e.message === 'Cannot index number with string "a"');
  });
  test('regex flags and safety', () => {
    // jq uses Oniguruma's Perl_NT syntax: ^/$ anchor the whole string ($ also before a final newline)
    assert.deepEqual(run('[test("A B"; "ix"), test("^b"), test("a$"), test("b$"), test("^a.b$"), test("^a.b$"; "p")]', 'a\nb'), [[false, false, false, true, false, true]]);
    assert.deepEqual(run(String.raw`[test("x$"), test("^\\w+$"), test("\\bé"), [scan("\\d+")]]`, 'José 42 x\n'), [[true, false, false, ['42']]]);
    assert.deepEqual(run(String.raw`[.[] | test("^\\w+$")]`, ['José', 'Zoë_1', 'a b']), [[true, true, false]]);
    assert.throws(() => run('test("(a+)+$")', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!'), JqRuntimeError);
    assert.throws(() => run('test("(a|aa)*$")', 'aaaa'), /nested quantifiers/);
  });
  test('formats', () => {
    assert.deepEqual(run('@base64 "x\\(.a)", (.a | @base64d), (.b | @uri), ([.a, 1, null] | @csv)', { a: 'aGk=', b: 'a b&é' }),
      ['xYUdrPQ==', 'hi', 'a%20b%26%C3%A9', '"aGk=",1,']);
  });
});

describe('embedding', () => {
  test('a filter may run inside another filter\'s output callback', () => {
    const inner = compileJq('.x + 1');
    const seen: unknown[] = [];
    compileJq('.[]').each([{ x: 1 }, { x: 2 }], (v) => { seen.push(inner.run(v)[0]); });
    assert.deepEqual(seen, [2, 3]);
    assert.deepEqual(compileJq('@uri "\\(.)", (@uri | @urid)').run('a b/é'), ['a%20b%2F%C3%A9', 'a b/é']);
  });
});

describe('environment', () => {
  test('env and $ENV are empty for hook filters unless an environment is passed explicitly', () => {
    assert.deepEqual(compileJq('[env, $ENV]').run(null), [[{}, {}]]);
    assert.deepEqual(compileJq('$ENV.PAGER, env.PAGER').run(null), [null, null]);
    assert.deepEqual(compileJq('$ENV.X').run(null, {}), [null]);
    assert.deepEqual(compileJq('$ENV.X, env.X', { env: { X: '1' } }).run(null), ['1', '1']);
  });
});

describe('compile errors', () => {
  test('JqParseError carries position, line and column', () => {
    try {
      compileJq('.a |\n  .b ]');
      assert.fail('should not compile');
    } catch (err) {
      assert.ok(err instanceof JqParseError);
      assert.equal(err.line, 2);
      assert.equal(err.column, 6);
      assert.equal(err.position, 10);
    }
    assert.match(String(checkJq('foo(1)')?.message), /foo\/1 is not defined/);
    assert.equal(checkJq('.a'), null);
    assert.match(String(checkJq('('.repeat(100_000) + '.' + ')'.repeat(100_000))?.message), /nests too deeply/);
  });
});

describe('hook matching', () => {
  const obs = { resourceType: 'Observation', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] } };
  test('first output truthy → match; errors / no output → no match', () => {
    assert.deepEqual(compileJq('.resourceType == "Observation" and any(.code.coding[]; .code == "8867-4")').matches(obs), { matched: true });
    assert.equal(compileJq('select(.resourceType == "Patient")').matches(obs).matched, false);
    assert.equal(compileJq('empty').matches(obs).matched, false);
    assert.equal(compileJq('null, true').matches(obs).matched, false);
    const err = compileJq('.code | error("boom")').matches(obs);
    assert.equal(err.matched, false);
    assert.equal(err.error, 'boom');
    assert.equal(err.aborted, undefined);
  });
  test('runaway filters are stopped by the budget', () => {
    const cases: [string, 'steps' | 'memory' | 'depth'][] = [
      ['[repeat(1)] | length > 0', 'memory'],
      ['range(1e12) | select(. < 0)', 'steps'],
      ['def f: f; f', 'depth'],
      ['def f: 1 + f; f', 'depth'],
      ['[range(1e9)] | length', 'memory'],
      ['"x" * 1e9', 'memory'],
      ['reduce range(1e7) as $i (""; . + "xxxxxxxxxx")', 'steps'],
      ['last(repeat(1))', 'steps'],
      ['[limit(1e9; repeat("abc"))] | length', 'memory'],
      ['until(false; .)', 'steps'],
      ['last(foreach range(100000) as $i ({}; .["k\\($i)"] = $i)) | length', 'steps'],
    ];
    for (const [f, kind] of cases) {
      const r = compileJq(f).matches({ a: 1 });
      assert.equal(r.matched, false, f);
      assert.equal(r.aborted, kind, `${f}: ${JSON.stringify(r)}`);
    }
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    assert.equal(compileJq('tojson | length').matches(deep).aborted, 'depth');
    assert.throws(() => compileJq('repeat(1)').run(null), JqLimitError);
    assert.throws(() => compileJq('[range(20)]').run(null, { maxSteps: 10 }), JqLimitError);
    assert.deepEqual(compileJq('[limit(3; repeat(1))]').run(null), [[1, 1, 1]]);
  });
});

describe('tessera jq CLI', () => {
  const capture = async (argv: string[]) => {
    const chunks: string[] = [];
    const code = await jqCommand(argv, { stdout: (s) => { chunks.push(s); }, stderr: () => {} });
    return { code, out: chunks.join('') };
  };
  const dir = mkdtempSync(join(tmpdir(), 'tessera-jq-'));
  test('evaluates a filter over a stream of JSON inputs', async () => {
    const f = join(dir, 'in.json');
    writeFileSync(f, '{"a":1} {"a":"x"}\n[1,2]');
    assert.deepEqual(await capture(['-r', '.a? // .[0]', f]), { code: 0, out: '1\nx\n1\n' });
    assert.deepEqual(await capture(['-n', '--arg', 'v', 'hi', '[$v, 1]']), { code: 0, out: '["hi",1]\n' });
    assert.deepEqual(await capture(['-n', '[inputs | .a?]', f]), { code: 0, out: '[1,"x"]\n' });
    // the second run finds no input left for `input`: a runtime error, exit status 5 as in jq
    assert.deepEqual(await capture(['-c', '[., input]', f]), { code: 5, out: '[{"a":1},{"a":"x"}]\n' });
    assert.throws(() => compileJq('input').run(null), /not supported in filters/);
  });
  test('--run-tests ends with the summary line', async () => {
    const f = join(dir, 't.test');
    writeFileSync(f, '# comment\n.a\n{"a":1}\n1\n\n%%FAIL\n{(0):1}\njq: error: Cannot use number (0) as object key at <top-level>, line 1:\n\n.[]\n[1,2]\n1\n3\n');
    const { code, out } = await capture(['--run-tests', f]);
    assert.equal(code, 1);
    assert.match(out, /\n2 passed, 1 failed\n$/);
  });
});
