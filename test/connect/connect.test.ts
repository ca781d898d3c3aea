/**
 * Reconnect routes on the real HTTP app (`buildApp` + `extraRoutes`), the real keeper and store, and
 * the emulator's Login dialog over HTTP. Every failure must explain itself and change nothing.
 */
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { DAY, HOUR, MINUTE } from '../../src/clock.js';
import { buildApp } from '../../src/http/app.js';
import {
  parseState,
  reconnectUrl,
  registerConnectRoutes,
  signReconnectLink,
  signState,
  verifyReconnectLink,
} from '../../src/http/connect.js';
import { silentLogger } from '../../src/logger.js';
import { LOGIN_SCOPES } from '../../src/types.js';
import { testBackends } from '../helpers/backends.js';
import { type KeeperWorld, withKeeper } from '../helpers/keeper.js';
import { answerDialog, callback, openLink, title } from './flow.js';

const PUBLIC_URL = 'https://keeper.example.com';

interface Rig {
  w: KeeperWorld;
  app: FastifyInstance;
  pageId: string;
  userId: string;
  link: (pageId?: string) => string;
  /** Posting token and page row, to prove "nothing changed". */
  snapshot: () => Promise<string>;
}

async function withRig(
  backend: 'sqlite' | 'postgres',
  fn: (r: Rig) => Promise<void>,
  pageName = 'Bakery',
): Promise<void> {
  await withKeeper(
    backend,
    async (w) => {
      const { userId, pageId } = w.newPage(pageName);
      const long = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'long' });
      await w.keeper.setup({ pageId, accessToken: long, appId: w.app.appId, appSecret: w.app.appSecret });
      // The admin changes their password: every token is dead, self-healing is impossible.
      w.graph.changePassword(userId);
      w.clock.advance(7 * HOUR);
      await w.keeper.check({ pageId });
      expect((await w.keeper.status(pageId)).state).toBe('needs_reauth');
      const { keeper, store, clock } = w;
      const app = await buildApp({
        config: keeper.config,
        keeper,
        store,
        clock,
        logger: silentLogger,
        extraRoutes: (a) =>
          registerConnectRoutes(a, {
            config: keeper.config,
            keeper,
            store,
            clock,
            logger: silentLogger,
            linkSecret: keeper.linkSecret,
          }),
      });
      try {
        await fn({
          w,
          app,
          pageId,
          userId,
          link: (id = pageId) => reconnectUrl(keeper.config, id, clock.now(), keeper.linkSecret),
          snapshot: async () => {
            const p = await store.getPage(pageId);
            return JSON.stringify([
              await keeper.getPageToken(pageId),
              p?.state,
              p?.posting.hash,
              p?.updatedAt,
            ]);
          },
        });
      } finally {
        await app.close();
      }
    },
    { env: { PUBLIC_URL, RECONNECT_LINK_TTL_HOURS: '48' } },
  );
}

describe.each(testBackends())('reconnect on %s', (backend) => {
  it('link → Login dialog → callback: needs_reauth becomes healthy, with a page that says so and no token', async () => {
    await withRig(backend, async ({ w, app, pageId, link }) => {
      const old = await w.keeper.getPageToken(pageId);
      const started = await openLink(app, link());
      expect(started.status).toBe(302);
      const dialog = new URL(started.location);
      expect(dialog.origin + dialog.pathname).toBe(`${w.graph.url}/v26.0/dialog/oauth`);
      expect(Object.fromEntries(dialog.searchParams)).toEqual({
        client_id: w.app.appId,
        redirect_uri: `${PUBLIC_URL}/connect/callback`,
        scope: LOGIN_SCOPES.join(','),
        response_type: 'code',
        auth_type: 'rerequest',
        state: expect.stringMatching(
          new RegExp(
            `^v2\\.${pageId}\\.\\d+\\.${new URL(link()).searchParams.get('exp')}\\.[\\w-]{22}\\.[\\w-]{43}$`,
          ),
        ),
      });
      expect(started.setCookie).toMatch(
        /^fbtk_oauth_[\w-]{8}=[\w-]{22}; Max-Age=900; Path=\/connect; HttpOnly; SameSite=Lax; Secure$/,
      );

      const back = await answerDialog(started.location);
      expect(back.origin + back.pathname).toBe(`${PUBLIC_URL}/connect/callback`);
      const done = await callback(app, back, started.cookie);
      expect(done.status).toBe(200);
      expect(title(done.body)).toBe(`Page "Bakery" (${pageId}) is connected again`);
      expect(done.body).toContain('Posting continues');
      expect(done.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(done.headers['content-security-policy']).toContain("default-src 'none'");
      expect(done.headers['cache-control']).toBe('no-store');
      expect(String(done.headers['set-cookie'])).toMatch(/^fbtk_oauth_[\w-]{8}=; Max-Age=0/);

      const status = await w.keeper.status(pageId);
      expect(status.state).toBe('healthy');
      expect(status.history.map((h) => h.type)).toContain('reconnected');
      const fresh = await w.keeper.getPageToken(pageId);
      expect(fresh).not.toBe(old);
      expect(w.graph.tokenStatus(fresh)).toMatchObject({ valid: true });
      expect(done.body).not.toContain(fresh);
      expect(done.body).not.toContain(back.searchParams.get('code')!);
    });
  });

  it('Cancel in the dialog → explanation (403), nothing changed; Start again works', async () => {
    await withRig(backend, async ({ w, app, pageId, link, snapshot }) => {
      const before = await snapshot();
      const original = link();
      const started = await openLink(app, original);
      const back = await answerDialog(started.location, { cancel: true });
      expect(back.searchParams.get('error')).toBe('access_denied');
      const res = await callback(app, back, started.cookie);
      expect(res.status).toBe(403);
      expect(title(res.body)).toBe('Facebook Login was cancelled');
      expect(res.body).toContain('Nothing was changed');
      expect(await snapshot()).toBe(before);

      // The page offers the link the person started from (not a fresh one), and it works.
      const again = /<a class="button" href="([^"]+)">Start again<\/a>/
        .exec(res.body)?.[1]
        ?.replace(/&amp;/g, '&');
      expect(again).toBe(original);
      expect(again).toMatch(new RegExp(`^${PUBLIC_URL}/connect/${pageId}\\?exp=`));
      const retry = await openLink(app, again!);
      const ok = await callback(app, await answerDialog(retry.location), retry.cookie);
      expect(ok.status).toBe(200);
      expect((await w.keeper.status(pageId)).state).toBe('healthy');
    });
  });

  it('pages_manage_posts declined → "A required permission was not granted" (403), nothing changed', async () => {
    await withRig(backend, async ({ app, link, snapshot }) => {
      const before = await snapshot();
      const started = await openLink(app, link());
      const res = await callback(
        app,
        await answerDialog(started.location, { untick: ['pages_manage_posts'] }),
        started.cookie,
      );
      expect(res.status).toBe(403);
      expect(title(res.body)).toBe('A required permission was not granted');
      expect(res.body).toContain('pages_manage_posts');
      expect(await snapshot()).toBe(before);
    });
  });

  it('a Facebook account without a role on the Page → "cannot manage the Page" (403), nothing changed', async () => {
    await withRig(backend, async ({ w, app, link, snapshot }) => {
      const stranger = w.graph.createUser({ name: 'Stranger' });
      const before = await snapshot();
      const started = await openLink(app, link());
      const res = await callback(
        app,
        await answerDialog(started.location, { userId: stranger.id }),
        started.cookie,
      );
      expect(res.status).toBe(403);
      expect(title(res.body)).toBe('This Facebook account cannot manage the Page');
      expect(await snapshot()).toBe(before);
    });
  });

  it('tampered, missing or foreign state → 400, nothing changed, code never redeemed', async () => {
    await withRig(backend, async ({ w, app, link, snapshot, pageId }) => {
      const before = await snapshot();
      const started = await openLink(app, link());
      const back = await answerDialog(started.location);
      const state = back.searchParams.get('state')!;
      const exchanges = w.graph.countCalls('/oauth/access_token');

      const variants = [
        state.slice(0, -1) + (state.endsWith('A') ? 'B' : 'A'), // signature changed
        state.replace(`v2.${pageId}.`, `v2.${pageId}9.`), // another page
        state.replace(
          /^(v2\.\d+\.\d+\.)(\d+)/,
          (_, head: string, exp: string) => `${head}${Number(exp) + 86400}`,
        ), // longer link
        '',
        'garbage',
      ];
      for (const v of variants) {
        const u = new URL(back);
        if (v === '') u.searchParams.delete('state');
        else u.searchParams.set('state', v);
        const res = await callback(app, u, started.cookie);
        expect(res.status).toBe(400);
        expect(title(res.body)).toBe('This reconnect request is not valid');
      }
      // A state signed with another key (another installation) is not ours either.
      const foreign = signState(
        { pageId, expiresAt: w.clock.now() + MINUTE, linkExpiresAt: 4102444800, nonce: 'A'.repeat(22) },
        Buffer.alloc(32, 1),
      );
      const u = new URL(back);
      u.searchParams.set('state', foreign);
      expect((await callback(app, u, started.cookie)).status).toBe(400);

      expect(w.graph.countCalls('/oauth/access_token')).toBe(exchanges);
      expect(await snapshot()).toBe(before);
      // The genuine state still works afterwards.
      expect((await callback(app, back, started.cookie)).status).toBe(200);
    });
  });

  it('replayed callback → "already used"; without the cookie → "another browser"; too slow → "took too long"', async () => {
    await withRig(backend, async ({ w, app, link, pageId }) => {
      // No cookie: started in another browser (or a forged link sent to the victim).
      const a = await openLink(app, link());
      const backA = await answerDialog(a.location);
      const noCookie = await callback(app, backA, undefined);
      expect(noCookie.status).toBe(400);
      expect(title(noCookie.body)).toBe('This reconnect was started in another browser');
      const wrongCookie = await callback(app, backA, `${a.cookie.split('=')[0]}=${'B'.repeat(22)}`);
      expect(wrongCookie.status).toBe(400);

      // Too slow: more than 15 minutes between the link and the callback.
      const b = await openLink(app, link());
      const backB = await answerDialog(b.location);
      w.clock.advance(16 * MINUTE);
      const slow = await callback(app, backB, b.cookie);
      expect(slow.status).toBe(400);
      expect(title(slow.body)).toBe('This reconnect took too long');
      expect((await w.keeper.status(pageId)).state).toBe('needs_reauth');

      // Replay: the first one works, the same answer again is refused.
      const c = await openLink(app, link());
      const backC = await answerDialog(c.location);
      expect((await callback(app, backC, c.cookie)).status).toBe(200);
      const replay = await callback(app, backC, c.cookie);
      expect(replay.status).toBe(400);
      expect(title(replay.body)).toBe('This reconnect was already used');
      const history = await w.keeper.history(pageId, { limit: 100 });
      expect(history.filter((h) => h.type === 'reconnected')).toHaveLength(1);
    });
  });

  it('an old state (replayed or too slow) never yields a working link once its link has expired', async () => {
    await withRig(backend, async ({ w, app, link }) => {
      const buttons = (body: string) =>
        [...body.matchAll(/<a class="button" href="([^"]+)">([^<]+)<\/a>/g)].map((m) => [
          m[1]!.replace(/&amp;/g, '&'),
          m[2],
        ]);
      const original = link();
      const used = await openLink(app, original);
      const usedBack = await answerDialog(used.location);
      expect((await callback(app, usedBack, used.cookie)).status).toBe(200);
      const slow = await openLink(app, original);
      const slowBack = await answerDialog(slow.location);

      // Within the link's 48 hours, both failures offer the original link again.
      w.clock.advance(HOUR);
      const replayed = await callback(app, usedBack, used.cookie);
      expect(title(replayed.body)).toBe('This reconnect was already used');
      expect(buttons(replayed.body)).toEqual([[original, 'Start again']]);

      // Months later (state from browser history or a proxy log): no link, only the dashboard.
      w.clock.advance(90 * DAY);
      for (const [back, cookie, heading] of [
        [usedBack, used.cookie, 'This reconnect was already used'],
        [slowBack, slow.cookie, 'This reconnect took too long'],
      ] as const) {
        const res = await callback(app, back, cookie);
        expect(res.status).toBe(400);
        expect(title(res.body)).toBe(heading);
        expect(res.body).not.toContain('/connect/');
        expect(buttons(res.body)).toEqual([[`${PUBLIC_URL}/`, 'Open the dashboard']]);
        expect(res.body).toContain('The reconnect link you started from has expired.');
      }
    });
  });

  it('links: tampered → 400, expired → 410, unmanaged page → 404, all HTML that changes nothing', async () => {
    await withRig(backend, async ({ w, app, link, pageId, snapshot }) => {
      const before = await snapshot();
      const good = link();
      const cases: [string, number, string][] = [
        // The first character of the signature replaced by a different one (a signature that already
        // began with 'X' left the link untouched one run in 64).
        [
          good.replace(/sig=(.)/, (_, c: string) => `sig=${c === 'X' ? 'Y' : 'X'}`),
          400,
          'This reconnect link is not valid',
        ],
        [good.replace(/&sig=.*/, ''), 400, 'This reconnect link is not valid'],
        [
          good.replace(/exp=\d+/, (m) => `exp=${Number(m.slice(4)) + 3600}`),
          400,
          'This reconnect link is not valid',
        ],
        [good.replace(`/connect/${pageId}`, '/connect/999'), 400, 'This reconnect link is not valid'],
        [
          good.replace(`/connect/${pageId}`, '/connect/%3Cscript%3E'),
          400,
          'This reconnect link is not valid',
        ],
        [link('5550001'), 404, 'This Page is not managed here'],
      ];
      for (const [url, status, heading] of cases) {
        const res = await openLink(app, url);
        const body = (await app.inject({ method: 'GET', url: new URL(url).pathname + new URL(url).search }))
          .body;
        expect(res.status, url).toBe(status);
        expect(res.setCookie).toBe('');
        expect(title(body)).toBe(heading);
        expect(body).not.toContain('<script>');
      }
      // Links last RECONNECT_LINK_TTL_HOURS (48 here).
      w.clock.advance(47 * HOUR);
      expect((await openLink(app, good)).status).toBe(302);
      w.clock.advance(2 * HOUR);
      const expired = await app.inject({ method: 'GET', url: new URL(good).pathname + new URL(good).search });
      expect(expired.statusCode).toBe(410);
      expect(title(expired.body)).toBe('This reconnect link has expired');
      expect(expired.body).toContain('fb-token-keeper status --page-id');
      expect(await snapshot()).toBe(before);
    });
  });

  it('Facebook unavailable during the exchange → 503 page, nothing changed', async () => {
    await withRig(backend, async ({ w, app, link, snapshot }) => {
      const before = await snapshot();
      const started = await openLink(app, link());
      const back = await answerDialog(started.location);
      w.graph.injectFault({ path: '/oauth/access_token', kind: 'http_500', times: Infinity });
      const res = await callback(app, back, started.cookie);
      w.graph.clearFaults();
      expect(res.status).toBe(503);
      expect(title(res.body)).toBe('Facebook is not answering right now');
      expect(await snapshot()).toBe(before);
    });
  });

  it('interpolated text is escaped (a hostile page name)', async () => {
    await withRig(
      backend,
      async ({ app, link }) => {
        const started = await openLink(app, link());
        const res = await callback(app, await answerDialog(started.location), started.cookie);
        expect(res.status).toBe(200);
        expect(res.body).not.toContain('<img');
        expect(res.body).toContain('&lt;img src=x onerror=alert(1)&gt;');
      },
      '<img src=x onerror=alert(1)>',
    );
  });
});

describe('signed links and state (pure)', () => {
  const secret = Buffer.alloc(32, 9);
  const now = Date.parse('2027-01-01T10:20:00Z');
  const config = { publicUrl: 'https://k.example.com', reconnectLinkTtlHours: 24 };

  it('reconnectUrl signs page and expiry; the expiry is rounded up to the hour so the link is stable', () => {
    const a = new URL(reconnectUrl(config, '123', now, secret));
    const b = new URL(reconnectUrl(config, '123', now + 30 * MINUTE, secret));
    expect(a.toString()).toBe(b.toString());
    expect(a.pathname).toBe('/connect/123');
    const exp = Number(a.searchParams.get('exp'));
    expect(exp * 1000).toBe(Date.parse('2027-01-02T11:00:00Z'));
    expect(a.searchParams.get('sig')).toBe(signReconnectLink('123', exp, secret));
    expect(verifyReconnectLink('123', String(exp), a.searchParams.get('sig')!, secret, now)).toBe('ok');
    expect(verifyReconnectLink('124', String(exp), a.searchParams.get('sig')!, secret, now)).toBe('invalid');
    expect(
      verifyReconnectLink('123', String(exp), a.searchParams.get('sig')!, Buffer.alloc(32, 8), now),
    ).toBe('invalid');
    expect(verifyReconnectLink('123', String(exp), a.searchParams.get('sig')!, secret, now + 2 * DAY)).toBe(
      'expired',
    );
    expect(verifyReconnectLink('123', undefined, undefined, secret, now)).toBe('invalid');
  });

  it('state round-trips, binds the page, and a link signature is not a state signature', () => {
    const linkExpiresAt = now / 1000 + 86400;
    const s = signState(
      { pageId: '123', expiresAt: now + 15 * MINUTE, linkExpiresAt, nonce: 'n'.repeat(22) },
      secret,
    );
    expect(parseState(s, secret)).toEqual({
      pageId: '123',
      expiresAt: Math.floor((now + 15 * MINUTE) / 1000) * 1000,
      linkExpiresAt,
      nonce: 'n'.repeat(22),
    });
    expect(parseState(s.replace('v2.123.', 'v2.124.'), secret)).toBeNull();
    expect(parseState(s.replace(`.${linkExpiresAt}.`, `.${linkExpiresAt + 1}.`), secret)).toBeNull();
    expect(parseState(s, Buffer.alloc(32, 8))).toBeNull();
    const [, , exp] = s.split('.');
    const linkSig = signReconnectLink('123', Number(exp), secret);
    expect(parseState(`v2.123.${exp}.${linkExpiresAt}.${'n'.repeat(22)}.${linkSig}`, secret)).toBeNull();
  });
});
