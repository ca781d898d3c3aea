/**
 * Snapshots (lifecycle/snapshots.ts): an unchanged Page's status and posting token are not read
 * again within a second, no change made through this process's store is ever answered with the
 * old one, and one made by another process is seen a second later at most.
 */
import { describe, expect, it } from 'vitest';
import { testBackends, testBox } from '../helpers/backends.js';
import { withKeeper } from '../helpers/keeper.js';

describe.each(testBackends())('status snapshots on %s', (backend) => {
  it('served again while nothing changed; every change is seen at once; at most a second old', async () => {
    await withKeeper(backend, async (w) => {
      const { userId, pageId } = w.newPage('Snapshot');
      const long = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'long' });
      await w.keeper.setup({ pageId, accessToken: long, appId: w.app.appId, appSecret: w.app.appSecret });

      const first = await w.keeper.status(pageId);
      expect(first.state).toBe('healthy');
      // Nothing changed: the same snapshot (no read of the store).
      expect(await w.keeper.status(pageId)).toBe(first);
      expect(await w.keeper.status()).not.toBe(first); // another question (no page_id), its own snapshot

      // A person pauses the Page: seen by the very next call, without the clock moving.
      await w.keeper.updatePage(pageId, { autoRenew: false });
      const paused = await w.keeper.status(pageId);
      expect(paused.state).toBe('paused');
      await w.keeper.updatePage(pageId, { autoRenew: true });
      expect((await w.keeper.status(pageId)).state).toBe('healthy');

      // A check finds the password changed: needs_reauth at once.
      w.graph.changePassword(userId);
      await w.keeper.check({ pageId });
      expect((await w.keeper.status(pageId)).state).toBe('needs_reauth');

      // A write straight through the store (as the engine's leases and events do) counts too.
      const before = await w.keeper.status(pageId, { historyLimit: 5 });
      await w.store.addEvents([
        {
          pageId,
          at: w.clock.now(),
          type: 'check',
          reason: 'snapshot_test',
          stateFrom: null,
          stateTo: null,
          message: null,
          details: {},
        },
      ]);
      const after = await w.keeper.status(pageId, { historyLimit: 5 });
      expect(after).not.toBe(before);
      expect(after.history[0]?.reason).toBe('snapshot_test');

      // Unchanged, but a second later: read again (what another process changed is seen by then).
      const kept = await w.keeper.status(pageId);
      w.clock.advance(999);
      expect(await w.keeper.status(pageId)).toBe(kept);
      w.clock.advance(1);
      expect(await w.keeper.status(pageId)).not.toBe(kept);
    });
  });

  it('the posting token: kept while nothing changed, a rotation here seen at once, one elsewhere within a second', async () => {
    await withKeeper(backend, async (w) => {
      const { userId, pageId } = w.newPage('Token snapshot');
      const long = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'long' });
      await w.keeper.setup({ pageId, accessToken: long, appId: w.app.appId, appSecret: w.app.appSecret });
      const first = await w.keeper.getPageToken(pageId);
      expect(w.graph.tokenStatus(first).valid).toBe(true);

      // Rotated through this process's store: the very next answer, the clock unmoved.
      await w.store.updatePage(pageId, {}, { secrets: { postingToken: 'EAArotated-here' } });
      expect(await w.keeper.getPageToken(pageId)).toBe('EAArotated-here');

      // Rotated by another process on the same database: unseen for under a second, then seen.
      const other = await w.db.openStore(testBox());
      try {
        await other.updatePage(pageId, {}, { secrets: { postingToken: 'EAArotated-there' } });
      } finally {
        await other.close();
      }
      w.clock.advance(999);
      expect(await w.keeper.getPageToken(pageId)).toBe('EAArotated-here');
      w.clock.advance(1);
      expect(await w.keeper.getPageToken(pageId)).toBe('EAArotated-there');

      // A Page that is not managed is refused, each time.
      await expect(w.keeper.getPageToken('404404')).rejects.toMatchObject({ code: 'page_not_found' });
      await expect(w.keeper.getPageToken('404404')).rejects.toMatchObject({ code: 'page_not_found' });
    });
  });
});
