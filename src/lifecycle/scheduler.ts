/**
 * The scheduler wakes every `pollMs` and checks the pages that are due. Each page carries its own
 * `next_check_at` (CHECK_INTERVAL_HOURS ±10 % jitter), so after downtime every overdue page is due
 * at once and the first round catches up instead of waiting a full interval.
 */
import { EventEmitter } from 'node:events';
import type { Clock, Timers } from '../clock.js';
import type { Logger } from '../logger.js';
import { safeError } from './util.js';

export interface SchedulerOptions {
  clock: Clock;
  timers: Timers;
  logger: Logger;
  pollMs: number;
  /** One round: check every due page. */
  runRound: () => Promise<unknown>;
}

export interface Scheduler {
  readonly events: EventEmitter<{ round: [{ at: number; ok: boolean }] }>;
  start(): void;
  /** Run a round now (on demand); resolves when it is done. Rounds never overlap. */
  trigger(): Promise<void>;
  stop(): Promise<void>;
  isRunning(): boolean;
  /** Alive: started, and the last round finished within three poll periods. */
  isAlive(): boolean;
  lastRoundAt(): number | null;
}

export function createScheduler(options: SchedulerOptions): Scheduler {
  const { clock, timers, logger, pollMs } = options;
  const events = new EventEmitter<{ round: [{ at: number; ok: boolean }] }>();
  let running = false;
  let handle: unknown = null;
  let current: Promise<void> | null = null;
  let lastAt: number | null = null;

  async function round(): Promise<void> {
    let ok = true;
    try {
      await options.runRound();
    } catch (err) {
      ok = false;
      // A database outage must not kill the process: log, and try again at the next wake-up.
      logger.error({ err: safeError(err) }, 'check round failed');
    }
    lastAt = clock.now();
    events.emit('round', { at: lastAt, ok });
  }

  function trigger(): Promise<void> {
    current ??= round().finally(() => {
      current = null;
    });
    return current;
  }

  function schedule(): void {
    if (!running) return;
    handle = timers.setTimeout(() => {
      handle = null;
      void trigger().then(schedule);
    }, pollMs);
  }

  return {
    events,
    start() {
      if (running) return;
      running = true;
      void trigger().then(schedule);
    },
    trigger,
    async stop() {
      running = false;
      if (handle !== null) timers.clearTimeout(handle);
      handle = null;
      await current;
    },
    isRunning: () => running,
    isAlive: () => running && (current !== null || (lastAt !== null && clock.now() - lastAt <= 3 * pollMs)),
    lastRoundAt: () => lastAt,
  };
}
