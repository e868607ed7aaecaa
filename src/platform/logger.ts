import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs (pino). LOG_LEVEL controls verbosity; tests default to silent. */
export function createLogger(level?: string): Logger {
  const resolved = level ?? process.env.LOG_LEVEL ?? (process.env.NODE_ENV === 'test' ? 'silent' : 'info');
  return pino({ level: resolved, base: { service: 'tessera' } });
}
