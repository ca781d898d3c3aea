/**
 * Upgrading a database the release before connections wrote (fixtures/release-0003.json, made by
 * that release's own store: fixtures/make-release-0003.ts) to 0004: every Page, secret and history
 * event is still there, and Pages of one login and app share one connection.
 */
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.js';
import { MIGRATIONS } from '../../src/store/migrations/index.js';
import { testBackends, testBox, withTestDatabase } from '../helpers/backends.js';
import fixture from './fixtures/release-0003.json' with { type: 'json' };
import { secretsFor } from './fixtures/pages.js';

type Row = Record<string, unknown>;

async function insertRows(
  query: (text: string, params: unknown[]) => Promise<unknown>,
  table: string,
  rows: Row[],
) {
  for (const row of rows) {
    const columns = Object.keys(row);
    await query(
      `insert into ${table} (${columns.join(', ')}) values (${columns.map(() => '?').join(', ')})`,
      columns.map((c) => row[c]),
    );
  }
}

describe.each(testBackends())('upgrading a release-0003 database on %s', (backend) => {
  it('moves source tokens and app secrets into connections and apps, losing nothing', async () => {
    await withTestDatabase(backend, async (db) => {
      const old = await openDatabase(db.databaseUrl, { schema: db.schema });
      try {
        for (const name of ['0001_initial', '0002_due_index', '0003_key_limits_and_sessions']) {
          await old.migrationTransaction(async (trx) => {
            await trx.schema
              .createTable('schema_migrations')
              .ifNotExists()
              .addColumn('name', 'text', (c) => c.primaryKey())
              .addColumn('applied_at', 'bigint', (c) => c.notNull())
              .execute();
            await MIGRATIONS[name]!.up(trx as never, old.features, { box: testBox(), now: 0 });
          });
        }
      } finally {
        await old.close();
      }
      const query = (text: string, params: unknown[]) => db.query(text, params);
      await insertRows(query, 'schema_migrations', fixture.schema_migrations);
      await insertRows(query, 'pages', fixture.pages);
      // Ids are the database's: insert the events without them, in order.
      await insertRows(
        query,
        'events',
        fixture.events.map(({ id: _id, ...e }) => e),
      );

      const store = await db.openStore();
      expect(await store.migrate()).toEqual({ applied: ['0004_connections', '0005_platform_accounts'] });

      // Every Page, with its fields (the source's facts now read from its connection).
      const pages = await store.listPages();
      expect(pages.map((p) => p.pageId).sort()).toEqual(fixture.pages.map((p) => p.page_id).sort());
      for (const before of fixture.pages) {
        const page = (await store.getPage(before.page_id))!;
        expect(page).toMatchObject({
          pageName: before.page_name,
          appId: before.app_id,
          state: before.state,
          nextCheckAt: before.next_check_at,
          posting: { hash: before.posting_hash, expiresAt: before.posting_expires_at },
        });
        if (before.source_type === null) {
          expect(page.source).toBeNull();
          expect(page.connectionId).toBeNull();
        } else {
          expect(page.source).toMatchObject({
            type: before.source_type,
            expiresAt: before.source_expires_at,
            hash: before.source_hash,
            userId: before.source_user_id,
          });
        }
        // Every secret opens, re-sealed under its new place.
        const secrets = (await store.getSecrets(before.page_id))!;
        expect(secrets.postingToken).toBe(secretsFor(before.page_id).postingToken);
        expect(secrets.appSecret).toBe(
          before.app_id === '3003' ? 'APPSECRET-3003-shared' : 'APPSECRET-4004-other',
        );
        const expectedSource =
          before.source_type === null
            ? null
            : ['111', '112', '113'].includes(before.page_id)
              ? 'EAASOURCEuser1001ZZsharedTOKENabc'
              : secretsFor(before.page_id).sourceToken;
        expect(secrets.sourceToken).toBe(expectedSource);
        // History intact, in order.
        const events = await store.listEvents(before.page_id);
        const expectedEvents = fixture.events.filter((e) => e.page_id === before.page_id);
        expect(events.map((e) => [e.type, e.at]).reverse()).toEqual(
          expectedEvents.map((e) => [e.type, e.at]),
        );
      }

      // One connection per login and app: three Pages of user 1001 on app 3003 share one.
      const connections = await store.listConnections();
      expect(connections.map((c) => c.id).sort()).toEqual([
        'facebook_3003_1001',
        'facebook_3003_5005',
        'facebook_4004_1001',
      ]);
      expect((await store.listConnectionPages('facebook_3003_1001')).map((p) => p.pageId)).toEqual([
        '111',
        '112',
        '113',
      ]);
      expect((await store.getConnection('facebook_3003_5005'))!.source.type).toBe('SYSTEM_USER');
      expect(await store.getConnectionSecrets('facebook_4004_1001')).toEqual({
        appSecret: 'APPSECRET-4004-other',
        sourceToken: secretsFor('331').sourceToken,
        retiredToken: null,
      });
      expect(await db.query('select app_id from apps order by app_id')).toEqual([
        { app_id: '3003' },
        { app_id: '4004' },
      ]);
      // The old per-Page copies are gone, not left behind as stale ciphertext.
      const [page] = await db.query(`select * from pages where page_id = '111'`);
      expect(Object.keys(page!)).not.toContain('source_token_enc');
      expect(Object.keys(page!)).not.toContain('app_secret_enc');
      // Key bookkeeping sees the moved secrets: 6 posting tokens, 2 app secrets, 3 source tokens.
      const usage = await store.sealedKeyUsage();
      const count = (field: string) =>
        usage.filter((u) => u.field === field).reduce((n, u) => n + u.count, 0);
      expect([count('posting_token'), count('app_secret'), count('source_token')]).toEqual([6, 2, 3]);
    });
  });
});
