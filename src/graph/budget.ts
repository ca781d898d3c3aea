/**
 * The keeper's view of each app's Facebook call budget (docs/FACEBOOK.md#throttling): the calls it
 * made against the app in the rolling hour, and what `X-App-Usage` last said. From those two it
 * projects the app's usage, answers "may I make k more calls now?" and "what spacing keeps the
 * projected usage under the target?".
 *
 * What Facebook tells: the app may make "200 * Number of Users" calls per rolling hour, and
 * `X-App-Usage.call_count` (with `total_time`, `total_cputime`) is the share used, in whole percent
 * (https://developers.facebook.com/docs/graph-api/overview/rate-limiting). The number of users, and
 * so the capacity in calls, is not told: it is estimated here, conservatively, from our own calls:
 * with c of our calls in the window and a header of p %, the capacity is more than c·100/(p+1)
 * (the header is floored, and others' calls only add to p). The estimate is the largest such lower
 * bound seen in the last hour; a throttle answer sets it to the calls we had made (we hit 100 %).
 * Others' calls (the app's users, other servers) are what the header says beyond ours.
 *
 * Without a header yet there is no estimate: Facebook sends none while usage "is effectively 0%",
 * so the first calls are free to go, and the first header (at 1 %) gives the capacity.
 *
 * No I/O and no timers: `now` is passed in, so tests and `simulate` drive it with a manual clock.
 */
import { HOUR } from '../clock.js';
import type { GraphUsage, UsageNumbers } from './usage.js';

export interface AppBudgetView {
  appId: string;
  /** Our calls against the app's budget in the last hour. */
  ourCalls: number;
  /** The last `X-App-Usage` (max of its three numbers) and when it came; null: none yet. */
  reportedPercent: number | null;
  reportedAt: number | null;
  /** Calls per hour the app may make (a lower bound); null until a header said so. */
  capacity: number | null;
  /** Others' calls in the window (the header beyond ours), at the last header. */
  otherCalls: number;
  /** Projected usage now, percent; null without a capacity estimate. */
  projectedPercent: number | null;
}

interface AppTrack {
  /** Times of our calls (ascending), pruned to the rolling hour. */
  calls: number[];
  reportedPercent: number | null;
  reportedAt: number | null;
  capacity: number | null;
  capacityAt: number | null;
  otherCalls: number;
}

const maxOf = (u: UsageNumbers): number => Math.max(u.call_count, u.total_time, u.total_cputime);

export class CallBudget {
  private readonly apps = new Map<string, AppTrack>();

  /** @param targetPercent GRAPH_USAGE_TARGET (0 < t ≤ 100). */
  constructor(readonly targetPercent: number) {}

  private track(appId: string, now: number): AppTrack {
    let t = this.apps.get(appId);
    if (!t) {
      t = {
        calls: [],
        reportedPercent: null,
        reportedAt: null,
        capacity: null,
        capacityAt: null,
        otherCalls: 0,
      };
      this.apps.set(appId, t);
    }
    let drop = 0;
    while (drop < t.calls.length && t.calls[drop]! <= now - HOUR) drop++;
    if (drop > 0) t.calls.splice(0, drop);
    // An estimate older than the window says nothing of the app's users today.
    if (t.capacityAt !== null && t.capacityAt <= now - 24 * HOUR) {
      t.capacity = null;
      t.capacityAt = null;
    }
    return t;
  }

  /** We are making `n` calls that count against the app's budget (each item of a batch is one). */
  recordCalls(appId: string, n: number, now: number): void {
    const t = this.track(appId, now);
    for (let i = 0; i < n; i++) t.calls.push(now);
  }

  /** The usage headers of an answer to one of those calls. */
  observe(appId: string, usage: GraphUsage, now: number): void {
    if (!usage.app) return;
    const t = this.track(appId, now);
    const p = maxOf(usage.app);
    t.reportedPercent = p;
    t.reportedAt = now;
    const ours = t.calls.length;
    if (ours > 0) {
      const lower = (ours * 100) / (p + 1);
      if (t.capacity === null || lower > t.capacity) {
        t.capacity = lower;
        t.capacityAt = now;
      }
    }
    if (t.capacity !== null) t.otherCalls = Math.max(0, (p * t.capacity) / 100 - ours);
  }

  /** Facebook throttled the app: we are at 100 % with the calls we made. */
  observeThrottle(appId: string, now: number): void {
    const t = this.track(appId, now);
    t.reportedPercent = 100;
    t.reportedAt = now;
    if (t.calls.length > 0) {
      t.capacity = t.calls.length;
      t.capacityAt = now;
    }
    t.otherCalls = 0;
  }

  view(appId: string, now: number): AppBudgetView {
    const t = this.track(appId, now);
    return {
      appId,
      ourCalls: t.calls.length,
      reportedPercent: t.reportedPercent,
      reportedAt: t.reportedAt,
      capacity: t.capacity,
      otherCalls: t.otherCalls,
      projectedPercent: projectPercent(t, 0),
    };
  }

  /** May `k` more calls be made now and keep the projected usage at or under the target? */
  mayCall(appId: string, k: number, now: number): boolean {
    const projected = projectPercent(this.track(appId, now), k);
    return projected === null || projected <= this.targetPercent;
  }

  /**
   * Calls per hour the keeper may plan to make against the app and stay under the target (the
   * target's share of the capacity, less others' calls); null without an estimate.
   */
  allowedCallsPerHour(appId: string, now: number): number | null {
    const t = this.track(appId, now);
    if (t.capacity === null) return null;
    return Math.max(0, (this.targetPercent * t.capacity) / 100 - t.otherCalls);
  }

  /** The spacing between checks of `callsPerCheck` calls that keeps usage under the target; 0 without an estimate. */
  spacingMs(appId: string, callsPerCheck: number, now: number): number {
    const allowed = this.allowedCallsPerHour(appId, now);
    if (allowed === null) return 0;
    if (allowed <= 0) return Number.POSITIVE_INFINITY;
    return (HOUR * callsPerCheck) / allowed;
  }

  appIds(): string[] {
    return [...this.apps.keys()];
  }
}

function projectPercent(t: AppTrack, extra: number): number | null {
  if (t.capacity === null || t.capacity <= 0) return null;
  return ((t.otherCalls + t.calls.length + extra) * 100) / t.capacity;
}
