import type { FastifyInstance } from 'fastify';
import { getAccess } from '../access/http.ts';
import { pageLinks, readPage } from '../server/jsonapi.ts';
import type { Services } from '../server/services.ts';
import type { HistoryService } from './service.ts';

/** /patient-history/jobs (spec/002, notes §4). */
export async function registerHistoryRoutes(app: FastifyInstance, services: Services, history: HistoryService): Promise<void> {
  app.post('/patient-history/jobs', async (request, reply) => {
    const job = await history.create(getAccess(request), { body: request.body });
    return reply.status(201).header('location', `/patient-history/jobs/${job.id}`).type('application/vnd.api+json').send({ data: job });
  });
  app.get('/patient-history/jobs', async (request, reply) => {
    const ctx = getAccess(request);
    const q = request.query as Record<string, unknown>;
    const { limit, offset } = readPage(q);
    const { data, total } = await history.list(ctx, q, limit, offset);
    return reply.type('application/vnd.api+json').send({ data, meta: { total }, links: pageLinks(services.config.baseUrl, '/patient-history/jobs', q, limit, offset, total) });
  });
  app.get('/patient-history/jobs/:id', async (request, reply) => {
    const job = await history.get(getAccess(request), (request.params as { id: string }).id);
    return reply.type('application/vnd.api+json').send({ data: job, links: { self: `${services.config.baseUrl}/patient-history/jobs/${job.id}` } });
  });
  app.delete('/patient-history/jobs/:id', async (request, reply) => {
    await history.cancel(getAccess(request), (request.params as { id: string }).id);
    return reply.status(204).send();
  });
}
