/** `/api/connections`: a login and its Pages set up, listed, inspected and deleted together. */
import { describe, expect, it } from 'vitest';
import { testBackends } from '../helpers/backends.js';
import { withApi } from './world.js';

describe.each(testBackends())('connection routes on %s', (backend) => {
  it('POST sets up every Page the login can post to; the others come back named', async () => {
    await withApi(backend, async (w) => {
      const { userId, pageId: first } = w.newPage('Bakery');
      const second = w.graph.createPage({ name: 'Cafe' });
      w.graph.grantRole(userId, second.id);
      const analyst = w.graph.createPage({ name: 'Stats only' });
      w.graph.grantRole(userId, analyst.id, ['ANALYZE']);
      const token = w.userToken(userId, 'short');

      const created = await w.call('POST', '/api/connections', {
        body: { access_token: token, app_id: w.fbApp.appId, app_secret: w.fbApp.appSecret },
      });
      expect(created.statusCode, created.body).toBe(201);
      const body = created.json();
      expect(body.connection).toMatchObject({
        platform: 'facebook',
        app_id: w.fbApp.appId,
        user_id: userId,
        state: 'healthy',
        source_token_type: 'USER',
        reconnect_url: null,
      });
      expect([...body.connection.page_ids].sort()).toEqual([first, second.id].sort());
      expect(body.pages.map((p: { state: string }) => p.state)).toEqual(['healthy', 'healthy']);
      expect(body.not_set_up).toEqual([
        expect.objectContaining({ page_id: analyst.id, name: 'Stats only', code: 'missing_permission' }),
      ]);
      expect(created.body).not.toContain(token);

      const list = (await w.call('GET', '/api/connections')).json();
      expect(list.connections.map((c: { id: string }) => c.id)).toEqual([body.connection.id]);

      // A Page the login manages since: available to add.
      const later = w.graph.createPage({ name: 'New shop' });
      w.graph.grantRole(userId, later.id);
      const detail = await w.call('GET', `/api/connections/${body.connection.id}`);
      expect(detail.statusCode, detail.body).toBe(200);
      expect(detail.json()).toMatchObject({
        id: body.connection.id,
        available_to_add: [{ page_id: later.id, name: 'New shop' }],
      });
      expect(detail.json().pages).toHaveLength(2);

      const gone = await w.call('DELETE', `/api/connections/${body.connection.id}`);
      expect(gone.statusCode, gone.body).toBe(200);
      expect([...gone.json().page_ids].sort()).toEqual([first, second.id].sort());
      expect((await w.call('GET', '/api/pages')).json().pages).toEqual([]);
      const missing = await w.call('GET', `/api/connections/${body.connection.id}`);
      expect(missing.statusCode).toBe(404);
      expect(missing.json().error.code).toBe('connection_not_found');
    });
  });

  it('page_ids picks Pages; bad input is a 400 that changes nothing', async () => {
    await withApi(backend, async (w) => {
      const { userId, pageId } = w.newPage('Only me');
      const other = w.graph.createPage({ name: 'Not me' });
      w.graph.grantRole(userId, other.id);
      const token = w.userToken(userId);
      const before = await w.dump();
      for (const body of [
        { access_token: token, app_id: w.fbApp.appId, app_secret: w.fbApp.appSecret, page_ids: [123] },
        { access_token: token, app_id: w.fbApp.appId, app_secret: w.fbApp.appSecret, platform: 'myspace' },
        { access_token: token, app_id: w.fbApp.appId },
      ]) {
        const r = await w.call('POST', '/api/connections', { body });
        expect(r.statusCode, r.body).toBe(400);
        expect(r.json().error.code).toBe('validation_failed');
        expect(r.body).not.toContain(token);
      }
      expect(await w.dump()).toBe(before);
      const r = await w.call('POST', '/api/connections', {
        body: {
          access_token: token,
          app_id: w.fbApp.appId,
          app_secret: w.fbApp.appSecret,
          page_ids: [pageId],
        },
      });
      expect(r.statusCode, r.body).toBe(201);
      expect(r.json().connection.page_ids).toEqual([pageId]);
    });
  });

  it('the seed setup with a new token for one Page re-mints every sibling from it', async () => {
    await withApi(backend, async (w) => {
      const { userId, pageId: first } = w.newPage('One');
      const second = w.graph.createPage({ name: 'Two' });
      w.graph.grantRole(userId, second.id);
      await w.call('POST', '/api/connections', {
        body: { access_token: w.userToken(userId), app_id: w.fbApp.appId, app_secret: w.fbApp.appSecret },
      });
      const siblingBefore = await w.keeper.getPageToken(second.id);
      // The password changes: every token of the login dies; a new login token is given for one Page.
      w.graph.changePassword(userId);
      const setup = await w.call('POST', '/api/token/setup', {
        body: {
          page_id: first,
          access_token: w.userToken(userId),
          app_id: w.fbApp.appId,
          app_secret: w.fbApp.appSecret,
        },
      });
      expect(setup.statusCode, setup.body).toBe(201);
      const sibling = await w.keeper.getPageToken(second.id);
      expect(sibling).not.toBe(siblingBefore);
      expect(w.graph.tokenStatus(sibling).valid).toBe(true);
      expect((await w.keeper.status(second.id)).state).toBe('healthy');
      expect((await w.call('GET', '/api/connections')).json().connections).toHaveLength(1);
    });
  });
});
