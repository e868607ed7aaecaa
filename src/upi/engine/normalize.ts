// Normalisation of a person's demographics into comparable, canonical values.
// Every placeholder ("unknown", 1900-01-01, 999-99-9999, 555 phones, noemail@…) becomes the
// empty string here, so no comparator ever gives it weight.
import { readFileSync } from 'node:fs';
import { doubleMetaphone } from 'double-metaphone';
import { soundex } from './strings.ts';

/** A person record as it arrives (from a CSV row or a FHIR Patient). All fields optional. */
export interface PersonInput {
  given?: string | undefined;
  family?: string | undefined;
  birthDate?: string | undefined;
  sex?: string | undefined;
  line?: string | undefined;
  city?: string | undefined;
  state?: string | undefined;
  postalCode?: string | undefined;
  phone?: string | undefined;
  email?: string | undefined;
  ssn?: string | undefined;
  mrn?: string | undefined;
  mrnSystem?: string | undefined;
  /** FHIR Patient.multipleBirth[x]: true or the birth order (1, 2, …). */
  multipleBirth?: boolean | number | string | undefined;
}

/** Canonical form of a person. Empty string = missing (or placeholder). */
export interface NormalizedPerson {
  /** First given name (nickname-free spelling as entered, normalised). */
  given: string;
  /** All given-name tokens, including middle names. */
  givenTokens: string[];
  /** Family name with spaces/hyphens removed ("de la cruz" → "delacruz"). */
  family: string;
  /** Family-name parts (compound / hyphenated surnames). */
  familyTokens: string[];
  givenPhonetic: string;
  familyPhonetic: string;
  familySoundex: string;
  /** Newborn placeholder name ("Baby Boy", "Twin A", "BG Smith"…) was seen. */
  newborn: boolean;
  /** Multiple-birth marker: order from "Twin A"/"Baby Boy B"/multipleBirth = 2 … ('' if none). */
  birthOrder: string;
  /** YYYYMMDD */
  birthDate: string;
  sex: '' | 'm' | 'f' | 'o';
  houseNumber: string;
  /** Street without house number and unit, USPS-abbreviated. */
  street: string;
  unit: string;
  city: string;
  state: string;
  zip5: string;
  zip4: string;
  /** 10 digits (NANP) or the digits as given if not NANP-shaped. */
  phone: string;
  email: string;
  ssn: string;
  mrn: string;
  mrnSystem: string;
}

interface AddressData {
  suffixes: Record<string, string>;
  directionals: Record<string, string>;
  unitDesignators: Record<string, string>;
}
interface PlaceholderData {
  names: string[];
  newbornPrefixes: string[];
  multipleBirthSuffixes: string[];
  birthDates: string[];
  ssns: string[];
  phones: string[];
  emailLocalParts: string[];
  emailDomains: string[];
}

function readData<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./data/${name}`, import.meta.url), 'utf8')) as T;
}

const ADDRESS = readData<AddressData>('address.json');
const PLACEHOLDERS = readData<PlaceholderData>('placeholders.json');
const PLACEHOLDER_NAMES = new Set(PLACEHOLDERS.names.map((n) => n.replace(/[^a-z]/g, '')));
const NEWBORN_PREFIXES = new Set(PLACEHOLDERS.newbornPrefixes);
const BIRTH_ORDER = new Map<string, string>([
  ['a', '1'], ['b', '2'], ['c', '3'], ['d', '4'], ['1', '1'], ['2', '2'], ['3', '3'], ['4', '4'],
  ['i', '1'], ['ii', '2'], ['iii', '3'], ['one', '1'], ['two', '2'], ['three', '3'],
  ['first', '1'], ['second', '2'], ['third', '3'],
]);
const PLACEHOLDER_DATES = new Set(PLACEHOLDERS.birthDates.map((d) => d.replace(/-/g, '')));
const PLACEHOLDER_SSNS = new Set(PLACEHOLDERS.ssns);
const PLACEHOLDER_PHONES = new Set(PLACEHOLDERS.phones);
const PLACEHOLDER_EMAIL_LOCAL = new Set(PLACEHOLDERS.emailLocalParts);
const PLACEHOLDER_EMAIL_DOMAIN = new Set(PLACEHOLDERS.emailDomains);
const NAME_AFFIXES = new Set(['mr', 'mrs', 'ms', 'miss', 'dr', 'prof', 'rev', 'sir', 'jr', 'sr', 'ii', 'iii', 'iv', 'md', 'phd', 'esq']);

/** Lower-case, strip accents, drop apostrophes and dots, other punctuation → space. */
export function foldText(s: string | undefined): string {
  if (!s) return '';
  return s
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/ß/g, 'ss')
    .replace(/æ/g, 'ae')
    .replace(/ø/g, 'o')
    .replace(/['’`.]/g, '')
    .replace(/[^a-z0-9#]+/g, ' ')
    .trim();
}

function nameTokens(s: string | undefined): string[] {
  return foldText(s).replace(/[#0-9]/g, ' ').split(' ').filter((t) => t.length > 0 && !NAME_AFFIXES.has(t));
}

function phoneticKey(s: string): string {
  if (s === '') return '';
  return doubleMetaphone(s)[0];
}

interface GivenResult { tokens: string[]; newborn: boolean; birthOrder: string }

/** Splits off newborn placeholders ("Baby Boy A", "Twin B", "BG") and generic placeholders. */
function normalizeGiven(raw: string | undefined): GivenResult {
  const tokens = nameTokens(raw);
  if (tokens.length === 0) return { tokens, newborn: false, birthOrder: '' };
  let newborn = false;
  let birthOrder = '';
  let rest = tokens;
  while (rest.length > 0 && (NEWBORN_PREFIXES.has(rest[0]!) || rest[0] === 'babyboy' || rest[0] === 'babygirl')) {
    newborn = true;
    rest = rest.slice(1);
  }
  if (newborn) {
    // "Baby Boy A", "Twin 2": the trailing token is a birth order, never a name.
    if (rest.length > 0 && BIRTH_ORDER.has(rest[rest.length - 1]!)) {
      birthOrder = BIRTH_ORDER.get(rest[rest.length - 1]!)!;
      rest = rest.slice(0, -1);
    }
  }
  rest = rest.filter((t) => !PLACEHOLDER_NAMES.has(t));
  if (PLACEHOLDER_NAMES.has(tokens.join(''))) rest = [];
  return { tokens: rest, newborn, birthOrder };
}

function normalizeFamily(raw: string | undefined): string[] {
  const tokens = nameTokens(raw);
  if (tokens.length === 0 || PLACEHOLDER_NAMES.has(tokens.join(''))) return [];
  return tokens;
}

function validDate(y: number, m: number, d: number): boolean {
  if (y < 1850 || y > 2100 || m < 1 || m > 12 || d < 1) return false;
  const dim = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return d <= dim;
}

/** ISO (YYYY-MM-DD[Thh…]), YYYYMMDD or US MM/DD/YYYY → YYYYMMDD ('' if invalid/placeholder). */
export function normalizeBirthDate(raw: string | undefined): string {
  if (!raw) return '';
  const s = raw.trim();
  let y: number;
  let m: number;
  let d: number;
  let match: RegExpExecArray | null;
  if ((match = /^(\d{4})-(\d{1,2})-(\d{1,2})/.exec(s))) {
    y = +match[1]!; m = +match[2]!; d = +match[3]!;
  } else if ((match = /^(\d{4})(\d{2})(\d{2})$/.exec(s))) {
    y = +match[1]!; m = +match[2]!; d = +match[3]!;
  } else if ((match = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$/.exec(s))) {
    y = +match[3]!; m = +match[1]!; d = +match[2]!;
    if (m > 12 && d <= 12) [m, d] = [d, m];
  } else {
    return '';
  }
  if (!validDate(y, m, d)) return '';
  const out = `${y}${String(m).padStart(2, '0')}${String(d).padStart(2, '0')}`;
  return PLACEHOLDER_DATES.has(out) ? '' : out;
}

export function normalizeSex(raw: string | undefined): NormalizedPerson['sex'] {
  const s = foldText(raw);
  if (s === 'm' || s === 'male' || s === 'man' || s === 'boy') return 'm';
  if (s === 'f' || s === 'female' || s === 'woman' || s === 'girl' || s === 'w') return 'f';
  if (s === 'o' || s === 'other' || s === 'x' || s === 'nonbinary') return 'o';
  return '';
}

export function normalizePhone(raw: string | undefined): string {
  if (!raw) return '';
  // Drop extensions ("x123", "ext 4") before taking digits.
  let digits = raw.toLowerCase().replace(/(ext|x)\.?\s*\d+\s*$/, '').replace(/\D/g, '');
  if (digits.length === 11 && digits.startsWith('1')) digits = digits.slice(1);
  if (digits.length < 7) return '';
  if (/^(\d)\1+$/.test(digits) || PLACEHOLDER_PHONES.has(digits)) return '';
  // 555 exchange numbers are fictional (555-01xx reserved, 555-xxxx used as filler).
  if (digits.length === 10 && digits.slice(3, 6) === '555') return '';
  if (digits.length === 7 && digits.startsWith('555')) return '';
  return digits;
}

export function normalizeEmail(raw: string | undefined): string {
  const s = (raw ?? '').trim().toLowerCase();
  const at = s.lastIndexOf('@');
  if (at <= 0 || at === s.length - 1) return s.length > 0 && !s.includes('@') && s.length > 3 ? s : '';
  const local = s.slice(0, at);
  const domain = s.slice(at + 1);
  if (PLACEHOLDER_EMAIL_LOCAL.has(local) || PLACEHOLDER_EMAIL_LOCAL.has(local.replace(/[^a-z]/g, ''))) return '';
  if (PLACEHOLDER_EMAIL_DOMAIN.has(domain)) return '';
  return s;
}

export function normalizeSsn(raw: string | undefined): string {
  const digits = (raw ?? '').replace(/\D/g, '');
  if (digits.length !== 9) return '';
  if (PLACEHOLDER_SSNS.has(digits)) return '';
  const area = digits.slice(0, 3);
  // Never-issued areas / groups / serials (SSA rules): 000, 666, 9xx, group 00, serial 0000.
  if (area === '000' || area === '666' || area[0] === '9') return '';
  if (digits.slice(3, 5) === '00' || digits.slice(5) === '0000') return '';
  return digits;
}

export interface NormalizedAddress { houseNumber: string; street: string; unit: string }

/** Street line → house number, USPS-abbreviated street, unit ("Apt 4B", "#4B", "Unit 4-B" → "4b"). */
export function normalizeStreetLine(raw: string | undefined): NormalizedAddress {
  const tokens = foldText(raw).replace(/#/g, ' # ').split(/\s+/).filter((t) => t.length > 0);
  if (tokens.length === 0) return { houseNumber: '', street: '', unit: '' };
  let unit = '';
  const streetTokens: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const designator = ADDRESS.unitDesignators[t];
    // A designator not at the start followed by a value is a unit ("apt 4b", "# 4b", "ste 200").
    if (designator !== undefined && i > 0 && i + 1 < tokens.length) {
      unit = tokens.slice(i + 1).join('');
      break;
    }
    if (designator !== undefined && i > 0 && i + 1 === tokens.length && /\d/.test(t)) break;
    streetTokens.push(t);
  }
  let houseNumber = '';
  if (streetTokens.length > 0 && /^\d+[a-z]?$/.test(streetTokens[0]!)) {
    houseNumber = streetTokens.shift()!;
  } else if (streetTokens.length > 0 && /^\d+-\d+$/.test(streetTokens[0]!)) {
    houseNumber = streetTokens.shift()!.replace('-', '');
  }
  // A trailing bare number after the street ("Main St 4") is a unit.
  if (unit === '' && streetTokens.length > 2 && /^\d+[a-z]?$/.test(streetTokens[streetTokens.length - 1]!)) {
    unit = streetTokens.pop()!;
  }
  const street = streetTokens
    .map((t, i) => {
      const dir = ADDRESS.directionals[t];
      if (dir !== undefined && (i === 0 || i === streetTokens.length - 1)) return dir;
      // Suffix abbreviation only after the street name itself ("Court St", not "St Court").
      if (i > 0) return ADDRESS.suffixes[t] ?? t;
      return t;
    })
    .join(' ');
  return { houseNumber, street, unit };
}

export function normalizeRecord(input: PersonInput): NormalizedPerson {
  const givenResult = normalizeGiven(input.given);
  let familyTokens = normalizeFamily(input.family);
  let newborn = givenResult.newborn;
  let birthOrder = givenResult.birthOrder;
  // "Baby Boy" typed into the family field, or "Smith, Baby Girl" style swaps.
  const familyAsGiven = normalizeGiven(input.family);
  if (familyAsGiven.newborn) {
    newborn = true;
    if (birthOrder === '') birthOrder = familyAsGiven.birthOrder;
    familyTokens = familyAsGiven.tokens;
  }
  const mb = input.multipleBirth;
  if (mb !== undefined && mb !== '' && mb !== false) {
    const n = typeof mb === 'number' ? mb : /^\d+$/.test(String(mb)) ? Number(mb) : String(mb).toLowerCase() === 'true' ? 0 : NaN;
    if (Number.isFinite(n) && n > 0) birthOrder = String(n);
    else if (birthOrder === '') birthOrder = '?';
  }
  const given = givenResult.tokens[0] ?? '';
  const family = familyTokens.join('');
  const addr = normalizeStreetLine(input.line);
  const zipDigits = (input.postalCode ?? '').replace(/[^0-9]/g, '');
  const zip5 = zipDigits.length >= 5 && !/^0{5}$|^9{5}$/.test(zipDigits.slice(0, 5)) ? zipDigits.slice(0, 5) : '';
  const zip4 = zip5 !== '' && zipDigits.length === 9 ? zipDigits.slice(5) : '';
  const city = foldText(input.city).replace(/#/g, '').replace(/\s+/g, ' ').trim();
  const mrn = (input.mrn ?? '').trim().toLowerCase().replace(/^0+(?=\d)/, '');
  return {
    given,
    givenTokens: givenResult.tokens,
    family,
    familyTokens,
    givenPhonetic: phoneticKey(given),
    familyPhonetic: phoneticKey(family),
    familySoundex: soundex(family),
    newborn,
    birthOrder,
    birthDate: normalizeBirthDate(input.birthDate),
    sex: normalizeSex(input.sex),
    houseNumber: addr.houseNumber,
    street: addr.street,
    unit: addr.unit,
    city: PLACEHOLDER_NAMES.has(city.replace(/ /g, '')) ? '' : city,
    state: foldText(input.state).replace(/[^a-z]/g, ''),
    zip5,
    zip4,
    phone: normalizePhone(input.phone),
    email: normalizeEmail(input.email),
    ssn: normalizeSsn(input.ssn),
    mrn: mrn === 'unknown' || mrn === '' ? '' : mrn,
    mrnSystem: (input.mrnSystem ?? '').trim().toLowerCase(),
  };
}
