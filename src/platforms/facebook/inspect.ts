/**
 * Turning what Facebook says into what we store: debug_token → TokenInfo, and the checks a posting
 * token must pass before it is stored (valid, same app, the right Page, pages_manage_posts).
 */
import { AppError } from '../../errors.js';
import type { AppCredentials, DebugTokenInfo, GraphClient } from '../../graph/client.js';
import { reauthReason } from '../../graph/errors.js';
import { REQUIRED_SCOPES, type TokenInfo } from '../../types.js';

import { tokenHash } from '../../crypto/token-hash.js';

export { tokenHash };

/** The posting permissions a token lacks (REQUIRED_SCOPES). */
export function missingScopes(info: Pick<TokenInfo, 'scopes'>): string[] {
  return REQUIRED_SCOPES.filter((s) => !info.scopes.includes(s));
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

/** Facebook's debug_token answer for a token of another app than the caller's (inside `data.error`). */
const OTHER_APP = /did not match the viewing app/i;

/** Refuse a token Facebook does not accept, or one made for another app. */
export function assertValidForApp(info: TokenInfo, appId: string): void {
  if (!info.isValid && OTHER_APP.test(info.error?.message ?? '')) {
    throw new AppError(
      'token_wrong_app',
      `The token was made for another app, not for app ${appId}: give a token of app ${appId}, or set up with the app id and app secret of the app the token belongs to.`,
      { details: { token_app_id: info.appId, app_id: appId } },
    );
  }
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

/**
 * The tasks that let a Page token post: "Your app user must be able to perform the CREATE_CONTENT,
 * MANAGE, and/or MODERATE tasks on the Page" (https://developers.facebook.com/docs/pages-api/posts).
 * A role with ANALYZE only mints a Page token that debug_token calls valid, yet every post fails.
 */
export const POSTING_TASKS = ['CREATE_CONTENT', 'MANAGE', 'MODERATE'] as const;

/** Refuse when the person behind the token has no posting task on the Page (null: not known). */
export function assertPostingTasks(tasks: readonly string[] | null, pageId: string): void {
  if (tasks === null || tasks.some((t) => (POSTING_TASKS as readonly string[]).includes(t))) return;
  throw new AppError(
    'missing_permission',
    `The Facebook user behind this token cannot post on Page ${pageId}: their role has the task(s) ${tasks.join(', ') || 'none'}, and posting needs CREATE_CONTENT, MANAGE or MODERATE. Give them a role with one of these tasks (Page settings → Page access), then set up again.`,
    { details: { missing_tasks: [...POSTING_TASKS], tasks: [...tasks], page_id: pageId } },
  );
}

/**
 * `granular_scopes[].target_ids` names the Pages a Page permission was granted for ("If
 * permission applies to all, targets will not be shown",
 * https://developers.facebook.com/docs/graph-api/reference/debug_token): refuse when
 * pages_manage_posts lists Pages and this one is not among them.
 */
export function assertGrantedForPage(d: Pick<DebugTokenInfo, 'granularScopes'>, pageId: string): void {
  const grant = d.granularScopes.find((g) => g.scope === 'pages_manage_posts');
  if (!grant || grant.targetIds.length === 0 || grant.targetIds.includes(pageId)) return;
  throw new AppError(
    'missing_permission',
    `pages_manage_posts was granted for other Pages, not for Page ${pageId}: the Page was not selected when the app was authorised (Facebook's Login dialog asks which Pages to share). Reconnect and tick this Page.`,
    {
      details: { missing_scopes: ['pages_manage_posts'], page_id: pageId, granted_page_ids: grant.targetIds },
    },
  );
}

/**
 * The user's (or system user's) tasks on the Page, from `/me/accounts`, the documented place
 * (https://developers.facebook.com/docs/pages-api/manage-pages); null when the Page is not listed
 * there (more Pages than the listing follows), so nothing is refused on a guess.
 */
export async function pageTasks(
  graph: GraphClient,
  pageId: string,
  token: string,
  app: AppCredentials,
): Promise<string[] | null> {
  const accounts = await graph.listPageAccounts(token, app);
  return accounts.find((a) => a.id === pageId)?.tasks ?? null;
}
