// Background workers (outbox dispatcher, deliveries, patient-history runner, schedulers). `tessera serve` runs
// them in the API process by default; `tessera worker` runs only them. Every worker claims work from the
// database with SKIP LOCKED, so any number of processes can run them at once.
import type { Services } from './services.ts';
import type { Domain } from './domain.ts';
import { historyWorker } from '../history/worker.ts';
import { hookWorker } from '../hooks/worker.ts';
import { subscriptionWorker } from '../subscriptions/worker.ts';
import { feedsWorker } from '../feeds/worker.ts';

export interface Worker {
  name: string;
  /** stop claiming new work and wait for the work in hand to finish */
  stop(): Promise<void>;
}

export type WorkerFactory = (services: Services, domain: Domain) => Promise<Worker>;

/** Registered worker factories, in start order. */
export function workerFactories(): WorkerFactory[] {
  return [historyWorker, hookWorker, subscriptionWorker, feedsWorker];
}

export async function startWorkers(services: Services, domain: Domain): Promise<Worker[]> {
  const started: Worker[] = [];
  for (const make of workerFactories()) started.push(await make(services, domain));
  return started;
}

export async function stopWorkers(workers: Worker[]): Promise<void> {
  await Promise.all(workers.map((w) => w.stop()));
}
