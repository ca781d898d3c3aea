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

/** Timers are injected too, so the scheduler can be driven by a manual clock in tests and `simulate`. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimers: Timers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Timers that fire when the manual clock is moved with `advance`. */
export interface ManualTimers extends Timers {
  /** Move the clock forward, firing every timer that falls due on the way, in order. */
  advance(ms: number): void;
  pending(): number;
}

export function createManualTimers(clock: ManualClock): ManualTimers {
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    setTimeout: (fn, ms) => {
      const id = ++seq;
      timers.set(id, { at: clock.now() + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout: (h) => {
      timers.delete(h as number);
    },
    advance: (ms) => {
      const end = clock.now() + ms;
      for (;;) {
        let next: [number, { at: number; fn: () => void }] | undefined;
        for (const entry of timers) {
          if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
        }
        if (!next) break;
        timers.delete(next[0]);
        clock.set(Math.max(clock.now(), next[1].at));
        next[1].fn();
      }
      clock.set(end);
    },
    pending: () => timers.size,
  };
}
