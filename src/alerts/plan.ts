/**
 * Which alerts a change to a page raises (pure: no I/O, no clock). The engine calls `planAlerts`
 * after every stored change and enqueues what it returns; the outbox ignores a dedupe key it has
 * seen before, so the keys below are what guarantees "one alert per page per event and threshold"
 * however often a page is checked.
 *
 * Dedupe keys, and why each identifies one occurrence:
 * - `renewal_failed:<page>:streak:<last successful check>`: Facebook calls have failed for
 *   `failingAlertAfterMs` (ALERT_FAILING_AFTER_HOURS) since the last check that worked; the
 *   last success does not move during a streak, so one alert per streak however many retries.
 *   `renewal_failed:<page>:deadline:<deadline>:<threshold>`: calls are failing while the posting
 *   token's deadline is inside ALERT_DAYS_BEFORE; once per deadline and threshold.
 *   Alert on risk, not on counts (docs/ALERTS.md): a year of 30 % transient errors on tokens
 *   that never expire loses no posting minute, and must not page anyone every week.
 * - `needs_reauth:<page>:<posting token hash>:<reason>` and `expired:<page>:<hash>`: a token Facebook
 *   invalidated never becomes valid again, so a new occurrence always comes with a new token
 *   (reconnect, self-healing). Keyed on the token rather than on `lastError.at` because a successful
 *   `debug_token` that *reports* an invalid token clears `lastError`; and being stable, the key also
 *   catches a transition whose enqueue was missed, at the next check.
 * - `expiring:<page>:<deadline>:<threshold>`: at most once per threshold of `alertDaysBefore` for a
 *   given deadline; only the tightest threshold crossed fires (a page found at 5 days left gets the
 *   7-day alert, not the 14- and 7-day ones). `…:notice` is the first notice when a page becomes
 *   `expiring` before the largest threshold (say so, with the deadline, when renewal
 *   cannot extend the token).
 * - `data_access_expiring:<page>:<deadline>:<threshold>`, `source_expiring:<page>:<deadline>`,
 *   `missing_permission:<page>:<hash>`, `token_rotated:<page>:<new hash>`, `recovered:<page>:<now>`.
 *   `token_rotated` is not raised for a routine Instagram, Threads or WhatsApp refresh (the old
 *   string still works): that is the `renewed` history event (`token_changed`).
 */
import { DAY, HOUR } from '../clock.js';
import type { NewAlert } from '../store/types.js';
import { type ManagedPage, type PageState, requiredScopesFor } from '../types.js';

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
  /** Sent on request (`alert-test`, the dashboard's button) to prove a channel delivers; no Page is involved. */
  'test',
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
  /** facebook_page, instagram or threads: which kind of account `page_id` is (absent on a test alert). */
  platform?: string;
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
  /** How long calls must have failed since the last successful check before `renewal_failed` (default 24 h). */
  failingAlertAfterMs?: number;
}

export const DEFAULT_FAILING_ALERT_AFTER_MS = 24 * HOUR;

/** States that always raised an alert; `failing` only when `failingIsRisk` held (so it alerted). */
const ALERTING_STATES: readonly PageState[] = ['needs_reauth', 'expired', 'expiring'];

/**
 * Why a failing page is worth a person's attention at time `at`, or null while it is not:
 * `streak` once nothing has been learnt about the token for `afterMs`, `deadline` when the
 * posting token expires within the largest ALERT_DAYS_BEFORE (with `threshold`, the tightest
 * crossed). Retries with backoff go on either way.
 */
export function failingIsRisk(
  page: ManagedPage,
  at: number,
  afterMs: number,
  days: number[],
): { rule: 'streak'; since: number } | { rule: 'deadline'; deadline: number; threshold: number } | null {
  if (page.failureCount === 0) return null;
  const deadline = page.posting.expiresAt;
  const threshold = thresholdCrossed(deadline, at, days);
  if (deadline !== null && threshold !== null) return { rule: 'deadline', deadline, threshold };
  // The last check that worked: the streak (and our ignorance of the token) began after it.
  const since = page.lastCheckedAt ?? page.createdAt;
  return at - since >= afterMs ? { rule: 'streak', since } : null;
}

export function planAlerts(input: PlanInput): NewAlert[] {
  const { before, after, now, reconnectUrl } = input;
  const failingAfter = input.failingAlertAfterMs ?? DEFAULT_FAILING_ALERT_AFTER_MS;
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
      platform: after.platform,
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
  const missing = requiredScopesFor(after.platform).filter((s) => !posting.scopes.includes(s));

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
  const risk = failingIsRisk(after, now, failingAfter, days);
  if (risk !== null) {
    const deadline = posting.expiresAt;
    const hours = Math.floor((now - (after.lastCheckedAt ?? after.createdAt)) / HOUR);
    add(
      'renewal_failed',
      risk.rule === 'streak' ? `streak:${risk.since}` : `deadline:${risk.deadline}:${risk.threshold}`,
      risk.rule === 'deadline' ? 'critical' : 'warning',
      `${name}: talking to ${after.platform === 'instagram' ? 'Instagram' : after.platform === 'threads' ? 'Threads' : 'Facebook'} has failed ${after.failureCount} time${after.failureCount === 1 ? '' : 's'} in a row${
        hours > 0 ? ` (no successful check for ${hours} h)` : ''
      }: ${after.lastError?.message ?? 'unknown error'}. Still retrying with backoff${
        deadline === null ? '' : `; the token expires ${formatTime(deadline)} (${daysText(deadline, now)})`
      }.`,
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
      after.platform === 'whatsapp'
        ? `${name}: the token expires ${formatTime(deadline)} (${daysText(deadline, now)}) and Facebook would not refresh it. ${after.stateMessage ?? ''}`.trimEnd()
        : `${name}: the posting token expires ${formatTime(deadline)} (${daysText(deadline, now)}) and Facebook will not extend it. Reconnect the Page before then, or posting stops.`,
      deadline,
    );
  }

  // --- Facebook's 90-day data access (docs/FACEBOOK.md#data-access-expires-after-90-days) ----------------------------------------
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
    (ALERTING_STATES.includes(before.state) ||
      // Only after an alert that was raised: the one `failingIsRisk` planned when `before` was stored.
      (before.state === 'failing' &&
        failingIsRisk(before, before.lastError?.at ?? now, failingAfter, days) !== null))
  ) {
    add(
      'recovered',
      String(now),
      'info',
      `${name} is healthy again (was ${before.state.replace('_', ' ')}): ${after.stateMessage ?? 'posting continues.'}`,
      null,
    );
  }
  // A routine refresh (the old string still worked) is history, not news for a person: Instagram,
  // Threads and WhatsApp hand out a new string at every refresh, about every ten days per account,
  // and the old one keeps working (WhatsApp's for SOURCE_REVOKE_GRACE_HOURS). Posting apps fetch
  // the token per post or daily (docs/POSTING_APPS.md). A token that replaced a dead one is news.
  if (before !== null && before.posting.hash !== posting.hash && !routineRefresh(before, now)) {
    add(
      'token_rotated',
      posting.hash,
      'info',
      `${name}: the posting token changed. Apps that cache it should fetch the token again (GET ${
        after.platform === 'facebook_page'
          ? `/api/pages/${page}/token`
          : `/api/accounts/${after.platform}/${page}/token`
      }); the old one may stop working.`,
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

/** Platforms whose tokens the keeper refreshes to a new string while the old one still works. */
const REFRESHED_PLATFORMS: readonly string[] = ['instagram', 'threads', 'whatsapp'];

function routineRefresh(before: ManagedPage, now: number): boolean {
  const old = before.posting;
  return (
    REFRESHED_PLATFORMS.includes(before.platform) &&
    old.isValid &&
    (old.expiresAt === null || old.expiresAt > now)
  );
}

const KIND: Record<ManagedPage['platform'], string> = {
  facebook_page: 'Page',
  instagram: 'Instagram account',
  threads: 'Threads profile',
  whatsapp: 'WhatsApp connection',
};

function pageLabel(page: ManagedPage): string {
  const kind = KIND[page.platform] ?? 'Page';
  return page.pageName ? `${kind} "${page.pageName}" (${page.pageId})` : `${kind} ${page.pageId}`;
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
