import type { Config } from '../platform/config.ts';
import type { Clock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import type { Database } from '../db/types.ts';
import type { KeyRing } from '../access/keys.ts';

/** What every capability gets: configuration, the database, the clock, the logger and the key ring. */
export interface Services {
  config: Config;
  db: Database;
  clock: Clock;
  logger: Logger;
  /** token signing and at-rest encryption of secrets (keys.encrypt / keys.decrypt) */
  keys: KeyRing;
}
