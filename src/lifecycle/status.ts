/** The public view of a page (the seed's status object): pure, so every front door says the same. */
import { toIso } from '../clock.js';
import { type HistoryEvent, type ManagedPage, requiredScopesFor } from '../types.js';
import { canMintFromSource, daysLeft, decide, missingScopes, type Policy, thresholdDays } from './decide.js';
import type { HistoryItem, PageStatus } from './types.js';
import { isRefreshablePlatform } from './account-decide.js';
import { refreshDue } from '../platforms/decide.js';

/**
 * renewal_needed / renewal_reason of an Instagram or Threads account: the refresh rule itself
 * (due within RENEWAL_THRESHOLD_DAYS, and only once the token is 24 hours old), not a Page's.
 * Reasons: `threshold_reached` (due), `too_young`, `not_yet`, `expired`, `expiry_unknown`,
 * `token_invalid` (only a person can help), `paused`.
 */
function refreshDecision(
  page: ManagedPage,
  now: number,
  policy: Policy,
  issuedAt: number | null,
): { action: 'renew' | 'none'; reason: string } {
  const t = page.posting;
  if (t.isValid && !page.autoRenew) return { action: 'none', reason: 'paused' };
  const dead = !t.isValid && (t.expiresAt === null || t.expiresAt > now);
  if (dead) return { action: 'none', reason: 'token_invalid' };
  // Without the connection's issue time, the last refresh (or the set-up) is when it was issued.
  const d = refreshDue(
    { expiresAt: t.expiresAt, issuedAt: issuedAt ?? page.lastRenewedAt ?? page.createdAt },
    now,
    thresholdDays(page, policy),
  );
  return { action: d.due ? 'renew' : 'none', reason: d.reason };
}

export function toHistoryItem(e: HistoryEvent): HistoryItem {
  return {
    id: e.id,
    at: new Date(e.at).toISOString(),
    type: e.type,
    reason: e.reason,
    state_from: e.stateFrom,
    state_to: e.stateTo,
    message: e.message,
    details: e.details,
  };
}

export function toStatus(
  page: ManagedPage,
  options: {
    now: number;
    policy: Policy;
    graphApiVersion: string;
    history: HistoryEvent[];
    reconnectUrl: string | null;
    /** Instagram/Threads: when the token was issued or last refreshed (its connection's); else null. */
    tokenIssuedAt?: number | null;
  },
): PageStatus {
  const { now, policy } = options;
  const decision = isRefreshablePlatform(page.platform)
    ? refreshDecision(page, now, policy, options.tokenIssuedAt ?? null)
    : decide(page, now, policy);
  const selfHealing = canMintFromSource(page, now);
  return {
    success: true,
    page_id: page.pageId,
    page_name: page.pageName,
    platform: page.platform,
    app_id: page.appId,
    state: page.state,
    state_reason: page.stateReason,
    state_message: page.stateMessage,
    token_valid: page.posting.isValid && (page.posting.expiresAt === null || page.posting.expiresAt > now),
    token_type: page.posting.type,
    expires_at: toIso(page.posting.expiresAt),
    days_until_expiry: daysLeft(page.posting.expiresAt, now),
    data_access_expires_at: toIso(page.posting.dataAccessExpiresAt),
    source_token_type: page.source?.type ?? null,
    source_expires_at: toIso(page.source?.expiresAt),
    source_valid: page.source ? page.source.isValid : null,
    self_healing_until: selfHealing ? toIso(page.source?.expiresAt) : null,
    scopes: page.posting.scopes,
    missing_scopes: requiredScopesFor(page.platform).length === 0 ? [] : missingScopes(page.posting),
    last_checked_at: toIso(page.lastCheckedAt),
    next_check_at: toIso(page.nextCheckAt),
    last_renewed_at: toIso(page.lastRenewedAt),
    auto_renew: page.autoRenew,
    renewal_needed: decision.action !== 'none',
    renewal_reason: decision.reason,
    renewal_threshold_days: thresholdDays(page, policy),
    graph_api_version: options.graphApiVersion,
    last_error: page.lastError
      ? {
          code: page.lastError.code,
          message: page.lastError.message,
          fb_code: page.lastError.fbCode,
          fb_subcode: page.lastError.fbSubcode,
          fbtrace_id: page.lastError.fbtraceId,
          at: new Date(page.lastError.at).toISOString(),
        }
      : null,
    reconnect_url: options.reconnectUrl,
    history: options.history.map(toHistoryItem),
  };
}
