/**
 * Expiring system-user tokens rotated without downtime (refresh, deploy, revoke): the refresh
 * re-mints every Page from the new token, the old token keeps working through the grace period,
 * and only then is it revoked, once, under the connection lease. A crash between any two steps
 * loses nothing.
 */
import { describe, expect, it } from 'vitest';
import { DAY, HOUR } from '../../src/clock.js';
import { createGraphClient } from '../../src/graph/client.js';
import { testBackends } from '../helpers/backends.js';
import { type KeeperWorld, withKeeper } from '../helpers/keeper.js';

const HOOK = { WEBHOOK_URLS: 'http://127.0.0.1:9/hook' };

/** A system user with `n` Pages on the test app, set up from one expiring (60-day) token. */
async function systemUserLogin(w: KeeperWorld, n: number) {
  const ids = Array.from({ length: n }, (_, i) => w.graph.createPage({ name: `Brand ${i}` }).id);
  const su = w.graph.createSystemUser({ appId: w.app.appId, pages: ids });
  const first = w.graph.issueSystemUserToken({ appId: w.app.appId, systemUserId: su.id, expiring: true });
  for (const pageId of ids) {
    await w.keeper.setup({ pageId, accessToken: first, appId: w.app.appId, appSecret: w.app.appSecret });
  }
  const [connection] = await w.store.listConnections();
  const postings = new Map<string, string>();
  for (const id of ids) postings.set(id, await w.keeper.getPageToken(id));
  return { ids, first, connectionId: connection!.id, postings };
}

const sourceOf = async (w: KeeperWorld, id: string) => (await w.store.getConnectionSecrets(id))!;

describe.each(testBackends())('system-user rotation on %s', (backend) => {
  it('refresh re-mints every Page, the old token works through the grace, then is revoked once and wiped', async () => {
    await withKeeper(
      backend,
      async (w) => {
        const { ids, first, connectionId, postings } = await systemUserLogin(w, 3);
        // 49 days left: inside RENEWAL_THRESHOLD_DAYS (50), so the round refreshes it.
        w.clock.advance(11 * DAY);
        w.graph.resetCalls();
        await w.keeper.runRound();
        expect(w.graph.countCalls('/oauth/access_token')).toBe(1);
        const rotatedAt = w.clock.now();
        const secrets = await sourceOf(w, connectionId);
        expect(secrets.sourceToken).not.toBe(first);
        expect(secrets.retiredToken).toBe(first);
        expect((await w.store.getConnection(connectionId))!.retiredRevokeAt).toBe(rotatedAt + 24 * HOUR);
        for (const id of ids) {
          const fresh = await w.keeper.getPageToken(id);
          // The "deploy": a new Page token minted from the new source, announced.
          expect(fresh).not.toBe(postings.get(id));
          expect(w.graph.tokenStatus(fresh).valid).toBe(true);
          const types = (await w.keeper.history(id)).map((h) => h.type);
          expect(types).toContain('token_rotated');
        }
        const rotated = (await w.store.dueAlertDeliveries(w.clock.now() + DAY, 100)).filter(
          (d) => d.kind === 'token_rotated',
        );
        expect(rotated.map((d) => d.pageId).sort()).toEqual([...ids].sort());

        // Within the grace: the old source and the Page tokens minted from it still work.
        w.clock.advance(23 * HOUR);
        await w.keeper.runRound();
        expect(w.graph.countCalls('/oauth/revoke')).toBe(0);
        expect(w.graph.tokenStatus(first).valid).toBe(true);
        for (const old of postings.values()) expect(w.graph.tokenStatus(old).valid).toBe(true);

        // After the grace: revoked once, even with two instances racing; the retired token is wiped.
        w.clock.advance(2 * HOUR);
        const other = await w.another();
        await Promise.all([w.keeper.runRound(), other.runRound(), w.keeper.runRound()]);
        await other.close();
        expect(w.graph.countCalls('/oauth/revoke')).toBe(1);
        expect(w.graph.tokenStatus(first).valid).toBe(false);
        for (const old of postings.values()) expect(w.graph.tokenStatus(old).valid).toBe(false);
        expect(w.graph.tokenStatus(secrets.sourceToken).valid).toBe(true);
        expect((await sourceOf(w, connectionId)).retiredToken).toBeNull();
        expect((await w.store.getConnection(connectionId))!.retiredRevokeAt).toBeNull();
        for (const id of ids) {
          expect(w.graph.tokenStatus(await w.keeper.getPageToken(id)).valid).toBe(true);
          expect((await w.keeper.status(id)).state).toBe('healthy');
          const revoked = (await w.keeper.history(id)).find((h) => h.type === 'source_revoked');
          expect(revoked).toBeDefined();
          // History names the rotation, never a token.
          expect(JSON.stringify(revoked)).not.toContain(first);
        }
      },
      { env: HOOK },
    );
  });

  it('SOURCE_REVOKE_GRACE_HOURS sets the grace', async () => {
    await withKeeper(
      backend,
      async (w) => {
        const { first, connectionId } = await systemUserLogin(w, 1);
        w.clock.advance(11 * DAY);
        await w.keeper.runRound();
        expect((await w.store.getConnection(connectionId))!.retiredRevokeAt).toBe(w.clock.now() + 2 * HOUR);
        w.clock.advance(HOUR);
        await w.keeper.runRound();
        expect(w.graph.tokenStatus(first).valid).toBe(true);
        w.clock.advance(HOUR + 1);
        await w.keeper.runRound();
        expect(w.graph.tokenStatus(first).valid).toBe(false);
      },
      { env: { SOURCE_REVOKE_GRACE_HOURS: '2' } },
    );
  });

  it('a crash after the refresh, before it is stored, loses nothing: the stored token still works and rotates', async () => {
    await withKeeper(backend, async (w) => {
      const { ids, first, connectionId } = await systemUserLogin(w, 2);
      w.clock.advance(11 * DAY);
      // Another process refreshed the stored token and died before storing the answer.
      const client = createGraphClient({ baseUrl: w.graph.url, version: w.graph.version, clock: w.clock });
      const orphan = await client.exchangeToken(first, w.app, { systemUser60Days: true });
      expect(w.graph.tokenStatus(orphan.accessToken).valid).toBe(true);
      expect(w.graph.tokenStatus(first).valid).toBe(true);
      for (const id of ids) expect(w.graph.tokenStatus(await w.keeper.getPageToken(id)).valid).toBe(true);
      // The keeper refreshes again from what it stored.
      await w.keeper.runRound();
      expect((await sourceOf(w, connectionId)).retiredToken).toBe(first);
      w.clock.advance(25 * HOUR);
      await w.keeper.runRound();
      expect(w.graph.tokenStatus(first).valid).toBe(false);
      for (const id of ids) expect(w.graph.tokenStatus(await w.keeper.getPageToken(id)).valid).toBe(true);
    });
  });

  it('a Page that missed the re-mint is re-minted before the old token is revoked', async () => {
    await withKeeper(backend, async (w) => {
      const { ids, first, postings } = await systemUserLogin(w, 3);
      const [missed, ...others] = ids as [string, ...string[]];
      w.clock.advance(11 * DAY);
      // Minting this Page's token fails throughout the rotation (as if the process died before it).
      w.graph.injectFault({ path: `/${missed}`, kind: 'http_500', times: Number.POSITIVE_INFINITY });
      await w.keeper.runRound();
      w.graph.clearFaults();
      expect(await w.keeper.getPageToken(missed)).toBe(postings.get(missed));
      for (const id of others) expect(await w.keeper.getPageToken(id)).not.toBe(postings.get(id));

      w.clock.advance(25 * HOUR);
      w.graph.resetCalls();
      await w.keeper.runRound();
      expect(w.graph.countCalls('/oauth/revoke')).toBe(1);
      expect(w.graph.tokenStatus(first).valid).toBe(false);
      const healed = await w.keeper.getPageToken(missed);
      expect(healed).not.toBe(postings.get(missed));
      for (const id of ids) expect(w.graph.tokenStatus(await w.keeper.getPageToken(id)).valid).toBe(true);
    });
  });

  it('rotated again within the grace: a token a Page still holds is not revoked until that Page has a new one', async () => {
    await withKeeper(backend, async (w) => {
      const { ids, first, postings } = await systemUserLogin(w, 3);
      const [missed, other] = ids as [string, string, ...string[]];
      w.clock.advance(11 * DAY);
      // Minting this Page's token fails through two rotations (a crash, an outage on that Page).
      w.graph.injectFault({ path: `/${missed}`, kind: 'http_500', times: Number.POSITIVE_INFINITY });
      await w.keeper.runRound();
      expect(await w.keeper.getPageToken(missed)).toBe(postings.get(missed));
      // A second rotation an hour later, inside the first one's grace (a person's forced renewal).
      w.clock.advance(HOUR);
      await w.keeper.renew(other, { force: true });
      // The oldest token would kill the Page token still minted from it: it is kept for now.
      expect(w.graph.tokenStatus(first).valid).toBe(true);
      expect(w.graph.tokenStatus(await w.keeper.getPageToken(missed)).valid).toBe(true);

      w.graph.clearFaults();
      w.clock.advance(25 * HOUR);
      await w.keeper.runRound();
      await w.keeper.runRound();
      for (const id of ids) expect(w.graph.tokenStatus(await w.keeper.getPageToken(id)).valid).toBe(true);
      expect(await w.keeper.getPageToken(missed)).not.toBe(postings.get(missed));
    });
  });

  it('a crash after the revoke, before it is recorded: the next look finds the token dead and wipes it', async () => {
    await withKeeper(backend, async (w) => {
      const { ids, first, connectionId } = await systemUserLogin(w, 2);
      w.clock.advance(11 * DAY);
      await w.keeper.runRound();
      const current = (await sourceOf(w, connectionId)).sourceToken;
      w.clock.advance(25 * HOUR);
      // The revoke went through, then the process died.
      const client = createGraphClient({ baseUrl: w.graph.url, version: w.graph.version, clock: w.clock });
      await client.revokeToken(first, current, w.app);
      expect(w.graph.tokenStatus(first).valid).toBe(false);
      // A second revoke is refused by Facebook: the keeper sees the token is dead and wipes it.
      await expect(client.revokeToken(first, current, w.app)).rejects.toMatchObject({ fbCode: 190 });
      await w.keeper.runRound();
      expect((await sourceOf(w, connectionId)).retiredToken).toBeNull();
      expect((await w.store.getConnection(connectionId))!.retiredRevokeAt).toBeNull();
      for (const id of ids) {
        expect(w.graph.tokenStatus(await w.keeper.getPageToken(id)).valid).toBe(true);
        expect((await w.keeper.status(id)).state).toBe('healthy');
      }
    });
  });
});
