/**
 * Pure decisions for the tokens that really can be refreshed (Instagram API with Instagram Login,
 * Threads API; docs/FACEBOOK.md#instagram-login-tokens, #threads-tokens): a long-lived token lasts
 * 60 days, can be refreshed once it is at least 24 hours old and not expired, and the refresh gives
 * 60 days from the refresh. Once expired it is lost: a person must log in again.
 *
 * The expiry is always the one the platform sent (`expires_in` at the last exchange or refresh, or
 * Threads' `debug_token`): nothing here assumes 60 days.
 */
import { DAY } from '../clock.js';

/** "The token must be at least 24 hours old" (both platforms' refresh references). */
export const REFRESH_MIN_AGE_MS = DAY;

/** The first moment a token issued (or last refreshed) at `issuedAt` may be refreshed. */
export function earliestRefreshAt(issuedAt: number): number {
  return issuedAt + REFRESH_MIN_AGE_MS;
}

/** What the keeper knows about a refreshable token (epoch ms). */
export interface RefreshableToken {
  /**
   * When the token was issued or last refreshed. When only a later moment is known (the time it
   * was set up), use that: a later `issuedAt` only makes the first refresh wait longer, never
   * come too early.
   */
  issuedAt: number;
  /** From `expires_in`; null when the platform has not said (then nothing can be scheduled). */
  expiresAt: number | null;
}

export type RefreshDecision =
  | { due: true; reason: 'threshold_reached' }
  | { due: false; reason: 'too_young'; at: number }
  | { due: false; reason: 'not_yet'; at: number }
  | { due: false; reason: 'expired' }
  | { due: false; reason: 'expiry_unknown' };

/**
 * Refresh now? By the same RENEWAL_THRESHOLD_DAYS rule as every finite expiry (refresh when
 * `thresholdDays` or fewer remain), but never before the token is 24 hours old; `at` is when to
 * look again. A threshold of 60 days or more means "as soon as allowed": once a day.
 */
export function refreshDue(token: RefreshableToken, now: number, thresholdDays: number): RefreshDecision {
  if (token.expiresAt === null) return { due: false, reason: 'expiry_unknown' };
  if (now >= token.expiresAt) return { due: false, reason: 'expired' };
  const earliest = earliestRefreshAt(token.issuedAt);
  if (now < earliest) return { due: false, reason: 'too_young', at: earliest };
  const byThreshold = token.expiresAt - thresholdDays * DAY;
  if (now < byThreshold) return { due: false, reason: 'not_yet', at: byThreshold };
  return { due: true, reason: 'threshold_reached' };
}

/** When the next refresh falls due (for scheduling the first one after set-up); null when never. */
export function nextRefreshAt(token: RefreshableToken, thresholdDays: number): number | null {
  if (token.expiresAt === null) return null;
  const at = Math.max(earliestRefreshAt(token.issuedAt), token.expiresAt - thresholdDays * DAY);
  return at < token.expiresAt ? at : null;
}
