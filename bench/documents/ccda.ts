// C-CDA case: every document of ../shared/corpora/ccda (full documents and fragments), ours and
// @medplum/ccda 4.5.2 side by side on the same inputs.
import { existsSync, readFileSync } from 'node:fs';
import { convertCcdaToFhir, convertXmlToCcda } from '@medplum/ccda';
import { convertCcda } from '../../src/documents/ccda/index.ts';
import type { BenchCase } from './harness.ts';
import { CORPUS, ccdaFiles } from '../../test/documents/ccda-compare.ts';


export function ccdaCases(): BenchCase[] {
  if (!existsSync(CORPUS)) return [];
  const all = ccdaFiles(CORPUS).map((f) => readFileSync(f, 'utf8'));
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
