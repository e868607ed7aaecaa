// Collects the resources a converter builds, gives them deterministic ids, validates each one and
// assembles the ConversionResult (invalid resources dropped and counted, never thrown).
// Shared by the HL7 v2 and NCPDP converters.
// Same id function as the C-CDA converter (fast seeded MurmurHash3 lanes, UUID-shaped).
import { IdHasher, type IdState } from '../ccda/context.ts';
import { validateResource, type ValidationIssue } from '../../fhir/validation/index.ts';
import type { ConversionResult, FhirResource, OutcomeIssue } from '../types.ts';

export interface EmitOptions {
  /** Namespace mixed into every id so different sources never collide (default 'tessera'). */
  idNamespace?: string;
  /**
   * Validate the resources (default true): every resource goes through the store's R4 validator, except
   * those a builder marks valid by construction (fixed shape, every value from a sanitiser: every HL7 v2
   * resource), which only get a cheap size check. 'all' runs the validator on those too; false validates
   * nothing.
   */
  validate?: boolean | 'all';
}

// One hasher per namespace (feeds use a handful), so the namespace + type prefix is hashed once per process.
const HASHERS = new Map<string, IdHasher>();
function hasherFor(ns: string): IdHasher {
  let h = HASHERS.get(ns);
  if (h === undefined) {
    if (HASHERS.size >= 1000) HASHERS.clear();
    h = new IdHasher(ns);
    HASHERS.set(ns, h);
  }
  return h;
}

/** R4: strings SHALL NOT exceed 1 MB (the validator's limit, in UTF-16 units). */
const MAX_STRING = 1024 * 1024;

/** The checks a valid-by-construction resource still needs: no oversized string (input-derived text). */
function oversized(v: unknown): boolean {
  if (typeof v === 'string') return v.length > MAX_STRING;
  if (typeof v !== 'object' || v === null) return false;
  // Leaves are checked in the loop (no call per string or number): most members are leaves.
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (typeof x === 'string' ? x.length > MAX_STRING : typeof x === 'object' && x !== null && oversized(x)) return true;
    }
    return false;
  }
  for (const k in v as Record<string, unknown>) {
    const x = (v as Record<string, unknown>)[k];
    if (typeof x === 'string' ? x.length > MAX_STRING : typeof x === 'object' && x !== null && oversized(x)) return true;
  }
  return false;
}

export class ResourceCollector {
  /**
   * Id → position in `order` / `trustedAt`. Keyed by the id, not the reference: the id is a flat string whose
   * hash V8 computes once, where a `Type/id` key would be a new string to flatten and hash on every add.
   * Ids hash the resource type, so one id never names two types.
   */
  private readonly byId = new Map<number, number>();
  /** Ids whose short key (idKey) another id already holds: practically never used. */
  private byIdSpill: Map<string, number> | undefined;

  private find(id: string): number | undefined {
    const at = this.byId.get(idKey(id));
    if (at === undefined) return undefined;
    return this.order[at]!.id === id ? at : this.byIdSpill?.get(id);
  }
  private readonly order: FhirResource[] = [];
  /** `Type/id` of each resource in `order`. */
  private readonly refs: string[] = [];
  /**
   * Per resource: 0 untrusted, 1 added only by builders whose output is valid by construction (TRUSTED),
   * 2 also without empty top-level slots (COMPACT): result() takes it as it is.
   */
  private readonly trustedAt: number[] = [];
  readonly issues: OutcomeIssue[] = [];
  private readonly hasher: IdHasher;
  private readonly validate: boolean | 'all';

  /**
   * `maxStringLength`: an upper bound on the length of any string the builders can write (HL7 v2: 9× the
   * message, see convertMessage); below 1 MiB the size check of trusted resources is skipped.
   */
  constructor(options: EmitOptions = {}, private readonly maxStringLength = Infinity) {
    this.hasher = hasherFor(options.idNamespace ?? 'tessera');
    this.validate = options.validate ?? true;
  }

  /** Deterministic FHIR id (UUID form, 36 chars) for a resource type and a natural key. */
  id(type: string, key: string): string {
    return this.hasher.id(type, key);
  }

  /** Incremental ids (IdHasher.start/extend/finish): `idOf(extendId(startId(type), key))` is `id(type, key)`. */
  startId(type: string): IdState {
    return this.hasher.start(type);
  }

  extendId(st: IdState, more: string): IdState {
    return this.hasher.extend(st, more);
  }

  idOf(st: IdState): string {
    return this.hasher.finish(st);
  }

  /** Reference string for a resource of this type and key (whether or not it is added). */
  ref(type: string, key: string): string {
    return `${type}/${this.id(type, key)}`;
  }

  has(type: string, key: string): boolean {
    return this.find(this.id(type, key)) !== undefined;
  }

  /**
   * Adds a resource under a natural key and returns its reference. A second resource with the same key
   * is merged into the first (fields the first lacks are taken from the second), so a practitioner or
   * location named twice in one message becomes one resource; a choice element (`deceased[x]`,
   * `effective[x]` …) keeps the variant the first one has. `trusted`: the builder guarantees a valid resource
   * whose nested values are compact (constants and sanitised values only, no undefined or empty member below
   * the top level, `id: ''` right after resourceType so the id lands in FHIR's usual place); top-level members
   * may be undefined or empty arrays/objects (slots that later segments fill, kept so the member order does
   * not depend on the segment order) and are dropped in result() without walking the values. It stays
   * trusted only while every merge is trusted. The corpus and fuzz tests run these through the validator.
   * `'compact'`: trusted, and no top-level member is undefined or empty either (a fixed shape whose members
   * are all set conditionally), so result() does not look at it.
   */
  add(key: string, resource: FhirResource, trusted: Trust = false): string {
    return this.addWithId(this.id(resource.resourceType, key), resource, trusted);
  }

  /** add() with the id already computed (`id(resource.resourceType, key)`, e.g. incrementally). */
  addWithId(id: string, resource: FhirResource, trusted: Trust = false): string {
    const at = this.find(id);
    if (at !== undefined) {
      const existing = this.order[at]!;
      const level = trustLevel(trusted);
      if (level < this.trustedAt[at]!) this.trustedAt[at] = level;
      for (const k in resource) {
        const v = resource[k];
        if (v === undefined || (Array.isArray(v) && v.length === 0)) continue;
        const cur = existing[k];
        if ((cur === undefined || (Array.isArray(cur) && cur.length === 0)) && !otherChoiceVariant(existing, k)) existing[k] = v;
      }
      return this.refs[at]!;
    }
    // Compaction (dropping undefined and empty members) happens once, in result().
    resource.id = id;
    const k = idKey(id);
    if (this.byId.has(k)) (this.byIdSpill ??= new Map()).set(id, this.order.length);
    else this.byId.set(k, this.order.length);
    const ref = `${resource.resourceType}/${id}`;
    this.order.push(resource);
    this.refs.push(ref);
    this.trustedAt.push(trustLevel(trusted));
    return ref;
  }

  /** The reference of the resource added with this id, if any. */
  refOf(id: string): string | undefined {
    const at = this.find(id);
    return at === undefined ? undefined : this.refs[at];
  }

  get(ref: string): FhirResource | undefined {
    const slash = ref.indexOf('/');
    const at = this.find(ref.slice(slash + 1));
    if (at === undefined) return undefined;
    const r = this.order[at]!;
    return r.resourceType.length === slash && ref.startsWith(r.resourceType) ? r : undefined;
  }

  warn(diagnostics: string, code = 'processing', expression?: string): void {
    const issue: OutcomeIssue = { severity: 'warning', code, diagnostics };
    if (expression !== undefined) issue.expression = [expression];
    this.issues.push(issue);
  }

  error(diagnostics: string, code = 'exception'): void {
    this.issues.push({ severity: 'error', code, diagnostics });
  }

  info(diagnostics: string): void {
    this.issues.push({ severity: 'information', code: 'informational', diagnostics });
  }

  /** Validates everything and builds the result. */
  result(): ConversionResult {
    const entry: ConversionResult['bundle']['entry'] = [];
    let resourcesByType: Record<string, number> = {};
    const droppedByType: Record<string, number> = {};
    let dropped = 0;
    const goneRefs: string[] = [];
    const issues = [...this.issues];
    for (let i = 0; i < this.order.length; i++) {
      const built = this.order[i]!;
      const level = this.trustedAt[i]!;
      const trusted = level !== UNTRUSTED;
      // Converters fill members after adding (diagnoses, results, notes), so compaction happens here, once.
      // Trusted resources are compact by construction below the top level (and put the id placeholder
      // second): only their top-level slots are looked at, and not even those of compact ones.
      const r = level === COMPACT ? built : trusted ? compactTop(built) : compactResource(built);
      let problems: ValidationIssue[] = NONE;
      if (this.validate === 'all' || (this.validate === true && !trusted)) problems = errorsOf(validateResource(r));
      else if (this.validate === true && this.maxStringLength > MAX_STRING && oversized(r)) problems = [{ severity: 'error', code: 'value', path: r.resourceType, message: 'a string is longer than 1 MiB' }];
      if (problems.length > 0) {
        goneRefs.push(`${r.resourceType}/${r.id}`);
        dropped++;
        droppedByType[r.resourceType] = (droppedByType[r.resourceType] ?? 0) + 1;
        const first = problems.slice(0, 3).map((p) => `${p.path}: ${p.message}`).join('; ');
        issues.push({ severity: 'error', code: 'invalid', diagnostics: `${r.resourceType}/${r.id} dropped: ${first}`, expression: problems.slice(0, 3).map((p) => p.path) });
        continue;
      }
      entry.push({ fullUrl: `urn:uuid:${r.id}`, resource: r });
      // Counted here (in entry order, so the same member order as counting the entries afterwards); recounted
      // below only when resources were dropped.
      resourcesByType[r.resourceType] = (resourcesByType[r.resourceType] ?? 0) + 1;
    }
    if (dropped > 0) {
      // References to dropped resources are removed (an array item holding one goes, another member is
      // deleted); a resource that is invalid without them (a required subject) is dropped in turn.
      const gone = new Set(goneRefs);
      for (let more = true; more;) {
        more = false;
        for (let i = entry.length - 1; i >= 0; i--) {
          const r = entry[i]!.resource;
          // Losing its patient (or subject) would leave a resource about nobody: it goes too.
          const orphan = SUBJECT_KEYS.some((k) => refersTo(r[k], gone));
          if (!orphan && !pruneReferences(r, gone)) continue;
          const problems = orphan ? [{ path: `${r.resourceType}.subject`, message: 'its subject was dropped' }] : this.validate === false ? NONE : errorsOf(validateResource(r));
          if (problems.length === 0) continue;
          entry.splice(i, 1);
          gone.add(`${r.resourceType}/${r.id}`);
          dropped++;
          droppedByType[r.resourceType] = (droppedByType[r.resourceType] ?? 0) + 1;
          issues.push({ severity: 'error', code: 'invalid', diagnostics: `${r.resourceType}/${r.id} dropped: it needs a resource that was dropped (${problems[0]!.path}: ${problems[0]!.message})` });
          more = true;
        }
      }
      issues.push({ severity: 'warning', code: 'incomplete', diagnostics: `${dropped} resource(s) dropped as invalid` });
    }
    if (dropped > 0) {
      resourcesByType = {};
      for (const e of entry) resourcesByType[e.resource.resourceType] = (resourcesByType[e.resource.resourceType] ?? 0) + 1;
    }
    return {
      bundle: { resourceType: 'Bundle', type: 'collection', entry },
      outcome: { resourceType: 'OperationOutcome', issue: issues.length > 0 ? issues : [{ severity: 'information', code: 'informational', diagnostics: 'converted' }] },
      stats: { resourcesByType, dropped, droppedByType },
      ok: true,
    };
  }
}

const NONE: ValidationIssue[] = [];

/** How far a builder vouches for a resource (see ResourceCollector.add). */
export type Trust = boolean | 'compact';
const UNTRUSTED = 0;
const TRUSTED = 1;
const COMPACT = 2;

function trustLevel(t: Trust): number {
  return t === 'compact' ? COMPACT : t ? TRUSTED : UNTRUSTED;
}

/** The first 7 hex digits of a UUID-shaped id as a small integer: a Map key V8 hashes without reading a string. */
function idKey(id: string): number {
  let k = 0;
  for (let i = 0; i < 7; i++) {
    const c = id.charCodeAt(i);
    k = (k << 4) | (c <= 57 ? c - 48 : c - 87);
  }
  return k;
}

// Choice elements the converters write (R4 names): a merge must not add a second variant of one.
const CHOICE_PREFIXES = ['value', 'effective', 'onset', 'abatement', 'performed', 'deceased', 'multipleBirth', 'occurrence', 'timing', 'serviced'];

/** r already holds another variant of the choice element that key `k` is one variant of. */
function otherChoiceVariant(r: FhirResource, k: string): boolean {
  for (const p of CHOICE_PREFIXES) {
    if (k.length <= p.length || !k.startsWith(p) || k.charCodeAt(p.length) > 90) continue;
    for (const other in r) if (other !== k && r[other] !== undefined && other.length > p.length && other.startsWith(p) && other.charCodeAt(p.length) <= 90) return true;
    return false;
  }
  return false;
}

/**
 * A trusted resource without its empty top-level slots (undefined, empty array, empty object); the resource
 * itself when it has none. Same result as compactResource for a resource whose nested values are compact.
 */
function compactTop(r: FhirResource): FhirResource {
  let empty = false;
  for (const k in r) {
    if (isEmptySlot(r[k])) { empty = true; break; }
  }
  if (!empty) return r;
  const out: FhirResource = { resourceType: r.resourceType, id: r.id };
  for (const k in r) {
    if (k === 'resourceType' || k === 'id') continue;
    const v = r[k];
    if (!isEmptySlot(v)) out[k] = v;
  }
  return out;
}

function isEmptySlot(v: unknown): boolean {
  if (v === undefined) return true;
  if (typeof v !== 'object' || v === null) return false;
  return Array.isArray(v) ? v.length === 0 : !hasMember(v as Record<string, unknown>);
}

const SUBJECT_KEYS = ['subject', 'patient', 'beneficiary'];

function refersTo(v: unknown, gone: Set<string>): boolean {
  if (typeof v !== 'object' || v === null) return false;
  if (Array.isArray(v)) return v.some((x) => refersTo(x, gone));
  const o = v as Record<string, unknown>;
  if (typeof o.reference === 'string' && gone.has(o.reference)) return true;
  for (const k in o) if (refersTo(o[k], gone)) return true;
  return false;
}

/** Removes references to `gone` resources from o (in place); true when something was removed. */
function pruneReferences(o: Record<string, unknown>, gone: Set<string>): boolean {
  let changed = false;
  for (const k of Object.keys(o)) {
    const v = o[k];
    if (typeof v !== 'object' || v === null) continue;
    if (Array.isArray(v)) {
      const kept = v.filter((x) => !refersTo(x, gone));
      if (kept.length === v.length) continue;
      changed = true;
      if (kept.length > 0) o[k] = kept;
      else delete o[k];
    } else {
      const ref = (v as Record<string, unknown>).reference;
      if (typeof ref === 'string' && gone.has(ref)) {
        delete o[k];
        changed = true;
      } else if (pruneReferences(v as Record<string, unknown>, gone)) {
        changed = true;
        if (Object.keys(v).length === 0) delete o[k];
      }
    }
  }
  return changed;
}

function errorsOf(issues: ValidationIssue[]): ValidationIssue[] {
  for (const p of issues) if (p.severity === 'error') return issues.filter((x) => x.severity === 'error');
  return NONE;
}

/**
 * Compacted copy of a resource (undefined members, empty arrays and empty objects removed, recursively:
 * FHIR forbids empty elements), with resourceType and id first as FHIR JSON is usually written.
 */
function compactResource(built: FhirResource): FhirResource {
  const out: FhirResource = { resourceType: built.resourceType, id: built.id };
  for (const k in built) {
    if (k === 'resourceType' || k === 'id') continue;
    const c = compact(built[k]);
    if (c !== undefined) out[k] = c;
  }
  return out;
}

// Built values are mostly compact already: they are scanned without allocating and copied only from
// the first member that must go (copy-on-write). Unchanged values are returned as they are.
function compactObject(o: Record<string, unknown>): Record<string, unknown> | undefined {
  let out: Record<string, unknown> | undefined;
  let copying = false;
  let any = false;
  for (const k in o) {
    const v = o[k];
    const c = compact(v);
    if (!copying) {
      if (c === v && c !== undefined) { any = true; continue; }
      copying = true;
      out = {};
      for (const before in o) {
        if (before === k) break;
        out[before] = o[before];
      }
    }
    if (c !== undefined) (out ??= {})[k] = c;
  }
  if (!copying) return any ? o : undefined;
  return out !== undefined && hasMember(out) ? out : undefined;
}

function hasMember(o: Record<string, unknown>): boolean {
  for (const _ in o) return true;
  return false;
}

function compactArray(a: unknown[]): unknown[] | undefined {
  let out: unknown[] | undefined;
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    const c = compact(v);
    if (out === undefined) {
      if (c === v && c !== undefined) continue;
      out = a.slice(0, i);
    }
    if (c !== undefined) out.push(c);
  }
  if (out === undefined) return a.length > 0 ? a : undefined;
  return out.length > 0 ? out : undefined;
}

function compact(v: unknown): unknown {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'object') return v;
  if (Array.isArray(v)) return compactArray(v);
  return compactObject(v as Record<string, unknown>);
}
