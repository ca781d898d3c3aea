import { describe, expect, it } from 'vitest';
import { LeaseLostError } from '../../src/store/types.js';
import { testBackends, withStore } from '../helpers/backends.js';
import { T0, event, newPage, secretsFor } from './fixtures/pages.js';

const TTL = 60_000;

describe.each(testBackends())('leases on %s', (backend) => {
  it('two instances claiming the same pages at once: exactly one wins each page', async () => {
    await withStore(backend, async (a, db) => {
      const b = await db.openStore();
      const ids = Array.from({ length: 20 }, (_, i) => `p${i}`);
      for (const id of ids) await a.savePage(newPage(id), secretsFor(id));

      const results = await Promise.all(
        ids.flatMap((id) => [a.claimPage(id, 'instance-a', T0, TTL), b.claimPage(id, 'instance-b', T0, TTL)]),
      );
      for (let i = 0; i < ids.length; i++) {
        const [wonA, wonB] = [results[2 * i], results[2 * i + 1]];
        expect(wonA !== wonB, `page ${ids[i]}: exactly one winner`).toBe(true);
        const page = (await a.getPage(ids[i]!))!;
        expect(page.leaseOwner).toBe(wonA ? 'instance-a' : 'instance-b');
        expect(page.leaseExpiresAt).toBe(T0 + TTL);
      }
    });
  });

  it('a live lease blocks others; its owner can extend it; an expired one can be taken over', async () => {
    await withStore(backend, async (a, db) => {
      const b = await db.openStore();
      await a.savePage(newPage('p1'), secretsFor('p1'));
      expect(await a.claimPage('p1', 'instance-a', T0, TTL)).toBe(true);
      expect(await b.claimPage('p1', 'instance-b', T0 + TTL - 1, TTL)).toBe(false);
      expect(await a.claimPage('p1', 'instance-a', T0 + 10, TTL)).toBe(true);
      expect((await a.getPage('p1'))!.leaseExpiresAt).toBe(T0 + 10 + TTL);
      expect(await b.claimPage('p1', 'instance-b', T0 + 10 + TTL, TTL)).toBe(true);
      expect((await b.getPage('p1'))!.leaseOwner).toBe('instance-b');
      expect(await a.claimPage('p1', 'instance-a', T0 + 10 + TTL, TTL)).toBe(false);
      expect(await a.claimPage('missing', 'instance-a', T0, TTL)).toBe(false);
    });
  });

  it('only the owner releases; releaseAll frees every lease of one owner', async () => {
    await withStore(backend, async (store) => {
      for (const id of ['p1', 'p2', 'p3']) await store.savePage(newPage(id), secretsFor(id));
      await store.claimPage('p1', 'a', T0, TTL);
      await store.claimPage('p2', 'a', T0, TTL);
      await store.claimPage('p3', 'b', T0, TTL);
      await store.releasePage('p1', 'b');
      expect((await store.getPage('p1'))!.leaseOwner).toBe('a');
      await store.releasePage('p1', 'a');
      expect((await store.getPage('p1'))!).toMatchObject({ leaseOwner: null, leaseExpiresAt: null });
      expect(await store.releaseAll('a')).toBe(1);
      expect((await store.getPage('p2'))!.leaseOwner).toBeNull();
      expect((await store.getPage('p3'))!.leaseOwner).toBe('b');
    });
  });

  it('updatePage with release: the write and the release in one UPDATE, only for the lease owner', async () => {
    await withStore(backend, async (store) => {
      await store.savePage(newPage('p1'), secretsFor('p1'));
      expect(await store.claimPage('p1', 'a', T0, TTL)).toBe(true);
      await expect(
        store.updatePage('p1', { state: 'failing' }, { leaseOwner: 'b', release: true }),
      ).rejects.toBeInstanceOf(LeaseLostError);
      expect((await store.getPage('p1'))!).toMatchObject({ leaseOwner: 'a', state: newPage('p1').state });
      const stored = await store.updatePage('p1', { state: 'failing' }, { leaseOwner: 'a', release: true });
      expect(stored).toMatchObject({ state: 'failing', leaseOwner: null, leaseExpiresAt: null });
      expect((await store.getPage('p1'))!).toMatchObject({ leaseOwner: null, leaseExpiresAt: null });
      // Free again at once: another instance claims it without waiting for the lease to expire.
      expect(await store.claimPage('p1', 'b', T0 + 1, TTL)).toBe(true);
    });
  });

  it('claimPageWithSecrets: the claim returns the leased row and its secrets; a lost race or a missing page returns null', async () => {
    await withStore(backend, async (a, db) => {
      const b = await db.openStore();
      await a.savePage(newPage('p1'), secretsFor('p1'));
      const won = await a.claimPageWithSecrets('p1', 'a', T0, TTL);
      expect(won).toEqual({ page: await a.getPage('p1'), secrets: secretsFor('p1') });
      expect(won!.page).toMatchObject({ leaseOwner: 'a', leaseExpiresAt: T0 + TTL });
      expect(await b.claimPageWithSecrets('p1', 'b', T0 + 1, TTL)).toBeNull();
      expect((await a.getPage('p1'))!.leaseOwner).toBe('a');
      expect(await a.claimPageWithSecrets('missing', 'a', T0, TTL)).toBeNull();
    });
  });

  it('a connection: read with its secrets in one call; updateConnection with release frees it in the same write', async () => {
    await withStore(backend, async (store) => {
      const page = await store.savePage(newPage('p1'), secretsFor('p1'));
      const id = page.connectionId!;
      expect(await store.getConnectionWithSecrets(id)).toEqual({
        connection: await store.getConnection(id),
        secrets: {
          appSecret: secretsFor('p1').appSecret,
          sourceToken: secretsFor('p1').sourceToken,
          retiredToken: null,
        },
      });
      expect(await store.getConnectionWithSecrets('facebook_0_0')).toBeNull();

      expect(await store.claimConnection(id, 'a', T0, TTL)).toBe(true);
      await expect(
        store.updateConnection(id, { lastCheckedAt: T0 + 5 }, { leaseOwner: 'b', release: true }),
      ).rejects.toBeInstanceOf(LeaseLostError);
      expect((await store.getConnection(id))!).toMatchObject({ leaseOwner: 'a', lastCheckedAt: T0 });
      // Without release the lease stays; with it, the write and the release are one.
      expect(await store.updateConnection(id, { failureCount: 1 }, { leaseOwner: 'a' })).toMatchObject({
        failureCount: 1,
        leaseOwner: 'a',
      });
      const stored = await store.updateConnection(
        id,
        { lastCheckedAt: T0 + 5 },
        { leaseOwner: 'a', release: true },
      );
      expect(stored).toMatchObject({ lastCheckedAt: T0 + 5, leaseOwner: null, leaseExpiresAt: null });
      expect(await store.claimConnection(id, 'b', T0 + 6, TTL)).toBe(true);
    });
  });

  it('updatePage under a held lease applies; under a lost lease it throws and writes nothing', async () => {
    await withStore(backend, async (a, db) => {
      const b = await db.openStore();
      await a.savePage(newPage('p1'), secretsFor('p1'));
      expect(await a.claimPage('p1', 'instance-a', T0, TTL)).toBe(true);
      await a.updatePage(
        'p1',
        { state: 'renewing' },
        { leaseOwner: 'instance-a', events: [event('p1', T0, { type: 'state_changed' })] },
      );

      // instance-a stalls past its lease; instance-b takes over and finishes the renewal.
      expect(await b.claimPage('p1', 'instance-b', T0 + TTL, TTL)).toBe(true);
      const before = (await b.getPage('p1'))!;

      const error = await a
        .updatePage(
          'p1',
          { state: 'healthy', failureCount: 9 },
          {
            leaseOwner: 'instance-a',
            secrets: { postingToken: 'stale-token' },
            events: [event('p1', T0 + 1, { type: 'renewed' })],
          },
        )
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LeaseLostError);
      expect(await b.getPage('p1')).toEqual(before);
      expect(await b.getSecrets('p1')).toEqual(secretsFor('p1'));
      expect((await b.listEvents('p1')).map((e) => e.type)).toEqual(['state_changed']);
    });
  });

  it('a new setup while a renewal holds the lease wins: the renewal then loses its lease', async () => {
    await withStore(backend, async (store) => {
      await store.savePage(newPage('p1'), secretsFor('p1'));
      await store.claimPage('p1', 'renewer', T0, TTL);
      await store.savePage(newPage('p1', { pageName: 'Set up again' }), {
        ...secretsFor('p1'),
        postingToken: 'fresh-from-setup',
      });
      await expect(
        store.updatePage(
          'p1',
          { state: 'healthy' },
          { leaseOwner: 'renewer', secrets: { postingToken: 'old' } },
        ),
      ).rejects.toBeInstanceOf(LeaseLostError);
      expect((await store.getSecrets('p1'))!.postingToken).toBe('fresh-from-setup');
    });
  });
});
