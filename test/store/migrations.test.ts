import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { openDatabase } from '../../src/store/database.js';
import { MIGRATIONS } from '../../src/store/migrations/index.js';
import { testBackends, testBox, withStore, withTestDatabase } from '../helpers/backends.js';

const TABLES = [
  'pages',
  'apps',
  'connections',
  'events',
  'api_keys',
  'alert_deliveries',
  'alert_keys',
  'ended_sessions',
  'schema_migrations',
];
const ALL = Object.keys(MIGRATIONS);
const childScript = fileURLToPath(new URL('./fixtures/migrate-once.ts', import.meta.url));

it('migration names are unique and listed in the order they run', () => {
  expect(ALL.length).toBeGreaterThan(0);
  expect([...ALL].sort()).toEqual(ALL);
  for (const name of ALL) expect(name).toMatch(/^\d{4}_[a-z0-9_]+$/);
});

describe.each(testBackends())('migrations on %s', (backend) => {
  it('migrates an empty database to the latest schema', async () => {
    await withTestDatabase(backend, async (db) => {
      const store = await db.openStore();
      expect(await store.migrationStatus()).toEqual({ applied: [], known: ALL, pending: ALL, unknown: [] });
      expect(await store.migrate()).toEqual({ applied: ALL });
      expect(await store.migrationStatus()).toEqual({ applied: ALL, known: ALL, pending: [], unknown: [] });
      for (const table of TABLES) {
        expect(await db.query(`select count(*) as n from ${table}`)).toHaveLength(1);
      }
    });
  });

  it('does nothing when run again (same store or another one)', async () => {
    await withStore(backend, async (store, db) => {
      expect(await store.migrate()).toEqual({ applied: [] });
      expect(await (await db.openStore()).migrate()).toEqual({ applied: [] });
      const rows = await db.query('select name from schema_migrations');
      expect(rows.map((r) => r.name)).toEqual(ALL);
    });
  });

  it('lets two processes start at once: each migration is applied exactly once', async () => {
    await withTestDatabase(backend, async (db) => {
      const run = promisify(execFile);
      const args = ['--import', 'tsx', childScript, db.databaseUrl, db.schema ?? ''];
      const results = await Promise.all([run(process.execPath, args), run(process.execPath, args)]);
      const applied = results.map((r) => (JSON.parse(r.stdout) as { applied: string[] }).applied);
      expect(applied.flat().sort()).toEqual(ALL);
      expect(await db.query('select name from schema_migrations')).toHaveLength(ALL.length);
    });
  });

  it('0003 upgrades a database of the previous release: existing keys keep every Page and no expiry', async () => {
    await withTestDatabase(backend, async (db) => {
      // The schema as the previous release left it: 0001 and 0002 applied, one key in use.
      const old = await openDatabase(db.databaseUrl, { schema: db.schema });
      try {
        for (const name of ['0001_initial', '0002_due_index']) {
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
      await db.query(
        'insert into api_keys (id, name, key_hash, scopes, created_at, last_used_at, revoked_at) values (?, ?, ?, ?, ?, ?, ?)',
        ['00000000000000aa', 'poster', 'ab'.repeat(32), '["token:read"]', 1, null, null],
      );
      const store = await db.openStore();
      expect(await store.migrate()).toEqual({
        applied: ['0003_key_limits_and_sessions', '0004_connections', '0005_platform_accounts'],
      });
      expect(await store.getApiKey('00000000000000aa')).toMatchObject({
        scopes: ['token:read'],
        pageIds: null,
        expiresAt: null,
      });
      expect(await store.countActiveApiKeys(Date.now())).toBe(1);
      expect(await store.isSessionEnded('nothing')).toBe(false);
    });
  });

  it('refuses a database that a newer version migrated', async () => {
    await withStore(backend, async (store, db) => {
      await db.query('insert into schema_migrations (name, applied_at) values (?, ?)', [
        '9999_from_the_future',
        0,
      ]);
      const error = await store.migrate().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe('schema_too_new');
      expect((error as AppError).message).toBe(
        'database schema has migration(s) 9999_from_the_future that this version does not know; upgrade fb-token-keeper or point DATABASE_URL at another database',
      );
      expect((await store.migrationStatus()).unknown).toEqual(['9999_from_the_future']);
    });
  });
});
