// Unsupervised re-estimation of the model's m/u probabilities (as Splink does):
//  - u from random record pairs (almost all of which are different people); pairs the current
//    model scores as certain matches are left out so small files with many duplicates do not
//    inflate u;
//  - m by expectation–maximisation over the pairs of each blocking rule, estimating only the
//    comparisons the rule does not block on (a rule on birth date says nothing about how often
//    birth dates agree among true matches), then averaging over rules.
import { DEFAULT_BLOCKING_RULES, forEachBlockedPair } from './blocking.ts';
import type { BlockingRule } from './blocking.ts';
import { comparisonLevels, FIELD_COUNT, scorePair } from './compare.ts';
import { COMPARISON_FIELDS, COMPARISON_LEVELS, compileModel, defaultMatchModel } from './model.ts';
import type { MatchModel } from './model.ts';
import { normalizeRecord } from './normalize.ts';
import type { NormalizedPerson, PersonInput } from './normalize.ts';
import { seededRandom } from '../../platform/random.ts';

export interface EstimateOptions {
  /** Starting model (priors for m, thresholds kept). Defaults to the shipped model. */
  model?: MatchModel;
  /** Random pairs for u (default 200,000 or all pairs of a small file). */
  uSampleSize?: number;
  /** Cap on pairs used per blocking rule in EM (default 50,000). */
  maxPairsPerRule?: number;
  iterations?: number;
  seed?: number;
  /** Fewer non-missing comparisons than this keeps the starting value. */
  minObservations?: number;
  onProgress?: (message: string) => void;
}

/** Small deterministic PRNG (mulberry32), so estimates are reproducible. */
export { seededRandom };

const PSEUDO_COUNT = 5;

function normalizeAll(records: readonly (PersonInput | NormalizedPerson)[]): NormalizedPerson[] {
  return records.map((r) => ('givenTokens' in r ? r : normalizeRecord(r)));
}

/** Re-estimates u by random sampling (in place on `model`); returns the number of pairs used. */
export function estimateU(records: readonly NormalizedPerson[], model: MatchModel, options: EstimateOptions = {}): number {
  const n = records.length;
  if (n < 2) return 0;
  const random = seededRandom(options.seed ?? 42);
  const compiled = compileModel(model, n);
  const allPairs = (n * (n - 1)) / 2;
  const sample = Math.min(options.uSampleSize ?? 200_000, allPairs);
  const counts = COMPARISON_FIELDS.map((f) => new Float64Array(COMPARISON_LEVELS[f].length));
  const levels = new Int8Array(FIELD_COUNT);
  let used = 0;
  const visit = (i: number, j: number): void => {
    const a = records[i]!;
    const b = records[j]!;
    if (scorePair(compiled, a, b).score >= compiled.thresholds.match) return; // a likely duplicate
    comparisonLevels(a, b, levels);
    for (let f = 0; f < FIELD_COUNT; f++) if (levels[f]! >= 0) counts[f]![levels[f]!]!++;
    used++;
  };
  if (sample === allPairs) {
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) visit(i, j);
  } else {
    for (let k = 0; k < sample; k++) {
      const i = Math.floor(random() * n);
      let j = Math.floor(random() * (n - 1));
      if (j >= i) j++;
      visit(i, j);
    }
  }
  const minObs = options.minObservations ?? 1000;
  COMPARISON_FIELDS.forEach((field, f) => {
    const c = counts[f]!;
    const total = c.reduce((s, x) => s + x, 0);
    if (total < minObs) return;
    const levelNames = COMPARISON_LEVELS[field];
    levelNames.forEach((level, l) => {
      const prior = model.comparisons[field][level]!.u;
      // Pseudo-counts from the starting u keep unseen levels at a sensible small value.
      model.comparisons[field][level]!.u = (c[l]! + PSEUDO_COUNT * prior) / (total + PSEUDO_COUNT);
    });
  });
  return used;
}

/** Re-estimates m by EM over blocked pairs (in place on `model`, u held fixed). */
export function estimateM(records: readonly NormalizedPerson[], model: MatchModel, rules: readonly BlockingRule[], options: EstimateOptions = {}): void {
  const maxPairs = options.maxPairsPerRule ?? 50_000;
  const iterations = options.iterations ?? 15;
  const minObs = options.minObservations ?? 200;
  const sums = COMPARISON_FIELDS.map((f) => new Float64Array(COMPARISON_LEVELS[f].length));
  const ruleCounts = new Float64Array(FIELD_COUNT);
  for (const rule of rules) {
    const vectors: Int8Array[] = [];
    forEachBlockedPair(records, rule, model.maxBlockSize, (i, j) => {
      if (vectors.length >= maxPairs) return false;
      const v = new Int8Array(FIELD_COUNT);
      comparisonLevels(records[i]!, records[j]!, v);
      vectors.push(v);
      return true;
    });
    if (vectors.length < minObs) continue;
    const excluded = new Set<number>(rule.fields.map((f) => COMPARISON_FIELDS.indexOf(f)));
    const m = COMPARISON_FIELDS.map((field) => Float64Array.from(COMPARISON_LEVELS[field], (l) => model.comparisons[field][l]!.m));
    const u = COMPARISON_FIELDS.map((field) => Float64Array.from(COMPARISON_LEVELS[field], (l) => model.comparisons[field][l]!.u));
    let lambda = 0.3;
    const expected = COMPARISON_FIELDS.map((f) => new Float64Array(COMPARISON_LEVELS[f].length));
    for (let it = 0; it < iterations; it++) {
      for (const e of expected) e.fill(0);
      let pSum = 0;
      for (const v of vectors) {
        let logRatio = Math.log(lambda / (1 - lambda));
        for (let f = 0; f < FIELD_COUNT; f++) {
          const l = v[f]!;
          // The rule's own fields agree by construction inside its blocks: they carry no evidence here.
          if (l >= 0 && !excluded.has(f)) logRatio += Math.log(m[f]![l]! / u[f]![l]!);
        }
        const p = logRatio > 30 ? 1 : logRatio < -30 ? 0 : 1 / (1 + Math.exp(-logRatio));
        pSum += p;
        for (let f = 0; f < FIELD_COUNT; f++) {
          const l = v[f]!;
          if (l >= 0) expected[f]![l]! += p;
        }
      }
      lambda = Math.min(0.999, Math.max(1e-6, pSum / vectors.length));
      for (let f = 0; f < FIELD_COUNT; f++) {
        if (excluded.has(f)) continue;
        const e = expected[f]!;
        const total = e.reduce((s, x) => s + x, 0);
        if (total < 1) continue;
        const field = COMPARISON_FIELDS[f]!;
        COMPARISON_LEVELS[field].forEach((level, l) => {
          m[f]![l] = (e[l]! + PSEUDO_COUNT * model.comparisons[field][level]!.m) / (total + PSEUDO_COUNT);
        });
      }
    }
    options.onProgress?.(`EM on rule ${rule.name}: ${vectors.length} pairs, λ=${lambda.toFixed(3)}`);
    for (let f = 0; f < FIELD_COUNT; f++) {
      if (excluded.has(f)) continue;
      // Only fields actually observed among this rule's likely matches count.
      if (expected[f]!.reduce((s, x) => s + x, 0) < minObs * lambda * 0.1) continue;
      for (let l = 0; l < m[f]!.length; l++) sums[f]![l]! += m[f]![l]!;
      ruleCounts[f]!++;
    }
  }
  COMPARISON_FIELDS.forEach((field, f) => {
    if (ruleCounts[f] === 0) return;
    COMPARISON_LEVELS[field].forEach((level, l) => {
      model.comparisons[field][level]!.m = sums[f]![l]! / ruleCounts[f]!;
    });
  });
}

/**
 * Estimates a model from unlabelled records: u by random sampling, m by EM over blocked pairs.
 * Thresholds, term-frequency and block-size settings are kept from the starting model.
 */
export function estimateWeights(
  inputs: readonly (PersonInput | NormalizedPerson)[],
  blockingRules: readonly BlockingRule[] = DEFAULT_BLOCKING_RULES,
  options: EstimateOptions = {},
): MatchModel {
  const records = normalizeAll(inputs);
  const model = structuredClone(options.model ?? defaultMatchModel());
  const pairsForU = estimateU(records, model, options);
  options.onProgress?.(`u estimated from ${pairsForU} random pairs`);
  estimateM(records, model, blockingRules, options);
  model.provenance = {
    method: 'EM (m) over blocked pairs + random sampling (u)',
    records: records.length,
    uPairs: pairsForU,
    rules: blockingRules.map((r) => r.name),
    estimatedAt: new Date().toISOString(),
  };
  return model;
}
