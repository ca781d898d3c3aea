/**
 * Instagram-Login and Threads accounts kept alive by the engine, end to end: the real keeper and
 * store (SQLite and PostgreSQL), the emulator's Instagram and Threads hosts over HTTP, a manual
 * clock. Set-up (short-lived token exchanged, expiry from expires_in), refresh at the threshold and
 * never before 24 hours of age, a refresh refused near expiry → an alert at each ALERT_DAYS_BEFORE
 * threshold → reconnect through the platform's own dialog (our /connect routes) → healthy; an
 * expired token → `expired`, and no call for it after.
 */
import { describe, expect, it } from 'vitest';
import { DAY, HOUR } from '../../src/clock.js';
import type { RecordedCall } from '../../src/fake-graph/index.js';
import { buildApp } from '../../src/http/app.js';
import { registerConnectRoutes } from '../../src/http/connect.js';
import { silentLogger } from '../../src/logger.js';
import { testBackends } from '../helpers/backends.js';
import { type KeeperWorld, REFERENCE_TIME as T0, withKeeper } from '../helpers/keeper.js';

const PLATFORMS = ['instagram', 'threads'] as const;
type P = (typeof PLATFORMS)[number];
const ENV = { WEBHOOK_URLS: 'http://127.0.0.1:9/alerts', ALERT_DAYS_BEFORE: '14,7,3,1' };

function account(w: KeeperWorld, platform: P) {
  const fb = w.graph.createApp({ name: 'Poster (Facebook)' });
  const app = w.graph.createPlatformApp(platform, { name: 'Poster', facebookAppId: fb.appId });
  const acc = w.graph.createPlatformAccount(platform, { username: 'ada.bakes', name: 'Ada’s Bakery' });
  w.graph.setPlatformDialogAccount(platform, acc.id);
  const short = w.graph.issuePlatformToken(platform, {
    appId: app.appId,
    accountId: acc.id,
    lifetime: 'short',
  });
  return { app: { appId: app.appId, appSecret: app.appSecret }, fb, id: acc.id, short };
}

/** Calls the emulator got on the platform's host. */
const platformCalls = (w: KeeperWorld, platform: P): RecordedCall[] =>
  w.graph.calls.filter((c) => c.path.startsWith(`/${platform}/`) && !c.path.includes('/oauth/authorize'));
const refreshCalls = (w: KeeperWorld, platform: P) =>
  platformCalls(w, platform).filter((c) => c.path.endsWith('/refresh_access_token'));

/** Run the scheduler's round every `stepMs` until `until`. */
async function runUntil(w: KeeperWorld, until: number, stepMs = 6 * HOUR): Promise<void> {
  while (w.clock.now() < until) {
    w.clock.advance(Math.min(stepMs, until - w.clock.now()));
    await w.keeper.runRound();
  }
}

describe.each(testBackends())('Instagram and Threads accounts on %s', (backend) => {
  describe.each(PLATFORMS)('%s', (platform) => {
    it('set-up, refresh at the threshold (never before 24 h), refused near expiry → alerts at each threshold → reconnect through the dialog → healthy', async () => {
      await withKeeper(
        backend,
        async (w) => {
          const a = account(w, platform);
          const r = await w.keeper.connect({ platform, accessToken: a.short, ...a.app });
          expect(r.connection).toMatchObject({ platform, user_id: a.id, user_name: 'ada.bakes' });
          expect(r.pages).toHaveLength(1);
          expect(r.pages[0]).toMatchObject({
            page_id: a.id,
            platform,
            state: 'healthy',
            expires_at: new Date(T0 + 60 * DAY).toISOString(),
            missing_scopes: [],
          });
          const kept = await w.keeper.getPageToken(a.id);
          expect(kept).not.toBe(a.short);
          expect(w.graph.platformTokenStatus(platform, kept)).toMatchObject({
            valid: true,
            lifetime: 'long',
          });

          // Not before the threshold (50 days left): a look per check, no refresh.
          await runUntil(w, T0 + 10 * DAY - HOUR);
          expect(refreshCalls(w, platform)).toHaveLength(0);
          // At the threshold: refreshed, verified, the new expiry 60 days from the refresh.
          await runUntil(w, T0 + 10 * DAY + 6 * HOUR);
          expect(refreshCalls(w, platform)).toHaveLength(1);
          const refreshedAt = refreshCalls(w, platform)[0]!.at;
          expect(refreshedAt).toBeGreaterThanOrEqual(T0 + 10 * DAY);
          const after = await w.keeper.status(a.id);
          expect(after.state).toBe('healthy');
          expect(Date.parse(after.expires_at!)).toBe(refreshedAt + 60 * DAY);
          expect(after.history.map((h) => h.type)).toContain('renewed');
          const token = await w.keeper.getPageToken(a.id);
          expect(w.graph.platformTokenStatus(platform, token)).toMatchObject({ valid: true });
          // A routine refresh is history (`renewed`, token_changed), not an alert to a person.
          expect(after.history.find((h) => h.type === 'renewed')?.details).toMatchObject({
            token_changed: true,
          });
          expect(await w.store.dueAlertDeliveries(Number.MAX_SAFE_INTEGER, 1000)).toEqual([]);

          // From now on every refresh is refused (the token still works).
          w.graph.injectFault({
            path: 'refresh_access_token',
            kind: 'unsupported_get_100_33',
            times: Infinity,
          });
          const deadline = refreshedAt + 60 * DAY;
          await runUntil(w, deadline - 12 * HOUR, DAY / 2);
          const failing = await w.keeper.status(a.id);
          expect(failing.state).toBe('failing');
          expect(failing.last_error?.code).toBe('refresh_refused');
          const alerts = (await w.store.dueAlertDeliveries(Number.MAX_SAFE_INTEGER, 1000)).filter(
            (d) => d.pageId === a.id && d.kind === 'renewal_failed',
          );
          const thresholds = alerts.map((d) => d.dedupeKey.split(':').at(-1));
          expect(thresholds.sort()).toEqual(['1', '14', '3', '7']);
          // The latest alert's link (a link works for a week).
          const latest = alerts.reduce((x, y) => (y.createdAt > x.createdAt ? y : x));
          const link = String(latest.payload.reconnect_url);
          expect(alerts.every((d) => d.payload.deadline === new Date(deadline).toISOString())).toBe(true);
          expect(alerts.every((d) => d.payload.platform === platform)).toBe(true);
          expect(String(latest.payload.message)).toContain(
            platform === 'instagram' ? 'Instagram' : 'Threads',
          );
          // No secret in what an alert carries.
          expect(JSON.stringify(alerts)).not.toContain(token);

          // Reconnect through the link: our route sends the person to the platform's own dialog.
          w.graph.clearFaults();
          const { keeper, store, clock } = w;
          const http = await buildApp({
            config: keeper.config,
            keeper,
            store,
            clock,
            logger: silentLogger,
            extraRoutes: (x) =>
              registerConnectRoutes(x, {
                config: keeper.config,
                keeper,
                store,
                clock,
                logger: silentLogger,
                linkSecret: keeper.linkSecret,
              }),
          });
          try {
            const u = new URL(link);
            const start = await http.inject({ method: 'GET', url: u.pathname + u.search });
            expect(start.statusCode).toBe(302);
            const dialog = new URL(String(start.headers.location));
            expect(dialog.toString().startsWith(`${w.graph.url}/${platform}/oauth/authorize`)).toBe(true);
            expect(dialog.searchParams.get('client_id')).toBe(a.app.appId);
            const cookie = String(start.headers['set-cookie']).split(';')[0]!;
            const html = await (await fetch(dialog)).text();
            const form = new URLSearchParams();
            for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
              form.set(m[1]!, m[2]!.replace(/&amp;/g, '&'));
            }
            form.set('account_id', a.id);
            for (const m of html.matchAll(/name="(scope_[^"]+)" checked/g)) form.set(m[1]!, 'on');
            form.set('action', 'continue');
            const confirmed = await fetch(new URL('authorize/confirm', dialog), {
              method: 'POST',
              body: form,
              redirect: 'manual',
            });
            const back = new URL(String(confirmed.headers.get('location')));
            const done = await http.inject({
              method: 'GET',
              url: back.pathname + back.search,
              headers: { cookie },
            });
            expect(done.statusCode).toBe(200);
          } finally {
            await http.close();
          }
          const healed = await w.keeper.status(a.id);
          expect(healed.state).toBe('healthy');
          expect(Date.parse(healed.expires_at!)).toBe(w.clock.now() + 60 * DAY);
          expect(healed.history.map((h) => h.type)).toContain('reconnected');
          const fresh = await w.keeper.getPageToken(a.id);
          expect(fresh).not.toBe(token);
          expect(w.graph.platformTokenStatus(platform, fresh)).toMatchObject({
            valid: true,
            lifetime: 'long',
          });
        },
        { env: ENV },
      );
    });

    it('a forced renew waits for the 24 hours; then refreshes now; a token the platform kills needs a person, with its reason', async () => {
      await withKeeper(
        backend,
        async (w) => {
          const a = account(w, platform);
          await w.keeper.connect({ platform, accessToken: a.short, ...a.app });
          const young = await w.keeper.renew(a.id, { force: true });
          expect(young).toMatchObject({ renewed: false, reason: 'too_young', state: 'healthy' });
          expect(refreshCalls(w, platform)).toHaveLength(0);
          w.clock.advance(DAY + HOUR);
          const forced = await w.keeper.renew(a.id, { force: true });
          expect(forced).toMatchObject({ renewed: true, token_changed: true, state: 'healthy' });
          expect(refreshCalls(w, platform)).toHaveLength(1);
          expect(Date.parse(forced.expires_at!)).toBe(w.clock.now() + 60 * DAY);

          // A security checkpoint on the account: "log in on Instagram", on both platforms.
          w.graph.platformEvent(platform, a.id, 'checkpoint');
          w.clock.advance(7 * HOUR);
          await w.keeper.runRound();
          const s = await w.keeper.status(a.id);
          expect(s.state).toBe('needs_reauth');
          expect(s.state_message).toMatch(/security checkpoint.*log in on Instagram/);
          expect(s.reconnect_url).not.toBeNull();
          const alerts = (await w.store.dueAlertDeliveries(Number.MAX_SAFE_INTEGER, 100)).filter(
            (d) => d.kind === 'needs_reauth',
          );
          expect(alerts).toHaveLength(1);
          expect(alerts[0]!.payload).toMatchObject({ platform, page_id: a.id });
          // No refresh of a dead token, and no more calls for it.
          const calls = platformCalls(w, platform).length;
          await runUntil(w, w.clock.now() + 3 * DAY);
          expect(platformCalls(w, platform).length).toBe(calls);
        },
        { env: ENV },
      );
    });

    it('an expired token: expired with the reason, and no call for it after', async () => {
      await withKeeper(
        backend,
        async (w) => {
          const a = account(w, platform);
          await w.keeper.connect({ platform, accessToken: a.short, ...a.app });
          // Every refresh refused until the token's 60 days are over.
          w.graph.injectFault({
            path: 'refresh_access_token',
            kind: 'unsupported_get_100_33',
            times: Infinity,
          });
          await runUntil(w, T0 + 60 * DAY + HOUR, DAY);
          const s = await w.keeper.status(a.id);
          expect(s.state).toBe('expired');
          expect(s.state_reason).toBe('expired');
          expect(s.state_message).toMatch(
            platform === 'instagram' ? /Instagram token has expired/ : /Threads token has expired/,
          );
          expect(s.token_valid).toBe(false);
          const calls = platformCalls(w, platform).length;
          const refreshes = refreshCalls(w, platform).length;
          w.graph.clearFaults();
          await runUntil(w, T0 + 70 * DAY, 6 * HOUR);
          await w.keeper.check();
          expect(platformCalls(w, platform).length).toBe(calls);
          expect(refreshCalls(w, platform).length).toBe(refreshes);
          expect((await w.keeper.status(a.id)).state).toBe('expired');
        },
        { env: ENV },
      );
    });
  });
});
