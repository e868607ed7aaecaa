// A hooks worker process for the crash test (and the benchmark): dispatcher + deliveries against the
// PostgreSQL schema named in HOOKS_SCHEMA, until it is killed.
import { openPostgres } from '../../src/db/postgres.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { loadKeyRing } from '../../src/access/keys.ts';
import { configureHooks, createHookWorker } from '../../src/hooks/index.ts';
import type { Services } from '../../src/server/services.ts';

const url = process.env.DATABASE_URL;
const schema = process.env.HOOKS_SCHEMA;
if (!url || !schema) throw new Error('DATABASE_URL and HOOKS_SCHEMA are required');
const db = await openPostgres({ url, schema, max: Number(process.env.HOOKS_POOL ?? 8) });
const config = loadConfig();
const services: Services = { config, db, clock: systemClock, logger: createLogger(process.env.LOG_LEVEL ?? 'silent'), keys: await loadKeyRing(db, undefined) };
configureHooks(services, {
  allowPrivateTargets: true,
  allowHttp: true,
  timeoutMs: Number(process.env.HOOKS_TIMEOUT_MS ?? 1_000),
  // failures (a receiver timing out on a loaded machine) come back quickly here and never go dead
  retryDelayMs: Number(process.env.HOOKS_RETRY_DELAY_MS ?? 200),
  maxFailures: Number(process.env.HOOKS_MAX_FAILURES ?? 1_000),
  pollMs: Number(process.env.HOOKS_POLL_MS ?? 20),
  concurrency: Number(process.env.HOOKS_CONCURRENCY ?? 32),
  dispatchBatch: Number(process.env.HOOKS_BATCH ?? 200),
});
const worker = createHookWorker(services);
worker.start();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void worker.stop().then(() => db.close()).then(() => process.exit(0));
});
