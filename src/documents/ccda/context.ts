// Per-document conversion state: deterministic ids, the resources built so far (merged when the
// same entry appears twice), the narrative index for originalText references, and issues.
import type { FhirResource, OutcomeIssue } from '../types.ts';
import { type XmlElement, textContent } from '../xml/index.ts';

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The separator hashed between parts (U+001F). */
const SEP = '\u001f';

// The four MurmurHash3 lanes, kept in module state (no allocation per id): hashOnto leaves its result here and
// formatId reads it.
let h1 = 0, h2 = 0, h3 = 0, h4 = 0;

function resetLanes(): void {
  h1 = 0x9747b28c; h2 = 0x85ebca6b; h3 = 0xc2b2ae35; h4 = 0x27d4eb2f;
}

/**
 * UUID-shaped id (version nibble 5, RFC 4122 variant): a valid FHIR id, stable for the same inputs.
 * Four differently seeded MurmurHash3 (32-bit) lanes over the parts joined by U+001F, computed in one
 * pass, give 122 usable bits: collision-safe for ids, and several times cheaper than a cryptographic
 * hash per resource (ids are not secrets; their inputs are in the document anyway). The parts are
 * hashed in place (no joined string) and the UUID is formatted from the lanes directly.
 */
export function deterministicId(...parts: string[]): string {
  resetLanes();
  let n = 0;
  for (let p = 0; p < parts.length; p++) {
    const s = parts[p]!;
    if (p > 0) hashOnto(h1, h2, h3, h4, SEP);
    hashOnto(h1, h2, h3, h4, s);
    n += s.length;
  }
  n += parts.length > 0 ? parts.length - 1 : 0;
  return formatId(n);
}

/**
 * The lanes after hashing `c` onto the given ones, left in h1…h4. One MurmurHash3 step per character, over local lanes: the
 * module-level lanes are context slots, read and written per character otherwise.
 */
function hashOnto(l1: number, l2: number, l3: number, l4: number, c: string): void {
  for (let i = 0; i < c.length; i++) {
    let k = Math.imul(c.charCodeAt(i), 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    l1 ^= k; l1 = (l1 << 13) | (l1 >>> 19); l1 = (Math.imul(l1, 5) + 0xe6546b64) | 0;
    l2 ^= k; l2 = (l2 << 15) | (l2 >>> 17); l2 = (Math.imul(l2, 5) + 0x561ccd1b) | 0;
    l3 ^= k; l3 = (l3 << 17) | (l3 >>> 15); l3 = (Math.imul(l3, 5) + 0x0bcaa747) | 0;
    l4 ^= k; l4 = (l4 << 19) | (l4 >>> 13); l4 = (Math.imul(l4, 5) + 0x96cd1c35) | 0;
  }
  h1 = l1; h2 = l2; h3 = l3; h4 = l4;
}

/**
 * deterministicId(a, b, c) for a fixed (a, b) prefix: the lane state after hashing `a␟b␟` is computed
 * once (the HL7 v2 / NCPDP collector hashes namespace + resource type + key for every resource).
 */
export class IdHasher {
  private readonly prefixes = new Map<string, Int32Array>();
  constructor(private readonly a: string) {}

  private prefix(b: string): Int32Array {
    let st = this.prefixes.get(b);
    if (st === undefined) {
      resetLanes();
      hashParts(this.a, b);
      st = Int32Array.of(h1, h2, h3, h4);
      this.prefixes.set(b, st);
    }
    return st;
  }

  id(b: string, c: string): string {
    const st = this.prefix(b);
    hashOnto(st[0]!, st[1]!, st[2]!, st[3]!, c);
    return formatId(this.a.length + b.length + c.length + 2);
  }

  /**
   * Incremental form of id() for keys built by appending (a place hierarchy: `|facility=…|building=…`):
   * `finish(extend(extend(start(b), x), y))` is `id(b, x + y)`, and each state can be extended again, so a
   * key that extends another is not hashed from its start.
   */
  start(b: string): IdState {
    const st = this.prefix(b);
    return { l1: st[0]!, l2: st[1]!, l3: st[2]!, l4: st[3]!, n: this.a.length + b.length + 2 };
  }

  extend(st: IdState, c: string): IdState {
    hashOnto(st.l1, st.l2, st.l3, st.l4, c);
    return { l1: h1, l2: h2, l3: h3, l4: h4, n: st.n + c.length };
  }

  finish(st: IdState): string {
    h1 = st.l1; h2 = st.l2; h3 = st.l3; h4 = st.l4;
    return formatId(st.n);
  }
}

/** Lanes of IdHasher after some characters, and how many were hashed. */
export interface IdState {
  readonly l1: number;
  readonly l2: number;
  readonly l3: number;
  readonly l4: number;
  readonly n: number;
}

/** deterministicId(a, b, c) without the rest-parameter array. */
export function deterministicId3(a: string, b: string, c: string): string {
  resetLanes();
  hashParts(a, b);
  hashOnto(h1, h2, h3, h4, c);
  return formatId(a.length + b.length + c.length + 2);
}

/** `a␟b␟` onto the lanes. */
function hashParts(a: string, b: string): void {
  hashOnto(h1, h2, h3, h4, a);
  hashOnto(h1, h2, h3, h4, SEP);
  hashOnto(h1, h2, h3, h4, b);
  hashOnto(h1, h2, h3, h4, SEP);
}

// Lowercase hex digits as char codes, for formatId.
const HEXC = Uint8Array.from('0123456789abcdef', (ch) => ch.charCodeAt(0));

function formatId(n: number): string {
  const a = fmix(h1 ^ n), b = fmix(h2 ^ n), c = fmix(h3 ^ n), d = fmix(h4 ^ n);
  // Same text as slicing hex8(a)+hex8(b)+hex8(c)+hex8(d) into 8-4-4-4-12 with nibble 12 forced to 5
  // and nibble 16's two high bits to 10. One fromCharCode call makes one flat string (concatenating two-digit
  // pieces made ~20 intermediate strings per id, and a rope that was flattened again when used as a key).
  const x = HEXC;
  return String.fromCharCode(
    x[a >>> 28]!, x[(a >>> 24) & 15]!, x[(a >>> 20) & 15]!, x[(a >>> 16) & 15]!, x[(a >>> 12) & 15]!, x[(a >>> 8) & 15]!, x[(a >>> 4) & 15]!, x[a & 15]!, 45,
    x[b >>> 28]!, x[(b >>> 24) & 15]!, x[(b >>> 20) & 15]!, x[(b >>> 16) & 15]!, 45,
    53, x[(b >>> 8) & 15]!, x[(b >>> 4) & 15]!, x[b & 15]!, 45,
    x[((c >>> 28) & 3) | 8]!, x[(c >>> 24) & 15]!, x[(c >>> 20) & 15]!, x[(c >>> 16) & 15]!, 45,
    x[(c >>> 12) & 15]!, x[(c >>> 8) & 15]!, x[(c >>> 4) & 15]!, x[c & 15]!,
    x[d >>> 28]!, x[(d >>> 24) & 15]!, x[(d >>> 20) & 15]!, x[(d >>> 16) & 15]!, x[(d >>> 12) & 15]!, x[(d >>> 8) & 15]!, x[(d >>> 4) & 15]!, x[d & 15]!,
  );
}

// Arrays whose items are merged by value when the same resource is met twice.
const UNION_KEYS = new Set(['identifier', 'name', 'telecom', 'address', 'category', 'performer', 'participant', 'reasonCode', 'note', 'hasMember', 'result', 'member', 'extension', 'reaction']);

// Choice elements: a merged resource keeps the variant it already has (value[x], effective[x] …).
const CHOICE_PREFIXES = ['value', 'effective', 'onset', 'abatement', 'occurrence', 'performed', 'medication', 'deceased', 'timing', 'asNeeded', 'born', 'multipleBirth', 'serviced', 'reported'];

function choicePrefix(key: string): string | undefined {
  for (const p of CHOICE_PREFIXES) if (key.length > p.length && key.startsWith(p) && key.charCodeAt(p.length) <= 90) return p;
  return undefined;
}

/** What an entry is about; two entries sharing an id but not this are different facts, not duplicates. */
function identity(r: FhirResource): string {
  const v = (r.code ?? r.vaccineCode ?? r.medicationReference ?? r.type ?? r.description ?? r.relationship) as
    { coding?: { system?: string; code?: string }[]; text?: string; reference?: string } | undefined;
  if (v === undefined || typeof v !== 'object') return JSON.stringify(v ?? null);
  const first = v.coding?.[0];
  return first !== undefined ? `${first.system ?? ''}|${first.code ?? ''}` : v.reference ?? v.text ?? JSON.stringify(v);
}

const DATE_KEYS = ['occurrenceDateTime', 'effectiveDateTime', 'performedDateTime', 'onsetDateTime', 'authoredOn'];

/** Two resources with one id describe the same fact when their codes agree and their dates don't conflict. */
function sameFact(a: FhirResource, b: FhirResource): boolean {
  if (identity(a) !== identity(b)) return false;
  for (const k of DATE_KEYS) if (a[k] !== undefined && b[k] !== undefined && a[k] !== b[k]) return false;
  return true;
}

function mergeInto(target: FhirResource, extra: FhirResource): void {
  for (const [k, v] of Object.entries(extra)) {
    const cur = target[k];
    const prefix = choicePrefix(k);
    if (prefix !== undefined && cur === undefined && Object.keys(target).some((t) => t !== k && choicePrefix(t) === prefix)) continue;
    if (cur === undefined) target[k] = v;
    else if (Array.isArray(cur) && Array.isArray(v) && UNION_KEYS.has(k)) {
      const seen = new Set(cur.map((x) => JSON.stringify(x)));
      for (const item of v) {
        const key = JSON.stringify(item);
        if (!seen.has(key)) {
          seen.add(key);
          cur.push(item);
        }
      }
    }
  }
}

export class ConversionContext {
  readonly resources = new Map<string, FhirResource>();
  readonly issues: OutcomeIssue[] = [];
  patientRef = '';
  /** Per-document memo for builders that see the same thing many times (keys are prefixed by kind). */
  readonly memo = new Map<string, unknown>();
  private narrative: Map<string, XmlElement> | undefined;

  constructor(
    private readonly namespace: string,
    private readonly documentKey: string,
    private readonly narrativeRoots: () => XmlElement[],
  ) {}

  id(type: string, key: string): string {
    return deterministicId(this.namespace, this.documentKey, type, key);
  }

  /** Adds a resource (its id already set) or merges it into the one with the same id; returns `Type/id`. */
  add(resource: FhirResource): string {
    let ref = `${resource.resourceType}/${resource.id}`;
    let existing = this.resources.get(ref);
    if (existing !== undefined && !sameFact(existing, resource)) {
      // Same id, different content (senders reuse ids): keep both, with a derived stable id.
      resource.id = deterministicId(resource.id ?? '', identity(resource), ...DATE_KEYS.map((k) => String(resource[k] ?? '')));
      ref = `${resource.resourceType}/${resource.id}`;
      existing = this.resources.get(ref);
    }
    if (existing === undefined) this.resources.set(ref, resource);
    else mergeInto(existing, resource);
    return ref;
  }

  has(ref: string): boolean {
    return this.resources.has(ref);
  }

  warn(code: string, diagnostics: string, expression?: string): void {
    if (this.issues.length >= 500) return; // bounded: a hostile document must not grow the outcome without limit
    const issue: OutcomeIssue = { severity: 'warning', code, diagnostics };
    if (expression !== undefined) issue.expression = [expression];
    this.issues.push(issue);
  }

  /** Text of the narrative element with this ID attribute. */
  readonly lookup = (id: string): string | undefined => {
    if (this.narrative === undefined) {
      // Index elements only; their text is built when asked for (IDs nest: rows contain cells).
      const map = new Map<string, XmlElement>();
      const walk = (el: XmlElement): void => {
        const eid = el.attrs.ID ?? el.attrs.id;
        if (eid !== undefined && !map.has(eid)) map.set(eid, el);
        for (const c of el.children) if (c.type === 'element') walk(c);
      };
      for (const r of this.narrativeRoots()) walk(r);
      this.narrative = map;
    }
    const el = this.narrative.get(id);
    return el === undefined ? undefined : textContent(el);
  };
}
