// Benchmark: definitions load time, structural validation throughput and search-index extraction cost
// over the Synthea R4 corpus (../shared/corpora/synthea). Single process, single core.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { buildCompactModel } from '../../src/fhir/definitions/build.ts';
import { listSearchParams, loadDefinitions } from '../../src/fhir/definitions/index.ts';
import { validateResource } from '../../src/fhir/validation/index.ts';
import { evaluateWithFhirpath, extractIndexEntries } from '../../src/fhir/indexing/index.ts';
import { loadSyntheaBundles, syntheaAvailable, syntheaResources } from './corpus.ts';

if (!syntheaAvailable()) {
  console.error('corpus ../shared/corpora/synthea not found');
  process.exit(1);
}

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

function time<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  const r = fn();
  return [r, performance.now() - t0];
}

// 1. Definitions: load in a fresh process (cache present), and the one-time build from the package files.
loadDefinitions(); // ensures the cache file exists
const child = spawnSync(process.execPath, ['--import', 'tsx', '-e',
  "const d = await import('./src/fhir/definitions/index.ts'); console.log(JSON.stringify(d.loadDefinitions()));"], { cwd: repoRoot, encoding: 'utf8' });
const coldLoad = JSON.parse(child.stdout.trim().split('\n').pop() ?? '{}') as { loadMs: number; fromCache: boolean };
const [, buildMs] = time(() => buildCompactModel());

const bundles = loadSyntheaBundles();
const resources = syntheaResources(bundles);
const bytes = resources.reduce((n, r) => n + JSON.stringify(r).length, 0);

// 2. Validation: warm up, then the best of 3 passes over every resource.
let issues = 0;
for (const r of resources) issues += validateResource(r).length;
let bestValidate = Infinity;
for (let pass = 0; pass < 3; pass++) {
  const [, ms] = time(() => { for (const r of resources) validateResource(r); });
  bestValidate = Math.min(bestValidate, ms);
}
const [, bundleMs] = time(() => { for (const b of bundles) validateResource(b.bundle); });

// 3. Index extraction.
let entries = 0;
for (const r of resources) entries += extractIndexEntries(r).length;
let bestIndex = Infinity;
for (let pass = 0; pass < 3; pass++) {
  const [, ms] = time(() => { for (const r of resources) extractIndexEntries(r); });
  bestIndex = Math.min(bestIndex, ms);
}

// 4. The same expressions through the fhirpath package (a 1-in-10 sample) for comparison.
const sample = resources.filter((_, i) => i % 10 === 0);
const [, fhirpathMs] = time(() => {
  for (const r of sample) {
    for (const p of listSearchParams(r.resourceType as string)) {
      if (p.expression && p.type !== 'composite' && p.type !== 'special') evaluateWithFhirpath(p.expression, r);
    }
  }
});

const byType = new Map<string, number>();
for (const r of resources) byType.set(r.resourceType as string, (byType.get(r.resourceType as string) ?? 0) + 1);

const result = {
  machine: `${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}`,
  corpus: `${bundles.length} Synthea bundles, ${resources.length} resources (${byType.size} types), ${(bytes / 1e6).toFixed(1)} MB JSON`,
  definitionsLoadFreshProcessMs: Number(coldLoad.loadMs?.toFixed(1)),
  definitionsLoadFromCache: coldLoad.fromCache,
  definitionsBuildFromPackageMs: Math.round(buildMs),
  validationIssuesOnCorpus: issues,
  validateResourcesPerSec: Math.round(resources.length / (bestValidate / 1000)),
  validateUsPerResource: Number(((bestValidate * 1000) / resources.length).toFixed(1)),
  validateWholeBundlesMs: Math.round(bundleMs),
  indexEntriesPerResource: Number((entries / resources.length).toFixed(1)),
  indexUsPerResource: Number(((bestIndex * 1000) / resources.length).toFixed(1)),
  indexResourcesPerSec: Math.round(resources.length / (bestIndex / 1000)),
  fhirpathPackageUsPerResource: Number(((fhirpathMs * 1000) / sample.length).toFixed(1)),
};
console.log(JSON.stringify(result, null, 2));
