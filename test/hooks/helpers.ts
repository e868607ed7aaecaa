// Shared pieces of the hooks tests: a real local webhook receiver, a local OAuth token server, resource writes
// (through the outbox, as the FHIR store does), and a platform with its hooks worker (loops not started: tests
// step it with runOnce).
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import type { Queryable } from '../../src/db/types.ts';
import type { FakeClock } from '../../src/platform/clock.ts';
import { startTestPlatform, type TestPlatform, type TestBuilder } from '../helpers/platform.ts';
import { configureHooks, createHookWorker, type HookConfig, type HookWorker } from '../../src/hooks/index.ts';

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: Record<string, any>;
}

export interface Receiver {
  url: string;
  requests: Received[];
  /** status (or a delay then status) for each request; default 200 */
  respond: (r: Received) => number | Promise<number>;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function startReceiver(): Promise<Receiver> {
  const rec: Receiver = { url: '', requests: [], respond: () => 200, close: async () => {} };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: Record<string, any> = {};
      try {
        json = JSON.parse(body);
      } catch {}
      const r: Received = { path: req.url ?? '/', headers: req.headers, body, json };
      rec.requests.push(r);
      const status = await rec.respond(r);
      if (!res.destroyed) res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  server.keepAliveTimeout = 1000;
  rec.url = await listen(server);
  rec.close = () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return rec;
}

export interface TokenServer {
  url: string;
  requests: Record<string, string>[];
  /** tokens issued; the receiver accepts only the valid ones */
  valid: Set<string>;
  expiresIn: number;
  close(): Promise<void>;
}

export async function startTokenServer(expected: { clientId: string; clientSecret: string }): Promise<TokenServer> {
  const ts: TokenServer = { url: '', requests: [], valid: new Set(), expiresIn: 3600, close: async () => {} };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(body));
      ts.requests.push(form);
      if (form.grant_type !== 'client_credentials' || form.client_id !== expected.clientId || form.client_secret !== expected.clientSecret) {
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_client' }));
        return;
      }
      const token = `tok-${randomUUID()}`;
      ts.valid.add(token);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: ts.expiresIn }));
    });
  });
  ts.url = await listen(server);
  ts.close = () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return ts;
}

/**
 * Verifies a received message with the `standardwebhooks` package as the receiver did when it arrived (the
 * package checks the timestamp against Date.now; the platform runs on a fake clock). The timestamp itself must
 * be the platform clock's at sending, within the same second or later.
 */
export function verifySignature(secret: string, r: Received, clock: FakeClock): unknown {
  const sentAt = Number(r.headers['webhook-timestamp']) * 1000;
  if (!(sentAt <= clock.nowMs())) throw new Error('webhook-timestamp is ahead of the platform clock');
  const realNow = Date.now;
  Date.now = () => sentAt;
  try {
    return new Webhook(secret).verify(r.body, r.headers as Record<string, string>);
  } finally {
    Date.now = realNow;
  }
}

export interface WriteInput {
  resourceType: string;
  id?: string;
  builderId: string;
  upid?: string | null;
  content?: Record<string, unknown>;
  delete?: boolean;
}

/**
 * Writes a resource version and its outbox event in one transaction, the way the FHIR store does (tests that
 * do not need the whole FHIR API, and the crash test's writer).
 */
export async function writeResource(db: { transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> }, w: WriteInput, at = new Date()): Promise<{ id: string; versionId: number }> {
  return (await writeResources(db, [w], at))[0]!;
}

/** Several writes in one transaction (like a transaction bundle), a few multi-row statements whatever their number. */
export async function writeResources(db: { transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> }, writes: WriteInput[], at = new Date()): Promise<{ id: string; versionId: number }[]> {
  const ts = at.toISOString();
  return db.transaction(async (tx) => {
    const ids = writes.map((w) => w.id ?? randomUUID());
    const prev = await tx.query<{ type: string; id: string; version_id: number }>(
      'SELECT type, id, version_id FROM resources WHERE (type, id) IN (SELECT * FROM unnest($1::text[], $2::text[])) FOR UPDATE',
      [writes.map((w) => w.resourceType), ids]);
    const versions = new Map(prev.rows.map((r) => [`${r.type}/${r.id}`, r.version_id]));
    const rows = writes.map((w, i) => {
      const id = ids[i]!;
      const versionId = (versions.get(`${w.resourceType}/${id}`) ?? 0) + 1;
      versions.set(`${w.resourceType}/${id}`, versionId);
      const content = w.delete ? null : JSON.stringify({ ...w.content, resourceType: w.resourceType, id, meta: { versionId: String(versionId), lastUpdated: ts } });
      const event = JSON.stringify({
        action: w.delete ? 'delete' : versionId === 1 ? 'create' : 'update',
        resourceType: w.resourceType, id, versionId: String(versionId), builderId: w.builderId, upid: w.upid ?? null, lastUpdated: ts,
      });
      return { w, id, versionId, content, event, method: w.delete ? 'DELETE' : versionId === 1 ? 'POST' : 'PUT' };
    });
    const col = <T>(f: (r: (typeof rows)[number]) => T) => rows.map(f);
    const params = [col((r) => r.w.resourceType), col((r) => r.id), col((r) => r.versionId), col((r) => r.w.builderId), col((r) => r.w.upid ?? null),
      col((r) => !!r.w.delete), ts, col((r) => r.content)];
    await tx.query(
      `INSERT INTO resources (type, id, version_id, builder_id, upid, deleted, created_at, last_updated, content)
       SELECT t, i, v, b, u, d, $7, $7, c::jsonb FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::bool[], $8::text[]) AS x(t, i, v, b, u, d, c)
       ON CONFLICT (type, id) DO UPDATE SET version_id = excluded.version_id, deleted = excluded.deleted, last_updated = excluded.last_updated, content = excluded.content`, params);
    await tx.query(
      `INSERT INTO resource_versions (type, id, version_id, builder_id, upid, deleted, last_updated, method, content)
       SELECT t, i, v, b, u, d, $7, m, c::jsonb FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::bool[], $8::text[], $9::text[]) AS x(t, i, v, b, u, d, c, m)`,
      [...params, col((r) => r.method)]);
    await tx.query('INSERT INTO outbox (event) SELECT e::jsonb FROM unnest($1::text[]) WITH ORDINALITY AS x(e, n) ORDER BY n', [col((r) => r.event)]);
    return rows.map((r) => ({ id: r.id, versionId: r.versionId }));
  });
}

export interface HooksHarness {
  tp: TestPlatform;
  admin: TestBuilder;
  worker: HookWorker;
  config: HookConfig;
  close(): Promise<void>;
  /** POST /hooks as the builder admin; returns the JSON:API document and status */
  createHook(attributes: Record<string, unknown>, as?: TestBuilder): Promise<{ status: number; body: any }>;
  /** the admin's request, answered as parsed JSON */
  json(path: string, init?: RequestInit): Promise<any>;
}

/** Local receivers need private targets and http allowed; tests that check refusal switch them off. */
export async function startHooksHarness(overrides: Partial<HookConfig> = {}): Promise<HooksHarness> {
  const tp = await startTestPlatform();
  const config = configureHooks(tp.services, { allowPrivateTargets: true, allowHttp: true, concurrency: 8, timeoutMs: 2_000, ...overrides });
  const admin = await tp.createBuilder();
  // The fake clock runs days ahead in some tests: re-issue the token when it has expired.
  const fetchOnce = admin.fetch;
  admin.fetch = async (path, init) => {
    const r = await fetchOnce(path, init);
    if (r.status !== 401) return r;
    admin.token = await tp.token(admin.clientId, admin.clientSecret);
    return tp.fetchAs(admin.token, path, init);
  };
  const worker = createHookWorker(tp.services);
  return {
    tp, admin, worker, config,
    async close() {
      await worker.stop();
      await tp.close();
    },
    async json(path, init) {
      return (await admin.fetch(path, init)).json();
    },
    async createHook(attributes, as = admin) {
      const r = await as.fetch('/hooks', { method: 'POST', headers: { 'content-type': 'application/vnd.api+json' }, body: JSON.stringify({ data: { type: 'hooks/webhooks', attributes } }) });
      return { status: r.status, body: await r.json() };
    },
  };
}

export const jsonApi = (attributes: Record<string, unknown> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/vnd.api+json' },
  body: JSON.stringify({ data: { attributes } }),
});
