/**
 * WhatsApp Cloud API tokens over `POST /api/connections`: a system-user token with the
 * `whatsapp_business_*` permissions is kept as a connection with no Page and refreshed like any
 * system-user token; the API Setup panel's temporary token and a person's WhatsApp token are
 * refused with how to make the right one, and change nothing.
 */
import { describe, expect, it } from 'vitest';
import { DAY } from '../../src/clock.js';
import { createApiKey } from '../../src/http/auth.js';
import { testBackends } from '../helpers/backends.js';
import { type ApiWorld, withApi } from './world.js';

const WA = ['whatsapp_business_messaging', 'whatsapp_business_management'];

function systemUserToken(w: ApiWorld, expiring: boolean): { token: string; systemUserId: string } {
  const su = w.graph.createSystemUser({ appId: w.fbApp.appId, pages: [], name: 'WhatsApp sender' });
  const token = w.graph.issueSystemUserToken({
    appId: w.fbApp.appId,
    systemUserId: su.id,
    expiring,
    scopes: [...WA, 'business_management'],
  });
  return { token, systemUserId: su.id };
}

describe.each(testBackends())('WhatsApp connections on %s', (backend) => {
  it('a 60-day system-user token: 201 with no Page, listed as WhatsApp, refreshed at the threshold', async () => {
    await withApi(backend, async (w) => {
      const { token, systemUserId } = systemUserToken(w, true);
      const created = await w.call('POST', '/api/connections', {
        body: { access_token: token, app_id: w.fbApp.appId, app_secret: w.fbApp.appSecret },
      });
      expect(created.statusCode, created.body).toBe(201);
      const body = created.json();
      expect(body.pages).toEqual([]);
      expect(body.not_set_up).toEqual([]);
      expect(body.connection).toMatchObject({
        platform: 'facebook',
        user_id: systemUserId,
        source_token_type: 'SYSTEM_USER',
        state: 'healthy',
        page_ids: [],
        source_expires_at: new Date(w.clock.now() + 60 * DAY).toISOString(),
      });
      expect(body.connection.scopes).toEqual(expect.arrayContaining(WA));
      expect(created.body).not.toContain(token);

      const list = (await w.call('GET', '/api/connections')).json();
      expect(list.connections).toHaveLength(1);
      expect(list.connections[0].id).toBe(body.connection.id);
      expect(list.connections[0].scopes).toEqual(expect.arrayContaining(WA));

      // The sender fetches the token itself (token:read); an admin-only key may not.
      const tokenUrl = `/api/connections/${body.connection.id}/token`;
      const fetched = await w.call('GET', tokenUrl, { key: w.keys.reader });
      expect(fetched.statusCode, fetched.body).toBe(200);
      expect(fetched.json()).toMatchObject({ access_token: token, token_valid: true });
      expect(fetched.headers['cache-control']).toBe('no-store');
      expect((await w.call('GET', tokenUrl, { key: w.keys.admin })).statusCode).toBe(403);
      // A token:read key given for named Pages is not the sender's key.
      const limited = (
        await createApiKey(w.store, {
          name: 'page poster',
          scopes: ['token:read'],
          pageIds: ['1'],
          clock: w.clock,
        })
      ).key;
      const refused = await w.call('GET', tokenUrl, { key: limited });
      expect(refused.statusCode, refused.body).toBe(403);
      expect(refused.body).not.toContain(token);

      // 51 days left: outside RENEWAL_THRESHOLD_DAYS (50), looked at only.
      w.clock.advance(9 * DAY);
      w.graph.resetCalls();
      await w.keeper.runRound();
      expect(w.graph.countCalls('/oauth/access_token')).toBe(0);
      expect((await w.store.getConnectionSecrets(body.connection.id))!.sourceToken).toBe(token);

      // 49 days left: inside the threshold, the round refreshes it for 60 more days.
      w.clock.advance(2 * DAY);
      await w.keeper.runRound();
      expect(w.graph.countCalls('/oauth/access_token')).toBe(1);
      const secrets = (await w.store.getConnectionSecrets(body.connection.id))!;
      expect(secrets.sourceToken).not.toBe(token);
      expect(w.graph.tokenStatus(secrets.sourceToken).valid).toBe(true);
      const after = (await w.call('GET', `/api/connections/${body.connection.id}`)).json();
      expect(after).toMatchObject({ state: 'healthy', page_ids: [] });
      expect(after.source_expires_at).toBe(new Date(w.clock.now() + 60 * DAY).toISOString());
      const refetched = (await w.call('GET', tokenUrl, { key: w.keys.reader })).json();
      expect(refetched.access_token).toBe(secrets.sourceToken);
      expect(refetched.expires_at).toBe(after.source_expires_at);
      // The replaced token keeps working through the grace (posting apps move to the new one), then is revoked.
      expect(w.graph.tokenStatus(token).valid).toBe(true);
      w.clock.advance(2 * DAY);
      await w.keeper.runRound();
      expect(w.graph.tokenStatus(token).valid).toBe(false);
      expect(w.graph.tokenStatus(secrets.sourceToken).valid).toBe(true);
      expect(w.logs()).not.toContain(token);
      expect(w.logs()).not.toContain(secrets.sourceToken);
    });
  });

  it('a never-expiring system-user token is only inspected, never exchanged', async () => {
    await withApi(backend, async (w) => {
      const { token } = systemUserToken(w, false);
      const created = await w.call('POST', '/api/connections', {
        body: { access_token: token, app_id: w.fbApp.appId, app_secret: w.fbApp.appSecret },
      });
      expect(created.statusCode, created.body).toBe(201);
      expect(created.json().connection).toMatchObject({ source_expires_at: null, page_ids: [] });
      w.graph.resetCalls();
      for (let i = 0; i < 3; i++) {
        w.clock.advance(30 * DAY);
        await w.keeper.runRound();
      }
      expect(w.graph.countCalls('/oauth/access_token')).toBe(0);
      expect(w.graph.countCalls('/debug_token')).toBeGreaterThanOrEqual(3);
      const id = created.json().connection.id as string;
      expect((await w.store.getConnectionSecrets(id))!.sourceToken).toBe(token);
      expect((await w.call('GET', `/api/connections/${id}`)).json().state).toBe('healthy');
    });
  });

  it('the API Setup temporary token and a person’s WhatsApp token: 422 with the steps, nothing stored', async () => {
    await withApi(backend, async (w) => {
      const person = w.graph.createUser({ name: 'Developer' });
      const temporary = w.graph.issueWhatsAppTemporaryToken({ appId: w.fbApp.appId, userId: person.id });
      const personal = w.graph.issueUserToken({
        appId: w.fbApp.appId,
        userId: person.id,
        lifetime: 'long',
        scopes: WA,
      });
      const before = await w.dump();
      for (const [token, code] of [
        [temporary, 'whatsapp_temporary_token'],
        [personal, 'whatsapp_system_user_required'],
      ] as const) {
        const r = await w.call('POST', '/api/connections', {
          body: { access_token: token, app_id: w.fbApp.appId, app_secret: w.fbApp.appSecret },
        });
        expect(r.statusCode, r.body).toBe(422);
        expect(r.json().error.code).toBe(code);
        expect(r.json().error.message).toMatch(/System users/);
        expect(r.json().error.message).toMatch(/whatsapp_business_messaging/);
        expect(r.body).not.toContain(token);
        expect(w.logs()).not.toContain(token);
      }
      expect(await w.dump()).toBe(before);
      expect((await w.call('GET', '/api/connections')).json().connections).toEqual([]);
    });
  });

  it('a WhatsApp system-user token that may list Pages but has none: still a connection with no Page', async () => {
    await withApi(backend, async (w) => {
      const su = w.graph.createSystemUser({ appId: w.fbApp.appId, pages: [] });
      const token = w.graph.issueSystemUserToken({
        appId: w.fbApp.appId,
        systemUserId: su.id,
        scopes: [...WA, 'pages_show_list'],
      });
      const created = await w.call('POST', '/api/connections', {
        body: { access_token: token, app_id: w.fbApp.appId, app_secret: w.fbApp.appSecret },
      });
      expect(created.statusCode, created.body).toBe(201);
      expect(created.json().connection).toMatchObject({ user_id: su.id, page_ids: [] });
      expect(created.json().pages).toEqual([]);
    });
  });

  it('a Facebook login with Pages: its token is not served by the WhatsApp token route', async () => {
    await withApi(backend, async (w) => {
      const { userId } = w.newPage('Bakery');
      const token = w.userToken(userId);
      const created = await w.call('POST', '/api/connections', {
        body: { access_token: token, app_id: w.fbApp.appId, app_secret: w.fbApp.appSecret },
      });
      expect(created.statusCode, created.body).toBe(201);
      const r = await w.call('GET', `/api/connections/${created.json().connection.id}/token`, {
        key: w.keys.reader,
      });
      expect(r.statusCode, r.body).toBe(404);
      expect(r.json().error.code).toBe('connection_not_found');
      expect(r.body).not.toContain(token);
    });
  });
});
