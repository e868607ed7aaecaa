// Public surface of the jq filter engine: compile once, evaluate many times under a budget.
import { compileProgram } from './compile.ts';
import { JqParseError } from './parser.ts';
import { BreakSignal, budget } from './runtime.ts';
import { JqAbort, JqError } from './values.ts';

export { JqParseError } from './parser.ts';
export { JqError, JqAbort, toJson, toJsonPretty, numberToString } from './values.ts';
export { parseJsonStream, parseJsonValue } from './json.ts';

export interface JqLimits {
  /** Evaluation steps (loop iterations, function calls, copied elements…) per run. */
  maxSteps: number;
  /** Outputs collected by `run`. */
  maxOutputs: number;
  /** Nesting of recursive jq function calls. */
  maxDepth: number;
  /** Longest string a filter may build (UTF-16 units). */
  maxStringLength: number;
  /** Largest array a filter may build. */
  maxCollectionSize: number;
  /** Wall-clock backstop in milliseconds (checked every 1,024 steps). */
  maxMillis: number;
}

export const DEFAULT_LIMITS: Readonly<JqLimits> = Object.freeze({
  maxSteps: 1_000_000,
  maxOutputs: 100_000,
  maxDepth: 2_000,
  maxStringLength: 10_000_000,
  maxCollectionSize: 200_000,
  maxMillis: 1_000,
});

export type MatchResult = { matched: boolean; error?: string; aborted?: 'steps' | 'memory' | 'depth' };

/** Thrown by `run` when a budget is exhausted. */
export class JqLimitError extends Error {
  constructor(public readonly kind: 'steps' | 'memory' | 'depth' | 'outputs', message: string) {
    super(message);
    this.name = 'JqLimitError';
  }
}

/** Thrown by `run` for a jq runtime error that the filter did not catch. */
export class JqRuntimeError extends Error {
  constructor(public readonly value: unknown, message: string) {
    super(message);
    this.name = 'JqRuntimeError';
  }
}

export interface CompiledFilter {
  readonly source: string;
  /** All outputs. Throws JqRuntimeError (uncaught jq error) or JqLimitError (budget exhausted). */
  run(input: unknown, limits?: Partial<JqLimits>): unknown[];
  /** Streams outputs to `emit` (return false to stop early). Same errors as `run`. */
  each(input: unknown, emit: (value: unknown) => boolean | void, limits?: Partial<JqLimits>): void;
  /** Hook semantics: matched when the first output is truthy; errors and no output are no match. */
  matches(input: unknown, limits?: Partial<JqLimits>): MatchResult;
}

let running = false;
const MATCHED: MatchResult = Object.freeze({ matched: true });
const NOT_MATCHED: MatchResult = Object.freeze({ matched: false });

// A filter evaluated from inside another one's emit callback (nested run) gets its own budget;
// the outer budget is restored afterwards.
const saved: (typeof budget)[] = [];

function arm(limits: Partial<JqLimits> | undefined): void {
  if (running) saved.push({ ...budget });
  running = true;
  budget.ownedRoot = null;
  budget.lastFresh = null;
  budget.steps = 0;
  budget.depth = 0;
  if (limits) {
    budget.maxSteps = limits.maxSteps ?? DEFAULT_LIMITS.maxSteps;
    budget.maxDepth = limits.maxDepth ?? DEFAULT_LIMITS.maxDepth;
    budget.maxString = limits.maxStringLength ?? DEFAULT_LIMITS.maxStringLength;
    budget.maxCollection = limits.maxCollectionSize ?? DEFAULT_LIMITS.maxCollectionSize;
    const ms = limits.maxMillis ?? DEFAULT_LIMITS.maxMillis;
    budget.deadline = ms > 0 ? -ms : Infinity;
  } else {
    budget.maxSteps = DEFAULT_LIMITS.maxSteps;
    budget.maxDepth = DEFAULT_LIMITS.maxDepth;
    budget.maxString = DEFAULT_LIMITS.maxStringLength;
    budget.maxCollection = DEFAULT_LIMITS.maxCollectionSize;
    budget.deadline = -DEFAULT_LIMITS.maxMillis;
  }
  budget.nextClockCheck = Math.min(1024, budget.maxSteps + 1);
}

function withBudget<T>(limits: Partial<JqLimits> | undefined, body: () => T): T {
  arm(limits);
  try {
    return body();
  } finally {
    disarm();
  }
}

function disarm(): void {
  budget.ownedRoot = null;
  budget.lastFresh = null; // do not keep the last result alive between evaluations
  const prev = saved.pop();
  if (prev) Object.assign(budget, prev);
  else running = false;
}

function isStackOverflow(err: unknown): boolean {
  return err instanceof RangeError && /call stack/i.test(err.message);
}

function translate(err: unknown): Error {
  if (err instanceof JqAbort) return new JqLimitError(err.kind, err.message);
  if (isStackOverflow(err)) return new JqLimitError('depth', 'jq evaluation aborted: nesting too deep');
  if (err instanceof JqError) return new JqRuntimeError(err.value, err.message);
  if (err instanceof BreakSignal) return new JqRuntimeError(null, 'break');
  return err instanceof Error ? err : new Error(String(err));
}

export interface CompileOptions {
  /** Value of `env` / `$ENV`. Defaults to `{}`: hook filters must not see the server's environment. */
  env?: Record<string, string>;
  /** Supplies `input` / `inputs` (used by the CLI). Hook filters have none: those builtins raise an error. */
  input?: () => { value: unknown } | null;
}

export function compileJq(source: string, options: CompileOptions = {}): CompiledFilter {
  const env = options.env ? Object.freeze({ ...options.env }) : undefined;
  const c = compileProgram(source, { env, input: options.input });
  const cs = c.s;
  const firstOutput = (input: unknown): unknown => {
    let first: unknown = null;
    c.v(input === undefined ? null : input, null, (x) => { first = x; return false; });
    return first;
  };
  const each = (input: unknown, emit: (v: unknown) => boolean | void, limits?: Partial<JqLimits>) => {
    const maxOutputs = limits?.maxOutputs ?? DEFAULT_LIMITS.maxOutputs;
    withBudget(limits, () => {
      let n = 0;
      try {
        c.v(input === undefined ? null : input, null, (x) => {
          if (++n > maxOutputs) throw new JqLimitError('outputs', `jq evaluation aborted: more than ${maxOutputs} outputs`);
          return emit(x) !== false;
        });
      } catch (err) {
        if (err instanceof JqLimitError) throw err;
        throw translate(err);
      }
    });
  };
  return {
    source,
    each,
    run(input, limits) {
      const out: unknown[] = [];
      each(input, (x) => { out.push(x); }, limits);
      return out;
    },
    matches(input, limits) {
      arm(limits);
      try {
        const x = cs ? cs(input === undefined ? null : input, null) : firstOutput(input);
        return x !== false && x !== null && x !== undefined ? MATCHED : NOT_MATCHED;
      } catch (err) {
        const t = translate(err);
        if (t instanceof JqLimitError) return { matched: false, aborted: t.kind === 'outputs' ? 'steps' : t.kind, error: t.message };
        return { matched: false, error: t.message };
      } finally {
        disarm();
      }
    },
  };
}

/** Validates a filter; returns null when it compiles, else the parse error with its position. */
export function checkJq(source: string): JqParseError | null {
  try {
    compileProgram(source);
    return null;
  } catch (err) {
    if (err instanceof JqParseError) return err;
    throw err;
  }
}
