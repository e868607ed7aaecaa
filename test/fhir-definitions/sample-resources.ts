// Generates dense synthetic resources from the R4 element model: every element filled (choice elements
// rotate through their variants by `seed`), to exercise every search parameter of every resource type.
import { getTypeDef, isResourceType } from '../../src/fhir/definitions/index.ts';

const PRIMITIVE_SAMPLES: Record<string, (seed: number) => unknown> = {
  boolean: (s) => s % 2 === 0,
  integer: (s) => s + 1,
  positiveInt: (s) => s + 1,
  unsignedInt: (s) => s,
  decimal: (s) => 1.5 + s,
  string: (s) => `Sample Ünïcode ${s}`,
  markdown: (s) => `md ${s}`,
  code: (s) => `code-${s}`,
  id: (s) => `id-${s}`,
  uri: (s) => `http://example.org/uri/${s}`,
  url: (s) => `http://example.org/url/${s}`,
  canonical: (s) => `http://example.org/Questionnaire/q${s}|1.0`,
  oid: (s) => `urn:oid:1.2.3.${s}`,
  uuid: () => 'urn:uuid:0b6e5e2e-8d62-4b39-9f0a-1cb1a4a4a0f1',
  base64Binary: () => 'aGVsbG8=',
  date: (s) => ['2020', '2020-02', '2020-02-03'][s % 3],
  dateTime: (s) => ['2020-02-03T04:05:06+01:00', '2021', '2019-12-31T23:59:59.123Z'][s % 3],
  instant: () => '2020-02-03T04:05:06.789Z',
  time: () => '10:11:12',
  xhtml: () => '<div xmlns="http://www.w3.org/1999/xhtml">x</div>',
};

const REF_TARGETS = ['Patient/p1', 'Practitioner/pr1', 'Organization/o1', 'Group/g1', 'https://other.example/fhir/Patient/p2', 'Location/l1', 'RelatedPerson/r1', 'Device/d1'];

function sampleValue(type: string, seed: number, depth: number, codes?: ReadonlySet<string>, targets: string[] = []): unknown {
  const prim = PRIMITIVE_SAMPLES[type];
  if (prim) {
    if (type === 'code' && codes?.size) { const all = [...codes]; return all[seed % all.length]; }
    return prim(seed);
  }
  if (type === 'Reference') {
    // Only target types the element allows (the validator checks them); any when it allows any.
    const allowed = targets.filter((t) => t !== 'Resource');
    const pool = allowed.length && allowed.length === targets.length ? REF_TARGETS.filter((r) => allowed.some((t) => r.includes(`${t}/`))) : REF_TARGETS;
    const reference = pool.length ? pool[seed % pool.length] : `${allowed[seed % allowed.length]}/x${seed}`;
    return { reference, display: 'Ref' };
  }
  if (type === 'Resource' || type === 'Extension' || depth > 8) return undefined;
  return sampleObject(type, seed, depth + 1);
}

function sampleObject(type: string, seed: number, depth: number): Record<string, unknown> | undefined {
  const def = getTypeDef(type);
  if (!def) return undefined;
  const out: Record<string, unknown> = {};
  let i = 0;
  for (const el of def.elements.values()) {
    i++;
    if (el.name === 'id' && depth > 0) continue;
    if (el.name === 'extension' || el.name === 'modifierExtension' || el.name === 'contained') continue;
    // Deep down only required elements, so that the sample stays small but valid.
    if (depth > 3 && el.min === 0) continue;
    const t = el.choice ? el.types[(seed + i) % el.types.length] : el.types[0];
    const key = el.choice ? el.name + t.charAt(0).toUpperCase() + t.slice(1) : el.name;
    const v1 = sampleValue(t, seed + i, depth, el.requiredBinding?.codes, el.targetTypes);
    if (v1 === undefined) continue;
    if (el.isArray) {
      const v2 = sampleValue(t, seed + i + 1, depth, el.requiredBinding?.codes, el.targetTypes);
      out[key] = v2 === undefined ? [v1] : [v1, v2];
    } else {
      out[key] = v1;
    }
  }
  if (Object.keys(out).length === 0 && depth > 3) {
    // A required element of a type without required parts (CodeableConcept…): one primitive keeps it non-empty.
    for (const el of def.elements.values()) {
      if (el.name === 'id' || el.name === 'extension' || el.name === 'modifierExtension') continue;
      const t = el.types[0];
      const v = sampleValue(t, seed, depth, el.requiredBinding?.codes, el.targetTypes);
      if (v === undefined) continue;
      const key = el.choice ? el.name + t.charAt(0).toUpperCase() + t.slice(1) : el.name;
      out[key] = el.isArray ? [v] : v;
      break;
    }
  }
  return Object.keys(out).length ? out : undefined;
}

/** A dense resource of `resourceType`; different seeds pick different choice variants and values. */
export function sampleResource(resourceType: string, seed: number): Record<string, unknown> {
  if (!isResourceType(resourceType)) throw new Error(`not a resource type: ${resourceType}`);
  const r = sampleObject(resourceType, seed, 0) ?? {};
  return { resourceType, ...r, id: `s${seed}`, meta: { lastUpdated: '2020-01-01T00:00:00Z', tag: [{ system: 'http://t', code: 'c' }], profile: ['http://p'] } };
}
