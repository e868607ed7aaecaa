// Blocking: only records sharing at least one blocking key are compared. Keys are plain strings
// ("dob:19710624") so a database can store them in an indexed column and fetch candidates with
// `WHERE key = ANY($keys)`; the in-memory index and the bulk linker use the same keys.
import type { NormalizedPerson } from './normalize.ts';
import type { ComparisonField } from './model.ts';

export interface BlockingRule {
  name: string;
  /** Comparison fields the key is built from (EM does not estimate their m from this rule's pairs). */
  fields: ComparisonField[];
  key(r: NormalizedPerson): string;
  /** A smaller block cap for broad rules (their blocks grow quadratically); the model's maxBlockSize otherwise. */
  maxBlockSize?: number;
}

/** The block cap of a rule under a model-wide cap. */
export function blockCap(rule: BlockingRule, modelCap: number): number {
  return Math.min(modelCap, rule.maxBlockSize ?? modelCap);
}

/** The block cap of a key ("rule:value") under a model-wide cap. */
export function keyBlockCap(key: string, modelCap: number, rules: readonly BlockingRule[] = DEFAULT_BLOCKING_RULES): number {
  const name = key.slice(0, key.indexOf(':'));
  const rule = rules.find((r) => r.name === name);
  return rule ? blockCap(rule, modelCap) : modelCap;
}

function both(a: string, b: string): string {
  return a !== '' && b !== '' ? `${a}|${b}` : '';
}

export const DEFAULT_BLOCKING_RULES: readonly BlockingRule[] = [
  { name: 'dob', fields: ['birthDate'], key: (r) => r.birthDate },
  // Surname sound + birth year: survives typos in the name and in day/month.
  { name: 'fam-yr', fields: ['family', 'birthDate'], key: (r) => both(r.familyPhonetic, r.birthDate.slice(0, 4)) },
  // Both name sounds, order-free: survives a wrong birth date and given/family swaps.
  { name: 'names', fields: ['given', 'family'], key: (r) => (r.givenPhonetic !== '' && r.familyPhonetic !== '' ? [r.givenPhonetic, r.familyPhonetic].sort().join('|') : '') },
  // First-name sound + day and month: survives a wrong year and a changed surname.
  { name: 'giv-md', fields: ['given', 'birthDate'], key: (r) => both(r.givenPhonetic, r.birthDate.slice(4)) },
  // Surname sound + day and month: survives a wrong year and a changed first name.
  { name: 'fam-md', fields: ['family', 'birthDate'], key: (r) => both(r.familyPhonetic, r.birthDate.slice(4)) },
  // First-name sound + birth year: survives a changed surname and day/month errors.
  { name: 'giv-yr', fields: ['given', 'birthDate'], key: (r) => both(r.givenPhonetic, r.birthDate.slice(0, 4)) },
  { name: 'phone', fields: ['phone'], key: (r) => r.phone },
  // Mailbox name without the domain: survives a misspelt domain.
  { name: 'email-local', fields: ['email'], key: (r) => { const at = r.email.indexOf('@'); return at >= 4 ? r.email.slice(0, at) : ''; } },
  { name: 'email', fields: ['email'], key: (r) => r.email },
  { name: 'ssn', fields: ['ssn'], key: (r) => r.ssn },
  { name: 'mrn', fields: ['mrn'], key: (r) => both(r.mrnSystem || '-', r.mrn !== '' ? r.mrn : '') },
  // Town + birth year: catches records with both names missing or garbled.
  { name: 'city-yr', fields: ['locality', 'birthDate'], key: (r) => both(r.zip5 || r.city, r.birthDate.slice(0, 4)) },
  { name: 'addr', fields: ['street', 'locality'], key: (r) => (r.houseNumber !== '' && r.street !== '' ? `${r.houseNumber} ${r.street}|${r.zip5 || r.city}` : '') },
  { name: 'zip-gi', fields: ['locality', 'given'], key: (r) => both(r.zip5, r.given.slice(0, 1)) },
  // First three letters of both names, order-free: survives a wrong birth date together with a
  // misspelling that changes the sound ("Wason" / "Watson", "Shaw" / "Shasw").
  { name: 'names-pre', fields: ['given', 'family'], key: (r) => (r.given.length >= 2 && r.family.length >= 2 ? [r.given.slice(0, 3), r.family.slice(0, 3)].sort().join('|') : ''), maxBlockSize: 100 },
  // Surname sound + town: survives a missing first name and a wrong birth date.
  { name: 'fam-town', fields: ['family', 'locality'], key: (r) => both(r.familyPhonetic, r.zip5 || r.city) },
  // First-name sound + town: survives a missing or changed surname and a wrong birth date.
  { name: 'giv-town', fields: ['given', 'locality'], key: (r) => both(r.givenPhonetic, r.zip5 || r.city) },
  // Surname sound + first initial (the classic Soundex-and-initial block): survives a wrong birth
  // date together with a misspelt first name.
  { name: 'fam-gi', fields: ['family', 'given'], key: (r) => both(r.familyPhonetic, r.given.slice(0, 1)), maxBlockSize: 100 },
];

/**
 * Sorted neighbourhood (Hernández & Stolfo 1995, "merge/purge"): records sorted by a key, each compared with the
 * next `window − 1`. Unlike a blocking key it tolerates a typo anywhere after the first characters
 * ("j.c@white.org" / "j.c@wwhite.org", "josep.d@.bell.com" / "joseph.d@bell.com"), at a bounded cost of
 * (window − 1) pairs per record. Bulk only: a one-record lookup would need a range scan per key.
 */
export interface NeighbourhoodRule {
  name: string;
  key(r: NormalizedPerson): string;
  window: number;
}

export const DEFAULT_NEIGHBOURHOODS: readonly NeighbourhoodRule[] = [
  // E-mail addresses are long, near-unique strings: a corrupted copy sorts next to the original.
  { name: 'email-sn', key: (r) => r.email, window: 4 },
];

/** Blocking keys of a record, prefixed with the rule name ("dob:19710624"). */
export function blockingKeys(r: NormalizedPerson, rules: readonly BlockingRule[] = DEFAULT_BLOCKING_RULES): string[] {
  const keys: string[] = [];
  for (const rule of rules) {
    const k = rule.key(r);
    if (k !== '') keys.push(`${rule.name}:${k}`);
  }
  return keys;
}

function groupByKey(keys: readonly string[]): Map<string, number[]> {
  const blocks = new Map<string, number[]>();
  keys.forEach((k, i) => {
    if (k === '') return;
    const list = blocks.get(k);
    if (list) list.push(i);
    else blocks.set(k, [i]);
  });
  return blocks;
}

/** Pairs sharing one rule's key (blocks above maxBlockSize skipped); `visit` returns false to stop. */
export function forEachBlockedPair(
  records: readonly NormalizedPerson[],
  rule: BlockingRule,
  maxBlockSize: number,
  visit: (i: number, j: number) => boolean,
): void {
  for (const members of groupByKey(records.map((r) => rule.key(r))).values()) {
    if (members.length < 2 || members.length > blockCap(rule, maxBlockSize)) continue;
    for (let x = 0; x < members.length; x++) {
      for (let y = x + 1; y < members.length; y++) if (!visit(members[x]!, members[y]!)) return;
    }
  }
}

/**
 * Candidate pairs over all rules, each pair once (for the first rule whose keys agree), then the sorted
 * neighbourhoods' pairs that share no blocking key.
 */
export function forEachCandidatePair(
  records: readonly NormalizedPerson[],
  rules: readonly BlockingRule[],
  maxBlockSize: number,
  visit: (i: number, j: number) => void,
  neighbourhoods: readonly NeighbourhoodRule[] = [],
): { skippedBlocks: number } {
  const keysByRule = rules.map((rule) => records.map((r) => rule.key(r)));
  const sharesKey = (i: number, j: number, ruleCount: number): boolean => {
    for (let earlier = 0; earlier < ruleCount; earlier++) {
      const ki = keysByRule[earlier]![i]!;
      if (ki !== '' && ki === keysByRule[earlier]![j]) return true;
    }
    return false;
  };
  let skippedBlocks = 0;
  rules.forEach((rule, ruleIndex) => {
    const cap = blockCap(rule, maxBlockSize);
    for (const members of groupByKey(keysByRule[ruleIndex]!).values()) {
      if (members.length < 2) continue;
      if (members.length > cap) {
        skippedBlocks++;
        continue;
      }
      for (let x = 0; x < members.length; x++) {
        const i = members[x]!;
        for (let y = x + 1; y < members.length; y++) {
          const j = members[y]!;
          if (!sharesKey(i, j, ruleIndex)) visit(i, j);
        }
      }
    }
  });
  const done = new Set<number>();
  const n = records.length;
  for (const hood of neighbourhoods) {
    // The window slides over distinct key values (records with equal keys are a block already), so one person's
    // many identical copies do not push their corrupted copy out of the window.
    const groups = groupByKey(records.map((r) => hood.key(r)));
    const sorted = [...groups.keys()].sort();
    for (let p = 0; p < sorted.length; p++) {
      const left = groups.get(sorted[p]!)!;
      if (left.length > maxBlockSize) continue;
      for (let q = p + 1; q < Math.min(sorted.length, p + hood.window); q++) {
        const right = groups.get(sorted[q]!)!;
        if (right.length > maxBlockSize) continue;
        for (const a of left) {
          for (const b of right) {
            const i = Math.min(a, b);
            const j = Math.max(a, b);
            if (sharesKey(i, j, rules.length) || done.has(i * n + j)) continue;
            done.add(i * n + j);
            visit(i, j);
          }
        }
      }
    }
  }
  return { skippedBlocks };
}

