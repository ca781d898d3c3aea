/**
 * `simulate --scenario agency`: one agency admin per login, each with a share of the Pages, set up
 * with `connect` (one paste per login). On the event day one admin changes their password; the
 * keeper raises one alert for that login, and a person reconnects once through the emulator's
 * Login dialog (GET the dialog, POST its form, as a browser would), which heals every Page of it.
 */
import { callbackUrl } from '../reconnect/links.js';
import type { FakeGraph } from '../fake-graph/index.js';
import { LOGIN_SCOPES } from '../types.js';
import type { KeeperInternals } from './keeper.js';

/** What the agency run measured (the figures the issue asks for). */
export interface AgencySummary {
  logins: number;
  pages_per_login: number;
  /** The Pages of the login whose admin changed their password. */
  affected_pages: string[];
  /** `needs_reauth` alerts queued: one for the login, however many Pages it has. */
  needs_reauth_alerts: number;
  reconnects: number;
  /** Pages of the affected login healthy after the one reconnect. */
  healed_by_reconnect: number;
  /** Pages of the other logins that ever left `healthy`, lost a valid token or raised an alert. */
  others_that_noticed: string[];
}

export interface AgencyWorld {
  ids: string[];
  users: string[];
  /** page id → the index of its login. */
  loginOf: Map<string, number>;
}

/** `logins` admins, Page i belonging to admin i % logins; each login set up with one `connect`. */
export async function setUpAgency(
  keeper: KeeperInternals,
  graph: FakeGraph,
  app: { appId: string; appSecret: string },
  logins: number,
  pages: number,
): Promise<AgencyWorld> {
  const users = Array.from({ length: logins }, (_, i) => graph.createUser({ name: `Agency admin ${i}` }).id);
  const ids: string[] = [];
  const loginOf = new Map<string, number>();
  for (let i = 0; i < pages; i++) {
    const page = graph.createPage({ name: `Client ${i}` });
    graph.grantRole(users[i % logins]!, page.id);
    ids.push(page.id);
    loginOf.set(page.id, i % logins);
  }
  for (const userId of users) {
    const token = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
    await keeper.connect({ accessToken: token, ...app });
  }
  return { ids, users, loginOf };
}

/**
 * A person follows the reconnect for `pageId`: Facebook's Login dialog (the emulator's, over HTTP)
 * with `auth_type=rerequest`, every permission and Page left ticked, then the callback's code is
 * handed to the keeper, which replaces the login's token and re-mints every sibling.
 */
export async function reconnectThroughDialog(
  keeper: KeeperInternals,
  graph: FakeGraph,
  pageId: string,
  userId: string,
): Promise<void> {
  const page = await keeper.store.getPage(pageId);
  if (!page) throw new Error(`page ${pageId} is not managed`);
  const redirectUri = callbackUrl(keeper.config);
  const dialog = new URL(`${graph.url}/${keeper.config.graphApiVersion}/dialog/oauth`);
  dialog.searchParams.set('client_id', page.appId);
  dialog.searchParams.set('redirect_uri', redirectUri);
  dialog.searchParams.set('scope', LOGIN_SCOPES.join(','));
  dialog.searchParams.set('response_type', 'code');
  dialog.searchParams.set('auth_type', 'rerequest');
  dialog.searchParams.set('state', 'simulated');
  // The admin is the one at the browser: the dialog offers them (and their Page picker) first.
  graph.setDialogUser(userId);
  const html = await (await fetch(dialog)).text();
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  if (!action) throw new Error('the emulator did not show its Login dialog');
  const form = new URLSearchParams();
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    form.set(m[1]!, m[2]!.replaceAll('&amp;', '&').replaceAll('&quot;', '"'));
  }
  form.set('user_id', userId);
  for (const m of html.matchAll(/<input type="checkbox" name="([^"]+)" checked>/g)) form.set(m[1]!, 'on');
  form.set('action', 'continue');
  const res = await fetch(new URL(action, graph.url), { method: 'POST', body: form, redirect: 'manual' });
  const code = new URL(String(res.headers.get('location'))).searchParams.get('code');
  if (!code) throw new Error(`the Login dialog did not answer a code (HTTP ${res.status})`);
  await keeper.reconnect(pageId, code, redirectUri);
}
