// C-CDA case: every document of ../shared/corpora/ccda (full documents and fragments), ours and
// @medplum/ccda 4.5.2 side by side on the same inputs.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertCcdaToFhir, convertXmlToCcda } from '@medplum/ccda';
import { convertCcda } from '../../src/documents/ccda/index.ts';
import type { BenchCase } from './harness.ts';

const CORPUS = resolve(fileURLToPath(new URL('../../../shared/corpora/ccda', import.meta.url)));

function files(dir: string): string[] {
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

export function ccdaCases(): BenchCase[] {
  if (!existsSync(CORPUS)) return [];
  const all = files(CORPUS).map((f) => readFileSync(f, 'utf8'));
  // Full documents are the realistic load (what networks return); fragments are measured apart.
  const full = all.filter((d) => /<ClinicalDocument[\s>]/.test(d.slice(0, 4000)));
  const subjects = [
    {
      name: 'tessera convertCcda',
      run: (x: string) => {
        const r = convertCcda(x);
        return r.ok ? r.bundle.entry.length : false;
      },
    },
    {
      name: '@medplum/ccda 4.5.2',
      run: (x: string) => {
        const b = convertCcdaToFhir(convertXmlToCcda(x));
        return b.entry?.length ?? 0;
      },
    },
  ];
  return [
    { title: 'C-CDA → FHIR, full documents', inputs: full, unit: 'documents', subjects },
    { title: 'C-CDA → FHIR, whole corpus (documents and fragments)', inputs: all, unit: 'documents', subjects },
  ];
}
