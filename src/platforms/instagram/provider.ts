/**
 * The `instagram` platform: Instagram professional accounts connected with Instagram Login
 * (docs/FACEBOOK.md#instagram-login-tokens). Instagram accounts reached through a Facebook Page
 * are not this platform: they post with the Page token, which the `facebook` provider keeps.
 *
 * Instagram has no debug_token for these tokens, so `inspect` answers liveness (`/me`) and not the
 * expiry (`inspectKnowsExpiry: false`): the expiry is the one sent with the last exchange or
 * refresh (`expires_in`), carried by what `exchangeShortLived`, `exchangeCode` and `extend` return.
 */
import type { Clock } from '../../clock.js';
import type { GraphCallInfo } from '../../graph/client.js';
import { createRefreshableProvider, type RefreshableProvider } from '../refreshable-provider.js';
import { createInstagramClient } from './client.js';

/** What the reconnect dialog asks for: the basic permission (needed to refresh) and publishing. */
export const INSTAGRAM_LOGIN_SCOPES = [
  'instagram_business_basic',
  'instagram_business_content_publish',
] as const;

export interface InstagramProviderOptions {
  apiUrl: string;
  oauthUrl: string;
  dialogUrl: string;
  clock: Clock;
  timeoutMs?: number;
  onCall?: (info: GraphCallInfo) => void;
}

export function createInstagramProvider(o: InstagramProviderOptions): RefreshableProvider {
  const client = createInstagramClient(o);
  return createRefreshableProvider({
    platform: 'instagram',
    clock: o.clock,
    inspectKnowsExpiry: false,
    async look(token) {
      const me = await client.me(token);
      return { userId: me.userId, username: me.username, expiresAt: null, issuedAt: null, scopes: [] };
    },
    exchange: (token, app) => client.exchange(token, app),
    refresh: (token) => client.refresh(token),
    redeemCode: async (code, redirectUri, app) =>
      (await client.redeemCode(code, redirectUri, app)).accessToken,
    loginUrl({ appId, redirectUri, state, rerequest }) {
      // https://developers.facebook.com/docs/instagram-platform/reference/oauth-authorize
      const q = new URLSearchParams({
        client_id: appId,
        redirect_uri: redirectUri,
        response_type: 'code',
        scope: INSTAGRAM_LOGIN_SCOPES.join(','),
        state,
      });
      // Business Login's `force_reauth`: ask the person to log in again rather than reuse a session.
      if (rerequest) q.set('force_reauth', 'true');
      return `${o.dialogUrl.replace(/\/+$/, '')}/oauth/authorize?${q.toString()}`;
    },
  });
}
