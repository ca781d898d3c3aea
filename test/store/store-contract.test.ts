import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import type { AlertChannel } from '../../src/store/types.js';
import { testBackends, withStore } from '../helpers/backends.js';
import { DAY, T0, event, newPage, secretsFor, tokenInfo } from './fixtures/pages.js';

describe.each(testBackends())('store contract on %s', (backend) => {
  describe('pages', () => {
    it('saves a page and reads back every field, times as numbers', async () => {
      await withStore(backend, async (store) => {
        const page = newPage('p1', {
          lastError: {
            code: 'graph_unavailable',
            message: 'timeout',
            fbCode: 2,
            fbSubcode: null,
            fbtraceId: 'AbC',
            at: T0,
          },
          posting: tokenInfo({
            isValid: false,
            error: { code: 190, subcode: 460, message: 'password changed' },
          }),
          renewalThresholdDays: 7.5,
          autoRenew: false,
          state: 'needs_reauth',
        });
        const saved = await store.savePage(page, secretsFor('p1'));
        expect(saved).toMatchObject(page);
        expect(saved.leaseOwner).toBeNull();
        expect(saved.leaseExpiresAt).toBeNull();
        expect(typeof saved.createdAt).toBe('number');
        expect(saved.updatedAt).toBe(saved.createdAt);
        expect(await store.getPage('p1')).toEqual(saved);
        expect(await store.getSecrets('p1')).toEqual(secretsFor('p1'));
        // What a check reads under its lease: the same page and secrets from one read of the row.
        expect(await store.getPageWithSecrets('p1')).toEqual({ page: saved, secrets: secretsFor('p1') });
        expect(await store.countPages()).toBe(1);
        expect(await store.listPages()).toEqual([saved]);
      });
    });

    it('stores a page without a source token', async () => {
      await withStore(backend, async (store) => {
        await store.savePage(newPage('p1', { source: null }), { ...secretsFor('p1'), sourceToken: null });
        expect((await store.getPage('p1'))!.source).toBeNull();
        expect((await store.getSecrets('p1'))!.sourceToken).toBeNull();
      });
    });

    it('returns null for a page it does not manage', async () => {
      await withStore(backend, async (store) => {
        expect(await store.getPage('nope')).toBeNull();
        expect(await store.getSecrets('nope')).toBeNull();
        expect(await store.getPageWithSecrets('nope')).toBeNull();
        expect(await store.deletePage('nope')).toBe(false);
        const error = await store.updatePage('nope', { state: 'paused' }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(AppError);
        expect((error as AppError).code).toBe('page_not_found');
        // The same under a lease owner, with history to write (the check's save): nothing written.
        const leased = await store
          .updatePage(
            'nope',
            { state: 'paused' },
            { leaseOwner: 'a', release: true, events: [event('nope', T0)] },
          )
          .catch((e: unknown) => e);
        expect((leased as AppError).code).toBe('page_not_found');
        expect(await store.listEvents('nope')).toEqual([]);
      });
    });

    it('replaces an existing page on setup again, keeping created_at, clearing the lease, with its events', async () => {
      await withStore(backend, async (store) => {
        const first = await store.savePage(newPage('p1'), secretsFor('p1'));
        expect(await store.claimPage('p1', 'worker-a', T0, 60_000)).toBe(true);
        await new Promise((r) => setTimeout(r, 5));
        const replaced = await store.savePage(
          newPage('p1', { pageName: 'Renamed', source: null, state: 'healthy' }),
          { appSecret: 'new-secret', postingToken: 'new-token', sourceToken: null },
          [event('p1', T0, { type: 'setup', reason: 'reconnected' })],
        );
        expect(replaced.createdAt).toBe(first.createdAt);
        expect(replaced.updatedAt).toBeGreaterThan(first.updatedAt);
        expect(replaced.pageName).toBe('Renamed');
        expect(replaced.source).toBeNull();
        expect(replaced.leaseOwner).toBeNull();
        expect(await store.getSecrets('p1')).toEqual({
          appSecret: 'new-secret',
          postingToken: 'new-token',
          sourceToken: null,
        });
        expect(await store.countPages()).toBe(1);
        expect((await store.listEvents('p1')).map((e) => e.type)).toEqual(['setup']);
      });
    });

    it('updates only the given fields and secrets, with events, in one go', async () => {
      await withStore(backend, async (store) => {
        await store.savePage(newPage('p1'), secretsFor('p1'));
        const posting = tokenInfo({ expiresAt: T0 + 60 * DAY, hash: '000000000000' });
        const updated = await store.updatePage(
          'p1',
          { state: 'renewal_due', posting, failureCount: 2, nextCheckAt: null },
          {
            secrets: { postingToken: 'rotated-token' },
            events: [event('p1', T0, { type: 'renewed', stateFrom: 'healthy', stateTo: 'renewal_due' })],
          },
        );
        expect(updated).toMatchObject({
          state: 'renewal_due',
          posting,
          failureCount: 2,
          nextCheckAt: null,
          pageName: 'Page p1',
        });
        expect(await store.getSecrets('p1')).toEqual({ ...secretsFor('p1'), postingToken: 'rotated-token' });
        const [e] = await store.listEvents('p1');
        expect(e).toMatchObject({
          type: 'renewed',
          stateFrom: 'healthy',
          stateTo: 'renewal_due',
          details: { n: T0 },
        });
        // Clearing the source token clears its info too when the caller says so.
        await store.updatePage('p1', { source: null }, { secrets: { sourceToken: null } });
        expect((await store.getPage('p1'))!.source).toBeNull();
        expect((await store.getSecrets('p1'))!.sourceToken).toBeNull();
      });
    });

    it('deletes a page and its pending alerts, keeping its history', async () => {
      await withStore(backend, async (store) => {
        await store.savePage(newPage('p1'), secretsFor('p1'), [event('p1', T0, { type: 'setup' })]);
        await store.enqueueAlert(
          { pageId: 'p1', kind: 'expiring', dedupeKey: 'p1:expiring:7', payload: {}, createdAt: T0 },
          [{ channel: 'webhook', target: 'http://x' }],
        );
        expect(await store.deletePage('p1')).toBe(true);
        expect(await store.getPage('p1')).toBeNull();
        expect(await store.countPages()).toBe(0);
        expect(await store.dueAlertDeliveries(T0, 10)).toEqual([]);
        expect(await store.listEvents('p1')).toHaveLength(1);
      });
    });

    it('lists page ids oldest first, only as many as asked for', async () => {
      await withStore(backend, async (store) => {
        expect(await store.listPageIds(2)).toEqual([]);
        for (const id of ['p3', 'p1', 'p2']) await store.savePage(newPage(id), secretsFor(id), []);
        const all = (await store.listPages()).map((p) => p.pageId);
        expect(await store.listPageIds(10)).toEqual(all);
        expect(await store.listPageIds(2)).toEqual(all.slice(0, 2));
      });
    });

    it('lists due pages: never-checked first, then by next_check_at; not future, not leased; limited', async () => {
      await withStore(backend, async (store) => {
        const now = T0 + 10 * DAY;
        await store.savePage(newPage('later', { nextCheckAt: now + 1 }), secretsFor('later'));
        await store.savePage(newPage('due-2', { nextCheckAt: now }), secretsFor('due-2'));
        await store.savePage(newPage('due-1', { nextCheckAt: now - DAY }), secretsFor('due-1'));
        await store.savePage(newPage('never', { nextCheckAt: null }), secretsFor('never'));
        await store.savePage(newPage('leased', { nextCheckAt: now - 2 * DAY }), secretsFor('leased'));
        await store.savePage(
          newPage('lease-expired', { nextCheckAt: now - 3 * DAY }),
          secretsFor('lease-expired'),
        );
        expect(await store.claimPage('leased', 'other', now - 1000, 60_000)).toBe(true);
        expect(await store.claimPage('lease-expired', 'other', now - 60_000, 60_000)).toBe(true);

        const due = await store.listDuePages(now, 10);
        expect(due.map((p) => p.pageId)).toEqual(['never', 'lease-expired', 'due-1', 'due-2']);
        expect((await store.listDuePages(now, 2)).map((p) => p.pageId)).toEqual(['never', 'lease-expired']);
      });
    });

    it('lists due pages on from a cursor: the never-checked after it, then every due one; the due ones after it', async () => {
      await withStore(backend, async (store) => {
        const now = T0 + 10 * DAY;
        for (const id of ['n1', 'n2', 'n3']) {
          await store.savePage(newPage(id, { nextCheckAt: null }), secretsFor(id));
        }
        // Two due at the same time: the id breaks the tie, as in the listing's order.
        await store.savePage(newPage('d-b', { nextCheckAt: now - DAY }), secretsFor('d-b'));
        await store.savePage(newPage('d-a', { nextCheckAt: now - DAY }), secretsFor('d-a'));
        await store.savePage(newPage('d-c', { nextCheckAt: now }), secretsFor('d-c'));
        await store.savePage(newPage('later', { nextCheckAt: now + 1 }), secretsFor('later'));
        const ids = async (limit: number, after?: { nextCheckAt: number | null; pageId: string }) =>
          (await store.listDuePages(now, limit, after)).map((p) => p.pageId);

        expect(await ids(2)).toEqual(['n1', 'n2']);
        expect(await ids(3, { nextCheckAt: null, pageId: 'n2' })).toEqual(['n3', 'd-a', 'd-b']);
        expect(await ids(10, { nextCheckAt: now - DAY, pageId: 'd-a' })).toEqual(['d-b', 'd-c']);
        expect(await ids(10, { nextCheckAt: now, pageId: 'd-c' })).toEqual([]);
        // Walking the whole listing page by page reaches every due page once.
        const walked: string[] = [];
        let after: { nextCheckAt: number | null; pageId: string } | undefined;
        for (;;) {
          const batch = await store.listDuePages(now, 2, after);
          if (batch.length === 0) break;
          walked.push(...batch.map((p) => p.pageId));
          after = { nextCheckAt: batch.at(-1)!.nextCheckAt, pageId: batch.at(-1)!.pageId };
        }
        expect(walked).toEqual(['n1', 'n2', 'n3', 'd-a', 'd-b', 'd-c']);
      });
    });
  });

  describe('history', () => {
    it('lists events newest first, with a limit and a cursor, per page', async () => {
      await withStore(backend, async (store) => {
        await store.savePage(newPage('p1'), secretsFor('p1'));
        await store.addEvents(
          [1, 2, 3, 4, 5].map((i) => event('p1', T0 + i, { details: { i, nested: { ok: true } } })),
        );
        await store.addEvents([event('p2', T0)]);
        await store.addEvents([]);
        const all = await store.listEvents('p1');
        expect(all.map((e) => e.details.i)).toEqual([5, 4, 3, 2, 1]);
        expect(all[0]).toMatchObject({
          pageId: 'p1',
          at: T0 + 5,
          type: 'check',
          reason: 'fresh',
          details: { i: 5, nested: { ok: true } },
        });
        expect(typeof all[0]!.id).toBe('number');
        const page1 = await store.listEvents('p1', { limit: 2 });
        expect(page1.map((e) => e.details.i)).toEqual([5, 4]);
        const page2 = await store.listEvents('p1', { limit: 2, beforeId: page1[1]!.id });
        expect(page2.map((e) => e.details.i)).toEqual([3, 2]);
        expect(await store.listEvents('p2')).toHaveLength(1);
      });
    });
  });

  describe('API keys', () => {
    it('creates, gets, lists, touches and revokes keys', async () => {
      await withStore(backend, async (store) => {
        const created = await store.createApiKey({
          id: 'k1',
          name: 'ci',
          keyHash: 'hash-1',
          scopes: ['admin'],
          createdAt: T0,
          pageIds: null,
          expiresAt: null,
        });
        await store.createApiKey({
          id: 'k2',
          name: 'poster',
          keyHash: 'hash-2',
          scopes: ['token:read'],
          createdAt: T0 + 1,
          pageIds: ['111', '222'],
          expiresAt: T0 + 1000,
        });
        expect(created).toEqual({
          id: 'k1',
          name: 'ci',
          scopes: ['admin'],
          createdAt: T0,
          lastUsedAt: null,
          revokedAt: null,
          pageIds: null,
          expiresAt: null,
        });
        expect(await store.getApiKey('k2')).toMatchObject({ pageIds: ['111', '222'], expiresAt: T0 + 1000 });
        expect(await store.getApiKey('k1')).toEqual({ ...created, keyHash: 'hash-1' });
        expect(await store.getApiKey('missing')).toBeNull();
        expect((await store.listApiKeys()).map((k) => k.id)).toEqual(['k1', 'k2']);
        expect(await store.listApiKeys()).not.toContainEqual(
          expect.objectContaining({ keyHash: expect.anything() }),
        );
        expect(await store.countActiveApiKeys(T0)).toBe(2);
        // k2 expires at T0 + 1000: from then on it no longer counts as an active key.
        expect(await store.countActiveApiKeys(T0 + 1000)).toBe(1);

        await store.touchApiKey('k2', T0 + 100);
        expect((await store.getApiKey('k2'))!.lastUsedAt).toBe(T0 + 100);

        expect(await store.revokeApiKey('k1', T0 + 200)).toBe(true);
        expect(await store.revokeApiKey('k1', T0 + 300)).toBe(false);
        expect(await store.revokeApiKey('missing', T0)).toBe(false);
        expect((await store.getApiKey('k1'))!.revokedAt).toBe(T0 + 200);
        expect(await store.countActiveApiKeys(T0)).toBe(1);
        expect(await store.countActiveApiKeys(T0 + 1000)).toBe(0);
      });
    });

    it('remembers a signed-out session for every store on the database until it would have expired', async () => {
      await withStore(backend, async (store, db) => {
        const other = await db.openStore();
        const session = { sessionId: 's1', keyId: 'k1', expiresAt: T0 + 1000 };
        expect(await other.isSessionEnded('s1')).toBe(false);
        await store.endSession(session, T0);
        await store.endSession(session, T0 + 1); // twice is fine
        expect(await other.isSessionEnded('s1')).toBe(true);
        expect(await other.isSessionEnded('s2')).toBe(false);
        // A session already past its expiry is not stored (its cookie is refused anyway) …
        await store.endSession({ sessionId: 's2', keyId: 'k1', expiresAt: T0 }, T0 + 10);
        expect(await store.isSessionEnded('s2')).toBe(false);
        // … and ending one prunes every row whose cookie has expired.
        await store.endSession({ sessionId: 's3', keyId: 'k1', expiresAt: T0 + 5000 }, T0 + 1000);
        expect(await db.query('select session_id from ended_sessions order by session_id')).toEqual([
          { session_id: 's3' },
        ]);
      });
    });
  });

  describe('alert outbox', () => {
    const targets: { channel: AlertChannel; target: string }[] = [
      { channel: 'webhook', target: 'https://hooks.example/a' },
      { channel: 'email', target: 'ops@example.com' },
    ];
    const alert = {
      pageId: 'p1',
      kind: 'expiring',
      dedupeKey: 'p1:expiring:7d',
      payload: { days_left: 7, page: { id: 'p1' } },
      createdAt: T0,
    };

    it('queues one delivery per target, once per dedupe key (even after delivery)', async () => {
      await withStore(backend, async (store) => {
        expect(await store.enqueueAlert(alert, [...targets, targets[0]!])).toBe(true);
        expect(await store.enqueueAlert({ ...alert, createdAt: T0 + 1 }, targets)).toBe(false);
        const due = await store.dueAlertDeliveries(T0, 10);
        expect(due).toHaveLength(2);
        expect(due[0]).toMatchObject({
          pageId: 'p1',
          kind: 'expiring',
          dedupeKey: alert.dedupeKey,
          channel: 'webhook',
          target: targets[0]!.target,
          payload: alert.payload,
          status: 'pending',
          attempts: 0,
          nextAttemptAt: T0,
          lastError: null,
          createdAt: T0,
          deliveredAt: null,
        });
        for (const d of due) await store.markDelivered(d.id, T0 + 5);
        expect(await store.enqueueAlert(alert, targets)).toBe(false);
        expect(await store.alertCounts()).toEqual({ pending: 0, delivered: 2, failed: 0 });
      });
    });

    it('retries failed deliveries when due, and gives up when told', async () => {
      await withStore(backend, async (store) => {
        await store.enqueueAlert(alert, targets);
        expect(await store.dueAlertDeliveries(T0 - 1, 10)).toEqual([]);
        const [webhook, email] = await store.dueAlertDeliveries(T0, 10);
        await store.markDeliveryFailed(webhook!.id, 'HTTP 503', T0 + 60_000, false);
        await store.markDeliveryFailed(email!.id, 'x'.repeat(5000), T0 + 60_000, true);

        expect((await store.dueAlertDeliveries(T0 + 59_999, 10)).map((d) => d.id)).toEqual([]);
        const retry = await store.dueAlertDeliveries(T0 + 60_000, 10);
        expect(retry).toHaveLength(1);
        expect(retry[0]).toMatchObject({
          id: webhook!.id,
          status: 'pending',
          attempts: 1,
          lastError: 'HTTP 503',
          nextAttemptAt: T0 + 60_000,
        });
        await store.markDelivered(webhook!.id, T0 + 60_001);
        expect(await store.alertCounts()).toEqual({ pending: 0, delivered: 1, failed: 1 });
        expect(await store.dueAlertDeliveries(T0 + DAY, 10)).toEqual([]);
      });
    });

    it('remembers the dedupe key even with no targets configured', async () => {
      await withStore(backend, async (store) => {
        expect(await store.enqueueAlert(alert, [])).toBe(true);
        expect(await store.enqueueAlert(alert, targets)).toBe(false);
        expect(await store.alertCounts()).toEqual({ pending: 0, delivered: 0, failed: 0 });
      });
    });
  });

  it('answers ping', async () => {
    await withStore(backend, async (store) => {
      expect(store.dialect).toBe(backend);
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
});
