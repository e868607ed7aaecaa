import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { unauthorized, forbidden, badRequest, notFound, HttpError } from '../platform/errors.ts';
import { readData, readPage, pageLinks, relationshipId } from '../server/jsonapi.ts';
import type { Services } from '../server/services.ts';
import type { AccessContext } from './context.ts';
import { requirePermission } from './context.ts';
import { MANAGED_ROLES, roleById, roleByName } from './roles.ts';
import type { AccessService, AppClientRow, PiggybackStatement } from './service.ts';
import { builderJson, clientJson, roleJson } from './json.ts';
import { OAuthError } from './oauth.ts';
import { registerOAuthRoutes } from './http-oauth.ts';
import { registerUserRoutes } from './http-users.ts';
import { registerGrantRoutes } from './http-grants.ts';
import { registerAudit } from './audit.ts';

declare module 'fastify' {
  interface FastifyRequest {
    access: AccessContext | null;
    /** routes declared with `config: { deferAuth: true }`: authenticate together with their statement (accessWith) */
    deferredAuth: (<T>(statement: (ctx: AccessContext) => PiggybackStatement) => Promise<T[]>) | null;
  }
  interface FastifyContextConfig {
    deferAuth?: boolean;
  }
}

/**
 * For a route declared with `config: { deferAuth: true }`: authenticates the request and runs `statement` over its
 * context, in one database round trip when the principal's context is as on its previous request
 * (AccessService.authenticateWith). Sets request.access; throws 401/403 exactly as the onRequest hook would.
 */
export async function accessWith<T>(request: FastifyRequest, statement: (ctx: AccessContext) => PiggybackStatement): Promise<{ ctx: AccessContext; rows: T[] }> {
  if (!request.deferredAuth) throw new Error(`${request.method} ${request.routeOptions.url} is not declared with deferAuth`);
  const rows = await request.deferredAuth<T>(statement);
  return { ctx: getAccess(request), rows };
}

/** The request's AccessContext; 401 when the request carried no valid token. */
export function getAccess(request: FastifyRequest): AccessContext {
  if (!request.access) throw unauthorized();
  return request.access;
}

export const header = (request: FastifyRequest, name: string): string | undefined => {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** Public paths: everything else requires a bearer token. */
function isPublic(url: string): boolean {
  const path = url.split('?')[0]!;
  return path === '/healthz' || path === '/readyz' || path === '/fhir/metadata'
    || path === '/oauth/token' || path === '/oauth/authorize' || path === '/oauth/revoke'
    // the mailed token (or the email, for a reset request) is the credential of these
    || path === '/auth/password-reset' || path === '/auth/password-reset-requests' || path === '/auth/verify-email'
    || path.startsWith('/.well-known/') || path === '/' || path === '/openapi.json'
    // push feeds: the network's own secret is the credential (src/feeds/http.ts)
    || path === '/feeds/hl7v2' || path === '/feeds/pharmacy';
}

/** Client credentials of a token/revocation request: HTTP Basic (RFC 6749 §2.3.1) or body parameters. */
export function clientCredentialsOf(request: FastifyRequest, body: Record<string, unknown>): { clientId?: string; clientSecret?: string } {
  let clientId = typeof body.client_id === 'string' ? body.client_id : undefined;
  let clientSecret = typeof body.client_secret === 'string' ? body.client_secret : undefined;
  const basic = /^Basic\s+(\S+)$/i.exec(header(request, 'authorization') ?? '');
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i > 0) {
      clientId = decodeURIComponent(decoded.slice(0, i));
      clientSecret = decodeURIComponent(decoded.slice(i + 1));
    }
  }
  return { clientId, clientSecret };
}

export function sendOAuthError(reply: FastifyReply, err: unknown) {
  if (err instanceof OAuthError) {
    for (const [k, v] of Object.entries(err.headers)) reply.header(k, v);
    return reply.status(err.status).send({ error: err.error, error_description: err.message });
  }
  if (err instanceof HttpError) {
    for (const [k, v] of Object.entries(err.headers)) reply.header(k, v);
    const error = err.status === 401 ? 'invalid_client' : err.status === 429 ? 'too_many_requests' : err.message.split(':')[0]!.includes(' ') ? 'invalid_request' : err.message.split(':')[0]!;
    return reply.status(err.status).send({ error, error_description: err.message });
  }
  throw err;
}

export async function registerAccess(app: FastifyInstance, services: Services, access: AccessService): Promise<void> {
  app.decorateRequest('access', null);
  app.decorateRequest('deferredAuth', null);
  app.addHook('onRequest', async (request) => {
    if (isPublic(request.url)) {
      // Metadata and health are public, but a token, when sent, is still read (e.g. for auditing).
      return;
    }
    if (request.routeOptions.config?.deferAuth) {
      // the handler authenticates (accessWith) before it reads or answers anything
      request.deferredAuth = async <T>(statement: (ctx: AccessContext) => PiggybackStatement) => {
        const r = await access.authenticateWith<T>(header(request, 'authorization'), header(request, 'zus-account'), statement);
        request.access = r.ctx;
        return r.rows;
      };
      return;
    }
    request.access = await access.authenticate(header(request, 'authorization'), header(request, 'zus-account'));
  });

  const ROLES_EPOCH = '2026-01-01T00:00:00.000Z';
  const { config } = services;

  app.get('/.well-known/jwks.json', async () => ({ keys: [{ ...access.keys.publicJwk, kid: access.keys.kid, alg: 'ES256' }] }));

  // ---- OAuth token ------------------------------------------------------------------------------------
  app.post('/oauth/token', async (request, reply) => {
    const b = (request.body ?? {}) as Record<string, unknown>;
    const str = (k: string) => (typeof b[k] === 'string' ? (b[k] as string) : undefined);
    const grant = str('grant_type');
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    if (grant !== 'client_credentials' && grant !== 'authorization_code' && grant !== 'refresh_token') {
      // No password grant, on purpose: people type their password only into Tessera's login page.
      return reply.status(400).send({ error: 'unsupported_grant_type', error_description: 'Supported: client_credentials (machine clients), authorization_code with PKCE and refresh_token (users)' });
    }
    const { clientId, clientSecret } = clientCredentialsOf(request, b);
    try {
      if (grant === 'client_credentials') {
        if (!clientId || !clientSecret) return reply.status(400).send({ error: 'invalid_request', error_description: 'client_id and client_secret are required' });
        return await access.clientCredentialsToken(clientId, clientSecret, str('audience'));
      }
      if (!clientId) return reply.status(400).send({ error: 'invalid_request', error_description: 'client_id is required' });
      await access.enforceTokenRate(clientId);
      const client = await access.oauth.authenticateClient(clientId, clientSecret);
      const loadUser = (id: string) => access.users.get(id);
      if (grant === 'authorization_code') {
        return await access.oauth.exchangeCode({ code: str('code'), redirectUri: str('redirect_uri'), codeVerifier: str('code_verifier'), audience: str('audience'), client, loadUser });
      }
      return await access.oauth.refresh({ refreshToken: str('refresh_token'), audience: str('audience'), client, loadUser });
    } catch (err) {
      return sendOAuthError(reply, err);
    }
  });

  // ---- roles ------------------------------------------------------------------------------------------
  app.get('/auth/roles', async (request) => {
    getAccess(request);
    const q = request.query as Record<string, string | undefined>;
    const name = q['filter[name]'];
    if (name !== undefined) {
      const r = roleByName(name);
      // The reference platform answers a name filter with the single role object.
      if (!r) throw notFound(`No role named '${name}'`);
      return { data: roleJson(r, ROLES_EPOCH) };
    }
    return { data: MANAGED_ROLES.map((r) => roleJson(r, ROLES_EPOCH)) };
  });
  app.get('/auth/roles/:id', async (request) => {
    getAccess(request);
    const r = roleById((request.params as { id: string }).id);
    if (!r) throw notFound('Role not found');
    return { data: roleJson(r, ROLES_EPOCH) };
  });

  // ---- builders ---------------------------------------------------------------------------------------
  app.post('/auth/builders', async (request, reply) => {
    const ctx = getAccess(request);
    if (!ctx.principal.isPlatformAdmin) throw forbidden('Only the platform admin may create builders');
    const { attributes } = readData(request.body, 'auth/builders');
    if (typeof attributes.name !== 'string') throw badRequest('name is required', [{ code: 'required', message: 'name is required', path: '/data/attributes/name' }]);
    const b = await access.createBuilder(attributes.name);
    return reply.status(201).header('location', `/auth/builders/${b.id}`).send({ data: builderJson(b) });
  });
  app.get('/auth/builders', async (request) => {
    const ctx = getAccess(request);
    const q = request.query as Record<string, unknown>;
    const { limit, offset } = readPage(q);
    const { rows, total } = await access.listBuilders(ctx.principal.isPlatformAdmin ? 'all' : ctx.readBuilderIds, limit, offset);
    return { data: rows.map(builderJson), meta: { total }, links: pageLinks(config.baseUrl, '/auth/builders', q, limit, offset, total) };
  });
  app.get('/auth/builders/:id', async (request) => {
    const ctx = getAccess(request);
    const id = (request.params as { id: string }).id;
    if (!ctx.principal.isPlatformAdmin && !ctx.readBuilderIds.includes(id)) throw notFound('Builder not found');
    const b = await access.getBuilder(id);
    if (!b) throw notFound('Builder not found');
    return { data: builderJson(b) };
  });

  // ---- app clients ------------------------------------------------------------------------------------
  /** Which builder a management call targets: body relationship, then Zus-Account, then the caller's own. */
  const targetBuilder = async (ctx: AccessContext, fromBody: string | undefined, permission = 'auth:app-clients:manage'): Promise<string> => {
    const wanted = fromBody ?? ctx.accountHeader ?? ctx.principal.builderId ?? undefined;
    if (!wanted) throw badRequest('Name the builder in relationships.auth/builders or the Zus-Account header');
    if (ctx.principal.isPlatformAdmin) {
      if (!(await access.getBuilder(wanted))) throw notFound('Builder not found');
      return wanted;
    }
    requirePermission(ctx, permission);
    if (ctx.writeBuilderId !== wanted && !ctx.readBuilderIds.includes(wanted)) throw forbidden('No access to that builder');
    return wanted;
  };
  const loadManagedClient = async (ctx: AccessContext, id: string): Promise<AppClientRow> => {
    const c = await access.getClient(id);
    if (!c || c.is_platform_admin || !c.builder_id) throw notFound('App client not found');
    if (!ctx.principal.isPlatformAdmin) {
      if (!ctx.readBuilderIds.includes(c.builder_id)) throw notFound('App client not found');
      requirePermission(ctx, 'auth:app-clients:manage');
    }
    return c;
  };

  app.post('/auth/app-clients', async (request, reply) => {
    const ctx = getAccess(request);
    const { attributes, relationships } = readData(request.body, 'auth/app-clients');
    const builderId = await targetBuilder(ctx, relationshipId(relationships, 'auth/builders'));
    const roleId = relationshipId(relationships, 'auth/roles');
    if (!roleId) throw badRequest('relationships.auth/roles is required', [{ code: 'required', message: 'A role is required', path: '/data/relationships/auth~1roles' }]);
    const { client, secret } = await access.createClient({
      builderId,
      name: String(attributes.name ?? ''),
      clientType: String(attributes.type ?? 'machine_to_machine'),
      userType: typeof attributes.userType === 'string' ? attributes.userType : 'builder',
      roleId,
      redirectUris: attributes.redirectUris,
    });
    return reply.status(201).header('location', `/auth/app-clients/${client.id}`).send({ data: clientJson(client, secret) });
  });
  app.get('/auth/app-clients', async (request) => {
    const ctx = getAccess(request);
    const q = request.query as Record<string, unknown>;
    const { limit, offset } = readPage(q);
    let builders: string[];
    const filter = typeof q['filter[builderId]'] === 'string' ? (q['filter[builderId]'] as string) : undefined;
    if (ctx.principal.isPlatformAdmin) builders = filter ? [filter] : (await access.listBuilders('all', 10_000, 0)).rows.map((b) => b.id);
    else {
      requirePermission(ctx, 'auth:app-clients:manage');
      builders = filter ? (ctx.readBuilderIds.includes(filter) ? [filter] : []) : ctx.readBuilderIds;
    }
    const { rows, total } = await access.listClients(builders, limit, offset);
    return { data: rows.map((c) => clientJson(c)), meta: { total }, links: pageLinks(config.baseUrl, '/auth/app-clients', q, limit, offset, total) };
  });
  app.get('/auth/app-clients/:id', async (request) => {
    const ctx = getAccess(request);
    return { data: clientJson(await loadManagedClient(ctx, (request.params as { id: string }).id)) };
  });
  app.patch('/auth/app-clients/:id', async (request) => {
    const ctx = getAccess(request);
    const c = await loadManagedClient(ctx, (request.params as { id: string }).id);
    const { attributes, relationships } = readData(request.body, 'auth/app-clients');
    const updated = await access.updateClient(c.id, {
      name: typeof attributes.name === 'string' ? attributes.name : undefined,
      roleId: relationshipId(relationships, 'auth/roles'),
      active: typeof attributes.active === 'boolean' ? attributes.active : undefined,
      redirectUris: attributes.redirectUris,
    });
    return { data: clientJson(updated) };
  });
  app.delete('/auth/app-clients/:id', async (request, reply) => {
    const ctx = getAccess(request);
    const c = await loadManagedClient(ctx, (request.params as { id: string }).id);
    await access.updateClient(c.id, { active: false });
    return reply.status(204).send();
  });
  app.post('/auth/app-clients/:id/rotate-secret', async (request) => {
    const ctx = getAccess(request);
    const c = await loadManagedClient(ctx, (request.params as { id: string }).id);
    const { client, secret } = await access.rotateSecret(c.id);
    return { data: clientJson(client, secret) };
  });

  registerAudit(app, services, access);
  await registerOAuthRoutes(app, services, access);
  await registerUserRoutes(app, services, access, targetBuilder);
  await registerGrantRoutes(app, services, access);
}
