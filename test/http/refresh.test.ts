/**
 * `POST /api/pages/{page_id}/token/refresh` through the HTTP layer (app.inject, real keeper, store
 * and emulator): scope, Page-limited keys, body validation, and the status codes of each answer.
 */
import { describe, expect, it } from 'vitest';
import { HOUR, SECOND } from '../../src/clock.js';
import { createApiKey } from '../../src/http/auth.js';
import { testBackends } from '../helpers/backends.js';
import { withApi } from './world.js';

const refresh = (pageId: string) => `/api/pages/${pageId}/token/refresh`;

describe.each(testBackends())('token refresh route on %s', (backend) => {
  it('token:read only, the key’s own Pages only; a healed token comes back, never to an admin key', async () => {
    await withApi(backend, async (w) => {
      const { pageId } = await w.setupPage('Bakery');
      const other = await w.setupPage('Other');
      const token = await w.keeper.getPageToken(pageId);
      w.graph.invalidateToken(token);
      w.clock.advance(HOUR);

      expect((await w.call('POST', refresh(pageId), { key: w.keys.admin })).statusCode).toBe(403);
      const limited = (
        await createApiKey(w.store, {
          name: 'one page',
          scopes: ['token:read'],
          pageIds: [other.pageId],
          clock: w.clock,
        })
      ).key;
      const refused = await w.call('POST', refresh(pageId), { key: limited });
      expect(refused.statusCode).toBe(403);
      expect(refused.json().error.code).toBe('forbidden');

      const r = await w.call('POST', refresh(pageId), {
        key: w.keys.reader,
        body: { code: 190, error_subcode: 467, fbtrace_id: 'Xy1', message: 'Session has expired' },
      });
      expect(r.statusCode).toBe(200);
      expect(r.headers['cache-control']).toBe('no-store');
      const body = r.json();
      expect(body).toMatchObject({ success: true, page_id: pageId, verdict: 'healed', token_changed: true });
      expect(w.graph.tokenStatus(body.access_token).valid).toBe(true);

      // No body at all is fine too; inside the window it answers from the last check.
      const again = await w.call('POST', refresh(pageId), { key: w.keys.reader });
      expect(again.json()).toMatchObject({ access_token: body.access_token, checked_now: false });
    });
  });

  it('a bad body is 400 validation_failed and changes nothing', async () => {
    await withApi(backend, async (w) => {
      const { pageId } = await w.setupPage();
      w.clock.advance(HOUR);
      const before = await w.dump();
      for (const bad of [{ code: '190' }, { code: 1.5 }, { error_subcode: 'x' }, { forse: true }, [190]]) {
        const r = await w.call('POST', refresh(pageId), { key: w.keys.reader, body: bad });
        expect(r.statusCode, JSON.stringify(bad)).toBe(400);
        expect(r.json().error.code).toBe('validation_failed');
      }
      const long = await w.call('POST', refresh(pageId), {
        key: w.keys.reader,
        body: { message: 'x'.repeat(3000) },
      });
      expect(long.statusCode).toBe(400);
      expect(await w.dump()).toBe(before);
      expect((await w.call('POST', refresh('123'), { key: w.keys.reader })).statusCode).toBe(404);
    });
  });

  it('a dead login is 409 needs_reauth with state, reason and reconnect link; throttling is 429 with Retry-After', async () => {
    await withApi(backend, async (w) => {
      const dead = await w.setupPage('Dead');
      const token = await w.keeper.getPageToken(dead.pageId);
      w.graph.logout(dead.userId);
      w.clock.advance(HOUR);
      const r = await w.call('POST', refresh(dead.pageId), { key: w.keys.reader, body: { code: 190 } });
      expect(r.statusCode).toBe(409);
      const e = r.json().error;
      expect(e.code).toBe('needs_reauth');
      expect(e.message).toMatch(/logged out/);
      expect(e.details).toMatchObject({ state: 'needs_reauth', reason: 'logged_out', page_id: dead.pageId });
      expect(e.details.reconnect_url).toMatch(/\/connect\//);
      expect(r.body).not.toContain(token);

      const live = await w.setupPage('Live');
      w.clock.advance(HOUR);
      w.graph.injectFault({ kind: 'throttle_app', path: '/debug_token', times: 1 });
      const t = await w.call('POST', refresh(live.pageId), { key: w.keys.reader });
      expect(t.statusCode).toBe(429);
      expect(t.json().error.code).toBe('graph_rate_limited');
      expect(Number(t.headers['retry-after'])).toBeGreaterThan(0);
      w.graph.resetCalls();
      w.clock.advance(20 * SECOND);
      const t2 = await w.call('POST', refresh(live.pageId), { key: w.keys.reader });
      expect(t2.statusCode).toBe(429);
      expect(Number(t2.headers['retry-after'])).toBeGreaterThan(0);
      expect(w.graph.calls).toHaveLength(0);
    });
  });
});
