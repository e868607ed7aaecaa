// Sends one message to a hook's URL: Basic or OAuth (client-credentials token, cached until shortly before
// it expires, fetched again once on a 401 from the receiver), Standard Webhooks signature headers, a timeout,
// and every socket through the SSRF-guarded agent.
import { request, type Dispatcher } from 'undici';
import type { Clock } from '../platform/clock.ts';
import { checkUrl, TargetRefusedError, type TargetPolicy } from './ssrf.ts';

export interface SendTarget {
  hookId: string;
  hookVersion: number;
  url: string;
  auth:
    | { type: 'basic'; username: string; password: string }
    | { type: 'oauth'; clientId: string; clientSecret: string; tokenUrl: string; audience: string | null };
}

export interface SendResult {
  ok: boolean;
  status: number | null;
  error: string | null;
  latencyMs: number;
}

interface CachedToken {
  token: string;
  /** clock ms after which the token is fetched again */
  refreshAt: number;
}

const USER_AGENT = 'Tessera-ZusHooks/1.0';
/** tokens are refreshed this long before they expire (and at most after an hour when no expiry is given) */
const TOKEN_EARLY_MS = 60_000;

export class HookSender {
  readonly #agent: Dispatcher;
  readonly #clock: Clock;
  readonly #policy: TargetPolicy;
  readonly #timeoutMs: () => number;
  readonly #tokens = new Map<string, CachedToken>();
  /** token requests in flight, shared by concurrent deliveries of the same hook */
  readonly #pending = new Map<string, Promise<string>>();

  constructor(agent: Dispatcher, clock: Clock, policy: TargetPolicy, timeoutMs: () => number) {
    this.#agent = agent;
    this.#clock = clock;
    this.#policy = policy;
    this.#timeoutMs = timeoutMs;
  }

  async send(target: SendTarget, body: string, headers: Record<string, string>): Promise<SendResult> {
    const t0 = performance.now();
    const done = (ok: boolean, status: number | null, error: string | null): SendResult => ({ ok, status, error, latencyMs: performance.now() - t0 });
    try {
      checkUrl(target.url, this.#policy);
      let status = await this.#post(target, body, headers, false);
      if (status === 401 && target.auth.type === 'oauth') status = await this.#post(target, body, headers, true);
      return done(status >= 200 && status < 300, status, status >= 200 && status < 300 ? null : `HTTP ${status}`);
    } catch (err) {
      return done(false, null, describeError(err));
    }
  }

  async #post(target: SendTarget, body: string, headers: Record<string, string>, freshToken: boolean): Promise<number> {
    const auth = target.auth.type === 'basic'
      ? `Basic ${Buffer.from(`${target.auth.username}:${target.auth.password}`).toString('base64')}`
      : `Bearer ${await this.#token(target, freshToken)}`;
    const res = await request(target.url, {
      method: 'POST',
      dispatcher: this.#agent,
      headers: { ...headers, 'content-type': 'application/json', 'user-agent': USER_AGENT, authorization: auth },
      body,
      signal: AbortSignal.timeout(this.#timeoutMs()),
    });
    await res.body.dump(); // free the connection for keep-alive
    return res.statusCode;
  }

  async #token(target: SendTarget, fresh: boolean): Promise<string> {
    const key = `${target.hookId}:${target.hookVersion}`;
    const cached = this.#tokens.get(key);
    if (!fresh && cached && this.#clock.nowMs() < cached.refreshAt) return cached.token;
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#fetchToken(target).then((t) => {
        this.#tokens.set(key, t);
        return t.token;
      }).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return pending;
  }

  async #fetchToken(target: SendTarget): Promise<CachedToken> {
    if (target.auth.type !== 'oauth') throw new Error('not an OAuth hook');
    const { tokenUrl, clientId, clientSecret, audience } = target.auth;
    checkUrl(tokenUrl, this.#policy);
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret });
    if (audience) form.set('audience', audience);
    const res = await request(tokenUrl, {
      method: 'POST',
      dispatcher: this.#agent,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'user-agent': USER_AGENT },
      body: form.toString(),
      signal: AbortSignal.timeout(this.#timeoutMs()),
    });
    const text = await res.body.text();
    if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`token endpoint answered HTTP ${res.statusCode}`);
    let json: { access_token?: unknown; expires_in?: unknown };
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error('token endpoint answered with something other than JSON');
    }
    if (typeof json.access_token !== 'string' || !json.access_token) throw new Error('token endpoint answered without access_token');
    const expiresInMs = typeof json.expires_in === 'number' || typeof json.expires_in === 'string' ? Number(json.expires_in) * 1000 : 3_600_000;
    const lifetime = Number.isFinite(expiresInMs) && expiresInMs > 0 ? expiresInMs : 3_600_000;
    return { token: json.access_token, refreshAt: this.#clock.nowMs() + Math.max(0, lifetime - Math.min(TOKEN_EARLY_MS, lifetime / 2)) };
  }
}

/** A short, log-safe description of a network failure. */
export function describeError(err: unknown): string {
  if (err instanceof TargetRefusedError) return `refused: ${err.message}`;
  const e = err as { name?: string; code?: string; message?: string; cause?: unknown };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError' || e?.code === 'UND_ERR_HEADERS_TIMEOUT' || e?.code === 'UND_ERR_BODY_TIMEOUT' || e?.code === 'UND_ERR_CONNECT_TIMEOUT') {
    return 'timeout';
  }
  if (e?.cause instanceof TargetRefusedError) return `refused: ${e.cause.message}`;
  const code = e?.code ? `${e.code}: ` : '';
  return `${code}${e?.message ?? String(err)}`.slice(0, 500);
}
