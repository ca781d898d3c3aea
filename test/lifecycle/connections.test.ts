/**
 * Connections: Pages of one login share one source token, looked at once per round; two
 * instances racing over one login's Pages exchange its token once.
 */
import { describe, expect, it } from 'vitest';
import { DAY, HOUR } from '../../src/clock.js';
import { testBackends } from '../helpers/backends.js';
import { withKeeper } from '../helpers/keeper.js';

describe.each(testBackends())('connections on %s', (backend) => {
  it('a round over N Pages of one login costs N + 1 Graph calls', async () => {
    await withKeeper(backend, async (w) => {
      const user = w.graph.createUser({ name: 'Agency admin' });
      const token = w.graph.issueUserToken({ appId: w.app.appId, userId: user.id, lifetime: 'long' });
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) {
        const page = w.graph.createPage({ name: `Client ${i}` });
        w.graph.grantRole(user.id, page.id);
        await w.keeper.setup({
          pageId: page.id,
          accessToken: token,
          appId: w.app.appId,
          appSecret: w.app.appSecret,
        });
        ids.push(page.id);
      }
      const connections = await w.store.listConnections();
      expect(connections).toHaveLength(1);
      expect((await w.store.listConnectionPages(connections[0]!.id)).map((p) => p.pageId).sort()).toEqual(
        [...ids].sort(),
      );

      w.clock.advance(7 * HOUR);
      w.graph.resetCalls();
      await w.keeper.runRound();
      // The login's look is debug_token; each Page's check between daily inspections is the probe
      // with its own Page token (GRAPH_CHECK=auto, lifecycle/check-choice.ts).
      expect(w.graph.countCalls('/debug_token')).toBe(1);
      expect(w.graph.calls.filter((c) => c.path.endsWith('/me'))).toHaveLength(10);
      // Graph calls, not round trips: a batch request (GRAPH_BATCH=auto) is recorded beside its items.
      const batches = w.graph.calls.filter((c) => c.method === 'POST' && c.path === `/${w.graph.version}/`);
      expect(w.graph.countCalls() - batches.length).toBe(11);
      for (const id of ids) expect((await w.keeper.status(id)).state).toBe('healthy');
    });
  });

  it('two instances racing over one login’s Pages exchange its source token once', async () => {
    await withKeeper(backend, async (w) => {
      const ids = Array.from({ length: 5 }, (_, i) => w.graph.createPage({ name: `SU ${i}` }).id);
      const su = w.graph.createSystemUser({ appId: w.app.appId, pages: ids });
      const sixty = w.graph.issueSystemUserToken({ appId: w.app.appId, systemUserId: su.id, expiring: true });
      for (const pageId of ids) {
        await w.keeper.setup({ pageId, accessToken: sixty, appId: w.app.appId, appSecret: w.app.appSecret });
      }
      expect(await w.store.listConnections()).toHaveLength(1);
      const other = await w.another();
      w.clock.advance(11 * DAY);
      w.graph.resetCalls();
      await Promise.all([w.keeper.runRound(), other.runRound(), w.keeper.runRound(), other.runRound()]);
      expect(w.graph.countCalls('/oauth/access_token')).toBe(1);
      for (const id of ids) {
        // Every Page shares the one extended source and keeps a working posting token.
        const status = await w.keeper.status(id);
        expect(status.state).toBe('healthy');
        expect(Date.parse(status.source_expires_at!)).toBeGreaterThan(w.clock.now() + 50 * DAY);
        expect(w.graph.tokenStatus(await w.keeper.getPageToken(id)).valid).toBe(true);
      }
      await other.close();
    });
  });

  it('a dead login raises one needs_reauth alert naming every Page, with one reconnect link', async () => {
    await withKeeper(
      backend,
      async (w) => {
        const user = w.graph.createUser({ name: 'Admin' });
        const token = w.graph.issueUserToken({ appId: w.app.appId, userId: user.id, lifetime: 'long' });
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) {
          const page = w.graph.createPage({ name: `Shop ${i}` });
          w.graph.grantRole(user.id, page.id);
          await w.keeper.setup({
            pageId: page.id,
            accessToken: token,
            appId: w.app.appId,
            appSecret: w.app.appSecret,
          });
          ids.push(page.id);
        }
        // Another login on the same app never notices.
        const other = w.newPage('Bystander');
        await w.keeper.setup({
          pageId: other.pageId,
          accessToken: w.graph.issueUserToken({ appId: w.app.appId, userId: other.userId, lifetime: 'long' }),
          appId: w.app.appId,
          appSecret: w.app.appSecret,
        });
        w.graph.changePassword(user.id);
        w.clock.advance(7 * HOUR);
        await w.keeper.runRound();
        for (const id of ids) expect((await w.keeper.status(id)).state).toBe('needs_reauth');
        expect((await w.keeper.status(other.pageId)).state).toBe('healthy');
        const reauth = (await w.store.dueAlertDeliveries(w.clock.now() + DAY, 100)).filter(
          (d) => d.kind === 'needs_reauth',
        );
        expect(reauth).toHaveLength(1);
        expect([...(reauth[0]!.payload.page_ids as string[])].sort()).toEqual([...ids].sort());
        expect(String(reauth[0]!.payload.reconnect_url)).toMatch(/\/connect\/\d+\?exp=/);
        const [connection] = (await w.keeper.listConnections()).filter((c) => c.user_id === user.id);
        expect(connection).toMatchObject({ state: 'needs_reauth', source_valid: false });
        expect(connection!.reconnect_url).not.toBeNull();
      },
      { env: { WEBHOOK_URLS: 'http://127.0.0.1:9/hook' } },
    );
  });

  it('a person’s check that finds the login dead makes its other Pages due at once, not at their next check', async () => {
    await withKeeper(backend, async (w) => {
      const user = w.graph.createUser({ name: 'Admin' });
      const token = w.graph.issueUserToken({ appId: w.app.appId, userId: user.id, lifetime: 'long' });
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const page = w.graph.createPage({ name: `Stall ${i}` });
        w.graph.grantRole(user.id, page.id);
        await w.keeper.setup({
          pageId: page.id,
          accessToken: token,
          appId: w.app.appId,
          appSecret: w.app.appSecret,
        });
        ids.push(page.id);
      }
      w.clock.advance(HOUR);
      w.graph.changePassword(user.id);
      // "Check now" on one Page (dashboard, CLI): only that Page is looked at...
      await w.keeper.check({ pageId: ids[0]! });
      expect((await w.keeper.status(ids[0])).state).toBe('needs_reauth');
      // ...and the very next scheduled round, at the same minute, takes the siblings too: they were
      // healthy an hour ago and would otherwise wait for their own next check (hours later).
      await w.keeper.runRound();
      for (const id of ids.slice(1)) expect((await w.keeper.status(id)).state).toBe('needs_reauth');
    });
  });
});
