// Assembles the whole platform: config → database (migrated) → keys → capabilities → HTTP app.
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from '../platform/config.ts';
import { AdjustableClock, systemClock, type Clock } from '../platform/clock.ts';
import { createLogger, type Logger } from '../platform/logger.ts';
import { openDatabase, migrate } from '../db/index.ts';
import type { Database } from '../db/types.ts';
import { AccessService } from '../access/service.ts';
import { loadKeyRing } from '../access/keys.ts';
import { bootstrap, type BootstrapResult } from '../access/bootstrap.ts';
import { buildApp } from './app.ts';
import type { Services } from './services.ts';
import { capabilityPlugins } from './capabilities.ts';
import { createDomain, type Domain, type DomainOptions } from './domain.ts';

export interface Platform {
  app: FastifyInstance;
  services: Services;
  access: AccessService;
  domain: Domain;
  bootstrap: BootstrapResult;
  close(): Promise<void>;
}

export interface PlatformOptions {
  config?: Partial<Config>;
  db?: Database;
  clock?: Clock;
  logger?: Logger;
  /** create the demo builder on an empty database (npm start) */
  demo?: boolean;
  domain?: DomainOptions;
}

/** Configuration, logger, clock, the migrated database, keys, and the access service: what every process needs. */
export async function openServices(opts: Pick<PlatformOptions, 'config' | 'db' | 'clock' | 'logger'> = {}): Promise<{ services: Services; access: AccessService }> {
  const config = loadConfig(opts.config);
  const logger = opts.logger ?? createLogger(config.logLevel);
  const clock = opts.clock ?? (process.env.TESSERA_CLOCK === 'adjustable' ? new AdjustableClock() : systemClock);
  const db = opts.db ?? (await openDatabase(config));
  const applied = await migrate(db);
  if (applied.length) logger.info({ applied }, 'database migrated');
  const keys = await loadKeyRing(db, config.masterKey);
  const audiences = [config.baseUrl, ...(process.env.TESSERA_AUDIENCES ?? '').split(',').map((s) => s.trim()).filter(Boolean)];
  const access = new AccessService(db, clock, keys, {
    issuer: config.jwtIssuer,
    audiences,
    ttlSeconds: config.tokenTtlSeconds,
    tokenRateLimitPerHour: config.tokenRateLimitPerHour,
  });
  return { services: { config, db, clock, logger, keys }, access };
}

export async function createPlatform(opts: PlatformOptions = {}): Promise<Platform> {
  const { services, access } = await openServices(opts);
  const { config, db } = services;
  const boot = await bootstrap(db, access, { adminClientId: config.adminClientId, adminClientSecret: config.adminClientSecret, demo: opts.demo ?? false });
  const domain = createDomain(services, access, opts.domain);
  const app = await buildApp(services, { access, plugins: await capabilityPlugins(services, domain) });
  return {
    app,
    services,
    access,
    domain,
    bootstrap: boot,
    async close() {
      await app.close();
      if (!opts.db) await db.close();
    },
  };
}
