// The hooks' view of the jq engine (src/hooks/jq): compile once per hook version, evaluate bounded.
import { compileJq, JqParseError, type JqLimits } from './jq/index.ts';

export class FilterSyntaxError extends Error {
  readonly position: number;
  readonly line: number;
  readonly column: number;
  constructor(err: JqParseError) {
    super(`${err.message} (line ${err.line}, column ${err.column}, position ${err.position})`);
    this.position = err.position;
    this.line = err.line;
    this.column = err.column;
  }
}

export interface FilterResult {
  matched: boolean;
  /** evaluation error or budget exhaustion: counted as no match and reported on the hook */
  error?: string;
}

export interface CompiledHookFilter {
  matches(resource: unknown): FilterResult;
}

/**
 * Budget of one evaluation: a write may be matched against hundreds of hooks, so a runaway filter (`repeat`,
 * `range(1e12)`, deep recursion, huge strings) is stopped early and counts as no match.
 */
export const HOOK_FILTER_LIMITS: Partial<JqLimits> = { maxSteps: 100_000, maxDepth: 500, maxStringLength: 1_000_000, maxCollectionSize: 100_000 };

/** Compiles a filter; throws FilterSyntaxError with the parse error's position. */
export function compileFilter(source: string, limits: Partial<JqLimits> = HOOK_FILTER_LIMITS): CompiledHookFilter {
  let compiled: ReturnType<typeof compileJq>;
  try {
    compiled = compileJq(source);
  } catch (err) {
    if (err instanceof JqParseError) throw new FilterSyntaxError(err);
    throw err;
  }
  return {
    matches(resource: unknown): FilterResult {
      try {
        const r = compiled.matches(resource, limits);
        if (r.aborted) return { matched: false, error: `evaluation stopped (${r.aborted} budget): ${r.error ?? 'budget exhausted'}` };
        if (r.error) return { matched: false, error: String(r.error) };
        return { matched: r.matched };
      } catch (err) {
        return { matched: false, error: err instanceof Error ? err.message : String(err) };
      }
    },
  };
}

/** Compiled filters by (hook id, version): a hook is compiled once per change, not once per event. */
export class FilterCache {
  readonly #limits: Partial<JqLimits>;
  constructor(limits: Partial<JqLimits> = HOOK_FILTER_LIMITS) {
    this.#limits = limits;
  }

  readonly #cache = new Map<string, { version: number; filter: CompiledHookFilter | FilterSyntaxError }>();

  get(hookId: string, version: number, source: string): CompiledHookFilter | FilterSyntaxError {
    const hit = this.#cache.get(hookId);
    if (hit && hit.version === version) return hit.filter;
    let filter: CompiledHookFilter | FilterSyntaxError;
    try {
      filter = compileFilter(source, this.#limits);
    } catch (err) {
      if (!(err instanceof FilterSyntaxError)) throw err;
      filter = err; // saved before a parser change: reported on the hook, never matches
    }
    this.#cache.set(hookId, { version, filter });
    return filter;
  }
}
