/**
 * Which alerts a change to a page raises (pure: no I/O, no clock). The engine calls `planAlerts`
 * after every stored change and enqueues what it returns; the outbox ignores a dedupe key it has
 * seen before, so the keys below are what guarantees "one alert per page per event and threshold"
 * however often a page is checked.
 *
 * Dedupe keys, and why each identifies one occurrence:
 * - `renewal_failed:<page>:<time of the failure that reached the limit>`: fires only when the
 *   failure count crosses the limit, which happens once per failure streak.
 * - `needs_reauth:<page>:<posting token hash>:<reason>` and `expired:<page>:<hash>`: a token Facebook
 *   invalidated never becomes valid again, so a new occurrence always comes with a new token
 *   (reconnect, self-healing). Keyed on the token rather than on `lastError.at` because a successful
 *   `debug_token` that *reports* an invalid token clears `lastError`; and being stable, the key also
 *   catches a transition whose enqueue was missed, at the next check.
 * - `expiring:<page>:<deadline>:<threshold>`: at most once per threshold of `alertDaysBefore` for a
 *   given deadline; only the tightest threshold crossed fires (a page found at 5 days left gets the
 *   7-day alert, not the 14- and 7-day ones). `…:notice` is the first notice when a page becomes
 *   `expiring` before the largest threshold (DESIGN §2: say so, with the deadline, when renewal
 *   cannot extend the token).
 * - `data_access_expiring:<page>:<deadline>:<threshold>`, `source_expiring:<page>:<deadline>`,
 *   `missing_permission:<page>:<hash>`, `token_rotated:<page>:<new hash>`, `recovered:<page>:<now>`.
 */
import { DAY } from '../clock.js';
import type { NewAlert } from '../store/types.js';
import { type ManagedPage, type PageState, REQUIRED_SCOPES } from '../types.js';

export const ALERT_EVENTS = [
  'renewal_failed',
  'needs_reauth',
  'expired',
  'expiring',
  'data_access_expiring',
  'source_expiring',
  'missing_permission',
  'recovered',
  'token_rotated',
] as const;
export type AlertEvent = (typeof ALERT_EVENTS)[number];

export type AlertSeverity = 'critical' | 'warning' | 'info';

/** The JSON every channel receives (webhook body as is; Slack and email render it). Never a token. */
export interface AlertPayload {
  /** The dedupe key: the same alert delivered twice (at-least-once delivery) has the same id. */
  alert_id: string;
  event: AlertEvent;
  severity: AlertSeverity;
  page_id: string;
  page_name: string | null;
  state: PageState;
  message: string;
  /** ISO 8601; null when the event has no deadline. */
  deadline: string | null;
  /** Whole days until the deadline (never negative); null without a deadline. */
  days_left: number | null;
  reconnect_url: string;
  occurred_at: string;
}

export interface PlanInput {
  /** The page before the change; null when it was just set up. */
  before: ManagedPage | null;
  after: ManagedPage;
  now: number;
  /** ALERT_DAYS_BEFORE, e.g. [14, 7, 3, 1] (any order). */
  alertDaysBefore: number[];
  /** A signed reconnect link for this page (`reconnectUrl` in http/connect.ts). */
  reconnectUrl: string;
  /** Consecutive failures after which `renewal_failed` fires (default 5). */
  renewalFailedAfter?: number;
}

export const DEFAULT_RENEWAL_FAILED_AFTER = 5;

/** States a page can recover from; `failing` counts only once `renewal_failed` was raised. */
const ALERTING_STATES: readonly PageState[] = ['needs_reauth', 'expired', 'expiring'];

export function planAlerts(input: PlanInput): NewAlert[] {
  const { before, after, now, reconnectUrl } = input;
  const limit = input.renewalFailedAfter ?? DEFAULT_RENEWAL_FAILED_AFTER;
  const days = [...new Set(input.alertDaysBefore.filter((d) => Number.isFinite(d) && d > 0))].sort(
    (a, b) => a - b,
  );
  const page = after.pageId;
  const name = pageLabel(after);
  const alerts: NewAlert[] = [];

  const add = (
    event: AlertEvent,
    key: string,
    severity: AlertSeverity,
    message: string,
    deadline: number | null,
  ): void => {
    const dedupeKey = `${event}:${page}:${key}`;
    const payload: AlertPayload = {
      alert_id: dedupeKey,
      event,
      severity,
      page_id: page,
      page_name: after.pageName,
      state: after.state,
      message,
      deadline: deadline === null ? null : new Date(deadline).toISOString(),
      days_left: deadline === null ? null : Math.max(0, Math.floor((deadline - now) / DAY)),
      reconnect_url: reconnectUrl,
      occurred_at: new Date(now).toISOString(),
    };
    alerts.push({ pageId: page, kind: event, dedupeKey, payload: { ...payload }, createdAt: now });
  };

  const posting = after.posting;
  const missing = REQUIRED_SCOPES.filter((s) => !posting.scopes.includes(s));

  // --- a person must act now ------------------------------------------------------------------
  if (after.state === 'expired') {
    add(
      'expired',
      posting.hash,
      'critical',
      `${name}: ${after.stateMessage ?? 'the posting token has expired.'} Posting has stopped until someone reconnects.`,
      posting.expiresAt,
    );
  } else if (posting.isValid && missing.length > 0) {
    add(
      'missing_permission',
      posting.hash,
      'critical',
      `${name}: ${
        after.stateReason === 'missing_permission' && after.stateMessage
          ? after.stateMessage
          : `the posting token lacks ${missing.join(', ')}: reconnect and grant ${missing.length > 1 ? 'them' : 'it'}.`
      } Posting fails until then.`,
      null,
    );
  } else if (after.state === 'needs_reauth') {
    add(
      'needs_reauth',
      `${posting.hash}:${after.stateReason ?? 'token_invalid'}`,
      'critical',
      `${name}: ${after.stateMessage ?? 'Facebook no longer accepts the posting token: reconnect the Page.'}`,
      null,
    );
  }

  // --- renewal keeps failing (transient errors, retried with backoff) ---------------------------
  if (after.failureCount >= limit && (before?.failureCount ?? 0) < limit) {
    const deadline = posting.expiresAt;
    const urgent = deadline !== null && days.length > 0 && deadline - now <= days[days.length - 1]! * DAY;
    add(
      'renewal_failed',
      String(after.lastError?.at ?? now),
      urgent ? 'critical' : 'warning',
      `${name}: talking to Facebook has failed ${after.failureCount} times in a row (${
        after.lastError?.message ?? 'unknown error'
      }). Still retrying with backoff${deadline === null ? '' : `; the token expires ${formatTime(deadline)}`}.`,
      deadline,
    );
  }

  // --- a deadline we cannot extend --------------------------------------------------------------
  if (after.state === 'expiring' && posting.expiresAt !== null && posting.expiresAt > now) {
    const deadline = posting.expiresAt;
    const t = thresholdCrossed(deadline, now, days);
    add(
      'expiring',
      `${deadline}:${t ?? 'notice'}`,
      t !== null && t <= 3 ? 'critical' : 'warning',
      `${name}: the posting token expires ${formatTime(deadline)} (${daysText(deadline, now)}) and Facebook will not extend it. Reconnect the Page before then, or posting stops.`,
      deadline,
    );
  }

  // --- Facebook's 90-day data access (GRAPH_API.md §1.6) ----------------------------------------
  const dataAccess = [posting, after.source]
    .filter((i) => i !== null && i.isValid && i.dataAccessExpiresAt !== null)
    .map((i) => i!.dataAccessExpiresAt!)
    .sort((a, b) => a - b)[0];
  if (dataAccess !== undefined) {
    const t = dataAccess <= now ? 'ended' : thresholdCrossed(dataAccess, now, days);
    if (t !== null) {
      add(
        'data_access_expiring',
        `${dataAccess}:${t}`,
        'warning',
        `${name}: Facebook's data access for this app ${
          dataAccess > now ? `ends ${formatTime(dataAccess)} (${daysText(dataAccess, now)})` : 'has ended'
        }; it lapses 90 days after the admin last used the app. Reconnect the Page to renew it.`,
        dataAccess,
      );
    }
  }

  // --- self-healing will lapse (low severity: posting continues) --------------------------------
  const source = after.source;
  if (
    source !== null &&
    source.isValid &&
    source.expiresAt !== null &&
    source.expiresAt > now &&
    after.sourceExtensionBlockedUntil !== null &&
    !ALERTING_STATES.includes(after.state) &&
    thresholdCrossed(source.expiresAt, now, days) !== null
  ) {
    add(
      'source_expiring',
      String(source.expiresAt),
      'info',
      `${name}: posting continues, but self-healing available until ${formatTime(source.expiresAt)} (${daysText(
        source.expiresAt,
        now,
      )}): after that, if Facebook invalidates the Page token, a person must reconnect. Reconnect before then to keep self-healing.`,
      source.expiresAt,
    );
  }

  // --- good news --------------------------------------------------------------------------------
  if (
    before !== null &&
    after.state === 'healthy' &&
    (ALERTING_STATES.includes(before.state) || (before.state === 'failing' && before.failureCount >= limit))
  ) {
    add(
      'recovered',
      String(now),
      'info',
      `${name} is healthy again (was ${before.state.replace('_', ' ')}): ${after.stateMessage ?? 'posting continues.'}`,
      null,
    );
  }
  if (before !== null && before.posting.hash !== posting.hash) {
    add(
      'token_rotated',
      posting.hash,
      'info',
      `${name}: the posting token changed. Apps that cache it should fetch the token again (GET /api/pages/${page}/token); the old one may stop working.`,
      null,
    );
  }
  return alerts;
}

/**
 * The smallest threshold (in days) a future deadline is already within, or null (no deadline,
 * already past, or further away than every threshold).
 */
export function thresholdCrossed(deadline: number | null, now: number, days: number[]): number | null {
  if (deadline === null || deadline <= now) return null;
  for (const d of [...days].sort((a, b) => a - b)) if (deadline - now <= d * DAY) return d;
  return null;
}

function pageLabel(page: ManagedPage): string {
  return page.pageName ? `Page "${page.pageName}" (${page.pageId})` : `Page ${page.pageId}`;
}

/** `2027-03-01 09:30 UTC`: unambiguous for a person in any time zone. */
export function formatTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function daysText(deadline: number, now: number): string {
  const d = Math.floor((deadline - now) / DAY);
  if (d <= 0) return 'less than a day left';
  return d === 1 ? '1 day left' : `${d} days left`;
}
