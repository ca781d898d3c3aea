/**
 * The emulator's call budget and batch requests over plain HTTP (no keeper client): 200 × daily
 * users calls per rolling hour, X-App-Usage percentages, throttling codes at 100 %, Page-token
 * calls counted against the Page, the batch format and its cost.
 */
import { createHmac } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock, HOUR, MINUTE, type ManualClock } from '../../src/clock.js';
import { connectFakeGraph, type FakeGraph, startFakeGraph } from '../../src/fake-graph/index.js';

const T0 = Date.parse('2027-01-01T00:00:00Z');
let clock: ManualClock;
let g: FakeGraph;
let app: { appId: string; appSecret: string; name: string };
let appToken: string;

beforeEach(async () => {
  clock = createManualClock(T0);
  g = await startFakeGraph({ clock });
  app = g.createApp({ name: 'Budget app' });
  appToken = `${app.appId}|${app.appSecret}`;
});
afterEach(async () => {
  await g.close();
});

const proof = (token: string) => createHmac('sha256', app.appSecret).update(token).digest('hex');

async function get(path: string, token: string, params: Record<string, string> = {}) {
  const q = new URLSearchParams({ ...params, access_token: token, appsecret_proof: proof(token) });
  const res = await fetch(`${g.url}/v26.0${path}?${q.toString()}`);
  const body = (await res.json()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const usage = res.headers.get('x-app-usage');
  return {
    status: res.status,
    body,
    headers: res.headers,
    appUsage: usage === null ? null : (JSON.parse(usage) as Record<string, number>),
  };
}

async function batch(items: unknown[], token = appToken) {
  const form = new URLSearchParams({
    access_token: token,
    appsecret_proof: proof(token),
    batch: JSON.stringify(items),
  });
  const res = await fetch(`${g.url}/v26.0/`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

function pageToken(): { pageId: string; token: string } {
  const user = g.createUser();
  const page = g.createPage();
  g.grantRole(user.id, page.id);
  const long = g.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
  // Mint through the model (no Graph call): the Page token of a long-lived user token.
  return { pageId: page.id, token: long };
}

describe('the app budget: 200 × daily users calls per rolling hour', () => {
  it('X-App-Usage reports call_count, total_time and total_cputime as percentages of 200 × users', async () => {
    g.setAppUsers(app.appId, 1); // 200 calls per hour
    const probe = g.createUser();
    const input = g.issueUserToken({ appId: app.appId, userId: probe.id, lifetime: 'long' });
    // The first call is 0.5 %: "effectively 0%", no header (Meta sends none then).
    expect((await get('/debug_token', appToken, { input_token: input })).appUsage).toBeNull();
    const second = await get('/debug_token', appToken, { input_token: input });
    expect(second.appUsage).toEqual({ call_count: 1, total_time: 1, total_cputime: 1 });
    for (let i = 0; i < 98; i++) await get('/debug_token', appToken, { input_token: input });
    expect(g.appUsage(app.appId)).toMatchObject({
      calls: 100,
      capacity: 200,
      call_count: 50,
      budgeted: true,
    });
  });

  it('at 100 % the app is throttled with #4 (app token) and its calls still count; the rolling hour frees it', async () => {
    g.setAppUsers(app.appId, 1);
    const u = g.createUser();
    const input = g.issueUserToken({ appId: app.appId, userId: u.id, lifetime: 'long' });
    for (let i = 0; i < 200; i++) {
      const r = await get('/debug_token', appToken, { input_token: input });
      expect(r.status).toBe(200);
    }
    const refused = await get('/debug_token', appToken, { input_token: input });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 4, is_transient: true });
    expect(refused.appUsage!.call_count).toBe(100);
    // The refused call counted: 201 calls in the window.
    expect(g.appUsage(app.appId).calls).toBe(201);
    clock.advance(HOUR + MINUTE);
    expect((await get('/debug_token', appToken, { input_token: input })).status).toBe(200);
  });

  it('more users, more budget: the same 200 calls are 20 % of an app with 5 users', async () => {
    g.setAppUsers(app.appId, 5);
    const u = g.createUser();
    const input = g.issueUserToken({ appId: app.appId, userId: u.id, lifetime: 'long' });
    let last = null as Record<string, number> | null;
    for (let i = 0; i < 200; i++) {
      last = (await get('/debug_token', appToken, { input_token: input })).appUsage;
    }
    expect(last).toEqual({ call_count: 20, total_time: 20, total_cputime: 20 });
  });

  it('a user token on a Pages API call at 100 % gets #32; a per-user limit gives #17; a custom limit #613', async () => {
    g.setAppUsers(app.appId, 1);
    const { pageId, token: user } = pageToken();
    for (let i = 0; i < 200; i++) await get('/me', user, { fields: 'id' });
    const page = await get(`/${pageId}`, user, { fields: 'access_token' });
    expect(page.body.error).toMatchObject({ code: 32 });
    const me = await get('/me', user, { fields: 'id' });
    expect(me.body.error).toMatchObject({ code: 4 });

    g.resetUsage();
    g.setUserLimit(app.appId, 3);
    for (let i = 0; i < 3; i++) expect((await get('/me', user, { fields: 'id' })).status).toBe(200);
    expect((await get('/me', user, { fields: 'id' })).body.error).toMatchObject({ code: 17 });

    g.resetUsage();
    g.setUserLimit(app.appId, null);
    g.setCustomLimit(app.appId, '/debug_token', 2);
    for (let i = 0; i < 2; i++) {
      expect((await get('/debug_token', appToken, { input_token: user })).status).toBe(200);
    }
    expect((await get('/debug_token', appToken, { input_token: user })).body.error).toMatchObject({
      code: 613,
    });
    // Other paths are not under the custom limit.
    expect((await get('/me', user, { fields: 'id' })).status).toBe(200);
  });

  it('Page-token calls count against the Page, not the app: /me?fields=id leaves X-App-Usage untouched', async () => {
    g.setAppUsers(app.appId, 1);
    const { pageId, token: user } = pageToken();
    const minted = await get(`/${pageId}`, user, { fields: 'access_token' });
    const pageTok = minted.body.access_token as string;
    const before = g.appUsage(app.appId).calls;
    for (let i = 0; i < 300; i++) {
      const r = await get('/me', pageTok, { fields: 'id' });
      expect(r.status).toBe(200);
      expect(r.appUsage).toBeNull();
      if (i === 299) {
        // 300 of the Page's 4800 calls per hour: 6 %.
        expect(JSON.parse(r.headers.get('x-page-usage')!)).toMatchObject({ call_count: 6 });
        expect(JSON.parse(r.headers.get('x-business-use-case-usage')!)[pageId][0]).toMatchObject({
          type: 'pages',
          call_count: 6,
        });
      }
    }
    expect(g.appUsage(app.appId).calls).toBe(before);
  });

  it('an app without daily users counts as one with 1,000: 250 calls stay near 0 % (no header), never throttled', async () => {
    const u = g.createUser();
    const input = g.issueUserToken({ appId: app.appId, userId: u.id, lifetime: 'long' });
    let last = null as Record<string, number> | null;
    for (let i = 0; i < 250; i++) {
      const r = await get('/debug_token', appToken, { input_token: input });
      expect(r.status).toBe(200);
      last = r.appUsage;
    }
    // 250 of 200 × 1,000 calls an hour: 0 %, and Meta sends no X-App-Usage while it is 0 %.
    expect(last).toBeNull();
  });

  it('the control API sets users and reads usage; bad values are a 400', async () => {
    const remote = connectFakeGraph(g.url);
    await remote.setAppUsers(app.appId, 2);
    expect(await remote.appUsage(app.appId)).toMatchObject({ capacity: 400, calls: 0, budgeted: true });
    await expect(remote.setAppUsers(app.appId, 0)).rejects.toThrow(/users/);
    await expect(remote.setAppUsers('nope', 2)).rejects.toThrow(/unknown app/);
    await remote.setAppUsers(app.appId, null);
    expect((await remote.appUsage(app.appId)).budgeted).toBe(false);
  });
});

describe('batch requests', () => {
  it('POST / with batch=[…]: one answer {code, headers, body} per item, in order; items inherit the top-level token', async () => {
    const { token: user } = pageToken();
    const r = await batch([
      { method: 'GET', relative_url: `debug_token?input_token=${encodeURIComponent(user)}` },
      { method: 'GET', relative_url: 'debug_token?input_token=not-a-token' },
      { method: 'GET', relative_url: 'me?fields=id' },
    ]);
    expect(r.status).toBe(200);
    expect(r.body).toHaveLength(3);
    expect(r.body[0].code).toBe(200);
    expect(r.body[0].headers).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'content-type' })]),
    );
    expect(JSON.parse(r.body[0].body).data).toMatchObject({ is_valid: true, type: 'USER' });
    expect(JSON.parse(r.body[1].body).data).toMatchObject({ is_valid: false });
    // /me with an app token is refused inside its own item, the others are not affected.
    expect(r.body[2].code).toBe(400);
    expect(JSON.parse(r.body[2].body).error.code).toBe(2500);
    // The record: the request and each item (marked batch).
    expect(g.countCalls('/debug_token')).toBe(2);
    expect(g.calls.filter((c) => c.batch === true)).toHaveLength(3);
  });

  it('each item counts against the budget; the batch adds one round trip of time, not a call', async () => {
    g.setAppUsers(app.appId, 1);
    const { token: user } = pageToken();
    const items = Array.from({ length: 50 }, () => ({
      method: 'GET',
      relative_url: `debug_token?input_token=${encodeURIComponent(user)}`,
    }));
    const r = await batch(items);
    expect(r.body.every((i: { code: number }) => i.code === 200)).toBe(true);
    const u = g.appUsage(app.appId);
    expect(u.calls).toBe(50);
    // 50 single calls would be 25 % of calls and 25 % of time; the batch: 25 % of calls,
    // (1 round trip + 50 items) / (2 × 200) = 12 % of time.
    expect(u.call_count).toBe(25);
    expect(u.total_time).toBe(12);
    expect(JSON.parse(r.headers.get('x-app-usage')!)).toMatchObject({ call_count: 25 });
  });

  it('items past the budget are throttled inside the batch (#4 per item)', async () => {
    g.setAppUsers(app.appId, 1);
    const { token: user } = pageToken();
    const item = { method: 'GET', relative_url: `debug_token?input_token=${encodeURIComponent(user)}` };
    for (let i = 0; i < 3; i++) await batch(Array.from({ length: 50 }, () => item));
    const r = await batch(Array.from({ length: 50 }, () => item));
    expect(r.body.filter((i: { code: number }) => i.code === 200)).toHaveLength(50);
    const over = await batch([item, item]);
    expect(over.body.map((i: { code: number }) => i.code)).toEqual([403, 403]);
    expect(JSON.parse(over.body[0].body).error.code).toBe(4);
  });

  it('more than 50 items, a missing token or a batch that is not an array: a clear #100 / #104', async () => {
    const item = { method: 'GET', relative_url: 'debug_token?input_token=x' };
    expect((await batch(Array.from({ length: 51 }, () => item))).body.error).toMatchObject({ code: 100 });
    const res = await fetch(`${g.url}/v26.0/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ batch: '[]' }).toString(),
    });
    expect(((await res.json()) as { error: { code: number } }).error.code).toBe(104);
    expect((await batch([])).body.error).toMatchObject({ code: 100 });
  });

  it('refuseInBatch: a call type Facebook does not accept in a batch answers #100 in its item', async () => {
    g.refuseInBatch('/debug_token', true);
    const r = await batch([{ method: 'GET', relative_url: 'debug_token?input_token=x' }]);
    expect(r.body[0].code).toBe(400);
    expect(JSON.parse(r.body[0].body).error).toMatchObject({ code: 100 });
  });

  it('faults apply to the items whose path they name', async () => {
    g.injectFault({ kind: 'transient_code_2', path: '/debug_token' });
    const { token: user } = pageToken();
    const r = await batch([
      { method: 'GET', relative_url: `debug_token?input_token=${encodeURIComponent(user)}` },
      { method: 'GET', relative_url: `debug_token?input_token=${encodeURIComponent(user)}` },
    ]);
    expect(r.body.map((i: { code: number }) => i.code)).toEqual([500, 200]);
  });
});
