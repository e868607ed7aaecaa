// The feeds of one process: the inbox writer and ingest (shared by the HTTPS routes and the MLLP listener),
// the processor loops, and the MLLP listener when TESSERA_MLLP_PORT is set.
import type { Services } from '../server/services.ts';
import type { Domain } from '../server/domain.ts';
import { loadFeedsConfig, type FeedsConfig } from './config.ts';
import { claimMessages, finishMessage, InboxWriter, purgeProcessed } from './inbox.ts';
import { FeedIngest } from './ingest.ts';
import { startMllpServer, type MllpServer } from './mllp.ts';
import { FeedProcessor } from './processor.ts';

export interface Feeds {
  cfg: FeedsConfig;
  inbox: InboxWriter;
  ingest: FeedIngest;
  processor: FeedProcessor;
  /** claims and processes pending messages until none is left; returns how many were processed */
  drain(): Promise<number>;
  /** one claim-and-process round */
  round(): Promise<number>;
  /** starts `cfg.concurrency` processing loops */
  startProcessing(): void;
  stopProcessing(): Promise<void>;
  /** starts the MLLP listener (port from the config unless given) */
  startMllp(port?: number, host?: string): Promise<MllpServer>;
  mllp: MllpServer | null;
  wake(): void;
  close(): Promise<void>;
}

const perProcess = new WeakMap<Services, Feeds>();

/** One Feeds per process (the API routes and the worker share the inbox writer, so their messages share commits). */
export function feedsFor(services: Services, domain: Domain, cfg?: FeedsConfig): Feeds {
  let f = perProcess.get(services);
  if (!f) {
    f = createFeeds(services, domain, cfg ?? loadFeedsConfig());
    perProcess.set(services, f);
  }
  return f;
}

export function createFeeds(services: Services, domain: Domain, cfg: FeedsConfig): Feeds {
  const { db, clock, logger } = services;
  const inbox = new InboxWriter(db, clock, cfg.insertBatch, cfg.insertParallel);
  const ingest = new FeedIngest(cfg, inbox, clock, logger);
  const processor = new FeedProcessor(db, clock, domain.store, domain.upi, logger);
  let running = false;
  const loops: Promise<void>[] = [];
  const waiters = new Set<() => void>();
  const wake = () => { for (const w of [...waiters]) w(); };

  const round = async (): Promise<number> => {
    const rows = await claimMessages(db, clock.now(), cfg.leaseMs, cfg.claimBatch);
    for (const row of rows) {
      let outcome;
      try {
        outcome = await processor.process(row);
      } catch (err) {
        logger.error({ err, id: row.id, network: row.network, controlId: row.control_id }, 'feed message processing failed');
        const reason = err instanceof Error ? err.message : String(err);
        outcome = row.attempts >= cfg.maxAttempts ? { status: 'failed' as const, reason: `system error: ${reason}` } : { status: 'retry' as const, reason };
      }
      await finishMessage(db, row.id, clock.now(), outcome);
    }
    return rows.length;
  };

  let lastPurge = -Infinity;
  const loop = async () => {
    while (running) {
      let n = 0;
      try {
        if (clock.nowMs() - lastPurge >= 3_600_000) {
          lastPurge = clock.nowMs();
          const purged = await purgeProcessed(db, new Date(clock.nowMs() - cfg.retentionMs));
          if (purged) logger.info({ purged }, 'purged processed feed messages past retention');
        }
        n = await round();
      } catch (err) {
        logger.error({ err }, 'feed inbox claim failed');
      }
      if (n === 0 && running) {
        await new Promise<void>((resolve) => {
          const done = () => { clearTimeout(t); waiters.delete(done); resolve(); };
          const t = setTimeout(done, cfg.pollMs);
          waiters.add(done);
        });
      }
    }
  };

  // A message stored by this process wakes the processing loops at once.
  const add = inbox.add.bind(inbox);
  inbox.add = async (m) => {
    const r = await add(m);
    if (r === 'inserted') wake();
    return r;
  };

  const feeds: Feeds = {
    cfg,
    inbox,
    ingest,
    processor,
    mllp: null,
    round,
    wake,
    async drain() {
      let total = 0;
      for (;;) {
        const n = await round();
        total += n;
        if (n === 0) return total;
      }
    },
    startProcessing() {
      if (running) return;
      running = true;
      for (let i = 0; i < cfg.concurrency; i++) loops.push(loop());
    },
    async stopProcessing() {
      running = false;
      wake();
      await Promise.all(loops.splice(0));
    },
    async startMllp(port, host) {
      if (feeds.mllp) return feeds.mllp;
      feeds.mllp = await startMllpServer({
        host: host ?? cfg.mllpHost,
        port: port ?? cfg.mllpPort ?? 2575,
        maxMessageBytes: cfg.maxMessageBytes,
        idleTimeoutMs: cfg.idleTimeoutMs,
        maxConnections: cfg.maxConnections,
        logger,
        handler: {
          message: async (text, peer) => (await ingest.acceptHl7(text, { transport: 'mllp', peerIp: peer.address })).ack,
          oversize: (head, limit) => ingest.oversize(head, limit).ack,
        },
      });
      return feeds.mllp;
    },
    async close() {
      await feeds.mllp?.close();
      feeds.mllp = null;
      await feeds.stopProcessing();
    },
  };
  return feeds;
}
