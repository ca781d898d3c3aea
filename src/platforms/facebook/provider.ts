/**
 * Facebook as a token provider: the source is a user or system-user token, its children are the
 * Pages it manages, each with a Page token minted from it (docs/FACEBOOK.md#minting-the-page-token).
 * Speaks to Facebook only through src/graph.
 */
import type { Clock } from '../../clock.js';
import type { AppCredentials, GraphClient } from '../../graph/client.js';
import { GraphError } from '../../graph/errors.js';
import { assertPostingTasks, assertPostingToken, POSTING_TASKS, toTokenInfo } from './inspect.js';
import { LOGIN_SCOPES } from '../../types.js';
import type { ChildAccount, InspectedToken, LoginUrlOptions, TokenProvider } from '../provider.js';

export interface FacebookProviderOptions {
  graph: GraphClient;
  clock: Clock;
  /** FACEBOOK_DIALOG_URL, e.g. `https://www.facebook.com`. */
  dialogUrl: string;
  /** GRAPH_API_VERSION, e.g. `v26.0`. */
  version: string;
}

export function createFacebookProvider(options: FacebookProviderOptions): TokenProvider {
  const { graph, clock } = options;

  const inspect = async (token: string, app: AppCredentials) =>
    toTokenInfo(token, await graph.debugToken(token, app), clock.now());

  const canPost = (tasks: readonly string[]) =>
    tasks.some((t) => (POSTING_TASKS as readonly string[]).includes(t));

  return {
    platform: 'facebook',
    inspect,

    async extend(source, app) {
      // An expiring system-user token is refreshed by the same exchange with `set_token_expires_in_60_days`;
      // a user token is exchanged too, but Facebook keeps its expiry (the caller compares and
      // remembers: docs/FACEBOOK.md#re-exchanging-does-not-extend).
      const exchanged = await graph.exchangeToken(source.token, app, {
        systemUser60Days: source.info.type === 'SYSTEM_USER',
      });
      return { token: exchanged.accessToken, info: await inspect(exchanged.accessToken, app) };
    },

    // docs/FACEBOOK.md#rotating-an-expiring-system-user-token: step 3 of Meta's recipe.
    async revokeSource(token, caller, app) {
      await graph.revokeToken(token, caller, app);
    },

    async exchangeShortLived(token, app) {
      const exchanged = await graph.exchangeToken(token, app);
      return { token: exchanged.accessToken, info: await inspect(exchanged.accessToken, app) };
    },

    async listChildren(source, app): Promise<ChildAccount[]> {
      const accounts = await graph.listPageAccounts(source, app);
      return accounts.map((a) => ({
        id: a.id,
        name: a.name,
        canPost: canPost(a.tasks),
        // `/me/accounts` lists a Page without a token when it was not ticked in the Page picker.
        granted: a.accessToken !== null,
      }));
    },

    async mintChild(pageId, source, app) {
      const minted = await graph.getPageToken(pageId, source, app);
      const info = await inspect(minted.accessToken, app);
      assertPostingToken(info, { appId: app.appId, pageId });
      // A valid Page token is not enough: its person needs a posting task on the Page.
      const accounts = await graph.listPageAccounts(source, app);
      assertPostingTasks(accounts.find((a) => a.id === pageId)?.tasks ?? null, pageId);
      return { token: minted.accessToken, info, name: minted.name || null };
    },

    async probe(token, pageId, app) {
      try {
        return (await graph.probePageToken(token, app)).id === pageId;
      } catch (e: unknown) {
        // A throttled or transient answer is the probe's own failure; anything else (a dead token,
        // 190…, a refused permission, a request Facebook did not take) is for debug_token to describe.
        if (e instanceof GraphError && e.kind !== 'throttled' && e.kind !== 'transient') return false;
        throw e;
      }
    },

    loginUrl(o: LoginUrlOptions): string {
      const dialog = new URL(`${options.dialogUrl}/${options.version}/dialog/oauth`);
      dialog.searchParams.set('client_id', o.appId);
      dialog.searchParams.set('redirect_uri', o.redirectUri);
      dialog.searchParams.set('scope', LOGIN_SCOPES.join(','));
      dialog.searchParams.set('response_type', 'code');
      // Without `rerequest` the dialog silently reuses the last Page selection.
      if (o.rerequest !== false) dialog.searchParams.set('auth_type', 'rerequest');
      dialog.searchParams.set('state', o.state);
      return dialog.toString();
    },

    async exchangeCode(code, redirectUri, app): Promise<InspectedToken> {
      const shortLived = await graph.exchangeCode(code, redirectUri, app);
      const long = await graph.exchangeToken(shortLived.accessToken, app);
      return { token: long.accessToken, info: await inspect(long.accessToken, app) };
    },
  };
}
