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
import { MAX_STRING_LENGTH, PRIMITIVE_CHECKS, idValid, type PrimitiveCheck } from './primitives.ts';

/**
 * FHIR OperationOutcome issue-type codes the validator reports. Callers choose the HTTP status by code:
 * `structure`, `value`, `not-supported`, `too-costly` are malformed input (400); `required`, `code-invalid`,
 * `invariant` are well-formed but semantically invalid content (422). See SEMANTIC_ISSUE_CODES.
 */
export type ValidationIssueCode = 'structure' | 'value' | 'not-supported' | 'too-costly' | 'required' | 'code-invalid' | 'invariant';

/** Issue codes that mean "well-formed but not valid for the definitions" (HTTP 422 rather than 400). */
export const SEMANTIC_ISSUE_CODES: ReadonlySet<ValidationIssueCode> = new Set(['required', 'code-invalid', 'invariant']);

export interface ValidationIssue {
  severity: 'error' | 'warning';
  /** OperationOutcome.issue.code */
  code: ValidationIssueCode;
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
  /** el.isArray, el.choice, el.max copied onto the rule (one shape for every rule; read per key) */
  isArray: boolean;
  choice: boolean;
  max: number;
  /** Primitive check, or null for complex/backbone/Resource values */
  check: PrimitiveCheck | null;
  /** string/markdown: the check is inlined (a non-empty JSON string of at most 1 MiB), the most common primitive */
  isText: boolean;
  /** Required-binding codes for `code` values */
  codes: ReadonlySet<string> | null;
  /** Required binding of a CodeableConcept/Coding element (when enumerable) */
  conceptBinding: { valueSet: string; codes: ReadonlySet<string>; systems: ReadonlySet<string> } | null;
  /** Reference elements: the resource types it may point to (null = any) */
  targets: ReadonlySet<string> | null;
  /** Value is a resource (contained, Bundle.entry.resource, …) */
  isResource: boolean;
  /** The value is a contained resource (dom-2 applies) */
  isContained: boolean;
  /** "_" + key, the primitive-extension mirror */
  extKey: string;
  /** "." + key, this element's path step */
  dotKey: string;
  /** Compiled type of complex values (undefined = not looked up yet) */
  ct: CompiledType | null | undefined;
}

interface CompiledType {
  name: string;
  rules: Record<string, ElementRule>;
  /** Elements with min ≥ 1, with all their JSON keys and their `_key` mirrors */
  required: { el: ElementDef; keys: string[]; extKeys: string[] }[];
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
      rules[key] = {
        el, key, type, isArray: el.isArray, choice: el.choice, max: el.max, check, isText: type === 'string' || type === 'markdown', codes, conceptBinding, targets, isResource: type === 'Resource', isContained: el.path.endsWith('.contained'),
        extKey: '_' + key, dotKey: '.' + key, ct: undefined,
      };
      keys.push(key);
    }
    if (el.min > 0) required.push({ el, keys, extKeys: keys.map((k) => '_' + k) });
  }
  const ct: CompiledType = { name, rules, required, isExtension: name === 'Extension' };
  compiled.set(name, ct);
  return ct;
}

function ruleType(rule: ElementRule): CompiledType | null {
  let ct = rule.ct;
  if (ct === undefined) ct = rule.ct = compileType(rule.type);
  return ct;
}

/** Returns the problems found; an empty array means the resource is valid. */
export function validateResource(resource: unknown): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (!isPlainObject(resource)) {
    issues.push({ severity: 'error', code: 'structure', path: '', message: 'A resource must be a JSON object' });
    return issues;
  }
  const rt = resource.resourceType;
  if (typeof rt !== 'string') {
    issues.push({ severity: 'error', code: 'structure', path: 'resourceType', message: 'resourceType is required' });
    return issues;
  }
  // Not re-entrant; a previous call that threw must not leave a stale path or depth behind.
  segs.length = 0;
  depth = 0;
  validateResourceAt(resource, issues, false);
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

// The location being checked, as a stack of parts: "Patient", ".name", 0 (→ "[0]"), ".given", …
// The path string is only built when an issue is reported: valid input (the common case) builds none.
const segs: (string | number)[] = [];

function currentPath(): string {
  let s = '';
  for (let i = 0; i < segs.length; i++) {
    const p = segs[i];
    s += typeof p === 'number' ? `[${p}]` : p;
  }
  return s;
}

/** Reports an error at the current path followed by `suffix`. */
function err(issues: ValidationIssue[], suffix: string, message: string, code: ValidationIssueCode = 'structure'): void {
  if (issues.length < MAX_ISSUES) issues.push({ severity: 'error', code, path: currentPath() + suffix, message });
  else if (issues.length === MAX_ISSUES) issues.push({ severity: 'error', code: 'too-costly', path: '', message: `More than ${MAX_ISSUES} issues; the rest are not reported` });
}

/** Reports an error at the current path's child `key`, item `index` (when ≥ 0). */
function errAt(issues: ValidationIssue[], key: string, index: number, message: string, code: ValidationIssueCode = 'structure'): void {
  if (issues.length >= MAX_ISSUES) { err(issues, '', message, code); return; }
  err(issues, index >= 0 ? `.${key}[${index}]` : `.${key}`, message, code);
}

function validateResourceAt(obj: Record<string, unknown>, issues: ValidationIssue[], contained: boolean): void {
  const rt = obj.resourceType;
  if (typeof rt !== 'string') { err(issues, '', 'resourceType is required'); return; }
  if (!isResourceType(rt)) { err(issues, segs.length > 0 ? '.resourceType' : 'resourceType', `Unknown resource type '${rt}'`, 'not-supported'); return; }
  // Top level paths start with the type ("Patient.name"); nested ones continue the parent's path.
  const top = segs.length === 0;
  if (top) segs.push(rt);
  if (contained && obj.contained !== undefined) err(issues, '.contained', 'A contained resource must not contain resources (dom-2)', 'invariant');
  validateObject(obj, compileType(rt)!, issues, true);
  if (top) segs.pop();
}

function validateObject(obj: Record<string, unknown>, ct: CompiledType, issues: ValidationIssue[], isResource: boolean): void {
  if (depth >= MAX_DEPTH) { err(issues, '', `Elements nested more than ${MAX_DEPTH} levels deep`, 'too-costly'); return; }
  depth++;
  checkObject(obj, ct, issues, isResource);
  depth--;
}

function checkObject(obj: Record<string, unknown>, ct: CompiledType, issues: ValidationIssue[], isResource: boolean): void {
  let count = 0;
  let choicesSeen: ElementRule[] | null = null;
  const rules = ct.rules;
  for (const key in obj) {
    count++;
    const value = obj[key];
    const rule = rules[key];
    if (rule === undefined) {
      if (key === 'resourceType' && isResource) continue;
      if (key.charCodeAt(0) === 95 /* _ */) {
        const prim = rules[key.slice(1)];
        if (prim !== undefined && prim.check !== null) {
          validatePrimitiveExtensions(obj, prim, value, issues);
          if (prim.el.choice) choicesSeen = noteChoice(choicesSeen, prim, issues);
          continue;
        }
      }
      errAt(issues, key, -1, `Unknown element '${key}' in ${ct.name}`);
      continue;
    }
    if (rule.choice) choicesSeen = noteChoice(choicesSeen, rule, issues);
    if (value === null) { errAt(issues, key, -1, 'null is not allowed here'); continue; }
    if (rule.isArray) {
      if (!Array.isArray(value)) { errAt(issues, key, -1, `${rule.el.path} must be a JSON array`); continue; }
      const n = value.length;
      if (n === 0) { errAt(issues, key, -1, 'Arrays must not be empty'); continue; }
      if (n > rule.max) errAt(issues, key, -1, `${rule.el.path}: at most ${rule.max} allowed, found ${n}`, 'invariant');
      const check = rule.check;
      if (check !== null) {
        const ext = obj[rule.extKey];
        for (let i = 0; i < n; i++) {
          const item = value[i];
          if (item === null) {
            // A null slot is only legal when the `_key` array carries the primitive's id/extensions there.
            if (!(Array.isArray(ext) && ext[i] != null)) errAt(issues, key, i, 'null is not allowed here');
            continue;
          }
          if (!primitiveValid(rule, item)) primitiveIssue(item, rule, key, i, issues);
        }
      } else {
        segs.push(rule.dotKey);
        for (let i = 0; i < n; i++) {
          const item = value[i];
          if (item === null) { err(issues, `[${i}]`, 'null is not allowed here'); continue; }
          segs.push(i);
          validateComplex(item, rule, issues);
          segs.pop();
        }
        segs.pop();
      }
    } else {
      if (Array.isArray(value)) { errAt(issues, key, -1, `${rule.el.path} must be a single value, not an array`); continue; }
      if (rule.check !== null) {
        if (!primitiveValid(rule, value)) primitiveIssue(value, rule, key, -1, issues);
      } else {
        segs.push(rule.dotKey);
        validateComplex(value, rule, issues);
        segs.pop();
      }
    }
  }
  if (count === 0 || (isResource && count === 1)) err(issues, '', 'Objects must not be empty');
  const required = ct.required;
  for (let r = 0; r < required.length; r++) {
    const req = required[r];
    let present = false;
    for (let k = 0; k < req.keys.length; k++) if (obj[req.keys[k]] != null || obj[req.extKeys[k]] != null) { present = true; break; }
    if (!present) err(issues, `.${req.el.choice ? req.el.name + '[x]' : req.el.name}`, `${req.el.path}: minimum required = ${req.el.min}, but none found`, 'required');
  }
  if (ct.isExtension) {
    let hasValue = false;
    for (const key in obj) {
      if (key.startsWith('value') && rules[key] !== undefined) { hasValue = true; break; }
      if (key.startsWith('_value') && rules[key.slice(1)] !== undefined) { hasValue = true; break; }
    }
    if (hasValue === (obj.extension !== undefined)) err(issues, '', 'An extension must have either extensions or value[x], not both and not neither (ext-1)', 'invariant');
  }
}

/** A primitive value passes its type's check and, for a bound `code`, is one of the codes (same answer as rule.check + codes). */
function primitiveValid(rule: ElementRule, v: unknown): boolean {
  if (rule.isText) return typeof v === 'string' && v.length > 0 && v.length <= MAX_STRING_LENGTH;
  return rule.check!(v) === null && (rule.codes === null || rule.codes.has(v as string));
}

/** Records a choice variant; a second, different variant of the same element (`valueString` + `valueQuantity`) is an error. */
function noteChoice(seen: ElementRule[] | null, rule: ElementRule, issues: ValidationIssue[]): ElementRule[] {
  const list = seen ?? [];
  let other: ElementRule | undefined;
  for (let i = 0; i < list.length; i++) {
    const r = list[i];
    if (r.el === rule.el && r.key !== rule.key) { other = r; break; }
  }
  if (other) err(issues, `.${rule.el.name}[x]`, `${rule.el.path}: only one type is allowed, found ${other.key} and ${rule.key}`, 'invariant');
  list.push(rule);
  return list;
}

/** Reports the problem of a primitive value already known to be invalid (wrong type/format, or not in the bound codes). */
function primitiveIssue(value: unknown, rule: ElementRule, key: string, index: number, issues: ValidationIssue[]): void {
  const problem = rule.check!(value);
  if (problem !== null) { errAt(issues, key, index, `${upperFirst(problem)} (${rule.el.path})`, 'value'); return; }
  errAt(issues, key, index, `Code '${String(value)}' is not in the required value set ${rule.el.requiredBinding!.valueSet} (${rule.el.path})`, 'code-invalid');
}

/** A complex, backbone or resource value; its path is on the stack. */
function validateComplex(value: unknown, rule: ElementRule, issues: ValidationIssue[]): void {
  if (!isPlainObject(value)) { err(issues, '', `${rule.el.path} must be a JSON object (${rule.type})`); return; }
  if (rule.isResource) { validateResourceAt(value, issues, rule.isContained); return; }
  const ct = ruleType(rule);
  if (ct === null) return; // no definition for this type in the package: nothing to check against
  validateObject(value, ct, issues, false);
  if (rule.conceptBinding !== null) checkConceptBinding(value, rule, issues);
  if (rule.targets !== null && typeof value.reference === 'string') checkReferenceTarget(value.reference, rule, issues);
}

// "Type/id", optionally versioned, optionally after a base URL. Contained ("#x") and urn: references name no type.
const REFERENCE_TYPE_RE = /(?:^|\/)([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** The type named by a reference (REFERENCE_TYPE_RE's group 1), or null; a char loop for the common unversioned form. */
function referenceType(reference: string): string | null {
  if (reference.includes('/_history/')) {
    const m = REFERENCE_TYPE_RE.exec(reference);
    return m === null ? null : m[1];
  }
  const slash = reference.lastIndexOf('/');
  if (slash < 0 || !idValid(reference.slice(slash + 1))) return null;
  const start = reference.lastIndexOf('/', slash - 1) + 1;
  if (slash - start < 2) return null;
  const first = reference.charCodeAt(start);
  if (first < 65 || first > 90) return null;
  for (let i = start + 1; i < slash; i++) {
    const c = reference.charCodeAt(i);
    if (!((c >= 65 && c <= 90) || (c >= 97 && c <= 122))) return null;
  }
  return reference.slice(start, slash);
}

// referenceType per reference string: the same references recur across resources (every resource of a
// converted message points at the same Patient/Encounter), so a lookup replaces the scan and the slice.
// Bounded: cleared when full; long strings are not kept. null = names no known resource type.
const REFERENCE_TYPES = new Map<string, string | null>();

/** The resource type a reference names when it is a known one (referenceType + isResourceType), remembered. */
function knownReferenceType(reference: string): string | null {
  const hit = REFERENCE_TYPES.get(reference);
  if (hit !== undefined) return hit;
  const t = referenceType(reference);
  const type = t !== null && isResourceType(t) ? t : null;
  if (reference.length <= 256) {
    if (REFERENCE_TYPES.size >= 4096) REFERENCE_TYPES.clear();
    REFERENCE_TYPES.set(reference, type);
  }
  return type;
}

/** Reference target type outside the element's targetProfile list. */
function checkReferenceTarget(reference: string, rule: ElementRule, issues: ValidationIssue[]): void {
  const type = knownReferenceType(reference);
  if (type === null || rule.targets!.has(type)) return;
  // A warning for now: converters still emit some (C-CDA CarePlan.activity.reference → Procedure); callers act on errors.
  if (issues.length < MAX_ISSUES) {
    issues.push({ severity: 'warning', code: 'invariant', path: `${currentPath()}.reference`, message: `Reference to a ${type} is not allowed here; allowed: ${[...rule.targets!].join(', ')} (${rule.el.path})` });
  }
}

/**
 * Required binding on CodeableConcept/Coding: a coding in one of the value set's code systems must use one of its
 * codes (error); a concept without any coding from the value set is reported as a warning, since R4 requires it
 * but text-only concepts are common in converted data.
 */
function checkConceptBinding(value: Record<string, unknown>, rule: ElementRule, issues: ValidationIssue[]): void {
  const b = rule.conceptBinding!;
  const isConcept = rule.type === 'CodeableConcept';
  const codings = isConcept ? (Array.isArray(value.coding) ? value.coding : []) : [value];
  let fromValueSet = false;
  for (let i = 0; i < codings.length; i++) {
    const c = codings[i] as { system?: unknown; code?: unknown } | null;
    if (!isPlainObject(c) || typeof c.system !== 'string' || !b.systems.has(c.system) || typeof c.code !== 'string') continue;
    if (b.codes.has(c.code)) { fromValueSet = true; continue; }
    err(issues, isConcept ? `.coding[${i}].code` : '.code', `Code '${c.code}' of ${c.system} is not in the required value set ${b.valueSet} (${rule.el.path})`, 'code-invalid');
    fromValueSet = true; // already reported as an error
  }
  if (!fromValueSet && issues.length < MAX_ISSUES) {
    issues.push({ severity: 'warning', code: 'code-invalid', path: currentPath(), message: `No coding from the required value set ${b.valueSet} (${rule.el.path})` });
  }
}

/** `_birthDate` / `_given`: the id/extensions of primitive values. */
function validatePrimitiveExtensions(obj: Record<string, unknown>, rule: ElementRule, value: unknown, issues: ValidationIssue[]): void {
  const elementType = ruleType(rule);
  if (rule.el.isArray) {
    if (!Array.isArray(value)) { err(issues, `.${rule.extKey}`, `${rule.extKey} must be a JSON array`); return; }
    if (value.length === 0) { err(issues, `.${rule.extKey}`, 'Arrays must not be empty'); return; }
    const main = obj[rule.key];
    if (main !== undefined && (!Array.isArray(main) || main.length !== value.length)) {
      err(issues, `.${rule.extKey}`, `${rule.extKey} must have the same length as ${rule.key}`);
    }
    segs.push(rule.dotKey);
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      segs.push(i);
      if (item === null) {
        if (!Array.isArray(main) || main[i] == null) err(issues, '', 'a value or an extension is required');
      } else if (!isPlainObject(item)) {
        err(issues, '', 'must be a JSON object');
      } else if (elementType) {
        validateObject(item, elementType, issues, false);
      }
      segs.pop();
    }
    segs.pop();
  } else {
    if (!isPlainObject(value)) { err(issues, `.${rule.extKey}`, 'must be a JSON object'); return; }
    segs.push(rule.dotKey);
    if (elementType) validateObject(value, elementType, issues, false);
    segs.pop();
  }
}
