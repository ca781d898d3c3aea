/**
 * The Instagram API with Instagram Login, as the emulator plays it (docs/FACEBOOK.md#instagram-login-tokens):
 * the shared refreshable-token rules (refreshable.ts) with Instagram's names and answers.
 * - Hosts: graph.instagram.com (exchange, refresh, `/me`), api.instagram.com (code redemption),
 *   www.instagram.com (`/oauth/authorize`); the emulator serves all three under `/instagram`.
 * - `/me?fields=user_id,username`: no `debug_token` exists for these tokens, `/me` is the liveness check.
 * - Code redemption answers `{"data":[{access_token, user_id, permissions}]}`, and its errors in
 *   api.instagram.com's own flat shape `{error_type, code, error_message}`.
 * - A refresh past expiry answered "Unsupported request - method type: get" (stevenschobert/instafeed.js#654).
 */
import { GraphFailure } from './state.js';
import type { PlatformRules } from './refreshable.js';

/** The messages of tokens that stopped working (Graph's 190 family; 490 = a blocking checkpoint). */
const DEAD: Record<string, { message: string; subcode: number | null }> = {
  unknown: { message: 'Invalid OAuth access token - Cannot parse access token', subcode: null },
  checkpoint: {
    message: 'Error validating access token: The user is enrolled in a blocking, logged-in checkpoint',
    subcode: 490,
  },
  password_changed: {
    message:
      'Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.',
    subcode: 460,
  },
  app_removed: {
    message: 'Error validating access token: The user has not authorized application.',
    subcode: 458,
  },
  revoked: {
    message: 'Error validating access token: The session is invalid because the user logged out.',
    subcode: 467,
  },
};

/** api.instagram.com's error shape (not Graph's envelope). */
export class InstagramOauthFailure extends GraphFailure {
  flatBody(): Record<string, unknown> {
    return { error_type: this.type, code: this.status, error_message: this.message };
  }
}

export const INSTAGRAM_RULES: PlatformRules = {
  platform: 'instagram',
  label: 'Instagram',
  tokenPrefix: 'IGAAfake',
  exchangeGrant: 'ig_exchange_token',
  refreshGrant: 'ig_refresh_token',
  basicScope: 'instagram_business_basic',
  defaultScopes: ['instagram_business_basic', 'instagram_business_content_publish'],
  deadToken(reason, ctx) {
    if (reason === 'expired') {
      const when = new Date(ctx.expiresAt ?? ctx.now).toUTCString();
      return new GraphFailure(
        400,
        190,
        `Error validating access token: Session has expired on ${when}. The current time is ${new Date(ctx.now).toUTCString()}.`,
        463,
      );
    }
    const d = DEAD[reason] ?? DEAD.unknown!;
    return new GraphFailure(400, 190, d.message, d.subcode);
  },
  tooYoung: () =>
    // Meta documents the rule ("at least 24 hours old") but not the answer: the emulator's own words.
    new GraphFailure(
      400,
      100,
      'Unsupported request - method type: get. The access token must be at least 24 hours old to be refreshed.',
      null,
      'IGApiException',
    ),
  notRefreshable: () =>
    new GraphFailure(400, 100, 'Unsupported request - method type: get', null, 'IGApiException'),
  notExchangeable: () =>
    new GraphFailure(
      400,
      100,
      'Unsupported request - method type: get. Only a short-lived access token can be exchanged.',
      null,
      'IGApiException',
    ),
  missingScope: () =>
    new GraphFailure(
      403,
      10,
      '(#10) Application does not have permission for this action: instagram_business_basic is required',
    ),
  badSecret: () => new GraphFailure(400, 1, 'Error validating client secret.'),
  badAppId: (kind) =>
    new InstagramOauthFailure(
      400,
      400,
      kind === 'facebook'
        ? 'Invalid platform app: this is a Facebook app id, not the Instagram app id'
        : 'Invalid platform app',
      null,
      'OAuthException',
    ),
  badCode: (why) =>
    new InstagramOauthFailure(
      400,
      400,
      why === 'used'
        ? 'This authorization code has been used'
        : why === 'expired'
          ? 'This authorization code has expired'
          : why === 'redirect_uri'
            ? 'Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request'
            : 'Invalid authorization code',
      null,
      'OAuthException',
    ),
  me(account, fields) {
    const out: Record<string, unknown> = {};
    for (const f of fields) {
      if (f === 'user_id') out.user_id = account.id;
      if (f === 'username') out.username = account.username;
      if (f === 'name') out.name = account.name;
      if (f === 'account_type') out.account_type = 'BUSINESS';
    }
    // The app-scoped id is always there (Instagram answers `id` beside the fields asked for).
    out.id = `${account.id}0`;
    return out;
  },
};
