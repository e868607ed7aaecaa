// Term frequencies of names and cities, for the term-frequency adjustment of exact agreements
// ("Smith = Smith" says less than "Zbigniewski = Zbigniewski").
import type { NormalizedPerson } from './normalize.ts';
import type { TermFrequencySource } from './compare.ts';

type TfField = 'given' | 'family' | 'city';
const TF_FIELDS: TfField[] = ['given', 'family', 'city'];

export class TermFrequencyTable implements TermFrequencySource {
  private readonly counts: Record<TfField, Map<string, number>> = { given: new Map(), family: new Map(), city: new Map() };
  private readonly totals: Record<TfField, number> = { given: 0, family: 0, city: 0 };
  /** Records with a value per field, for the noise guard (equal to totals when counting records). */
  private readonly sample: Record<TfField, number> = { given: 0, family: 0, city: 0 };
  private perPersonCounts = false;
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
      this.sample[field] += delta;
    }
  }

  /**
   * Frequencies among people rather than records: each distinct value is counted once per person
   * (`person[i]` is the person of `records[i]`, e.g. a first linking pass). The u-probability a
   * term-frequency adjustment needs is P(two different people share the value); counting records makes a
   * person with seven records look like seven people with that name, and their own records then count as
   * common-name agreements. The noise guard still counts records (the sample the values were seen in).
   */
  static perPerson(records: readonly NormalizedPerson[], person: ArrayLike<number>, minTotal = 200): TermFrequencyTable {
    const table = new TermFrequencyTable(minTotal);
    table.perPersonCounts = true;
    for (const field of TF_FIELDS) {
      const seen = new Set<string>();
      const map = table.counts[field];
      records.forEach((r, i) => {
        const v = r[field];
        if (v === '') return;
        table.sample[field]++;
        const key = `${person[i]!}\u0000${v}`;
        if (seen.has(key)) return;
        seen.add(key);
        map.set(v, (map.get(v) ?? 0) + 1);
        table.totals[field]++;
      });
    }
    return table;
  }

  frequency(field: TfField, value: string): number {
    const total = this.totals[field];
    if (this.sample[field] < this.minTotal || total === 0) return 0;
    const n = this.counts[field].get(value) ?? 1;
    // Counting people, the person whose record holds the value is one of its holders: the chance that a
    // *different* person holds it is (holders − 1) / people. A value seen on one person only still gets one
    // holder, as an unseen value does.
    if (this.perPersonCounts) return Math.max(1, n - 1) / total;
    return n / total;
  }
}
