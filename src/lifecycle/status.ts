/** The public view of a page (the seed's status object): pure, so every front door says the same. */
import { toIso } from '../clock.js';
import { type HistoryEvent, type ManagedPage, requiredScopesFor } from '../types.js';
import { canMintFromSource, daysLeft, decide, missingScopes, type Policy, thresholdDays } from './decide.js';
import type { HistoryItem, PageStatus } from './types.js';

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
  },
): PageStatus {
  const { now, policy } = options;
  const decision = decide(page, now, policy);
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
