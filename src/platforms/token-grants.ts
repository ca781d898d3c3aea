/**
 * What Instagram Login and Threads share, word for word but for the grant names and hosts: one
 * caller per platform (http.ts) and the three token grants.
 * - `GET {api}/access_token?grant_type={ig|th}_exchange_token&client_secret&access_token`
 *   (short-lived → long-lived);
 * - `GET {api}/refresh_access_token?grant_type={ig|th}_refresh_token&access_token`;
 * - `POST {oauth}/oauth/access_token` with `grant_type=authorization_code` (a login's code →
 *   short-lived token), whose answer each platform shapes its own way (the caller names the schema).
 * The first two answer `{access_token, token_type, expires_in}`; `expires_in` is required, because
 * the expiry is always the platform's, never assumed.
 */
import { z } from 'zod';
import type { Clock } from '../clock.js';
import type { AppCredentials, GraphCallInfo } from '../graph/client.js';
import type { RefreshablePlatformName } from './errors.js';
import { createPlatformCaller, type PlatformCaller } from './http.js';
import type { PlatformToken } from './refreshable-provider.js';

export const platformTokenSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.number().positive(),
});

/** What both clients are given beside their hosts. */
export interface PlatformClientOptions {
  clock: Clock;
  timeoutMs?: number;
  onCall?: (info: GraphCallInfo) => void;
}

/** A host calls go to: its base URL without trailing slashes, and the variable that names it. */
export interface PlatformHost {
  base: string;
  variable: string;
}

export function platformHost(url: string, variable: string): PlatformHost {
  return { base: url.replace(/\/+$/, ''), variable };
}

export interface TokenGrantsOptions {
  platform: RefreshablePlatformName;
  api: PlatformHost;
  /** Where a login's code is redeemed: Instagram's own OAuth host, Threads' API host. */
  oauth: PlatformHost;
  exchangeGrant: 'ig_exchange_token' | 'th_exchange_token';
  refreshGrant: 'ig_refresh_token' | 'th_refresh_token';
}

export interface TokenGrants {
  /** The platform's caller, for the calls that are the client's own. */
  call: PlatformCaller;
  exchange: (shortLived: string, app: AppCredentials) => Promise<PlatformToken>;
  refresh: (longLived: string) => Promise<PlatformToken>;
  redeemCode: <T>(code: string, redirectUri: string, app: AppCredentials, schema: z.ZodType<T>) => Promise<T>;
}

export function createTokenGrants(client: PlatformClientOptions, o: TokenGrantsOptions): TokenGrants {
  const call = createPlatformCaller({
    platform: o.platform,
    ...(client.timeoutMs ? { timeoutMs: client.timeoutMs } : {}),
    ...(client.onCall ? { onCall: client.onCall } : {}),
  });
  const token = (r: z.infer<typeof platformTokenSchema>): PlatformToken => ({
    accessToken: r.access_token,
    expiresIn: r.expires_in,
    expiresAt: client.clock.now() + r.expires_in * 1000,
  });
  return {
    call,
    exchange: async (shortLived, app) => {
      const r = await call({
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
    refresh: async (longLived) => {
      const r = await call({
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
    redeemCode: (code, redirectUri, app, schema) =>
      call({
        ...o.oauth,
        endpoint: 'oauth/access_token(code)',
        path: '/oauth/access_token',
        method: 'POST',
        params: {
          client_id: app.appId,
          client_secret: app.appSecret,
          grant_type: 'authorization_code',
          redirect_uri: redirectUri,
          code,
        },
        secrets: [app.appSecret, code],
        schema,
        tokenCall: false,
      }),
  };
}
