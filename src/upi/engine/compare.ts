// Fellegi–Sunter comparison of two normalised person records: each field comparator returns a
// level; the model turns levels into log2(m/u) weights; the sum is the score. A few rules
// (twins, newborn birth order, different SSN, household members) forbid linking whatever the score.
import { areNicknames } from './nicknames.ts';
import type { NormalizedPerson } from './normalize.ts';
import { editDistance, jaroWinkler } from './strings.ts';
import { COMPARISON_FIELDS, COMPARISON_LEVELS, TF_LEVELS } from './model.ts';
import type { CompiledModel, ComparisonField, HardRules } from './model.ts';

export type MatchOutcome = 'match' | 'possible' | 'no-match';

export interface FieldComparison {
  field: ComparisonField;
  /** Level name, or 'missing' when either side has no (usable) value. */
  level: string;
  /** log2 Bayes factor contributed to the score (0 when missing). */
  weight: number;
}

export interface ComparisonResult {
  score: number;
  outcome: MatchOutcome;
  /** Posterior match probability under the model's prior (for display). */
  probability: number;
  /** True when a hard rule forbids linking these two records (see reasons). */
  cannotLink: boolean;
  reasons: string[];
  fieldComparisons: FieldComparison[];
}

/** Relative frequency (0..1) of a normalised value in the population, for term-frequency adjustment. */
export interface TermFrequencySource {
  frequency(field: 'given' | 'family' | 'city', value: string): number;
}

const MISSING = -1;
// Level indexes, named for readability in the rules below.
const G = indexOf('given');
const F = indexOf('family');
const D = indexOf('birthDate');
function indexOf<K extends ComparisonField>(field: K): Record<(typeof COMPARISON_LEVELS)[K][number], number> {
  const out = {} as Record<string, number>;
  COMPARISON_LEVELS[field].forEach((l, i) => (out[l] = i));
  return out as Record<(typeof COMPARISON_LEVELS)[K][number], number>;
}

function givenLevel(a: string, b: string, aTokens: string[], bTokens: string[], aSound: string, bSound: string): number {
  if (a === '' || b === '') return MISSING;
  if (a === b) return G.exact;
  if (areNicknames(a, b)) return G.nickname;
  // A first name recorded as the other's middle name ("J Robert" / "Robert").
  if (aTokens.includes(b) || bTokens.includes(a)) return G.nickname;
  if (a.length === 1 || b.length === 1) return a[0] === b[0] ? G.initial : G.disagree;
  const jw = jaroWinkler(a, b);
  if (jw >= 0.92 || (Math.min(a.length, b.length) >= 4 && editDistance(a, b, 1) <= 1)) return G.fuzzy;
  if (aSound !== '' && aSound === bSound) return G.phonetic;
  if (jw >= 0.8 || sameLetters(a, b) || letterOverlap(a, b) >= 0.8) return G.weak;
  return G.disagree;
}

function familyLevel(a: string, b: string, aTokens: string[], bTokens: string[], aSound: string, bSound: string): number {
  if (a === '' || b === '') return MISSING;
  if (a === b) return F.exact;
  const jw = jaroWinkler(a, b);
  if (jw >= 0.92 || (Math.min(a.length, b.length) >= 4 && editDistance(a, b, 1) <= 1)) return F.fuzzy;
  // Compound / hyphenated surnames: one part in common ("Garcia Lopez" / "Garcia").
  if (aTokens.length > 1 || bTokens.length > 1) {
    for (const t of aTokens) if (t.length >= 3 && bTokens.includes(t)) return F.compound;
  }
  if (aSound !== '' && aSound === bSound) return F.phonetic;
  if (jw >= 0.8 || sameLetters(a, b) || letterOverlap(a, b) >= 0.8) return F.weak;
  return F.disagree;
}

const letterCounts = new Int16Array(128);
/**
 * Dice coefficient of the two names' letter multisets (2·shared / (|a| + |b|)), for names of
 * similar length: scrambled and doubled keystrokes ("hnoan" / "noah", "hehray" / "harvey") keep
 * most letters, different names do not ("ava" / "mia" 0.33, "mason" / "mark" 0.44).
 */
function letterOverlap(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2 || Math.min(a.length, b.length) < 2) return 0;
  letterCounts.fill(0);
  for (let i = 0; i < a.length; i++) letterCounts[a.charCodeAt(i) & 127]!++;
  let shared = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b.charCodeAt(i) & 127;
    if (letterCounts[c]! > 0) {
      letterCounts[c]!--;
      shared++;
    }
  }
  return (2 * shared) / (a.length + b.length);
}

/** Same letters in another order ("nleaeor" / "eleanor", "oel" / "leo"): scrambled typing, not another name. */
function sameLetters(a: string, b: string): boolean {
  if (a.length !== b.length || a.length < 3) return false;
  let sumA = 0;
  let sumB = 0;
  let xorA = 0;
  let xorB = 0;
  for (let i = 0; i < a.length; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    sumA += ca * ca;
    sumB += cb * cb;
    xorA ^= ca;
    xorB ^= cb;
  }
  // Cheap necessary conditions first; sort only when they hold.
  if (sumA !== sumB || xorA !== xorB) return false;
  return [...a].sort().join('') === [...b].sort().join('');
}


/** Cheap pre-check before a crossed comparison: names that agree well share a leading letter. */
function mayAgree(x: string, y: string): boolean {
  return x[0] === y[0] || x[1] === y[1] || x[0] === y[1] || x[1] === y[0];
}

/** Name levels with a check for given/family swapped between the two records. */
function nameLevels(a: NormalizedPerson, b: NormalizedPerson): [number, number, boolean] {
  const g = givenLevel(a.given, b.given, a.givenTokens, b.givenTokens, a.givenPhonetic, b.givenPhonetic);
  const f = familyLevel(a.family, b.family, a.familyTokens, b.familyTokens, a.familyPhonetic, b.familyPhonetic);
  const goodG = g !== MISSING && g <= G.fuzzy;
  const goodF = f !== MISSING && f <= F.fuzzy;
  if (goodG && goodF) return [g, f, false];
  if (a.given !== '' && a.family !== '' && b.given !== '' && b.family !== '' && mayAgree(a.given, b.family) && mayAgree(a.family, b.given)) {
    const sg = givenLevel(a.given, b.family, a.givenTokens, b.familyTokens, a.givenPhonetic, b.familyPhonetic);
    const sf = familyLevel(a.family, b.given, a.familyTokens, b.givenTokens, a.familyPhonetic, b.givenPhonetic);
    // A swap counts only when both crossed names agree well; it is scored at most as "fuzzy".
    if (sg !== MISSING && sg <= G.fuzzy && sf !== MISSING && sf <= F.fuzzy) {
      return [Math.max(sg, G.fuzzy), Math.max(sf, F.fuzzy), true];
    }
  }
  // One side's names entered crosswise with the other name missing ("Moore, Oscar" / "Oscar, –").
  if (!goodG && (f === MISSING || f === F.disagree)) {
    const cross = Math.min(
      a.family !== '' && b.given !== '' && mayAgree(a.family, b.given) ? givenLevel(a.family, b.given, a.familyTokens, b.givenTokens, a.familyPhonetic, b.givenPhonetic) : G.disagree,
      a.given !== '' && b.family !== '' && mayAgree(a.given, b.family) ? givenLevel(a.given, b.family, a.givenTokens, b.familyTokens, a.givenPhonetic, b.familyPhonetic) : G.disagree,
    );
    if (cross !== MISSING && cross <= G.fuzzy) return [Math.max(cross, G.fuzzy), MISSING, true];
  }
  return [g, f, false];
}

function daysFromYmd(s: string): number {
  return Date.UTC(+s.slice(0, 4), +s.slice(4, 6) - 1, +s.slice(6, 8)) / 86_400_000;
}

function birthDateLevel(a: string, b: string): number {
  if (a === '' || b === '') return MISSING;
  if (a === b) return D.exact;
  const edits = editDistance(a, b, 2);
  // Day and month swapped (US vs European entry) counts as a typo.
  const swapped = a.slice(0, 4) === b.slice(0, 4) && a.slice(4, 6) === b.slice(6, 8) && a.slice(6, 8) === b.slice(4, 6);
  if (edits <= 1 || swapped) return D.typo;
  // Then by distance, as Splink's date-of-birth comparison: within a month, a year, ten years.
  const days = Math.abs(daysFromYmd(a) - daysFromYmd(b));
  if (days <= 31) return D.month;
  if (edits <= 2 || days <= 366) return D.year;
  if (days <= 3660) return D.decade;
  return D.disagree;
}

const STREET = indexOf('street');
function streetLevel(a: NormalizedPerson, b: NormalizedPerson): number {
  if (a.street === '' || b.street === '') return MISSING;
  const sameHouse = a.houseNumber === b.houseNumber;
  const streetJw = a.street === b.street ? 1 : jaroWinkler(a.street, b.street);
  if (sameHouse && streetJw === 1) {
    if (a.unit !== '' && b.unit !== '' && a.unit !== b.unit) return STREET.otherUnit;
    return STREET.exact;
  }
  if ((sameHouse && streetJw >= 0.88) || (streetJw === 1 && editDistance(a.houseNumber, b.houseNumber, 1) <= 1)) return STREET.fuzzy;
  if (streetJw >= 0.92) return STREET.sameStreet;
  return STREET.disagree;
}

const LOC = indexOf('locality');
function localityLevel(a: NormalizedPerson, b: NormalizedPerson): number {
  const bothCity = a.city !== '' && b.city !== '';
  const statesDiffer = a.state !== '' && b.state !== '' && a.state !== b.state;
  if (a.zip5 !== '' && b.zip5 !== '') {
    if (a.zip5 === b.zip5) return bothCity && jaroWinkler(a.city, b.city) >= 0.9 ? LOC.zipCity : LOC.zip;
  }
  if (bothCity && !statesDiffer) {
    if (a.city === b.city) return LOC.city;
    if (jaroWinkler(a.city, b.city) >= 0.9) return LOC.cityFuzzy;
  }
  if (a.zip5 !== '' && b.zip5 !== '') return a.zip5.slice(0, 3) === b.zip5.slice(0, 3) ? LOC.zip3 : LOC.disagree;
  if (bothCity) return LOC.disagree;
  return MISSING;
}

function phoneLevel(a: string, b: string): number {
  if (a === '' || b === '') return MISSING;
  if (a === b) return 0;
  if (a.slice(-7) === b.slice(-7) || (a.length === b.length && editDistance(a, b, 1) <= 1)) return 1;
  return 2;
}

function emailLevel(a: string, b: string): number {
  if (a === '' || b === '') return MISSING;
  if (a === b) return 0;
  // An address typed without its '@' (or with it doubled) is one dropped or extra keystroke; without a single
  // '@' there is no mailbox/domain split to compare, so only that keystroke is forgiven.
  if (!hasOneAt(a) || !hasOneAt(b)) return a.replace(/@/g, '') === b.replace(/@/g, '') ? 1 : 3;
  // Mailbox names derive from personal names: the same mailbox at another domain is a namesake's
  // account, and another number ("jo.smith17" / "jo.smith") another account, often a relative's.
  // Short mailboxes ("aw@", "tw@") are initials: one changed letter is another person.
  const la = a.slice(0, a.lastIndexOf('@'));
  const lb = b.slice(0, b.lastIndexOf('@'));
  const shortest = Math.min(la.length, lb.length);
  const localBudget = shortest >= 8 ? 2 : shortest >= 5 ? 1 : 0;
  const localEdits = editDistance(la, lb, 3);
  const da = la.replace(/\D/g, '');
  const db = lb.replace(/\D/g, '');
  // "fuzzy": a typo or two in one address, the digits unchanged.
  if (da === db && localEdits <= localBudget && editDistance(a, b, 2) <= 2) return 1;
  // "weak": heavier corruption — mailbox names within the budget (plus one), a dropped digit at
  // most, domains alike (Jaro–Winkler ≥ 0.88, Splink's email threshold). Its weight is whatever
  // EM makes of it.
  const digitsCompatible = da === db || oneDigitDropped(da, db) || oneDigitDropped(db, da);
  if (digitsCompatible && shortest >= 4 && localEdits <= localBudget + 1 &&
    jaroWinkler(a.slice(la.length + 1), b.slice(lb.length + 1)) >= 0.88) return 2;
  return 3;
}

function hasOneAt(s: string): boolean {
  const at = s.indexOf('@');
  return at > 0 && at === s.lastIndexOf('@');
}

/** `short` is `long` with one digit left out (anywhere: "63" → "3" or "6"), a dropped keystroke. */
function oneDigitDropped(long: string, short: string): boolean {
  if (short === '' || long.length !== short.length + 1) return false;
  for (let i = 0; i < long.length; i++) if (long.slice(0, i) + long.slice(i + 1) === short) return true;
  return false;
}

function ssnLevel(a: string, b: string): number {
  if (a === '' || b === '') return MISSING;
  if (a === b) return 0;
  return editDistance(a, b, 1) <= 1 ? 1 : 2;
}

function mrnLevel(a: NormalizedPerson, b: NormalizedPerson): number {
  if (a.mrn === '' || b.mrn === '') return MISSING;
  // MRNs are only comparable within one assigning system.
  if (a.mrnSystem !== b.mrnSystem) return MISSING;
  return a.mrn === b.mrn ? 0 : 1;
}

/** Field index order used by the level vector (same as COMPARISON_FIELDS). */
export const FIELD_COUNT = COMPARISON_FIELDS.length;

/**
 * Fills `out` (length FIELD_COUNT, order COMPARISON_FIELDS) with level indexes (-1 = missing)
 * and returns whether the names were matched crosswise (given/family swapped).
 */
export function comparisonLevels(a: NormalizedPerson, b: NormalizedPerson, out: Int8Array): boolean {
  const [g, f, swapped] = nameLevels(a, b);
  out[0] = g;
  out[1] = f;
  out[2] = birthDateLevel(a.birthDate, b.birthDate);
  out[3] = a.sex === '' || b.sex === '' || a.sex === 'o' || b.sex === 'o' ? MISSING : a.sex === b.sex ? 0 : 1;
  out[4] = streetLevel(a, b);
  out[5] = localityLevel(a, b);
  out[6] = phoneLevel(a.phone, b.phone);
  out[7] = emailLevel(a.email, b.email);
  out[8] = ssnLevel(a.ssn, b.ssn);
  out[9] = mrnLevel(a, b);
  return swapped;
}

/** No conflict / a soft conflict (never a direct link; outvoted inside a cluster) / a hard one (never in one cluster). */
export const enum Conflict { None = 0, Soft = 1, Hard = 2 }

/**
 * Rules that forbid linking two records whatever their score. Hard conflicts (different SSN,
 * multiple-birth order, twins) keep the two records apart for good; soft ones (birth dates
 * years apart, household members) forbid a direct link, and a cluster merge only when most
 * pairs across the two clusters conflict (one bad birth date among several records of one
 * person must not split them). Reasons are pushed into `reasons` when given.
 */
export function conflictBetween(a: NormalizedPerson, b: NormalizedPerson, levels: Int8Array, rules: HardRules, reasons?: string[]): Conflict {
  // Written without closures: this runs for every candidate pair.
  let result = Conflict.None;
  if (rules.differentSsn && levels[8] === 2) {
    result = Conflict.Hard;
    if (!reasons) return result;
    reasons.push('different SSN');
  }
  // Newborns / multiples: the birth order must agree ("Baby Boy A" vs "Baby Boy B", multipleBirth 1 vs 2).
  if (rules.multipleBirth && a.birthOrder !== b.birthOrder && ((a.birthOrder !== '' && b.birthOrder !== '') || (a.newborn && b.newborn))) {
    result = Conflict.Hard;
    if (!reasons) return result;
    reasons.push('different or unknown multiple-birth order');
  }
  const d = levels[2]!;
  const givenDisagrees = levels[0] === G.disagree && d !== MISSING;
  const f = levels[1]!;
  // Twins / siblings born together: same family and birth date, clearly different first names.
  if (rules.twins && givenDisagrees && d <= D.typo && f !== MISSING && f <= F.compound) {
    result = Conflict.Hard;
    if (!reasons) return result;
    reasons.push('twin rule: same family and birth date, different given names');
  }
  // Birth dates a generation apart (not a typo or transposition): parent and child, Jr/Sr —
  // unless a personal identifier (SSN, e-mail address) agrees exactly.
  if (rules.birthDatesYearsApart && d === D.disagree && levels[8] !== 0 && levels[7] !== 0 &&
    Math.abs(+a.birthDate.slice(0, 4) - +b.birthDate.slice(0, 4)) >= rules.generationGapYears) {
    if (result === Conflict.None) result = Conflict.Soft;
    reasons?.push('birth dates a generation apart');
  }
  // Opposite-sex twins and siblings (Maria / Mario) share everything but sex and a letter of the first name: a
  // recorded sex that differs only outweighs a typo-close given name as far as "never a direct link".
  if (rules.oppositeSexSiblings && levels[3] === 1 && levels[0]! > G.nickname && levels[0] !== MISSING) {
    if (result === Conflict.None) result = Conflict.Soft;
    reasons?.push('different sex and given name');
  }
  // Household members share address, phone, email and surname, but not first name and birth date.
  if (rules.household && givenDisagrees && d > D.typo) {
    if (result === Conflict.None) result = Conflict.Soft;
    reasons?.push('different given name and birth date');
  }
  return result;
}

/** Weight of one field at one level, term-frequency adjusted when `tf` is given. */
export function fieldWeight(cm: CompiledModel, fieldIndex: number, level: number, a: NormalizedPerson, b: NormalizedPerson, tf: TermFrequencySource | undefined): number {
  const field = COMPARISON_FIELDS[fieldIndex]!;
  let w = cm.weights[field][level]!;
  if (tf && cm.model.termFrequency.enabled) {
    const tfLevel = TF_LEVELS[field];
    if (tfLevel !== undefined) {
      const levels = COMPARISON_LEVELS[field] as readonly string[];
      const tfIndex = levels.indexOf(tfLevel);
      if (level === tfIndex || (level > tfIndex && w > 0)) {
        const tfField = field === 'locality' ? 'city' : (field as 'given' | 'family');
        // The more common of the two values: for a typo ("Lonon" / "London") that is the real name.
        const freq = Math.max(tf.frequency(tfField, a[tfField]), level === tfIndex ? 0 : tf.frequency(tfField, b[tfField]));
        if (freq > 0) {
          // log2(m / u_tf) instead of log2(m / u): rare values weigh more, common ones less.
          const cap = cm.model.termFrequency.maxAdjustmentBits;
          const exact = cm.weights[field][tfIndex]! + Math.max(-cap, Math.min(cap, Math.log2(cm.tfU[field]! / freq)));
          // A fuzzier level never says more than exact agreement on the same (common) value would.
          w = level === tfIndex ? exact : Math.min(w, exact);
        }
      }
    }
  }
  return w;
}

export interface PairScore { score: number; cannotLink: boolean }

const scratch = new Int8Array(FIELD_COUNT);
/** Allocation-free score for the bulk linker's hot path (the comparison levels are left in `levels`). */
export function scorePair(cm: CompiledModel, a: NormalizedPerson, b: NormalizedPerson, tf?: TermFrequencySource, levels: Int8Array = scratch): PairScore {
  comparisonLevels(a, b, levels);
  let score = 0;
  for (let i = 0; i < FIELD_COUNT; i++) {
    const level = levels[i]!;
    if (level !== MISSING) score += fieldWeight(cm, i, level, a, b, tf);
  }
  return { score, cannotLink: conflictBetween(a, b, levels, cm.model.hardRules) !== Conflict.None };
}

export function outcomeFor(cm: CompiledModel, score: number, cannotLink: boolean): MatchOutcome {
  const t = cm.thresholds;
  if (score >= t.match && !cannotLink) return 'match';
  if (score >= t.possible) return 'possible';
  return 'no-match';
}

/** Full comparison with per-field detail (for $match, possible-match review and debugging). */
export function compare(cm: CompiledModel, a: NormalizedPerson, b: NormalizedPerson, tf?: TermFrequencySource): ComparisonResult {
  const levels = new Int8Array(FIELD_COUNT);
  const swapped = comparisonLevels(a, b, levels);
  const fieldComparisons: FieldComparison[] = [];
  let score = 0;
  for (let i = 0; i < FIELD_COUNT; i++) {
    const field = COMPARISON_FIELDS[i]!;
    const level = levels[i]!;
    if (level === MISSING) {
      fieldComparisons.push({ field, level: 'missing', weight: 0 });
      continue;
    }
    const weight = fieldWeight(cm, i, level, a, b, tf);
    score += weight;
    fieldComparisons.push({ field, level: COMPARISON_LEVELS[field][level]!, weight });
  }
  const reasons: string[] = [];
  const cannotLink = conflictBetween(a, b, levels, cm.model.hardRules, reasons) !== Conflict.None;
  if (swapped) reasons.push('given and family names swapped');
  const prior = cm.model.prior ?? 1e-6;
  const odds = (prior / (1 - prior)) * 2 ** score;
  return {
    score,
    outcome: outcomeFor(cm, score, cannotLink),
    probability: odds / (1 + odds),
    cannotLink,
    reasons,
    fieldComparisons,
  };
}
