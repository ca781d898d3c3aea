/**
 * Turning what Facebook says into what we store: debug_token → TokenInfo, and the checks a posting
 * token must pass before it is stored (valid, same app, the right Page, pages_manage_posts).
 */
import { createHash } from 'node:crypto';
import { AppError } from '../errors.js';
import type { DebugTokenInfo } from '../graph/client.js';
import type { TokenInfo } from '../types.js';
import { missingScopes, reauthReason } from './decide.js';

/** Short, non-reversible fingerprint of a token: enough to tell two tokens apart in history. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 12);
}

export function toTokenInfo(token: string, d: DebugTokenInfo, now: number): TokenInfo {
  return {
    type: d.type,
    isValid: d.isValid,
    expiresAt: d.expiresAt,
    dataAccessExpiresAt: d.dataAccessExpiresAt,
    scopes: [...d.scopes],
    userId: d.userId,
    profileId: d.profileId,
    appId: d.appId,
    checkedAt: now,
    hash: tokenHash(token),
    error: d.error ? { code: d.error.code, subcode: d.error.subcode, message: d.error.message } : null,
  };
}

/** Refuse a token Facebook does not accept, or one made for another app. */
export function assertValidForApp(info: TokenInfo, appId: string): void {
  if (!info.isValid) {
    const r = reauthReason(info.error?.subcode ?? null);
    throw new AppError('token_invalid', `Facebook says this token is not valid: ${r.message}`, {
      details: {
        reason: r.reason,
        fb_code: info.error?.code ?? null,
        fb_subcode: info.error?.subcode ?? null,
      },
    });
  }
  if (info.appId !== null && info.appId !== appId) {
    throw new AppError('token_wrong_app', `The token belongs to app ${info.appId}, not to app ${appId}.`, {
      details: { token_app_id: info.appId, app_id: appId },
    });
  }
}

/** Refuse a posting token that cannot work, with the reason; nothing is stored then. */
export function assertPostingToken(info: TokenInfo, expected: { appId: string; pageId: string }): void {
  assertValidForApp(info, expected.appId);
  if (info.type !== 'PAGE' || info.profileId !== expected.pageId) {
    throw new AppError(
      'token_wrong_page',
      info.type === 'PAGE'
        ? `The token is for Page ${info.profileId ?? 'unknown'}, not for Page ${expected.pageId}.`
        : `Could not get a Page token for Page ${expected.pageId} (got a ${info.type} token).`,
      { details: { token_page_id: info.profileId, page_id: expected.pageId, token_type: info.type } },
    );
  }
  const missing = missingScopes(info);
  if (missing.length > 0) {
    throw new AppError(
      'missing_permission',
      `The token lacks the permission(s) ${missing.join(', ')}, needed to post.`,
      {
        details: { missing_scopes: missing, scopes: info.scopes },
      },
    );
  }
}
