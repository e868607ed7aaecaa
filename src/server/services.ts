import type { Config } from '../platform/config.ts';
import type { Clock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import type { Database } from '../db/types.ts';

/** What every capability gets: configuration, the database, the clock and the logger. */
export interface Services {
  config: Config;
  db: Database;
  clock: Clock;
  logger: Logger;
}
