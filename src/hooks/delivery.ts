// The delivery side: the hooks queue, the per-batch preparation (hooks and resource versions in two queries)
// and the handler that builds, signs and sends one message. Outcomes (retry in 30 min, dead after 5 failures)
// are recorded by the queue.
import type { Services } from '../server/services.ts';
import { Queue, QueueRunner, type Job } from '../queue/index.ts';
import type { HookConfig } from './config.ts';
import { loadVersions, versionKey } from './events.ts';
import { buildMessage, signatureHeaders, type DeliveryPayload } from './payload.ts';
import { HookSender, type SendTarget } from './sender.ts';
import { guardedAgent } from './ssrf.ts';
import type { HookRow } from './store.ts';

export const DELIVERY_QUEUE = 'hooks.delivery';

export function deliveryQueue(services: Services, config: HookConfig): Queue<DeliveryPayload> {
  // The queue reads its retry settings at enqueue time: later configuration changes apply to new deliveries.
  const q = new Queue<DeliveryPayload>(services.db, services.clock, DELIVERY_QUEUE, { maxFailures: config.maxFailures, retryDelayMs: config.retryDelayMs });
  Object.defineProperty(q, 'defaults', { get: () => ({ maxFailures: config.maxFailures, retryDelayMs: config.retryDelayMs }) });
  return q;
}

interface BatchContext {
  hooks: Map<string, HookRow>;
  resources: Map<string, Record<string, unknown>>;
}

export interface DeliveryRunner {
  runner: QueueRunner<DeliveryPayload, BatchContext>;
  close(): Promise<void>;
}

export function createDeliveryRunner(services: Services, config: HookConfig, queue: Queue<DeliveryPayload>): DeliveryRunner {
  const { db, clock, keys, logger } = services;
  const agent = guardedAgent(config, { timeoutMs: config.timeoutMs, connections: Math.max(8, config.concurrency) });
  const sender = new HookSender(agent, clock, config, () => config.timeoutMs);

  const prepare = async (jobs: Job<DeliveryPayload>[]): Promise<BatchContext> => {
    const ids = [...new Set(jobs.map((j) => j.payload.hookId))];
    const hooks = new Map((await db.query<HookRow>('SELECT * FROM hooks WHERE id = ANY($1::text[])', [ids])).rows.map((h) => [h.id, h]));
    const wanted = jobs.filter((j) => hooks.get(j.payload.hookId)?.auth_type === 'oauth' && j.payload.operation === 'UPSERT').map((j) => j.payload);
    return { hooks, resources: await loadVersions(db, wanted, true) };
  };

  // Decrypted secrets per hook version: AES-GCM is cheap, but not free at a thousand deliveries a second.
  const secretsCache = new Map<string, { version: number; signing: string; previous: string | null; target: SendTarget['auth'] }>();
  const secretsOf = (hook: HookRow) => {
    const hit = secretsCache.get(hook.id);
    if (hit && hit.version === hook.version) return hit;
    const fresh = {
      version: hook.version,
      signing: keys.decrypt(hook.signing_secret_sealed),
      previous: hook.previous_signing_secret_sealed ? keys.decrypt(hook.previous_signing_secret_sealed) : null,
      target: hook.auth_type === 'basic'
        ? { type: 'basic' as const, username: hook.basic_username ?? '', password: keys.decrypt(hook.basic_password_sealed ?? '') }
        : { type: 'oauth' as const, clientId: hook.oauth_client_id ?? '', clientSecret: keys.decrypt(hook.oauth_client_secret_sealed ?? ''), tokenUrl: hook.oauth_token_url ?? '', audience: hook.oauth_audience },
    };
    secretsCache.set(hook.id, fresh);
    return fresh;
  };

  const handle = async (job: Job<DeliveryPayload>, ctx: BatchContext) => {
    const p = job.payload;
    const hook = ctx.hooks.get(p.hookId);
    if (!hook) return { ok: false, error: 'hook no longer exists' };
    if (!hook.active) return { ok: false, error: 'hook is inactive' };
    const resource = ctx.resources.get(versionKey(p.resourceType, p.id, p.versionId));
    const body = buildMessage(job.id, p, hook.auth_type, resource ? JSON.stringify(resource) : null, config.maxResourceBytes);
    const nowMs = clock.nowMs();
    const s = secretsOf(hook);
    const secrets = [s.signing];
    if (s.previous && hook.previous_secret_until && new Date(hook.previous_secret_until).getTime() > nowMs) secrets.push(s.previous);
    const headers = signatureHeaders(secrets, job.id, Math.floor(nowMs / 1000), body);
    const r = await sender.send({ hookId: hook.id, hookVersion: hook.version, url: hook.webhook_url, auth: s.target }, body, headers);
    return { ok: r.ok, code: r.status, error: r.error, latencyMs: r.latencyMs };
  };

  const runner = new QueueRunner<DeliveryPayload, BatchContext>({
    queue,
    concurrency: config.concurrency,
    // a claimed delivery may take a token request plus the POST (each bounded by the timeout), twice on a 401
    leaseMs: 4 * config.timeoutMs + 5_000,
    pollMs: config.pollMs,
    logger,
    prepare,
    handle,
  });
  return {
    runner,
    async close() {
      await agent.close();
    },
  };
}
