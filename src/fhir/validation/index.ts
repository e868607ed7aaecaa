// Structural validation of FHIR R4 resources against the R4 definitions.
// Public surface used by the store (400/422 OperationOutcome) and by the document converters
// (drop and count invalid resources).
//
// Checks: known resourceType, known elements (incl. `_x` primitive-extension mirrors), JSON shape
// (array vs single), primitive types/format, cardinality, required elements, one variant per choice
// element, codes of required bindings (when enumerable), no empty objects/arrays/strings (ele-1),
// contained/Bundle/Parameters resources recursively, dom-2 (no nested contained) and ext-1.
// FHIRPath invariants are otherwise not evaluated.
// Each type's rules are compiled once into lookup tables (lazily, on first use).
import { getTypeDef, isResourceType, type ElementDef } from '../definitions/index.ts';
import { PRIMITIVE_CHECKS, type PrimitiveCheck } from './primitives.ts';

export interface ValidationIssue {
  severity: 'error' | 'warning';
  /** FHIRPath-like location, e.g. "Patient.name[0].given[1]" */
  path: string;
  message: string;
}

interface ElementRule {
  el: ElementDef;
  /** JSON key, e.g. "valueQuantity" */
  key: string;
  /** Type of the value under this key */
  type: string;
  /** Primitive check, or null for complex/backbone/Resource values */
  check: PrimitiveCheck | null;
  /** Required-binding codes for `code` values */
  codes: ReadonlySet<string> | null;
  /** Required binding of a CodeableConcept/Coding element (when enumerable) */
  conceptBinding: { valueSet: string; codes: ReadonlySet<string>; systems: ReadonlySet<string> } | null;
  /** Reference elements: the resource types it may point to (null = any) */
  targets: ReadonlySet<string> | null;
  /** Value is a resource (contained, Bundle.entry.resource, …) */
  isResource: boolean;
}

interface CompiledType {
  name: string;
  rules: Record<string, ElementRule>;
  /** Elements with min ≥ 1, with all their JSON keys */
  required: { el: ElementDef; keys: string[] }[];
  /** ext-1 applies to Extension */
  isExtension: boolean;
}

const compiled = new Map<string, CompiledType | null>();

function upperFirst(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function compileType(name: string): CompiledType | null {
  const hit = compiled.get(name);
  if (hit !== undefined) return hit;
  const def = getTypeDef(name);
  if (!def) { compiled.set(name, null); return null; }
  const rules: Record<string, ElementRule> = Object.create(null);
  const required: CompiledType['required'] = [];
  for (const el of def.elements.values()) {
    const keys: string[] = [];
    for (const type of el.types) {
      const key = el.choice ? el.name + upperFirst(type) : el.name;
      const check = PRIMITIVE_CHECKS[type] ?? null;
      const rb = el.requiredBinding;
      const codes = type === 'code' && rb?.codes ? rb.codes : null;
      const conceptBinding = (type === 'CodeableConcept' || type === 'Coding') && rb?.codes && rb.systems
        ? { valueSet: rb.valueSet, codes: rb.codes, systems: rb.systems } : null;
      const targets = type === 'Reference' && el.targetTypes.length > 0 && !el.targetTypes.includes('Resource') ? new Set(el.targetTypes) : null;
      rules[key] = { el, key, type, check, codes, conceptBinding, targets, isResource: type === 'Resource' };
      keys.push(key);
    }
    if (el.min > 0) required.push({ el, keys });
  }
  const ct: CompiledType = { name, rules, required, isExtension: name === 'Extension' };
  compiled.set(name, ct);
  return ct;
}

/** Returns the problems found; an empty array means the resource is valid. */
export function validateResource(resource: unknown): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (!isPlainObject(resource)) {
    issues.push({ severity: 'error', path: '', message: 'A resource must be a JSON object' });
    return issues;
  }
  const rt = resource.resourceType;
  if (typeof rt !== 'string') {
    issues.push({ severity: 'error', path: 'resourceType', message: 'resourceType is required' });
    return issues;
  }
  validateResourceAt(resource, '', issues, false);
  return issues;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reporting stops here: a hostile 10 MB body must not produce a 10 MB OperationOutcome. */
export const MAX_ISSUES = 100;
/** Objects nested deeper are reported, not walked (bounded stack on hostile input). */
export const MAX_DEPTH = 100;
let depth = 0;

function err(issues: ValidationIssue[], path: string, message: string): void {
  if (issues.length < MAX_ISSUES) issues.push({ severity: 'error', path, message });
  else if (issues.length === MAX_ISSUES) issues.push({ severity: 'error', path: '', message: `More than ${MAX_ISSUES} issues; the rest are not reported` });
}

function validateResourceAt(obj: Record<string, unknown>, path: string, issues: ValidationIssue[], contained: boolean): void {
  const rt = obj.resourceType;
  if (typeof rt !== 'string') { err(issues, path, 'resourceType is required'); return; }
  if (!isResourceType(rt)) { err(issues, path ? `${path}.resourceType` : 'resourceType', `Unknown resource type '${rt}'`); return; }
  // Top level paths start with the type ("Patient.name"); nested ones continue the parent's path.
  const base = path === '' ? rt : path;
  if (contained && obj.contained !== undefined) err(issues, `${base}.contained`, 'A contained resource must not contain resources (dom-2)');
  validateObject(obj, compileType(rt)!, base, issues, true);
}

function validateObject(obj: Record<string, unknown>, ct: CompiledType, path: string, issues: ValidationIssue[], isResource: boolean): void {
  if (depth >= MAX_DEPTH) { err(issues, path, `Elements nested more than ${MAX_DEPTH} levels deep`); return; }
  depth++;
  try {
    checkObject(obj, ct, path, issues, isResource);
  } finally {
    depth--;
  }
}

function checkObject(obj: Record<string, unknown>, ct: CompiledType, path: string, issues: ValidationIssue[], isResource: boolean): void {
  let count = 0;
  let choicesSeen: ElementRule[] | null = null;
  for (const key in obj) {
    count++;
    const value = obj[key];
    const rule = ct.rules[key];
    if (rule === undefined) {
      if (key === 'resourceType' && isResource) continue;
      if (key.charCodeAt(0) === 95 /* _ */) {
        const prim = ct.rules[key.slice(1)];
        if (prim !== undefined && prim.check !== null) {
          validatePrimitiveExtensions(obj, prim, value, path, issues);
          if (prim.el.choice) choicesSeen = noteChoice(choicesSeen, prim, path, issues);
          continue;
        }
      }
      err(issues, `${path}.${key}`, `Unknown element '${key}' in ${ct.name}`);
      continue;
    }
    if (rule.el.choice) choicesSeen = noteChoice(choicesSeen, rule, path, issues);
    const childPath = `${path}.${key}`;
    if (value === null) { err(issues, childPath, 'null is not allowed here'); continue; }
    if (rule.el.isArray) {
      if (!Array.isArray(value)) { err(issues, childPath, `${rule.el.path} must be a JSON array`); continue; }
      if (value.length === 0) { err(issues, childPath, 'Arrays must not be empty'); continue; }
      if (value.length > rule.el.max) err(issues, childPath, `${rule.el.path}: at most ${rule.el.max} allowed, found ${value.length}`);
      const ext = rule.check !== null ? obj['_' + key] : undefined;
      for (let i = 0; i < value.length; i++) {
        const item = value[i];
        if (item === null) {
          // A null slot is only legal when the `_key` array carries the primitive's id/extensions there.
          if (!(Array.isArray(ext) && ext[i] != null)) err(issues, `${childPath}[${i}]`, 'null is not allowed here');
          continue;
        }
        validateValue(item, rule, `${childPath}[${i}]`, issues);
      }
    } else {
      if (Array.isArray(value)) { err(issues, childPath, `${rule.el.path} must be a single value, not an array`); continue; }
      validateValue(value, rule, childPath, issues);
    }
  }
  if (count === 0 || (isResource && count === 1)) err(issues, path, 'Objects must not be empty');
  for (const req of ct.required) {
    let present = false;
    for (const k of req.keys) if (obj[k] != null || obj['_' + k] != null) { present = true; break; }
    if (!present) err(issues, `${path}.${req.el.choice ? req.el.name + '[x]' : req.el.name}`, `${req.el.path}: minimum required = ${req.el.min}, but none found`);
  }
  if (ct.isExtension) {
    let hasValue = false;
    for (const key in obj) {
      if (key.startsWith('value') && ct.rules[key] !== undefined) { hasValue = true; break; }
      if (key.startsWith('_value') && ct.rules[key.slice(1)] !== undefined) { hasValue = true; break; }
    }
    if (hasValue === (obj.extension !== undefined)) err(issues, path, 'An extension must have either extensions or value[x], not both and not neither (ext-1)');
  }
}

/** Records a choice variant; a second, different variant of the same element (`valueString` + `valueQuantity`) is an error. */
function noteChoice(seen: ElementRule[] | null, rule: ElementRule, path: string, issues: ValidationIssue[]): ElementRule[] {
  const list = seen ?? [];
  const other = list.find((r) => r.el === rule.el && r.key !== rule.key);
  if (other) err(issues, `${path}.${rule.el.name}[x]`, `${rule.el.path}: only one type is allowed, found ${other.key} and ${rule.key}`);
  list.push(rule);
  return list;
}

function validateValue(value: unknown, rule: ElementRule, path: string, issues: ValidationIssue[]): void {
  if (rule.check !== null) {
    const problem = rule.check(value);
    if (problem !== null) { err(issues, path, `${upperFirst(problem)} (${rule.el.path})`); return; }
    if (rule.codes !== null && !rule.codes.has(value as string)) {
      err(issues, path, `Code '${String(value)}' is not in the required value set ${rule.el.requiredBinding!.valueSet} (${rule.el.path})`);
    }
    return;
  }
  if (!isPlainObject(value)) { err(issues, path, `${rule.el.path} must be a JSON object (${rule.type})`); return; }
  if (rule.isResource) { validateResourceAt(value, path, issues, rule.el.path.endsWith('.contained')); return; }
  const ct = compileType(rule.type);
  if (ct === null) return; // no definition for this type in the package: nothing to check against
  validateObject(value, ct, path, issues, false);
  if (rule.conceptBinding !== null) checkConceptBinding(value, rule, path, issues);
  if (rule.targets !== null && typeof value.reference === 'string') checkReferenceTarget(value.reference, rule, path, issues);
}

// "Type/id", optionally versioned, optionally after a base URL. Contained ("#x") and urn: references name no type.
const REFERENCE_TYPE_RE = /(?:^|\/)([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** Reference target type outside the element's targetProfile list. */
function checkReferenceTarget(reference: string, rule: ElementRule, path: string, issues: ValidationIssue[]): void {
  const m = REFERENCE_TYPE_RE.exec(reference);
  if (m === null || !isResourceType(m[1]) || rule.targets!.has(m[1])) return;
  // A warning for now: converters still emit some (C-CDA CarePlan.activity.reference → Procedure); callers act on errors.
  if (issues.length < MAX_ISSUES) {
    issues.push({ severity: 'warning', path: `${path}.reference`, message: `Reference to a ${m[1]} is not allowed here; allowed: ${[...rule.targets!].join(', ')} (${rule.el.path})` });
  }
}

/**
 * Required binding on CodeableConcept/Coding: a coding in one of the value set's code systems must use one of its
 * codes (error); a concept without any coding from the value set is reported as a warning, since R4 requires it
 * but text-only concepts are common in converted data.
 */
function checkConceptBinding(value: Record<string, unknown>, rule: ElementRule, path: string, issues: ValidationIssue[]): void {
  const b = rule.conceptBinding!;
  const isConcept = rule.type === 'CodeableConcept';
  const codings = isConcept ? (Array.isArray(value.coding) ? value.coding : []) : [value];
  let fromValueSet = false;
  for (let i = 0; i < codings.length; i++) {
    const c = codings[i] as { system?: unknown; code?: unknown } | null;
    if (!isPlainObject(c) || typeof c.system !== 'string' || !b.systems.has(c.system) || typeof c.code !== 'string') continue;
    if (b.codes.has(c.code)) { fromValueSet = true; continue; }
    err(issues, isConcept ? `${path}.coding[${i}].code` : `${path}.code`, `Code '${c.code}' of ${c.system} is not in the required value set ${b.valueSet} (${rule.el.path})`);
    fromValueSet = true; // already reported as an error
  }
  if (!fromValueSet && issues.length < MAX_ISSUES) {
    issues.push({ severity: 'warning', path, message: `No coding from the required value set ${b.valueSet} (${rule.el.path})` });
  }
}

/** `_birthDate` / `_given`: the id/extensions of primitive values. */
function validatePrimitiveExtensions(obj: Record<string, unknown>, rule: ElementRule, value: unknown, path: string, issues: ValidationIssue[]): void {
  const childPath = `${path}.${rule.key}`;
  const elementType = compileType(rule.type);
  if (rule.el.isArray) {
    if (!Array.isArray(value)) { err(issues, `${path}._${rule.key}`, `_${rule.key} must be a JSON array`); return; }
    if (value.length === 0) { err(issues, `${path}._${rule.key}`, 'Arrays must not be empty'); return; }
    const main = obj[rule.key];
    if (main !== undefined && (!Array.isArray(main) || main.length !== value.length)) {
      err(issues, `${path}._${rule.key}`, `_${rule.key} must have the same length as ${rule.key}`);
    }
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      if (item === null) {
        if (!Array.isArray(main) || main[i] == null) err(issues, `${childPath}[${i}]`, 'a value or an extension is required');
        continue;
      }
      if (!isPlainObject(item)) { err(issues, `${childPath}[${i}]`, 'must be a JSON object'); continue; }
      if (elementType) validateObject(item, elementType, `${childPath}[${i}]`, issues, false);
    }
  } else {
    if (!isPlainObject(value)) { err(issues, `${path}._${rule.key}`, 'must be a JSON object'); return; }
    if (elementType) validateObject(value, elementType, childPath, issues, false);
  }
}
