// Term frequencies of names and cities, for the term-frequency adjustment of exact agreements
// ("Smith = Smith" says less than "Zbigniewski = Zbigniewski").
import type { NormalizedPerson } from './normalize.ts';
import type { TermFrequencySource } from './compare.ts';

type TfField = 'given' | 'family' | 'city';
const TF_FIELDS: TfField[] = ['given', 'family', 'city'];

export class TermFrequencyTable implements TermFrequencySource {
  private readonly counts: Record<TfField, Map<string, number>> = { given: new Map(), family: new Map(), city: new Map() };
  private readonly totals: Record<TfField, number> = { given: 0, family: 0, city: 0 };
  /** Below this many values frequencies are too noisy; frequency() returns 0 (no adjustment). */
  constructor(private readonly minTotal = 200) {}

  add(r: NormalizedPerson, delta = 1): void {
    for (const field of TF_FIELDS) {
      const v = r[field];
      if (v === '') continue;
      const map = this.counts[field];
      const n = (map.get(v) ?? 0) + delta;
      if (n <= 0) map.delete(v);
      else map.set(v, n);
      this.totals[field] += delta;
    }
  }

  frequency(field: TfField, value: string): number {
    const total = this.totals[field];
    if (total < this.minTotal) return 0;
    const n = this.counts[field].get(value) ?? 1;
    return n / total;
  }
}
