/**
 * What a round holds while it sweeps: it looks at every due login before their Pages and keeps
 * what each look came to until the Pages are done. With a login per Page that is one per Page, so
 * each must be small: a round over 100,000 such Pages once held 160 MB of connection snapshots
 * (bench/memory.ts), and RSS followed.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { HOUR } from '../../src/clock.js';
import { testBackends } from '../helpers/backends.js';
import { withKeeper } from '../helpers/keeper.js';

/** A full garbage collection, so that what is measured is what is still referenced. */
function liveHeap(): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const LOGINS = 1500;

describe.each(testBackends())('a round on %s', (backend) => {
  it('holds little per login while its Pages are checked', { timeout: 300_000 }, async () => {
    await withKeeper(backend, async (w) => {
      for (let i = 0; i < LOGINS; i++) {
        const { userId, pageId } = w.newPage(`Client ${i}`);
        const accessToken = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'long' });
        await w.keeper.setup({ pageId, accessToken, appId: w.app.appId, appSecret: w.app.appSecret });
      }
      expect(await w.store.listConnections()).toHaveLength(LOGINS);
      w.clock.advance(7 * HOUR);
      w.graph.resetCalls();

      const before = liveHeap();
      // Measured at the first Page: every login has been looked at, and the round holds all looks.
      let duringPages: number | undefined;
      let pages = 0;
      w.keeper.events.on('page_processed', () => {
        pages++;
        duringPages ??= liveHeap();
      });
      await w.keeper.runRound();

      expect(pages).toBe(LOGINS);
      expect(w.graph.countCalls('/debug_token')).toBeGreaterThanOrEqual(LOGINS);
      // Measured: ≈ 2,000 bytes per login while the round kept each look as the connection's two
      // snapshots; ≈ 660 with the few facts a Page's work reads (that includes the emulator's own
      // record of each call, in this process too).
      const perLogin = (duringPages! - before) / LOGINS;
      expect(perLogin).toBeLessThan(1200);
    });
  });
});
