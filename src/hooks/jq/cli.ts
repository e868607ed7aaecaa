// `tessera jq '<filter>' [file…]` and `tessera jq --run-tests <file>`.
import { readFile } from 'node:fs/promises';
import { compileJq, JqLimitError, JqParseError, JqRuntimeError, parseJsonStream, toJson, toJsonPretty } from './index.ts';
import { formatCompileError, runJqTests } from './testfile.ts';

const USAGE = `usage: tessera jq [-c] [-r] [-j] [-n] [-s] [-R] [-e] [--tab|--indent n] [--arg name value] [--argjson name json] '<filter>' [file…]
       tessera jq --run-tests <file>`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export interface JqCommandIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  stdin: () => Promise<string>;
}

export async function jqCommand(argv: string[], io?: Partial<JqCommandIO>): Promise<number> {
  const out = io?.stdout ?? ((s: string) => { process.stdout.write(s); });
  const err = io?.stderr ?? ((s: string) => { process.stderr.write(s); });
  const stdin = io?.stdin ?? readStdin;
  if (argv[0] === '--run-tests') {
    const file = argv[1];
    if (!file) { err(USAGE + '\n'); return 2; }
    let text: string;
    try { text = await readFile(file, 'utf8'); } catch (e) { err(`jq: error: Could not open ${file}: ${(e as Error).message}\n`); return 2; }
    const { results, passed, failed } = runJqTests(text, { env: processEnv() });
    for (const r of results) {
      if (!r.ok) out(`*** Test at line ${r.test.line} failed: ${r.test.program}\n    ${r.detail}\n`);
    }
    out(`${passed} passed, ${failed} failed\n`);
    return failed === 0 ? 0 : 1;
  }
  let compact = true, raw = false, join = false, nullInput = false, slurp = false, rawInput = false, exitStatus = false, indent = 2;
  const vars: string[] = [];
  let filter: string | undefined;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-c' || a === '--compact-output') compact = true;
    else if (a === '--pretty') compact = false;
    else if (a === '--indent') { compact = false; indent = Number(argv[++i]); }
    else if (a === '--tab') { compact = false; indent = -1; }
    else if (a === '-r' || a === '--raw-output') raw = true;
    else if (a === '-j' || a === '--join-output') { raw = true; join = true; }
    else if (a === '-n' || a === '--null-input') nullInput = true;
    else if (a === '-s' || a === '--slurp') slurp = true;
    else if (a === '-R' || a === '--raw-input') rawInput = true;
    else if (a === '-e' || a === '--exit-status') exitStatus = true;
    else if (a === '--arg' || a === '--argjson') {
      const name = argv[++i], value = argv[++i];
      if (!name || value === undefined || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) { err(USAGE + '\n'); return 2; }
      let json = value;
      if (a === '--argjson') {
        try { json = toJson(parseJsonStream(value)[0]); } catch { err(`jq: Invalid JSON text passed to --argjson\n`); return 2; }
      } else json = JSON.stringify(value);
      vars.push(`${json} as $${name}`);
    } else if (a === '-h' || a === '--help') { out(USAGE + '\n'); return 0; }
    else if (a.startsWith('-') && a.length > 1 && filter === undefined) { err(`jq: Unknown option: ${a}\n${USAGE}\n`); return 2; }
    else if (filter === undefined) filter = a;
    else files.push(a);
  }
  if (filter === undefined) { err(USAGE + '\n'); return 2; }
  const program = vars.length ? `. as $__input | ${vars.join(' | ')} | $__input | (${filter})` : filter;
  let compiled;
  // jq's main loop and `input`/`inputs` share one queue of inputs
  let queue: unknown[] = [];
  let cursor = 0;
  const input = () => (cursor < queue.length ? { value: queue[cursor++] } : null);
  try {
    compiled = compileJq(program, { env: processEnv(), input });
  } catch (e) {
    if (e instanceof JqParseError) {
      err(`${formatCompileError(e)}\n${filter}\njq: 1 compile error\n`);
      return 3;
    }
    throw e;
  }
  // With -n the inputs are read only when the program can ask for them (`input`/`inputs`),
  // so `tessera jq -n '1'` does not wait on a terminal.
  let inputs: unknown[] = [];
  if (!nullInput || /\binputs?\b/.test(filter)) {
    let text = '';
    try {
      if (files.length === 0) text = await stdin();
      else for (const f of files) text += (await readFile(f, 'utf8')) + '\n';
      if (rawInput) inputs = slurp ? [text] : text.split('\n').filter((l, idx, all) => idx < all.length - 1 || l !== '');
      else inputs = parseJsonStream(text);
    } catch (e) {
      err(`jq: error (at <stdin>:0): ${(e as Error).message}\n`);
      return 2;
    }
    if (slurp && !rawInput) inputs = [inputs];
  }
  const format = (v: unknown) => {
    if (raw && typeof v === 'string') return v;
    if (compact) return toJson(v);
    return toJsonPretty(v, indent < 0 ? '\t' : ' '.repeat(indent));
  };
  let status = 0;
  let last: unknown, any = false;
  queue = inputs;
  const runs = nullInput ? 1 : Infinity;
  for (let n = 0; n < runs && (nullInput || cursor < queue.length); n++) {
    const current = nullInput ? null : queue[cursor++];
    try {
      compiled.each(current, (v) => { any = true; last = v; out(format(v) + (join ? '' : '\n')); });
    } catch (e) {
      if (e instanceof JqRuntimeError || e instanceof JqLimitError) {
        err(`jq: error (at <stdin>:0): ${e.message}\n`);
        status = 5;
      } else throw e;
    }
  }
  if (exitStatus && status === 0) return !any ? 4 : last === false || last === null ? 1 : 0;
  return status;
}

function processEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (typeof v === 'string') env[k] = v;
  return env;
}
