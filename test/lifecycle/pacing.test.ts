/**
 * Pacing against the app's call budget, end to end: a real keeper and store, the emulator's budget
 * (200 calls per hour for an app with one daily user), rounds every minute on a manual clock. With
 * pacing, 150 Pages (300 debug_token calls per 6-hour interval) are all checked within the
 * interval without one throttled answer; the same rounds without pacing burst past 100 % and are
 * throttled.
 */
import { describe, expect, it } from 'vitest';
import { createManualClock, HOUR, MINUTE } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { startFakeGraph } from '../../src/fake-graph/index.js';
import { createTokenKeeper } from '../../src/lifecycle/keeper.js';
import { silentLogger } from '../../src/logger.js';
import { testBackends, withStore } from '../helpers/backends.js';
import { REFERENCE_TIME, testEnv } from '../helpers/keeper.js';

const PAGES = 150;
const THROTTLE_CODES = [4, 17, 32, 613, 80001];

async function run(backend: 'sqlite' | 'postgres', pacing: boolean) {
  const clock = createManualClock(REFERENCE_TIME);
  const graph = await startFakeGraph({ clock });
  try {
    let result: { throttled: number; checked: number; debugCalls: number; maxUsage: number } | null = null;
    await withStore(backend, async (store) => {
      // Every check a debug_token (the app's budget): what pacing is for. With GRAPH_CHECK=auto most
      // checks are probes on the Pages' own budgets (test/lifecycle/check-choice-round.test.ts).
      const config = loadConfig(testEnv(graph.url, { GRAPH_CHECK: 'debug_token' }));
      const app = graph.createApp({ name: 'Few users' });
      const setupKeeper = await createTokenKeeper({
        config,
        store,
        clock,
        logger: silentLogger,
        random: () => 0.5,
      });
      for (let i = 0; i < PAGES; i++) {
        const user = graph.createUser();
        const page = graph.createPage({ name: `Page ${i}` });
        graph.grantRole(user.id, page.id);
        const long = graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
        await setupKeeper.setup({
          pageId: page.id,
          accessToken: long,
          appId: app.appId,
          appSecret: app.appSecret,
        });
      }
      // From now on the app has one daily user: 200 calls per rolling hour. A fresh keeper (as
      // after a restart) knows nothing of the budget yet.
      graph.setAppUsers(app.appId, 1);
      graph.resetUsage();
      graph.resetCalls();
      const keeper = await createTokenKeeper({
        config,
        store,
        clock,
        logger: silentLogger,
        random: () => 0.5,
        pacing,
      });
      // Every Page falls due at once (as after downtime).
      clock.advance(6 * HOUR + 1);
      const start = clock.now();
      let maxUsage = 0;
      for (let t = 0; t < 6 * HOUR; t += MINUTE) {
        await keeper.runRound();
        maxUsage = Math.max(maxUsage, graph.appUsage(app.appId).call_count);
        clock.advance(MINUTE);
      }
      const pages = await store.listPages();
      result = {
        throttled: graph.calls.filter((c) => c.fbCode !== null && THROTTLE_CODES.includes(c.fbCode)).length,
        checked: pages.filter((p) => (p.lastCheckedAt ?? 0) >= start).length,
        debugCalls: graph.countCalls('/debug_token'),
        maxUsage,
      };
    });
    return result!;
  } finally {
    await graph.close();
  }
}

describe.each(testBackends())('pacing on %s', (backend) => {
  it('an app with one daily user: paced rounds check all 150 Pages within the interval with 0 throttled answers; unpaced rounds are throttled', async () => {
    const paced = await run(backend, true);
    expect(paced.throttled).toBe(0);
    expect(paced.checked).toBe(PAGES);
    // GRAPH_USAGE_TARGET=50: the projected usage stays under it, with a little overshoot from
    // the first calls made before the first header (Facebook sends none below 1 %).
    expect(paced.maxUsage).toBeLessThanOrEqual(60);

    const unpaced = await run(backend, false);
    expect(unpaced.throttled).toBeGreaterThan(0);
    expect(unpaced.maxUsage).toBeGreaterThanOrEqual(100);
  }, 240_000);
});
