/**
 * Pure decisions for an Instagram-Login or Threads account (a `pages` row of platform `instagram`
 * or `threads`, kept by its connection's refreshable token). The token is both the source and the
 * posting token; the refresh rule itself is src/platforms/decide.ts (refreshDue, nextRefreshAt).
 */
import { DAY } from '../clock.js';
import { PLATFORM_LABEL, platformHumanMessage, type RefreshablePlatformName } from '../platforms/errors.js';
import type { ManagedPage } from '../types.js';
import type { DerivedState, Policy } from './decide.js';

/** The platforms whose accounts this file and account-job.ts keep. */
export const ACCOUNT_JOB_PLATFORMS = ['instagram', 'threads'] as const;

/** Does a connection (`instagram`) or a posting identity (`instagram`) belong to a refreshable platform? */
export function isRefreshablePlatform(platform: string): platform is RefreshablePlatformName {
  return (ACCOUNT_JOB_PLATFORMS as readonly string[]).includes(platform);
}

/** The reason of a dead token, from the error the look stored (errors.ts's sentences). */
function deadReason(page: ManagedPage): string {
  const e = page.posting.error;
  if (e === null) return 'token_invalid';
  if (e.subcode === 490 || e.subcode === 459 || /checkpoint/i.test(e.message)) return 'checkpoint';
  if (e.subcode === 460) return 'password_changed';
  if (e.subcode === 458) return 'app_removed';
  if (e.subcode === 463) return 'expired';
  return 'token_invalid';
}

/**
 * The state of an account: expired (final: log in again), needs_reauth (the platform killed the
 * token), paused, failing (refreshes or looks keep failing: alerts before the deadline), or healthy.
 */
export function deriveAccountState(page: ManagedPage, now: number, policy: Policy): DerivedState {
  const platform = page.platform as RefreshablePlatformName;
  const label = PLATFORM_LABEL[platform];
  const p = page.posting;
  if ((p.expiresAt !== null && p.expiresAt <= now) || p.error?.subcode === 463) {
    return { state: 'expired', reason: 'expired', message: platformHumanMessage(platform, 'expired') };
  }
  if (!p.isValid) {
    const reason = deadReason(page);
    return {
      state: 'needs_reauth',
      reason,
      message:
        p.error?.message ??
        platformHumanMessage(platform, reason === 'token_invalid' ? 'other' : (reason as 'checkpoint')),
    };
  }
  if (!page.autoRenew) {
    return {
      state: 'paused',
      reason: 'paused',
      message: `Automatic refresh is paused for this ${label} account.`,
    };
  }
  const until = p.expiresAt === null ? null : new Date(p.expiresAt).toISOString();
  if (page.failureCount > 0 && page.lastError !== null) {
    return {
      state: 'failing',
      reason: page.lastError.code,
      message: `${label} calls are failing (${page.lastError.message})${until ? `; the token expires at ${until}: if refreshing keeps failing, reconnect before then` : ''}.`,
    };
  }
  if (p.expiresAt !== null) {
    const days = page.renewalThresholdDays ?? policy.renewalThresholdDays;
    return p.expiresAt - now <= days * DAY
      ? {
          state: 'renewal_due',
          reason: 'expires_soon',
          message: `The ${label} token expires at ${until}; a refresh is due.`,
        }
      : {
          state: 'healthy',
          reason: 'fresh',
          message: `The ${label} token is valid until ${until} and is refreshed before then.`,
        };
  }
  return { state: 'healthy', reason: 'fresh', message: `The ${label} token is valid.` };
}
