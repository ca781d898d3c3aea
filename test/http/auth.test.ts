/** Authentication on the /api routes: scopes, last-used tracking, lockout after repeated invalid keys. */
import { describe, expect, it } from 'vitest';
import { HOUR, MINUTE } from '../../src/clock.js';
import { parseApiKey } from '../../src/http/auth.js';
import { testBackends } from '../helpers/backends.js';
import { withApi } from './world.js';

describe.each(testBackends())('authentication on %s', (backend) => {
  it('the admin scope cannot read tokens; token:read can read only tokens', async () => {
    await withApi(backend, async (w) => {
      const { pageId } = await w.setupPage();
      expect((await w.call('GET', `/api/pages/${pageId}/token`, { key: w.keys.admin })).statusCode).toBe(403);
      expect((await w.call('GET', `/api/pages/${pageId}/token`, { key: w.keys.reader })).statusCode).toBe(
        200,
      );
      expect((await w.call('GET', `/api/pages/${pageId}`, { key: w.keys.reader })).statusCode).toBe(403);
      expect((await w.call('GET', '/api/token/status', { key: w.keys.reader })).statusCode).toBe(403);
      expect((await w.call('GET', `/api/pages/${pageId}`, { key: w.keys.admin })).statusCode).toBe(200);
      // Scheme name is case-insensitive; extra spaces are fine.
      const lower = await w.call('GET', '/api/pages', {
        key: null,
        headers: { authorization: `bearer   ${w.keys.admin}` },
      });
      expect(lower.statusCode).toBe(200);
    });
  });

  it('last_used_at is recorded after a successful request, never after a rejected one', async () => {
    await withApi(backend, async (w) => {
      const id = parseApiKey(w.keys.admin)!.id;
      const lastUsed = async () => (await w.store.getApiKey(id))!.lastUsedAt;
      expect((await w.call('GET', '/api/pages/abc')).statusCode).toBe(400);
      expect((await w.call('GET', '/api/pages/123')).statusCode).toBe(404);
      expect(await lastUsed()).toBeNull();
      expect((await w.call('GET', '/api/pages')).statusCode).toBe(200);
      expect(await lastUsed()).toBe(w.clock.now());
      // At most once a minute.
      const first = w.clock.now();
      w.clock.advance(30_000);
      await w.call('GET', '/api/pages');
      expect(await lastUsed()).toBe(first);
      w.clock.advance(MINUTE);
      await w.call('GET', '/api/pages');
      expect(await lastUsed()).toBe(w.clock.now());
    });
  });

  it('repeated invalid keys: 429 rate_limited with Retry-After for that client and key id only, and a valid key always passes', async () => {
    await withApi(
      backend,
      async (w) => {
        const from = (remoteAddress: string, key: string | null) =>
          w.app.inject({
            method: 'GET',
            url: '/api/pages',
            remoteAddress,
            headers: key ? { authorization: `Bearer ${key}` } : {},
          });
        const unknownId = `ftk_${'a'.repeat(16)}_${'b'.repeat(43)}`;
        const readerId = parseApiKey(w.keys.reader)!.id;
        const wrongSecret = `ftk_${readerId}_${'c'.repeat(43)}`;
        // No key at all is not a guess: it never pauses a client.
        for (let i = 0; i < 10; i++) expect((await from('10.0.0.1', null)).statusCode).toBe(401);
        for (let i = 0; i < 4; i++) expect((await from('10.0.0.1', unknownId)).statusCode).toBe(401);
        // The 6th invalid key is still answered 401; from then on this client's count is paused.
        expect((await from('10.0.0.1', 'garbage')).statusCode).toBe(401);
        expect((await from('10.0.0.1', 'garbage')).statusCode).toBe(401);
        const locked = await from('10.0.0.1', 'garbage');
        expect(locked.statusCode).toBe(429);
        expect(locked.json()).toMatchObject({ success: false, error: { code: 'rate_limited' } });
        expect(Number(locked.headers['retry-after'])).toBe(600);
        expect(w.logs()).toContain('repeated invalid API keys');
        // The owner behind the same address is never refused: a valid key always passes.
        expect((await from('10.0.0.1', w.keys.admin)).statusCode).toBe(200);
        // Guessing a known key's secret is its own count (client and key id)…
        for (let i = 0; i < 6; i++) expect((await from('10.0.0.1', wrongSecret)).statusCode).toBe(401);
        expect((await from('10.0.0.1', wrongSecret)).statusCode).toBe(429);
        // …which does not stop that key itself.
        const token = await w.app.inject({
          method: 'GET',
          url: '/api/pages/123/token',
          remoteAddress: '10.0.0.1',
          headers: { authorization: `Bearer ${w.keys.reader}` },
        });
        expect(token.statusCode).toBe(404);
        // Another client is not affected.
        expect((await from('10.0.0.2', 'garbage')).statusCode).toBe(401);
        w.clock.advance(5 * MINUTE);
        expect(Number((await from('10.0.0.1', 'garbage')).headers['retry-after'])).toBe(300);
        w.clock.advance(5 * MINUTE);
        expect((await from('10.0.0.1', 'garbage')).statusCode).toBe(401);
        // Failures spread out wider than the window never add up to a pause.
        for (let i = 0; i < 12; i++) {
          expect((await from('10.0.0.3', 'garbage')).statusCode).toBe(401);
          w.clock.advance(HOUR);
        }
      },
      { app: { authFailureLimit: { max: 6, windowMs: 10 * MINUTE, lockMs: 10 * MINUTE } } },
    );
  });
});
