/**
 * Pacing of the checks against each app's Facebook call budget (GRAPH_USAGE_TARGET,
 * docs/FACEBOOK.md#throttling, README "Operations: the call budget").
 *
 * - `planPacing` is pure: given the Pages of an app, the calls a check makes against the app's
 *   budget, the check interval, the budget (calls per hour the app may make, from the usage
 *   headers) and the target, it says how far apart checks must be, whether every Page can be
 *   checked within the interval, and if not, the interval that is achievable — as a structured
 *   warning for start-up, `status`, `/readyz` and `/metrics`.
 * - `createPacer` is the effect beside it: the round asks it before claiming each Page
 *   (`admit`), and it answers from the app's budget (graph/budget.ts, fed by the Graph client's
 *   usage headers) with a token bucket refilled at the rate that keeps the projected usage under
 *   the target. A Page it does not admit stays due and is taken by a later round, so a round's
 *   checks are spread over the interval instead of bursting at its start, and slow down as usage
 *   rises (others' calls, seen in `X-App-Usage`, shrink the rate).
 */
import { HOUR } from '../clock.js';
import type { CallBudget } from '../graph/budget.js';
import { FULL_INSPECTION_EVERY_MS } from './check-choice.js';

export interface PacingInput {
  /** Pages of the app to check every interval. */
  pages: number;
  /** Calls against the app's budget per check (2: debug_token of the posting and the source token). */
  callsPerCheck: number;
  /** CHECK_INTERVAL_HOURS in ms. */
  intervalMs: number;
  /** Calls per hour the app may make (200 × users, estimated from the headers); null: not known yet. */
  capacityPerHour: number | null;
  /** Calls per hour others make against the same budget (the header beyond ours). */
  otherCallsPerHour: number;
  /** GRAPH_USAGE_TARGET, percent. */
  targetPercent: number;
}

export interface BudgetWarning {
  code: 'call_budget_short';
  message: string;
  pages: number;
  neededCallsPerHour: number;
  allowedCallsPerHour: number;
  intervalHours: number;
  achievableIntervalHours: number;
}

export interface PacingPlan {
  /** Calls per hour the checks need to meet the interval. */
  neededCallsPerHour: number;
  /** Calls per hour the checks may make and keep the projected usage under the target; null: unknown. */
  allowedCallsPerHour: number | null;
  /** Least time between two checks of this app; 0 when nothing limits it. */
  spacingMs: number;
  /** The interval every Page can be checked in, inside the budget (≥ the configured one); null: unknown. */
  achievableIntervalMs: number | null;
  /** Every Page fits in the interval inside the budget (true while the budget is unknown). */
  fits: boolean;
  /** Projected usage of the checks alone at the configured interval, percent of the capacity; null: unknown. */
  projectedPercent: number | null;
  warning: BudgetWarning | null;
}

const hours = (ms: number) => Math.round((ms / HOUR) * 100) / 100;

export function planPacing(input: PacingInput): PacingPlan {
  const { pages, callsPerCheck, intervalMs, capacityPerHour, otherCallsPerHour, targetPercent } = input;
  const neededCallsPerHour = intervalMs > 0 ? (pages * callsPerCheck * HOUR) / intervalMs : 0;
  if (capacityPerHour === null) {
    return {
      neededCallsPerHour,
      allowedCallsPerHour: null,
      spacingMs: 0,
      achievableIntervalMs: null,
      fits: true,
      projectedPercent: null,
      warning: null,
    };
  }
  const allowed = Math.max(0, (targetPercent * capacityPerHour) / 100 - otherCallsPerHour);
  const spacingMs =
    callsPerCheck === 0 ? 0 : allowed > 0 ? (HOUR * callsPerCheck) / allowed : Number.POSITIVE_INFINITY;
  const achievable =
    pages === 0 || callsPerCheck === 0
      ? intervalMs
      : allowed > 0
        ? Math.max(intervalMs, (pages * callsPerCheck * HOUR) / allowed)
        : Number.POSITIVE_INFINITY;
  // A little slack for rounding: 1,000 Pages that need exactly the allowed rate fit.
  const fits = neededCallsPerHour <= allowed * (1 + 1e-9);
  const projectedPercent = capacityPerHour > 0 ? (neededCallsPerHour * 100) / capacityPerHour : null;
  const warning: BudgetWarning | null = fits
    ? null
    : {
        code: 'call_budget_short',
        message:
          allowed > 0
            ? `${pages} Pages need ${Math.ceil(neededCallsPerHour)} Facebook calls an hour to be checked every ${hours(intervalMs)} h, but ${targetPercent} % of this app's budget (GRAPH_USAGE_TARGET) allows ${Math.floor(allowed)}: each Page will be checked about every ${hours(achievable)} h instead. Raise GRAPH_USAGE_TARGET or CHECK_INTERVAL_HOURS, or spread the Pages over more apps.`
            : `Facebook's usage headers say this app's budget is used up by other calls: no Page can be checked inside ${targetPercent} % of it (GRAPH_USAGE_TARGET) until that usage drops.`,
        pages,
        neededCallsPerHour,
        allowedCallsPerHour: allowed,
        intervalHours: hours(intervalMs),
        achievableIntervalHours: Number.isFinite(achievable) ? hours(achievable) : Number.POSITIVE_INFINITY,
      };
  return {
    neededCallsPerHour,
    allowedCallsPerHour: allowed,
    spacingMs,
    achievableIntervalMs: Number.isFinite(achievable) ? achievable : null,
    fits,
    projectedPercent,
    warning,
  };
}

/**
 * Calls a check of this Page makes against the app's budget: debug_token of the posting token,
 * and, for a Page set up with a source token but no connection, of that source token too. A
 * connection's source is looked at once per round for all its Pages (connectionLooks).
 */
export function callsPerCheck(page: { source: unknown; connectionId?: string | null }): number {
  return page.source && !page.connectionId ? 2 : 1;
}

/**
 * The calls an average check of this Page makes against the app's budget over many intervals,
 * when scheduled checks may probe (GRAPH_CHECK=auto, check-choice.ts): a never-expiring Facebook
 * Page token is inspected with debug_token once per `FULL_INSPECTION_EVERY_MS` and probed with
 * the Page token (the Page's budget) in between; any other token on every check.
 */
export function expectedCallsPerCheck(
  page: {
    source: unknown;
    connectionId?: string | null;
    platform?: string;
    posting?: { type: string; expiresAt: number | null };
  },
  intervalMs: number,
  probes: boolean,
): number {
  const full = callsPerCheck(page);
  const probed =
    probes &&
    page.platform === 'facebook_page' &&
    page.posting?.type === 'PAGE' &&
    page.posting.expiresAt === null;
  return probed ? full * Math.min(1, intervalMs / FULL_INSPECTION_EVERY_MS) : full;
}

/** The source look of each connection among these Pages: one call per login and round. */
export function connectionLooks(pages: readonly { connectionId?: string | null }[]): number {
  return new Set(pages.flatMap((p) => (p.connectionId ? [p.connectionId] : []))).size;
}

/** The round's question before claiming a Page: may its check of `calls` calls start now? */
export interface Pacer {
  admit(appId: string, calls: number, now: number): boolean;
}

export interface PacerOptions {
  budget: CallBudget;
  /**
   * How many calls' worth of spacing may be spent at once (the bucket's size, in ms of refill):
   * a round that runs every minute may check the Pages a minute's rate allows. Default 1 minute.
   */
  burstMs?: number;
}

/**
 * A token bucket per app, refilled at the rate `budget.allowedCallsPerHour` gives (so it slows
 * down as usage rises), gated by the projection itself: a check starts only when the projected
 * usage after it stays at or under the target. While the budget is unknown (no header yet), every
 * check may start: Facebook sends no header below 1 %, and the first header gives the estimate.
 */
export function createPacer(options: PacerOptions): Pacer & { paced(appId: string): number } {
  const { budget } = options;
  const burstMs = options.burstMs ?? 60_000;
  const buckets = new Map<string, { tokens: number; at: number }>();
  const pacedCount = new Map<string, number>();
  return {
    admit(appId, calls, now) {
      // A check that makes no call against the app (the Page-token probe) needs no admission.
      if (calls <= 0) return true;
      const rate = budget.allowedCallsPerHour(appId, now);
      if (rate === null) return true;
      const perMs = rate / HOUR;
      const size = Math.max(calls, perMs * burstMs);
      const b = buckets.get(appId) ?? { tokens: size, at: now };
      b.tokens = Math.min(size, b.tokens + Math.max(0, now - b.at) * perMs);
      b.at = now;
      buckets.set(appId, b);
      if (b.tokens + 1e-9 < calls || !budget.mayCall(appId, calls, now)) {
        pacedCount.set(appId, (pacedCount.get(appId) ?? 0) + 1);
        return false;
      }
      b.tokens -= calls;
      return true;
    },
    /** Checks held back for the app so far (for logs and metrics). */
    paced: (appId) => pacedCount.get(appId) ?? 0,
  };
}

/** One app's budget, for start-up, `status`, `/readyz` and `/metrics`. */
export interface AppBudgetReport {
  appId: string;
  pages: number;
  /** The last X-App-Usage (highest of its numbers), percent; null: none seen yet. */
  usagePercent: number | null;
  /** Estimated calls per hour the app may make; null: not known yet. */
  capacityPerHour: number | null;
  plan: PacingPlan;
}

/** Per app of `pages`: what the budget tracker knows, and the plan for its Pages. Pure. */
export function budgetReports(
  pages: readonly {
    appId: string;
    source: unknown;
    connectionId?: string | null;
    platform?: string;
    posting?: { type: string; expiresAt: number | null };
  }[],
  budget: CallBudget,
  /** `probes`: GRAPH_CHECK=auto (scheduled checks of never-expiring Page tokens may probe). */
  o: { now: number; intervalMs: number; targetPercent: number; probes?: boolean },
): AppBudgetReport[] {
  const byApp = new Map<string, { pages: number; calls: number; logins: Set<string> }>();
  for (const p of pages) {
    const a = byApp.get(p.appId) ?? { pages: 0, calls: 0, logins: new Set<string>() };
    a.pages++;
    a.calls += expectedCallsPerCheck(p, o.intervalMs, o.probes === true);
    if (p.connectionId) a.logins.add(p.connectionId);
    byApp.set(p.appId, a);
  }
  for (const a of byApp.values()) a.calls += a.logins.size;
  return [...byApp.entries()].map(([appId, a]) => {
    const view = budget.view(appId, o.now);
    return {
      appId,
      pages: a.pages,
      usagePercent: view.reportedPercent,
      capacityPerHour: view.capacity,
      plan: planPacing({
        pages: a.pages,
        callsPerCheck: a.calls / a.pages,
        intervalMs: o.intervalMs,
        capacityPerHour: view.capacity,
        otherCallsPerHour: view.otherCalls,
        targetPercent: o.targetPercent,
      }),
    };
  });
}
