// /auth/users (JSON:API), the calling principal, password setup/reset and email verification, and the
// platform admin's view of the local mail outbox.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../server/services.ts';
import { readData, readPage, pageLinks, relationshipId } from '../server/jsonapi.ts';
import { badRequest, forbidden, notFound, HttpError } from '../platform/errors.ts';
import type { AccessContext } from './context.ts';
import { requirePermission } from './context.ts';
import type { AccessService } from './service.ts';
import type { UserRow } from './users.ts';
import { clientJson, mailJson, userJson } from './json.ts';
import { getMail, listMail } from './mail.ts';
import { errorPage, messagePage, passwordResetPage, PAGE_HEADERS } from './pages.ts';
import { getAccess } from './http.ts';

const MANAGE_USERS = 'auth:users:manage';

function optionalBool(v: unknown, name: string, fallback: boolean): boolean {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw badRequest(`${name} must be a boolean`, [{ code: 'value', message: `${name} must be a boolean`, path: `/data/attributes/${name}` }]);
  return v;
}

function html(reply: FastifyReply, status: number, body: string) {
  return reply.status(status).headers(PAGE_HEADERS).send(body);
}

function isForm(request: FastifyRequest): boolean {
  return String(request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
}

export async function registerUserRoutes(
  app: FastifyInstance,
  services: Services,
  access: AccessService,
  targetBuilder: (ctx: AccessContext, fromBody: string | undefined, permission?: string) => Promise<string>,
): Promise<void> {
  const { config } = services;
  const users = access.users;

  /** A user the caller may manage: 404 (not 403) for users of builders it does not act for, so nothing leaks. */
  const loadManagedUser = async (ctx: AccessContext, id: string): Promise<UserRow> => {
    const u = await users.get(id);
    if (!u) throw notFound('User not found');
    if (ctx.principal.isPlatformAdmin) return u;
    if (!ctx.readBuilderIds.includes(u.builder_id)) throw notFound('User not found');
    requirePermission(ctx, MANAGE_USERS);
    return u;
  };

  app.post('/auth/users', async (request, reply) => {
    const ctx = getAccess(request);
    const { attributes, relationships } = readData(request.body, 'auth/users');
    const builderId = await targetBuilder(ctx, relationshipId(relationships, 'auth/builders'), MANAGE_USERS);
    const roleId = relationshipId(relationships, 'auth/roles');
    if (!roleId) throw badRequest('relationships.auth/roles is required', [{ code: 'required', message: 'A role is required', path: '/data/relationships/auth~1roles' }]);
    const user = await users.create({
      builderId,
      email: attributes.email,
      name: attributes.name,
      userType: attributes.userType,
      roleId,
      sendPasswordResetEmail: optionalBool(attributes.sendPasswordResetEmail, 'sendPasswordResetEmail', true),
      sendVerificationEmail: optionalBool(attributes.sendVerificationEmail, 'sendVerificationEmail', true),
    });
    return reply.status(201).header('location', `/auth/users/${user.id}`).send({ data: userJson(user) });
  });

  app.get('/auth/users', async (request) => {
    const ctx = getAccess(request);
    const q = request.query as Record<string, unknown>;
    const { limit, offset } = readPage(q);
    const builderFilter = typeof q['filter[builderId]'] === 'string' ? (q['filter[builderId]'] as string) : undefined;
    const email = typeof q['filter[email]'] === 'string' ? (q['filter[email]'] as string) : undefined;
    const activeFilter = q['filter[active]'];
    if (activeFilter !== undefined && !['true', 'false', 'all'].includes(String(activeFilter))) throw badRequest('filter[active] must be true, false or all');
    const active = activeFilter === 'all' ? undefined : activeFilter !== 'false';
    let builderIds: string[] | 'all';
    if (ctx.principal.isPlatformAdmin) {
      builderIds = builderFilter ? [builderFilter] : 'all';
    } else {
      requirePermission(ctx, MANAGE_USERS);
      // A builder the caller does not act for lists nothing, exactly like one that does not exist.
      builderIds = builderFilter ? ctx.readBuilderIds.filter((b) => b === builderFilter) : ctx.readBuilderIds;
    }
    const { rows, total } = await users.list({ builderIds, email, active }, limit, offset);
    return { data: rows.map(userJson), meta: { total }, links: pageLinks(config.baseUrl, '/auth/users', q, limit, offset, total) };
  });

  // The calling principal: a user, or an app client (machine tokens have no user).
  app.get('/auth/users/me', async (request) => {
    const ctx = getAccess(request);
    const p = ctx.principal;
    if (p.kind === 'user') {
      const u = await users.get(p.id);
      if (!u) throw notFound('User not found');
      return { data: userJson(u), meta: { actsFor: ctx.readBuilderIds, permissions: p.role.permissions } };
    }
    const c = await access.getClient(p.id);
    if (!c) throw notFound('App client not found');
    return { data: clientJson(c), meta: { actsFor: ctx.readBuilderIds, permissions: p.role.permissions, isPlatformAdmin: p.isPlatformAdmin } };
  });

  app.get('/auth/users/:id', async (request) => {
    const ctx = getAccess(request);
    const id = (request.params as { id: string }).id;
    if (ctx.principal.kind === 'user' && ctx.principal.id === id) return { data: userJson((await users.get(id))!) };
    return { data: userJson(await loadManagedUser(ctx, id)) };
  });

  app.patch('/auth/users/:id', async (request) => {
    const ctx = getAccess(request);
    const u = await loadManagedUser(ctx, (request.params as { id: string }).id);
    const { attributes, relationships } = readData(request.body, 'auth/users');
    const movedTo = relationshipId(relationships, 'auth/builders');
    if (movedTo && movedTo !== u.builder_id) throw badRequest('A user cannot move to another builder', [{ code: 'value', message: 'auth/builders cannot change', path: '/data/relationships/auth~1builders' }]);
    if (attributes.active !== undefined && typeof attributes.active !== 'boolean') throw badRequest('active must be a boolean', [{ code: 'value', message: 'active must be a boolean', path: '/data/attributes/active' }]);
    const updated = await users.update(u.id, {
      email: attributes.email,
      name: attributes.name,
      roleId: relationshipId(relationships, 'auth/roles'),
      active: attributes.active as boolean | undefined,
    });
    return { data: userJson(updated) };
  });

  // Deactivation (users are never hard-deleted: their id stays in audit trails and provenance).
  app.delete('/auth/users/:id', async (request, reply) => {
    const ctx = getAccess(request);
    const u = await loadManagedUser(ctx, (request.params as { id: string }).id);
    await users.update(u.id, { active: false });
    return reply.status(204).send();
  });

  app.post('/auth/users/:id/password-reset', async (request, reply) => {
    const ctx = getAccess(request);
    const id = (request.params as { id: string }).id;
    const self = ctx.principal.kind === 'user' && ctx.principal.id === id;
    const u = self ? (await users.get(id))! : await loadManagedUser(ctx, id);
    if (!u.active) throw badRequest('The user is deactivated');
    await users.sendPasswordReset(u);
    return reply.status(202).send({ meta: { message: `A password reset link was sent to ${u.email}` } });
  });

  // Someone who forgot their password asks for a link. Same answer whether or not the address is known.
  app.post('/auth/password-reset-requests', async (request, reply) => {
    const { attributes } = readData(request.body, 'auth/password-reset-requests');
    if (typeof attributes.email !== 'string' || !attributes.email.trim()) throw badRequest('email is required', [{ code: 'required', message: 'email is required', path: '/data/attributes/email' }]);
    const u = await users.getByEmail(attributes.email);
    if (u && u.active && (await users.recentResetCount(u.id)) < 5) await users.sendPasswordReset(u);
    return reply.status(202).send({ meta: { message: 'If the address belongs to an account, a reset link is on its way' } });
  });

  // The page the mailed link opens, and what its form (or an API client, JSON:API) posts.
  app.get('/auth/password-reset', async (request, reply) => {
    const token = (request.query as Record<string, unknown>).token;
    if (typeof token !== 'string' || !token) return html(reply, 400, errorPage('Invalid link', 'The link is missing its token.'));
    try {
      const t = await users.peekToken(token, ['password_setup', 'password_reset']);
      const u = (await users.get(t.user_id))!;
      return html(reply, 200, passwordResetPage({ token, email: u.email, minLength: access.settings.flows.passwordMinLength }));
    } catch (err) {
      if (err instanceof HttpError) return html(reply, err.status, errorPage('Invalid link', `${err.message}. Ask for a new link.`));
      throw err;
    }
  });

  app.post('/auth/password-reset', async (request, reply) => {
    if (isForm(request)) {
      const b = (request.body ?? {}) as Record<string, unknown>;
      const token = typeof b.token === 'string' ? b.token : '';
      try {
        await users.resetPassword(token, b.password);
        return html(reply, 200, messagePage('Password saved', 'Your password is set. You can now sign in to your application.'));
      } catch (err) {
        if (!(err instanceof HttpError)) throw err;
        if (err.status === 400) {
          const t = await users.peekToken(token, ['password_setup', 'password_reset']).catch(() => null);
          const u = t ? await users.get(t.user_id) : undefined;
          if (u) return html(reply, 400, passwordResetPage({ token, email: u.email, minLength: access.settings.flows.passwordMinLength, error: err.message }));
        }
        return html(reply, err.status, errorPage('Cannot set the password', `${err.message}.`));
      }
    }
    const { attributes } = readData(request.body, 'auth/password-resets');
    const u = await users.resetPassword(attributes.token, attributes.password);
    return reply.status(200).send({ data: { type: 'auth/password-resets', id: u.id, attributes: { passwordChangedAt: u.password_changed_at?.toISOString() ?? null } } });
  });

  app.get('/auth/verify-email', async (request, reply) => {
    const token = (request.query as Record<string, unknown>).token;
    if (typeof token !== 'string' || !token) return html(reply, 400, errorPage('Invalid link', 'The link is missing its token.'));
    try {
      const u = await users.verifyEmail(token);
      return html(reply, 200, messagePage('Email verified', `Thank you: ${u.email} is verified.`));
    } catch (err) {
      if (err instanceof HttpError) return html(reply, err.status, errorPage('Invalid link', `${err.message}.`));
      throw err;
    }
  });

  // ---- the local mail outbox (platform admin only) --------------------------------------------------------
  const requireAdmin = (ctx: AccessContext) => {
    if (!ctx.principal.isPlatformAdmin) throw forbidden('Only the platform admin may read the mail outbox');
  };
  app.get('/auth/mail-outbox', async (request) => {
    const ctx = getAccess(request);
    requireAdmin(ctx);
    const q = request.query as Record<string, unknown>;
    const { limit, offset } = readPage(q);
    const to = typeof q['filter[to]'] === 'string' ? (q['filter[to]'] as string) : undefined;
    const { rows, total } = await listMail(services.db, { to, limit, offset });
    return { data: rows.map((m) => mailJson(m, true)), meta: { total, transport: access.mailer.kind }, links: pageLinks(config.baseUrl, '/auth/mail-outbox', q, limit, offset, total) };
  });
  app.get('/auth/mail-outbox/:id', async (request) => {
    const ctx = getAccess(request);
    requireAdmin(ctx);
    const m = await getMail(services.db, (request.params as { id: string }).id);
    if (!m) throw notFound('Mail not found');
    return { data: mailJson(m, true) };
  });

}
