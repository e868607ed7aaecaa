// Push-feed settings: which networks may send, how they are recognised (MLLP: MSH-3/MSH-4 and optionally the
// source address; HTTPS: a per-network bearer secret), and the MLLP listener's limits.
import { createHash, timingSafeEqual } from 'node:crypto';
import { envNumber } from '../platform/config.ts';

/** Provider codes of PackageMeta.subscriptionProviders (notes §3). */
export type FeedNetwork = 'bamboo' | 'collective' | 'quest' | 'surescripts';
export const FEED_NETWORKS: readonly FeedNetwork[] = ['bamboo', 'collective', 'quest', 'surescripts'];

/** The thirdparty/source tag code written on a network's resources (notes §2, §6). */
export const SOURCE_TAG: Record<FeedNetwork, string> = {
  bamboo: 'bamboohealth',
  collective: 'collective-medical',
  quest: 'quest',
  surescripts: 'surescripts',
};

export interface FeedSender {
  network: FeedNetwork;
  /** MSH-3 sending application (namespace id) values that identify this network on MLLP; '*' = any */
  sendingApplications: string[];
  /** MSH-4 sending facility values; empty or '*' = any */
  sendingFacilities: string[];
  /** source addresses allowed for MLLP (empty = any) */
  allowIps: string[];
  /** SHA-256 (hex) of the bearer secret for the HTTPS endpoints; none = HTTPS closed for this network */
  secretSha256?: string;
}

export interface FeedsConfig {
  senders: FeedSender[];
  /** MLLP listener: off unless a port is set (0 = random, tests) */
  mllpPort: number | null;
  mllpHost: string;
  /** largest accepted message in bytes */
  maxMessageBytes: number;
  /** a connection silent this long is closed */
  idleTimeoutMs: number;
  /** most open MLLP connections */
  maxConnections: number;
  /** inbox rows per INSERT (group commit), and INSERTs in flight at once */
  insertBatch: number;
  insertParallel: number;
  /** processing: rows claimed per round, lease, poll interval, attempts before 'failed' */
  claimBatch: number;
  leaseMs: number;
  pollMs: number;
  maxAttempts: number;
  /** concurrent processing rounds per process */
  concurrency: number;
  /** false: this process only accepts messages (a dedicated listener); others process the inbox */
  processing: boolean;
  /** processed inbox rows are deleted after this long (ms) */
  retentionMs: number;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * Default senders: the simulator's MSH-3 values, no HTTPS secret, and only from this machine — MLLP has no
 * credentials of its own, so an unconfigured listener must not take feed data from the network.
 */
const LOOPBACK = ['127.0.0.1', '::1'];
export const DEFAULT_SENDERS: FeedSender[] = [
  { network: 'bamboo', sendingApplications: ['BAMBOO'], sendingFacilities: [], allowIps: LOOPBACK },
  { network: 'collective', sendingApplications: ['COLLECTIVE'], sendingFacilities: [], allowIps: LOOPBACK },
  { network: 'quest', sendingApplications: ['QUEST'], sendingFacilities: [], allowIps: LOOPBACK },
  { network: 'surescripts', sendingApplications: ['SURESCRIPTS'], sendingFacilities: [], allowIps: LOOPBACK },
];

/**
 * Parses TESSERA_FEED_SENDERS: a JSON array of
 * `{network, sendingApplications?, sendingFacilities?, allowIps?, secret? | secretSha256?}`.
 */
export function parseSenders(json: string): FeedSender[] {
  const raw = JSON.parse(json) as unknown;
  if (!Array.isArray(raw)) throw new Error('TESSERA_FEED_SENDERS must be a JSON array');
  return raw.map((r: any, i) => {
    if (!FEED_NETWORKS.includes(r?.network)) throw new Error(`TESSERA_FEED_SENDERS[${i}].network must be one of ${FEED_NETWORKS.join(', ')}`);
    const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : []);
    const secret = typeof r.secret === 'string' && r.secret ? r.secret : undefined;
    if (secret && secret.length < 16) throw new Error(`TESSERA_FEED_SENDERS[${i}].secret must have at least 16 characters`);
    return {
      network: r.network,
      sendingApplications: list(r.sendingApplications),
      sendingFacilities: list(r.sendingFacilities),
      allowIps: list(r.allowIps),
      secretSha256: secret ? sha256(secret) : typeof r.secretSha256 === 'string' ? r.secretSha256.toLowerCase() : undefined,
    } satisfies FeedSender;
  });
}

export function loadFeedsConfig(env: NodeJS.ProcessEnv = process.env): FeedsConfig {
  const n = (k: string, d: number, min = 0) => envNumber(k, d, min, env);
  const port = env.TESSERA_MLLP_PORT;
  return {
    senders: env.TESSERA_FEED_SENDERS ? parseSenders(env.TESSERA_FEED_SENDERS) : DEFAULT_SENDERS,
    mllpPort: port === undefined || port === '' ? null : n('TESSERA_MLLP_PORT', 2575),
    mllpHost: env.TESSERA_MLLP_HOST ?? '0.0.0.0',
    maxMessageBytes: n('TESSERA_MLLP_MAX_MESSAGE_BYTES', 1024 * 1024, 1024),
    idleTimeoutMs: n('TESSERA_MLLP_IDLE_TIMEOUT_MS', 5 * 60_000, 1),
    maxConnections: n('TESSERA_MLLP_MAX_CONNECTIONS', 1000, 1),
    insertBatch: n('TESSERA_FEEDS_INSERT_BATCH', 200, 1),
    insertParallel: n('TESSERA_FEEDS_INSERT_PARALLEL', 4, 1),
    claimBatch: n('TESSERA_FEEDS_CLAIM_BATCH', 20, 1),
    leaseMs: n('TESSERA_FEEDS_LEASE_MS', 5 * 60_000, 1),
    pollMs: n('TESSERA_FEEDS_POLL_MS', 500, 1),
    maxAttempts: n('TESSERA_FEEDS_MAX_ATTEMPTS', 5, 1),
    concurrency: n('TESSERA_FEEDS_CONCURRENCY', 4, 1),
    processing: env.TESSERA_FEEDS_PROCESSING !== 'off',
    retentionMs: n('TESSERA_FEEDS_RETENTION_DAYS', 30, 1) * 86_400_000,
  };
}

const norm = (s: string) => s.trim().toUpperCase();

/** The configured sender an MLLP message comes from, by MSH-3 / MSH-4 and the peer address. */
export function senderForMessage(cfg: FeedsConfig, sendingApp: string, sendingFacility: string, peerIp: string | undefined): FeedSender | null {
  const ip = (peerIp ?? '').replace(/^::ffff:/, '');
  for (const s of cfg.senders) {
    const apps = s.sendingApplications.map(norm);
    if (!apps.includes('*') && !apps.includes(norm(sendingApp))) continue;
    const facs = s.sendingFacilities.map(norm);
    if (facs.length && !facs.includes('*') && !facs.includes(norm(sendingFacility))) continue;
    if (s.allowIps.length && !s.allowIps.includes(ip)) continue;
    return s;
  }
  return null;
}

/** The sender whose HTTPS secret this is (constant-time comparison of SHA-256 digests). */
export function senderForSecret(cfg: FeedsConfig, secret: string): FeedSender | null {
  const got = Buffer.from(sha256(secret), 'hex');
  let found: FeedSender | null = null;
  for (const s of cfg.senders) {
    if (!s.secretSha256) continue;
    const want = Buffer.from(s.secretSha256, 'hex');
    if (want.length === got.length && timingSafeEqual(want, got)) found = s;
  }
  return found;
}
