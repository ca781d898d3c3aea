/**
 * The `threads` platform: Threads profiles (docs/FACEBOOK.md#threads-tokens). Threads has its own
 * app id and app secret beside the Facebook ones (App Dashboard → App settings → Basic → Threads
 * App ID); a Facebook app id is refused before anything else (`threads_app_id_required`).
 *
 * `inspect` uses Threads' debug_token (the token authenticates itself), so it reports validity,
 * expiry and issue time; a dead token answers code 100 "The requested resource does not exist",
 * which errors.ts reads as a dead token, not a bad request.
 */
import type { Clock } from '../../clock.js';
import { AppError } from '../../errors.js';
import type { GraphCallInfo } from '../../graph/client.js';
import { GraphError } from '../../graph/errors.js';
import { platformHumanMessage } from '../errors.js';
import { createRefreshableProvider, type RefreshableProvider } from '../refreshable-provider.js';
import { createThreadsClient } from './client.js';

export const THREADS_LOGIN_SCOPES = ['threads_basic', 'threads_content_publish'] as const;

export interface ThreadsProviderOptions {
  apiUrl: string;
  dialogUrl: string;
  clock: Clock;
  timeoutMs?: number;
  onCall?: (info: GraphCallInfo) => void;
}

export function createThreadsProvider(o: ThreadsProviderOptions): RefreshableProvider {
  const client = createThreadsClient(o);
  return createRefreshableProvider({
    platform: 'threads',
    clock: o.clock,
    inspectKnowsExpiry: true,
    async look(token) {
      const d = await client.debugToken(token);
      if (!d.isValid) {
        throw new GraphError({
          kind: 'needs_reauth',
          endpoint: 'debug_token',
          message: 'Threads debug_token says the token is not valid',
          humanMessage: platformHumanMessage('threads', 'gone'),
        });
      }
      const me = await client.me(token);
      return {
        userId: me.id,
        username: me.username,
        expiresAt: d.expiresAt,
        issuedAt: d.issuedAt,
        scopes: d.scopes,
      };
    },
    exchange: (token, app) => client.exchange(token, app),
    refresh: (token) => client.refresh(token),
    redeemCode: (code, redirectUri, app) => client.redeemCode(code, redirectUri, app),
    async checkApp(app) {
      try {
        await client.checkApp(app);
      } catch (e: unknown) {
        if (e instanceof GraphError && e.code === 'threads_app_id_required') {
          throw new AppError(
            'threads_app_id_required',
            `App id ${app.appId} is not a Threads app id (it looks like the Facebook app id): Threads has its own app id and app secret. Use the "Threads App ID" and "Threads App Secret" from the App Dashboard (your app → App settings → Basic).`,
            { details: { app_id: app.appId } },
          );
        }
        throw e;
      }
    },
    loginUrl({ appId, redirectUri, state }) {
      // https://developers.facebook.com/docs/threads/get-started/get-access-tokens-and-permissions
      const q = new URLSearchParams({
        client_id: appId,
        redirect_uri: redirectUri,
        scope: THREADS_LOGIN_SCOPES.join(','),
        response_type: 'code',
        state,
      });
      return `${o.dialogUrl.replace(/\/+$/, '')}/oauth/authorize?${q.toString()}`;
    },
  });
}
