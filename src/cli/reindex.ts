// `tessera reindex`: rebuild search-index rows (and with --upi the UPI blocking keys) from stored data.
import { loadConfig } from '../platform/config.ts';
import { openDatabase, migrate } from '../db/index.ts';
import { reindexResources } from '../fhir/store/reindex.ts';
import { reindexUpiBlocks } from '../upi/reindex.ts';

const USAGE = `usage: tessera reindex [--type Patient,Observation …] [--batch 500] [--upi] [--quiet]
  Rebuilds the search-index rows of every stored resource (or of the given types) from its content, e.g. after an
  upgrade that added search parameters. No new versions, no webhooks. On PostgreSQL it is safe while the platform
  runs; the embedded database (PGlite) is used by one process at a time, so stop the server first.
  --upi    also re-derive the UPI blocking keys of every indexed Patient (UPIDs are not re-matched)
  --quiet  no progress on stderr`;

export async function reindexCommand(argv: string[]): Promise<number> {
  const types: string[] = [];
  let batchSize = 500;
  let upi = false;
  let quiet = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--type' && argv[i + 1] !== undefined) types.push(...argv[++i]!.split(',').map((t) => t.trim()).filter(Boolean));
    else if (a === '--batch' && argv[i + 1] !== undefined) {
      batchSize = Number(argv[++i]);
      if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
        process.stderr.write('tessera reindex: --batch must be an integer from 1 to 10000\n');
        return 2;
      }
    } else if (a === '--upi') upi = true;
    else if (a === '--quiet') quiet = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    } else {
      process.stderr.write(`tessera reindex: unknown argument '${a}'\n${USAGE}\n`);
      return 2;
    }
  }
  for (const t of types) {
    if (!/^[A-Z][A-Za-z]{1,63}$/.test(t)) {
      process.stderr.write(`tessera reindex: '${t}' is not a resource type\n`);
      return 2;
    }
  }
  const config = loadConfig();
  const db = await openDatabase(config);
  const started = Date.now();
  let lastShown = 0;
  let lastLine = '';
  // Progress at most once a second, and the final count once.
  const show = (what: string, done: number, total: number, force = false) => {
    if (quiet) return;
    const now = Date.now();
    if (!force && now - lastShown < 1000) return;
    const pct = total > 0 ? Math.min(100, (100 * done) / total).toFixed(1) : '100.0';
    const line = `${what}: ${done} of ${total} (${pct} %)`;
    if (line === lastLine) return;
    lastShown = now;
    lastLine = line;
    process.stderr.write(`${line}\n`);
  };
  try {
    await migrate(db);
    const resources = await reindexResources(db, { types, batchSize, onProgress: (p) => show('resources', p.resources, p.total) });
    show('resources', resources.resources, resources.total, true);
    const summary: Record<string, unknown> = { resources: resources.resources, indexRows: resources.indexRows };
    if (upi) {
      const persons = await reindexUpiBlocks(db, { batchSize, onProgress: (p) => show('UPI patients', p.patients, p.total) });
      show('UPI patients', persons.patients, persons.total, true);
      summary.upiPatients = persons.patients;
    }
    summary.seconds = Math.round((Date.now() - started) / 100) / 10;
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return 0;
  } finally {
    await db.close();
  }
}
