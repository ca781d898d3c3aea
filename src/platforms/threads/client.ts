/**
 * The Threads API (docs/FACEBOOK.md#threads-tokens): the calls the keeper makes, over platforms/http.ts;
 * the three token grants are token-grants.ts's.
 * - `GET {THREADS_API_URL}/access_token?grant_type=th_exchange_token&client_secret&access_token` and
 *   `GET {THREADS_API_URL}/refresh_access_token?grant_type=th_refresh_token&access_token`
 *   (https://developers.facebook.com/docs/threads/get-started/long-lived-tokens/);
 * - `GET {THREADS_API_URL}/v1.0/debug_token?input_token&access_token`: validity, `expires_at`,
 *   `issued_at`, scopes — the token authenticates itself (a Threads user token of the same app);
 * - `GET {THREADS_API_URL}/v1.0/me?fields=id,username`;
 * - `GET {THREADS_API_URL}/oauth/access_token?grant_type=client_credentials`: the app token, which
 *   checks that the app id and secret are the Threads app's own
 *   (https://developers.facebook.com/docs/threads/get-started/app-access-tokens);
 * - `POST {THREADS_API_URL}/oauth/access_token` (code → short-lived token)
 *   (https://developers.facebook.com/docs/threads/get-started/get-access-tokens-and-permissions).
 */
import { z } from 'zod';
import type { AppCredentials } from '../../graph/client.js';
import type { PlatformToken } from '../refreshable-provider.js';
import { createTokenGrants, type PlatformClientOptions, platformHost } from '../token-grants.js';

/** The Threads API version the keeper speaks. */
export const THREADS_API_VERSION = 'v1.0';

export interface ThreadsClientOptions extends PlatformClientOptions {
  /** THREADS_API_URL (graph.threads.net). */
  apiUrl: string;
}

const id = z.union([z.string().min(1), z.number()]).transform(String);
const seconds = z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]);
/** `expires_in` is required: the expiry is always the platform's, never assumed. */
const debugSchema = z.object({
  data: z.object({
    is_valid: z.boolean(),
    type: z.string().optional(),
    expires_at: seconds.optional(),
    issued_at: seconds.optional(),
    data_access_expires_at: seconds.optional(),
    scopes: z.array(z.string()).optional(),
    user_id: id.optional(),
  }),
});
const meSchema = z.object({ id, username: z.string().optional(), name: z.string().optional() });
const appTokenSchema = z.object({ access_token: z.string().min(1) });
const codeSchema = z.object({ access_token: z.string().min(1), user_id: id.optional() });

export interface ThreadsDebugInfo {
  isValid: boolean;
  expiresAt: number | null;
  issuedAt: number | null;
  scopes: string[];
  userId: string | null;
}

export interface ThreadsClient {
  exchange(shortLived: string, app: AppCredentials): Promise<PlatformToken>;
  refresh(longLived: string): Promise<PlatformToken>;
  debugToken(token: string): Promise<ThreadsDebugInfo>;
  me(token: string): Promise<{ id: string; username: string | null }>;
  /** Throws `threads_app_id_required` for a Facebook app id, `app_credentials_invalid` for a wrong secret. */
  checkApp(app: AppCredentials): Promise<void>;
  redeemCode(code: string, redirectUri: string, app: AppCredentials): Promise<string>;
}

export function createThreadsClient(o: ThreadsClientOptions): ThreadsClient {
  const api = platformHost(o.apiUrl, 'THREADS_API_URL');
  const ms = (s: number | undefined) => (s === undefined || s === 0 ? null : s * 1000);
  // The code is redeemed on the API host itself (Instagram has a host of its own for it).
  const grants = createTokenGrants(o, {
    platform: 'threads',
    api,
    oauth: api,
    exchangeGrant: 'th_exchange_token',
    refreshGrant: 'th_refresh_token',
  });
  const { call } = grants;
  return {
    exchange: grants.exchange,
    refresh: grants.refresh,
    async debugToken(t) {
      const r = await call({
        ...api,
        endpoint: 'debug_token',
        path: `/${THREADS_API_VERSION}/debug_token`,
        params: { input_token: t, access_token: t },
        secrets: [t],
        schema: debugSchema,
        tokenCall: true,
      });
      const d = r.data;
      return {
        isValid: d.is_valid,
        expiresAt: ms(d.expires_at),
        issuedAt: ms(d.issued_at),
        scopes: d.scopes ?? [],
        userId: d.user_id ?? null,
      };
    },
    async me(t) {
      const r = await call({
        ...api,
        endpoint: 'me',
        path: `/${THREADS_API_VERSION}/me`,
        params: { fields: 'id,username', access_token: t },
        secrets: [t],
        schema: meSchema,
        tokenCall: true,
      });
      return { id: r.id, username: r.username ?? null };
    },
    async checkApp(app) {
      // The app token is not kept: getting one proves the app id and secret, nothing more is needed.
      await call({
        ...api,
        endpoint: 'oauth/access_token(client_credentials)',
        path: '/oauth/access_token',
        params: { client_id: app.appId, client_secret: app.appSecret, grant_type: 'client_credentials' },
        secrets: [app.appSecret],
        schema: appTokenSchema,
        tokenCall: false,
      });
    },
    async redeemCode(code, redirectUri, app) {
      const r = await grants.redeemCode(code, redirectUri, app, codeSchema);
      return r.access_token;
    },
  };
}
