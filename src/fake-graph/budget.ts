/**
 * The emulator's model of Facebook's rate budgets (docs/FACEBOOK.md#throttling, docs/EMULATOR.md
 * "The call budget"). Meta documents the app's Platform limit as "Calls within one hour = 200 *
 * Number of Users" over a rolling hour, reported in `X-App-Usage` as percentages of calls, CPU time
 * and total time (https://developers.facebook.com/docs/graph-api/overview/rate-limiting). Calls
 * made with a Page (or system-user) token count against the Page's Business Use Case limit
 * instead, not the app's.
 *
 * What Meta does not publish, and is ours (documented as the emulator's, not Facebook's, numbers):
 * the time and CPU cost of a call. A call costs one unit of call count, `ROUND_TRIP_TIME` +
 * `ITEM_TIME` units of total time and `ITEM_CPU` units of CPU time; a batch of k calls costs k units
 * of call count ("each call within the batch is counted separately",
 * https://developers.facebook.com/docs/graph-api/batch-requests), one round trip and k items of
 * time. The allotment of time and CPU is that of `capacity` single calls.
 *
 * Time comes from the injected clock; nothing here sleeps.
 */
import { type Clock, HOUR } from '../clock.js';

/** Meta: "Calls within one hour = 200 * Number of Users" (Platform rate limits). */
export const CALLS_PER_USER_PER_HOUR = 200;
/**
 * The Pages limit the emulator applies to Page-token calls, per rolling hour. Meta's v18-era page
 * says "4800 * Number of Engaged Users" per hour (the 2016 announcement: per 24 hours); the
 * emulator counts one engaged user.
 */
export const PAGE_CALLS_PER_HOUR = 4800;
/** The emulator's cost units of one call (not published by Meta): see the file comment. */
export const ROUND_TRIP_TIME = 1;
export const ITEM_TIME = 1;
export const ITEM_CPU = 1;

export interface Charge {
  calls: number;
  time: number;
  cpu: number;
}

/** One single Graph call. */
export const SINGLE_CALL: Charge = { calls: 1, time: ROUND_TRIP_TIME + ITEM_TIME, cpu: ITEM_CPU };

/** A batch of `items` calls in one HTTP request: each item counts, one round trip of time. */
export function batchCharge(items: number): Charge {
  return { calls: items, time: ROUND_TRIP_TIME + items * ITEM_TIME, cpu: items * ITEM_CPU };
}

export interface UsagePercent {
  call_count: number;
  total_time: number;
  total_cputime: number;
}

/** A rolling one-hour window of charges, oldest first. */
class RollingWindow {
  private readonly entries: { at: number; charge: Charge }[] = [];
  private head = 0;
  private sum: Charge = { calls: 0, time: 0, cpu: 0 };

  private prune(now: number): void {
    while (this.head < this.entries.length && this.entries[this.head]!.at <= now - HOUR) {
      const c = this.entries[this.head]!.charge;
      this.sum = { calls: this.sum.calls - c.calls, time: this.sum.time - c.time, cpu: this.sum.cpu - c.cpu };
      this.head++;
    }
    // Compact now and then so a week-long simulation does not keep every call.
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head);
      this.head = 0;
    }
  }

  add(now: number, charge: Charge): void {
    this.prune(now);
    this.entries.push({ at: now, charge });
    this.sum = {
      calls: this.sum.calls + charge.calls,
      time: this.sum.time + charge.time,
      cpu: this.sum.cpu + charge.cpu,
    };
  }

  totals(now: number): Charge {
    this.prune(now);
    return { ...this.sum };
  }
}

/**
 * Per-app and per-Page usage over the rolling hour. An app is budgeted (throttled at 100 %) once
 * its number of users is set (`setAppUsers`, control op `setAppUsers`); an app without one keeps
 * the emulator's older behaviour: usage reported against 200 × 1,000 users (or the users in the world, if more), capped at
 * 99 %, never throttled, so tests that are not about the budget never meet it.
 */
export class BudgetModel {
  private readonly windows = new Map<string, RollingWindow>();
  /** User tokens' own calls (Meta's #17 "user request limit"), when a per-user limit is set. */
  private readonly userLimits = new Map<string, number>();

  constructor(private readonly clock: Clock) {}

  private window(key: string): RollingWindow {
    let w = this.windows.get(key);
    if (!w) this.windows.set(key, (w = new RollingWindow()));
    return w;
  }

  charge(key: string, charge: Charge): void {
    this.window(key).add(this.clock.now(), charge);
  }

  /** Usage in whole percent of `capacity` calls per hour (floored, as Facebook's headers are). */
  percent(key: string, capacity: number): UsagePercent {
    const t = this.window(key).totals(this.clock.now());
    const cap = Math.max(1, capacity);
    const pct = (used: number, allotted: number) => Math.floor((used * 100) / allotted);
    return {
      call_count: pct(t.calls, cap),
      total_time: pct(t.time, cap * SINGLE_CALL.time),
      total_cputime: pct(t.cpu, cap * SINGLE_CALL.cpu),
    };
  }

  /** Calls charged to `key` in the rolling hour. */
  calls(key: string): number {
    return this.window(key).totals(this.clock.now()).calls;
  }

  setUserLimit(appId: string, callsPerHour: number | null): void {
    if (callsPerHour === null) this.userLimits.delete(appId);
    else this.userLimits.set(appId, callsPerHour);
  }

  userLimit(appId: string): number | null {
    return this.userLimits.get(appId) ?? null;
  }

  reset(): void {
    this.windows.clear();
  }
}

export const maxPercent = (u: UsagePercent): number => Math.max(u.call_count, u.total_time, u.total_cputime);
