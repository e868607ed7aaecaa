// Pairwise precision / recall / F1 of a clustering against true clusters: a "pair" is two
// records in the same cluster; predicted pairs are compared with true pairs.

export interface PairwiseMetrics {
  truePairs: number;
  predictedPairs: number;
  correctPairs: number;
  precision: number;
  recall: number;
  f1: number;
}

const pairs = (n: number): number => (n * (n - 1)) / 2;

export function pairwiseMetrics(predicted: ArrayLike<string | number>, truth: ArrayLike<string | number>): PairwiseMetrics {
  if (predicted.length !== truth.length) throw new Error('pairwiseMetrics: predicted and truth differ in length');
  const pred = new Map<string | number, number>();
  const real = new Map<string | number, number>();
  const both = new Map<string, number>();
  for (let i = 0; i < predicted.length; i++) {
    const p = predicted[i]!;
    const t = truth[i]!;
    pred.set(p, (pred.get(p) ?? 0) + 1);
    real.set(t, (real.get(t) ?? 0) + 1);
    const key = `${p}\u0000${t}`;
    both.set(key, (both.get(key) ?? 0) + 1);
  }
  let predictedPairs = 0;
  let truePairs = 0;
  let correctPairs = 0;
  for (const n of pred.values()) predictedPairs += pairs(n);
  for (const n of real.values()) truePairs += pairs(n);
  for (const n of both.values()) correctPairs += pairs(n);
  const precision = predictedPairs === 0 ? 1 : correctPairs / predictedPairs;
  const recall = truePairs === 0 ? 1 : correctPairs / truePairs;
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { truePairs, predictedPairs, correctPairs, precision, recall, f1 };
}
