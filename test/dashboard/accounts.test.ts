/**
 * The dashboard's Instagram accounts (Instagram Login) and Threads profiles, through `app.inject` on
 * the real keeper, store (SQLite and PostgreSQL) and emulator: the add form (CSRF-checked, platform
 * select) connects with the platform; the overview lists them in their own words with expiry, next
 * refresh (at RENEWAL_THRESHOLD_DAYS, never before 24 hours of age) and state; an account's view has
 * no Facebook-only wording and its reconnect button leads to the platform's own dialog; bad input
 * changes nothing; no secret in any page.
 */
import { describe, expect, it } from 'vitest';
import { DAY, HOUR } from '../../src/clock.js';
import { testBackends } from '../helpers/backends.js';
import { csrfOf, type DashboardWorld, withDashboard } from './world.js';

function platformAccount(w: DashboardWorld, platform: 'instagram' | 'threads', username: string) {
  const app = w.graph.createPlatformApp(platform, { name: 'Poster', facebookAppId: w.fbApp.appId });
  const acc = w.graph.createPlatformAccount(platform, { username });
  const short = w.graph.issuePlatformToken(platform, {
    appId: app.appId,
    accountId: acc.id,
    lifetime: 'short',
  });
  return { app, id: acc.id, short };
}

const text = (html: string) =>
  html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();

/** The `<tr data-page-id="id" …>…</tr>` of the overview. */
function row(body: string, id: string): string {
  const at = body.indexOf(`<tr data-page-id="${id}"`);
  if (at < 0) throw new Error(`no row for ${id}`);
  return body.slice(at, body.indexOf('</tr>', at));
}

describe.each(testBackends())('dashboard: Instagram and Threads accounts on %s', (backend) => {
  it('adds each platform through the form; the overview and the account view speak its words', () =>
    withDashboard(
      async (w) => {
        // A Facebook Page too, to see both kinds side by side.
        const fb = w.newFacebookPage('Bakery');
        await w.keeper.setup({
          pageId: fb.pageId,
          appId: w.fbApp.appId,
          appSecret: w.fbApp.appSecret,
          accessToken: fb.token,
        });
        const ig = platformAccount(w, 'instagram', 'bakery.ig');
        const th = platformAccount(w, 'threads', 'bakery.th');
        const b = w.browser();
        const csrf = await b.signIn(w.keys.admin);

        const form = await b.get('/accounts/new');
        expect(form.statusCode).toBe(200);
        expect(form.body).toContain('<select id="platform" name="platform">');
        expect(text(form.body)).toContain(
          'An Instagram account reached through a Facebook Page keeps using the Page token',
        );

        // Without the CSRF token nothing is set up.
        const forged = await b.post('/accounts/new', {
          platform: 'instagram',
          app_id: ig.app.appId,
          app_secret: ig.app.appSecret,
          access_token: ig.short,
        });
        expect(forged.statusCode).toBe(403);
        expect(await w.store.getPage(ig.id)).toBeNull();

        // An unknown platform: 400, nothing stored.
        const bad = await b.post('/accounts/new', {
          _csrf: csrf,
          platform: 'myspace',
          app_id: ig.app.appId,
          app_secret: ig.app.appSecret,
          access_token: ig.short,
        });
        expect(bad.statusCode).toBe(400);
        expect(text(bad.body)).toContain('Platform must be Instagram or Threads');
        expect(await w.store.getPage(ig.id)).toBeNull();

        // Threads with the Facebook app id: refused with the platform's sentence, nothing stored.
        const wrongApp = await b.post('/accounts/new', {
          _csrf: csrf,
          platform: 'threads',
          app_id: w.fbApp.appId,
          app_secret: th.app.appSecret,
          access_token: th.short,
        });
        expect(wrongApp.statusCode).toBeGreaterThanOrEqual(400);
        expect(wrongApp.statusCode).toBeLessThan(500);
        expect(text(wrongApp.body)).toMatch(/Threads app/i);
        expect(await w.store.getPage(th.id)).toBeNull();

        for (const [platform, a, label] of [
          ['instagram', ig, 'Instagram account @bakery.ig'],
          ['threads', th, 'Threads profile @bakery.th'],
        ] as const) {
          const r = await b.post('/accounts/new', {
            _csrf: csrf,
            platform,
            app_id: a.app.appId,
            app_secret: a.app.appSecret,
            access_token: a.short,
          });
          expect(r.statusCode, r.body).toBe(303);
          expect(r.headers.location).toBe(`/pages/${a.id}`);
          const view = await b.get(`/pages/${a.id}`);
          expect(view.statusCode).toBe(200);
          expect(text(view.body)).toContain(`${label} was added and is healthy.`);
          expect(text(view.body)).toContain(label);
          expect((await w.store.getPage(a.id))?.platform).toBe(platform);
        }

        const list = (await b.get('/')).body;
        expect(list).toContain(`data-page-id="${fb.pageId}"`);
        const igRow = text(row(list, ig.id));
        expect(igRow).toContain('Instagram account @bakery.ig');
        expect(igRow).toContain('healthy');
        expect(igRow).toContain('60 days left');
        // Refreshed when RENEWAL_THRESHOLD_DAYS (default) are left: 60 − threshold days from now.
        const threshold = w.config.renewalThresholdDays;
        const nextAt = new Date(w.clock.now() + (60 - threshold) * DAY).toISOString();
        expect(row(list, ig.id)).toContain(`<time datetime="${nextAt}"`);
        expect(text(row(list, th.id))).toContain('Threads profile @bakery.th');
        expect(row(list, th.id)).toContain(`<time datetime="${nextAt}"`);
        const accounts = list.slice(list.indexOf('id="accounts"'));
        expect(accounts).not.toMatch(/Page token|Facebook login/);

        // The account's view: expiry, next refresh, no Facebook-only words, the platform's reconnect.
        for (const [a, name, dialogUrl] of [
          [ig, 'Instagram', w.graph.instagramUrl],
          [th, 'Threads', w.graph.threadsUrl],
        ] as const) {
          const view = (await b.get(`/pages/${a.id}`)).body;
          const said = text(view);
          expect(said).toContain(`Expires ${new Date(w.clock.now() + 60 * DAY).getUTCDate()}`);
          expect(view).toMatch(/id="account-next-refresh"><time datetime="[^"]+"/);
          expect(said).toContain(`Reconnect with ${name}`);
          expect(said).not.toMatch(/Facebook|Page token|Graph API/);
          const href = /id="reconnect-account" href="([^"]+)"/.exec(view)![1]!.replaceAll('&amp;', '&');
          const start = await b.get(href.replace('http://keeper.test', ''));
          expect(start.statusCode).toBe(302);
          expect(String(start.headers.location).startsWith(dialogUrl)).toBe(true);
          // "Check now" asks the account's own platform.
          const checked = await b.post(`/pages/${a.id}/check`, { _csrf: csrfOf(view) });
          expect(checked.statusCode).toBe(303);
          expect(text((await b.get(`/pages/${a.id}`)).body)).toContain(
            `Checked with ${name}: still healthy.`,
          );
        }

        // The connection's own URL shows the account.
        const c = await w.store.getPage(ig.id);
        const viaConnection = await b.get(`/connections/${c!.connectionId}`);
        expect(viaConnection.statusCode).toBe(303);
        expect(viaConnection.headers.location).toBe(`/pages/${ig.id}`);

        for (const body of w.bodies) {
          for (const secret of [ig.short, th.short, ig.app.appSecret, th.app.appSecret]) {
            expect(body).not.toContain(secret);
          }
          expect(body).not.toContain(await w.keeper.getPageToken(ig.id));
        }
      },
      {},
      backend,
    ));

  it('an expired token: expired in the overview and on its page, in the platform’s words, reconnect first', () =>
    withDashboard(
      async (w) => {
        const th = platformAccount(w, 'threads', 'late.th');
        await w.keeper.connect({
          platform: 'threads',
          appId: th.app.appId,
          appSecret: th.app.appSecret,
          accessToken: th.short,
        });
        // Nobody ran the keeper for 61 days: the token is past its expiry, which is final.
        w.clock.advance(61 * DAY);
        await w.keeper.check({ pageId: th.id });
        const b = w.browser();
        await b.signIn(w.keys.admin);
        const list = (await b.get('/')).body;
        expect(row(list, th.id)).toContain('data-state="expired"');
        expect(text(list)).toContain('1 account · 1 needs attention');
        expect(text(row(list, th.id))).toContain('none: expired, reconnect');
        const view = (await b.get(`/pages/${th.id}`)).body;
        expect(text(view)).toContain(
          "the token expired and Threads cannot refresh an expired token. The account's owner must log in again",
        );
        expect(view).toMatch(/class="button primary" id="reconnect-account"/);
        expect(text(view)).not.toMatch(/Facebook|Page token/);

        // The button → Threads' own dialog (the emulator's) → our callback → healthy again.
        const href = /id="reconnect-account" href="([^"]+)"/.exec(view)![1]!.replaceAll('&amp;', '&');
        const start = await b.get(href.replace('http://keeper.test', ''));
        expect(start.statusCode).toBe(302);
        const dialog = new URL(String(start.headers.location));
        expect(dialog.toString().startsWith(`${w.graph.threadsUrl}/oauth/authorize`)).toBe(true);
        const page = await (await fetch(dialog)).text();
        const form = new URLSearchParams();
        for (const m of page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
          form.set(m[1]!, m[2]!.replace(/&amp;/g, '&'));
        }
        form.set('account_id', th.id);
        for (const m of page.matchAll(/name="(scope_[^"]+)" checked/g)) form.set(m[1]!, 'on');
        form.set('action', 'continue');
        const confirmed = await fetch(new URL('authorize/confirm', dialog), {
          method: 'POST',
          body: form,
          redirect: 'manual',
        });
        const back = new URL(String(confirmed.headers.get('location')));
        expect((await b.get(back.pathname + back.search)).statusCode).toBe(200);
        const healed = (await b.get(`/pages/${th.id}`)).body;
        expect(healed).toContain('data-state="healthy"');
        expect(text(healed)).toContain(`Expires ${new Date(w.clock.now() + 60 * DAY).getUTCDate()}`);
        expect((await b.get('/')).body).not.toContain('none: expired');
      },
      {},
      backend,
    ));

  it('a young token: the next refresh is not before it is 24 hours old', () =>
    withDashboard(
      async (w) => {
        const ig = platformAccount(w, 'instagram', 'young.ig');
        await w.keeper.connect({
          platform: 'instagram',
          appId: ig.app.appId,
          appSecret: ig.app.appSecret,
          accessToken: ig.short,
        });
        const b = w.browser();
        await b.signIn(w.keys.admin);
        const list = (await b.get('/')).body;
        // With a threshold of 60 days, "refresh when 60 days or fewer are left" is due at once, but
        // the platform refuses a token younger than 24 hours: the next refresh is at 24 hours.
        const at = new Date(w.clock.now() + 24 * HOUR).toISOString();
        expect(row(list, ig.id)).toContain(`<time datetime="${at}"`);
      },
      { RENEWAL_THRESHOLD_DAYS: '60' },
      backend,
    ));
});
