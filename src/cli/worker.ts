import { loadConfig } from '../platform/config.ts';
import { createLogger } from '../platform/logger.ts';
import { systemClock } from '../platform/clock.ts';
import { openDatabase, migrate } from '../db/index.ts';
import { loadKeyRing } from '../access/keys.ts';
import { startWorkers, stopWorkers } from '../server/workers.ts';
import { AccessService } from '../access/service.ts';
import { createDomain } from '../server/domain.ts';

/** `tessera worker`: run only the background workers (scale them separately from the API). */
export async function workerCommand(_argv: string[]): Promise<number> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const db = await openDatabase(config);
  await migrate(db);
  const keys = await loadKeyRing(db, config.masterKey);
  const services = { config, db, clock: systemClock, logger, keys };
  const access = new AccessService(db, systemClock, keys, { issuer: config.jwtIssuer, audiences: [config.baseUrl], ttlSeconds: config.tokenTtlSeconds, tokenRateLimitPerHour: config.tokenRateLimitPerHour });
  const workers = await startWorkers(services, createDomain(services, access));
  logger.info({ workers: workers.map((w) => w.name) }, 'workers started');
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  logger.info('stopping workers: finishing work in hand');
  await stopWorkers(workers);
  await db.close();
  return 0;
}
