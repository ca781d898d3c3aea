/**
 * The Instagram-Login and Threads providers against the emulator over real HTTP, on a manual
 * clock: set-up (exchange, expiry from expires_in), inspect, refresh (never before 24 hours,
 * verified, whatever string comes back), the final expiry, each platform's errors, the Threads
 * app id rule, and reconnect through the platform's own dialog.
 */
import { describe, expect, it } from 'vitest';
import { DAY, HOUR } from '../../src/clock.js';
import { AppError } from '../../src/errors.js';
import { GraphError } from '../../src/graph/errors.js';
import type { RefreshedToken } from '../../src/platforms/refreshable-provider.js';
import { REFERENCE_TIME as T0, type PlatformWorld, withPlatform } from './world.js';

async function thrown(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

const kindOf = (e: AppError) => (e instanceof GraphError ? e.kind : null);

/** Walk the platform's Login dialog as a person would (Allow), and return the code. */
async function dialogCode(w: PlatformWorld, redirectUri: string, state: string): Promise<string> {
  const url = new URL(w.provider.loginUrl({ appId: w.app.appId, redirectUri, state }));
  const page = await fetch(url);
  expect(page.status).toBe(200);
  const form = new URLSearchParams({
    client_id: w.app.appId,
    redirect_uri: redirectUri,
    state,
    scope: url.searchParams.get('scope') ?? '',
    account_id: w.account.id,
    action: 'continue',
  });
  for (const s of (url.searchParams.get('scope') ?? '').split(',')) form.set(`scope_${s}`, 'on');
  const res = await fetch(new URL('authorize/confirm', url), {
    method: 'POST',
    body: form.toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    redirect: 'manual',
  });
  const location = new URL(res.headers.get('location') ?? '');
  expect(location.searchParams.get('state')).toBe(state);
  return location.searchParams.get('code') ?? '';
}

describe.each(['instagram', 'threads'] as const)('platforms/%s provider', (platform) => {
  const run = (fn: (w: PlatformWorld) => Promise<void>) => withPlatform(platform, fn);

  it('set-up: a short-lived token is exchanged; the expiry is the expires_in of the answer; verified', async () => {
    await run(async (w) => {
      const short = w.token('short');
      const r = await w.provider.exchangeShortLived(short, w.app);
      expect(r.token).not.toBe(short);
      expect(r.issuedAt).toBe(T0);
      expect(r.info).toMatchObject({
        isValid: true,
        type: 'USER',
        expiresAt: T0 + 60 * DAY,
        userId: w.account.id,
        appId: w.app.appId,
        issuedAt: T0,
      });
      expect(w.graph.platformTokenStatus(platform, r.token)).toMatchObject({ valid: true, lifetime: 'long' });
      // Verified: the new token was looked at after the exchange.
      expect(w.calls.map((c) => c.endpoint).at(-1)).toBe('me');
    });
  });

  it('inspect: valid, with the account; Threads tells the expiry (debug_token), Instagram cannot', async () => {
    await run(async (w) => {
      const long = w.token('long');
      const info = await w.provider.inspect(long, w.app);
      expect(info).toMatchObject({ isValid: true, userId: w.account.id, error: null });
      expect(w.provider.inspectKnowsExpiry).toBe(platform === 'threads');
      expect(info.expiresAt).toBe(platform === 'threads' ? T0 + 60 * DAY : null);
      expect(info.issuedAt).toBe(platform === 'threads' ? T0 : null);
    });
  });

  it('refresh: never before 24 hours (refused without a call), then 60 days from the refresh, verified, a new string', async () => {
    await run(async (w) => {
      const set = await w.provider.exchangeShortLived(w.token('short'), w.app);
      w.clock.advance(23 * HOUR);
      const early = await thrown(w.provider.extend(set, w.app));
      expect(early.code).toBe('refresh_too_early');
      expect(w.graph.countCalls('refresh_access_token')).toBe(0);
      // Without the issue time, the platform's refusal of a live token is told apart from a dead one.
      const refused = await thrown(w.provider.extend({ token: set.token, info: set.info }, w.app));
      expect(refused.code).toBe('refresh_refused');
      expect(w.graph.countCalls('refresh_access_token')).toBe(1);
      w.clock.advance(HOUR);
      const r = await w.provider.extend(set, w.app);
      expect(r.token).not.toBe(set.token);
      expect(r.info.expiresAt).toBe(T0 + DAY + 60 * DAY);
      expect(r.issuedAt).toBe(T0 + DAY);
      // Verified: the new token was looked at after the refresh.
      const endpoints = w.calls.map((c) => c.endpoint);
      const last = endpoints.findLastIndex((e) => e.startsWith('refresh_access_token'));
      expect(endpoints.slice(last + 1)).toContain('me');
      expect(w.graph.platformTokenStatus(platform, r.token)).toMatchObject({
        valid: true,
        expiresAt: T0 + 61 * DAY,
      });
    });
  });

  it('refresh that keeps the string (setRefreshChangesToken(false)): the same token, the new expiry', async () => {
    await run(async (w) => {
      w.graph.setRefreshChangesToken(platform, false);
      const set = await w.provider.exchangeShortLived(w.token('short'), w.app);
      w.clock.advance(10 * DAY);
      const r: RefreshedToken = await w.provider.extend(set, w.app);
      expect(r.token).toBe(set.token);
      expect(r.info.expiresAt).toBe(T0 + 70 * DAY);
    });
  });

  it('a long-lived token given at set-up is kept with an expiry the platform told, never a guess past it', async () => {
    await run(async (w) => {
      const long = w.token('long');
      w.clock.advance(3 * DAY);
      const r = await w.provider.exchangeShortLived(long, w.app);
      if (platform === 'threads') {
        // Threads: the same token, with debug_token's expiry.
        expect(r.token).toBe(long);
        expect(r.info.expiresAt).toBe(T0 + 60 * DAY);
      } else {
        // Instagram: refreshed to learn the expiry from expires_in.
        expect(r.info.expiresAt).toBe(T0 + 3 * DAY + 60 * DAY);
      }
      const young = w.token('long');
      const y = await w.provider.exchangeShortLived(young, w.app);
      expect(y.token).toBe(young);
      // Under 24 hours old and no debug_token (Instagram): the earliest end it can have.
      expect(y.info.expiresAt).toBe(platform === 'threads' ? T0 + 63 * DAY : T0 + 3 * DAY + 59 * DAY);
      expect(y.info.expiresAt).toBeLessThanOrEqual(
        w.graph.platformTokenStatus(platform, young).expiresAt ?? 0,
      );
    });
  });

  it('expiry is final: inspect says invalid with a sentence; a refresh is a needs_reauth GraphError', async () => {
    await run(async (w) => {
      const set = await w.provider.exchangeShortLived(w.token('short'), w.app);
      w.clock.advance(60 * DAY);
      const info = await w.provider.inspect(set.token, w.app);
      expect(info.isValid).toBe(false);
      expect(info.error?.code).toBe(platform === 'threads' ? 100 : 190);
      expect(info.error?.message).toMatch(/reconnect/);
      const e = await thrown(w.provider.extend(set, w.app));
      expect(e).toBeInstanceOf(GraphError);
      expect(kindOf(e)).toBe('needs_reauth');
      expect(e.message).not.toContain(set.token);
    });
  });

  it('a checkpoint is "log in on Instagram", a password change asks to reconnect', async () => {
    await run(async (w) => {
      const set = await w.provider.exchangeShortLived(w.token('short'), w.app);
      w.graph.platformEvent(platform, w.account.id, 'checkpoint');
      const info = await w.provider.inspect(set.token, w.app);
      expect(info).toMatchObject({ isValid: false, error: { code: 190, subcode: 490 } });
      expect(info.error?.message).toMatch(/log in on Instagram/);
      const again = await w.provider.exchangeShortLived(w.token('short'), w.app);
      w.graph.platformEvent(platform, w.account.id, 'password_changed');
      expect((await w.provider.inspect(again.token, w.app)).error?.message).toMatch(/password .*changed/);
    });
  });

  it('a wrong app secret is app_credentials_invalid, naming no secret', async () => {
    await run(async (w) => {
      const short = w.token('short');
      const e = await thrown(
        w.provider.exchangeShortLived(short, { appId: w.app.appId, appSecret: 'wrong-secret-value' }),
      );
      expect(e.code).toBe('app_credentials_invalid');
      expect(e.message).not.toContain('wrong-secret-value');
      expect(e.message).not.toContain(short);
      expect(e.message).not.toMatch(/Facebook/);
    });
  });

  it('faults: a transient answer and a throttle keep their kinds', async () => {
    await run(async (w) => {
      const long = w.token('long');
      w.graph.injectFault({ kind: 'transient_code_2', path: `/${platform}/` });
      const t = await thrown(w.provider.inspect(long, w.app));
      expect(kindOf(t)).toBe('transient');
      w.graph.injectFault({ kind: 'throttle_user', path: `/${platform}/` });
      const th = await thrown(w.provider.inspect(long, w.app));
      expect(kindOf(th)).toBe('throttled');
      expect(th.code).toBe('graph_rate_limited');
      w.graph.injectFault({ kind: 'html', path: `/${platform}/` });
      expect((await thrown(w.provider.inspect(long, w.app))).code).toBe('graph_bad_response');
    });
  });

  it('reconnect: the platform’s own dialog → code → a verified long-lived token; children are the account itself', async () => {
    await run(async (w) => {
      const redirectUri = 'https://keeper.example/connect/callback';
      const login = new URL(w.provider.loginUrl({ appId: w.app.appId, redirectUri, state: 's1' }));
      expect(login.pathname).toBe(`/${platform}/oauth/authorize`);
      expect(login.searchParams.get('scope')).toContain(
        platform === 'instagram' ? 'instagram_business_basic' : 'threads_basic',
      );
      const code = await dialogCode(w, redirectUri, 's1');
      const r = await w.provider.exchangeCode(code, redirectUri, w.app);
      expect(r.info).toMatchObject({ isValid: true, userId: w.account.id, expiresAt: T0 + 60 * DAY });
      expect(w.graph.platformTokenStatus(platform, r.token)).toMatchObject({ valid: true, lifetime: 'long' });
      expect(await w.provider.listChildren(r.token, w.app)).toEqual([
        { id: w.account.id, name: 'ada.bakes', canPost: true, granted: true },
      ]);
      const child = await w.provider.mintChild(w.account.id, r.token, w.app);
      expect(child).toMatchObject({ token: r.token, name: 'ada.bakes' });
      expect((await thrown(w.provider.mintChild('999', r.token, w.app))).code).toBe('token_wrong_page');
      // A used code is refused as a bad request, not as a dead token.
      const used = await thrown(w.provider.exchangeCode(code, redirectUri, w.app));
      expect(kindOf(used)).toBe('invalid_request');
    });
  });
});

describe('platforms/threads: the Threads app id', () => {
  it('a Facebook app id is refused with a message that says so, before the token is sent anywhere', async () => {
    await withPlatform('threads', async (w) => {
      const short = w.token('short');
      const e = await thrown(w.provider.exchangeShortLived(short, w.facebookApp));
      expect(e.code).toBe('threads_app_id_required');
      expect(e.message).toMatch(/Facebook app id/);
      expect(e.message).toMatch(/Threads App ID/);
      expect(e.message).not.toContain(w.facebookApp.appSecret);
      expect(w.graph.countCalls('access_token')).toBe(1);
      expect(w.graph.platformTokenStatus('threads', short)).toMatchObject({ valid: true, lifetime: 'short' });
      const c = await thrown(w.provider.exchangeCode('AQfake', 'https://keeper.example/cb', w.facebookApp));
      expect(c.code).toBe('threads_app_id_required');
    });
  });

  it('a dead Threads token (code 100 "does not exist") is not mistaken for a bad request', async () => {
    await withPlatform('threads', async (w) => {
      const long = w.token('long');
      w.graph.invalidatePlatformToken('threads', long);
      const info = await w.provider.inspect(long, w.app);
      expect(info).toMatchObject({ isValid: false, error: { code: 100 } });
      expect(info.error?.message).toMatch(/Threads no longer accepts this token/);
    });
  });
});

describe('platforms/instagram: the code endpoint’s own error shape', () => {
  it('a wrong client secret on code redemption is app_credentials_invalid', async () => {
    await withPlatform('instagram', async (w) => {
      const code = await dialogCode(w, 'https://keeper.example/cb', 's');
      const e = await thrown(
        w.provider.exchangeCode(code, 'https://keeper.example/cb', {
          appId: w.app.appId,
          appSecret: 'nope-nope',
        }),
      );
      expect(e.code).toBe('app_credentials_invalid');
      expect(e.message).not.toContain(code);
    });
  });
});
