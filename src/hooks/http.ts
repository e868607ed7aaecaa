// The hooks API (JSON:API, Builder Admin only; see docs/hooks.md and docs/openapi-hooks.yaml):
//   /hooks                         POST create (signing secret shown once), GET list
//   /hooks/:id                     GET, PATCH, DELETE
//   /hooks/:id/rotate-secret       POST: new signing secret (shown once); the old one also signs for a day
//   /hooks/:id/pause | /resume     POST
//   /hooks/:id/deliveries          GET deliveries with their attempts (filter[status])
//   /hooks/:id/metrics             GET delivered / failed / dead / latency
//   /hooks/:id/redrive             POST all dead letters of the hook (optional time range)
//   /hooks/dead-letters            GET dead letters (filter[hookId], filter[from], filter[to])
//   /hooks/dead-letters/redrive    POST by time range (and hook)
//   /hooks/dead-letters/:id/redrive  POST one
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { getAccess, requirePermission, type AccessContext } from '../access/index.ts';
import { badRequest, forbidden, notFound } from '../platform/errors.ts';
import { readData, readPage, pageLinks } from '../server/jsonapi.ts';
import type { Services } from '../server/services.ts';
import type { Attempt, Job } from '../queue/index.ts';
import { hookConfig } from './config.ts';
import { deliveryQueue } from './delivery.ts';
import type { DeliveryPayload } from './payload.ts';
import { HookStore, type HookRow } from './store.ts';

export const HOOK_TYPE = 'hooks/webhooks';
export const DELIVERY_TYPE = 'hooks/deliveries';

const iso = (d: Date | string | null) => (d ? new Date(d).toISOString() : null);

export function hookJson(h: HookRow, signingSecret?: string) {
  return {
    type: HOOK_TYPE,
    id: h.id,
    attributes: {
      webhookUrl: h.webhook_url,
      filter: h.filter,
      auth: h.auth_type === 'basic'
        ? { type: 'basic', username: h.basic_username }
        : { type: 'oauth', clientId: h.oauth_client_id, tokenUrl: h.oauth_token_url, audience: h.oauth_audience },
      active: h.active,
      paused: h.paused,
      ...(signingSecret ? { signingSecret } : {}),
      filterErrors: Number(h.filter_errors),
      lastFilterError: h.last_filter_error,
      lastFilterErrorAt: iso(h.last_filter_error_at),
      createdAt: iso(h.created_at),
      updatedAt: iso(h.updated_at),
    },
    relationships: { 'auth/builders': { data: { type: 'auth/builders', id: h.builder_id } } },
    links: { self: `/hooks/${h.id}` },
  };
}

function deliveryJson(j: Job<DeliveryPayload>, attempts: Attempt[] | undefined) {
  const p = j.payload;
  return {
    type: DELIVERY_TYPE,
    id: j.id,
    attributes: {
      messageId: j.id,
      status: j.status === 'done' ? 'delivered' : j.status === 'dead' ? 'dead' : 'pending',
      resourceId: `${p.resourceType}/${p.id}`,
      versionId: String(p.versionId),
      operationType: p.operation,
      upid: p.upid,
      outboxSeq: p.seq,
      failures: j.failures,
      nextAttemptAt: j.status === 'pending' ? iso(j.runAt) : null,
      lastError: j.lastError,
      lastStatusCode: j.lastCode,
      createdAt: iso(j.createdAt),
      finishedAt: iso(j.finishedAt),
      attempts: (attempts ?? []).map((a) => ({
        attempt: a.attempt, at: iso(a.startedAt), ok: a.ok, statusCode: a.code, latencyMs: a.latencyMs, error: a.error,
      })),
    },
    relationships: { 'hooks/webhooks': { data: { type: HOOK_TYPE, id: p.hookId } } },
  };
}

function readTime(q: Record<string, unknown>, key: string): Date | undefined {
  const v = q[key];
  if (v === undefined || v === '') return undefined;
  const d = new Date(String(v));
  if (Number.isNaN(d.getTime())) throw badRequest(`${key} must be an RFC 3339 date-time`, [{ code: 'invalid', message: `${key} must be an RFC 3339 date-time`, path: key }]);
  return d;
}

export async function registerHookRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const config = hookConfig(services);
  const store = new HookStore(services.db, services.clock, services.keys, config);
  const queue = deliveryQueue(services, config);

  /** Hooks belong to the builder the request writes for (its own, or the one named by Zus-Account). */
  const builderOf = (request: FastifyRequest): { ctx: AccessContext; builderId: string } => {
    const ctx = getAccess(request);
    requirePermission(ctx, 'hooks:manage');
    if (!ctx.writeBuilderId) throw forbidden('This client acts for no builder; name one in the Zus-Account header');
    return { ctx, builderId: ctx.writeBuilderId };
  };
  const load = async (request: FastifyRequest): Promise<HookRow> => {
    const { builderId } = builderOf(request);
    const hook = await store.get((request.params as { id: string }).id, [builderId]);
    if (!hook) throw notFound('Hook not found');
    return hook;
  };
  const deliveriesDoc = async (jobs: Job<DeliveryPayload>[]) => {
    const attempts = await queue.attempts(jobs.map((j) => j.id));
    return jobs.map((j) => deliveryJson(j, attempts.get(j.id)));
  };

  app.post('/hooks', async (request, reply) => {
    const { builderId } = builderOf(request);
    const { attributes } = readData(request.body, HOOK_TYPE);
    const { hook, signingSecret } = await store.create(builderId, attributes);
    return reply.status(201).header('location', `/hooks/${hook.id}`).type('application/vnd.api+json').send({ data: hookJson(hook, signingSecret) });
  });

  app.get('/hooks', async (request, reply) => {
    const { builderId } = builderOf(request);
    const q = request.query as Record<string, unknown>;
    const { limit, offset } = readPage(q);
    const { rows, total } = await store.list([builderId], limit, offset);
    return reply.type('application/vnd.api+json').send({ data: rows.map((h) => hookJson(h)), meta: { total }, links: pageLinks(services.config.baseUrl, '/hooks', q, limit, offset, total) });
  });

  // Static paths before /hooks/:id (Fastify prefers static segments anyway; kept together for reading).
  app.get('/hooks/dead-letters', async (request, reply) => {
    const { builderId } = builderOf(request);
    const q = request.query as Record<string, unknown>;
    const { limit, offset } = readPage(q);
    const hookId = typeof q['filter[hookId]'] === 'string' ? (q['filter[hookId]'] as string) : undefined;
    const own = (await store.list([builderId], 10_000, 0)).rows.map((h) => h.id);
    const groups = hookId ? own.filter((id) => id === hookId) : own;
    const { jobs, total } = await queue.list({ groupKey: groups, status: 'dead', from: readTime(q, 'filter[from]'), to: readTime(q, 'filter[to]'), limit, offset });
    return reply.type('application/vnd.api+json').send({ data: await deliveriesDoc(jobs), meta: { total }, links: pageLinks(services.config.baseUrl, '/hooks/dead-letters', q, limit, offset, total) });
  });

  app.post('/hooks/dead-letters/redrive', async (request, reply) => {
    const { builderId } = builderOf(request);
    const { attributes } = readData(request.body ?? { data: {} });
    const from = readTime(attributes, 'from');
    const to = readTime(attributes, 'to');
    if (!from && !to && typeof attributes.hookId !== 'string') throw badRequest('Give a time range (from, to) and/or a hookId');
    const own = (await store.list([builderId], 10_000, 0)).rows.map((h) => h.id);
    const hooks = typeof attributes.hookId === 'string' ? own.filter((id) => id === attributes.hookId) : own;
    let redriven = 0;
    for (const id of hooks) redriven += await queue.redrive({ groupKey: id, from, to });
    return reply.type('application/vnd.api+json').send({ meta: { redriven } });
  });

  app.post('/hooks/dead-letters/:id/redrive', async (request, reply) => {
    const { builderId } = builderOf(request);
    const job = await queue.get((request.params as { id: string }).id);
    if (!job || !(await store.get(job.payload.hookId, [builderId]))) throw notFound('Dead letter not found');
    if (job.status !== 'dead') throw badRequest(`Delivery is ${job.status === 'done' ? 'delivered' : 'pending'}, not a dead letter`);
    const redriven = await queue.redrive({ ids: [job.id] });
    return reply.type('application/vnd.api+json').send({ meta: { redriven } });
  });

  app.get('/hooks/:id', async (request, reply) => reply.type('application/vnd.api+json').send({ data: hookJson(await load(request)) }));

  app.patch('/hooks/:id', async (request, reply) => {
    const hook = await load(request);
    const { attributes, id } = readData(request.body, HOOK_TYPE);
    if (id !== undefined && id !== hook.id) throw badRequest('data.id does not match the URL', [{ code: 'invalid', message: 'data.id does not match the URL', path: '/data/id' }]);
    return reply.type('application/vnd.api+json').send({ data: hookJson(await store.update(hook, attributes)) });
  });

  app.delete('/hooks/:id', async (request, reply) => {
    const hook = await load(request);
    await store.delete(hook.id);
    await queue.deleteGroup(hook.id);
    return reply.status(204).send();
  });

  app.post('/hooks/:id/rotate-secret', async (request, reply) => {
    const { hook, signingSecret } = await store.rotateSecret(await load(request), config.secretRotationOverlapMs);
    return reply.type('application/vnd.api+json').send({ data: hookJson(hook, signingSecret) });
  });

  for (const [action, paused] of [['pause', true], ['resume', false]] as const) {
    app.post(`/hooks/:id/${action}`, async (request, reply) => {
      const hook = await load(request);
      // Deliveries keep being recorded while paused; the queue holds them until the hook resumes.
      if (paused) await queue.pauseGroup(hook.id);
      else await queue.resumeGroup(hook.id);
      const updated = await store.setPaused(hook.id, paused);
      return reply.type('application/vnd.api+json').send({ data: hookJson(updated!) });
    });
  }

  app.get('/hooks/:id/deliveries', async (request, reply) => {
    const hook = await load(request);
    const q = request.query as Record<string, unknown>;
    const { limit, offset } = readPage(q);
    const wanted = q['filter[status]'];
    const status = wanted === undefined ? undefined : wanted === 'delivered' ? 'done' : wanted === 'dead' ? 'dead' : wanted === 'pending' ? 'pending' : null;
    if (status === null) throw badRequest("filter[status] must be 'pending', 'delivered' or 'dead'");
    const { jobs, total } = await queue.list({ groupKey: hook.id, status, from: readTime(q, 'filter[from]'), to: readTime(q, 'filter[to]'), limit, offset });
    return reply.type('application/vnd.api+json').send({ data: await deliveriesDoc(jobs), meta: { total }, links: pageLinks(services.config.baseUrl, `/hooks/${hook.id}/deliveries`, q, limit, offset, total) });
  });

  app.post('/hooks/:id/redrive', async (request, reply) => {
    const hook = await load(request);
    const attributes = request.body ? readData(request.body).attributes : {};
    const redriven = await queue.redrive({ groupKey: hook.id, from: readTime(attributes, 'from'), to: readTime(attributes, 'to') });
    return reply.type('application/vnd.api+json').send({ meta: { redriven } });
  });

  app.get('/hooks/:id/metrics', async (request, reply) => {
    const hook = await load(request);
    const s = await queue.stats(hook.id);
    return reply.type('application/vnd.api+json').send({
      data: {
        type: 'hooks/metrics',
        id: hook.id,
        attributes: {
          delivered: s.done,
          pending: s.pending,
          dead: s.dead,
          failedAttempts: s.failedAttempts,
          successfulAttempts: s.succeededAttempts,
          latencyMs: s.latencyMs,
          filterErrors: Number(hook.filter_errors),
          lastFilterError: hook.last_filter_error,
          paused: hook.paused,
          window: `deliveries of the last ${Math.round(config.retentionMs / 86_400_000)} days (retention)`,
        },
      },
    });
  });
}
