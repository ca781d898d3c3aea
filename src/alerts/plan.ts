/**
 * Pure: which alerts a change to a page raises. The outbox's unique dedupe key makes each one fire
 * once per page, event and threshold, however often the page is checked.
 */
import { DAY, toIso } from '../clock.js';
import type { NewAlert } from '../store/types.js';
import { type ManagedPage, REQUIRED_SCOPES } from '../types.js';

export type AlertKind =
  | 'renewal_failed'
  | 'needs_reauth'
  | 'expiring'
  | 'data_access_expiring'
  | 'source_expiring'
  | 'missing_permission'
  | 'recovered'
  | 'token_rotated';

export type Severity = 'critical' | 'warning' | 'info';

export interface PlanInput {
  before: ManagedPage | null;
  after: ManagedPage;
  now: number;
  alertDaysBefore: number[];
  reconnectUrl: string;
  /** Consecutive failures after which a failing renewal is reported (retries exhausted). */
  renewalFailedAfter?: number;
}

const BAD_STATES = new Set(['failing', 'needs_reauth', 'expired', 'expiring']);

/** The smallest configured threshold that `deadline` is already within, or null. */
export function thresholdCrossed(deadline: number | null, now: number, days: number[]): number | null {
  if (deadline === null || deadline <= now) return null;
  const left = (deadline - now) / DAY;
  const crossed = days.filter((d) => left <= d);
  return crossed.length === 0 ? null : Math.min(...crossed);
}

export function planAlerts(input: PlanInput): NewAlert[] {
  const { before, after, now } = input;
  const out: NewAlert[] = [];
  const add = (kind: AlertKind, severity: Severity, key: string, message: string, deadline: number | null) => {
    out.push({
      pageId: after.pageId,
      kind,
      dedupeKey: `${after.pageId}:${kind}:${key}`,
      createdAt: now,
      payload: {
        event: kind,
        severity,
        page_id: after.pageId,
        page_name: after.pageName,
        state: after.state,
        message,
        deadline: toIso(deadline),
        days_left: deadline === null ? null : Math.max(0, Math.floor((deadline - now) / DAY)),
        reconnect_url: kind === 'recovered' || kind === 'token_rotated' ? null : input.reconnectUrl,
        occurred_at: new Date(now).toISOString(),
      },
    });
  };
  const name = after.pageName ? `${after.pageName} (${after.pageId})` : `Page ${after.pageId}`;

  if (after.state === 'needs_reauth' && before?.state !== 'needs_reauth') {
    const missing = REQUIRED_SCOPES.filter((s) => !after.posting.scopes.includes(s));
    if (after.stateReason === 'missing_permission' || missing.length > 0) {
      add('missing_permission', 'critical', String(after.lastCheckedAt ?? now), `${name}: ${after.stateMessage ?? 'a permission is missing'}`, null);
    } else {
      add('needs_reauth', 'critical', String(after.lastCheckedAt ?? now), `${name}: ${after.stateMessage ?? 'reconnect the Page.'}`, null);
    }
  }
  if (after.state === 'expired' && before?.state !== 'expired') {
    add('needs_reauth', 'critical', `expired:${after.posting.expiresAt ?? now}`, `${name}: the posting token has expired; reconnect the Page.`, null);
  }

  const limit = input.renewalFailedAfter ?? 5;
  if (after.failureCount >= limit && (before?.failureCount ?? 0) < limit) {
    add('renewal_failed', 'warning', `streak:${after.lastError?.at ?? now}`, `${name}: Facebook calls failed ${after.failureCount} times in a row (${after.lastError?.message ?? 'unknown error'}); still retrying.`, null);
  }

  if (after.state === 'expiring') {
    const d = thresholdCrossed(after.posting.expiresAt, now, input.alertDaysBefore);
    if (d !== null) {
      add('expiring', d <= 3 ? 'critical' : 'warning', `${after.posting.expiresAt}:${d}`, `${name}: the posting token cannot be extended and expires at ${toIso(after.posting.expiresAt)}; reconnect before then.`, after.posting.expiresAt);
    }
  }

  const dataDeadline = after.posting.dataAccessExpiresAt;
  const dd = thresholdCrossed(dataDeadline, now, input.alertDaysBefore);
  if (dd !== null) {
    add('data_access_expiring', 'warning', `${dataDeadline}:${dd}`, `${name}: the app's data access expires at ${toIso(dataDeadline)}; log in through the reconnect link to renew it.`, dataDeadline);
  }

  if (after.sourceExtensionBlockedUntil !== null && after.source?.isValid) {
    const sd = thresholdCrossed(after.source.expiresAt, now, input.alertDaysBefore);
    if (sd !== null) {
      add('source_expiring', 'info', `${after.source.expiresAt}:${sd}`, `${name}: posting is fine, but self-healing is only available until ${toIso(after.source.expiresAt)} (Facebook does not extend user tokens). Reconnect to keep it.`, after.source.expiresAt);
    }
  }

  if (before && BAD_STATES.has(before.state) && after.state === 'healthy') {
    add('recovered', 'info', `${now}`, `${name} is healthy again.`, null);
  }
  if (before && before.posting.hash !== after.posting.hash) {
    add('token_rotated', 'info', after.posting.hash, `${name}: the posting token changed; apps that cache it should fetch it again.`, null);
  }
  return out;
}
