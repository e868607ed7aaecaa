// The hooks worker: the outbox dispatcher and the delivery runner in one process, plus the retention purge.
// Any number of processes may run it: the dispatcher takes turns on the cursor row, deliveries are claimed
// with SKIP LOCKED.
import type { Services } from '../server/services.ts';
import type { Worker, WorkerFactory } from '../server/workers.ts';
import { hookConfig } from './config.ts';
import { createDeliveryRunner, deliveryQueue } from './delivery.ts';
import { Dispatcher } from './dispatcher.ts';

const PURGE_EVERY_MS = 3_600_000;

export interface HookWorker extends Worker {
  dispatcher: Dispatcher;
  /** dispatch everything dispatchable, then deliver everything due (tests and tools; the loops do this continuously) */
  runOnce(): Promise<{ events: number; deliveries: number; sent: number }>;
  purge(): Promise<number>;
  /** starts the dispatcher and delivery loops */
  start(): void;
}

/** Builds the worker without starting its loops. */
export function createHookWorker(services: Services): HookWorker {
  const config = hookConfig(services);
  const queue = deliveryQueue(services, config);
  const dispatcher = new Dispatcher(services.db, services.clock, queue, config, services.logger);
  const delivery = createDeliveryRunner(services, config, queue);
  let running = false;
  let loop: Promise<void> | null = null;
  let lastPurge = -Infinity;
  const wakeUp: { fn: (() => void) | null } = { fn: null };

  const purge = () => queue.purgeFinished(new Date(services.clock.nowMs() - config.retentionMs));

  const dispatchLoop = async () => {
    while (running) {
      let again = false;
      try {
        const r = await dispatcher.dispatchOnce();
        if (r.deliveries > 0) delivery.runner.wake();
        again = r.events >= config.dispatchBatch;
        if (services.clock.nowMs() - lastPurge >= PURGE_EVERY_MS) {
          lastPurge = services.clock.nowMs();
          const n = await purge();
          if (n > 0) services.logger.info({ purged: n }, 'purged finished hook deliveries past retention');
        }
      } catch (err) {
        services.logger.error({ err }, 'hook dispatch failed');
      }
      if (!again && running) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, config.pollMs);
          wakeUp.fn = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wakeUp.fn = null;
      }
    }
  };

  return {
    name: 'hooks',
    dispatcher,
    purge,
    async runOnce() {
      let events = 0, deliveries = 0;
      for (;;) {
        const r = await dispatcher.dispatchOnce();
        events += r.events;
        deliveries += r.deliveries;
        if (r.events === 0) break;
      }
      const sent = await delivery.runner.drain();
      return { events, deliveries, sent };
    },
    start() {
      if (running) return;
      running = true;
      loop = dispatchLoop();
      delivery.runner.start();
    },
    async stop() {
      running = false;
      wakeUp.fn?.();
      await loop;
      await delivery.runner.stop();
      await delivery.close();
    },
  };
}

/** Registered in src/server/workers.ts: starts the dispatcher and delivery loops. */
export const hookWorker: WorkerFactory = async (services) => {
  const w = createHookWorker(services);
  w.start();
  return w;
};
