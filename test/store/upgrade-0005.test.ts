/**
 * Upgrading a database at 0004 (connections) to 0005 (Instagram and Threads accounts): every
 * Facebook connection stays `facebook`, with its token and Pages, and has no issue time; the new
 * column takes an Instagram account's.
 */
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.js';
import { MIGRATIONS } from '../../src/store/migrations/index.js';
import { testBackends, testBox, withTestDatabase } from '../helpers/backends.js';

const BEFORE = ['0001_initial', '0002_due_index', '0003_key_limits_and_sessions', '0004_connections'];

describe.each(testBackends())('upgrading a 0004 database on %s', (backend) => {
  it('keeps every connection as facebook, with its token and Pages; token_issued_at is null', async () => {
    await withTestDatabase(backend, async (db) => {
      const old = await openDatabase(db.databaseUrl, { schema: db.schema });
      try {
        for (const name of BEFORE) {
          await old.migrationTransaction(async (trx) => {
            await trx.schema
              .createTable('schema_migrations')
              .ifNotExists()
              .addColumn('name', 'text', (c) => c.primaryKey())
              .addColumn('applied_at', 'bigint', (c) => c.notNull())
              .execute();
            await MIGRATIONS[name]!.up(trx as never, old.features, { box: testBox(), now: 0 });
            await trx.insertInto('schema_migrations').values({ name, applied_at: 0 }).execute();
          });
        }
      } finally {
        await old.close();
      }
      const box = testBox();
      const id = 'facebook_3003_1001';
      await db.query(
        'insert into apps (app_id, app_secret_enc, created_at, updated_at) values (?, ?, ?, ?)',
        ['3003', box.seal('APPSECRET-3003', 'app:3003:app_secret'), 1, 1],
      );
      await db.query(
        `insert into connections (id, platform, app_id, user_id, user_name, token_type, token_is_valid,
           token_expires_at, token_scopes, token_hash, source_token_enc, failure_count, created_at, updated_at)
         values (?, 'facebook', '3003', '1001', null, 'USER', 1, ?, '[]', 'abc', ?, 0, 1, 1)`,
        [id, 5_000_000, box.seal('EAASOURCE1001', `connection:${id}:source_token`)],
      );

      const store = await db.openStore();
      expect(await store.migrate()).toEqual({ applied: ['0005_platform_accounts'] });
      const c = await store.getConnection(id);
      expect(c).toMatchObject({ platform: 'facebook', userId: '1001', tokenIssuedAt: null });
      expect(c!.source.expiresAt).toBe(5_000_000);
      expect((await store.getConnectionSecrets(id))!.sourceToken).toBe('EAASOURCE1001');

      // The new column is written and read like any other.
      const after = await store.updateConnection(id, { tokenIssuedAt: 1234 });
      expect(after.tokenIssuedAt).toBe(1234);
      expect(await db.query('select token_issued_at from connections where id = ?', [id])).toEqual([
        { token_issued_at: backend === 'postgres' ? '1234' : 1234 },
      ]);
    });
  });
});
