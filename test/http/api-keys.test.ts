/** API keys as the CLI and `serve` use them: format, hashed storage, verification, revocation, bootstrap. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/clock.js';
import {
  createApiKey,
  ensureBootstrapKey,
  listApiKeys,
  parseApiKey,
  revokeApiKey,
  verifyApiKey,
} from '../../src/http/auth.js';
import { testBackends, withStore } from '../helpers/backends.js';
import { withApi } from './world.js';

describe.each(testBackends())('API keys on %s', (backend) => {
  it('a key is ftk_<id>_<secret>, shown once; only sha256 of the secret is stored', async () => {
    await withStore(backend, async (store, db) => {
      const clock = createManualClock('2027-01-01T00:00:00Z');
      const { id, key, apiKey } = await createApiKey(store, {
        name: 'poster',
        scopes: ['token:read'],
        clock,
      });
      expect(key).toMatch(/^ftk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
      const parts = parseApiKey(key)!;
      expect(parts.id).toBe(id);
      expect(apiKey).toEqual({
        id,
        name: 'poster',
        scopes: ['token:read'],
        createdAt: clock.now(),
        lastUsedAt: null,
        revokedAt: null,
        pageIds: null,
        expiresAt: null,
      });
      const rows = await db.query('select * from api_keys');
      const text = JSON.stringify(rows);
      expect(text).not.toContain(parts.secret);
      expect(text).toContain(createHash('sha256').update(parts.secret).digest('hex'));
      // Listing never shows a hash.
      const listed = await listApiKeys(store);
      expect(listed).toHaveLength(1);
      expect(JSON.stringify(listed)).not.toMatch(/hash/i);

      expect(await verifyApiKey(store, key)).toMatchObject({ id, scopes: ['token:read'] });
      expect(await verifyApiKey(store, `${key}x`)).toBeNull();
      expect(
        await verifyApiKey(
          store,
          key.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')),
        ),
      ).toBeNull();
      expect(await verifyApiKey(store, `ftk_${'0'.repeat(16)}_${parts.secret}`)).toBeNull();

      // Revoke by id or by the whole key; the second time there is nothing to revoke.
      expect(await revokeApiKey(store, key, clock)).toBe(true);
      expect(await revokeApiKey(store, id, clock)).toBe(false);
      expect(await verifyApiKey(store, key)).toBeNull();
    });
  });

  it('bad names and scopes are refused', async () => {
    await withStore(backend, async (store) => {
      const clock = createManualClock(0);
      await expect(createApiKey(store, { name: ' ', scopes: ['admin'], clock })).rejects.toMatchObject({
        code: 'validation_failed',
      });
      await expect(createApiKey(store, { name: 'x', scopes: [], clock })).rejects.toMatchObject({
        code: 'validation_failed',
      });
      await expect(
        createApiKey(store, { name: 'x', scopes: ['root' as 'admin'], clock }),
      ).rejects.toMatchObject({ code: 'validation_failed' });
      // Page limits are for token:read keys and must be Page ids; an expiry must lie ahead.
      for (const bad of [
        { scopes: ['admin' as const], pageIds: ['123'] },
        { scopes: ['admin' as const, 'token:read' as const], pageIds: ['123'] },
        { scopes: ['token:read' as const], pageIds: ['12a'] },
        { scopes: ['token:read' as const], expiresAt: 0 },
        { scopes: ['token:read' as const], expiresAt: -5 },
      ]) {
        await expect(
          createApiKey(store, { name: 'x', clock, ...bad }),
          JSON.stringify(bad),
        ).rejects.toMatchObject({ code: 'validation_failed' });
      }
      expect(await listApiKeys(store)).toEqual([]);
      const limited = await createApiKey(store, {
        name: 'poster A',
        scopes: ['token:read'],
        pageIds: ['111', '111', '222'],
        expiresAt: 1000,
        clock,
      });
      expect(limited.apiKey).toMatchObject({ pageIds: ['111', '222'], expiresAt: 1000 });
    });
  });

  it('ensureBootstrapKey creates one admin key when none is active, and only then', async () => {
    await withStore(backend, async (store) => {
      const clock = createManualClock(0);
      const key = await ensureBootstrapKey(store, clock);
      expect(key).toMatch(/^ftk_/);
      expect(await verifyApiKey(store, key!)).toMatchObject({ scopes: ['admin'] });
      expect(await ensureBootstrapKey(store, clock)).toBeNull();
      await revokeApiKey(store, key!, clock);
      const again = await ensureBootstrapKey(store, clock);
      expect(again).not.toBeNull();
      expect(again).not.toBe(key);
    });
  });
});

describe.each(testBackends())('verified keys on %s (the short-lived cache of the API hook)', (backend) => {
  it('a revoked key is refused on the very next request; an expiry still counts on a trusted key', async () => {
    await withApi(backend, async (w) => {
      expect((await w.call('GET', '/api/pages', { key: w.keys.admin })).statusCode).toBe(200);
      expect((await w.call('GET', '/api/pages', { key: w.keys.admin })).statusCode).toBe(200);
      expect(await revokeApiKey(w.store, w.keys.admin, w.clock)).toBe(true);
      expect((await w.call('GET', '/api/pages', { key: w.keys.admin })).statusCode).toBe(401);

      const { key } = await createApiKey(w.store, {
        name: 'short',
        scopes: ['admin'],
        clock: w.clock,
        expiresAt: w.clock.now() + 2_000,
      });
      expect((await w.call('GET', '/api/pages', { key })).statusCode).toBe(200);
      expect((await w.call('GET', '/api/pages', { key })).statusCode).toBe(200);
      w.clock.advance(2_000);
      const expired = await w.call('GET', '/api/pages', { key });
      expect(expired.statusCode).toBe(401);
      expect(expired.json()).toMatchObject({ error: { code: 'api_key_expired' } });
    });
  });
});
