/**
 * `check` as cron runs it, through the core (the same call the CLI makes), on SQLite and
 * PostgreSQL with the emulator and an injected clock: every page is accounted for, a page with work
 * to do is due now, and a cron line every CHECK_INTERVAL_HOURS checks every page every run.
 */
import { describe, expect, it } from 'vitest';
import { DAY, HOUR, MINUTE } from '../../src/clock.js';
import { mulberry32 } from '../../src/random.js';
import { testBackends } from '../helpers/backends.js';
import { withKeeper } from '../helpers/keeper.js';

describe.each(testBackends())('check from cron on %s', (backend) => {
  it('cron every 6 h (= CHECK_INTERVAL_HOURS) over a week checks every page every run, despite the jitter', async () => {
    await withKeeper(
      backend,
      async (w) => {
        const ids: string[] = [];
        for (let i = 0; i < 8; i++) {
          const { userId, pageId } = w.newPage(`Cron ${i}`);
          const token = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'long' });
          await w.keeper.setup({
            pageId,
            accessToken: token,
            appId: w.app.appId,
            appSecret: w.app.appSecret,
          });
          ids.push(pageId);
        }
        const late = mulberry32(7);
        for (let run = 0; run < 28; run++) {
          // cron starts a little early or late, and a run takes a while.
          w.clock.advance(6 * HOUR + Math.round((late() - 0.5) * 4 * MINUTE));
          const r = await w.keeper.check();
          expect({ run, checked: r.checked, not_checked: r.not_checked }).toEqual({
            run,
            checked: ids.length,
            not_checked: [],
          });
          w.clock.advance(Math.round(late() * 30_000));
        }
      },
      // Real jitter: with a constant 0.5 every page would be due exactly on the interval.
      { random: mulberry32(42) },
    );
  });

  it('a page whose decision needs work is due now; what is not checked is reported with its next time', async () => {
    await withKeeper(
      backend,
      async (w) => {
        w.graph.setExchangeExtends(true);
        const p = w.graph.createPage({ name: 'Sixty days' });
        const su = w.graph.createSystemUser({ appId: w.app.appId, pages: [p.id] });
        const sixty = w.graph.issueSystemUserToken({
          appId: w.app.appId,
          systemUserId: su.id,
          expiring: true,
        });
        const r = await w.keeper.setup({
          pageId: p.id,
          accessToken: sixty,
          appId: w.app.appId,
          appSecret: w.app.appSecret,
        });
        // 60 days left with a 70-day threshold: status says so, and the next check is now.
        expect(r.status).toMatchObject({ renewal_needed: true, renewal_reason: 'source_expires_soon' });
        expect(r.status.next_check_at).toBe(new Date(w.clock.now()).toISOString());

        // An hour later (well before the regular 6-hour check), cron runs `check`.
        w.clock.advance(HOUR);
        const first = await w.keeper.check();
        expect(first).toMatchObject({ checked: 1, skipped: 0, not_checked: [] });
        // The refreshed system-user token is a rotation: the Page's token is re-minted from it.
        expect(first.results[0]).toMatchObject({
          page_id: p.id,
          outcome: 'renewed',
          reason: 'source_replaced',
        });

        w.clock.advance(MINUTE);
        const second = await w.keeper.check();
        expect(second).toMatchObject({ checked: 0, skipped: 1, results: [] });
        const next = (await w.keeper.status(p.id)).next_check_at;
        expect(second.not_checked).toEqual([
          { page_id: p.id, reason: 'not_due', state: 'healthy', next_check_at: next },
        ]);
      },
      { env: { RENEWAL_THRESHOLD_DAYS: '70' } },
    );
  });

  it('a throttled check --all: the page is failing (throttled), and no page is missing from the summary', async () => {
    await withKeeper(backend, async (w) => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const { userId, pageId } = w.newPage(`Throttled ${i}`);
        const token = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'long' });
        await w.keeper.setup({ pageId, accessToken: token, appId: w.app.appId, appSecret: w.app.appSecret });
        ids.push(pageId);
      }
      w.clock.advance(HOUR);
      w.graph.injectFault({ path: '/debug_token', kind: 'throttle_app', times: 100 });
      const r = await w.keeper.check({ all: true });
      const named = [...r.results.map((x) => x.page_id), ...r.not_checked.map((x) => x.page_id)];
      expect(named.sort()).toEqual([...ids].sort());
      const states = await Promise.all(ids.map((id) => w.keeper.status(id)));
      expect(states.some((s) => s.state === 'failing' && s.state_reason === 'throttled')).toBe(true);
      expect(states.every((s) => s.state !== 'healthy' || s.last_error === null)).toBe(true);
    });
  });

  it('renew --force that Facebook does not extend says so, in the same words as history', async () => {
    await withKeeper(backend, async (w) => {
      // Older Facebook behaviour: the Page token dies with the long-lived user token it came from.
      w.graph.setPageTokensInheritExpiry(true);
      const { userId, pageId } = w.newPage();
      const long = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'long' });
      const setup = await w.keeper.setup({
        pageId,
        accessToken: long,
        appId: w.app.appId,
        appSecret: w.app.appSecret,
      });
      // A true state and a true sentence: the deadline is real.
      expect(setup.status).toMatchObject({ state: 'expiring', state_reason: 'inherits_user_token_expiry' });
      expect(setup.notes.join(' ')).not.toMatch(/short-lived/);
      expect(setup.notes.join(' ')).toMatch(/together with the user token it was minted from/);

      w.clock.advance(DAY);
      const r = await w.keeper.renew(pageId, { force: true });
      expect(r).toMatchObject({
        renewed: false,
        reason: 'not_extendable',
        expires_at: r.previous_expires_at,
      });
      expect(r.message).toMatch(/did not extend/);
      const [latest] = (await w.keeper.history(pageId, { limit: 5 })).filter(
        (h) => h.type !== 'state_changed' && h.type !== 'token_rotated',
      );
      expect(latest).toMatchObject({ type: 'not_extendable', reason: 'not_extendable', message: r.message });
    });
  });
});
