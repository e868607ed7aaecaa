// Start the platform and the network simulator as separate OS processes (the real CLI), for end-to-end tests
// that drive them only through HTTP.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const root = new URL('../../', import.meta.url).pathname;
const bin = join(root, 'bin/tessera.js');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Proc {
  child: ChildProcess;
  output: () => string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

function start(args: string[], env: Record<string, string>, ready: RegExp, timeoutMs = 120_000): Promise<Proc & { match: RegExpExecArray }> {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, NODE_ENV: 'production', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const proc: Proc = {
    child,
    output: () => out,
    kill: (signal = 'SIGTERM') => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill(signal);
    }),
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`process did not become ready: ${args.join(' ')}\n${out.slice(-3000)}`)); }, timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) { clearTimeout(timer); resolve({ ...proc, match: m }); }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`process exited (${code}) before ready: ${args.join(' ')}\n${out.slice(-3000)}`)); });
  });
}

export async function startSimulatorProcess(args: string[] = []) {
  const p = await start(['network-sim', '--port', '0', ...args], {}, /(\{"msg":"network simulator listening".*\})\n/);
  const info = JSON.parse(p.match[1]!) as { admin: string; networks: Record<'commonwell' | 'carequality' | 'surescripts', string> };
  return { ...p, admin: info.admin, urls: info.networks };
}

export const E2E_ADMIN = { id: 'e2e-admin', secret: 'e2e-admin-secret-0123456789abcdef' };

/** A database location that survives restarts: a PGlite data dir, or a fresh schema on DATABASE_URL. */
export async function e2eDatabase(): Promise<{ env: Record<string, string>; cleanup(): Promise<void> }> {
  const url = process.env.DATABASE_URL;
  if (url) {
    const schema = `e2e_${randomBytes(5).toString('hex')}`;
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`CREATE SCHEMA ${schema}`);
    await c.end();
    const sep = url.includes('?') ? '&' : '?';
    return {
      env: { DATABASE_URL: `${url}${sep}options=${encodeURIComponent(`-c search_path=${schema}`)}` },
      async cleanup() {
        const d = new pg.Client({ connectionString: url });
        await d.connect();
        await d.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
        await d.end();
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'tessera-e2e-'));
  return { env: { DATA_DIR: dir, DATABASE_URL: '' }, async cleanup() { rmSync(dir, { recursive: true, force: true }); } };
}

export async function startPlatformProcess(port: number, env: Record<string, string>) {
  const p = await start(['serve'], {
    PORT: String(port),
    HOST: '127.0.0.1',
    TESSERA_BASE_URL: `http://127.0.0.1:${port}`,
    TESSERA_ADMIN_CLIENT_ID: E2E_ADMIN.id,
    TESSERA_ADMIN_CLIENT_SECRET: E2E_ADMIN.secret,
    TESSERA_CLOCK: 'adjustable',
    TESSERA_TOKEN_RATE_LIMIT_PER_HOUR: '100000',
    LOG_LEVEL: 'warn',
    ...env,
  }, /Tessera listening on /);
  return { ...p, url: `http://127.0.0.1:${port}` };
}

/** A small HTTP client for one principal. */
export class Client {
  constructor(readonly base: string, public token: string) {}
  static async login(base: string, id: string, secret: string): Promise<Client> {
    const r = await fetch(`${base}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'client_credentials', client_id: id, client_secret: secret }) });
    if (r.status !== 200) throw new Error(`login failed ${r.status} ${await r.text()}`);
    return new Client(base, ((await r.json()) as { access_token: string }).access_token);
  }
  async req(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
    const r = await fetch(this.base + path, { method, headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers }, body: body !== undefined ? JSON.stringify(body) : undefined });
    const text = await r.text();
    let parsed: unknown = text;
    try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    return { status: r.status, body: parsed };
  }
}
