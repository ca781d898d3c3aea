/**
 * A WhatsApp Cloud API connection as a posting identity: listed in GET /api/accounts (platform
 * `whatsapp`, id = the connection's id) with state and expiry, its token at
 * /api/accounts/whatsapp/{id}/token for token:read keys (limited keys only for their ids), and
 * never lost silently: a refresh Facebook refuses → `expiring` alerts at each ALERT_DAYS_BEFORE
 * threshold → `expired`, no refresh after; a token Facebook kills → `needs_reauth`; each with the
 * steps for a new system-user token (there is no Login dialog), and `recovered` once `connect` is
 * given one. A routine refresh is history, not an alert.
 */
import { describe, expect, it } from 'vitest';
import { DAY, HOUR } from '../../src/clock.js';
import { createApiKey } from '../../src/http/auth.js';
import { testBackends } from '../helpers/backends.js';
import { type ApiWorld, withApi } from './world.js';

const WA = ['whatsapp_business_messaging', 'whatsapp_business_management'];
const ENV = {
  WEBHOOK_URLS: 'http://127.0.0.1:9/alerts',
  ALERT_DAYS_BEFORE: '14,7,3,1',
  PUBLIC_URL: 'https://keeper.example.com',
};

async function whatsAppConnection(w: ApiWorld) {
  const su = w.graph.createSystemUser({ appId: w.fbApp.appId, pages: [], name: 'WhatsApp sender' });
  const issue = () =>
    w.graph.issueSystemUserToken({
      appId: w.fbApp.appId,
      systemUserId: su.id,
      expiring: true,
      scopes: [...WA, 'business_management'],
    });
  const token = issue();
  const connect = (t: string) =>
    w.call('POST', '/api/connections', {
      body: { access_token: t, app_id: w.fbApp.appId, app_secret: w.fbApp.appSecret },
    });
  const created = await connect(token);
  expect(created.statusCode, created.body).toBe(201);
  return { id: created.json().connection.id as string, token, issue, connect };
}

const alertsOf = async (w: ApiWorld, id: string) =>
  (await w.store.dueAlertDeliveries(Number.MAX_SAFE_INTEGER, 1000)).filter((d) => d.pageId === id);

async function whatsAppRow(w: ApiWorld, id: string) {
  const list = await w.call('GET', '/api/accounts', { key: w.keys.reader });
  expect(list.statusCode, list.body).toBe(200);
  return list
    .json()
    .accounts.find((a: { platform: string; id: string }) => a.platform === 'whatsapp' && a.id === id);
}

async function runDaily(w: ApiWorld, until: number): Promise<void> {
  while (w.clock.now() < until) {
    w.clock.advance(Math.min(DAY, until - w.clock.now()));
    await w.keeper.runRound();
  }
}

describe.each(testBackends())('WhatsApp accounts on %s', (backend) => {
  it('listed with state and expiry; its token for token:read keys; unknown or mistyped ids answer 404 account_not_found / 400', async () => {
    await withApi(
      backend,
      async (w) => {
        const wa = await whatsAppConnection(w);
        const row = await whatsAppRow(w, wa.id);
        expect(row).toMatchObject({
          platform: 'whatsapp',
          id: wa.id,
          name: 'WhatsApp sender',
          state: 'healthy',
          token_valid: true,
          expires_at: new Date(w.clock.now() + 60 * DAY).toISOString(),
          token_url: `/api/accounts/whatsapp/${wa.id}/token`,
        });

        // Metrics carry it like any account, platform="whatsapp".
        const metrics = (await w.call('GET', '/metrics', { key: null })).body;
        expect(metrics).toContain(
          `fbtk_page_state{page_id="${wa.id}",platform="whatsapp",state="healthy"} 1`,
        );
        expect(metrics).toContain(`fbtk_page_token_days_left{page_id="${wa.id}",platform="whatsapp"} 60`);

        const got = await w.call('GET', row.token_url, { key: w.keys.reader });
        expect(got.statusCode, got.body).toBe(200);
        expect(got.json()).toMatchObject({
          platform: 'whatsapp',
          id: wa.id,
          access_token: wa.token,
          state: 'healthy',
        });
        expect(got.headers['cache-control']).toBe('no-store');
        // The connection route answers the same token.
        expect(
          (await w.call('GET', `/api/connections/${wa.id}/token`, { key: w.keys.reader })).json()
            .access_token,
        ).toBe(wa.token);
        expect((await w.call('GET', row.token_url, { key: w.keys.admin })).statusCode).toBe(403);

        // A key limited to this account reads it (both routes); one limited to another id does not.
        const mine = (
          await createApiKey(w.store, {
            name: 'sender',
            scopes: ['token:read'],
            pageIds: [wa.id],
            clock: w.clock,
          })
        ).key;
        const other = (
          await createApiKey(w.store, {
            name: 'poster',
            scopes: ['token:read'],
            pageIds: ['1'],
            clock: w.clock,
          })
        ).key;
        expect((await w.call('GET', row.token_url, { key: mine })).statusCode).toBe(200);
        expect((await w.call('GET', `/api/connections/${wa.id}/token`, { key: mine })).statusCode).toBe(200);
        const refused = await w.call('GET', row.token_url, { key: other });
        expect(refused.statusCode).toBe(403);
        expect(refused.body).not.toContain(wa.token);
        const listed = (await w.call('GET', '/api/accounts', { key: other })).json().accounts;
        expect(listed.map((a: { id: string }) => a.id)).not.toContain(wa.id);

        // Unknown, or kept on another platform: 404 account_not_found; a Page id shape for whatsapp: 400.
        for (const url of [
          `/api/accounts/whatsapp/facebook_${w.fbApp.appId}_999/token`,
          `/api/accounts/instagram/1234/token`,
        ]) {
          const r = await w.call('GET', url, { key: w.keys.reader });
          expect(r.statusCode, url).toBe(404);
          expect(r.json().error.code).toBe('account_not_found');
        }
        const bad = await w.call('GET', '/api/accounts/whatsapp/1234/token', { key: w.keys.reader });
        expect(bad.statusCode).toBe(400);
        expect(bad.json().error.code).toBe('validation_failed');

        // A routine refresh: history `renewed`, no `token_rotated` alert (the old string still works).
        w.clock.advance(11 * DAY);
        await w.keeper.runRound();
        const after = await w.call('GET', row.token_url, { key: w.keys.reader });
        expect(after.json().access_token).not.toBe(wa.token);
        expect((await whatsAppRow(w, wa.id)).last_renewed_at).toBe(new Date(w.clock.now()).toISOString());
        const history = await w.store.listEvents(wa.id, { limit: 20 });
        expect(history.map((e) => e.type)).toContain('renewed');
        expect(JSON.stringify(history)).not.toContain(after.json().access_token);
        expect((await alertsOf(w, wa.id)).map((d) => d.kind)).toEqual([]);
      },
      { env: ENV },
    );
  });

  it('a refresh Facebook refuses: expiring alerts at each threshold with the steps, expired, no refresh after; a new token → recovered', async () => {
    await withApi(
      backend,
      async (w) => {
        const t0 = w.clock.now();
        const wa = await whatsAppConnection(w);
        w.graph.injectFault({ path: 'oauth/access_token', kind: 'unsupported_get_100_33', times: Infinity });
        w.graph.resetCalls();
        await runDaily(w, t0 + 11 * DAY);
        expect(w.graph.countCalls('/oauth/access_token')).toBe(1);
        const expiring = await whatsAppRow(w, wa.id);
        expect(expiring.state).toBe('expiring');
        expect(expiring.state_message).toMatch(/Generate new token/);

        await runDaily(w, t0 + 60 * DAY - HOUR);
        const alerts = (await alertsOf(w, wa.id)).filter((d) => d.kind === 'expiring');
        expect(alerts.map((d) => d.dedupeKey.split(':').at(-1)).sort()).toEqual([
          '1',
          '14',
          '3',
          '7',
          'notice',
        ]);
        const deadline = new Date(t0 + 60 * DAY).toISOString();
        for (const d of alerts) {
          expect(d.payload).toMatchObject({
            platform: 'whatsapp',
            page_id: wa.id,
            deadline,
            reconnect_url: `https://keeper.example.com/connections/${encodeURIComponent(wa.id)}`,
          });
          expect(String(d.payload.message)).toMatch(/System users.*Generate new token.*connect/);
        }

        await runDaily(w, t0 + 62 * DAY);
        const expired = await whatsAppRow(w, wa.id);
        expect(expired).toMatchObject({ state: 'expired', token_valid: false });
        expect((await alertsOf(w, wa.id)).filter((d) => d.kind === 'expired')).toHaveLength(1);
        // Refused once and never re-tried, before or after the expiry.
        expect(w.graph.countCalls('/oauth/access_token')).toBe(1);

        // The way back: a new token of the same system user, given to `connect` (POST /api/connections).
        w.graph.clearFaults();
        const fresh = wa.issue();
        expect((await wa.connect(fresh)).statusCode).toBe(201);
        expect(await whatsAppRow(w, wa.id)).toMatchObject({ state: 'healthy', token_valid: true });
        const kinds = (await alertsOf(w, wa.id)).map((d) => d.kind);
        expect(kinds.filter((k) => k === 'recovered')).toHaveLength(1);
        expect(JSON.stringify(await alertsOf(w, wa.id))).not.toContain(fresh);
      },
      { env: ENV },
    );
  });

  it('a token Facebook kills: needs_reauth with the steps (one alert), then recovered after connect', async () => {
    await withApi(
      backend,
      async (w) => {
        const wa = await whatsAppConnection(w);
        w.graph.invalidateToken(wa.token);
        w.clock.advance(7 * HOUR);
        await w.keeper.runRound();
        w.clock.advance(7 * HOUR);
        await w.keeper.runRound();
        const row = await whatsAppRow(w, wa.id);
        expect(row.state).toBe('needs_reauth');
        expect(row.token_valid).toBe(false);
        const dead = (await alertsOf(w, wa.id)).filter((d) => d.kind === 'needs_reauth');
        expect(dead).toHaveLength(1);
        expect(String(dead[0]!.payload.message)).toMatch(/no longer accepts.*Generate new token/);
        expect(
          (await w.call('GET', '/api/connections', { key: w.keys.admin })).json().connections[0].state,
        ).toBe('needs_reauth');

        expect((await wa.connect(wa.issue())).statusCode).toBe(201);
        expect((await whatsAppRow(w, wa.id)).state).toBe('healthy');
        const kinds = (await alertsOf(w, wa.id)).map((d) => d.kind).sort();
        expect(kinds).toEqual(['needs_reauth', 'recovered', 'token_rotated']);
        const history = (await w.store.listEvents(wa.id, { limit: 20 })).map((e) => [e.type, e.stateTo]);
        expect(history).toContainEqual(['state_changed', 'needs_reauth']);
        expect(history).toContainEqual(['state_changed', 'healthy']);
      },
      { env: ENV },
    );
  });
});
