/**
 * Kill test: a real `serve` process renews Pages non-stop and is killed with SIGKILL at random
 * moments, many times, on SQLite and on PostgreSQL. After every kill, with the process gone:
 * - every Page's stored posting and source tokens decrypt and the emulator says they are valid;
 * - every Page's history is one unbroken chain of token rotations ending at the stored token
 *   (no renewal written twice, none half-written);
 * and the next process starts, becomes ready and renews again.
 *
 * On Facebook's documented behaviour (no emulator switches): two thirds of the Pages are set up
 * with expiring (60-day) system-user tokens, which Meta documents as refreshable
 * (https://developers.facebook.com/docs/business-management-apis/system-users/install-apps-and-generate-tokens/),
 * one third with long-lived user tokens, whose Page tokens never expire and whose user token
 * cannot be extended. RENEWAL_THRESHOLD_DAYS=365 makes every check refresh the system-user tokens,
 * checks run every ~0.7 s, the emulator's clock runs ahead so each refresh really moves the expiry,
 * and an API client forces renewals (a fresh Page token each time) on every kind of Page. 10 % of
 * debug_token calls fail, so some renewals fail half-way.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createManualClock, MINUTE } from '../../src/clock.js';
import { startFakeGraph } from '../../src/fake-graph/index.js';
import { openStore } from '../../src/store/database.js';
import { createSecretBox } from '../../src/crypto/secret-box.js';
import { testBackends } from '../helpers/backends.js';
import {
  checkRotationChain,
  pgSchema,
  pollUntil,
  prng,
  SEED,
  scale,
  seedPages,
  startServe,
  storedTokens,
} from './helpers.js';

// More Pages than one process works on at once (50 with GRAPH_BATCH=auto), so that a process
// started after a kill finds Pages its predecessor did not hold: those wait out its leases (2 min).
const PAGES = scale(64, 120);
/** The page and connection lease of a process that died (src/lifecycle/keeper.ts). */
const LEASE_TTL_MS = 2 * 60_000;
const KILLS = scale(6, 40);

describe.each(testBackends())('kill test on %s', (backend) => {
  it(`SIGKILL ×${KILLS} at random points: every token stays valid, history stays whole`, {
    timeout: scale(480_000, 1_800_000),
  }, async () => {
    const random = prng(SEED + (backend === 'sqlite' ? 1 : 2));
    console.log(`kill test on ${backend}: seed ${SEED}, ${PAGES} pages, ${KILLS} kills`);
    // The emulator's clock starts at real time and runs ahead (below), so exchanges extend.
    const emulatorClock = createManualClock(Date.now());
    const graph = await startFakeGraph({ clock: emulatorClock, random });

    const dir = mkdtempSync(join(tmpdir(), 'fbtk-kill-'));
    const pgs = backend === 'postgres' ? await pgSchema('kill') : null;
    const databaseUrl = pgs ? pgs.databaseUrl : `sqlite:${join(dir, 'keeper.db')}`;
    const keyBytes = randomBytes(32);
    const env = {
      DATABASE_URL: databaseUrl,
      TOKEN_ENCRYPTION_KEY: keyBytes.toString('base64'),
      GRAPH_API_URL: graph.url,
      FACEBOOK_DIALOG_URL: graph.url,
      CHECK_INTERVAL_HOURS: '0.0002',
      RENEWAL_THRESHOLD_DAYS: '365',
      CHECK_CONCURRENCY: '4',
      GRAPH_TIMEOUT_MS: '5000',
    };
    const open = () => openStore({ databaseUrl, secretBox: createSecretBox({ current: keyBytes }) });
    /** Page tokens the emulator minted (`GET /{version}/{page-id}` answered 200). */
    const mints = () =>
      graph.calls.filter((c) => c.method === 'GET' && c.status === 200 && /^\/v[\d.]+\/\d+$/.test(c.path))
        .length;
    const ticker = setInterval(() => emulatorClock.advance(10 * MINUTE), 100);
    try {
      // --- Pages set up through the library, as `add` would, before the first serve. -----------
      const { pageIds, keys, kinds } = await seedPages(env, graph, PAGES, undefined, (i) =>
        i % 3 === 2 ? 'user' : 'system_user_60d',
      );
      const key = keys.admin!;
      graph.injectFault({
        path: '/debug_token',
        kind: 'transient_code_2',
        probability: 0.1,
        times: Number.POSITIVE_INFINITY,
      });

      let totalRotations = 0;
      let midRenewal = 0;
      let leasedAtKill = 0;
      const startups: number[] = [];
      const perCycle: number[] = [];
      for (let k = 0; k < KILLS; k++) {
        const serve = await startServe(env);
        startups.push(await serve.waitReady());
        // An API client forcing renewals while the scheduler renews on its own.
        let driving = true;
        const driver = (async () => {
          while (driving) {
            const pageId = pageIds[Math.floor(random() * pageIds.length)]!;
            await fetch(`${serve.url}/api/pages/${pageId}/renew`, {
              method: 'POST',
              headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
              body: JSON.stringify({ force: true }),
            }).then(
              (r) => r.arrayBuffer(),
              () => undefined,
            );
          }
        })();
        // Wait until this process is renewing (a Page token minted since it started: on a loaded
        // machine that can take seconds), then a random while more, then kill it mid-work.
        const mintedBefore = mints();
        // With batching a process works on up to 50 Pages at once, so the two processes killed just
        // before can hold every Page's lease between them: this one may have to wait those out (2 min).
        await pollUntil('a Page token minted by this process', () => mints() > mintedBefore, {
          timeoutMs: LEASE_TTL_MS + 60_000,
        });
        await new Promise((r) => setTimeout(r, random() * 1500));
        await serve.kill('SIGKILL');
        driving = false;
        await driver;

        // --- offline verification ---------------------------------------------------------------
        const store = await open();
        try {
          const tokens = await storedTokens(store);
          expect(tokens.size).toBe(PAGES);
          // Kills that landed in the middle of a renewal leave the page marked `renewing` under the
          // dead process's lease; the old token must still be the stored, valid one.
          const pages = await store.listPages();
          midRenewal += pages.filter((p) => p.state === 'renewing').length;
          leasedAtKill += pages.filter((p) => p.leaseOwner !== null).length;
          let rotations = 0;
          for (const [pageId, t] of tokens) {
            const posting = graph.tokenStatus(t.posting);
            expect(
              posting.valid,
              `page ${pageId}: stored posting token is not valid after kill ${k + 1} (${JSON.stringify(posting)})`,
            ).toBe(true);
            if (t.source) {
              const source = graph.tokenStatus(t.source);
              // A long-lived user token ends on its scheduled day (463) and no exchange extends it;
              // a system-user token is refreshed and must never lapse.
              const documentedEnd = kinds.get(pageId) === 'user' && source.subcode === 463;
              expect(
                source.valid || documentedEnd,
                `page ${pageId} (${kinds.get(pageId)}): source token ${JSON.stringify(source)}`,
              ).toBe(true);
            }
            const chain = checkRotationChain(await store.listEvents(pageId, { limit: 100_000 }), t.posting);
            expect(chain.problems, `page ${pageId} after kill ${k + 1}`).toEqual([]);
            rotations += chain.rotations;
          }
          perCycle.push(rotations - totalRotations);
          totalRotations = rotations;
        } finally {
          await store.close();
        }
      }
      const refreshes = graph.calls.filter(
        (c) => c.path.endsWith('/oauth/access_token') && c.status === 200,
      ).length;
      console.log(
        `kill test on ${backend}: ${refreshes} token exchanges answered, ${totalRotations} posting-token renewals across ${KILLS} kills (per run: ${perCycle.join(', ')}); ` +
          `${midRenewal} pages caught mid-renewal and ${leasedAtKill} under a lease at the kills; start-up to ready ${Math.min(...startups)}–${Math.max(...startups)} ms`,
      );
      // Renewals really were happening when the kills landed: finished ones, or ones the kill caught
      // half-way (with batching a process works on up to 50 Pages at once, so a kill often catches
      // more renewals than have finished: one run saw 11 finished and 124 caught).
      expect(totalRotations + midRenewal).toBeGreaterThan(KILLS * 2);
      expect(refreshes).toBeGreaterThan(PAGES);
      expect(perCycle.filter((n) => n > 0).length).toBeGreaterThanOrEqual(Math.ceil(KILLS / 2));
    } finally {
      clearInterval(ticker);
      await graph.close();
      await pgs?.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
