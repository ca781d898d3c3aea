/**
 * Many instances: three keepers, each with its own connection pool, on one PostgreSQL schema over
 * the same Pages, for a simulated quarter on one shared manual clock (the emulator's too). At every
 * step all three run their check round at the same moment, so they race for the same due Pages.
 *
 * - No token is exchanged twice for one renewal: the emulator's count of exchange calls equals the
 *   number of renewals the three keepers report, and no Page is renewed twice at one instant.
 * - No Page is left unchecked: the longest gap between two checks of a Page stays within the check
 *   interval (+10 % jitter) and one step.
 */
import { describe, expect, it } from 'vitest';
import { createManualClock, DAY, HOUR } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { createSecretBox } from '../../src/crypto/secret-box.js';
import { startFakeGraph } from '../../src/fake-graph/index.js';
import { createTokenKeeper, type KeeperInternals } from '../../src/lifecycle/keeper.js';
import { silentLogger } from '../../src/logger.js';
import { openStore } from '../../src/store/database.js';
import { REFERENCE_TIME } from '../helpers/keeper.js';
import { TEST_KEY } from '../helpers/backends.js';
import { PG_URL, pgSchema, prng, scale, SEED } from './helpers.js';

const PAGES = scale(12, 90);
const STEP = scale(3 * HOUR, 30 * 60_000);
const INTERVAL_HOURS = scale(24, 6);
const QUARTER = 91 * DAY;

describe.skipIf(!PG_URL)('three instances on one PostgreSQL', () => {
  it(`a simulated quarter, ${PAGES} pages: no double exchange, no page unchecked`, {
    timeout: scale(120_000, 1_200_000),
  }, async () => {
    console.log(
      `instances: seed ${SEED}, ${PAGES} pages, ${STEP / 60_000}-minute steps, checks every ${INTERVAL_HOURS} h`,
    );
    const clock = createManualClock(REFERENCE_TIME);
    const graph = await startFakeGraph({ clock, random: prng(SEED) });
    const pgs = await pgSchema('instances');
    const env = {
      DATABASE_URL: pgs.databaseUrl,
      TOKEN_ENCRYPTION_KEY: TEST_KEY.toString('base64'),
      GRAPH_API_URL: graph.url,
      FACEBOOK_DIALOG_URL: graph.url,
      CHECK_INTERVAL_HOURS: String(INTERVAL_HOURS),
      CHECK_CONCURRENCY: '4',
      // Refresh the 60-day system-user tokens at 10 days old: a renewal every ~10 days per Page.
      RENEWAL_THRESHOLD_DAYS: '50',
    };
    const keepers: KeeperInternals[] = [];
    try {
      const random = prng(SEED + 7);
      for (let i = 0; i < 3; i++) {
        // Each instance: its own pool on the same schema, as three processes would have.
        const store = await openStore({
          databaseUrl: pgs.databaseUrl,
          secretBox: createSecretBox({ current: TEST_KEY }),
          clock,
        });
        if (i === 0) await store.migrate();
        keepers.push(
          await createTokenKeeper({
            config: loadConfig({ ...env, INSTANCE_ID: `instance-${i}` }),
            store,
            clock,
            logger: silentLogger,
            random,
          }),
        );
      }

      // Facebook's documented behaviour, no emulator switches. Pages: two thirds with expiring
      // (60-day) system-user tokens, refreshed every ~10 days (Meta documents the refresh:
      // https://developers.facebook.com/docs/business-management-apis/system-users/install-apps-and-generate-tokens/),
      // one third with long-lived user tokens (a Page token that never expires; the user token is
      // tried once and found not extendable). Set up through different instances.
      const app = graph.createApp({ name: 'Instances app' });
      const systemUserPages: string[] = [];
      for (let i = 0; i < PAGES; i++) {
        const page = graph.createPage({ name: `Page ${i}` });
        let token: string;
        if (i % 3 !== 2) {
          systemUserPages.push(page.id);
          const su = graph.createSystemUser({ appId: app.appId, pages: [page.id] });
          token = graph.issueSystemUserToken({ appId: app.appId, systemUserId: su.id, expiring: true });
        } else {
          const user = graph.createUser({ name: `Admin ${i}` });
          graph.grantRole(user.id, page.id);
          token = graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
        }
        await keepers[i % 3]!.setup({
          pageId: page.id,
          accessToken: token,
          appId: app.appId,
          appSecret: app.appSecret,
        });
        // Spread set-ups over the first day so renewals do not all fall on one step.
        clock.advance(Math.floor(DAY / PAGES));
      }
      const exchangesAtSetup = graph.countCalls('/oauth/access_token');
      const pageIds = (await keepers[0]!.store.listPages()).map((p) => p.pageId);

      // What the three instances report.
      const renewals: { pageId: string; at: number; instance: number }[] = [];
      const checks = new Map<string, number[]>(pageIds.map((id) => [id, [clock.now()]]));
      keepers.forEach((k, instance) => {
        k.events.on('renewal', (r) => {
          // The exchanges of the source token (a rotation then re-mints the Page: no exchange).
          if (r.outcome !== 'failed' && r.token === 'source') {
            renewals.push({ pageId: r.pageId, at: clock.now(), instance });
          }
        });
        k.events.on('page_processed', (p) => {
          if (p.outcome !== 'skipped') checks.get(p.pageId)?.push(clock.now());
        });
      });

      const end = clock.now() + QUARTER;
      let rounds = 0;
      while (clock.now() < end) {
        clock.advance(STEP);
        await Promise.all(keepers.map((k) => k.runRound()));
        rounds++;
      }

      // --- no token exchanged twice for one renewal ----------------------------------------------
      const exchanges = graph.countCalls('/oauth/access_token') - exchangesAtSetup;
      const byPageAndTime = new Map<string, number>();
      for (const r of renewals) {
        byPageAndTime.set(`${r.pageId}@${r.at}`, (byPageAndTime.get(`${r.pageId}@${r.at}`) ?? 0) + 1);
      }
      const doubles = [...byPageAndTime].filter(([, n]) => n > 1);
      const perInstance = [0, 1, 2].map((i) => renewals.filter((r) => r.instance === i).length);
      expect(doubles).toEqual([]);
      expect(exchanges).toBe(renewals.length);
      // Every system-user page was renewed as the quarter went by (about every 10 days), by whichever
      // instance; every user-token page was tried exactly once (Facebook does not extend it).
      for (const id of pageIds) {
        const n = renewals.filter((r) => r.pageId === id).length;
        if (systemUserPages.includes(id)) expect(n, `renewals of ${id}`).toBeGreaterThanOrEqual(7);
        else expect(n, `exchanges of user-token page ${id}`).toBe(1);
      }
      expect(perInstance.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);

      // --- no page left unchecked ---------------------------------------------------------------
      const limit = INTERVAL_HOURS * HOUR * 1.1 + STEP;
      let worstGap = 0;
      let sameInstantChecks = 0;
      for (const [id, times] of checks) {
        times.push(end);
        times.sort((a, b) => a - b);
        for (let i = 1; i < times.length; i++) {
          const gap = times[i]! - times[i - 1]!;
          if (gap === 0) sameInstantChecks++;
          worstGap = Math.max(worstGap, gap);
          expect(
            gap,
            `page ${id} went unchecked from ${new Date(times[i - 1]!).toISOString()}`,
          ).toBeLessThanOrEqual(limit);
        }
      }
      // And every token is valid at the end of the quarter.
      for (const id of pageIds) {
        expect(graph.tokenStatus(await keepers[0]!.getPageToken(id)).valid, `posting token of ${id}`).toBe(
          true,
        );
      }
      console.log(
        `instances: ${rounds} steps × 3 rounds; ${renewals.length} renewals (per instance ${perInstance.join('/')}), ${exchanges} exchange calls; ` +
          `longest gap between checks ${(worstGap / HOUR).toFixed(1)} h (limit ${(limit / HOUR).toFixed(1)} h); ` +
          `${sameInstantChecks} redundant checks (a second instance checking a page it had just lost the race for)`,
      );
    } finally {
      for (const k of keepers) await k.store.close();
      await graph.close();
      await pgs.drop();
    }
  });
});
