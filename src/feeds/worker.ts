// The feeds worker: processing loops over the inbox (any number of processes; rows are claimed with SKIP
// LOCKED under a lease) and, when TESSERA_MLLP_PORT is set, the MLLP listener of this process.
import type { Worker, WorkerFactory } from '../server/workers.ts';
import { feedsFor } from './service.ts';

export const feedsWorker: WorkerFactory = async (services, domain): Promise<Worker> => {
  const feeds = feedsFor(services, domain);
  if (feeds.cfg.processing) feeds.startProcessing();
  if (feeds.cfg.mllpPort !== null) await feeds.startMllp();
  return {
    name: 'feeds',
    async stop() {
      await feeds.close();
    },
  };
};
