/**
 * The dashboard's view of logins (connections), through `app.inject` on the real keeper, store
 * (SQLite and PostgreSQL) and emulator: the list groups Pages by the login they come from, with
 * Pages set up from a bare Page token on their own; a login's view shows its token's facts, its
 * Pages and their states, Pages not granted, Pages available to add (a CSRF-checked form), and one
 * reconnect button; a password change shows on the login and on every Page; no secret in any page.
 */
import { describe, expect, it } from 'vitest';
import { DAY } from '../../src/clock.js';
import { explainConnection, loginName, loginSentence } from '../../src/dashboard/views.js';
import type { ConnectionView } from '../../src/lifecycle/types.js';
import { testBackends } from '../helpers/backends.js';
import { csrfOf, type DashboardWorld, withDashboard } from './world.js';

/** One person with a role on three Pages (two can post, one cannot), set up as one login. */
async function agency(w: DashboardWorld) {
  const user = w.graph.createUser({ name: 'Robin (agency)' });
  const pages = ['Bakery North', 'Bakery South'].map((name) => w.graph.createPage({ name }));
  for (const p of pages) w.graph.grantRole(user.id, p.id);
  const readOnly = w.graph.createPage({ name: 'Read-only Gallery' });
  w.graph.grantRole(user.id, readOnly.id, ['ANALYZE']);
  const token = w.graph.issueUserToken({ appId: w.fbApp.appId, userId: user.id, lifetime: 'long' });
  const r = await w.keeper.connect({
    accessToken: token,
    appId: w.fbApp.appId,
    appSecret: w.fbApp.appSecret,
  });
  return { user, pages, readOnly, token, connectionId: r.connection.id };
}

/** A Page set up from a Page token: no login behind it. */
async function pageOnItsOwn(w: DashboardWorld) {
  const { pageId, token: userToken } = w.newFacebookPage('Lone Florist');
  // A Page token, minted over HTTP by the keeper's own Graph client (as a person would from Graph API Explorer).
  const pageToken = (await w.keeper.graph.getPageToken(pageId, userToken, w.fbApp)).accessToken;
  await w.keeper.setup({
    pageId,
    appId: w.fbApp.appId,
    appSecret: w.fbApp.appSecret,
    accessToken: pageToken,
  });
  return { pageId, pageToken };
}

/** The text of an HTML fragment, tags stripped and whitespace collapsed (what a person reads). */
const text = (html: string) =>
  html
    .replace(/<\/?(a|strong|span|time|code)\b[^>]*>/g, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();

/** The element `<tag … id="id">…</tag>` (or data attribute) of a page, up to its closing tag. */
function section(body: string, marker: string, tag = 'section'): string {
  const at = body.indexOf(marker);
  if (at < 0) throw new Error(`${marker} is not in the page`);
  const start = body.lastIndexOf(`<${tag}`, at);
  let depth = 0;
  const re = new RegExp(`<${tag}\\b|</${tag}>`, 'g');
  re.lastIndex = start;
  for (let m = re.exec(body); m; m = re.exec(body)) {
    depth += m[0] === `</${tag}>` ? -1 : 1;
    if (depth === 0) return body.slice(start, m.index + m[0].length);
  }
  throw new Error(`${marker}: no closing </${tag}>`);
}

describe.each(testBackends())('dashboard: logins (connections) on %s', (backend) => {
  it('the list groups Pages by login, and a Page from a bare Page token stands on its own', () =>
    withDashboard(
      async (w) => {
        const a = await agency(w);
        const lone = await pageOnItsOwn(w);
        const b = w.browser();
        await b.signIn(w.keys.admin);
        const list = (await b.get('/')).body;

        expect(text(list)).toContain('3 pages · 1 Facebook login · all posting normally');
        const group = section(list, `data-connection-id="${a.connectionId}"`);
        expect(text(group)).toContain('Facebook login of Robin (agency)');
        expect(text(group)).toContain(`Your Facebook login for app ${w.fbApp.appId} manages these 2 Pages.`);
        expect(group).toContain(`href="/connections/${a.connectionId}"`);
        for (const p of a.pages) expect(group).toContain(`data-page-id="${p.id}"`);
        expect(group).not.toContain(`data-page-id="${lone.pageId}"`);

        const alone = section(list, 'data-connection-id=""');
        expect(text(alone)).toContain('Pages on their own');
        expect(text(alone)).toContain('Set up from a Page token, with no Facebook login behind it');
        expect(alone).toContain(`data-page-id="${lone.pageId}"`);
        // Every Page appears exactly once.
        expect(list.match(/<tr data-page-id=/g)?.length).toBe(3);

        // The Page links to its login; the Page on its own does not.
        const one = (await b.get(`/pages/${a.pages[0]!.id}`)).body;
        expect(text(section(one, 'id="page-login"', 'p'))).toBe(
          'Its token comes from the Facebook login of Robin (agency): reconnecting that login heals every Page under it.',
        );
        expect((await b.get(`/pages/${lone.pageId}`)).body).not.toContain('id="page-login"');

        for (const body of w.bodies) {
          expect(body).not.toContain(a.token);
          expect(body).not.toContain(lone.pageToken);
          expect(body).not.toContain(w.fbApp.appSecret);
        }
      },
      {},
      backend,
    ));

  it('a login’s view: its token’s facts, its Pages, Pages not granted, and one reconnect button', () =>
    withDashboard(
      async (w) => {
        const a = await agency(w);
        // A Page the person manages but did not tick in the Login dialog.
        const unticked = w.graph.createPage({ name: 'Hidden Studio' });
        w.graph.grantRole(a.user.id, unticked.id);
        w.graph.selectPages(w.fbApp.appId, a.user.id, [...a.pages.map((p) => p.id), a.readOnly.id]);
        const b = w.browser();
        await b.signIn(w.keys.admin);
        const r = await b.get(`/connections/${a.connectionId}`);
        expect(r.statusCode).toBe(200);
        const body = r.body;
        expect(body).toContain('<title>Facebook login of Robin (agency) · fb-token-keeper</title>');
        expect(body).toMatch(/<span class="badge badge-good" data-state="healthy">working<\/span>/);
        expect(text(section(body, 'id="login-sentence"', 'p'))).toBe(
          `Your Facebook login for app ${w.fbApp.appId} manages these 2 Pages.`,
        );
        expect(text(section(body, 'id="login-explain"', 'p'))).toContain('This login works.');

        // The token's facts: a long-lived user token, 60 days, data access, last check, extension.
        const facts = text(section(body, '<h2>The login’s token</h2>'));
        expect(facts).toContain(`Facebook user Robin (agency) (${a.user.id})`);
        expect(facts).toContain(`App ${w.fbApp.appId}`);
        expect(facts).toContain('Token user token, valid');
        expect(facts).toMatch(/Expires \d+ \w{3} \d{4}, \d\d:\d\d UTC \(in (59|60) days\)/);
        expect(facts).toMatch(/Data access until \d+ \w{3} \d{4}/);
        expect(facts).toContain('Extension not blocked');

        // Its Pages, with their states.
        const pages = section(body, '<h2>Pages this login manages</h2>');
        for (const p of a.pages) {
          expect(pages).toContain(`href="/pages/${p.id}"`);
        }
        expect(pages.match(/data-state="healthy"/g)?.length).toBe(2);

        // Not granted: the read-only Page (no posting task) and the unticked one, each with why.
        const ng = section(body, 'id="not-granted"');
        expect(text(section(ng, `data-page-id="${a.readOnly.id}"`, 'li'))).toContain(
          'your role on this Page cannot post',
        );
        expect(text(section(ng, `data-page-id="${unticked.id}"`, 'li'))).toContain(
          'not ticked when the app was authorised in Facebook Login. Reconnect and tick it',
        );
        expect(text(section(body, 'id="available"'))).toContain(
          'None: every Page this login can post to is kept here.',
        );

        // Exactly one reconnect button, a signed link through one of its Pages.
        const links = [...body.matchAll(/id="reconnect-login" href="([^"]+)"/g)].map((m) => m[1]!);
        expect(links).toHaveLength(1);
        expect(links[0]).toMatch(
          new RegExp(
            `^http://keeper\\.test/connect/(${a.pages.map((p) => p.id).join('|')})\\?exp=\\d+&amp;sig=`,
          ),
        );
        expect(body.match(/Reconnect with Facebook/g)?.length).toBe(1);

        // The API says the same (GET /api/connections/{id}).
        const api = await w.app.inject({
          method: 'GET',
          url: `/api/connections/${a.connectionId}`,
          headers: { authorization: `Bearer ${w.keys.admin}` },
        });
        expect(api.statusCode).toBe(200);
        const json = api.json<{
          not_granted: { page_id: string; reason: string; managed: boolean }[];
          extension_blocked_until: null;
        }>();
        expect(json.extension_blocked_until).toBeNull();
        expect(json.not_granted).toEqual(
          expect.arrayContaining([
            { page_id: a.readOnly.id, name: 'Read-only Gallery', reason: 'no_posting_task', managed: false },
            { page_id: unticked.id, name: 'Hidden Studio', reason: 'not_selected', managed: false },
          ]),
        );
        expect(json.not_granted).toHaveLength(2);
        for (const x of w.bodies) expect(x).not.toContain(a.token);
      },
      {},
      backend,
    ));

  it('adds Pages available to the login through a CSRF-checked form', () =>
    withDashboard(
      async (w) => {
        const a = await agency(w);
        const newer = w.graph.createPage({ name: 'Bakery East' });
        w.graph.grantRole(a.user.id, newer.id);
        const b = w.browser();
        const csrf = await b.signIn(w.keys.admin);
        const view = (await b.get(`/connections/${a.connectionId}`)).body;
        const available = section(view, 'id="available"');
        expect(text(available)).toContain('Bakery East');
        expect(available).toContain(`action="/connections/${a.connectionId}/pages"`);
        expect(available).toContain(`name="page_id" value="${newer.id}" checked`);

        // Without the form's token, or with a wrong one: refused, nothing added.
        const bare = await b.post(`/connections/${a.connectionId}/pages`, { page_id: newer.id });
        expect(bare.statusCode).toBe(403);
        expect(bare.body).toContain('security token is missing or wrong');
        const forged = await b.post(`/connections/${a.connectionId}/pages`, {
          _csrf: 'x',
          page_id: newer.id,
        });
        expect(forged.statusCode).toBe(403);
        expect(await w.store.getPage(newer.id)).toBeNull();
        // Bad input: a clear message, nothing added.
        const junk = await b.post(`/connections/${a.connectionId}/pages`, { _csrf: csrf, page_id: 'abc' });
        expect(junk.statusCode).toBe(303);
        expect((await b.get(`/connections/${a.connectionId}`)).body).toContain(
          'A Page id in the form was not a Facebook Page id, so nothing was added.',
        );
        expect(await w.store.getPage(newer.id)).toBeNull();
        const unknown = await b.post('/connections/facebook_1_2/pages', { _csrf: csrf, page_id: newer.id });
        expect(unknown.statusCode).toBe(404);

        const ok = await b.post(`/connections/${a.connectionId}/pages`, { _csrf: csrf, page_id: newer.id });
        expect(ok.statusCode).toBe(303);
        expect(ok.headers.location).toBe(`/connections/${a.connectionId}`);
        const after = (await b.get(`/connections/${a.connectionId}`)).body;
        expect(text(after)).toContain('Added 1 Page to this login: Bakery East.');
        expect(section(after, '<h2>Pages this login manages</h2>')).toContain(`data-page-id="${newer.id}"`);
        expect(text(section(after, 'id="login-sentence"', 'p'))).toContain('manages these 3 Pages');
        const stored = await w.store.getPage(newer.id);
        expect(stored?.connectionId).toBe(a.connectionId);
        expect(stored?.state).toBe('healthy');
        for (const x of w.bodies) {
          expect(x).not.toContain(a.token);
          expect(x).not.toContain(w.fbApp.appSecret);
        }
      },
      {},
      backend,
    ));

  it('a dead WhatsApp connection: its page (where its alerts link) says what happened and how to get a new token', () =>
    withDashboard(
      async (w) => {
        const su = w.graph.createSystemUser({ appId: w.fbApp.appId, pages: [], name: 'WA sender' });
        const token = w.graph.issueSystemUserToken({
          appId: w.fbApp.appId,
          systemUserId: su.id,
          scopes: ['whatsapp_business_messaging', 'whatsapp_business_management'],
        });
        const r = await w.keeper.connect({
          accessToken: token,
          appId: w.fbApp.appId,
          appSecret: w.fbApp.appSecret,
        });
        w.graph.invalidateToken(token);
        w.clock.advance(DAY);
        await w.keeper.check({ all: true });
        const b = w.browser();
        await b.signIn(w.keys.admin);
        const body = (await b.get(`/connections/${r.connection.id}`)).body;
        const card = text(section(body, 'id="whatsapp"'));
        expect(card).toContain('State: needs reauth');
        expect(card).toMatch(/no longer accepts the WhatsApp system-user token.*Generate new token.*connect/);
        expect(card).toContain(`/api/accounts/whatsapp/${r.connection.id}/token`);
        expect(body).not.toContain('id="reconnect-login"');
        expect(w.bodies.join('')).not.toContain(token);
      },
      {},
      backend,
    ));

  it('a password change shows on the login, with the one reconnect button, and on every Page', () =>
    withDashboard(
      async (w) => {
        const a = await agency(w);
        w.graph.changePassword(a.user.id);
        w.clock.advance(DAY);
        await w.keeper.check({ all: true });
        const b = w.browser();
        await b.signIn(w.keys.admin);

        const body = (await b.get(`/connections/${a.connectionId}`)).body;
        expect(body).toMatch(
          /<span class="badge badge-bad" data-state="needs_reauth">needs reconnect<\/span>/,
        );
        expect(text(section(body, 'id="login-explain"', 'p'))).toBe(
          'Facebook no longer accepts this login (for example after a password change, a log-out or a security check). Reconnect once: every Page below is healed together.',
        );
        expect(body).toMatch(
          /<a class="button primary" id="reconnect-login" href="http:\/\/keeper\.test\/connect\/\d+\?exp=/,
        );
        expect(text(body)).toContain('Opens Facebook Login once for all 2 Pages');
        expect(text(section(body, '<h2>The login’s token</h2>'))).toContain('Token user token, not valid');
        const pages = section(body, '<h2>Pages this login manages</h2>');
        expect(pages.match(/data-state="needs_reauth"/g)?.length).toBe(2);
        // The login cannot be asked which Pages it reaches: said, not guessed.
        expect(text(section(body, 'id="not-granted"'))).toContain(
          'Facebook could not be asked right now which Pages this login reaches (the login does not work: reconnect first).',
        );

        const list = (await b.get('/')).body;
        const group = section(list, `data-connection-id="${a.connectionId}"`);
        expect(group).toContain('data-state="needs_reauth">needs reconnect</span>');
        expect(text(list)).toContain('2 need attention');
      },
      {},
      backend,
    ));

  it('the one reconnect button heals the login’s other Pages even when the Page its link goes through is not ticked', () =>
    withDashboard(
      async (w) => {
        const a = await agency(w);
        w.graph.changePassword(a.user.id);
        await w.keeper.check({ all: true });
        const b = w.browser();
        await b.signIn(w.keys.admin);
        const view = (await b.get(`/connections/${a.connectionId}`)).body;
        const href = /id="reconnect-login" href="([^"]+)"/.exec(view)![1]!.replaceAll('&amp;', '&');
        const through = /\/connect\/(\d+)\?/.exec(href)![1]!;
        const other = a.pages.find((p) => p.id !== through)!;

        // The link → Facebook Login, which asks again which Pages to share (auth_type=rerequest).
        const start = await b.get(href.replace('http://keeper.test', ''));
        expect(start.statusCode).toBe(302);
        const dialog = new URL(start.headers.location as string);
        expect(dialog.searchParams.get('auth_type')).toBe('rerequest');
        const page = await (await fetch(dialog)).text();
        expect(page).toContain(`name="page_${through}" checked`);
        // Robin ticks every Page but the one the link goes through.
        const form = new URLSearchParams();
        for (const m of page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
          form.set(m[1]!, m[2]!.replaceAll('&amp;', '&'));
        }
        for (const m of page.matchAll(/name="(scope_[^"]+)" checked/g)) form.set(m[1]!, 'on');
        form.set('user_id', a.user.id);
        form.set(`page_${other.id}`, 'on');
        form.set('action', 'continue');
        const confirmed = await fetch(new URL(`/${w.config.graphApiVersion}/dialog/oauth/confirm`, dialog), {
          method: 'POST',
          body: form,
          redirect: 'manual',
        });
        const back = new URL(confirmed.headers.get('location')!);
        expect(back.pathname).toBe('/connect/callback');
        const done = await b.get(`${back.pathname}${back.search}`);

        // This Page is named and left as it was; the other Page took the new login and posts again.
        expect(done.statusCode).toBe(403);
        const said = text(done.body);
        expect(said).toContain('A required permission was not granted');
        expect(said).toContain(
          `The login’s other Page was reconnected with it and can post again: "${other.name}" (${other.id}).`,
        );
        expect(said).toContain('start again and tick it in the list of Pages in the Facebook dialog');
        expect((await w.store.getPage(other.id))?.state).toBe('healthy');
        expect((await w.store.getPage(through))?.state).not.toBe('healthy');
        const after = (await b.get(`/connections/${a.connectionId}`)).body;
        expect(after).toContain('data-state="healthy">working</span>');
        expect(text(section(after, 'id="not-granted"'))).toContain('not ticked when the app was authorised');
        expect(section(after, 'id="not-granted"')).toContain(`data-page-id="${through}"`);
      },
      {},
      backend,
    ));

  it('an unknown or malformed login id is a 404 page; signed out, it asks to sign in and comes back', () =>
    withDashboard(
      async (w) => {
        const a = await agency(w);
        const b = w.browser();
        const out = await b.get(`/connections/${a.connectionId}`);
        expect(out.statusCode).toBe(401);
        expect(out.body).toContain(`name="next" value="/connections/${a.connectionId}"`);
        const page = await b.get('/');
        const signed = await b.post('/sign-in', {
          _csrf: csrfOf(page.body),
          api_key: w.keys.admin,
          next: `/connections/${a.connectionId}`,
        });
        expect(signed.headers.location).toBe(`/connections/${a.connectionId}`);

        const unknown = await b.get('/connections/facebook_1_2');
        expect(unknown.statusCode).toBe(404);
        expect(unknown.body).toContain('No Facebook login with id facebook_1_2 is kept here.');
        const junk = await b.get('/connections/%3Cscript%3E');
        expect(junk.statusCode).toBe(404);
        expect(junk.body).not.toContain('<script>');
      },
      {},
      backend,
    ));
});

describe('dashboard: a login’s words', () => {
  const now = Date.parse('2027-01-01T00:00:00Z');
  const login = (over: Partial<ConnectionView>): ConnectionView => ({
    id: 'facebook_1_2',
    platform: 'facebook',
    app_id: '1',
    user_id: '2',
    user_name: null,
    state: 'healthy',
    source_token_type: 'USER',
    source_valid: true,
    source_expires_at: null,
    data_access_expires_at: null,
    scopes: [],
    last_checked_at: null,
    next_check_at: null,
    last_error: null,
    extension_blocked_until: null,
    page_ids: ['3'],
    reconnect_url: null,
    ...over,
  });

  it('names the login, says what its state means, and reads an unknown platform or state as it is', () => {
    expect(loginName(login({}))).toBe('Facebook login of user 2');
    expect(loginName(login({ user_name: 'Robin', source_token_type: 'SYSTEM_USER' }))).toBe(
      'Facebook system user Robin',
    );
    expect(loginName(login({ platform: 'instagram', user_name: 'shop' }))).toBe('Instagram login of shop');
    expect(loginName(login({ platform: 'mastodon', user_name: 'x' }))).toBe('Mastodon login of x');
    expect(loginSentence(login({}), 1)).toBe('Your Facebook login for app 1 manages this Page.');
    expect(loginSentence(login({ source_token_type: 'SYSTEM_USER' }), 4)).toBe(
      'This system user of app 1 manages these 4 Pages.',
    );
    const expiring = explainConnection(
      login({ state: 'expiring', source_expires_at: new Date(now + 10 * DAY).toISOString() }),
      now,
    );
    expect(expiring).toContain('it expires in 10 days');
    expect(expiring).toContain('a Page token Facebook drops can then only be replaced by a person');
    expect(explainConnection(login({ state: 'new_state' as ConnectionView['state'] }), now)).toBe(
      'new_state',
    );
  });
});
