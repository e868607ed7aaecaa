// Loads the Synthea R4 corpus (transaction bundles) from ../shared/corpora/synthea, read in place.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const syntheaDir = fileURLToPath(new URL('../../../shared/corpora/synthea/R4/SYNTHEA/', import.meta.url));

export function syntheaAvailable(): boolean {
  return existsSync(syntheaDir);
}

export interface CorpusBundle { file: string; bundle: Record<string, unknown> }

/** All bundles, parsed; `limit` keeps only the first N files (sorted by name). */
export function loadSyntheaBundles(limit = Infinity): CorpusBundle[] {
  return readdirSync(syntheaDir).filter((f) => f.endsWith('.json')).sort().slice(0, limit)
    .map((file) => ({ file, bundle: JSON.parse(readFileSync(join(syntheaDir, file), 'utf8')) as Record<string, unknown> }));
}

/** The resources inside the bundles (entry[].resource). */
export function syntheaResources(bundles: CorpusBundle[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const { bundle } of bundles) {
    for (const e of (bundle.entry as { resource?: Record<string, unknown> }[] | undefined) ?? []) if (e.resource) out.push(e.resource);
  }
  return out;
}
