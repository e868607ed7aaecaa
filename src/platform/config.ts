import { resolve } from 'node:path';

/** All configuration comes from the environment with sensible defaults; durations are in milliseconds. */
export interface Config {
  port: number;
  host: string;
  /** postgres://… switches to a PostgreSQL server; otherwise embedded PGlite in dataDir */
  databaseUrl: string | undefined;
  dataDir: string;
  /** public base URL used in Bundle links and token audience */
  baseUrl: string;
  jwtIssuer: string;
  tokenTtlSeconds: number;
  /** secret for signing tokens and encrypting secrets at rest; generated and kept in the database when unset */
  masterKey: string | undefined;
  adminClientId: string | undefined;
  adminClientSecret: string | undefined;
  bodyLimitBytes: number;
  maxPageSize: number;
  defaultPageSize: number;
  tokenRateLimitPerHour: number;
  logLevel: string | undefined;
}

/** A numeric environment variable; a clear error when it is set but not a number (or below `min`). */
export function envNumber(name: string, fallback: number, min = -Infinity, env: NodeJS.ProcessEnv = process.env): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new Error(`${name} must be a number${min > -Infinity ? ` ≥ ${min}` : ''}, got ${JSON.stringify(v)}`);
  return n;
}

export function loadConfig(overrides: Partial<Config> = {}): Config {
  const port = envNumber('PORT', 8080);
  const host = process.env.HOST ?? '0.0.0.0';
  const base: Config = {
    port,
    host,
    databaseUrl: process.env.DATABASE_URL || undefined,
    dataDir: resolve(process.env.DATA_DIR ?? './data'),
    baseUrl: (process.env.TESSERA_BASE_URL ?? `http://localhost:${port}`).replace(/\/$/, ''),
    jwtIssuer: process.env.TESSERA_JWT_ISSUER ?? 'tessera',
    tokenTtlSeconds: envNumber('TESSERA_TOKEN_TTL_SECONDS', 3600),
    masterKey: process.env.TESSERA_MASTER_KEY || undefined,
    adminClientId: process.env.TESSERA_ADMIN_CLIENT_ID || undefined,
    adminClientSecret: process.env.TESSERA_ADMIN_CLIENT_SECRET || undefined,
    bodyLimitBytes: envNumber('TESSERA_BODY_LIMIT_BYTES', 8 * 1024 * 1024),
    maxPageSize: envNumber('TESSERA_MAX_PAGE_SIZE', 500),
    defaultPageSize: envNumber('TESSERA_DEFAULT_PAGE_SIZE', 20),
    tokenRateLimitPerHour: envNumber('TESSERA_TOKEN_RATE_LIMIT_PER_HOUR', 200),
    logLevel: process.env.LOG_LEVEL,
  };
  return { ...base, ...overrides };
}
