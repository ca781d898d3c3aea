/**
 * The cheapest bucket, wired into the round (lifecycle/check-choice.ts, page-job.ts): a
 * never-expiring Page token is probed with the Page token itself between daily debug_token
 * inspections; a dead token is still seen at the first check after it died.
 */
import { describe, expect, it } from 'vitest';
import { DAY, HOUR } from '../../src/clock.js';
import { testBackends } from '../helpers/backends.js';
import { type KeeperWorld, withKeeper } from '../helpers/keeper.js';

/** Pages of one login, set up from its long-lived user token. */
async function pagesOfOneLogin(w: KeeperWorld, n: number): Promise<{ ids: string[]; userToken: string }> {
  const user = w.graph.createUser({ name: 'Admin' });
  const userToken = w.graph.issueUserToken({ appId: w.app.appId, userId: user.id, lifetime: 'long' });
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const page = w.graph.createPage({ name: `Page ${i}` });
    w.graph.grantRole(user.id, page.id);
    await w.keeper.setup({
      pageId: page.id,
      accessToken: userToken,
      appId: w.app.appId,
      appSecret: w.app.appSecret,
    });
    ids.push(page.id);
  }
  return { ids, userToken };
}

const probes = (w: KeeperWorld) => w.graph.calls.filter((c) => c.path.endsWith('/me')).length;

describe.each(testBackends())('check choice in the round on %s', (backend) => {
  it('probes with the Page token between daily inspections, debug_token once a day', async () => {
    await withKeeper(backend, async (w) => {
      const { ids } = await pagesOfOneLogin(w, 4);
      const inspectedAt = (await w.store.getPage(ids[0]!))!.posting.checkedAt;

      w.clock.advance(7 * HOUR);
      w.graph.resetCalls();
      await w.keeper.runRound();
      // The login's look is the only app-budget call; each Page is one probe on its own budget.
      expect(w.graph.countCalls('/debug_token')).toBe(1);
      expect(probes(w)).toBe(4);
      for (const id of ids) {
        const page = (await w.store.getPage(id))!;
        expect(page.state).toBe('healthy');
        expect(page.lastCheckedAt).toBe(w.clock.now());
        // The facts are still debug_token's, and say when it gave them.
        expect(page.posting.checkedAt).toBe(inspectedAt);
      }

      // A day after the last inspection, the check is debug_token again.
      w.clock.advance(DAY);
      w.graph.resetCalls();
      await w.keeper.runRound();
      expect(w.graph.countCalls('/debug_token')).toBe(1 + 4);
      expect(probes(w)).toBe(0);
      expect((await w.store.getPage(ids[0]!))!.posting.checkedAt).toBe(w.clock.now());
    });
  });

  it('a Page token that died is seen by the probe and described by debug_token, then healed', async () => {
    await withKeeper(backend, async (w) => {
      const { ids } = await pagesOfOneLogin(w, 2);
      const dead = await w.keeper.getPageToken(ids[0]!);
      w.graph.invalidateToken(dead);

      w.clock.advance(7 * HOUR);
      w.graph.resetCalls();
      await w.keeper.runRound();
      expect(probes(w)).toBe(2);
      // The login's look, the dead token's description, and the new token's verification.
      expect(w.graph.countCalls('/debug_token')).toBeGreaterThanOrEqual(2);
      const healed = await w.keeper.getPageToken(ids[0]!);
      expect(healed).not.toBe(dead);
      expect(w.graph.tokenStatus(healed).valid).toBe(true);
      expect((await w.store.getPage(ids[0]!))!.state).toBe('healthy');
    });
  });

  it('GRAPH_CHECK=debug_token inspects on every check; a person’s check always does', async () => {
    await withKeeper(
      backend,
      async (w) => {
        const { ids } = await pagesOfOneLogin(w, 3);
        w.clock.advance(7 * HOUR);
        w.graph.resetCalls();
        await w.keeper.runRound();
        expect(w.graph.countCalls('/debug_token')).toBe(1 + 3);
        expect(probes(w)).toBe(0);

        w.graph.resetCalls();
        await w.keeper.check({ pageId: ids[0]! });
        expect(probes(w)).toBe(0);
        expect(w.graph.countCalls('/debug_token')).toBeGreaterThanOrEqual(1);
      },
      { env: { GRAPH_CHECK: 'debug_token' } },
    );
  });

  it('a person’s check of one Page inspects in full under GRAPH_CHECK=auto', async () => {
    await withKeeper(backend, async (w) => {
      const { ids } = await pagesOfOneLogin(w, 1);
      w.clock.advance(7 * HOUR);
      w.graph.resetCalls();
      await w.keeper.check({ pageId: ids[0]! });
      expect(probes(w)).toBe(0);
      expect(w.graph.countCalls('/debug_token')).toBeGreaterThanOrEqual(1);
      expect((await w.store.getPage(ids[0]!))!.posting.checkedAt).toBe(w.clock.now());
    });
  });
});
