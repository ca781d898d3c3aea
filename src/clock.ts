/**
 * Time is injected everywhere so a year can be simulated in seconds and tests never sleep.
 * All times inside the system are epoch milliseconds (numbers); the edges (HTTP, CLI) format ISO 8601.
 */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to. Used by tests, `simulate` and the emulator. */
export interface ManualClock extends Clock {
  set(ms: number): void;
  advance(ms: number): number;
}

export function createManualClock(start: number | Date | string): ManualClock {
  let t = typeof start === 'number' ? start : new Date(start).getTime();
  if (!Number.isFinite(t)) throw new Error(`invalid start time: ${String(start)}`);
  return {
    now: () => t,
    set: (ms) => {
      t = ms;
    },
    advance: (ms) => {
      t += ms;
      return t;
    },
  };
}

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export function toIso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}
