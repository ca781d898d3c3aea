/**
 * Round trips to Facebook per Page check with GRAPH_BATCH=auto (round.ts, graph/batch.ts): the
 * checks that reach their call while a batch is out wait for it and go together in the next one,
 * so a round makes far fewer HTTP requests than checks, on either database — where the workers
 * fall out of step with each other (PostgreSQL) too — while no more than CHECK_CONCURRENCY
 * requests are ever in flight.
 *
 * Facebook is "slower than the database" here as a fact of the network, with no clock and no
 * sleep: a gate in front of the emulator holds every request, and lets them through only when
 * every check the round works on is waiting for Facebook (the state a 100 ms answer reaches: a
 * check's database work takes a few ms).
 */
import { describe, expect, it } from 'vitest';
import { HOUR } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { createTokenKeeper, type KeeperInternals } from '../../src/lifecycle/keeper.js';
import { silentLogger } from '../../src/logger.js';
import { testBackends } from '../helpers/backends.js';
import { startGraphGate, type GraphGate } from '../helpers/gate.js';
import { type KeeperWorld, testEnv, withKeeper } from '../helpers/keeper.js';

const LOGINS = 10;
const PAGES_PER_LOGIN = 10;

async function setUpPages(w: KeeperWorld): Promise<string[]> {
  const ids: string[] = [];
  for (let l = 0; l < LOGINS; l++) {
    const user = w.graph.createUser({ name: `Admin ${l}` });
    const userToken = w.graph.issueUserToken({ appId: w.app.appId, userId: user.id, lifetime: 'long' });
    for (let i = 0; i < PAGES_PER_LOGIN; i++) {
      const page = w.graph.createPage({ name: `Page ${l}.${i}` });
      w.graph.grantRole(user.id, page.id);
      await w.keeper.setup({
        pageId: page.id,
        accessToken: userToken,
        appId: w.app.appId,
        appSecret: w.app.appSecret,
      });
      ids.push(page.id);
    }
  }
  return ids;
}

/**
 * Calls the round still has to make before Facebook has news for it: the logins not looked at
 * yet this round, else the Pages not checked yet, as many at once as the round works on.
 */
async function outstanding(w: KeeperWorld, workers: number): Promise<number> {
  const now = w.clock.now();
  const logins = (await w.store.listConnections()).filter((c) => c.lastCheckedAt !== now).length;
  if (logins > 0) return Math.min(workers, logins);
  return Math.min(workers, (await w.store.listPages()).filter((p) => p.lastCheckedAt !== now).length);
}

/**
 * Run a round with Facebook answering only when everything the round holds waits for it;
 * returns the most requests that were at Facebook's door at once.
 */
async function roundBehindSlowFacebook(
  w: KeeperWorld,
  keeper: KeeperInternals,
  gate: GraphGate,
  workers: number,
) {
  gate.hold();
  let done = false;
  const round = keeper.runRound().finally(() => {
    done = true;
  });
  let most = 0;
  while (!done) {
    await Promise.race([gate.nextHeld(), round]);
    if (done) break;
    // Every check the round works on is waiting for an answer: let Facebook answer what it has.
    if (keeper.graph.pendingCalls < (await outstanding(w, workers))) {
      await new Promise((r) => setImmediate(r));
      continue;
    }
    most = Math.max(most, gate.heldCount());
    gate.release();
    gate.hold();
  }
  await round;
  gate.release();
  return most;
}

describe.each(testBackends())('round trips with GRAPH_BATCH=auto on %s', (backend) => {
  it('a round of 100 probes and 10 looks takes a few round trips (≤ 100 per 1,000 checks), at most C in flight', async () => {
    await withKeeper(backend, async (w) => {
      const ids = await setUpPages(w);
      const gate = await startGraphGate(w.graph.url);
      const keeper = await createTokenKeeper({
        config: loadConfig(testEnv(gate.url, { CHECK_CONCURRENCY: '2' })),
        store: w.store,
        clock: w.clock,
        timers: w.timers,
        logger: silentLogger,
      });
      try {
        w.clock.advance(7 * HOUR);
        w.graph.resetCalls();
        // The round works on 50 at once (one batch's worth), C = 2 requests in flight.
        const most = await roundBehindSlowFacebook(w, keeper, gate, 50);

        // Every Page checked (a probe each), every login looked at once.
        for (const id of ids) expect((await w.store.getPage(id))!.lastCheckedAt).toBe(w.clock.now());
        expect(w.graph.calls.filter((c) => c.path.endsWith('/me'))).toHaveLength(ids.length);
        expect(w.graph.countCalls('/debug_token')).toBe(LOGINS);
        // Batch envelopes are the round trips that carry items; every other call is one of its own.
        const roundTrips = w.graph.calls.filter((c) => c.batch !== true).length;
        expect((1000 * roundTrips) / ids.length).toBeLessThanOrEqual(100);
        // With C = 2 and no batching this is 110 round trips; a batch per turn of C workers, 55.
        expect(roundTrips).toBeLessThanOrEqual(10);
        expect(most).toBeLessThanOrEqual(2);
      } finally {
        await gate.close();
      }
    });
  });
});
