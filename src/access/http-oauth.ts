// Browser-facing OAuth endpoints: the authorization endpoint with its login form, and token revocation.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Services } from '../server/services.ts';
import type { AccessService } from './service.ts';
import { OAuthError } from './oauth.ts';
import { errorPage, loginPage, PAGE_HEADERS } from './pages.ts';
import { clientCredentialsOf, sendOAuthError } from './http.ts';

function html(reply: FastifyReply, status: number, body: string) {
  return reply.status(status).headers(PAGE_HEADERS).send(body);
}

function withParams(uri: string, params: Record<string, string | undefined>): string {
  const u = new URL(uri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
  return u.toString();
}

export async function registerOAuthRoutes(app: FastifyInstance, services: Services, access: AccessService): Promise<void> {
  // RFC 8414 metadata, so OAuth client libraries (and the console) configure themselves.
  app.get('/.well-known/oauth-authorization-server', async () => {
    const base = services.config.baseUrl;
    return {
      issuer: access.settings.issuer,
      authorization_endpoint: `${base}/oauth/authorize`,
      token_endpoint: `${base}/oauth/token`,
      revocation_endpoint: `${base}/oauth/revoke`,
      jwks_uri: `${base}/.well-known/jwks.json`,
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none', 'client_secret_post', 'client_secret_basic'],
      revocation_endpoint_auth_methods_supported: ['none', 'client_secret_post', 'client_secret_basic'],
    };
  });

  app.get('/oauth/authorize', async (request, reply) => {
    const checked = await access.oauth.checkAuthorizeRequest(request.query as Record<string, unknown>);
    if ('problem' in checked) {
      const p = checked.problem;
      if (p.redirect && checked.redirectUri) return reply.redirect(withParams(checked.redirectUri, { error: p.error, error_description: p.description, state: checked.state }), 302);
      return html(reply, 400, errorPage('Cannot sign in', p.description));
    }
    return html(reply, 200, loginPage({ request: access.oauth.sealLoginRequest(checked.ok), clientName: checked.client.name }));
  });

  app.post('/oauth/authorize', async (request, reply) => {
    const b = (request.body ?? {}) as Record<string, unknown>;
    const loginRequest = access.oauth.openLoginRequest(b.request);
    if (!loginRequest) return html(reply, 400, errorPage('Cannot sign in', 'This sign-in form has expired or is not valid. Go back to the application and start again.'));
    const client = await access.getClient(loginRequest.clientId);
    if (!client || !client.active || !client.redirect_uris.includes(loginRequest.redirectUri)) return html(reply, 400, errorPage('Cannot sign in', 'The application is no longer registered.'));
    const email = typeof b.email === 'string' ? b.email.slice(0, 320) : '';
    const password = typeof b.password === 'string' ? b.password.slice(0, 1024) : '';
    const again = (status: number, error: string) => html(reply, status, loginPage({ request: access.oauth.sealLoginRequest(loginRequest), clientName: client.name, email, error }));
    let user;
    try {
      user = await access.oauth.checkLogin(email, password, request.ip, (e) => access.users.getByEmail(e));
    } catch (err) {
      if (err instanceof OAuthError) {
        for (const [k, v] of Object.entries(err.headers)) reply.header(k, v);
        return again(err.status, err.status === 429 ? 'Too many failed sign-in attempts. Try again later.' : 'Wrong email or password.');
      }
      throw err;
    }
    // An app of one builder signs in only that builder's people; an app without a builder (the console) anyone.
    if (client.builder_id && client.builder_id !== user.builder_id) return again(403, 'This account cannot sign in to this application.');
    const code = await access.oauth.issueCode(loginRequest, user);
    return reply.header('cache-control', 'no-store').redirect(withParams(loginRequest.redirectUri, { code, state: loginRequest.state }), 302);
  });

  // RFC 7009: always 200 for a token that is unknown or already revoked; 401 only when the client fails to authenticate.
  app.post('/oauth/revoke', async (request, reply) => {
    const b = (request.body ?? {}) as Record<string, unknown>;
    reply.header('cache-control', 'no-store');
    try {
      const { clientId, clientSecret } = clientCredentialsOf(request, b);
      const client = await access.oauth.authenticateClient(clientId, clientSecret);
      if (typeof b.token !== 'string' || !b.token) return reply.status(400).send({ error: 'invalid_request', error_description: 'token is required' });
      await access.oauth.revoke(b.token, client);
      return reply.status(200).send({});
    } catch (err) {
      return sendOAuthError(reply, err);
    }
  });
}
