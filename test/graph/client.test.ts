/**
 * The Graph client against the emulator over real HTTP: every method, every error kind (faults)
 * and every needs_reauth subcode (invalidation events), usage headers, timeouts, paging,
 * appsecret_proof, and Facebook's token lifetimes on a manual clock.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createManualClock, DAY, HOUR, MINUTE } from '../../src/clock.js';
import type { FaultKind } from '../../src/fake-graph/index.js';
import { appsecretProof, createGraphClient } from '../../src/graph/client.js';
import { graphError, REFERENCE_TIME, withGraph } from './world.js';

const SIXTY_DAYS = 60 * DAY;

describe('graph client: success paths', () => {
  it('debug_token: the documented shape for USER, PAGE, SYSTEM_USER tokens', async () => {
    await withGraph(async ({ graph, client, app, newPage, clock }) => {
      const { userId, pageId } = newPage('Bakery');
      const long = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
      const u = await client.debugToken(long, app);
      expect(u).toMatchObject({
        isValid: true,
        type: 'USER',
        appId: app.appId,
        application: 'Test app',
        expiresAt: REFERENCE_TIME + SIXTY_DAYS,
        dataAccessExpiresAt: REFERENCE_TIME + 90 * DAY,
        issuedAt: REFERENCE_TIME,
        userId,
        profileId: null,
        error: null,
      });
      expect(u.scopes).toEqual(
        expect.arrayContaining([
          'pages_show_list',
          'pages_manage_posts',
          'pages_read_engagement',
          'business_management',
        ]),
      );
      expect(u.granularScopes).toContainEqual({ scope: 'pages_show_list', targetIds: [pageId] });

      const short = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'short' });
      // docs/FACEBOOK.md#short-lived-and-long-lived-user-tokens: issued_at only for long-lived tokens.
      expect(await client.debugToken(short, app)).toMatchObject({
        type: 'USER',
        issuedAt: null,
        expiresAt: clock.now() + HOUR,
      });

      const page = await client.getPageToken(pageId, long, app);
      expect(page).toMatchObject({ id: pageId, name: 'Bakery' });
      expect(page.accessToken).toMatch(/^EAAfake/);
      // docs/FACEBOOK.md#page-tokens: from a long-lived user token the Page token never expires (expires_at 0 → null).
      expect(await client.debugToken(page.accessToken, app)).toMatchObject({
        isValid: true,
        type: 'PAGE',
        profileId: pageId,
        userId,
        expiresAt: null,
      });

      const su = graph.createSystemUser({ appId: app.appId, pages: [pageId] });
      const suToken = graph.issueSystemUserToken({ appId: app.appId, systemUserId: su.id });
      expect(await client.debugToken(suToken, app)).toMatchObject({
        isValid: true,
        type: 'SYSTEM_USER',
        expiresAt: null,
        userId: su.id,
        dataAccessExpiresAt: null,
      });
    });
  });

  it('debug_token: an invalid token is a normal result with the error inside data, not an exception', async () => {
    await withGraph(async ({ graph, client, app, newPage }) => {
      const { userId } = newPage();
      const t = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
      graph.changePassword(userId);
      const d = await client.debugToken(t, app);
      expect(d).toMatchObject({
        isValid: false,
        type: 'USER',
        appId: app.appId,
        error: { code: 190, subcode: 460 },
      });
      expect(d.error?.message).toMatch(/changed their password/);
      // An unknown token: the minimal invalid form.
      expect(await client.debugToken('EAAfakeUnknownUnknownUnknown', app)).toMatchObject({
        isValid: false,
        type: 'UNKNOWN',
        appId: null,
        scopes: [],
        error: { code: 190, subcode: null },
      });
    });
  });

  it('me, listPageAccounts, postToFeed, getPageToken with a Page token', async () => {
    await withGraph(async ({ graph, client, app, newPage }) => {
      const { userId, pageId } = newPage('Cafe');
      const long = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
      expect(await client.me(long, app)).toEqual({ id: userId, name: 'Admin' });
      const accounts = await client.listPageAccounts(long, app);
      expect(accounts).toHaveLength(1);
      expect(accounts[0]).toMatchObject({
        id: pageId,
        name: 'Cafe',
        tasks: expect.arrayContaining(['CREATE_CONTENT', 'MANAGE']),
      });
      const pageToken = accounts[0]!.accessToken!;
      // docs/FACEBOOK.md#who-a-token-belongs-to-me: with a Page token, /me is the Page.
      expect(await client.me(pageToken, app)).toEqual({ id: pageId, name: 'Cafe' });
      const post = await client.postToFeed(pageId, pageToken, 'Hello', app);
      expect(post.id).toMatch(new RegExp(`^${pageId}_\\d+$`));
      expect(graph.posts(pageId).map((p) => p.message)).toEqual(['Hello']);
      // A Page token asked for its own Page's token answers with itself.
      expect((await client.getPageToken(pageId, pageToken, app)).accessToken).toBe(pageToken);
      expect(graph.calls.at(-1)?.params ?? []).toContain('appsecret_proof');
    });
  });

  it('listPageAccounts follows the cursors through more than 25 Pages (60 → 3 requests)', async () => {
    await withGraph(async ({ graph, client, app, calls }) => {
      const user = graph.createUser({ name: 'Agency' });
      const ids: string[] = [];
      for (let i = 0; i < 60; i++) {
        const p = graph.createPage({ name: `Page ${i}` });
        graph.grantRole(user.id, p.id);
        ids.push(p.id);
      }
      const token = graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
      const accounts = await client.listPageAccounts(token, app);
      expect(accounts.map((a) => a.id)).toEqual(ids);
      expect(new Set(accounts.map((a) => a.accessToken)).size).toBe(60);
      expect(calls.filter((c) => c.endpoint === 'me/accounts')).toHaveLength(3);
      expect(
        graph.calls.filter((c) => c.path.endsWith('/me/accounts')).map((c) => c.params.includes('after')),
      ).toEqual([false, true, true]);
    });
  });

  it('listPageAccounts stops at its page bound', async () => {
    await withGraph(async ({ graph, app, client2 }) => {
      const user = graph.createUser();
      for (let i = 0; i < 60; i++) graph.grantRole(user.id, graph.createPage().id);
      const token = graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
      const e = await graphError(client2({ maxAccountPages: 2 }).listPageAccounts(token, app));
      expect(e).toMatchObject({ kind: 'transient', code: 'graph_bad_response' });
      expect(e.message).toMatch(/did not end after 2 pages/);
    });
  });

  it('onCall reports endpoint, duration, outcome, code and kind; usage headers are parsed on every response', async () => {
    await withGraph(async ({ graph, client, app, newPage, calls }) => {
      const { userId, pageId } = newPage();
      const long = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
      await client.debugToken(long, app);
      expect(calls.at(-1)).toMatchObject({ endpoint: 'debug_token', ok: true, fbCode: null, kind: null });
      expect(calls.at(-1)!.durationMs).toBeGreaterThanOrEqual(0);
      // No X-App-Usage at 0 % (Meta sends none while utilization "is effectively 0%").
      expect(client.usage.app).toBeUndefined();
      expect(client.usage.page).toBeUndefined();
      const page = await client.getPageToken(pageId, long, app);
      await client.me(page.accessToken, app);
      expect(client.usage.page).toBeDefined();
      expect(client.usage.business?.[pageId]?.[0]).toMatchObject({
        type: 'pages',
        estimated_time_to_regain_access: 0,
      });
      expect(client.usage.maxPercent).toBeLessThan(100);
      expect(client.usage.retryAfterMs).toBeNull();

      graph.injectFault({ kind: 'throttle_buc', regainMinutes: 7 });
      const e = await graphError(client.me(page.accessToken, app));
      expect(calls.at(-1)).toMatchObject({ endpoint: 'me', ok: false, fbCode: 80001, kind: 'throttled' });
      expect(e.retryAfterMs).toBe(7 * MINUTE);
      expect(client.usage).toMatchObject({ maxPercent: 100, retryAfterMs: 7 * MINUTE });
    });
  });
});

describe('graph client: exchange rules (docs/FACEBOOK.md#exchanging-for-a-long-lived-token, #re-exchanging-does-not-extend, #system-user-tokens)', () => {
  it('short-lived → long-lived (60 days); re-exchange keeps the expiry (documented default) or extends it (the undocumented-world switch)', async () => {
    await withGraph(async ({ graph, client, app, newPage, clock }) => {
      const { userId } = newPage();
      const short = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'short' });
      const long = await client.exchangeToken(short, app);
      expect(long).toMatchObject({ expiresIn: 5184000, expiresAt: REFERENCE_TIME + SIXTY_DAYS });
      expect(long.accessToken).not.toBe(short);

      clock.advance(10 * DAY);
      const again = await client.exchangeToken(long.accessToken, app);
      expect(again.accessToken).not.toBe(long.accessToken);
      expect(again.expiresAt).toBe(REFERENCE_TIME + SIXTY_DAYS);
      expect(again.expiresIn).toBe(50 * 86400);
      expect((await client.debugToken(again.accessToken, app)).expiresAt).toBe(REFERENCE_TIME + SIXTY_DAYS);

      graph.setExchangeExtends(true);
      const extended = await client.exchangeToken(again.accessToken, app);
      expect(extended.expiresAt).toBe(clock.now() + SIXTY_DAYS);
      expect((await client.debugToken(extended.accessToken, app)).expiresAt).toBe(clock.now() + SIXTY_DAYS);
    });
  });

  it('an expired token cannot be exchanged (190/463); a Page token cannot be exchanged (#100)', async () => {
    await withGraph(async ({ graph, client, app, newPage, clock }) => {
      const { userId, pageId } = newPage();
      const short = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'short' });
      clock.advance(HOUR + MINUTE);
      const e = await graphError(client.exchangeToken(short, app));
      expect(e).toMatchObject({
        kind: 'needs_reauth',
        code: 'graph_token_invalid',
        fbCode: 190,
        fbSubcode: 463,
      });
      expect(e.message).toMatch(/Session has expired on/);
      expect(e.humanMessage).toMatch(/expired/);

      const long = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
      const page = await client.getPageToken(pageId, long, app);
      const p = await graphError(client.exchangeToken(page.accessToken, app));
      expect(p).toMatchObject({ kind: 'invalid_request', fbCode: 100 });
    });
  });

  it('system-user tokens: never-expiring; 60-day ones refresh with set_token_expires_in_60_days; their Page tokens never expire', async () => {
    await withGraph(async ({ graph, client, app, newPage, clock }) => {
      const { pageId } = newPage();
      const su = graph.createSystemUser({ appId: app.appId, pages: [pageId] });
      const forever = graph.issueSystemUserToken({ appId: app.appId, systemUserId: su.id });
      const expiring = graph.issueSystemUserToken({ appId: app.appId, systemUserId: su.id, expiring: true });
      expect((await client.debugToken(expiring, app)).expiresAt).toBe(REFERENCE_TIME + SIXTY_DAYS);

      clock.advance(30 * DAY);
      const refreshed = await client.exchangeToken(expiring, app, { systemUser60Days: true });
      expect(refreshed.expiresAt).toBe(clock.now() + SIXTY_DAYS);
      expect(graph.calls.at(-1)?.params).toContain('set_token_expires_in_60_days');
      // Without the flag an expiring system-user token is refused.
      expect((await graphError(client.exchangeToken(expiring, app))).fbCode).toBe(100);

      const page = await client.getPageToken(pageId, forever, app);
      expect(await client.debugToken(page.accessToken, app)).toMatchObject({
        type: 'PAGE',
        expiresAt: null,
        isValid: true,
      });
      const fromExpiring = await client.getPageToken(pageId, expiring, app);
      clock.advance(400 * DAY);
      expect(await client.debugToken(forever, app)).toMatchObject({ isValid: true, expiresAt: null });
      expect(await client.debugToken(fromExpiring.accessToken, app)).toMatchObject({
        isValid: true,
        expiresAt: null,
      });
      expect((await client.debugToken(expiring, app)).isValid).toBe(false);
      // docs/FACEBOOK.md#system-user-tokens: survives changes in personal accounts.
      expect((await client.listPageAccounts(forever, app)).map((a) => a.id)).toEqual([pageId]);
    });
  });

  it('a Page token minted from a short-lived user token dies with it; from the long-lived one it does not', async () => {
    await withGraph(async ({ graph, client, app, newPage, clock }) => {
      const { userId, pageId } = newPage();
      const short = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'short' });
      const fromShort = await client.getPageToken(pageId, short, app);
      expect((await client.debugToken(fromShort.accessToken, app)).expiresAt).toBe(REFERENCE_TIME + HOUR);
      const long = await client.exchangeToken(short, app);
      const fromLong = await client.getPageToken(pageId, long.accessToken, app);

      clock.advance(HOUR);
      const e = await graphError(client.postToFeed(pageId, fromShort.accessToken, 'late', app));
      expect(e).toMatchObject({ kind: 'needs_reauth', fbSubcode: 463 });
      expect(graph.tokenStatus(fromShort.accessToken)).toMatchObject({ valid: false, subcode: 463 });
      expect(graph.tokenStatus(fromLong.accessToken).valid).toBe(true);
      clock.advance(365 * DAY);
      expect((await client.postToFeed(pageId, fromLong.accessToken, 'a year on', app)).id).toMatch(/_/);
    });
  });

  it('exchangeCode and exchangeToken accept legacy and expiry-less bodies (docs/FACEBOOK.md#exchanging-for-a-long-lived-token) from a real server', async () => {
    const bodies = [
      {
        type: 'application/json',
        body: '{"access_token":"EAAnew1","token_type":"bearer","expires":5182959}',
      },
      { type: 'text/plain', body: 'access_token=EAAnew2&expires=5182959' },
      { type: 'application/json', body: '{"access_token":"EAAnew3","token_type":"bearer"}' },
      {
        type: 'application/json',
        body: '{"access_token":"EAAnew4","token_type":"bearer","expires_in":"3600"}',
      },
    ];
    let i = 0;
    const server: Server = createServer((_req, res) => {
      const b = bodies[i++ % bodies.length]!;
      res.writeHead(200, { 'content-type': b.type });
      res.end(b.body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const clock = createManualClock(REFERENCE_TIME);
      const client = createGraphClient({
        baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        version: 'v26.0',
        clock,
      });
      const app = { appId: '1', appSecret: 's' };
      expect(await client.exchangeToken('EAAold', app)).toEqual({
        accessToken: 'EAAnew1',
        expiresIn: 5182959,
        expiresAt: REFERENCE_TIME + 5182959000,
      });
      expect(await client.exchangeToken('EAAold', app)).toEqual({
        accessToken: 'EAAnew2',
        expiresIn: 5182959,
        expiresAt: REFERENCE_TIME + 5182959000,
      });
      expect(await client.exchangeToken('EAAold', app)).toEqual({
        accessToken: 'EAAnew3',
        expiresIn: null,
        expiresAt: null,
      });
      expect(await client.exchangeCode('AQcode', 'https://x/cb', app)).toMatchObject({
        accessToken: 'EAAnew4',
        expiresAt: REFERENCE_TIME + HOUR,
      });
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('graph client: error kinds from faults', () => {
  const FAULTS: [FaultKind, { kind: string; code: string; fbCode: number | null; message: RegExp }][] = [
    [
      'http_500',
      { kind: 'transient', code: 'graph_unavailable', fbCode: null, message: /HTTP 500 and no body/ },
    ],
    [
      'transient_code_1',
      { kind: 'transient', code: 'graph_unavailable', fbCode: 1, message: /unknown error/ },
    ],
    [
      'transient_code_2',
      { kind: 'transient', code: 'graph_unavailable', fbCode: 2, message: /retry your request later/ },
    ],
    ['is_transient', { kind: 'transient', code: 'graph_unavailable', fbCode: 1200, message: /HTTP 401/ }],
    [
      'html',
      {
        kind: 'transient',
        code: 'graph_bad_response',
        fbCode: null,
        message: /an HTML page instead of JSON/,
      },
    ],
    ['malformed_json', { kind: 'transient', code: 'graph_bad_response', fbCode: null, message: /not JSON/ }],
    [
      'wrong_shape',
      {
        kind: 'transient',
        code: 'graph_bad_response',
        fbCode: null,
        message: /unexpected shape \(missing or invalid: data\)/,
      },
    ],
    [
      'throttle_app',
      { kind: 'throttled', code: 'graph_rate_limited', fbCode: 4, message: /Application request limit/ },
    ],
    [
      'throttle_page',
      { kind: 'throttled', code: 'graph_rate_limited', fbCode: 32, message: /Page request limit/ },
    ],
    // debug_token is an app-token call: Platform limits, so a BUC fault answers #4, never 80001.
    [
      'throttle_buc',
      { kind: 'throttled', code: 'graph_rate_limited', fbCode: 4, message: /Application request limit/ },
    ],
    ['throttle_user', { kind: 'throttled', code: 'graph_rate_limited', fbCode: 17, message: /User request/ }],
    [
      'throttle_app_341',
      { kind: 'throttled', code: 'graph_rate_limited', fbCode: 341, message: /Application limit/ },
    ],
    [
      'throttle_custom_613',
      { kind: 'throttled', code: 'graph_rate_limited', fbCode: 613, message: /exceeded the rate limit/ },
    ],
    [
      'policy_block_368',
      { kind: 'throttled', code: 'graph_rate_limited', fbCode: 368, message: /temporarily blocked/ },
    ],
  ];
  it.each(FAULTS)('%s', async (kind, expected) => {
    await withGraph(async ({ graph, client, app, newPage, calls, clock }) => {
      const { userId } = newPage();
      const t = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
      graph.injectFault({ path: '/debug_token', kind });
      const e = await graphError(client.debugToken(t, app));
      expect(e).toMatchObject({
        kind: expected.kind,
        code: expected.code,
        fbCode: expected.fbCode,
        endpoint: 'debug_token',
      });
      expect(e.message).toMatch(expected.message);
      expect(calls.at(-1)).toMatchObject({ ok: false, kind: expected.kind, fbCode: expected.fbCode });
      // The fault was used up: the next call works (an app block #4 once its hour has passed).
      if (expected.fbCode === 4) clock.advance(HOUR);
      expect((await client.debugToken(t, app)).isValid).toBe(true);
    });
  });

  it('throttled waits come from the emulator’s usage headers: 1 h app, 5 min Page, BUC minutes', async () => {
    await withGraph(async ({ graph, client, app, newPage, clock }) => {
      const { pageId, userId } = newPage();
      const t = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
      const pageToken = (await client.getPageToken(pageId, t, app)).accessToken;
      const wait = async (kind: FaultKind, extra: { regainMinutes?: number } = {}, token = t) => {
        graph.injectFault({ kind, ...extra });
        return (await graphError(client.me(token, app))).retryAfterMs;
      };
      expect(await wait('throttle_app')).toBe(HOUR);
      clock.advance(HOUR);
      expect(await wait('throttle_page')).toBe(5 * MINUTE);
      // BUC limits apply to Page (and system-user) tokens.
      expect(await wait('throttle_buc', {}, pageToken)).toBe(15 * MINUTE);
      expect(await wait('throttle_buc', { regainMinutes: 42 }, pageToken)).toBe(42 * MINUTE);
    });
  });

  it('timeout: the emulator holds the request; the client gives up after timeoutMs', async () => {
    await withGraph(
      async ({ graph, client, app, newPage, calls }) => {
        const { userId } = newPage();
        const t = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
        graph.injectFault({ path: '/me', kind: 'timeout' });
        const started = performance.now();
        const e = await graphError(client.me(t, app));
        const took = performance.now() - started;
        expect(e).toMatchObject({ kind: 'transient', code: 'graph_unavailable', fbCode: null });
        expect(e.message).toBe(
          `Facebook me did not answer within 250 ms (${graph.url}/v26.0/me; GRAPH_API_URL=${graph.url})`,
        );
        expect(took).toBeGreaterThanOrEqual(240);
        expect(took).toBeLessThan(1000);
        expect(calls.at(-1)).toMatchObject({ ok: false, kind: 'transient' });
        expect(await client.me(t, app)).toMatchObject({ id: userId });
      },
      { client: { timeoutMs: 250 } },
    );
  });

  it('network error: nothing listening is transient graph_unavailable with a safe cause', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    await new Promise((r) => server.close(r));
    const client = createGraphClient({
      baseUrl: `http://127.0.0.1:${port}`,
      version: 'v26.0',
      clock: createManualClock(REFERENCE_TIME),
    });
    const e = await graphError(
      client.me('EAAfakeNobodyListensNobodyListens', { appId: '1', appSecret: 'secret-secret' }),
    );
    expect(e).toMatchObject({ kind: 'transient', code: 'graph_unavailable' });
    // The URL it tried (never the query, which carries the token) and the setting it came from.
    expect(e.message).toBe(
      `could not reach Facebook for me at http://127.0.0.1:${port}/v26.0/me (network error): check GRAPH_API_URL (now http://127.0.0.1:${port}) and the network`,
    );
    expect((e.cause as Error).message).toMatch(/ECONNREFUSED/);
  });

  it('probability faults hit only some calls; Infinity keeps hitting', async () => {
    await withGraph(
      async ({ graph, client, app, newPage }) => {
        const { userId } = newPage();
        const t = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
        graph.injectFault({ kind: 'transient_code_2', times: Number.POSITIVE_INFINITY, probability: 0.5 });
        const outcomes: boolean[] = [];
        for (let i = 0; i < 6; i++) {
          outcomes.push(
            await client.me(t, app).then(
              () => true,
              () => false,
            ),
          );
        }
        expect(outcomes).toEqual([false, true, false, true, false, true]);
        graph.clearFaults();
        expect(await client.me(t, app)).toMatchObject({ id: userId });
      },
      // Alternating randomness: 0.1 (hit), 0.9 (miss), …
      {
        emulator: {
          random: (() => {
            let n = 0;
            return () => (n++ % 2 === 0 ? 0.1 : 0.9);
          })(),
        },
      },
    );
  });
});

describe('graph client: needs_reauth per subcode from invalidation events', () => {
  type Setup = (
    w: Parameters<Parameters<typeof withGraph>[0]>[0],
    ctx: { userId: string; pageId: string; user: string; page: string },
  ) => void;
  // 463: a Page token minted from a short-lived user token expires with it (the others are long-lived).
  const EVENTS: [string, number, Setup, RegExp, 'short' | 'long'][] = [
    [
      'app removed by the user',
      458,
      (w, c) => w.graph.removeApp(c.userId, w.app.appId),
      /removed this app/,
      'long',
    ],
    [
      'checkpoint',
      459,
      (w, c) => w.graph.checkpoint(c.userId),
      /log in to facebook\.com and complete the security check/,
      'long',
    ],
    [
      'password changed',
      460,
      (w, c) => w.graph.changePassword(c.userId),
      /changed their Facebook password/,
      'long',
    ],
    ['expired', 463, (w) => w.clock.advance(HOUR), /expired/, 'short'],
    ['unconfirmed user', 464, (w, c) => w.graph.invalidateToken(c.user, 464), /not confirmed/, 'long'],
    ['logged out', 467, (w, c) => w.graph.logout(c.userId), /logged out/, 'long'],
    [
      'role on the Page removed',
      492,
      (w, c) => w.graph.removeRole(c.userId, c.pageId),
      /no longer has a role on the Page/,
      'long',
    ],
    [
      'ninety days without using the app',
      493,
      (w, c) => w.graph.inactive90Days(c.userId),
      /has not used the app for 90 days/,
      'long',
    ],
  ];
  it.each(EVENTS)('%s → 190/%i with its human message', async (_name, subcode, setup, human, lifetime) => {
    await withGraph(async (w) => {
      const { userId, pageId } = w.newPage();
      const user = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime });
      const page = (await w.client.getPageToken(pageId, user, w.app)).accessToken;
      setup(w, { userId, pageId, user, page });
      // The Page token fails with the subcode (posting), and debug_token says why inside data.
      const e = await graphError(w.client.postToFeed(pageId, page, 'hello', w.app));
      expect(e).toMatchObject({
        kind: 'needs_reauth',
        code: 'graph_token_invalid',
        fbCode: 190,
        fbSubcode: subcode,
      });
      expect(e.fbtraceId).toMatch(/^A/);
      expect(e.humanMessage).toMatch(human);
      expect(await w.client.debugToken(page, w.app)).toMatchObject({
        isValid: false,
        error: { code: 190, subcode },
      });
      expect(w.graph.tokenStatus(page)).toMatchObject({ valid: false, subcode });
    });
  });

  it('events apply to tokens issued before them; a new login works again', async () => {
    await withGraph(async ({ graph, client, app, newPage }) => {
      const { userId, pageId } = newPage();
      const old = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
      graph.changePassword(userId);
      const fresh = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
      expect((await graphError(client.me(old, app))).fbSubcode).toBe(460);
      expect(await client.me(fresh, app)).toMatchObject({ id: userId });
      // Role removed then granted again: old Page tokens stay dead, new ones work.
      const p1 = (await client.getPageToken(pageId, fresh, app)).accessToken;
      graph.removeRole(userId, pageId);
      expect((await graphError(client.getPageToken(pageId, fresh, app))).kind).toBe('invalid_request');
      graph.grantRole(userId, pageId);
      const p2 = (await client.getPageToken(pageId, fresh, app)).accessToken;
      expect(graph.tokenStatus(p1)).toMatchObject({ valid: false, subcode: 492 });
      expect(graph.tokenStatus(p2).valid).toBe(true);
      // Removing another app leaves this app's tokens alone.
      const other = graph.createApp();
      graph.removeApp(userId, other.appId);
      expect(graph.tokenStatus(p2).valid).toBe(true);
    });
  });
});

describe('graph client: appsecret_proof, version, permissions', () => {
  it('every call with an access_token carries a valid appsecret_proof over it; the exchange sends neither (the emulator verifies)', async () => {
    await withGraph(async ({ graph, client, app, newPage }) => {
      const { userId, pageId } = newPage();
      const short = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'short' });
      const long = await client.exchangeToken(short, app);
      const page = await client.getPageToken(pageId, long.accessToken, app);
      await client.debugToken(page.accessToken, app);
      await client.listPageAccounts(long.accessToken, app);
      await client.me(page.accessToken, app);
      await client.postToFeed(pageId, page.accessToken, 'proof', app);
      expect(graph.calls.map((c) => `${c.path.replace(/\d{6,}/g, '{id}')} ${c.proof}`)).toEqual([
        // The exchange sends no access_token, so no proof: the documented request
        // (https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived).
        '/v26.0/oauth/access_token none',
        '/v26.0/{id} valid',
        '/v26.0/debug_token valid',
        '/v26.0/me/accounts valid',
        '/v26.0/me valid',
        '/v26.0/{id}/feed valid',
      ]);
      expect(graph.calls.every((c) => c.status === 200)).toBe(true);
      // The proof is hex HMAC-SHA256(app secret, token): the published test vectors [K6][K4].
      expect(appsecretProof('abc123', 'xyz789')).toBe(
        '4dad02ff1693df832f9c183fe400fc4f601360be06514acb4a73edb783eec345',
      );
      expect(appsecretProof('123|foo_secret', 'foo_secret')).toBe(
        'de753c58fd58b03afca2340bbaeb4ecf987b5de4c09e39a63c944dd25efbc234',
      );
    });
  });

  it('a wrong proof (wrong app secret) is refused with #100 Invalid appsecret_proof; a missing one too', async () => {
    await withGraph(async ({ graph, client, app, newPage }) => {
      const { userId, pageId } = newPage();
      const long = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
      const wrong = { appId: app.appId, appSecret: 'f'.repeat(32) };
      const e = await graphError(client.getPageToken(pageId, long, wrong));
      // Facebook's words become a stable code and a sentence naming the credential to check.
      expect(e).toMatchObject({
        kind: 'invalid_request',
        code: 'app_credentials_invalid',
        fbCode: 100,
        fbType: 'GraphMethodException',
      });
      expect(e.message).toMatch(/check that the app secret is the one the App Dashboard shows/);
      expect(e.message).not.toMatch(/Invalid appsecret_proof/);
      expect(graph.calls.at(-1)?.proof).toBe('invalid');
      // debug_token with a wrong app secret: the proof fails first.
      expect(await graphError(client.debugToken(long, wrong))).toMatchObject({
        code: 'app_credentials_invalid',
      });
      // Exchange with a wrong secret: Facebook's "Error validating client secret." (code 1) is permanent.
      expect(await graphError(client.exchangeToken(long, wrong))).toMatchObject({
        kind: 'invalid_request',
        code: 'app_credentials_invalid',
        fbCode: 1,
      });
      // A wrong app id: "Invalid OAuth access token signature." on debug_token, #101 on the exchange.
      const noApp = { appId: '999999999', appSecret: app.appSecret };
      const sig = await graphError(client.debugToken(long, noApp));
      expect(sig).toMatchObject({ code: 'app_credentials_invalid', kind: 'invalid_request' });
      expect(sig.message).toMatch(/check the app id and the app secret/);
      expect(await graphError(client.exchangeToken(long, noApp))).toMatchObject({
        code: 'app_credentials_invalid',
        fbCode: 101,
      });

      const res = await fetch(`${graph.url}/v26.0/me?access_token=${encodeURIComponent(long)}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toBe(
        'API calls from the server require an appsecret_proof argument',
      );
    });
  });

  it('the version is pinned: a client on another version gets the emulator’s unknown-version error', async () => {
    await withGraph(async ({ graph, app, newPage, client2 }) => {
      const { userId } = newPage();
      const t = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
      const e = await graphError(client2({ version: 'v99.0' }).me(t, app));
      expect(e).toMatchObject({ kind: 'invalid_request', fbCode: 2500 });
      expect(e.message).toMatch(/Unknown path components: \/v99\.0\/me/);
    });
  });

  it('permission: posting without pages_manage_posts, or with a user token, is #200; a Page without a role is #100', async () => {
    await withGraph(async ({ graph, client, app, newPage }) => {
      const { userId, pageId } = newPage();
      const narrow = graph.issueUserToken({
        appId: app.appId,
        userId,
        lifetime: 'long',
        scopes: ['pages_show_list', 'pages_read_engagement'],
      });
      const page = await client.getPageToken(pageId, narrow, app);
      const e = await graphError(client.postToFeed(pageId, page.accessToken, 'x', app));
      expect(e).toMatchObject({ kind: 'permission', code: 'graph_permission_denied', fbCode: 200 });
      const userToken = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
      expect((await graphError(client.postToFeed(pageId, userToken, 'x', app))).fbCode).toBe(200);
      const stranger = graph.createUser();
      const strangerToken = graph.issueUserToken({ appId: app.appId, userId: stranger.id, lifetime: 'long' });
      expect(await graphError(client.getPageToken(pageId, strangerToken, app))).toMatchObject({
        kind: 'invalid_request',
        fbCode: 100,
        fbSubcode: 33,
      });
      expect(await client.listPageAccounts(strangerToken, app)).toEqual([]);
      // docs/FACEBOOK.md#what-this-means-for-a-token-keeper: a Page token on /me/accounts is an error.
      expect((await graphError(client.listPageAccounts(page.accessToken, app))).message).toMatch(
        /nonexisting field \(accounts\)/,
      );
      // docs/FACEBOOK.md#posting: the same message twice in a row is a duplicate (506).
      const full = await client.getPageToken(pageId, userToken, app);
      await client.postToFeed(pageId, full.accessToken, 'same', app);
      expect((await graphError(client.postToFeed(pageId, full.accessToken, 'same', app))).fbCode).toBe(506);
    });
  });
});
