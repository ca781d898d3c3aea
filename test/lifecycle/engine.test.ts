/**
 * The engine end to end, on SQLite and PostgreSQL: real store, real Graph client over HTTP, the
 * emulator, a manual clock. Months pass in seconds; nothing sleeps.
 */
import { describe, expect, it } from 'vitest';
import { DAY, HOUR, MINUTE } from '../../src/clock.js';
import { AppError } from '../../src/errors.js';
import { testBackends } from '../helpers/backends.js';
import { type KeeperWorld, withKeeper } from '../helpers/keeper.js';

/** Advance the clock in scheduler-sized steps, running a round at each, like `serve` would. */
async function runFor(w: KeeperWorld, ms: number, step = HOUR): Promise<void> {
  const end = w.clock.now() + ms;
  while (w.clock.now() < end) {
    w.clock.advance(step);
    await w.keeper.runRound();
  }
}

async function eventTypes(w: KeeperWorld, pageId: string): Promise<string[]> {
  return (await w.keeper.history(pageId, { limit: 500 })).map((e) => e.type).reverse();
}

describe.each(testBackends())('engine on %s', (backend) => {
  it('short-lived user token: exchanged, Page token minted that never expires, stays healthy for a year', async () => {
    await withKeeper(backend, async (w) => {
      const { userId, pageId } = w.newPage('Bakery');
      const short = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'short' });
      const r = await w.keeper.setup({
        pageId,
        accessToken: short,
        appId: w.app.appId,
        appSecret: w.app.appSecret,
      });
      expect(r.input_token_type).toBe('USER');
      expect(r.input_token_lifetime).toBe('short');
      expect(r.status).toMatchObject({
        state: 'healthy',
        token_type: 'PAGE',
        expires_at: null,
        source_token_type: 'USER',
        page_name: 'Bakery',
      });
      expect(r.notes.join(' ')).toMatch(/exchanged it for a long-lived/);
      expect(w.graph.countCalls('/oauth/access_token')).toBe(1);

      await runFor(w, 365 * DAY, 12 * HOUR);
      const token = await w.keeper.getPageToken(pageId);
      expect(w.graph.tokenStatus(token).valid).toBe(true);
      const s = await w.keeper.status(pageId);
      expect(s.state).toBe('healthy');
      // The source (60-day user token) was tried once at 50 days left, found not extendable, and left alone.
      const types = await eventTypes(w, pageId);
      expect(types.filter((t) => t === 'source_not_extendable')).toHaveLength(1);
      expect(w.graph.countCalls('/oauth/access_token')).toBe(2);
    });
  }, 300_000); // a year on PostgreSQL, CPU-bound: 35 s at load 10, past 120 s at load 16 (docs/CI.md)

  it('expiring system-user token (refreshable, as Meta documents): the 50-day rule renews the source on time', async () => {
    await withKeeper(backend, async (w) => {
      const pageId = w.graph.createPage({ name: 'SU page' }).id;
      const su = w.graph.createSystemUser({ appId: w.app.appId, pages: [pageId] });
      const sixty = w.graph.issueSystemUserToken({ appId: w.app.appId, systemUserId: su.id, expiring: true });
      const r = await w.keeper.setup({
        pageId,
        accessToken: sixty,
        appId: w.app.appId,
        appSecret: w.app.appSecret,
      });
      expect(r.input_token_lifetime).toBe('long');
      const firstSourceExpiry = Date.parse(r.status.source_expires_at!);
      expect(w.graph.countCalls('/oauth/access_token')).toBe(0);

      // 9 days in: 51 days left, nothing to do.
      await runFor(w, 9 * DAY, 6 * HOUR);
      expect(w.graph.countCalls('/oauth/access_token')).toBe(0);
      // By day 10 (+ one check interval) the source has ≤ 50 days left and is renewed.
      await runFor(w, 1 * DAY + 6 * HOUR, 6 * HOUR);
      expect(w.graph.countCalls('/oauth/access_token')).toBe(1);
      const s = await w.keeper.status(pageId);
      expect(Date.parse(s.source_expires_at!)).toBeGreaterThan(firstSourceExpiry + 9 * DAY);
      expect(s.state).toBe('healthy');
      const types = await eventTypes(w, pageId);
      expect(types).toContain('renewed');
    });
  });

  it('system-user tokens: never-expiring ones are never exchanged; 60-day ones are', async () => {
    await withKeeper(backend, async (w) => {
      const p1 = w.graph.createPage({ name: 'SU never' });
      const p2 = w.graph.createPage({ name: 'SU 60d' });
      // Two system users: tokens of one system user and app are one connection, whose newest
      // token serves every Page of it.
      const su = w.graph.createSystemUser({ appId: w.app.appId, pages: [p1.id] });
      const su60 = w.graph.createSystemUser({ appId: w.app.appId, pages: [p2.id] });
      const never = w.graph.issueSystemUserToken({
        appId: w.app.appId,
        systemUserId: su.id,
        expiring: false,
      });
      const sixty = w.graph.issueSystemUserToken({
        appId: w.app.appId,
        systemUserId: su60.id,
        expiring: true,
      });
      const a = await w.keeper.setup({
        pageId: p1.id,
        accessToken: never,
        appId: w.app.appId,
        appSecret: w.app.appSecret,
      });
      const b = await w.keeper.setup({
        pageId: p2.id,
        accessToken: sixty,
        appId: w.app.appId,
        appSecret: w.app.appSecret,
      });
      expect(a.status).toMatchObject({
        source_token_type: 'SYSTEM_USER',
        source_expires_at: null,
        expires_at: null,
        state: 'healthy',
      });
      expect(b.status.source_expires_at).not.toBeNull();
      await runFor(w, 20 * DAY, 6 * HOUR);
      // Only the 60-day token's page exchanged (once it had ≤ 50 days left).
      const exchanges = w.graph.countCalls('/oauth/access_token');
      expect(exchanges).toBeGreaterThanOrEqual(1);
      expect(await eventTypes(w, p1.id)).not.toContain('renewed');
      for (const id of [p1.id, p2.id]) {
        expect(w.graph.tokenStatus(await w.keeper.getPageToken(id)).valid).toBe(true);
      }
    });
  });

  it('Page token that expires: kept, warned about, state expiring (we cannot extend it), never exchanged', async () => {
    await withKeeper(backend, async (w) => {
      const { userId, pageId } = w.newPage();
      const short = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'short' });
      const pageToken = (await w.keeper.graph.getPageToken(pageId, short, w.app)).accessToken;
      const r = await w.keeper.setup({
        pageId,
        accessToken: pageToken,
        appId: w.app.appId,
        appSecret: w.app.appSecret,
      });
      expect(r.input_token_type).toBe('PAGE');
      expect(r.status.state).toBe('expiring');
      expect(r.status.source_token_type).toBeNull();
      expect(r.notes.join(' ')).toMatch(/cannot be extended/);
      const before = w.graph.countCalls('/oauth/access_token');
      await runFor(w, 3 * HOUR, HOUR);
      expect(w.graph.countCalls('/oauth/access_token')).toBe(before);
      expect((await w.keeper.status(pageId)).state).toBe('expired');
    });
  });

  it('refuses tokens that cannot work, and stores nothing', async () => {
    await withKeeper(backend, async (w) => {
      const { userId, pageId } = w.newPage();
      const other = w.graph.createPage({ name: 'Not mine' });
      const good = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'long' });
      const noPost = w.graph.issueUserToken({
        appId: w.app.appId,
        userId,
        lifetime: 'long',
        scopes: ['pages_show_list', 'public_profile'],
      });
      const otherApp = w.graph.createApp({ name: 'Other app' });
      const foreign = w.graph.issueUserToken({ appId: otherApp.appId, userId, lifetime: 'long' });
      const dead = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'long' });
      const cases: [string, () => Promise<unknown>][] = [
        [
          'token_wrong_page',
          () =>
            w.keeper.setup({
              pageId: other.id,
              accessToken: good,
              appId: w.app.appId,
              appSecret: w.app.appSecret,
            }),
        ],
        [
          'missing_permission',
          () =>
            w.keeper.setup({ pageId, accessToken: noPost, appId: w.app.appId, appSecret: w.app.appSecret }),
        ],
        [
          'validation_failed',
          () =>
            w.keeper.setup({
              pageId: 'abc',
              accessToken: good,
              appId: w.app.appId,
              appSecret: w.app.appSecret,
            }),
        ],
      ];
      for (const [code, fn] of cases) {
        await expect(fn()).rejects.toSatisfy((e: unknown) => e instanceof AppError && e.code === code);
      }
      // A token of another app: Facebook's "did not match the Viewing App" becomes token_wrong_app.
      await expect(
        w.keeper.setup({ pageId, accessToken: foreign, appId: w.app.appId, appSecret: w.app.appSecret }),
      ).rejects.toSatisfy(
        (e: unknown) =>
          e instanceof AppError && e.code === 'token_wrong_app' && /made for another app/.test(e.message),
      );
      // A wrong app secret: a stable code and a sentence naming the credential, not Facebook's words.
      await expect(
        w.keeper.setup({ pageId, accessToken: good, appId: w.app.appId, appSecret: 'f'.repeat(32) }),
      ).rejects.toSatisfy(
        (e: unknown) =>
          e instanceof AppError && e.code === 'app_credentials_invalid' && /app secret/.test(e.message),
      );
      w.graph.logout(userId);
      await expect(
        w.keeper.setup({ pageId, accessToken: dead, appId: w.app.appId, appSecret: w.app.appSecret }),
      ).rejects.toSatisfy(
        (e: unknown) => e instanceof AppError && e.code === 'token_invalid' && /logged out/.test(e.message),
      );
      expect(await w.store.countPages()).toBe(0);
    });
  });

  it('tasks and the Page picker: an ANALYZE-only admin, or a Page not ticked at login, is refused with the cause', async () => {
    await withKeeper(backend, async (w) => {
      const setup = (pageId: string, accessToken: string) =>
        w.keeper.setup({ pageId, accessToken, appId: w.app.appId, appSecret: w.app.appSecret });
      // A role with ANALYZE only: the Page token is valid, but it could never post.
      const analyst = w.graph.createUser({ name: 'Analyst' });
      const watched = w.graph.createPage({ name: 'Watched' });
      w.graph.grantRole(analyst.id, watched.id, ['ANALYZE', 'ADVERTISE']);
      const a = w.graph.issueUserToken({ appId: w.app.appId, userId: analyst.id, lifetime: 'long' });
      await expect(setup(watched.id, a)).rejects.toSatisfy(
        (e: unknown) =>
          e instanceof AppError &&
          e.code === 'missing_permission' &&
          /ANALYZE, ADVERTISE/.test(e.message) &&
          /CREATE_CONTENT, MANAGE or MODERATE/.test(e.message),
      );
      // Two Pages, only one ticked in the Login dialog's Page picker.
      const admin = w.graph.createUser({ name: 'Admin' });
      const ticked = w.graph.createPage({ name: 'Ticked' });
      const unticked = w.graph.createPage({ name: 'Unticked' });
      w.graph.grantRole(admin.id, ticked.id);
      w.graph.grantRole(admin.id, unticked.id);
      w.graph.selectPages(w.app.appId, admin.id, [ticked.id]);
      const t = w.graph.issueUserToken({ appId: w.app.appId, userId: admin.id, lifetime: 'long' });
      await expect(setup(unticked.id, t)).rejects.toSatisfy(
        (e: unknown) =>
          e instanceof AppError &&
          e.code === 'missing_permission' &&
          /not selected when the app was authorised/.test(e.message) &&
          !/no role/.test(e.message),
      );
      expect(await w.store.countPages()).toBe(0);
      expect((await setup(ticked.id, t)).status.state).toBe('healthy');
    });
  });

  it('renewal refuses a Page token whose person lost every posting task, and says which task is missing', async () => {
    await withKeeper(backend, async (w) => {
      const pageId = w.graph.createPage({ name: 'Downgraded' }).id;
      const user = w.graph.createUser({ name: 'Editor' });
      w.graph.grantRole(user.id, pageId);
      const long = w.graph.issueUserToken({ appId: w.app.appId, userId: user.id, lifetime: 'long' });
      await w.keeper.setup({ pageId, accessToken: long, appId: w.app.appId, appSecret: w.app.appSecret });
      const before = await w.keeper.getPageToken(pageId);
      w.graph.grantRole(user.id, pageId, ['ANALYZE']);
      await expect(w.keeper.renew(pageId, { force: true })).rejects.toSatisfy(
        (e: unknown) =>
          e instanceof AppError &&
          e.code === 'missing_permission' &&
          /task\(s\) ANALYZE/.test(e.message) &&
          /CREATE_CONTENT, MANAGE or MODERATE/.test(e.message),
      );
      // The stored token stays; history says why.
      expect(await w.keeper.getPageToken(pageId)).toBe(before);
      const failed = (await w.keeper.history(pageId, { limit: 10 })).find((e) => e.type === 'renewal_failed');
      expect(failed?.message).toMatch(/CREATE_CONTENT, MANAGE or MODERATE/);
    });
  });

  it('password change: within one check interval the page is needs_reauth with the reason in history', async () => {
    await withKeeper(backend, async (w) => {
      const { userId, pageId } = w.newPage();
      const long = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'long' });
      await w.keeper.setup({ pageId, accessToken: long, appId: w.app.appId, appSecret: w.app.appSecret });
      await runFor(w, 2 * DAY, 6 * HOUR);
      w.graph.changePassword(userId);
      await runFor(w, 6 * HOUR + 40 * MINUTE, 10 * MINUTE);
      const s = await w.keeper.status(pageId, { historyLimit: 50 });
      expect(s.state).toBe('needs_reauth');
      expect(s.state_reason).toBe('password_changed');
      expect(s.state_message).toMatch(/password/);
      expect(s.reconnect_url).toMatch(/\/connect\//);
      expect(s.history.some((h) => h.type === 'state_changed' && h.reason === 'password_changed')).toBe(true);
      // No retry storm: later checks only inspect, never exchange.
      const exchanges = w.graph.countCalls('/oauth/access_token');
      await runFor(w, 3 * DAY, 6 * HOUR);
      expect(w.graph.countCalls('/oauth/access_token')).toBe(exchanges);
    });
  });

  it('self-heals an invalidated Page token from the still-valid source token', async () => {
    await withKeeper(backend, async (w) => {
      const { userId, pageId } = w.newPage();
      const long = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'long' });
      await w.keeper.setup({ pageId, accessToken: long, appId: w.app.appId, appSecret: w.app.appSecret });
      const first = await w.keeper.getPageToken(pageId);
      w.graph.invalidateToken(first, 467);
      await runFor(w, 7 * HOUR, HOUR);
      const second = await w.keeper.getPageToken(pageId);
      expect(second).not.toBe(first);
      expect(w.graph.tokenStatus(second).valid).toBe(true);
      const s = await w.keeper.status(pageId, { historyLimit: 50 });
      expect(s.state).toBe('healthy');
      expect(s.history.map((h) => h.type)).toEqual(expect.arrayContaining(['healed', 'token_rotated']));
      // History never carries a token.
      expect(JSON.stringify(s.history)).not.toContain(first);
      expect(JSON.stringify(s.history)).not.toContain(second);
    });
  });

  it('transient errors back off and recover; throttling stops calls until the wait has passed', async () => {
    await withKeeper(backend, async (w) => {
      const { userId, pageId } = w.newPage();
      const long = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'long' });
      await w.keeper.setup({ pageId, accessToken: long, appId: w.app.appId, appSecret: w.app.appSecret });
      w.graph.injectFault({ path: '/debug_token', kind: 'transient_code_2', times: 6 });
      await w.keeper.check({ pageId });
      let s = await w.keeper.status(pageId);
      expect(s.state).toBe('failing');
      expect(s.last_error?.code).toBe('graph_unavailable');
      await runFor(w, 1 * DAY, 10 * MINUTE);
      s = await w.keeper.status(pageId);
      expect(s.state).toBe('healthy');
      expect(s.last_error).toBeNull();

      w.graph.clearFaults();
      w.graph.injectFault({ path: '/debug_token', kind: 'throttle_app', times: 1 });
      await w.keeper.check({ pageId });
      const calls = w.graph.countCalls('/debug_token');
      await runFor(w, 30 * MINUTE, 5 * MINUTE);
      expect(w.graph.countCalls('/debug_token')).toBe(calls);
      await expect(w.keeper.renew(pageId, { force: true })).rejects.toSatisfy(
        (e: unknown) => e instanceof AppError && e.code === 'graph_rate_limited',
      );
    });
  });

  it('two engines on one database: each due page is exchanged exactly once', async () => {
    await withKeeper(backend, async (w) => {
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) {
        const pageId = w.graph.createPage({ name: `P${i}` }).id;
        const su = w.graph.createSystemUser({ appId: w.app.appId, pages: [pageId] });
        const sixty = w.graph.issueSystemUserToken({
          appId: w.app.appId,
          systemUserId: su.id,
          expiring: true,
        });
        await w.keeper.setup({ pageId, accessToken: sixty, appId: w.app.appId, appSecret: w.app.appSecret });
        ids.push(pageId);
      }
      const other = await w.another();
      w.clock.advance(11 * DAY);
      await Promise.all([w.keeper.runRound(), other.runRound(), w.keeper.runRound(), other.runRound()]);
      expect(w.graph.countCalls('/oauth/access_token')).toBe(ids.length);
      for (const id of ids) {
        // One source renewal per login. The rotation then re-mints the Page from the new token at
        // most once (a Page the other instance holds at that moment is re-minted at a later look).
        const renewed = (await w.keeper.history(id, { limit: 100 })).filter((e) => e.type === 'renewed');
        expect(renewed.filter((e) => e.details.token === 'source')).toHaveLength(1);
        expect(renewed.filter((e) => e.reason === 'source_replaced').length).toBeLessThanOrEqual(1);
      }
      await other.close();
    });
  });

  it('renew: dry run changes nothing; force re-mints; a person can pause and resume', async () => {
    await withKeeper(backend, async (w) => {
      const { userId, pageId } = w.newPage();
      const long = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'long' });
      await w.keeper.setup({ pageId, accessToken: long, appId: w.app.appId, appSecret: w.app.appSecret });
      const token = await w.keeper.getPageToken(pageId);
      const dry = await w.keeper.renew(undefined, { dryRun: true, force: true });
      expect(dry).toMatchObject({ dry_run: true, renewed: false, reason: 'would_renew' });
      expect(await w.keeper.getPageToken(pageId)).toBe(token);
      const forced = await w.keeper.renew(pageId, { force: true });
      expect(forced).toMatchObject({ renewed: true, token_changed: true, expires_at: null });
      expect(await w.keeper.getPageToken(pageId)).not.toBe(token);
      const paused = await w.keeper.updatePage(pageId, { autoRenew: false });
      expect(paused.state).toBe('paused');
      const notRenewed = await w.keeper.renew(pageId);
      expect(notRenewed).toMatchObject({ renewed: false, reason: 'paused' });
      expect((await w.keeper.updatePage(pageId, { autoRenew: true })).state).toBe('healthy');
    });
  });
});

/** Answers other tools misread in 2025–26 (docs/FACEBOOK.md#misread-errors): the Page state each leads to. */
describe.each(testBackends())('engine on %s: misread errors', (backend) => {
  async function setupLong(w: KeeperWorld, userId: string, pageId: string): Promise<string> {
    const long = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'long' });
    await w.keeper.setup({ pageId, accessToken: long, appId: w.app.appId, appSecret: w.app.appSecret });
    return long;
  }

  it('190 "must be granted before impersonating a user’s page": missing_permission on that Page, the login stays alive, its sibling heals', async () => {
    await withKeeper(backend, async (w) => {
      const { userId, pageId } = w.newPage('Refused');
      const sibling = w.graph.createPage({ name: 'Sibling' }).id;
      w.graph.grantRole(userId, sibling);
      await setupLong(w, userId, pageId);
      await setupLong(w, userId, sibling);
      // Both posting tokens die; Facebook refuses to act as the first Page only.
      for (const id of [pageId, sibling]) w.graph.invalidateToken(await w.keeper.getPageToken(id), 467);
      w.graph.injectFault({
        path: `/${pageId}`,
        kind: 'page_permission_190',
        times: Number.POSITIVE_INFINITY,
      });
      await runFor(w, 7 * HOUR, HOUR);

      const s = await w.keeper.status(pageId);
      expect(s).toMatchObject({ state: 'needs_reauth', state_reason: 'missing_permission' });
      expect(s.state_message).toMatch(/Page permission is missing for it \(the login itself still works\)/);
      expect(s.last_error?.code).toBe('missing_permission');
      // The source token (the login) is not marked dead: self-healing stays possible once granted.
      expect((await w.store.getPage(pageId))?.source?.isValid).toBe(true);
      const sib = await w.keeper.status(sibling);
      expect(sib.state).toBe('healthy');
      expect(w.graph.tokenStatus(await w.keeper.getPageToken(sibling)).valid).toBe(true);

      // Granted again (the fault gone): the next check heals the Page from the same login.
      w.graph.clearFaults();
      await runFor(w, 7 * HOUR, HOUR);
      expect((await w.keeper.status(pageId)).state).toBe('healthy');
    });
  });

  it('100/33 on a Page whose Page token debug_token calls valid is transient: failing with backoff, then healthy; not needs_reauth', async () => {
    await withKeeper(backend, async (w) => {
      const { userId, pageId } = w.newPage();
      await setupLong(w, userId, pageId);
      const token = await w.keeper.getPageToken(pageId);
      w.graph.injectFault({ path: `/${pageId}`, kind: 'unsupported_get_100_33', times: 2 });
      await expect(w.keeper.renew(pageId, { force: true })).rejects.toSatisfy(
        (e: unknown) => e instanceof AppError && /Unsupported get request/.test(e.message),
      );
      const s = await w.keeper.status(pageId);
      expect(s.state).toBe('failing');
      expect(s.state).not.toBe('needs_reauth');
      expect(s.last_error).toMatchObject({ fb_code: 100, fb_subcode: 33 });
      const page = await w.store.getPage(pageId);
      expect(page?.failureCount).toBe(1);
      expect(page?.retryAt).toBeGreaterThan(w.clock.now());
      expect(page?.source?.isValid).toBe(true);
      expect(await w.keeper.getPageToken(pageId)).toBe(token);
      // Once Meta's incident is over the next check finds the Page as it was.
      await runFor(w, 1 * DAY, 10 * MINUTE);
      expect((await w.keeper.status(pageId)).state).toBe('healthy');
    });
  });

  it('190/459 checkpoint: needs_reauth saying to log in to facebook.com and complete the security check', async () => {
    await withKeeper(backend, async (w) => {
      const { userId, pageId } = w.newPage();
      await setupLong(w, userId, pageId);
      w.graph.checkpoint(userId);
      await w.keeper.check({ pageId });
      const s = await w.keeper.status(pageId);
      expect(s).toMatchObject({ state: 'needs_reauth', state_reason: 'checkpoint' });
      expect(s.state_message).toMatch(/log in to facebook\.com and complete the security check/);
    });
  });

  it('190/493 (90 days without using the app): needs_reauth saying data access expired', async () => {
    await withKeeper(backend, async (w) => {
      const { userId, pageId } = w.newPage();
      await setupLong(w, userId, pageId);
      w.graph.inactive90Days(userId);
      await w.keeper.check({ pageId });
      const s = await w.keeper.status(pageId);
      expect(s).toMatchObject({ state: 'needs_reauth', state_reason: 'data_access_expired' });
      expect(s.state_message).toMatch(/has not used the app for 90 days/);
      expect(s.reconnect_url).toMatch(/\/connect\//);
    });
  });
});
