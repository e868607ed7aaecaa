// In-memory matching: an incremental index (one record against many, as a Patient write does)
// and the bulk linker (all records against each other, then clustering).
import { createHash } from 'node:crypto';
import { blockingKeys, DEFAULT_BLOCKING_RULES, DEFAULT_NEIGHBOURHOODS, forEachCandidatePair, keyBlockCap } from './blocking.ts';
import type { BlockingRule, NeighbourhoodRule } from './blocking.ts';
import { compare, comparisonLevels, Conflict, conflictBetween, FIELD_COUNT, fieldWeight, outcomeFor, scorePair } from './compare.ts';
import type { ComparisonResult } from './compare.ts';
import { TermFrequencyTable } from './frequencies.ts';
import { COMPARISON_FIELDS, compileModel, defaultMatchModel, TF_LEVELS, thresholdsFor } from './model.ts';
import type { CompiledModel, MatchModel } from './model.ts';
import { normalizeRecord } from './normalize.ts';
import type { NormalizedPerson, PersonInput } from './normalize.ts';

/** comparisonLevels' value for a field missing on either side. */
const MISSING_LEVEL = -1;

export interface Candidate extends ComparisonResult {
  id: string;
}

/**
 * An in-memory index of normalised records keyed by blocking keys. `match()` is what a Patient
 * write does: fetch the records sharing a blocking key, compare each, return them best first.
 */
export class MatchIndex {
  readonly compiled: CompiledModel;
  private readonly records = new Map<string, NormalizedPerson>();
  private readonly postings = new Map<string, string[]>();
  private readonly frequencies = new TermFrequencyTable();

  constructor(model: MatchModel = defaultMatchModel(), private readonly rules: readonly BlockingRule[] = DEFAULT_BLOCKING_RULES) {
    this.compiled = compileModel(model);
  }

  get size(): number {
    return this.records.size;
  }

  add(id: string, input: PersonInput | NormalizedPerson): NormalizedPerson {
    const record = 'givenTokens' in input ? input : normalizeRecord(input);
    this.remove(id);
    this.records.set(id, record);
    this.frequencies.add(record);
    this.compiled.thresholds = thresholdsFor(this.compiled.model, this.records.size);
    for (const key of blockingKeys(record, this.rules)) {
      const list = this.postings.get(key);
      if (list) list.push(id);
      else this.postings.set(key, [id]);
    }
    return record;
  }

  remove(id: string): void {
    const old = this.records.get(id);
    if (!old) return;
    this.records.delete(id);
    this.frequencies.add(old, -1);
    for (const key of blockingKeys(old, this.rules)) {
      const list = this.postings.get(key);
      if (!list) continue;
      const i = list.indexOf(id);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.postings.delete(key);
    }
  }

  /** Ids sharing at least one blocking key (blocks above maxBlockSize are skipped). */
  candidates(record: NormalizedPerson): Set<string> {
    const out = new Set<string>();
    const cap = this.compiled.model.maxBlockSize;
    for (const key of blockingKeys(record, this.rules)) {
      const list = this.postings.get(key);
      if (!list || list.length > keyBlockCap(key, cap, this.rules)) continue;
      for (const id of list) out.add(id);
    }
    return out;
  }

  /** Scored candidates at or above `minOutcome`, best first. */
  match(input: PersonInput | NormalizedPerson, options: { minOutcome?: 'match' | 'possible' | 'no-match'; excludeId?: string } = {}): Candidate[] {
    const record = 'givenTokens' in input ? input : normalizeRecord(input);
    const rank = { match: 2, possible: 1, 'no-match': 0 } as const;
    const min = rank[options.minOutcome ?? 'possible'];
    const results: Candidate[] = [];
    for (const id of this.candidates(record)) {
      if (id === options.excludeId) continue;
      const other = this.records.get(id)!;
      const quick = scorePair(this.compiled, record, other, this.frequencies);
      if (rank[outcomeFor(this.compiled, quick.score, quick.cannotLink)] < min) continue;
      results.push({ id, ...compare(this.compiled, record, other, this.frequencies) });
    }
    return results.sort((x, y) => y.score - x.score);
  }
}

export interface LinkProgress {
  phase: 'normalize' | 'compare' | 'cluster';
  done: number;
  total: number;
}

export interface LinkOptions {
  model?: MatchModel;
  rules?: readonly BlockingRule[];
  /** Sorted-neighbourhood passes after blocking (default: e-mail, window 4); [] for none. */
  neighbourhoods?: readonly NeighbourhoodRule[];
  /** Record ids (same order as records) for deterministic UPIDs; defaults to the row index. */
  ids?: readonly string[];
  onProgress?: (p: LinkProgress) => void;
}

export interface LinkResult {
  /** Cluster index per record. */
  cluster: Int32Array;
  /** UPID (UUID) per record: deterministic from the sorted record ids of its cluster. */
  upids: string[];
  stats: {
    records: number;
    comparisons: number;
    matchPairs: number;
    /** Match-scored pairs not merged because a hard rule forbade some pair across the two clusters. */
    blockedMerges: number;
    /** Blocks skipped because they exceeded maxBlockSize. */
    skippedBlocks: number;
    clusters: number;
  };
}

/** A UUID (version 5 layout, SHA-1) derived from a string. */
export function uuidFromString(s: string): string {
  const h = createHash('sha1').update('tessera-upid:').update(s).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/**
 * Links all records: blocked pairs are scored, pairs at or above the match threshold are merged
 * best first with union-find, and a merge is refused when any pair across the two clusters
 * violates a hard rule (different SSN, twins, household members …), so a chain of good
 * pairs cannot join two clearly different people.
 */
export function linkRecords(inputs: readonly (PersonInput | NormalizedPerson)[], options: LinkOptions = {}): LinkResult {
  const compiled = compileModel(options.model ?? defaultMatchModel(), inputs.length);
  const rules = options.rules ?? DEFAULT_BLOCKING_RULES;
  const n = inputs.length;
  const progress = options.onProgress;
  const records = inputs.map((r, i) => {
    if (progress && i % 10_000 === 0) progress({ phase: 'normalize', done: i, total: n });
    return 'givenTokens' in r ? r : normalizeRecord(r);
  });
  const recordTf = new TermFrequencyTable();
  for (const r of records) recordTf.add(r);

  // Term frequencies are counted per person (see TermFrequencyTable.perPerson), which needs the persons:
  // a first pass links with record-level frequencies, the final pass with frequencies over the first pass's
  // persons. Blocking and the comparison levels do not depend on frequencies, so the first pass keeps each
  // candidate pair that could reach the "possible" threshold under any frequencies (each adjusted field
  // moves by at most 2 × maxAdjustmentBits) with its score and its adjusted fields' levels, and the final
  // pass only re-weighs those fields instead of comparing again.
  const tfFields = compiled.model.termFrequency.enabled ? COMPARISON_FIELDS.flatMap((f, i) => (TF_LEVELS[f] ? [i] : [])) : [];
  const tfSlack = 2 * compiled.model.termFrequency.maxAdjustmentBits * tfFields.length;
  const pairI: number[] = [];
  const pairJ: number[] = [];
  const pairScore: number[] = [];
  const pairCannot: boolean[] = [];
  const pairLevels: number[] = []; // tfFields.length levels per kept pair
  const levels = new Int8Array(FIELD_COUNT);
  let comparisons = 0;
  const { skippedBlocks } = forEachCandidatePair(records, rules, compiled.model.maxBlockSize, (i, j) => {
    comparisons++;
    if (progress && comparisons % 200_000 === 0) progress({ phase: 'compare', done: comparisons, total: 0 });
    const s = scorePair(compiled, records[i]!, records[j]!, recordTf, levels);
    if (s.score < compiled.thresholds.possible - tfSlack) return;
    pairI.push(i);
    pairJ.push(j);
    pairScore.push(s.score);
    pairCannot.push(s.cannotLink);
    for (const f of tfFields) pairLevels.push(levels[f]!);
  }, options.neighbourhoods ?? DEFAULT_NEIGHBOURHOODS);

  const first = clusterPairs(compiled, records, recordTf, pairI, pairJ, pairScore, pairCannot, progress);
  let result = first;
  if (tfFields.length > 0) {
    const personTf = TermFrequencyTable.perPerson(records, first.root);
    const rescored = pairScore.map((score, e) => {
      const a = records[pairI[e]!]!;
      const b = records[pairJ[e]!]!;
      tfFields.forEach((f, k) => {
        const level = pairLevels[e * tfFields.length + k]!;
        if (level !== MISSING_LEVEL) score += fieldWeight(compiled, f, level, a, b, personTf) - fieldWeight(compiled, f, level, a, b, recordTf);
      });
      return score;
    });
    result = clusterPairs(compiled, records, personTf, pairI, pairJ, rescored, pairCannot, progress);
  }
  comparisons += first.comparisons + (result === first ? 0 : result.comparisons);
  const { find, blockedMerges } = result;
  const matchPairs = result.matchPairs;

  const cluster = new Int32Array(n);
  const rootIndex = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const root = find(i);
    let c = rootIndex.get(root);
    if (c === undefined) {
      c = rootIndex.size;
      rootIndex.set(root, c);
    }
    cluster[i] = c;
  }
  const ids = options.ids ?? records.map((_, i) => String(i));
  const clusterIds: string[][] = Array.from({ length: rootIndex.size }, () => []);
  for (let i = 0; i < n; i++) clusterIds[cluster[i]!]!.push(ids[i]!);
  const clusterUpid = clusterIds.map((list) => uuidFromString(list.sort().join('\u0000')));
  return {
    cluster,
    upids: Array.from(cluster, (c) => clusterUpid[c]!),
    stats: { records: n, comparisons, matchPairs, blockedMerges, skippedBlocks, clusters: rootIndex.size },
  };
}

interface PassResult {
  find: (x: number) => number;
  /** Root (person) per record. */
  root: Int32Array;
  comparisons: number;
  matchPairs: number;
  blockedMerges: number;
}

/**
 * Clusters the scored candidate pairs: pairs at or above the match threshold are merged best first with
 * union-find (refused when any pair across the two clusters violates a hard rule), then the cluster-aware
 * second pass. `tf` weighs the pairs the second pass compares.
 */
function clusterPairs(
  compiled: CompiledModel,
  records: readonly NormalizedPerson[],
  tf: TermFrequencyTable,
  pairI: readonly number[],
  pairJ: readonly number[],
  pairScore: readonly number[],
  pairCannot: readonly boolean[],
  progress: ((p: LinkProgress) => void) | undefined,
): PassResult {
  const n = records.length;
  const threshold = compiled.thresholds.match;
  const edgeI: number[] = [];
  const edgeJ: number[] = [];
  const edgeScore: number[] = [];
  // Pairs at or above the "possible" threshold that are not links themselves: the second pass looks at the
  // other records of their clusters.
  const nearI: number[] = [];
  const nearJ: number[] = [];
  let comparisons = 0;
  pairScore.forEach((score, e) => {
    if (score >= threshold && !pairCannot[e]) {
      edgeI.push(pairI[e]!);
      edgeJ.push(pairJ[e]!);
      edgeScore.push(score);
    } else if (score >= compiled.thresholds.possible) {
      nearI.push(pairI[e]!);
      nearJ.push(pairJ[e]!);
    }
  });

  const parent = new Int32Array(n);
  for (let i = 0; i < n; i++) parent[i] = i;
  const members: (number[] | undefined)[] = [];
  const find = (x: number): number => {
    while (parent[x] !== x) {
      parent[x] = parent[parent[x]!]!;
      x = parent[x]!;
    }
    return x;
  };
  const levels = new Int8Array(FIELD_COUNT);
  const conflictFree = (ra: number, rb: number): boolean => {
    const ma = members[ra] ?? [ra];
    const mb = members[rb] ?? [rb];
    let soft = 0;
    for (const x of ma) {
      for (const y of mb) {
        comparisonLevels(records[x]!, records[y]!, levels);
        const c = conflictBetween(records[x]!, records[y]!, levels, compiled.model.hardRules);
        if (c === Conflict.Hard) return false;
        if (c === Conflict.Soft) soft++;
      }
    }
    // Soft conflicts are outvoted only by a clear majority of compatible pairs.
    return soft * 2 < ma.length * mb.length;
  };
  let blockedMerges = 0;
  const union = (ra: number, rb: number): void => {
    const [big, small] = (members[ra]?.length ?? 1) >= (members[rb]?.length ?? 1) ? [ra, rb] : [rb, ra];
    parent[small] = big;
    const merged = members[big] ?? [big];
    for (const m of members[small] ?? [small]) merged.push(m);
    members[big] = merged;
    members[small] = undefined;
  };
  const mergeBestFirst = (ei: readonly number[], ej: readonly number[], es: readonly number[]): void => {
    const order = Array.from(es.keys()).sort((x, y) => es[y]! - es[x]!);
    order.forEach((e, k) => {
      if (progress && k % 50_000 === 0) progress({ phase: 'cluster', done: k, total: order.length });
      const ra = find(ei[e]!);
      const rb = find(ej[e]!);
      if (ra === rb) return;
      if (!conflictFree(ra, rb)) {
        blockedMerges++;
        return;
      }
      union(ra, rb);
    });
  };
  mergeBestFirst(edgeI, edgeJ, edgeScore);

  // Second pass, cluster-aware. (1) Blocking finds a pair only when the two records share a key; a record
  // that nearly links to one record of a person (a "possible" pair) is compared with that person's other
  // records, which may carry the agreement the first one lost (a garbled e-mail in one, the right birth
  // date in another): candidates are closed over the clusters, as in iterative blocking (Whang et al. 2009).
  const seen = new Set<number>();
  const compareWithCluster = (x: number, root: number, out: { i: number[]; j: number[]; s: number[] }): void => {
    for (const y of members[root] ?? [root]) {
      if (y === x) continue;
      const key = x < y ? x * n + y : y * n + x;
      if (seen.has(key)) continue;
      seen.add(key);
      comparisons++;
      const s = scorePair(compiled, records[x]!, records[y]!, tf);
      if (s.score >= threshold && !s.cannotLink) {
        out.i.push(x);
        out.j.push(y);
        out.s.push(s.score);
      }
    }
  };

  // Kinds of evidence: names, birth date, address, contact, identifiers (sex is too weak to count).
  const GROUP: Record<string, number> = { given: 0, family: 0, birthDate: 1, street: 2, locality: 2, phone: 3, email: 3, ssn: 4, mrn: 4 };
  const pairLevels = new Int8Array(FIELD_COUNT);
  const evidenceKinds = (a: number, b: number): number => {
    comparisonLevels(records[a]!, records[b]!, pairLevels);
    let kinds = 0;
    COMPARISON_FIELDS.forEach((field, f) => {
      const level = pairLevels[f]!;
      if (level >= 0 && GROUP[field] !== undefined && compiled.weights[field][level]! > 0) kinds |= 1 << GROUP[field]!;
    });
    let count = 0;
    for (; kinds !== 0; kinds &= kinds - 1) count++;
    return count;
  };

  // (2) A record still alone, and a person of k records of whom a strict majority each score at least
  // threshold − log2(k) against it: the prior odds that a record belongs to a person grow with the records
  // already seen of that person (the size-biased prior of Bayesian entity resolution: the Chinese
  // restaurant / Pitman–Yor process, Steorts et al. 2016), and asking a majority rather than the best member
  // keeps a record from joining on one lucky pair (for two records: both). Precision first: only when exactly
  // one person qualifies, no record of it is in conflict with the new one, and each supporting record agrees
  // on two kinds of evidence at least (a bare name or a bare birth date is shared by namesakes, whom the
  // prior must not turn into a link).
  const joinAlone = (): void => {
    const candidatesOf = new Map<number, Set<number>>();
    for (let e = 0; e < nearI.length; e++) {
      for (const [x, y] of [[nearI[e]!, nearJ[e]!], [nearJ[e]!, nearI[e]!]] as const) {
        if (members[find(x)] !== undefined) continue; // only roots of merged clusters have a member list
        const ry = find(y);
        if ((members[ry]?.length ?? 1) < 2) continue;
        let set = candidatesOf.get(x);
        if (!set) candidatesOf.set(x, (set = new Set()));
        set.add(ry);
      }
    }
    for (const [x, roots] of candidatesOf) {
      let chosen = -1;
      let qualifying = 0;
      for (const root of roots) {
        const list = members[root]!;
        const scores: number[] = [];
        let conflict = false;
        for (const y of list) {
          comparisons++;
          const s = scorePair(compiled, records[x]!, records[y]!, tf);
          scores.push(s.score >= threshold - Math.log2(list.length) && evidenceKinds(x, y) < 2 ? -Infinity : s.score);
          if (s.cannotLink) conflict = true;
        }
        if (conflict) continue;
        scores.sort((p, q) => q - p);
        if (scores[Math.floor(list.length / 2)]! + Math.log2(list.length) >= threshold) {
          qualifying++;
          chosen = root;
        }
      }
      if (qualifying !== 1) continue;
      const rc = find(chosen);
      if (find(x) !== rc && conflictFree(x, rc)) union(x, rc);
    }
  };

  const more = { i: [] as number[], j: [] as number[], s: [] as number[] };
  for (let e = 0; e < nearI.length; e++) {
    const ri = find(nearI[e]!);
    const rj = find(nearJ[e]!);
    if (ri === rj) continue;
    compareWithCluster(nearI[e]!, rj, more);
    compareWithCluster(nearJ[e]!, ri, more);
  }
  mergeBestFirst(more.i, more.j, more.s);
  joinAlone();

  const root = new Int32Array(n);
  for (let i = 0; i < n; i++) root[i] = find(i);
  return { find, root, comparisons, matchPairs: edgeScore.length, blockedMerges };
}
