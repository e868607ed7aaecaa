// Webhook settings, read from the environment (durations in milliseconds). `configureHooks` overrides them for
// one platform instance (tests, embedders) without touching process.env.
import type { Services } from '../server/services.ts';
import { envNumber } from '../platform/config.ts';

export interface HookConfig {
  /** delay between failed attempts (spec: 30 minutes) */
  retryDelayMs: number;
  /** failures before a delivery moves to the dead-letter queue (spec: 5) */
  maxFailures: number;
  /** how long dead letters (and delivered messages) are kept (spec: 14 days) */
  retentionMs: number;
  /** per-request timeout, token requests included */
  timeoutMs: number;
  /** deliver to private, loopback, link-local … addresses (development only) */
  allowPrivateTargets: boolean;
  /** accept http:// webhook and token URLs (development only) */
  allowHttp: boolean;
  /** resources whose JSON is this size or larger are sent without the resource (spec: 1 MB) */
  maxResourceBytes: number;
  /** deliveries in flight per worker process */
  concurrency: number;
  /** outbox events read per dispatcher transaction */
  dispatchBatch: number;
  /** idle poll interval of the dispatcher and delivery workers (real time) */
  pollMs: number;
  /** per-filter evaluation budget */
  filterMaxSteps: number;
  /** after a secret rotation, the previous secret also signs for this long */
  secretRotationOverlapMs: number;
}

const num = (name: string, fallback: number) => envNumber(name, fallback, 0);

function bool(name: string, fallback: boolean): boolean {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  return ['1', 'true', 'yes', 'on'].includes(v.toLowerCase());
}

export function loadHookConfig(overrides: Partial<HookConfig> = {}): HookConfig {
  return {
    retryDelayMs: num('TESSERA_HOOKS_RETRY_DELAY_MS', 30 * 60_000),
    maxFailures: num('TESSERA_HOOKS_MAX_FAILURES', 5),
    retentionMs: num('TESSERA_HOOKS_RETENTION_MS', 14 * 24 * 3_600_000),
    timeoutMs: num('TESSERA_HOOKS_TIMEOUT_MS', 10_000),
    allowPrivateTargets: bool('TESSERA_HOOKS_ALLOW_PRIVATE_TARGETS', false),
    allowHttp: bool('TESSERA_HOOKS_ALLOW_HTTP', false),
    maxResourceBytes: num('TESSERA_HOOKS_MAX_RESOURCE_BYTES', 1024 * 1024),
    concurrency: num('TESSERA_HOOKS_CONCURRENCY', 32),
    dispatchBatch: num('TESSERA_HOOKS_DISPATCH_BATCH', 200),
    pollMs: num('TESSERA_HOOKS_POLL_MS', 100),
    filterMaxSteps: num('TESSERA_HOOKS_FILTER_MAX_STEPS', 100_000),
    secretRotationOverlapMs: num('TESSERA_HOOKS_SECRET_OVERLAP_MS', 24 * 3_600_000),
    ...overrides,
  };
}

const perServices = new WeakMap<Services, HookConfig>();

/** The hook settings of one platform instance (environment defaults unless configureHooks changed them). */
export function hookConfig(services: Services): HookConfig {
  let c = perServices.get(services);
  if (!c) {
    c = loadHookConfig();
    perServices.set(services, c);
  }
  return c;
}

/** Overrides settings for one platform instance, in place (running workers see the change); returns them. */
export function configureHooks(services: Services, overrides: Partial<HookConfig>): HookConfig {
  return Object.assign(hookConfig(services), overrides);
}
