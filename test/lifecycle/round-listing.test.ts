/**
 * A paced round whose first listings are all held back by one app's call budget still reaches the
 * Pages of other apps behind them. The round lists on from where its last listing ended; before,
 * it listed the same first Pages again, saw nothing new and stopped, so another app's due Page
 * waited for the next poll, and the next, for as long as the first app's budget was short.
 */
import { describe, expect, it } from 'vitest';
import { HOUR } from '../../src/clock.js';
import { testBackends } from '../helpers/backends.js';
import { withKeeper } from '../helpers/keeper.js';
import { newPage } from '../store/fixtures/pages.js';

/** More than one listing (500) plus the round's workers (50): more than the old re-listing reached. */
const HELD = 600;

describe.each(testBackends())('round listing on %s', (backend) => {
  it(`${HELD} Pages held back by their app's budget do not hide another app's due Page`, async () => {
    await withKeeper(
      backend,
      async (w) => {
        // App A: one daily user (200 calls an hour), its usage already past the 50 % target.
        const a = w.app;
        w.graph.setAppUsers(a.appId, 1);
        const { userId, pageId: a0 } = w.newPage('A0');
        await w.keeper.setup({
          pageId: a0,
          accessToken: w.graph.issueUserToken({ appId: a.appId, userId, lifetime: 'long' }),
          appId: a.appId,
          appSecret: a.appSecret,
        });
        for (let i = 0; i < 60; i++) await w.keeper.check({ pageId: a0 });
        expect(w.graph.appUsage(a.appId).call_count).toBeGreaterThan(50);

        // App B: plenty of budget, one Page.
        const b = w.graph.createApp({ name: 'B' });
        const user = w.graph.createUser({ name: 'B admin' });
        const bPage = w.graph.createPage({ name: 'B page' });
        w.graph.grantRole(user.id, bPage.id);
        await w.keeper.setup({
          pageId: bPage.id,
          accessToken: w.graph.issueUserToken({ appId: b.appId, userId: user.id, lifetime: 'long' }),
          appId: b.appId,
          appSecret: b.appSecret,
        });

        // A's other Pages, due an hour before B's (written to the store: they are never called).
        const now = w.clock.now();
        for (let i = 0; i < HELD; i++) {
          const id = `9${String(i).padStart(6, '0')}`;
          await w.store.savePage(
            newPage(id, { appId: a.appId, lastCheckedAt: now - 7 * HOUR, nextCheckAt: now - HOUR }),
            {
              appSecret: a.appSecret,
              postingToken: `EAAHELD${id}`,
              sourceToken: 'EAAHELDSOURCE',
            },
          );
        }
        await w.store.updatePage(bPage.id, { nextCheckAt: now - 1 });
        w.clock.advance(1000);
        const roundAt = w.clock.now();

        await w.keeper.runRound();
        const held = (await w.store.listPages()).filter((p) => p.pageId.startsWith('9'));
        // The budget held A's Pages back (one may pass on the bucket's first token)…
        expect(held.filter((p) => p.lastCheckedAt === roundAt).length).toBeLessThanOrEqual(1);
        // …and B's Page, listed behind them, was checked in the same round.
        expect((await w.store.getPage(bPage.id))!.lastCheckedAt).toBe(roundAt);
      },
      { env: { GRAPH_CHECK: 'debug_token' } },
    );
  });
});
