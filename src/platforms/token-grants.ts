/**
 * The two token grants Instagram Login and Threads share, word for word but for the grant names:
 * `GET {api}/access_token?grant_type={ig|th}_exchange_token&client_secret&access_token` (short-lived
 * → long-lived) and `GET {api}/refresh_access_token?grant_type={ig|th}_refresh_token&access_token`.
 * Both answer `{access_token, token_type, expires_in}`; `expires_in` is required, because the expiry
 * is always the platform's, never assumed.
 */
import { z } from 'zod';
import type { Clock } from '../clock.js';
import type { AppCredentials } from '../graph/client.js';
import type { PlatformCaller } from './http.js';
import type { PlatformToken } from './refreshable-provider.js';

export const platformTokenSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.number().positive(),
});

export interface TokenGrantsOptions {
  call: PlatformCaller;
  api: { base: string; variable: string };
  clock: Clock;
  exchangeGrant: 'ig_exchange_token' | 'th_exchange_token';
  refreshGrant: 'ig_refresh_token' | 'th_refresh_token';
}

export function createTokenGrants(o: TokenGrantsOptions) {
  const token = (r: z.infer<typeof platformTokenSchema>): PlatformToken => ({
    accessToken: r.access_token,
    expiresIn: r.expires_in,
    expiresAt: o.clock.now() + r.expires_in * 1000,
  });
  return {
    exchange: async (shortLived: string, app: AppCredentials): Promise<PlatformToken> => {
      const r = await o.call({
        ...o.api,
        endpoint: `access_token(${o.exchangeGrant})`,
        path: '/access_token',
        params: { grant_type: o.exchangeGrant, client_secret: app.appSecret, access_token: shortLived },
        secrets: [app.appSecret, shortLived],
        schema: platformTokenSchema,
        tokenCall: true,
      });
      return token(r);
    },
    refresh: async (longLived: string): Promise<PlatformToken> => {
      const r = await o.call({
        ...o.api,
        endpoint: `refresh_access_token(${o.refreshGrant})`,
        path: '/refresh_access_token',
        params: { grant_type: o.refreshGrant, access_token: longLived },
        secrets: [longLived],
        schema: platformTokenSchema,
        tokenCall: true,
      });
      return token(r);
    },
  };
}
