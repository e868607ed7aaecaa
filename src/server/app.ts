import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import formbody from '@fastify/formbody';
import { registerAccess } from '../access/http.ts';
import type { AccessService } from '../access/service.ts';
import { badRequest, forbidden, notFound } from '../platform/errors.ts';
import { AdjustableClock } from '../platform/clock.ts';
import { sendError } from './errors.ts';
import type { Services } from './services.ts';

export interface Capabilities {
  access: AccessService;
  /** Route registrations of the other capabilities (FHIR, patient history, hooks, …), run in order. */
  plugins: ((app: FastifyInstance) => Promise<void>)[];
}

const JSON_TYPES = ['application/fhir+json', 'application/json-patch+json', 'application/vnd.api+json'];

/** `%24` → `$` in the path of a request URL (FHIR operation names); the query string is left as sent. */
export function decodeOperationMarks(url: string): string {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (!path.includes('%24')) return url;
  return path.replaceAll('%24', '$') + (q < 0 ? '' : url.slice(q));
}

export async function buildApp(services: Services, caps: Capabilities): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: services.logger as FastifyBaseLogger,
    bodyLimit: services.config.bodyLimitBytes,
    // Graceful shutdown: close() stops accepting, lets in-flight requests finish.
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 500 },
    requestIdHeader: 'x-request-id',
    // FHIR operations arrive as `$op` or, from clients that percent-encode path segments, `%24op`; the router
    // matches the literal path, so the encoded form is decoded before routing (path only, never the query).
    rewriteUrl: (req) => decodeOperationMarks(req.url ?? '/'),
  }) as unknown as FastifyInstance;

  // FHIR and JSON:API media types parse as JSON (with prototype-poisoning protection, like application/json).
  const jsonParser = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser(JSON_TYPES, { parseAs: 'string' }, jsonParser);
  await app.register(formbody, { bodyLimit: services.config.bodyLimitBytes });

  app.setErrorHandler((err, request, reply) => sendError(request, reply, err));
  app.setNotFoundHandler((request, reply) => sendError(request, reply, notFound(`No route for ${request.method} ${request.url.split('?')[0]}`)));

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const ok = await services.db.ping();
    return reply.status(ok ? 200 : 503).send({ status: ok ? 'ready' : 'database unreachable' });
  });

  await registerAccess(app, services, caps.access);
  if (services.clock instanceof AdjustableClock) {
    const clock = services.clock;
    // Only with TESSERA_CLOCK=adjustable (end-to-end tests): the platform admin moves time forward.
    app.post('/admin/clock', async (request) => {
      const ctx = request.access;
      if (!ctx?.principal.isPlatformAdmin) throw forbidden('Only the platform admin may move the clock');
      const ms = Number((request.body as { advanceMs?: unknown } | null)?.advanceMs);
      if (!Number.isFinite(ms) || ms < 0) throw badRequest('advanceMs must be a non-negative number');
      clock.advance(ms);
      return { now: clock.now().toISOString() };
    });
  }
  for (const plugin of caps.plugins) await plugin(app);
  return app;
}
