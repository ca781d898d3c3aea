/**
 * The Instagram API with Instagram Login (docs/FACEBOOK.md#instagram-login-tokens): the calls the
 * keeper makes, over platforms/http.ts; the three token grants are token-grants.ts's.
 * - `GET {INSTAGRAM_API_URL}/access_token?grant_type=ig_exchange_token&client_secret&access_token`
 *   (https://developers.facebook.com/docs/instagram-platform/reference/access_token);
 * - `GET {INSTAGRAM_API_URL}/refresh_access_token?grant_type=ig_refresh_token&access_token`
 *   (https://developers.facebook.com/docs/instagram-platform/reference/refresh_access_token);
 * - `GET {INSTAGRAM_API_URL}/me?fields=user_id,username`: the liveness check (no debug_token for
 *   these tokens; they work only against graph.instagram.com);
 * - `POST {INSTAGRAM_OAUTH_URL}/oauth/access_token` (code → short-lived token)
 *   (https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/business-login).
 */
import { z } from 'zod';
import type { AppCredentials } from '../../graph/client.js';
import type { PlatformToken } from '../refreshable-provider.js';
import {
  createTokenGrants,
  type PlatformClientOptions,
  platformHost,
  platformTokenSchema,
} from '../token-grants.js';

export interface InstagramClientOptions extends PlatformClientOptions {
  /** INSTAGRAM_API_URL (graph.instagram.com). */
  apiUrl: string;
  /** INSTAGRAM_OAUTH_URL (api.instagram.com). */
  oauthUrl: string;
}

const id = z.union([z.string().min(1), z.number()]).transform(String);
/** `expires_in` is required: the expiry is always the platform's, never assumed (token-grants.ts). */
export const instagramTokenSchema = platformTokenSchema;
const meSchema = z.object({ user_id: id, username: z.string().optional(), id: id.optional() });
const shortLived = z.object({
  access_token: z.string().min(1),
  user_id: id,
  permissions: z.union([z.string(), z.array(z.string())]).optional(),
});
/** Current docs wrap the answer in `data: [...]`; older ones answered it flat. */
const codeSchema = z.union([z.object({ data: z.array(shortLived).min(1) }), shortLived]);

export interface InstagramClient {
  exchange(shortLived: string, app: AppCredentials): Promise<PlatformToken>;
  refresh(longLived: string): Promise<PlatformToken>;
  me(token: string): Promise<{ userId: string; username: string | null }>;
  redeemCode(
    code: string,
    redirectUri: string,
    app: AppCredentials,
  ): Promise<{ accessToken: string; userId: string; scopes: string[] }>;
}

export function createInstagramClient(o: InstagramClientOptions): InstagramClient {
  const api = platformHost(o.apiUrl, 'INSTAGRAM_API_URL');
  const grants = createTokenGrants(o, {
    platform: 'instagram',
    api,
    oauth: platformHost(o.oauthUrl, 'INSTAGRAM_OAUTH_URL'),
    exchangeGrant: 'ig_exchange_token',
    refreshGrant: 'ig_refresh_token',
  });
  const { call } = grants;
  return {
    exchange: grants.exchange,
    refresh: grants.refresh,
    async me(t) {
      const r = await call({
        ...api,
        endpoint: 'me',
        path: '/me',
        params: { fields: 'user_id,username', access_token: t },
        secrets: [t],
        schema: meSchema,
        tokenCall: true,
      });
      return { userId: r.user_id, username: r.username ?? null };
    },
    async redeemCode(code, redirectUri, app) {
      const r = await grants.redeemCode(code, redirectUri, app, codeSchema);
      const first = 'data' in r ? r.data[0]! : r;
      const scopes = Array.isArray(first.permissions)
        ? first.permissions
        : (first.permissions ?? '').split(',').filter(Boolean);
      return { accessToken: first.access_token, userId: first.user_id, scopes };
    },
  };
}
