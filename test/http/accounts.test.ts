/**
 * `POST /api/connections` with `platform`, and `/api/accounts`: every posting identity with its
 * platform, its token for `token:read` keys (limited keys: only their own account), the refresh
 * route, the Threads app id rule, and bad input that changes nothing.
 */
import { describe, expect, it } from 'vitest';
import { DAY } from '../../src/clock.js';
import { createApiKey } from '../../src/http/auth.js';
import { testBackends } from '../helpers/backends.js';
import { type ApiWorld, withApi } from './world.js';

function platformAccount(w: ApiWorld, platform: 'instagram' | 'threads') {
  const app = w.graph.createPlatformApp(platform, { name: 'Poster', facebookAppId: w.fbApp.appId });
  const acc = w.graph.createPlatformAccount(platform, { username: `${platform}.ada` });
  const short = w.graph.issuePlatformToken(platform, {
    appId: app.appId,
    accountId: acc.id,
    lifetime: 'short',
  });
  return { app, id: acc.id, short };
}

describe.each(testBackends())('accounts routes on %s', (backend) => {
  it('connects Instagram and Threads over POST /api/connections; lists every account; answers each token', async () => {
    await withApi(backend, async (w) => {
      const page = await w.setupPage('Bakery');
      const ig = platformAccount(w, 'instagram');
      const th = platformAccount(w, 'threads');
      for (const [platform, a] of [
        ['instagram', ig],
        ['threads', th],
      ] as const) {
        const r = await w.call('POST', '/api/connections', {
          body: { platform, access_token: a.short, app_id: a.app.appId, app_secret: a.app.appSecret },
        });
        expect(r.statusCode, r.body).toBe(201);
        expect(r.json().connection).toMatchObject({ platform, user_id: a.id, user_name: `${platform}.ada` });
        expect(r.json().pages[0]).toMatchObject({
          page_id: a.id,
          platform,
          state: 'healthy',
          expires_at: new Date(w.clock.now() + 60 * DAY).toISOString(),
        });
        expect(r.body).not.toContain(a.short);
      }

      const list = await w.call('GET', '/api/accounts', { key: w.keys.reader });
      expect(list.statusCode, list.body).toBe(200);
      const rows = list.json().accounts as { platform: string; id: string; token_url: string }[];
      expect(rows.map((r) => [r.platform, r.id]).sort()).toEqual(
        [
          ['facebook_page', page.pageId],
          ['instagram', ig.id],
          ['threads', th.id],
        ].sort(),
      );
      // The status rows say the platform too.
      const pages = (await w.call('GET', '/api/pages')).json().pages as {
        page_id: string;
        platform: string;
      }[];
      expect(pages.find((p) => p.page_id === ig.id)?.platform).toBe('instagram');

      for (const row of rows) {
        const t = await w.call('GET', row.token_url, { key: w.keys.reader });
        expect(t.statusCode, t.body).toBe(200);
        expect(t.json()).toMatchObject({ platform: row.platform, id: row.id, token_valid: true });
        expect(t.json().access_token).toBe(await w.keeper.getPageToken(row.id));
      }
      // `facebook` is the alias of `facebook_page`; the wrong platform is a 404.
      expect(
        (await w.call('GET', `/api/accounts/facebook_page/${page.pageId}/token`, { key: w.keys.reader }))
          .statusCode,
      ).toBe(200);
      const wrong = await w.call('GET', `/api/accounts/threads/${ig.id}/token`, { key: w.keys.reader });
      expect(wrong.statusCode).toBe(404);
      expect(wrong.json().error.code).toBe('account_not_found');
      expect(wrong.json().error.details).toEqual({ platform: 'threads', id: ig.id });
      // An admin key alone cannot read tokens.
      expect((await w.call('GET', `/api/accounts/instagram/${ig.id}/token`)).statusCode).toBe(403);

      // A key limited to the Instagram account: its own token, nothing else, and it lists only it.
      const limited = (
        await createApiKey(w.store, {
          name: 'ig poster',
          scopes: ['token:read'],
          pageIds: [ig.id],
          clock: w.clock,
        })
      ).key;
      expect(
        (await w.call('GET', `/api/accounts/instagram/${ig.id}/token`, { key: limited })).statusCode,
      ).toBe(200);
      const other = await w.call('GET', `/api/accounts/threads/${th.id}/token`, { key: limited });
      expect(other.statusCode).toBe(403);
      expect(other.body).not.toContain(await w.keeper.getPageToken(th.id));
      const own = (await w.call('GET', '/api/accounts', { key: limited })).json().accounts;
      expect(own.map((a: { id: string }) => a.id)).toEqual([ig.id]);

      // Metrics carry the platform.
      const metrics = (await w.call('GET', '/metrics', { key: null })).body;
      expect(metrics).toContain(`fbtk_page_state{page_id="${ig.id}",platform="instagram",state="healthy"} 1`);
      expect(metrics).toContain(`fbtk_page_token_days_left{page_id="${th.id}",platform="threads"} 60`);
      expect(metrics).toContain(
        `fbtk_page_state{page_id="${page.pageId}",platform="facebook_page",state="healthy"} 1`,
      );

      // The refresh route: the token works, so the same one comes back.
      const refreshed = await w.call('POST', `/api/accounts/threads/${th.id}/token/refresh`, {
        key: w.keys.reader,
        body: { code: 190 },
      });
      expect(refreshed.statusCode, refreshed.body).toBe(200);
      expect(refreshed.json()).toMatchObject({
        platform: 'threads',
        verdict: 'token_valid',
        token_changed: false,
      });
    });
  });

  it('an Instagram account whose id is a Page’s id: refused (page_exists), the Page untouched; accounts are looked up by platform and id', async () => {
    await withApi(backend, async (w) => {
      const page = await w.setupPage('Bakery');
      const app = w.graph.createPlatformApp('instagram', { name: 'Poster', facebookAppId: w.fbApp.appId });
      const acc = w.graph.createPlatformAccount('instagram', { id: page.pageId, username: 'same.id' });
      const short = w.graph.issuePlatformToken('instagram', {
        appId: app.appId,
        accountId: acc.id,
        lifetime: 'short',
      });
      const tokenBefore = await w.keeper.getPageToken(page.pageId);
      const before = await w.dump();
      const r = await w.call('POST', '/api/connections', {
        body: { platform: 'instagram', access_token: short, app_id: app.appId, app_secret: app.appSecret },
      });
      expect(r.statusCode, r.body).toBe(409);
      expect(r.json().error.code).toBe('page_exists');
      expect(r.json().error.message).toMatch(/already managed as a facebook_page account/);
      expect(await w.dump()).toBe(before);
      expect(await w.keeper.getPageToken(page.pageId)).toBe(tokenBefore);
      const asInstagram = await w.call('GET', `/api/accounts/instagram/${page.pageId}/token`, {
        key: w.keys.reader,
      });
      expect(asInstagram.statusCode).toBe(404);
      expect(asInstagram.json().error.code).toBe('account_not_found');
      expect(asInstagram.body).not.toContain(tokenBefore);
      const asPage = await w.call('GET', `/api/accounts/facebook/${page.pageId}/token`, {
        key: w.keys.reader,
      });
      expect(asPage.json()).toMatchObject({ platform: 'facebook_page', access_token: tokenBefore });
    });
  });

  it('renewal_needed / renewal_reason of an Instagram account follow the refresh rule (24 hours of age, then the threshold)', async () => {
    await withApi(backend, async (w) => {
      const ig = platformAccount(w, 'instagram');
      const r = await w.call('POST', '/api/connections', {
        body: {
          platform: 'instagram',
          access_token: ig.short,
          app_id: ig.app.appId,
          app_secret: ig.app.appSecret,
        },
      });
      expect(r.statusCode, r.body).toBe(201);
      const renewal = async () => {
        const s = (await w.call('GET', `/api/token/status?page_id=${ig.id}`)).json();
        const row = (await w.call('GET', '/api/pages'))
          .json()
          .pages.find((p: { page_id: string }) => p.page_id === ig.id);
        expect([row.renewal_needed, row.renewal_reason]).toEqual([s.renewal_needed, s.renewal_reason]);
        return [s.renewal_needed, s.renewal_reason];
      };
      expect(await renewal()).toEqual([false, 'too_young']);
      w.clock.advance(2 * DAY);
      expect(await renewal()).toEqual([false, 'not_yet']);
      // 50 days left (RENEWAL_THRESHOLD_DAYS): due, though no round has run yet.
      w.clock.advance(8 * DAY);
      expect(await renewal()).toEqual([true, 'threshold_reached']);
      w.clock.advance(51 * DAY);
      expect(await renewal()).toEqual([false, 'expired']);
    });
  });

  it('Threads refuses the Facebook app id with a sentence that says so; bad input is a 4xx that changes nothing', async () => {
    await withApi(backend, async (w) => {
      const th = platformAccount(w, 'threads');
      const before = await w.dump();
      const r = await w.call('POST', '/api/connections', {
        body: {
          platform: 'threads',
          access_token: th.short,
          app_id: w.fbApp.appId,
          app_secret: w.fbApp.appSecret,
        },
      });
      expect(r.statusCode, r.body).toBe(422);
      expect(r.json().error.code).toBe('threads_app_id_required');
      expect(r.json().error.message).toMatch(/Threads App ID/);
      for (const body of [
        { platform: 'myspace', access_token: th.short, app_id: th.app.appId, app_secret: th.app.appSecret },
        {
          platform: 'threads',
          access_token: th.short,
          app_id: th.app.appId,
          app_secret: th.app.appSecret,
          page_ids: ['1'],
        },
      ]) {
        const bad = await w.call('POST', '/api/connections', { body });
        expect(bad.statusCode, bad.body).toBe(400);
        expect(bad.json().error.code).toBe('validation_failed');
        expect(bad.body).not.toContain(th.short);
      }
      expect(await w.dump()).toBe(before);
      const badPlatform = await w.call('GET', '/api/accounts/myspace/1/token', { key: w.keys.reader });
      expect(badPlatform.statusCode).toBe(400);
      expect(w.logs()).not.toContain(th.short);
    });
  });
});
