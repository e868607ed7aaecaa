import type { FastifyInstance } from 'fastify';
import { getAccess } from '../access/http.ts';
import { notFound } from '../platform/errors.ts';
import { pageLinks, readPage } from '../server/jsonapi.ts';
import type { Services } from '../server/services.ts';
import { enrollmentJson, packageJson, refreshJson, type SubscriptionService } from './service.ts';

const JSONAPI = 'application/vnd.api+json';

/** /zap-data-subscriptions/* (spec/001, notes §3). */
export async function registerSubscriptionRoutes(app: FastifyInstance, services: Services, subs: SubscriptionService): Promise<void> {
  const base = '/zap-data-subscriptions';
  const self = (path: string) => `${services.config.baseUrl}${base}${path}`;

  app.get(`${base}/packages`, async (request, reply) => {
    getAccess(request);
    const rows = await subs.listPackages();
    return reply.type(JSONAPI).send({ data: rows.map(packageJson), links: { self: self('/packages') } });
  });
  app.get(`${base}/packages/:id`, async (request, reply) => {
    getAccess(request);
    const { id } = request.params as { id: string };
    const p = await subs.getPackage(id);
    if (!p) throw notFound(`Package ${id} not found`);
    return reply.type(JSONAPI).send({ data: packageJson(p), links: { self: self(`/packages/${encodeURIComponent(id)}`) } });
  });
  app.post(`${base}/packages`, async (request, reply) => {
    const p = await subs.addPackage(getAccess(request), request.body);
    return reply.status(201).header('location', `${base}/packages/${p.id}`).type(JSONAPI).send({ data: packageJson(p) });
  });

  app.post(`${base}/enrollment-statuses`, async (request, reply) => {
    const e = await subs.enroll(getAccess(request), request.body);
    const json = enrollmentJson(e);
    return reply.status(201).header('location', `${base}/enrollment-statuses/${json.id}`).type(JSONAPI).send({ data: json });
  });
  app.get(`${base}/enrollment-statuses`, async (request, reply) => {
    const ctx = getAccess(request);
    const q = request.query as Record<string, unknown>;
    const { limit, offset } = readPage(q);
    const { rows, total } = await subs.listEnrollments(ctx, q, limit, offset);
    return reply.type(JSONAPI).send({ data: rows.map(enrollmentJson), meta: { total }, links: pageLinks(services.config.baseUrl, `${base}/enrollment-statuses`, q, limit, offset, total) });
  });
  app.get(`${base}/enrollment-statuses/:key`, async (request, reply) => {
    const e = await subs.getEnrollment(getAccess(request), (request.params as { key: string }).key);
    const json = enrollmentJson(e);
    return reply.type(JSONAPI).send({ data: json, links: { self: self(`/enrollment-statuses/${json.id}`) } });
  });
  app.patch(`${base}/enrollment-statuses/:key`, async (request, reply) => {
    const e = await subs.patchEnrollment(getAccess(request), (request.params as { key: string }).key, request.body);
    return reply.type(JSONAPI).send({ data: enrollmentJson(e) });
  });
  app.delete(`${base}/enrollment-statuses/:key`, async (request, reply) => {
    await subs.deleteEnrollment(getAccess(request), (request.params as { key: string }).key);
    return reply.status(204).send();
  });

  // Tessera extension: the refresh schedule of the builder's enrollees (what ran, when, why; what is pending).
  app.get(`${base}/refreshes`, async (request, reply) => {
    const ctx = getAccess(request);
    const q = request.query as Record<string, unknown>;
    const { limit, offset } = readPage(q);
    const { rows, total } = await subs.listRefreshes(ctx, q, limit, offset);
    return reply.type(JSONAPI).send({ data: rows.map(refreshJson), meta: { total }, links: pageLinks(services.config.baseUrl, `${base}/refreshes`, q, limit, offset, total) });
  });
}
