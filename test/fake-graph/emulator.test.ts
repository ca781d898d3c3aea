/**
 * The emulator's Facebook semantics over plain HTTP (no client): response shapes, error bodies,
 * headers, version pinning, proof checking and the call record.
 */
import { createHmac } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock, DAY, HOUR, type ManualClock } from '../../src/clock.js';
import { type FakeGraph, startFakeGraph } from '../../src/fake-graph/index.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

const T0 = Date.parse('2027-01-01T00:00:00Z');
let clock: ManualClock;
let g: FakeGraph;
let app: { appId: string; appSecret: string; name: string };

beforeEach(async () => {
  clock = createManualClock(T0);
  g = await startFakeGraph({ clock });
  app = g.createApp({ name: 'Emu app' });
});
afterEach(async () => {
  await g.close();
});

const proof = (token: string, secret = app.appSecret) =>
  createHmac('sha256', secret).update(token).digest('hex');

async function get(
  path: string,
  params: Record<string, string>,
  opts: { proofFor?: string; method?: string } = {},
) {
  const q = new URLSearchParams(params);
  const token = opts.proofFor ?? params.access_token;
  if (token !== undefined && opts.proofFor !== '') q.set('appsecret_proof', proof(token));
  const res = await fetch(`${g.url}/v26.0${path}?${q.toString()}`, { method: opts.method ?? 'GET' });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    text,
    json: () => JSON.parse(text) as Json,
  };
}

function world() {
  const user = g.createUser({ name: 'Ada' });
  const page = g.createPage({ name: 'Ada’s Bakery' });
  g.grantRole(user.id, page.id);
  return { user, page, long: g.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' }) };
}

describe('fake-graph: documented shapes (docs/FACEBOOK.md#the-calls-the-keeper-makes, #sample-answers)', () => {
  it('exchange: {access_token, token_type: bearer, expires_in: 5184000}; tokens are opaque EAAfake… strings', async () => {
    const { user } = world();
    const short = g.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'short' });
    expect(short).toMatch(/^EAAfake[A-Za-z0-9]{30,}$/);
    const r = await get('/oauth/access_token', {
      grant_type: 'fb_exchange_token',
      client_id: app.appId,
      client_secret: app.appSecret,
      fb_exchange_token: short,
    });
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({
      access_token: expect.stringMatching(/^EAAfake/),
      token_type: 'bearer',
      expires_in: 5184000,
    });
    expect(r.headers.get('content-type')).toMatch(/application\/json/);
    expect(r.headers.get('facebook-api-version')).toBe('v26.0');
    // The app's first call of the hour is 0 % of its budget: no X-App-Usage (rate-limiting docs).
    expect(r.headers.get('x-app-usage')).toBeNull();
  });

  it('debug_token: full shape; PAGE tokens have profile_id and expires_at 0; data_access 90 days after issue', async () => {
    const { page, long } = world();
    const p = await get(`/${page.id}`, { fields: 'access_token,name', access_token: long });
    expect(p.json()).toEqual({
      id: page.id,
      name: 'Ada’s Bakery',
      access_token: expect.stringMatching(/^EAAfake/),
    });
    const appToken = `${app.appId}|${app.appSecret}`;
    const d = await get('/debug_token', { input_token: p.json().access_token, access_token: appToken });
    expect(d.json()).toEqual({
      data: {
        app_id: app.appId,
        type: 'PAGE',
        application: 'Emu app',
        data_access_expires_at: (T0 + 90 * DAY) / 1000,
        expires_at: 0,
        is_valid: true,
        issued_at: T0 / 1000,
        scopes: [
          'pages_show_list',
          'pages_read_engagement',
          'pages_manage_posts',
          'business_management',
          'public_profile',
        ],
        granular_scopes: [
          { scope: 'pages_show_list', target_ids: [page.id] },
          { scope: 'pages_read_engagement', target_ids: [page.id] },
          { scope: 'pages_manage_posts', target_ids: [page.id] },
          { scope: 'business_management' },
        ],
        user_id: expect.any(String),
        profile_id: page.id,
      },
    });
  });

  it('debug_token: GET only, an app token of the same app, never the token itself; unknown tokens answer inside data', async () => {
    const { long } = world();
    const appToken = `${app.appId}|${app.appSecret}`;
    const post = await get('/debug_token', { input_token: long, access_token: appToken }, { method: 'POST' });
    expect(post.json().error).toMatchObject({ code: 100, error_subcode: 33, type: 'GraphMethodException' });
    const self = await get('/debug_token', { input_token: long, access_token: long });
    expect(self.json().error).toMatchObject({
      code: 100,
      message: expect.stringMatching(/must provide an app access token/),
    });
    const other = g.createApp();
    const foreign = await get(
      '/debug_token',
      { input_token: long, access_token: `${other.appId}|${other.appSecret}` },
      { proofFor: '' },
    );
    expect(foreign.status).toBe(400);
    // Another app's token answers inside data, in Facebook's words.
    const q = new URLSearchParams({
      input_token: long,
      access_token: `${other.appId}|${other.appSecret}`,
      appsecret_proof: proof(`${other.appId}|${other.appSecret}`, other.appSecret),
    });
    const foreign2 = await fetch(`${g.url}/v26.0/debug_token?${q.toString()}`);
    expect(foreign2.status).toBe(200);
    expect(await foreign2.json()).toEqual({
      data: {
        error: { code: 190, message: 'The App_id in the input_token did not match the Viewing App' },
        is_valid: false,
        scopes: [],
      },
    });
    const unknown = await get('/debug_token', { input_token: 'EAAfakeNope', access_token: appToken });
    expect(unknown.status).toBe(200);
    expect(unknown.json()).toEqual({
      data: { error: { code: 190, message: 'Invalid OAuth access token.' }, is_valid: false, scopes: [] },
    });
  });

  it('debug_token: an app developer’s user token may call it; an app token answers type APP', async () => {
    const { user, long } = world();
    // Not a developer: Facebook's #100.
    expect((await get('/debug_token', { input_token: long, access_token: long })).json().error.code).toBe(
      100,
    );
    // https://developers.facebook.com/docs/graph-api/reference/debug_token: "an app developer's
    // user access token for the app associated with the input_token".
    g.addDeveloper(app.appId, user.id);
    const dev = g.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
    const asDev = await get('/debug_token', { input_token: long, access_token: dev });
    expect(asDev.status).toBe(200);
    expect(asDev.json().data).toMatchObject({ type: 'USER', is_valid: true, app_id: app.appId });
    const appToken = `${app.appId}|${app.appSecret}`;
    const ofApp = await get('/debug_token', { input_token: appToken, access_token: appToken });
    expect(ofApp.json()).toEqual({
      data: { app_id: app.appId, type: 'APP', application: 'Emu app', is_valid: true, scopes: [] },
    });
  });

  it('Page tasks: /me/accounts lists them; an ANALYZE-only role mints a valid Page token whose posts fail with #200', async () => {
    const user = g.createUser({ name: 'Analyst' });
    const page = g.createPage({ name: 'Watched' });
    g.grantRole(user.id, page.id, ['ANALYZE']);
    const long = g.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
    const accounts = (await get('/me/accounts', { access_token: long })).json();
    expect(accounts.data[0]).toMatchObject({ id: page.id, tasks: ['ANALYZE'] });
    const pageToken = accounts.data[0].access_token as string;
    expect(g.tokenStatus(pageToken).valid).toBe(true);
    const post = await get(
      `/${page.id}/feed`,
      { access_token: pageToken, message: 'hi' },
      { method: 'POST' },
    );
    expect(post.status).toBe(403);
    expect(post.json().error.code).toBe(200);
    // With a posting task the same post works.
    g.grantRole(user.id, page.id, ['CREATE_CONTENT']);
    const ok = await get(`/${page.id}/feed`, { access_token: pageToken, message: 'hi' }, { method: 'POST' });
    expect(ok.status).toBe(200);
  });

  it('Page picker: a Page not granted comes back without access_token; granular target_ids list the granted ones', async () => {
    const user = g.createUser({ name: 'Two pages' });
    const a = g.createPage({ name: 'A' });
    const b = g.createPage({ name: 'B' });
    g.grantRole(user.id, a.id);
    g.grantRole(user.id, b.id);
    g.selectPages(app.appId, user.id, [a.id]);
    const long = g.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
    const accounts = (await get('/me/accounts', { access_token: long })).json().data as Json[];
    expect(accounts.find((p) => p.id === a.id)?.access_token).toMatch(/^EAAfake/);
    expect(accounts.find((p) => p.id === b.id)).not.toHaveProperty('access_token');
    expect((await get(`/${b.id}`, { fields: 'access_token', access_token: long })).json()).toEqual({
      id: b.id,
    });
    const appToken = `${app.appId}|${app.appSecret}`;
    const d = (await get('/debug_token', { input_token: long, access_token: appToken })).json().data;
    expect(d.granular_scopes).toContainEqual({ scope: 'pages_manage_posts', target_ids: [a.id] });
  });

  it('data access: 90 days; after it the user is still authenticated, pages_* calls work, reading their profile does not', async () => {
    const { user, page, long } = world();
    const appToken = `${app.appId}|${app.appSecret}`;
    const d = (await get('/debug_token', { input_token: long, access_token: appToken })).json().data;
    expect(d.data_access_expires_at).toBe((T0 + 90 * DAY) / 1000);
    g.setDataAccessExpiry(app.appId, user.id, T0 + DAY);
    clock.advance(2 * DAY);
    // https://developers.facebook.com/docs/facebook-login/auth-vs-data: pages_* do not expire.
    expect((await get(`/${page.id}`, { fields: 'access_token', access_token: long })).status).toBe(200);
    expect((await get('/me', { fields: 'id', access_token: long })).status).toBe(200);
    const profile = await get('/me', { fields: 'id,name', access_token: long });
    expect(profile.status).toBe(400);
    expect(profile.json().error).toMatchObject({ code: 200, message: expect.stringMatching(/reauthorize/) });
    const later = (await get('/debug_token', { input_token: long, access_token: appToken })).json().data;
    expect(later).toMatchObject({ is_valid: true, data_access_expires_at: (T0 + DAY) / 1000 });
  });

  it('system-user tokens: X-Business-Use-Case-Usage, no X-App-Usage', async () => {
    const page = g.createPage({ name: 'SU' });
    const su = g.createSystemUser({ appId: app.appId, pages: [page.id] });
    const token = g.issueSystemUserToken({ appId: app.appId, systemUserId: su.id, expiring: true });
    const r = await get('/me/accounts', { access_token: token });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-app-usage')).toBeNull();
    expect(JSON.parse(r.headers.get('x-business-use-case-usage')!)[su.id][0]).toMatchObject({
      type: 'pages',
    });
  });

  it('/me/accounts pages 25 at a time with cursors and a paging.next URL', async () => {
    const user = g.createUser();
    for (let i = 0; i < 30; i++) g.grantRole(user.id, g.createPage({ name: `P${i}` }).id);
    const token = g.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
    const first = (await get('/me/accounts', { access_token: token })).json();
    expect(first.data).toHaveLength(25);
    expect(first.data[0]).toMatchObject({
      access_token: expect.stringMatching(/^EAAfake/),
      category: 'Brand',
      name: 'P0',
      tasks: expect.any(Array),
    });
    expect(first.paging.next).toMatch(/\/v26\.0\/me\/accounts\?.*after=/);
    const second = (
      await get('/me/accounts', { access_token: token, after: first.paging.cursors.after })
    ).json();
    expect(second.data.map((p: { name: string }) => p.name)).toEqual(['P25', 'P26', 'P27', 'P28', 'P29']);
    expect(second.paging.next).toBeUndefined();
  });

  it('error bodies: 190 with subcode and dated expiry message, fbtrace_id; missing token #104; bad token 190', async () => {
    const { user, long } = world();
    clock.advance(61 * DAY);
    const r = await get('/me', { access_token: long });
    expect(r.status).toBe(400);
    expect(r.json().error).toMatchObject({
      type: 'OAuthException',
      code: 190,
      error_subcode: 463,
      message:
        'Error validating access token: Session has expired on Tuesday, 02-Mar-27 00:00:00 UTC. The current time is Wednesday, 03-Mar-27 00:00:00 UTC.',
      fbtrace_id: expect.stringMatching(/^A/),
    });
    expect((await get('/me', {})).json().error.code).toBe(104);
    expect((await get('/me', { access_token: 'EAAfakeUnknown' })).json().error).toMatchObject({
      code: 190,
      message: 'Invalid OAuth access token - Cannot parse access token',
    });
    // Facebook echoes a malformed token in its message (the client scrubs it).
    expect((await get('/me', { access_token: 'garbage' })).json().error.message).toBe(
      'Malformed access token garbage',
    );
    const fresh = g.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'short' });
    g.removeApp(user.id, app.appId);
    expect((await get('/me', { access_token: fresh })).json().error).toMatchObject({
      code: 190,
      error_subcode: 458,
      message: `Error validating access token: User ${user.id} has not authorized application ${app.appId}.`,
    });
  });

  it('version pinning: another version or none is refused like an unknown path', async () => {
    const { long } = world();
    const res = await fetch(`${g.url}/v19.0/me?access_token=${long}&appsecret_proof=${proof(long)}`);
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatchObject({
      code: 2500,
      type: 'OAuthException',
      message: expect.stringMatching(/Unknown path components: \/v19\.0\/me/),
    });
    const none = await fetch(`${g.url}/me?access_token=${long}`);
    expect((await none.json()).error.code).toBe(2500);
    const custom = await startFakeGraph({ clock, version: 'v24.0' });
    try {
      expect((await fetch(`${custom.url}/v24.0/me`)).status).toBe(400);
      expect((await (await fetch(`${custom.url}/v24.0/me`)).json()).error.code).toBe(104);
    } finally {
      await custom.close();
    }
  });

  it('appsecret_proof on /oauth/access_token: none is the documented request; a proof must match the access_token sent', async () => {
    const { user } = world();
    const exchange = (extra: Record<string, string>) => {
      const short = g.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'short' });
      const q = new URLSearchParams({
        grant_type: 'fb_exchange_token',
        client_id: app.appId,
        client_secret: app.appSecret,
        fb_exchange_token: short,
        ...extra,
      });
      for (const [k, v] of Object.entries(extra)) if (v === 'PROOF_OF_EXCHANGED') q.set(k, proof(short));
      return fetch(`${g.url}/v26.0/oauth/access_token?${q.toString()}`);
    };
    // The documented request: client_id + client_secret, no access_token, no proof.
    expect((await exchange({})).status).toBe(200);
    expect(g.calls.at(-1)?.proof).toBe('none');
    // A proof over fb_exchange_token (no access_token sent): refused.
    const overExchanged = await exchange({ appsecret_proof: 'PROOF_OF_EXCHANGED' });
    expect(overExchanged.status).toBe(400);
    expect((await overExchanged.json()).error).toMatchObject({
      code: 100,
      type: 'GraphMethodException',
      message: 'Invalid appsecret_proof provided in the API argument',
    });
    // A proof over the access_token actually sent (what the official SDKs do): accepted.
    const caller = g.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
    expect((await exchange({ access_token: caller, appsecret_proof: proof(caller) })).status).toBe(200);
    expect(g.calls.at(-1)?.proof).toBe('valid');
    // …and one that does not match it: refused.
    const mismatch = await exchange({ access_token: caller, appsecret_proof: proof('something else') });
    expect((await mismatch.json()).error.message).toBe(
      'Invalid appsecret_proof provided in the API argument',
    );
  });

  it('appsecret_proof: required by default, refused when wrong, optional when turned off', async () => {
    const { long } = world();
    const missing = await fetch(`${g.url}/v26.0/me?access_token=${long}`);
    expect((await missing.json()).error).toMatchObject({
      code: 100,
      type: 'GraphMethodException',
      message: 'API calls from the server require an appsecret_proof argument',
    });
    const wrong = await fetch(
      `${g.url}/v26.0/me?access_token=${long}&appsecret_proof=${proof(long, 'nope')}`,
    );
    expect((await wrong.json()).error.message).toBe('Invalid appsecret_proof provided in the API argument');
    expect(g.calls.slice(-2).map((c) => c.proof)).toEqual(['missing', 'invalid']);
    const lax = await startFakeGraph({ clock, requireAppsecretProof: false });
    try {
      const a = lax.createApp();
      const u = lax.createUser({ name: 'Lax' });
      const t = lax.issueUserToken({ appId: a.appId, userId: u.id, lifetime: 'long' });
      expect(await (await fetch(`${lax.url}/v26.0/me?access_token=${t}`)).json()).toEqual({
        id: u.id,
        name: 'Lax',
      });
    } finally {
      await lax.close();
    }
  });

  it('usage headers: X-App-Usage on app calls; X-Page-Usage and X-Business-Use-Case-Usage on Page-token calls', async () => {
    const { page, long } = world();
    const pageToken = (await get(`/${page.id}`, { fields: 'access_token', access_token: long })).json()
      .access_token as string;
    const r = await get('/me', { access_token: pageToken });
    expect(r.json()).toEqual({ id: page.id, name: 'Ada’s Bakery' });
    expect(JSON.parse(r.headers.get('x-page-usage')!)).toMatchObject({ call_count: expect.any(Number) });
    expect(JSON.parse(r.headers.get('x-business-use-case-usage')!)[page.id][0]).toMatchObject({
      type: 'pages',
      estimated_time_to_regain_access: 0,
    });
    // An app of one daily user (200 calls an hour): one call is past 0 %, so the header is sent.
    g.setAppUsers(app.appId, 1);
    try {
      const u = await get('/me', { access_token: long });
      expect(u.headers.get('x-page-usage')).toBeNull();
      expect(JSON.parse(u.headers.get('x-app-usage')!)).toMatchObject({ call_count: expect.any(Number) });
    } finally {
      g.setAppUsers(app.appId, null);
    }
  });

  it('throttle faults: documented bodies with usage headers at 100', async () => {
    const { page, long } = world();
    g.injectFault({ kind: 'throttle_app' });
    const a = await get('/me', { access_token: long });
    expect(a.status).toBe(403);
    expect(a.json().error).toMatchObject({
      code: 4,
      type: 'OAuthException',
      is_transient: true,
      message: '(#4) Application request limit reached',
    });
    expect(JSON.parse(a.headers.get('x-app-usage')!).call_count).toBe(100);
    clock.advance(HOUR);
    g.injectFault({ kind: 'throttle_page' });
    const p = await get('/me', { access_token: long });
    expect(p.json().error).toMatchObject({ code: 32, type: 'OAuthException' });
    expect(JSON.parse(p.headers.get('x-page-usage')!).call_count).toBe(100);
    const pageToken = (await get(`/${page.id}`, { fields: 'access_token', access_token: long })).json()
      .access_token as string;
    g.injectFault({ kind: 'throttle_buc', regainMinutes: 19 });
    const b = await get('/me', { access_token: pageToken });
    expect(b.json().error).toMatchObject({ code: 80001, type: 'OAuthException' });
    const buc = Object.values(
      JSON.parse(b.headers.get('x-business-use-case-usage')!) as Record<string, Json[]>,
    )[0]![0];
    expect(buc).toMatchObject({ type: 'pages', call_count: 100, estimated_time_to_regain_access: 19 });
    expect(g.calls.filter((c) => c.fault !== null).map((c) => c.fault)).toEqual([
      'throttle_app',
      'throttle_page',
      'throttle_buc',
    ]);
  });

  it('a #4 block lasts while the app keeps calling; BUC codes only for Page and system-user tokens', async () => {
    const { page, long } = world();
    const pageToken = (await get(`/${page.id}`, { fields: 'access_token', access_token: long })).json()
      .access_token as string;
    g.injectFault({ kind: 'throttle_app', blockMinutes: 60 });
    expect((await get('/me', { access_token: long })).json().error.code).toBe(4);
    clock.advance(50 * 60_000);
    // Still blocked 50 minutes on, and this call pushes the end another hour out.
    expect((await get('/me', { access_token: long })).json().error.code).toBe(4);
    clock.advance(30 * 60_000);
    expect((await get('/me', { access_token: long })).json().error.code).toBe(4);
    clock.advance(61 * 60_000);
    expect((await get('/me', { access_token: long })).status).toBe(200);
    // https://developers.facebook.com/docs/graph-api/overview/rate-limiting: Platform limits for
    // app and user tokens (4, 32), BUC (80001) for Page tokens.
    const appToken = `${app.appId}|${app.appSecret}`;
    g.injectFault({ kind: 'throttle_buc' });
    expect((await get('/debug_token', { input_token: long, access_token: appToken })).json().error.code).toBe(
      4,
    );
    clock.advance(61 * 60_000);
    g.injectFault({ kind: 'throttle_buc' });
    expect((await get('/me', { access_token: long })).json().error.code).toBe(32);
    g.injectFault({ kind: 'throttle_buc' });
    expect((await get('/me', { access_token: pageToken })).json().error.code).toBe(80001);
    for (const [kind, code] of [
      ['throttle_user', 17],
      ['throttle_app_341', 341],
      ['throttle_custom_613', 613],
      ['policy_block_368', 368],
    ] as const) {
      g.injectFault({ kind });
      expect((await get('/me', { access_token: pageToken })).json().error.code).toBe(code);
    }
  });

  it('faults match a path substring, count down, and latency delays real answers', async () => {
    const { long } = world();
    g.injectFault({ path: '/debug_token', kind: 'http_500', times: 2 });
    expect((await get('/me', { access_token: long })).status).toBe(200);
    const appToken = `${app.appId}|${app.appSecret}`;
    for (let i = 0; i < 2; i++) {
      expect((await get('/debug_token', { input_token: long, access_token: appToken })).status).toBe(500);
    }
    expect((await get('/debug_token', { input_token: long, access_token: appToken })).status).toBe(200);
    expect(() => g.injectFault({ kind: 'nope' as never })).toThrow(/unknown fault kind/);
    g.setLatency(120);
    const t = performance.now();
    await get('/me', { access_token: long });
    expect(performance.now() - t).toBeGreaterThanOrEqual(110);
    g.setLatency(0);
  });

  it('calls: method, pathname, parameter names only, status, code; countCalls and resetCalls', async () => {
    const { long } = world();
    g.resetCalls();
    await get('/me', { access_token: long, fields: 'id,name' });
    await get('/me', { access_token: 'garbage' });
    expect(g.calls).toEqual([
      {
        method: 'GET',
        path: '/v26.0/me',
        params: ['access_token', 'appsecret_proof', 'fields'],
        at: T0,
        status: 200,
        fbCode: null,
        proof: 'valid',
        fault: null,
      },
      {
        method: 'GET',
        path: '/v26.0/me',
        params: ['access_token', 'appsecret_proof'],
        at: T0,
        status: 400,
        fbCode: 190,
        proof: 'none',
        fault: null,
      },
    ]);
    expect(JSON.stringify(g.calls)).not.toContain(long);
    expect(g.countCalls('/me')).toBe(2);
    expect(g.countCalls()).toBe(2);
    g.resetCalls();
    expect(g.countCalls()).toBe(0);
  });

  it('tokenStatus, invalidateToken, setPageTokensInheritExpiry and control misuse', async () => {
    const { user, page, long } = world();
    expect(g.tokenStatus(long)).toEqual({
      valid: true,
      type: 'USER',
      expiresAt: T0 + 60 * DAY,
      subcode: null,
    });
    expect(g.tokenStatus('nope')).toEqual({ valid: false, type: 'UNKNOWN', expiresAt: null, subcode: null });
    g.setPageTokensInheritExpiry(true);
    const p = (await get(`/${page.id}`, { fields: 'access_token', access_token: long })).json()
      .access_token as string;
    expect(g.tokenStatus(p)).toMatchObject({ valid: true, type: 'PAGE', expiresAt: T0 + 60 * DAY });
    g.invalidateToken(long, 464);
    expect(g.tokenStatus(p)).toMatchObject({ valid: false, subcode: 464 });
    expect(() => g.grantRole('nobody', page.id)).toThrow(/unknown user/);
    expect(() => g.issueUserToken({ appId: 'none', userId: user.id, lifetime: 'long' })).toThrow(
      /unknown app/,
    );
    expect(() => g.advanceClock(HOUR)).not.toThrow();
    expect(clock.now()).toBe(T0 + HOUR);
  });
});
