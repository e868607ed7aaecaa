import { QueueRunner } from '../queue/index.ts';
import type { Worker, WorkerFactory } from '../server/workers.ts';
import { httpEhrConnector, httpLabConnector, httpPharmacyConnector } from '../networks/connectors/index.ts';
import type { NetworkService } from '../networks/connectors/types.ts';
import { HistoryRunner, type Connectors } from './runner.ts';
import type { ProviderTask } from './service.ts';

/** One queue runner per network, each with bounded concurrency, all sharing the process's FHIR store. */
export const historyWorker: WorkerFactory = async (services, domain): Promise<Worker> => {
  const history = domain.history;
  const cfg = history.cfg;
  const connectors: Connectors = {
    ehr: {
      commonwell: httpEhrConnector({ service: 'commonwell', baseUrl: cfg.networkUrls.commonwell, timeoutMs: cfg.requestTimeoutMs }),
      carequality: httpEhrConnector({ service: 'carequality', baseUrl: cfg.networkUrls.carequality, timeoutMs: cfg.requestTimeoutMs }),
    },
    pharmacy: { surescripts: httpPharmacyConnector({ service: 'surescripts', baseUrl: cfg.networkUrls.surescripts, timeoutMs: cfg.requestTimeoutMs }) },
    lab: cfg.networkUrls.quest ? { quest: httpLabConnector({ service: 'quest', baseUrl: cfg.networkUrls.quest, timeoutMs: cfg.requestTimeoutMs }) } : {},
  };
  const runner = new HistoryRunner(services.db, services.clock, domain.store, connectors, services.logger, cfg.labHistoryDays);
  runner.upi = domain.upi;
  const runners = new Map<NetworkService, QueueRunner<ProviderTask>>();
  for (const [service, queue] of history.queues) {
    const r = new QueueRunner<ProviderTask>({
      queue,
      concurrency: cfg.concurrencyPerNetwork,
      // longer than a provider run can take: a killed worker's jobs come back after this
      leaseMs: Math.max(10 * 60_000, cfg.requestTimeoutMs * 20),
      pollMs: cfg.pollMs,
      logger: services.logger,
      handle: (job) => runner.handle(job),
    });
    r.start();
    runners.set(service, r);
  }
  history.onEnqueued = (list) => list.forEach((s) => runners.get(s)?.wake());
  return {
    name: 'patient-history',
    async stop() {
      history.onEnqueued = () => {};
      await Promise.all([...runners.values()].map((r) => r.stop()));
    },
  };
};
