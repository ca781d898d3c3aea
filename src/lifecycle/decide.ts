/**
 * Pure decisions: for a page and a time, what should happen and why. No I/O here, so the whole
 * table of cases is unit-tested, and every reason code ends up in history ("why didn't it renew?").
 */
import { DAY, HOUR, MINUTE } from '../clock.js';
import { reauthReason } from '../graph/errors.js';
import { missingScopes } from '../platforms/facebook/inspect.js';
import { type ManagedPage, type PageState, type TokenInfo } from '../types.js';

/** The reason and sentence per authentication subcode: one table, in src/graph/errors.ts. */
export { reauthReason };

export interface Policy {
  /** Global RENEWAL_THRESHOLD_DAYS; a page may override it. */
  renewalThresholdDays: number;
  checkIntervalMs: number;
}

export type Action =
  /** Re-mint the posting token from the still-valid source token. */
  | 'heal'
  /** Exchange the source token if it can be extended, mint a fresh posting token, verify, swap. */
  | 'renew'
  /** The posting token never expires; only the source token needs a fresh expiry. */
  | 'renew_source'
  | 'none';

export interface Decision {
  action: Action;
  reason: string;
}

export function thresholdDays(page: ManagedPage, policy: Policy): number {
  return page.renewalThresholdDays ?? policy.renewalThresholdDays;
}

export function daysLeft(expiresAt: number | null, now: number): number | null {
  return expiresAt === null ? null : Math.floor((expiresAt - now) / DAY);
}

/** The seed's rule: a finite expiry with RENEWAL_THRESHOLD_DAYS or fewer days left. */
export function withinThreshold(expiresAt: number | null, now: number, days: number): boolean {
  return expiresAt !== null && expiresAt - now <= days * DAY;
}

export { missingScopes };

function isUsable(info: TokenInfo | null, now: number): info is TokenInfo {
  return info !== null && info.isValid && (info.expiresAt === null || info.expiresAt > now);
}

/** A source token we can mint Page tokens from. Page tokens are never exchanged (docs/FACEBOOK.md#minting-the-page-token). */
export function canMintFromSource(page: ManagedPage, now: number): boolean {
  return isUsable(page.source, now) && (page.source.type === 'USER' || page.source.type === 'SYSTEM_USER');
}

/**
 * Is the page due for a scheduled check? (Manual checks and renewals skip this gate, not the throttle.)
 * `dueBy` lets a cron round count a page due a little later as due now (`cronDueBy`); backoff and
 * throttling always use the real `now`.
 */
export function isDue(page: ManagedPage, now: number, dueBy = now): Decision {
  if (page.retryAt !== null && page.retryAt > now) {
    return {
      action: 'none',
      reason: page.lastError?.code === 'graph_rate_limited' ? 'throttled' : 'backoff',
    };
  }
  if (page.nextCheckAt !== null && page.nextCheckAt > dueBy) return { action: 'none', reason: 'not_due' };
  return { action: 'none', reason: 'due' };
}

/** Slack for a cron job that starts or runs a little late (see `cronDueBy`). */
export const CRON_GRACE_MS = 15 * MINUTE;

/**
 * The horizon of a `check` run from cron: a page due within the next tenth of the interval (the
 * ±10 % jitter of `nextCheckAt`), plus `CRON_GRACE_MS`, is checked now. Without it, a cron line
 * every CHECK_INTERVAL_HOURS finds about half the pages due a few minutes *after* the run and
 * checks them only every second run.
 */
export function cronDueBy(now: number, policy: Policy): number {
  return now + Math.round(policy.checkIntervalMs / 10) + CRON_GRACE_MS;
}

/**
 * After inspecting the tokens: what to do now. `force` is a person's "renew now": it renews even
 * when not due and retries a path that was found not to extend.
 */
export function decide(
  page: ManagedPage,
  now: number,
  policy: Policy,
  options: { force?: boolean } = {},
): Decision {
  const force = options.force === true;
  const days = thresholdDays(page, policy);
  const postingUsable = isUsable(page.posting, now);
  const sourceUsable = canMintFromSource(page, now);

  if (!postingUsable) {
    if (!page.autoRenew && !force) return { action: 'none', reason: 'paused' };
    return sourceUsable
      ? { action: 'heal', reason: 'posting_token_invalid' }
      : { action: 'none', reason: 'cannot_heal' };
  }
  if (!page.autoRenew && !force) return { action: 'none', reason: 'paused' };

  if (page.posting.expiresAt !== null) {
    if (!sourceUsable) return { action: 'none', reason: 'not_extendable' };
    if (force) return { action: 'renew', reason: 'forced' };
    if (page.extensionBlockedUntil !== null) return { action: 'none', reason: 'not_extendable' };
    if (withinThreshold(page.posting.expiresAt, now, days)) {
      return { action: 'renew', reason: 'expires_soon' };
    }
    return { action: 'none', reason: 'fresh' };
  }

  // The posting token never expires: only keep the source token fresh, so self-healing stays possible.
  if (force && sourceUsable) return { action: 'renew', reason: 'forced' };
  if (
    sourceUsable &&
    page.source !== null &&
    page.source.expiresAt !== null &&
    page.sourceExtensionBlockedUntil === null &&
    withinThreshold(page.source.expiresAt, now, days)
  ) {
    return { action: 'renew_source', reason: 'source_expires_soon' };
  }
  return { action: 'none', reason: 'never_expires' };
}

export interface DerivedState {
  state: PageState;
  reason: string;
  message: string;
}

/** The state describes the posting token: the one that matters for posting (README, "How it works"). */
export function deriveState(page: ManagedPage, now: number, policy: Policy): DerivedState {
  const p = page.posting;
  const expired = (p.expiresAt !== null && p.expiresAt <= now) || p.error?.subcode === 463;
  if (expired) {
    return {
      state: 'expired',
      reason: 'expired',
      message: 'The posting token has expired and could not be re-minted: reconnect the Page.',
    };
  }
  if (page.lastError?.code === 'missing_permission' && page.lastError.fbCode === 190) {
    // Facebook refused to act as this Page for a missing Page permission (src/graph/errors.ts,
    // isPagePermissionProblem): the login is fine, this one Page needs its permissions granted.
    return {
      state: 'needs_reauth',
      reason: 'missing_permission',
      message:
        'Facebook refuses to act as this Page because a Page permission is missing for it (the login itself still works): reconnect, tick this Page and grant every permission asked.',
    };
  }
  if (!p.isValid) {
    const r = reauthReason(p.error?.subcode ?? null);
    return { state: 'needs_reauth', reason: r.reason, message: r.message };
  }
  const missing = missingScopes(p);
  if (missing.length > 0) {
    return {
      state: 'needs_reauth',
      reason: 'missing_permission',
      message: `The posting token lacks ${missing.join(', ')}: reconnect and grant ${missing.length > 1 ? 'them' : 'it'}.`,
    };
  }
  if (!page.autoRenew) {
    return { state: 'paused', reason: 'paused', message: 'Automatic renewal is paused for this Page.' };
  }
  if (page.failureCount > 0) {
    return {
      state: 'failing',
      reason: page.lastError?.code ?? 'failing',
      message: `Facebook calls are failing (${page.lastError?.message ?? 'unknown error'}); retrying with backoff.`,
    };
  }
  if (page.lastError?.code === 'graph_rate_limited' && page.retryAt !== null && page.retryAt > now) {
    return {
      state: 'failing',
      reason: 'throttled',
      message: `Facebook is throttling this app, so the token could not be checked; checks resume at ${new Date(page.retryAt).toISOString()}.`,
    };
  }
  if (p.expiresAt !== null) {
    const until = new Date(p.expiresAt).toISOString();
    if (!canMintFromSource(page, now) || page.extensionBlockedUntil !== null) {
      return {
        state: 'expiring',
        reason: 'not_extendable',
        message: `This token cannot be extended: reconnect the Page before ${until}.`,
      };
    }
    if (inheritsUserTokenExpiry(page)) {
      return {
        state: 'expiring',
        reason: 'inherits_user_token_expiry',
        message: `The posting token expires at ${until}, together with the user token it was minted from, and Facebook does not extend long-lived user tokens: reconnect the Page before then (renewal is tried at ${thresholdDays(page, policy)} days left).`,
      };
    }
    if (withinThreshold(p.expiresAt, now, thresholdDays(page, policy))) {
      return {
        state: 'renewal_due',
        reason: 'expires_soon',
        message: `The posting token expires at ${until}; renewal is due.`,
      };
    }
    return { state: 'healthy', reason: 'fresh', message: `The posting token is valid until ${until}.` };
  }
  return { state: 'healthy', reason: 'never_expires', message: healthyNeverMessage(page, now) };
}

/**
 * A Page token that dies with the long-lived user token it was minted from (older Facebook
 * behaviour: https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived):
 * re-exchanging that user token returns the same expiry, so the deadline is real until a renewal
 * has shown otherwise (`lastRenewedAt`; a renewal that did not extend blocks the path instead).
 */
export function inheritsUserTokenExpiry(page: ManagedPage): boolean {
  const p = page.posting;
  const s = page.source;
  return (
    p.expiresAt !== null &&
    s !== null &&
    s.type === 'USER' &&
    s.expiresAt !== null &&
    p.expiresAt <= s.expiresAt + MINUTE &&
    page.lastRenewedAt === null
  );
}

function healthyNeverMessage(page: ManagedPage, now: number): string {
  if (!canMintFromSource(page, now)) return 'The posting token does not expire.';
  const until = page.source?.expiresAt ?? null;
  return until === null
    ? 'The posting token does not expire; self-healing is available.'
    : `The posting token does not expire; self-healing available until ${new Date(until).toISOString()}.`;
}

const BACKOFF_BASE_MS = MINUTE;
const BACKOFF_CAP_MS = 6 * HOUR;

/** Exponential backoff with jitter, capped: 1, 2, 4 … minutes up to 6 h, each ×[0.5, 1). */
export function backoffMs(failureCount: number, random: () => number): number {
  const exp = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, failureCount - 1));
  return Math.round(exp * (0.5 + random() / 2));
}

/**
 * Next scheduled check: the interval ±10 %, so many pages (and instances) spread out — but never
 * later than the next moment the page's state or decision changes by itself (the posting token
 * expires; its or the source's expiry enters the renewal threshold), so a page never waits a whole
 * interval showing "renewal needed". A page whose decision needs work right now is due now.
 */
export function nextCheckAt(
  page: Pick<
    ManagedPage,
    | 'posting'
    | 'source'
    | 'autoRenew'
    | 'renewalThresholdDays'
    | 'extensionBlockedUntil'
    | 'sourceExtensionBlockedUntil'
  >,
  now: number,
  policy: Policy,
  random: () => number,
): number {
  const regular = now + Math.round(policy.checkIntervalMs * (0.9 + random() * 0.2));
  const threshold = (page.renewalThresholdDays ?? policy.renewalThresholdDays) * DAY;
  const p = page.posting.expiresAt;
  const s = page.source?.expiresAt ?? null;
  const moments = [p, p === null || page.extensionBlockedUntil !== null ? null : p - threshold];
  if (p === null && s !== null && page.sourceExtensionBlockedUntil === null) moments.push(s - threshold);
  let next = regular;
  for (const m of moments) if (m !== null && m > now && m < next) next = m;
  return next;
}

/** When a page just stored outside a check (setup, reconnect) should be checked first. */
export function firstCheckAt(page: ManagedPage, now: number, policy: Policy, random: () => number): number {
  return decide(page, now, policy).action !== 'none' ? now : nextCheckAt(page, now, policy, random);
}

/** Did a renewal actually move the expiry forward? (never > any finite; a minute of tolerance.) */
export function movedForward(before: number | null, after: number | null): boolean {
  if (after === null) return true;
  if (before === null) return false;
  return after > before + MINUTE;
}
