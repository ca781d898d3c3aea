/**
 * The dashboard through `app.inject`, on the real keeper, store and emulator: sign-in, sessions,
 * CSRF, the add-page form and its messages, actions, escaping, headers, and no secret in any page.
 */
import { describe, expect, it } from 'vitest';
import { NO_ALERT_CHANNEL, webhookTargetId } from '../../src/alerts/channels.js';
import { DAY, HOUR } from '../../src/clock.js';
import { escapeHtml } from '../../src/dashboard/html.js';
import { revokeApiKey } from '../../src/http/auth.js';
import { refusedUrl, startWebhookReceiver } from '../alerts/receivers.js';
import { csrfOf, REFERENCE_TIME, withDashboard } from './world.js';

const sessionCookie = (r: { cookies: { name: string }[] }) =>
  r.cookies.find((c) => c.name === 'ftk_session') as
    | { name: string; value: string; httpOnly?: boolean; sameSite?: string; path?: string; maxAge?: number }
    | undefined;

describe('dashboard: signing in and out', () => {
  it('shows the sign-in form, refuses a wrong key, a token:read key and a form without its token; signs in an admin key', () =>
    withDashboard(async (w) => {
      const b = w.browser();
      const first = await b.get('/');
      expect(first.statusCode).toBe(200);
      expect(first.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(first.body).toContain('<h1>Sign in</h1>');
      const csrf = csrfOf(first.body);

      const wrong = await b.post('/sign-in', {
        _csrf: csrf,
        api_key: 'ftk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      });
      expect(wrong.statusCode).toBe(401);
      expect(wrong.body).toContain('That API key is not valid, or it was revoked.');
      expect(sessionCookie(wrong)).toBeUndefined();

      const reader = await b.post('/sign-in', { _csrf: csrf, api_key: w.keys.reader });
      expect(reader.statusCode).toBe(403);
      expect(reader.body).toContain('needs a key with the admin scope');

      const noToken = await b.post('/sign-in', { api_key: w.keys.admin });
      expect(noToken.statusCode).toBe(403);
      expect(sessionCookie(noToken)).toBeUndefined();
      const otherBrowser = w.browser();
      const foreign = await otherBrowser.post('/sign-in', { _csrf: csrf, api_key: w.keys.admin });
      expect(foreign.statusCode).toBe(403);

      const ok = await b.post('/sign-in', { _csrf: csrf, api_key: ` ${w.keys.admin} ` });
      expect(ok.statusCode).toBe(303);
      expect(ok.headers.location).toBe('/');
      const cookie = sessionCookie(ok)!;
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
      expect(cookie.maxAge).toBe(12 * 3600);
      // The cookie names the key by id only.
      expect(Buffer.from(cookie.value.split('.')[0]!, 'base64url').toString()).not.toContain(
        w.keys.admin.split('_').slice(2).join('_'),
      );

      const list = await b.get('/');
      expect(list.body).toContain('No page is managed yet.');
      expect(list.body).toContain('Sign out');

      const out = await b.post('/sign-out', { _csrf: csrfOf(list.body) });
      expect(out.statusCode).toBe(303);
      const after = await b.get('/');
      expect(after.body).toContain('<h1>Sign in</h1>');
      expect(after.body).toContain('You are signed out.');

      // The old cookie, replayed, no longer works.
      const replay = await w.app.inject({
        method: 'GET',
        url: '/',
        headers: { cookie: `ftk_session=${cookie.value}` },
      });
      expect(replay.body).toContain('<h1>Sign in</h1>');
    }));

  it('a revoked key, an expired or tampered cookie end the session', () =>
    withDashboard(async (w) => {
      const b = w.browser();
      await b.signIn(w.keys.admin);
      const value = b.cookies.get('ftk_session')!;
      const [body, sig] = value.split('.') as [string, string];
      const forged = Buffer.from(
        JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), e: Date.now() * 2 }),
      ).toString('base64url');
      const tampered = await w.app.inject({
        method: 'GET',
        url: '/',
        headers: { cookie: `ftk_session=${forged}.${sig}` },
      });
      expect(tampered.body).toContain('<h1>Sign in</h1>');

      w.clock.advance(12 * HOUR + 1);
      expect((await b.get('/')).body).toContain('<h1>Sign in</h1>');
      w.clock.advance(-(12 * HOUR + 1));

      const c = w.browser();
      await c.signIn(w.keys.admin);
      expect((await c.get('/')).body).toContain('Managed pages');
      await revokeApiKey(w.store, w.keys.admin, w.clock);
      expect((await c.get('/')).body).toContain('<h1>Sign in</h1>');
    }));

  it('failed sign-ins from one address are slowed down; the right key still signs in at once', () =>
    withDashboard(async (w) => {
      const b = w.browser();
      const csrf = csrfOf((await b.get('/')).body);
      for (let i = 0; i < 5; i++) {
        expect((await b.post('/sign-in', { _csrf: csrf, api_key: `wrong-${i}` })).statusCode).toBe(401);
      }
      const locked = await b.post('/sign-in', { _csrf: csrf, api_key: 'wrong-again' });
      expect(locked.statusCode).toBe(429);
      expect(locked.headers['retry-after']).toBe(String(15 * 60));
      expect(locked.body).toContain('Too many failed sign-ins');
      expect((await b.post('/sign-in', { _csrf: csrf, api_key: w.keys.admin })).statusCode).toBe(303);
      w.clock.advance(16 * 60_000);
      const c = w.browser();
      const csrf2 = csrfOf((await c.get('/')).body);
      expect((await c.post('/sign-in', { _csrf: csrf2, api_key: 'wrong-later' })).statusCode).toBe(401);
    }));

  it('pages need a session and remember where you were going', () =>
    withDashboard(async (w) => {
      const b = w.browser();
      const r = await b.get('/pages/new');
      expect(r.statusCode).toBe(401);
      expect(r.body).toContain('name="next" value="/pages/new"');
      const signed = await b.post('/sign-in', {
        _csrf: csrfOf(r.body),
        api_key: w.keys.admin,
        next: '/pages/new',
      });
      expect(signed.headers.location).toBe('/pages/new');
      const evil = await w
        .browser()
        .post('/sign-in', { _csrf: csrfOf(r.body), api_key: w.keys.admin, next: '//evil.example/' });
      expect(evil.headers.location ?? '/').not.toContain('evil');
    }));
});

describe('dashboard: CSRF', () => {
  it('every form post without the session token (or with another session’s) is refused with 403 and changes nothing', () =>
    withDashboard(async (w) => {
      const fb = w.newFacebookPage('CSRF Page');
      await w.keeper.setup({
        pageId: fb.pageId,
        appId: w.fbApp.appId,
        appSecret: w.fbApp.appSecret,
        accessToken: fb.token,
      });
      const b = w.browser();
      const csrf = await b.signIn(w.keys.admin);
      const other = await w.browser().signIn(w.keys.admin);
      expect(other).not.toBe(csrf);
      const before = JSON.stringify(await w.keeper.history(fb.pageId));
      for (const url of [
        `/pages/${fb.pageId}/renew`,
        `/pages/${fb.pageId}/pause`,
        `/pages/${fb.pageId}/check`,
        '/pages/new',
        '/sign-out',
      ]) {
        for (const form of [{}, { _csrf: '' }, { _csrf: other }, { _csrf: `${csrf}x` }]) {
          const r = await b.post(url, {
            ...form,
            page_id: fb.pageId,
            app_id: w.fbApp.appId,
            app_secret: w.fbApp.appSecret,
            access_token: fb.token,
          });
          expect(r.statusCode, `${url} ${JSON.stringify(form)}`).toBe(403);
          expect(r.body).toContain('security token is missing or wrong');
        }
      }
      expect(JSON.stringify(await w.keeper.history(fb.pageId))).toBe(before);
      expect((await w.keeper.status(fb.pageId)).auto_renew).toBe(true);
      // Still signed in: the refused sign-out did nothing.
      expect((await b.get('/')).body).toContain('CSRF Page');
      // Without any session, a post is refused too.
      expect((await w.browser().post(`/pages/${fb.pageId}/renew`, { _csrf: csrf })).statusCode).toBe(403);
    }));
});

describe('dashboard: adding a page', () => {
  it('shows setup’s field-level messages, keeps the ids, never echoes the secrets', () =>
    withDashboard(async (w) => {
      const b = w.browser();
      const csrf = await b.signIn(w.keys.admin);
      const r = await b.post('/pages/new', {
        _csrf: csrf,
        page_id: 'abc',
        app_id: '12x',
        app_secret: 'short',
        access_token: 'EAA secret with spaces',
      });
      expect(r.statusCode).toBe(400);
      expect(r.body).toContain('Page id must be a numeric Facebook Page id');
      expect(r.body).toContain('App id must be a numeric Facebook App id');
      expect(r.body).toContain('App secret must be the app secret from the App Dashboard');
      expect(r.body).toContain('Access token must be a Facebook access token');
      expect(r.body).toContain('value="abc"');
      expect(r.body).not.toContain('EAA secret with spaces');
      expect(r.body).not.toContain('value="short"');
    }));

  it('shows Facebook’s refusal in words and stores nothing', () =>
    withDashboard(async (w) => {
      const b = w.browser();
      const csrf = await b.signIn(w.keys.admin);
      const fb = w.newFacebookPage('Refused Page');
      w.graph.changePassword(fb.userId);
      const r = await b.post('/pages/new', {
        _csrf: csrf,
        page_id: fb.pageId,
        app_id: w.fbApp.appId,
        app_secret: w.fbApp.appSecret,
        access_token: fb.token,
      });
      expect(r.statusCode).toBe(422);
      expect(r.body).toContain('Facebook setup refused.');
      expect(r.body).toContain('changed their Facebook password');
      expect(r.body).toContain('(token_invalid)');
      expect(r.body).not.toContain(fb.token);
      expect(r.body).not.toContain(w.fbApp.appSecret);
      expect(await w.keeper.listPages()).toEqual([]);
    }));

  it('adds a page from a short-lived user token and says what it did', () =>
    withDashboard(async (w) => {
      const b = w.browser();
      const csrf = await b.signIn(w.keys.admin);
      const fb = w.newFacebookPage('Corner Bakery', 'short');
      const r = await b.post('/pages/new', {
        _csrf: csrf,
        page_id: fb.pageId,
        app_id: w.fbApp.appId,
        app_secret: w.fbApp.appSecret,
        access_token: fb.token,
      });
      expect(r.statusCode).toBe(303);
      expect(r.headers.location).toBe(`/pages/${fb.pageId}`);
      const view = await b.get(`/pages/${fb.pageId}`);
      expect(view.statusCode).toBe(200);
      expect(view.body).toContain('Corner Bakery was added and is healthy.');
      expect(view.body).toMatch(/short-lived user token; I exchanged it/);
      expect(view.body).toContain('data-state="healthy"');
      expect(view.body).toContain('<svg class="chart"');
      expect(view.body).toContain('never expires');
      // The flash is shown once.
      expect((await b.get(`/pages/${fb.pageId}`)).body).not.toContain('was added');
    }));
});

describe('dashboard: a page and its buttons', () => {
  it('check now shows needs_reauth with the reason; renew explains its refusal; pause and resume', () =>
    withDashboard(async (w) => {
      const fb = w.newFacebookPage('Shop');
      await w.keeper.setup({
        pageId: fb.pageId,
        appId: w.fbApp.appId,
        appSecret: w.fbApp.appSecret,
        accessToken: fb.token,
      });
      const b = w.browser();
      const csrf = await b.signIn(w.keys.admin);
      const list = await b.get('/');
      expect(list.body).toContain(`href="/pages/${fb.pageId}"`);
      expect(list.body).toContain('data-state="healthy"');
      expect(list.body).toContain('never expires');

      w.clock.advance(HOUR);
      w.graph.changePassword(fb.userId);
      const check = await b.post(`/pages/${fb.pageId}/check`, { _csrf: csrf });
      expect(check.statusCode).toBe(303);
      const broken = await b.get(`/pages/${fb.pageId}`);
      expect(broken.body).toContain('data-state="needs_reauth"');
      expect(broken.body).toContain('Checked with Facebook: healthy → needs reconnect.');
      expect(broken.body).toContain('The admin changed their Facebook password: reconnect the Page.');
      expect(broken.body).toMatch(
        /<a class="button primary" href="http:\/\/keeper\.test\/connect\/[^"]*" rel="noreferrer">Reconnect with Facebook<\/a>/,
      );
      expect(broken.body).toContain('c-shade-bad');

      const renew = await b.post(`/pages/${fb.pageId}/renew`, { _csrf: csrf });
      expect(renew.statusCode).toBe(303);
      expect((await b.get(`/pages/${fb.pageId}`)).body).toMatch(
        /flash-error[^>]*>Not renewed: The admin changed their Facebook password/,
      );

      await b.post(`/pages/${fb.pageId}/pause`, { _csrf: csrf });
      const paused = await b.get(`/pages/${fb.pageId}`);
      expect(paused.body).toContain('Auto-renew is paused');
      expect(paused.body).toContain('Resume auto-renew');
      expect((await w.keeper.status(fb.pageId)).auto_renew).toBe(false);
      await b.post(`/pages/${fb.pageId}/resume`, { _csrf: csrf });
      expect((await w.keeper.status(fb.pageId)).auto_renew).toBe(true);

      const history = (await b.get(`/pages/${fb.pageId}`)).body;
      expect(history).toContain('settings changed');
      expect(history).toMatch(/id="event-\d+"/);
    }));

  it('renew now renews a healthy page; unknown pages and actions are 404 pages', () =>
    withDashboard(async (w) => {
      const fb = w.newFacebookPage('Renewable');
      await w.keeper.setup({
        pageId: fb.pageId,
        appId: w.fbApp.appId,
        appSecret: w.fbApp.appSecret,
        accessToken: fb.token,
      });
      const b = w.browser();
      w.clock.advance(DAY);
      const csrf = await b.signIn(w.keys.admin);
      expect((await b.post(`/pages/${fb.pageId}/renew`, { _csrf: csrf })).statusCode).toBe(303);
      const view = (await b.get(`/pages/${fb.pageId}`)).body;
      expect(view).toMatch(/flash-ok[^>]*>The posting token was renewed; it does not expire\./);
      expect(view).toContain('renewed');

      expect((await b.get('/pages/999999')).statusCode).toBe(404);
      expect((await b.get('/pages/not-a-number')).statusCode).toBe(404);
      expect((await b.post(`/pages/${fb.pageId}/delete-everything`, { _csrf: csrf })).statusCode).toBe(404);
      expect((await b.post('/pages/999999/renew', { _csrf: csrf })).statusCode).toBe(404);
    }));

  it('escapes what Facebook says (a Page named <script>) everywhere', () =>
    withDashboard(async (w) => {
      const fb = w.newFacebookPage('<script>alert(1)</script><img src=x onerror=alert(2)>');
      await w.keeper.setup({
        pageId: fb.pageId,
        appId: w.fbApp.appId,
        appSecret: w.fbApp.appSecret,
        accessToken: fb.token,
      });
      const b = w.browser();
      await b.signIn(w.keys.admin);
      for (const url of ['/', `/pages/${fb.pageId}`]) {
        const body = (await b.get(url)).body;
        expect(body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
        expect(body).not.toContain('<script>');
        expect(body).not.toContain('<img src=x');
      }
    }));
});

describe('dashboard: what it sends', () => {
  it('strict headers, only local assets, cached stylesheet, and never a secret', () =>
    withDashboard(async (w) => {
      const fb = w.newFacebookPage('Headers');
      await w.keeper.setup({
        pageId: fb.pageId,
        appId: w.fbApp.appId,
        appSecret: w.fbApp.appSecret,
        accessToken: fb.token,
      });
      const b = w.browser();
      const csrf = await b.signIn(w.keys.admin);
      const pages = [await b.get('/'), await b.get(`/pages/${fb.pageId}`), await b.get('/pages/new')];
      for (const r of pages) {
        expect(r.headers['content-security-policy']).toContain("default-src 'none'");
        expect(r.headers['content-security-policy']).toContain("form-action 'self'");
        expect(r.headers['x-frame-options']).toBe('DENY');
        expect(r.headers['referrer-policy']).toBe('no-referrer');
        expect(r.headers['cache-control']).toBe('no-store');
        // No script at all, no inline style, and no URL to another host except the reconnect link.
        expect(r.body).not.toMatch(/<script|\sstyle=|\son\w+="/i);
        for (const m of r.body.matchAll(/(?:href|src)="([^"]+)"/g)) {
          const url = m[1]!;
          expect(
            url.startsWith('/') || url.startsWith('#') || url.startsWith('http://keeper.test/connect/'),
            url,
          ).toBe(true);
        }
        expect(r.body.length).toBeLessThan(40_000);
      }
      const css = /href="(\/assets\/dashboard\.css\?v=[0-9a-f]+)"/.exec(pages[0]!.body)![1]!;
      const asset = await b.get(css);
      expect(asset.statusCode).toBe(200);
      expect(asset.headers['content-type']).toMatch(/text\/css/);
      expect(asset.headers['cache-control']).toMatch(/max-age=\d+.*immutable/);
      expect((await b.get('/assets/favicon.svg')).statusCode).toBe(200);
      expect((await b.get('/assets/../package.json')).statusCode).toBe(404);

      await b.post(`/pages/${fb.pageId}/renew`, { _csrf: csrf });
      await b.post('/pages/new', {
        _csrf: csrf,
        page_id: fb.pageId,
        app_id: w.fbApp.appId,
        app_secret: w.fbApp.appSecret,
        access_token: 'EAAwrongwrongwrong',
      });
      await b.get(`/pages/${fb.pageId}`);
      const secrets = [
        fb.token,
        w.fbApp.appSecret,
        w.keys.admin,
        w.keys.admin.split('_').slice(2).join('_'), // the whole secret: base64url may hold '_'
        await w.keeper.getPageToken(fb.pageId),
        'EAAwrongwrongwrong',
      ];
      for (const body of w.bodies) for (const s of secrets) expect(body).not.toContain(s);
    }));

  it('a form in another encoding gets an HTML error page, not a stack trace', () =>
    withDashboard(async (w) => {
      const b = w.browser();
      await b.signIn(w.keys.admin);
      const r = await w.app.inject({
        method: 'POST',
        url: '/pages/new',
        headers: {
          cookie: `ftk_session=${b.cookies.get('ftk_session')!}`,
          'content-type': 'multipart/form-data; boundary=x',
        },
        payload: '--x--',
      });
      expect(r.statusCode).toBe(415);
      expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(r.body).toContain('Request refused');
    }));

  it('the API and its JSON errors are untouched by the dashboard', () =>
    withDashboard(async (w) => {
      const r = await w.app.inject({ method: 'GET', url: '/api/pages' });
      expect(r.statusCode).toBe(401);
      expect(r.json()).toMatchObject({ success: false, error: { code: 'unauthorized' } });
      const form = await w.app.inject({
        method: 'POST',
        url: '/api/token/renew',
        headers: {
          authorization: `Bearer ${w.keys.admin}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        payload: 'force=true',
      });
      expect(form.statusCode).toBe(415);
    }));
});

describe('dashboard: alert channels', () => {
  it('with no channel, every signed-in page carries the banner, and the test button says nothing was sent', () =>
    withDashboard(async (w) => {
      const b = w.browser();
      await b.signIn(w.keys.admin);
      for (const url of ['/', '/pages/new']) {
        const page = await b.get(url);
        expect(page.body).toContain('id="no-alert-channel"');
        expect(page.body).toContain(escapeHtml(NO_ALERT_CHANNEL));
      }
      const list = await b.get('/');
      expect(list.body).toContain('action="/alerts/test"');
      const sent = await b.post('/alerts/test', { _csrf: csrfOf(list.body) });
      expect(sent.statusCode).toBe(303);
      expect((await b.get('/')).body).toContain('No test alert was sent.');
    }));

  it('the test button needs the CSRF token, sends to every channel and says per channel whether it was delivered', async () => {
    // The dashboard's clock stands still at REFERENCE_TIME; the receiver checks the signature there.
    const receiver = await startWebhookReceiver({
      secret: 'dashboard-test-secret-0123',
      nowSec: () => REFERENCE_TIME / 1000,
    });
    const dead = await refusedUrl();
    // The receiver's URL carries `?token=receiver-secret`: a credential no page may show.
    const hookSecret = 'receiver-secret';
    try {
      await withDashboard(
        async (w) => {
          const b = w.browser();
          await b.signIn(w.keys.admin);
          const list = await b.get('/');
          expect(list.body).not.toContain('id="no-alert-channel"');

          const forged = await b.post('/alerts/test', {});
          expect(forged.statusCode).toBe(403);
          expect(receiver.got).toHaveLength(0);

          const arrived = receiver.next();
          const sent = await b.post('/alerts/test', { _csrf: csrfOf(list.body) });
          expect(sent.statusCode).toBe(303);
          const got = await arrived;
          expect(got.verified).toBe(true);
          expect(got.body).toMatchObject({ event: 'test' });

          const after = (await b.get('/')).body;
          const flash = /<div class="flash flash-(\w+)"[^>]*>([^<]*)<\/div>/.exec(after);
          expect(flash?.[1]).toBe('error');
          const live = webhookTargetId(receiver.url);
          const gone = webhookTargetId(dead);
          expect(flash?.[2]).toContain(escapeHtml(`webhook ${live}: delivered`));
          expect(flash?.[2]).toContain(escapeHtml(`webhook ${gone}: NOT delivered`));
          for (const body of w.bodies) expect(body).not.toContain(hookSecret);
        },
        {
          WEBHOOK_URLS: `${receiver.url},${dead}`,
          WEBHOOK_SECRET: 'dashboard-test-secret-0123',
        },
      );
    } finally {
      await receiver.close();
    }
  });
});
