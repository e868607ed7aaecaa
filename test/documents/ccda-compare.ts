// Compares our C-CDA conversion with another converter's output (ms-fhir-converter `Expected/`):
// resources per type, codes, dates and patient demographics. Used by the corpus test and by
// `node --import tsx test/documents/ccda-compare.ts` to print the table for docs/documents-ccda.md.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertCcda } from '../../src/documents/ccda/index.ts';
import type { FhirResource } from '../../src/documents/types.ts';

export const CORPUS = resolve(fileURLToPath(new URL('../../../shared/corpora/ccda', import.meta.url)));
export const MS_ROOT = join(CORPUS, 'ms-fhir-converter');

/** Every .xml / .ccda file under `dir`, sorted (the whole corpus by default). */
export function ccdaFiles(dir: string = CORPUS): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(xml|ccda)$/i.test(n)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** Every `reference` string inside a resource. */
export function references(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const x of node) references(x, out);
  else if (typeof node === 'object' && node !== null) {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'reference' && typeof v === 'string') out.push(v);
      else references(v, out);
    }
  }
  return out;
}

export interface SampleComparison {
  sample: string;
  ours: Record<string, number>;
  theirs: Record<string, number>;
  /** Types where we emit fewer resources: type → [ours, theirs]. */
  shortfalls: Record<string, [number, number]>;
  missingCodes: string[];
  /** Their codes we carry on a resource of another type. */
  mappedElsewhere: string[];
  missingDates: string[];
  demographicsDiffer: string[];
}

/** Samples that have an expected bundle: [sample path, expected path]. */
export function expectedPairs(): [string, string][] {
  const expDir = join(MS_ROOT, 'Expected', 'Ccda');
  const sampleDir = join(MS_ROOT, 'SampleData', 'Ccda');
  if (!existsSync(expDir)) return [];
  const pairs: [string, string][] = [];
  for (const group of readdirSync(expDir).sort()) {
    for (const f of readdirSync(join(expDir, group)).sort()) {
      const name = f.replace(/-expected\.json$/, '');
      const sample = join(sampleDir, `${name}.ccda`);
      if (existsSync(sample)) pairs.push([sample, join(expDir, group, f)]);
    }
  }
  return pairs;
}

const CODE_FIELDS: Record<string, string> = {
  Condition: 'code', AllergyIntolerance: 'code', Observation: 'code', Procedure: 'code', Immunization: 'vaccineCode',
  Medication: 'code', DiagnosticReport: 'code', Encounter: 'type', FamilyMemberHistory: 'relationship', ServiceRequest: 'code',
};
const DATE_FIELDS = ['effectiveDateTime', 'onsetDateTime', 'performedDateTime', 'occurrenceDateTime', 'birthDate', 'recordedDate', 'authoredOn'];

function codesOf(r: FhirResource): string[] {
  const field = CODE_FIELDS[r.resourceType];
  if (field === undefined) return [];
  let v = r[field] as unknown;
  if (Array.isArray(v)) v = v[0];
  const codings = (v as { coding?: { system?: string; code?: string }[] } | undefined)?.coding ?? [];
  return codings.filter((c) => c.code !== undefined).map((c) => `${r.resourceType} ${c.code}`);
}

function datesOf(r: FhirResource): string[] {
  const out: string[] = [];
  for (const f of DATE_FIELDS) {
    const v = r[f];
    if (typeof v === 'string') out.push(`${r.resourceType}.${f} ${v.slice(0, 10)}`);
  }
  return out;
}

/** Every code in a resource (any coding anywhere). */
function allCodes(r: FhirResource): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === 'object' && v !== null) {
      const o = v as Record<string, unknown>;
      if (typeof o.code === 'string' && typeof o.system === 'string') out.push(o.code);
      for (const x of Object.values(o)) walk(x);
    }
  };
  walk(r);
  return out;
}

/** Every date (to the day) in a resource. */
function allDates(r: FhirResource): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === 'object' && v !== null) Object.values(v).forEach(walk);
    else if (typeof v === 'string' && /^\d{4}(-\d{2}){0,2}($|T)/.test(v)) out.push(v.slice(0, 10).replace(/T.*$/, ''));
  };
  walk(r);
  return out;
}

function demographics(p: FhirResource | undefined): Record<string, string> {
  if (p === undefined) return {};
  const names = (p.name as { family?: string; given?: string[] }[] | undefined) ?? [];
  return {
    family: names.map((n) => n.family ?? '').sort().join('|'),
    given: names.map((n) => (n.given ?? []).join(' ')).sort().join('|'),
    birthDate: String(p.birthDate ?? ''),
    gender: String(p.gender ?? ''),
  };
}

function count(resources: FhirResource[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const r of resources) c[r.resourceType] = (c[r.resourceType] ?? 0) + 1;
  return c;
}

export function compareSample(samplePath: string, expectedPath: string): SampleComparison {
  const result = convertCcda(readFileSync(samplePath, 'utf8'));
  const ours = result.bundle.entry.map((e) => e.resource);
  const theirs = (JSON.parse(readFileSync(expectedPath, 'utf8')) as { entry: { resource: FhirResource }[] }).entry.map((e) => e.resource);
  const oc = count(ours);
  const tc = count(theirs);
  const shortfalls: Record<string, [number, number]> = {};
  for (const [t, n] of Object.entries(tc)) if ((oc[t] ?? 0) < n) shortfalls[t] = [oc[t] ?? 0, n];
  // A code is "missing" only when none of our resources carries it; when it is there under another
  // resource type (e.g. a Procedure where they emit an Observation) it is listed as mapped elsewhere.
  const ourCodes = new Set(ours.flatMap(codesOf));
  const ourAnyCodes = new Set(ours.flatMap(allCodes));
  const notSameType = [...new Set(theirs.flatMap(codesOf))].filter((c) => !ourCodes.has(c));
  const missingCodes = notSameType.filter((c) => !ourAnyCodes.has(c.split(' ')[1]));
  const mappedElsewhere = notSameType.filter((c) => ourAnyCodes.has(c.split(' ')[1]));
  const ourDates = new Set(ours.flatMap(allDates));
  const missingDates = [...new Set(theirs.flatMap(datesOf))].filter((d) => !ourDates.has(d.split(' ')[1]));
  const od = demographics(ours.find((r) => r.resourceType === 'Patient'));
  const td = demographics(theirs.find((r) => r.resourceType === 'Patient'));
  const demographicsDiffer = Object.keys(td).filter((k) => td[k] !== '' && td[k] !== od[k]).map((k) => `${k}: ours "${od[k]}" theirs "${td[k]}"`);
  return { sample: basename(samplePath), ours: oc, theirs: tc, shortfalls, missingCodes, mappedElsewhere, missingDates, demographicsDiffer };
}

/** Markdown: per-sample totals and every shortfall, plus per-type totals. */
export function markdownReport(rows: SampleComparison[]): string {
  const lines: string[] = [];
  lines.push('| sample | ours (resources) | theirs | shortfalls (type ours/theirs) | codes missing | codes under another type | dates missing | demographics |', '|---|---:|---:|---|---|---|---|---|');
  const sum = (c: Record<string, number>): number => Object.values(c).reduce((a, b) => a + b, 0);
  for (const r of rows) {
    const sf = Object.entries(r.shortfalls).map(([t, [o, th]]) => `${t} ${o}/${th}`).join(', ') || '—';
    lines.push(`| ${r.sample} | ${sum(r.ours)} | ${sum(r.theirs)} | ${sf} | ${r.missingCodes.length ? r.missingCodes.join(', ') : 0} | ${r.mappedElsewhere.length ? r.mappedElsewhere.join(', ') : '—'} | ${r.missingDates.length ? r.missingDates.join(', ') : 0} | ${r.demographicsDiffer.length ? r.demographicsDiffer.join('; ') : 'same'} |`);
  }
  const types = new Set(rows.flatMap((r) => [...Object.keys(r.ours), ...Object.keys(r.theirs)]));
  lines.push('', '| resource type | ours | theirs |', '|---|---:|---:|');
  for (const t of [...types].sort()) {
    const o = rows.reduce((a, r) => a + (r.ours[t] ?? 0), 0);
    const th = rows.reduce((a, r) => a + (r.theirs[t] ?? 0), 0);
    lines.push(`| ${t} | ${o} | ${th} |`);
  }
  return lines.join('\n');
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const rows = expectedPairs().map(([s, e]) => compareSample(s, e));
  process.stdout.write(markdownReport(rows) + '\n');
}
