// The match model is data: m/u probabilities per comparison level, thresholds and blocking
// settings live in a JSON file (model.default.json by default), never in the scoring code.
import { readFileSync } from 'node:fs';

/** Comparison fields and the levels each comparator can emit, best first ("missing" is implicit). */
export const COMPARISON_LEVELS = {
  given: ['exact', 'nickname', 'fuzzy', 'phonetic', 'initial', 'weak', 'disagree'],
  family: ['exact', 'fuzzy', 'compound', 'phonetic', 'weak', 'disagree'],
  birthDate: ['exact', 'typo', 'month', 'year', 'decade', 'disagree'],
  sex: ['exact', 'disagree'],
  street: ['exact', 'fuzzy', 'otherUnit', 'sameStreet', 'disagree'],
  locality: ['zipCity', 'zip', 'city', 'cityFuzzy', 'zip3', 'disagree'],
  phone: ['exact', 'fuzzy', 'disagree'],
  email: ['exact', 'fuzzy', 'weak', 'disagree'],
  ssn: ['exact', 'typo', 'disagree'],
  mrn: ['exact', 'disagree'],
} as const;

export type ComparisonField = keyof typeof COMPARISON_LEVELS;
export const COMPARISON_FIELDS = Object.keys(COMPARISON_LEVELS) as ComparisonField[];
/** Levels whose u-probability is adjusted by the frequency of the agreeing value. */
export const TF_LEVELS: Partial<Record<ComparisonField, string>> = { given: 'exact', family: 'exact', locality: 'city' };

export interface LevelProbabilities { m: number; u: number }

/** Rules that forbid a link whatever the score (see compare.ts hardConflicts). */
export interface HardRules {
  /** Both SSNs valid and more than one digit apart. */
  differentSsn: boolean;
  /** Different multiple-birth order ("Baby Boy A" / "Baby Boy B", multipleBirth 1 / 2). */
  multipleBirth: boolean;
  /** Same family name and birth date, clearly different given names. */
  twins: boolean;
  /** Different given names and birth dates not within typo distance (household members). */
  household: boolean;
  /** Birth dates a generation apart (not a typo) unless SSN or e-mail agree exactly (Jr/Sr, parent/child). */
  birthDatesYearsApart: boolean;
  /** Recorded sexes differ and the given names are not the same name (Maria / Mario: opposite-sex twins, siblings). */
  oppositeSexSiblings: boolean;
  /** Birth years at least this far apart count as "a generation apart". */
  generationGapYears: number;
}

export const DEFAULT_HARD_RULES: HardRules = { differentSsn: true, multipleBirth: true, twins: true, household: true, birthDatesYearsApart: true, oppositeSexSiblings: true, generationGapYears: 14 };

export interface MatchModel {
  version: 1;
  description?: string;
  /** Score (sum of log2 Bayes factors) at or above which a pair is the same person. */
  thresholds: {
    match: number;
    possible: number;
    /**
     * Population the thresholds are stated for. The prior odds that two records are the same
     * person fall as the population grows, so the effective thresholds rise by
     * log2(population / referencePopulation) bits (clamped to [-4, +8]). Omit to use them as is.
     */
    referencePopulation?: number;
  };
  /** m/u per comparison level. */
  comparisons: Record<ComparisonField, Record<string, LevelProbabilities>>;
  /** Term-frequency adjustment: clamp of the adjustment in bits, and whether it is on. */
  termFrequency: { enabled: boolean; maxAdjustmentBits: number };
  hardRules: HardRules;
  /** Blocks larger than this are skipped (too common a value to discriminate), see docs/upi.md. */
  maxBlockSize: number;
  /**
   * Identity confirmed by an external network (patient-history discovery): two Patients the same network calls
   * the same person get `weight` extra bits, when the network's own scores are at least `minScore`.
   */
  networkIdentity?: { weight: number; minScore: number };
  /** Prior probability that two records in a random pair match (reporting only). */
  prior?: number;
  /** Where the probabilities came from (default, EM run …). */
  provenance?: Record<string, unknown>;
}

/** Precomputed log2(m/u) weights, indexed [field][level]. */
export interface CompiledModel {
  model: MatchModel;
  /** Effective thresholds for the current population (see thresholds.referencePopulation). */
  thresholds: { match: number; possible: number };
  weights: Record<ComparisonField, Float64Array>;
  /** m of the tf-adjusted level, for log2(m / u_tf). */
  tfM: Partial<Record<ComparisonField, number>>;
  tfU: Partial<Record<ComparisonField, number>>;
}

export function validateModel(value: unknown): MatchModel {
  const model = value as MatchModel;
  if (!model || typeof model !== 'object' || model.version !== 1) throw new Error('match model: version must be 1');
  const t = model.thresholds;
  if (!t || typeof t.match !== 'number' || typeof t.possible !== 'number' || t.possible > t.match) {
    throw new Error('match model: thresholds.match and thresholds.possible (≤ match) are required');
  }
  for (const field of COMPARISON_FIELDS) {
    const levels = model.comparisons?.[field];
    if (!levels) throw new Error(`match model: comparison "${field}" is missing`);
    for (const level of COMPARISON_LEVELS[field]) {
      const p = levels[level];
      if (!p || !(p.m > 0 && p.m <= 1) || !(p.u > 0 && p.u <= 1)) {
        throw new Error(`match model: ${field}.${level} needs 0 < m, u ≤ 1`);
      }
    }
  }
  if (!model.termFrequency) model.termFrequency = { enabled: true, maxAdjustmentBits: 3 };
  if (!(model.maxBlockSize > 0)) model.maxBlockSize = 1000;
  model.hardRules = { ...DEFAULT_HARD_RULES, ...model.hardRules };
  return model;
}

/** Effective thresholds for a population of `population` records. */
export function thresholdsFor(model: MatchModel, population: number | undefined): { match: number; possible: number } {
  const t = model.thresholds;
  if (!t.referencePopulation || !population) return { match: t.match, possible: t.possible };
  const shift = Math.max(-4, Math.min(8, Math.log2(Math.max(2, population) / t.referencePopulation)));
  return { match: t.match + shift, possible: t.possible + shift };
}

export function compileModel(model: MatchModel, population?: number): CompiledModel {
  const weights = {} as Record<ComparisonField, Float64Array>;
  const tfM: CompiledModel['tfM'] = {};
  const tfU: CompiledModel['tfU'] = {};
  for (const field of COMPARISON_FIELDS) {
    const levels = COMPARISON_LEVELS[field];
    const w = new Float64Array(levels.length);
    levels.forEach((level, i) => {
      const p = model.comparisons[field][level]!;
      w[i] = Math.log2(p.m / p.u);
    });
    weights[field] = w;
    const tfLevel = TF_LEVELS[field];
    if (tfLevel) {
      tfM[field] = model.comparisons[field][tfLevel]!.m;
      tfU[field] = model.comparisons[field][tfLevel]!.u;
    }
  }
  return { model, thresholds: thresholdsFor(model, population), weights, tfM, tfU };
}

export function loadModel(path: string | URL): MatchModel {
  return validateModel(JSON.parse(readFileSync(path, 'utf8')));
}

let defaultModel: MatchModel | undefined;
/** The shipped default (a fresh copy each call, so callers may modify it). */
export function defaultMatchModel(): MatchModel {
  defaultModel ??= loadModel(new URL('./model.default.json', import.meta.url));
  return structuredClone(defaultModel);
}
