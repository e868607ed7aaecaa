import type { NetworkService } from '../networks/connectors/types.ts';
import { envNumber } from '../platform/config.ts';

/** Patient-history settings; durations in ms. Network URLs default to the simulator's default ports. */
export interface HistoryConfig {
  /** quest (the lab network) is optional: without it lab-history runs report the connector missing */
  networkUrls: Record<Exclude<NetworkService, 'quest'>, string> & { quest?: string };
  /** a scheduled job starts this long before its targetDate (spec: ~36 h) */
  leadTimeMs: number;
  /** concurrent provider runs per network per process */
  concurrencyPerNetwork: number;
  requestTimeoutMs: number;
  /** provider runs are retried this often after a crash of our own before the provider is marked error */
  maxAttempts: number;
  pollMs: number;
  /** how far back a lab-network provider run asks (spec/001: 2 years) */
  labHistoryDays: number;
}

export function loadHistoryConfig(env: NodeJS.ProcessEnv = process.env): HistoryConfig {
  const n = (k: string, d: number) => envNumber(k, d, 0, env);
  return {
    networkUrls: {
      commonwell: env.TESSERA_NETWORK_COMMONWELL_URL ?? 'http://127.0.0.1:8091',
      carequality: env.TESSERA_NETWORK_CAREQUALITY_URL ?? 'http://127.0.0.1:8092',
      surescripts: env.TESSERA_NETWORK_SURESCRIPTS_URL ?? 'http://127.0.0.1:8093',
      // the lab network (push feeds, issue 8): 2 years of lab history on enrollment
      quest: env.TESSERA_NETWORK_QUEST_URL ?? 'http://127.0.0.1:8094',
    },
    labHistoryDays: n('TESSERA_LAB_HISTORY_DAYS', 730),
    leadTimeMs: n('TESSERA_HISTORY_LEAD_TIME_MS', 36 * 3600_000),
    concurrencyPerNetwork: n('TESSERA_HISTORY_CONCURRENCY', 8),
    requestTimeoutMs: n('TESSERA_HISTORY_TIMEOUT_MS', 30_000),
    maxAttempts: n('TESSERA_HISTORY_MAX_ATTEMPTS', 3),
    pollMs: n('TESSERA_HISTORY_POLL_MS', 500),
  };
}
