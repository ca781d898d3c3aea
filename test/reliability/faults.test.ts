/**
 * Fault storm: 90 simulated days in which 30 % of Graph calls fail transiently (HTTP 500, code 1,
 * code 2), Facebook throttles in bursts (app, Page and business-use-case limits) and answers
 * slowly at times (added latency, requests held until the client's timeout).
 *
 * On Facebook's documented behaviour (no emulator switches): the renewable Pages hold expiring
 * (60-day) system-user tokens, the kind Meta documents as refreshable
 * (https://developers.facebook.com/docs/business-management-apis/system-users/install-apps-and-generate-tokens/);
 * every third Page holds a long-lived user token (a Page token that never expires, a user token
 * that ends after 60 days and cannot be extended).
 *
 * - 0 minutes without a valid posting token, for every Page, and 0 minutes without a valid source
 *   token for the system-user Pages (a lapsed source would end self-healing). Tokens change only
 *   during rounds, so between two steps the stored tokens are known; their expiries give the
 *   exact invalid time.
 * - No Graph calls while throttled: after a throttled answer at time t with wait R (1 h for the app
 *   limit, the regain time for BUC, 5 min for the Page limit), no call is made in (t, t + R).
 */
import { describe, expect, it } from 'vitest';
import { createManualClock, DAY, HOUR, MINUTE } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { startFakeGraph } from '../../src/fake-graph/index.js';
import { createTokenKeeper } from '../../src/lifecycle/keeper.js';
import { silentLogger } from '../../src/logger.js';
import { testBackends, withStore } from '../helpers/backends.js';
import { REFERENCE_TIME, testEnv } from '../helpers/keeper.js';
import { prng, scale, SEED } from './helpers.js';

const DAYS = 90;
const PAGES = scale(3, 30);
/** The longest the clock moves between two rounds (rounds also run whenever a page falls due). */
const STEP = scale(6 * HOUR, HOUR);
/** Finer steps for a while after each throttling burst, so that rounds fall inside the wait. */
const FINE_STEP = 10 * MINUTE;
const BUC_REGAIN_MINUTES = 90;

/** The wait the keeper must honour after each kind of throttled answer (src/graph/usage.ts). */
function throttleWindow(fbCode: number | null): number {
  if (fbCode === 4 || fbCode === 17 || fbCode === 341) return HOUR;
  if (fbCode === 80001) return BUC_REGAIN_MINUTES * MINUTE;
  return 5 * MINUTE;
}

describe.each(testBackends())('fault storm on %s', (backend) => {
  it(`${DAYS} days, 30 % transient errors, throttling bursts, latency spikes: tokens never lapse, no calls while throttled`, {
    // About a minute alone; beside CI's unit project on the same PostgreSQL it once took over five.
    timeout: scale(600_000, 1_200_000),
  }, async () => {
    const random = prng(SEED + 11);
    console.log(`fault storm on ${backend}: seed ${SEED}, ${PAGES} pages`);
    const clock = createManualClock(REFERENCE_TIME);
    // Fault rolls come from the seeded source, so a failing run can be replayed with RELIABILITY_SEED.
    const graph = await startFakeGraph({ clock, random });
    try {
      await withStore(backend, async (store) => {
        const keeper = await createTokenKeeper({
          config: loadConfig(testEnv(graph.url, { GRAPH_TIMEOUT_MS: '300', CHECK_CONCURRENCY: '4' })),
          store,
          clock,
          logger: silentLogger,
          random,
        });
        const w = {
          clock,
          keeper,
          newPage(name: string) {
            const user = graph.createUser({ name: 'Admin' });
            const page = graph.createPage({ name });
            graph.grantRole(user.id, page.id);
            return { userId: user.id, pageId: page.id };
          },
        };
        const app = graph.createApp({ name: 'Storm app' });
        // Renewable (system-user) pages: half renew at the seed's 50 days, half only in their last 3.
        const pageIds: string[] = [];
        const systemUserPages = new Set<string>();
        for (let i = 0; i < PAGES; i++) {
          let pageId: string;
          let token: string;
          if (i % 3 === 2) {
            const made = w.newPage(`Storm ${i}`);
            pageId = made.pageId;
            token = graph.issueUserToken({ appId: app.appId, userId: made.userId, lifetime: 'long' });
          } else {
            pageId = graph.createPage({ name: `Storm ${i}` }).id;
            const su = graph.createSystemUser({ appId: app.appId, pages: [pageId] });
            token = graph.issueSystemUserToken({ appId: app.appId, systemUserId: su.id, expiring: true });
            systemUserPages.add(pageId);
          }
          await w.keeper.setup({ pageId, accessToken: token, appId: app.appId, appSecret: app.appSecret });
          if (i % 2 === 1) await w.keeper.updatePage(pageId, { renewalThresholdDays: 3 });
          pageIds.push(pageId);
          w.clock.advance(Math.floor((6 * HOUR) / PAGES));
        }
        graph.resetCalls();

        // 30 % transient failures overall: 1 - 0.9 × (1 - 1/9) × (1 - 1/8) = 0.3.
        graph.injectFault({ kind: 'http_500', probability: 0.1, times: Number.POSITIVE_INFINITY });
        graph.injectFault({ kind: 'transient_code_1', probability: 1 / 9, times: Number.POSITIVE_INFINITY });
        graph.injectFault({ kind: 'transient_code_2', probability: 1 / 8, times: Number.POSITIVE_INFINITY });

        // Bursts on chosen days: [day, what].
        const bursts = new Map<number, () => void>([
          [5, () => graph.injectFault({ kind: 'throttle_app', times: 2 })],
          [
            17,
            () => graph.injectFault({ kind: 'throttle_buc', times: 3, regainMinutes: BUC_REGAIN_MINUTES }),
          ],
          [29, () => graph.injectFault({ kind: 'throttle_page', times: 3 })],
          [41, () => graph.injectFault({ kind: 'throttle_app', path: '/oauth/access_token', times: 1 })],
          [
            53,
            () => graph.injectFault({ kind: 'throttle_buc', times: 2, regainMinutes: BUC_REGAIN_MINUTES }),
          ],
          [65, () => graph.injectFault({ kind: 'throttle_app', times: 3 })],
          [
            77,
            () =>
              graph.injectFault({
                kind: 'throttle_buc',
                path: '/debug_token',
                times: 2,
                regainMinutes: BUC_REGAIN_MINUTES,
              }),
          ],
        ]);
        const spikes = new Set([11, 23, 47, 71]);

        // The stored tokens of each page (the posting token, and the source token of system-user
        // pages), re-read only when the keeper says they may have changed.
        const current = new Map<string, { token: string; expiresAt: number | null }[]>();
        const read = async (pageId: string) => {
          const secrets = await store.getSecrets(pageId);
          const tokens = [secrets!.postingToken];
          if (systemUserPages.has(pageId)) tokens.push(secrets!.sourceToken!);
          current.set(
            pageId,
            tokens.map((token) => ({ token, expiresAt: graph.tokenStatus(token).expiresAt })),
          );
        };
        for (const id of pageIds) await read(id);
        const changed = new Set<string>();
        w.keeper.events.on('renewal', (r) => changed.add(r.pageId));

        let invalidMs = 0;
        const invalidPages = new Set<string>();
        let renewals = 0;
        let rounds = 0;
        w.keeper.events.on('renewal', (r) => {
          if (r.outcome === 'renewed') renewals++;
        });
        const end = w.clock.now() + DAYS * DAY;
        let fineUntil = 0;
        let slowRounds = 0;
        let day = -1;
        while (w.clock.now() < end) {
          const today = Math.floor((w.clock.now() - (end - DAYS * DAY)) / DAY);
          if (today !== day) {
            day = today;
            const burst = bursts.get(day);
            if (burst) {
              burst();
              fineUntil = w.clock.now() + 4 * HOUR;
            }
            if (spikes.has(day)) {
              // A latency spike: every answer takes 150 ms for three rounds, and two requests hang
              // until the client's timeout.
              graph.setLatency(150);
              graph.injectFault({ kind: 'timeout', times: 2 });
              slowRounds = 3;
            }
          }
          if (slowRounds > 0 && --slowRounds === 0) graph.setLatency(0);
          // Like `serve`'s scheduler, which wakes every minute: the next round is when the earliest
          // page falls due (its next check, or the end of its backoff), at most STEP away.
          const now = w.clock.now();
          const nextDue = Math.min(
            ...(await store.listPages()).map((p) => Math.max(p.nextCheckAt ?? now, p.retryAt ?? now)),
          );
          let step = Math.min(STEP, Math.max(MINUTE, Math.ceil((nextDue - now) / MINUTE) * MINUTE));
          if (now < fineUntil) step = Math.min(step, FINE_STEP);
          w.clock.advance(step);
          await w.keeper.runRound();
          rounds++;
          const to = w.clock.now();
          for (const id of changed) await read(id);
          changed.clear();
          // Between this round and the next, the stored token is fixed: count any time it is not valid.
          for (const [id, tokens] of current) {
            for (const t of tokens) {
              const status = graph.tokenStatus(t.token);
              const lapse = !status.valid
                ? step
                : t.expiresAt !== null && t.expiresAt < to + step
                  ? to + step - Math.max(t.expiresAt, to)
                  : 0;
              if (lapse > 0) {
                invalidMs += lapse;
                invalidPages.add(id);
              }
            }
          }
        }
        graph.clearFaults();
        graph.setLatency(0);

        // --- no calls while throttled ---------------------------------------------------------------
        // Graph calls, not round trips: a batch request (GRAPH_BATCH=auto) is recorded beside its
        // items, and faults hit the items.
        const calls = graph.calls.filter((c) => !(c.method === 'POST' && c.path === `/${graph.version}/`));
        const throttled = calls.filter((c) => c.fault?.startsWith('throttle_'));
        let sameInstant = 0;
        for (const t of throttled) {
          const until = t.at + throttleWindow(t.fbCode);
          const inside = calls.filter((c) => c.at > t.at && c.at < until);
          expect(
            inside.map((c) => `${c.path}@${new Date(c.at).toISOString()}`),
            `calls while throttled after ${t.fault} at ${new Date(t.at).toISOString()}`,
          ).toEqual([]);
          sameInstant += calls.filter((c) => c.at === t.at && calls.indexOf(c) > calls.indexOf(t)).length;
        }
        const failed = calls.filter((c) => c.fault !== null && !c.fault.startsWith('throttle_')).length;
        console.log(
          `fault storm on ${backend}: ${rounds} rounds, ${calls.length} Graph calls, ${failed} failed transiently (${((100 * failed) / calls.length).toFixed(0)} %), ` +
            `${throttled.length} throttled; ${renewals} renewals; ${(invalidMs / MINUTE).toFixed(0)} page-minutes without a valid posting token (or system-user source token); ` +
            `${sameInstant} calls in the same instant after a throttled answer (already in flight)`,
        );
        expect(throttled.length).toBeGreaterThanOrEqual(5);
        expect(failed / calls.length).toBeGreaterThan(0.2);
        expect(renewals).toBeGreaterThanOrEqual(systemUserPages.size);
        for (const id of invalidPages) {
          const st = await w.keeper.status(id, { historyLimit: 0 });
          const h = await w.keeper.history(id, { limit: 400 });
          console.log(
            `page ${id} lapsed: state ${st.state} ${st.state_reason} expires ${st.expires_at} threshold ${st.renewal_threshold_days}; history (newest first):\n${h
              .slice(0, 60)
              .map(
                (e) =>
                  `  ${e.at} ${e.type} ${e.reason ?? ''} ${e.state_from ?? ''}->${e.state_to ?? ''} ${e.message ?? ''}`,
              )
              .join('\n')}`,
          );
        }
        expect([...invalidPages], 'pages that were without a valid posting token').toEqual([]);
        expect(invalidMs).toBe(0);
      });
    } finally {
      await graph.close();
    }
  });
});
