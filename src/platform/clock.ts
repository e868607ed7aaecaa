// Every delay in the product (token expiry, retries, retention, scheduling) reads this clock,
// so tests can run hours of behaviour in milliseconds with FakeClock.
export interface Clock {
  now(): Date;
  nowMs(): number;
}

export const systemClock: Clock = {
  now: () => new Date(),
  nowMs: () => Date.now(),
};

export class FakeClock implements Clock {
  #ms: number;
  constructor(start: Date | string | number = '2026-01-01T00:00:00Z') {
    this.#ms = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.#ms);
  }
  nowMs(): number {
    return this.#ms;
  }
  advance(ms: number): void {
    this.#ms += ms;
  }
  set(to: Date | string | number): void {
    this.#ms = new Date(to).getTime();
  }
}

/**
 * System time plus an offset an operator can move forward (TESSERA_CLOCK=adjustable): lets end-to-end tests
 * run scheduled behaviour (targetDate, retries, retention) against separate processes in seconds.
 * Never enabled by default.
 */
export class AdjustableClock implements Clock {
  #offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.#offsetMs);
  }
  nowMs(): number {
    return Date.now() + this.#offsetMs;
  }
  advance(ms: number): void {
    this.#offsetMs += ms;
  }
}
