import type { Worker, WorkerFactory } from '../server/workers.ts';
import { RefreshEngine } from './engine.ts';
import type { SubscriptionService } from './service.ts';

/**
 * Polls the refresh schedule every `pollMs` (real time; due times are on the injectable clock) and runs what is
 * due. Woken at once by triggers recorded in this process. Any number of workers may run.
 */
export class RefreshWorker {
  readonly engine: RefreshEngine;
  #timer: NodeJS.Timeout | null = null;
  #running = false;
  #busy: Promise<void> | null = null;
  #again = false;

  constructor(readonly subs: SubscriptionService, readonly pollMs = subs.cfg.pollMs) {
    this.engine = new RefreshEngine(subs);
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.subs.onScheduled = () => this.wake();
    this.#schedule(0);
  }

  wake(): void {
    if (!this.#running) return;
    if (this.#busy) this.#again = true;
    else this.#schedule(0);
  }

  #schedule(ms: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#tick(), ms);
    this.#timer.unref?.();
  }

  #tick(): void {
    this.#timer = null;
    if (!this.#running || this.#busy) return;
    this.#busy = (async () => {
      try {
        await this.engine.runDue();
      } catch (e) {
        this.subs.logger?.error({ err: e }, 'refresh worker poll failed');
      }
    })().finally(() => {
      this.#busy = null;
      if (!this.#running) return;
      const again = this.#again;
      this.#again = false;
      this.#schedule(again ? 0 : this.pollMs);
    });
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.subs.onScheduled = () => {};
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#busy;
  }
}

export const subscriptionWorker: WorkerFactory = async (services, domain): Promise<Worker> => {
  const subs = domain.subscriptions;
  subs.logger ??= services.logger;
  const w = new RefreshWorker(subs);
  w.start();
  return { name: 'subscription-refresh', stop: () => w.stop() };
};
