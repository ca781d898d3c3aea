/**
 * The emulator's Instagram-Login and Threads hosts over plain HTTP (no client): the documented
 * shapes and rules (exchange, the 24-hour minimum age, 60 days from a refresh, expiry is final),
 * each platform's error bodies, the Threads app id rule, the Login dialogs, faults, the control
 * API and the state file (docs/EMULATOR.md#instagram-login-and-threads).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock, DAY, HOUR, type ManualClock } from '../../src/clock.js';
import {
  connectFakeGraph,
  type FakeGraph,
  type RefreshablePlatform,
  startFakeGraph,
} from '../../src/fake-graph/index.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

const T0 = Date.parse('2027-01-01T00:00:00Z');
let clock: ManualClock;
let g: FakeGraph;

beforeEach(async () => {
  clock = createManualClock(T0);
  g = await startFakeGraph({ clock });
});
afterEach(async () => {
  await g.close();
});

const base = (p: RefreshablePlatform) => (p === 'instagram' ? g.instagramUrl : g.threadsUrl);
const grants = {
  instagram: ['ig_exchange_token', 'ig_refresh_token'],
  threads: ['th_exchange_token', 'th_refresh_token'],
};

async function call(p: RefreshablePlatform, path: string, params: Record<string, string>, method = 'GET') {
  const q = new URLSearchParams(params).toString();
  const res =
    method === 'GET'
      ? await fetch(`${base(p)}${path}?${q}`, { redirect: 'manual' })
      : await fetch(`${base(p)}${path}`, {
          method,
          body: q,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          redirect: 'manual',
        });
  const text = await res.text();
  return { status: res.status, text, headers: res.headers, json: () => JSON.parse(text) as Json };
}

function world(p: RefreshablePlatform) {
  const fb = g.createApp({ name: 'Facebook side' });
  const app = g.createPlatformApp(p, { name: 'Poster', facebookAppId: fb.appId });
  const account = g.createPlatformAccount(p, { username: 'bakery', name: 'Ada’s Bakery' });
  const token = (lifetime: 'short' | 'long', scopes?: string[]) =>
    g.issuePlatformToken(p, {
      appId: app.appId,
      accountId: account.id,
      lifetime,
      ...(scopes ? { scopes } : {}),
    });
  return { fb, app, account, token };
}

const exchange = (p: RefreshablePlatform, secret: string, token: string) =>
  call(p, '/access_token', { grant_type: grants[p][0]!, client_secret: secret, access_token: token });
const refresh = (p: RefreshablePlatform, token: string) =>
  call(p, '/refresh_access_token', { grant_type: grants[p][1]!, access_token: token });
const me = (p: RefreshablePlatform, token: string) =>
  call(p, p === 'threads' ? '/v1.0/me' : '/me', {
    fields: p === 'threads' ? 'id,username' : 'user_id,username',
    access_token: token,
  });

describe.each(['instagram', 'threads'] as const)('fake-graph %s: the token rules', (p) => {
  it('short-lived → long-lived: {access_token, token_type, expires_in: 60 days}; the short-lived one is an hour', async () => {
    const { app, account, token } = world(p);
    const short = token('short');
    expect(g.platformTokenStatus(p, short)).toMatchObject({
      valid: true,
      lifetime: 'short',
      expiresAt: T0 + HOUR,
    });
    const r = await exchange(p, app.appSecret, short);
    expect(r.status).toBe(200);
    const body = r.json();
    expect(body).toEqual({ access_token: expect.any(String), token_type: 'bearer', expires_in: 5184000 });
    expect(body.access_token).not.toBe(short);
    const m = await me(p, body.access_token as string);
    expect(m.status).toBe(200);
    expect(m.json()).toMatchObject(
      p === 'instagram'
        ? { user_id: account.id, username: 'bakery' }
        : { id: account.id, username: 'bakery' },
    );
    // A long-lived token is not exchanged again; a wrong secret is Graph's "Error validating client secret."
    expect((await exchange(p, app.appSecret, body.access_token as string)).status).toBe(400);
    const wrong = await exchange(p, 'not-the-secret', token('short'));
    expect(wrong.json().error).toMatchObject({ code: 1, message: 'Error validating client secret.' });
  });

  it('refresh: refused before 24 hours of age, then 60 days from the refresh; the token string changes by default', async () => {
    const { token } = world(p);
    const long = token('long');
    clock.advance(23 * HOUR);
    const early = await refresh(p, long);
    expect(early.status).toBe(400);
    expect(early.json().error.code).toBe(100);
    expect(early.json().error.message).toMatch(/24 hours/);
    clock.advance(HOUR);
    const r = await refresh(p, long);
    expect(r.status).toBe(200);
    const fresh = r.json();
    expect(fresh).toEqual({ access_token: expect.any(String), token_type: 'bearer', expires_in: 5184000 });
    expect(fresh.access_token).not.toBe(long);
    expect(g.platformTokenStatus(p, fresh.access_token as string)).toMatchObject({
      valid: true,
      issuedAt: T0 + DAY,
      expiresAt: T0 + DAY + 60 * DAY,
    });
    // The fresh one is itself too young to refresh.
    expect((await refresh(p, fresh.access_token as string)).status).toBe(400);
  });

  it('refresh with setRefreshChangesToken(false): the same string, 60 days from the refresh', async () => {
    const { token } = world(p);
    g.setRefreshChangesToken(p, false);
    const long = token('long');
    clock.advance(10 * DAY);
    const r = await refresh(p, long);
    expect(r.json()).toMatchObject({ access_token: long, expires_in: 5184000 });
    expect(g.platformTokenStatus(p, long)).toMatchObject({
      valid: true,
      expiresAt: T0 + 70 * DAY,
      issuedAt: T0 + 10 * DAY,
    });
  });

  it('expiry is final: after 60 days the token is refused by /me and by refresh; a short-lived token is not refreshable', async () => {
    const { token } = world(p);
    const long = token('long');
    expect((await refresh(p, token('short'))).status).toBe(400);
    clock.advance(60 * DAY);
    const m = await me(p, long);
    const r = await refresh(p, long);
    expect(m.status).toBe(400);
    expect(r.status).toBe(400);
    if (p === 'threads') {
      // Threads: a dead token is code 100 "The requested resource does not exist", not 190.
      expect(m.json().error).toMatchObject({ code: 100, message: 'The requested resource does not exist' });
      expect(r.json().error.code).toBe(100);
    } else {
      expect(m.json().error).toMatchObject({ code: 190, error_subcode: 463 });
      expect(m.json().error.message).toMatch(/Session has expired/);
    }
    expect(g.platformTokenStatus(p, long)).toMatchObject({ valid: false, reason: 'expired' });
  });

  it('refresh needs the basic permission', async () => {
    const { token } = world(p);
    const long = token('long', [
      p === 'instagram' ? 'instagram_business_content_publish' : 'threads_content_publish',
    ]);
    clock.advance(2 * DAY);
    const r = await refresh(p, long);
    expect(r.status).toBe(403);
    expect(r.json().error.code).toBe(10);
  });

  it('events: a checkpoint (190/490, "log in" on Instagram), a password change (190/460); tokens issued after work', async () => {
    const { account, token } = world(p);
    const before = token('long');
    g.platformEvent(p, account.id, 'checkpoint');
    const after = token('long');
    const m = await me(p, before);
    expect(m.json().error).toMatchObject({ code: 190, error_subcode: 490 });
    expect(m.json().error.message).toMatch(/checkpoint/);
    expect((await me(p, after)).status).toBe(200);
    g.platformEvent(p, account.id, 'password_changed');
    expect((await me(p, after)).json().error).toMatchObject({ code: 190, error_subcode: 460 });
    const other = token('long');
    g.invalidatePlatformToken(p, other);
    expect((await me(p, other)).json().error.code).toBe(p === 'threads' ? 100 : 190);
  });

  it('the Login dialog: authorize → Allow → redirect with code and state → the code redeems once for a short-lived token', async () => {
    const { app, account } = world(p);
    const scope =
      p === 'instagram' ? 'instagram_business_basic,instagram_business_content_publish' : 'threads_basic';
    const redirectUri = 'https://keeper.example/connect/callback';
    const page = await call(p, '/oauth/authorize', {
      client_id: app.appId,
      redirect_uri: redirectUri,
      scope,
      response_type: 'code',
      state: 'st4te',
    });
    expect(page.status).toBe(200);
    expect(page.text).toContain('bakery');
    const form: Record<string, string> = {
      client_id: app.appId,
      redirect_uri: redirectUri,
      state: 'st4te',
      scope,
      account_id: account.id,
      action: 'continue',
    };
    for (const s of scope.split(',')) form[`scope_${s}`] = 'on';
    const confirm = await call(p, '/oauth/authorize/confirm', form, 'POST');
    expect(confirm.status).toBe(302);
    const location = new URL(confirm.headers.get('location') ?? '');
    expect(location.hash).toBe('#_');
    expect(location.searchParams.get('state')).toBe('st4te');
    const code = location.searchParams.get('code') ?? '';
    const redeem = () =>
      call(
        p,
        '/oauth/access_token',
        {
          client_id: app.appId,
          client_secret: app.appSecret,
          grant_type: 'authorization_code',
          redirect_uri: redirectUri,
          code,
        },
        'POST',
      );
    const r = await redeem();
    expect(r.status).toBe(200);
    const short = p === 'instagram' ? r.json().data[0] : r.json();
    expect(short).toMatchObject({ access_token: expect.any(String), user_id: account.id });
    if (p === 'instagram') expect(short.permissions).toBe(scope);
    expect(g.platformTokenStatus(p, short.access_token as string)).toMatchObject({
      valid: true,
      lifetime: 'short',
    });
    const again = await redeem();
    expect(again.status).toBe(400);
    // Instagram's code endpoint answers in its own flat shape; Threads in Graph's envelope.
    if (p === 'instagram') {
      expect(again.json()).toEqual({
        error_type: 'OAuthException',
        code: 400,
        error_message: 'This authorization code has been used',
      });
    } else {
      expect(again.json().error).toMatchObject({ code: 100, error_subcode: 36009 });
    }
    const cancel = await call(p, '/oauth/authorize/confirm', { ...form, action: 'cancel' }, 'POST');
    expect(new URL(cancel.headers.get('location') ?? '').searchParams.get('error')).toBe('access_denied');
  });

  it('faults and latency apply to these hosts too; the call record has no values', async () => {
    const { token } = world(p);
    const long = token('long');
    g.injectFault({ kind: 'transient_code_2', path: `/${p}/`, times: 1 });
    const r = await me(p, long);
    expect(r.status).toBe(500);
    expect(r.json().error.code).toBe(2);
    expect((await me(p, long)).status).toBe(200);
    const rec = g.calls.filter((c) => c.path.startsWith(`/${p}/`));
    expect(rec.map((c) => c.fault)).toEqual(['transient_code_2', null]);
    expect(JSON.stringify(rec)).not.toContain(long);
  });
});

describe('fake-graph threads: the Threads app id rule', () => {
  it('a Facebook app id is refused ("No app ID was provided in the request.", 4476002); the Threads app id works', async () => {
    const { fb, app } = world('threads');
    const wrong = await call('threads', '/oauth/access_token', {
      client_id: fb.appId,
      client_secret: fb.appSecret,
      grant_type: 'client_credentials',
    });
    expect(wrong.status).toBe(400);
    expect(wrong.json().error).toMatchObject({
      code: 100,
      error_code: 4476002,
      message: 'No app ID was provided in the request.',
    });
    const page = await call('threads', '/oauth/authorize', {
      client_id: fb.appId,
      redirect_uri: 'https://keeper.example/cb',
      scope: 'threads_basic',
      response_type: 'code',
    });
    expect(page.status).toBe(400);
    expect(page.text).toContain('No app ID was provided');
    const ok = await call('threads', '/oauth/access_token', {
      client_id: app.appId,
      client_secret: app.appSecret,
      grant_type: 'client_credentials',
    });
    expect(ok.json()).toMatchObject({
      access_token: expect.stringMatching(new RegExp(`^TH\\|${app.appId}\\|`)),
      token_type: 'bearer',
    });
  });

  it('debug_token (v1.0): the documented fields, authenticated by a token of the same app', async () => {
    const { token, account } = world('threads');
    const long = token('long');
    const r = await call('threads', '/v1.0/debug_token', { input_token: long, access_token: long });
    expect(r.json().data).toMatchObject({
      type: 'USER',
      is_valid: true,
      issued_at: T0 / 1000,
      expires_at: (T0 + 60 * DAY) / 1000,
      user_id: account.id,
      scopes: ['threads_basic', 'threads_content_publish'],
    });
  });
});

describe('fake-graph: Instagram Login and Threads through the control API and the state file', () => {
  it('every operation works over HTTP', async () => {
    const remote = connectFakeGraph(g.url);
    const app = await remote.createPlatformApp('instagram', { name: 'Remote' });
    const account = await remote.createPlatformAccount('instagram', { username: 'remote' });
    const token = await remote.issuePlatformToken('instagram', {
      appId: app.appId,
      accountId: account.id,
      lifetime: 'long',
    });
    expect(await remote.platformTokenStatus('instagram', token)).toMatchObject({
      valid: true,
      lifetime: 'long',
    });
    await remote.setRefreshChangesToken('instagram', false);
    await remote.setPlatformDialogAccount('instagram', account.id);
    await remote.platformEvent('instagram', account.id, 'app_removed', app.appId);
    expect(await remote.platformTokenStatus('instagram', token)).toMatchObject({
      valid: false,
      reason: 'app_removed',
    });
    await expect(remote.platformEvent('instagram', 'nobody', 'checkpoint')).rejects.toThrow(
      /unknown instagram account/,
    );
  });

  it('the world is kept across restarts (apps, accounts, tokens, switches)', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'fg-platforms-')), 'world.json');
    const first = await startFakeGraph({ clock, stateFile: file });
    const app = first.createPlatformApp('threads');
    const account = first.createPlatformAccount('threads');
    const token = first.issuePlatformToken('threads', {
      appId: app.appId,
      accountId: account.id,
      lifetime: 'long',
    });
    first.setRefreshChangesToken('threads', false);
    await first.close();
    const second = await startFakeGraph({ clock, stateFile: file });
    try {
      expect(second.platformTokenStatus('threads', token)).toMatchObject({
        valid: true,
        expiresAt: T0 + 60 * DAY,
      });
      clock.advance(2 * DAY);
      const r = await fetch(
        `${second.threadsUrl}/refresh_access_token?grant_type=th_refresh_token&access_token=${token}`,
      );
      expect(((await r.json()) as Json).access_token).toBe(token);
    } finally {
      await second.close();
    }
  });
});
