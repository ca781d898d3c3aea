/**
 * The Threads API, as the emulator plays it (docs/FACEBOOK.md#threads-tokens): the shared
 * refreshable-token rules (refreshable.ts) with Threads' names and answers.
 * - Hosts: graph.threads.net (exchange, refresh, code redemption, `/v1.0/me`, `/v1.0/debug_token`),
 *   threads.net (`/oauth/authorize`); the emulator serves both under `/threads`.
 * - A dead token answers code 100 "The requested resource does not exist", not 190
 *   (trypostit/trypost#230 and PR #254) — a check that only looks for 190 thinks it is fine.
 * - Threads has its own app id and secret beside the Facebook ones; a Facebook app id is refused
 *   ("No app ID was provided in the request.", error_code 4476002: brightbeanxyz/brightbean-studio#45).
 * - A checkpoint is Instagram's: a Threads profile is an Instagram account, so the person must log
 *   in on Instagram to clear it.
 */
import { GraphFailure } from './state.js';
import type { PlatformRules } from './refreshable.js';

const RESOURCE_GONE = 'The requested resource does not exist';

export const THREADS_RULES: PlatformRules = {
  platform: 'threads',
  label: 'Threads',
  tokenPrefix: 'THAAfake',
  exchangeGrant: 'th_exchange_token',
  refreshGrant: 'th_refresh_token',
  basicScope: 'threads_basic',
  defaultScopes: ['threads_basic', 'threads_content_publish'],
  deadToken(reason) {
    switch (reason) {
      case 'checkpoint':
        return new GraphFailure(
          400,
          190,
          'Error validating access token: The user is enrolled in a blocking, logged-in checkpoint. Log in on Instagram to continue.',
          490,
        );
      case 'password_changed':
        return new GraphFailure(
          400,
          190,
          'Error validating access token: The session has been invalidated because the user changed their password.',
          460,
        );
      default:
        // Expired, revoked, app removed, unknown: all the same code 100.
        return new GraphFailure(400, 100, RESOURCE_GONE, null, 'OAuthException');
    }
  },
  tooYoung: () =>
    // Meta documents the rule ("at least 24 hours old") but not the answer: the emulator's own words.
    new GraphFailure(
      400,
      100,
      'Refresh not allowed: the access token must be at least 24 hours old.',
      null,
      'OAuthException',
    ),
  notRefreshable: () =>
    new GraphFailure(
      400,
      100,
      'Refresh not allowed: only a long-lived access token can be refreshed.',
      null,
      'OAuthException',
    ),
  notExchangeable: () =>
    new GraphFailure(400, 100, 'Only a short-lived access token can be exchanged.', null, 'OAuthException'),
  missingScope: () =>
    new GraphFailure(
      403,
      10,
      '(#10) Application does not have permission for this action: threads_basic is required',
    ),
  badSecret: () => new GraphFailure(400, 1, 'Error validating client secret.'),
  badAppId: (kind) =>
    kind === 'facebook'
      ? new GraphFailure(400, 100, 'No app ID was provided in the request.', null, 'OAuthException', {
          error_code: 4476002,
        })
      : new GraphFailure(400, 101, 'Error validating application. Invalid application ID.'),
  badCode: (why) =>
    new GraphFailure(
      400,
      100,
      why === 'used'
        ? 'This authorization code has been used.'
        : why === 'expired'
          ? 'This authorization code has expired.'
          : why === 'redirect_uri'
            ? 'Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request'
            : 'Invalid verification code format.',
      why === 'used' ? 36009 : why === 'expired' ? 36007 : why === 'redirect_uri' ? 36008 : null,
    ),
  me(account, fields) {
    const out: Record<string, unknown> = { id: account.id };
    for (const f of fields) {
      if (f === 'username') out.username = account.username;
      if (f === 'name') out.name = account.name;
    }
    return out;
  },
};
