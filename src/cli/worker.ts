import { startWorkers, stopWorkers } from '../server/workers.ts';
import { createDomain } from '../server/domain.ts';
import { openServices } from '../server/platform.ts';

/** `tessera worker`: run only the background workers (scale them separately from the API). */
export async function workerCommand(_argv: string[]): Promise<number> {
  const { services, access } = await openServices();
  const { logger, db } = services;
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
