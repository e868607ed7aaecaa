// /auth/cross-builder-grants (JSON:API): created and revoked only by the platform admin; the Builder Admins of
// the two builders involved may read the grants that concern them.
import type { FastifyInstance } from 'fastify';
import type { Services } from '../server/services.ts';
import { readData, readPage, pageLinks, relationshipId } from '../server/jsonapi.ts';
import { badRequest, forbidden, notFound } from '../platform/errors.ts';
import type { AccessContext } from './context.ts';
import { requirePermission } from './context.ts';
import type { AccessService } from './service.ts';
import { USE_GRANTS_PERMISSION } from './service.ts';
import { grantJson } from './json.ts';
import { getAccess } from './http.ts';

const TYPE = 'auth/cross-builder-grants';

export async function registerGrantRoutes(app: FastifyInstance, services: Services, access: AccessService): Promise<void> {
  const { config } = services;
  const requireAdmin = (ctx: AccessContext) => {
    if (!ctx.principal.isPlatformAdmin) throw forbidden('Only the platform admin may create or revoke cross-builder grants');
  };

  app.post('/auth/cross-builder-grants', async (request, reply) => {
    const ctx = getAccess(request);
    requireAdmin(ctx);
    const { attributes, relationships } = readData(request.body, TYPE);
    const grantor = relationshipId(relationships, 'grantor') ?? (typeof attributes.grantorBuilderId === 'string' ? attributes.grantorBuilderId : undefined);
    const grantee = relationshipId(relationships, 'grantee') ?? (typeof attributes.granteeBuilderId === 'string' ? attributes.granteeBuilderId : undefined);
    if (!grantor) throw badRequest('relationships.grantor (the builder granting access to its data) is required', [{ code: 'required', message: 'grantor is required', path: '/data/relationships/grantor' }]);
    if (!grantee) throw badRequest('relationships.grantee (the builder receiving access) is required', [{ code: 'required', message: 'grantee is required', path: '/data/relationships/grantee' }]);
    const g = await access.grants.create({ grantorBuilderId: grantor, granteeBuilderId: grantee, relationship: attributes.relationship, createdBy: `app-client/${ctx.principal.id}` });
    return reply.status(201).header('location', `/auth/cross-builder-grants/${g.id}`).send({ data: grantJson(g) });
  });

  app.get('/auth/cross-builder-grants', async (request) => {
    const ctx = getAccess(request);
    const q = request.query as Record<string, unknown>;
    const { limit, offset } = readPage(q);
    const str = (k: string) => (typeof q[k] === 'string' ? (q[k] as string) : undefined);
    const status = str('filter[status]') ?? 'active';
    if (!['active', 'all'].includes(status)) throw badRequest('filter[status] must be active or all');
    const grantor = str('filter[grantorBuilderId]');
    const grantee = str('filter[granteeBuilderId]');
    if (!ctx.principal.isPlatformAdmin) {
      requirePermission(ctx, USE_GRANTS_PERMISSION);
      const home = ctx.principal.builderId!;
      // A builder's admins see the grants it gave and the grants it holds, nothing else.
      if (grantor !== home && grantee !== home) {
        if (grantor || grantee) return { data: [], meta: { total: 0 }, links: pageLinks(config.baseUrl, '/auth/cross-builder-grants', q, limit, offset, 0) };
        const [given, held] = await Promise.all([
          access.grants.list({ grantorBuilderId: home, includeRevoked: status === 'all' }, 10_000, 0),
          access.grants.list({ granteeBuilderId: home, includeRevoked: status === 'all' }, 10_000, 0),
        ]);
        const all = [...given.rows, ...held.rows].sort((a, b) => a.created_at.getTime() - b.created_at.getTime() || a.id.localeCompare(b.id));
        return { data: all.slice(offset, offset + limit).map(grantJson), meta: { total: all.length }, links: pageLinks(config.baseUrl, '/auth/cross-builder-grants', q, limit, offset, all.length) };
      }
    }
    const { rows, total } = await access.grants.list({ grantorBuilderId: grantor, granteeBuilderId: grantee, includeRevoked: status === 'all' }, limit, offset);
    return { data: rows.map(grantJson), meta: { total }, links: pageLinks(config.baseUrl, '/auth/cross-builder-grants', q, limit, offset, total) };
  });

  app.get('/auth/cross-builder-grants/:id', async (request) => {
    const ctx = getAccess(request);
    const g = await access.grants.get((request.params as { id: string }).id);
    if (!g) throw notFound('Grant not found');
    if (!ctx.principal.isPlatformAdmin) {
      const home = ctx.principal.builderId;
      if (g.grantor_builder_id !== home && g.grantee_builder_id !== home) throw notFound('Grant not found');
      requirePermission(ctx, USE_GRANTS_PERMISSION);
    }
    return { data: grantJson(g) };
  });

  app.delete('/auth/cross-builder-grants/:id', async (request, reply) => {
    const ctx = getAccess(request);
    requireAdmin(ctx);
    await access.grants.revoke((request.params as { id: string }).id, `app-client/${ctx.principal.id}`);
    return reply.status(204).send();
  });
}
