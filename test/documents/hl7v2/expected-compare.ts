// Compares our HL7 v2 conversion with another converter's expected output (ms-fhir-converter
// `Expected/`): per-type counts, clinical codes, dates and patient demographics.
// Run directly to print the markdown report used in docs/documents-hl7v2-ncpdp.md:
//   node --import tsx test/documents/hl7v2/expected-compare.ts
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertHl7v2 } from '../../../src/documents/hl7v2/index.ts';

type J = Record<string, any>;

export const CORPUS = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../../shared/corpora/hl7v2');
const MS = join(CORPUS, 'ms-fhir-converter');

export interface SampleComparison {
  sample: string;
  ours: Record<string, number>;
  theirs: Record<string, number>;
  /** Types where we emit fewer resources than they do. */
  shortfalls: Record<string, { ours: number; theirs: number }>;
  /** Codes (system|code) of clinical resources they emit and we do not. */
  missingCodes: string[];
  /** Date / demographic fields that differ. */
  mismatches: string[];
}

/** Resource types whose codes we compare. */
const CODED = ['Condition', 'AllergyIntolerance', 'Observation', 'Procedure', 'DiagnosticReport'];
/** Code systems invented by that converter (not real terminologies): not comparable. */
const LOCAL_SYSTEM = /example\.com|v2-to-fhir-converter/;

function codes(resources: J[]): Set<string> {
  const out = new Set<string>();
  for (const r of resources) {
    for (const c of (r.code?.coding ?? []) as J[]) {
      if (c.code === undefined || (c.system !== undefined && LOCAL_SYSTEM.test(c.system))) continue;
      out.add(`${r.resourceType} ${c.system ?? ''}|${c.code}`);
    }
  }
  return out;
}

/** Same instant when both have a time; same date otherwise. */
function sameTime(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.includes('T') && b.includes('T')) return Date.parse(a) === Date.parse(b);
  return a.slice(0, 10) === b.slice(0, 10) || (a.includes('T') ? new Date(Date.parse(a)).toISOString().slice(0, 10) === b.slice(0, 10) : false);
}

export function samplesWithExpected(): { sample: string; hl7: string; expected: string }[] {
  const out: { sample: string; hl7: string; expected: string }[] = [];
  const expDir = join(MS, 'Expected', 'Hl7v2');
  if (!existsSync(expDir)) return out;
  for (const dir of readdirSync(expDir).sort()) {
    for (const f of readdirSync(join(expDir, dir)).sort()) {
      const sample = f.replace(/-expected\.json$/, '');
      const hl7 = join(MS, 'SampleData', 'Hl7v2', `${sample}.hl7`);
      if (existsSync(hl7)) out.push({ sample, hl7, expected: join(expDir, dir, f) });
    }
  }
  return out;
}

export function compareSample(sample: string, hl7Path: string, expectedPath: string): SampleComparison {
  const result = convertHl7v2(readFileSync(hl7Path, 'utf8'));
  const mine = result.bundle.entry.map((e) => e.resource as J);
  const theirs = (JSON.parse(readFileSync(expectedPath, 'utf8')).entry as J[]).map((e) => e.resource as J);
  const count = (rs: J[]): Record<string, number> => {
    const c: Record<string, number> = {};
    for (const r of rs) c[r.resourceType] = (c[r.resourceType] ?? 0) + 1;
    return c;
  };
  const ours = count(mine);
  const their = count(theirs);
  const shortfalls: SampleComparison['shortfalls'] = {};
  for (const [t, n] of Object.entries(their)) if ((ours[t] ?? 0) < n) shortfalls[t] = { ours: ours[t] ?? 0, theirs: n };
  const ourCodes = codes(mine.filter((r) => CODED.includes(r.resourceType)));
  const missingCodes = [...codes(theirs.filter((r) => CODED.includes(r.resourceType)))].filter((c) => !ourCodes.has(c));
  const mismatches: string[] = [];
  // Demographics and dates of the patient(s): each of theirs must have a matching one of ours.
  for (const tp of theirs.filter((r) => r.resourceType === 'Patient')) {
    const mp = mine.find((p) => p.resourceType === 'Patient' && p.active !== false) ?? mine.find((p) => p.resourceType === 'Patient');
    if (mp === undefined) {
      mismatches.push('Patient missing');
      continue;
    }
    if (tp.gender !== undefined && tp.gender !== mp.gender) mismatches.push(`Patient.gender ${tp.gender} vs ${mp.gender}`);
    if (tp.birthDate !== undefined && tp.birthDate !== mp.birthDate) mismatches.push(`Patient.birthDate ${tp.birthDate} vs ${mp.birthDate}`);
    if (tp.deceasedDateTime !== undefined && !sameTime(tp.deceasedDateTime, mp.deceasedDateTime)) mismatches.push(`Patient.deceasedDateTime ${tp.deceasedDateTime} vs ${mp.deceasedDateTime}`);
    const ourFamilies = new Set(((mp.name ?? []) as J[]).map((n) => n.family));
    for (const n of (tp.name ?? []) as J[]) if (n.family !== undefined && !ourFamilies.has(n.family)) mismatches.push(`Patient.name.family ${n.family} missing`);
    const ourIds = new Set(((mp.identifier ?? []) as J[]).map((i) => i.value));
    for (const i of (tp.identifier ?? []) as J[]) if (i.value !== undefined && !ourIds.has(i.value)) mismatches.push(`Patient.identifier ${i.value} missing`);
    const ourCities = new Set(((mp.address ?? []) as J[]).map((a) => a.city));
    for (const a of (tp.address ?? []) as J[]) if (a.city !== undefined && !ourCities.has(a.city.trim())) mismatches.push(`Patient.address.city ${a.city} missing`);
  }
  const te = theirs.find((r) => r.resourceType === 'Encounter');
  const me = mine.find((r) => r.resourceType === 'Encounter');
  if (te !== undefined && me !== undefined) {
    if (!sameTime(te.period?.start, me.period?.start)) mismatches.push(`Encounter.period.start ${te.period?.start} vs ${me.period?.start}`);
    if (!sameTime(te.period?.end, me.period?.end)) mismatches.push(`Encounter.period.end ${te.period?.end} vs ${me.period?.end}`);
    if (te.class?.code !== undefined && te.class.code !== me.class?.code) mismatches.push(`Encounter.class ${te.class.code} vs ${me.class?.code}`);
  }
  for (const type of ['AllergyIntolerance', 'Procedure']) {
    const field = type === 'Procedure' ? 'performedDateTime' : 'onsetDateTime';
    for (const t of theirs.filter((r) => r.resourceType === type && r[field] !== undefined)) {
      if (!mine.some((m) => m.resourceType === type && sameTime(t[field], m[field] ?? m.recordedDate))) mismatches.push(`${type}.${field} ${t[field]} not found`);
    }
  }
  return { sample, ours, theirs: their, shortfalls, missingCodes, mismatches };
}

/** Markdown report: totals per type over all samples, then every sample with a shortfall. */
export function report(): string {
  const rows = samplesWithExpected().map((s) => compareSample(s.sample, s.hl7, s.expected));
  const totals: Record<string, { ours: number; theirs: number; samplesShort: number }> = {};
  for (const r of rows) {
    for (const t of new Set([...Object.keys(r.ours), ...Object.keys(r.theirs)])) {
      const x = (totals[t] ??= { ours: 0, theirs: 0, samplesShort: 0 });
      x.ours += r.ours[t] ?? 0;
      x.theirs += r.theirs[t] ?? 0;
      if (r.shortfalls[t] !== undefined) x.samplesShort++;
    }
  }
  const lines = [`Samples compared: ${rows.length}`, '', '| resource type | ours (total) | theirs (total) | samples where we emit fewer |', '|---|---:|---:|---:|'];
  for (const [t, x] of Object.entries(totals).sort()) lines.push(`| ${t} | ${x.ours} | ${x.theirs} | ${x.samplesShort} |`);
  lines.push('', '| sample | shortfalls (ours/theirs) | codes they have and we lack | date/demographic differences |', '|---|---|---|---|');
  for (const r of rows) {
    const sf = Object.entries(r.shortfalls).map(([t, x]) => `${t} ${x.ours}/${x.theirs}`).join(', ');
    lines.push(`| ${r.sample} | ${sf || '—'} | ${r.missingCodes.join(', ') || '—'} | ${r.mismatches.join('; ') || '—'} |`);
  }
  return lines.join('\n');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) console.log(report());
