/**
 * Real databases for tests: SQLite always (a fresh temp FILE per test, so WAL, file locking and
 * two connections behave as in production), PostgreSQL too when TEST_DATABASE_URL is set (a fresh
 * schema per test, dropped afterwards). Callback-style so cleanup cannot be forgotten.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { createSecretBox, type SecretBox } from '../../src/crypto/secret-box.js';
import { openStore } from '../../src/store/database.js';
import type { Store } from '../../src/store/types.js';

export type Backend = 'sqlite' | 'postgres';

/** Fixed so failures are reproducible; never used outside tests. */
export const TEST_KEY = Buffer.from('fb-token-keeper test key 32 byte', 'utf8');

export function testBox(): SecretBox {
  return createSecretBox({ current: TEST_KEY });
}

export function testBackends(): Backend[] {
  return process.env.TEST_DATABASE_URL ? ['sqlite', 'postgres'] : ['sqlite'];
}

export interface TestDatabase {
  backend: Backend;
  /** Pass to openStore (with `schema`) to reach the same data. */
  databaseUrl: string;
  /** PostgreSQL schema of this test; undefined on SQLite. */
  schema: string | undefined;
  /** The SQLite file (read its bytes to look for plaintext); undefined on PostgreSQL. */
  file: string | undefined;
  /**
   * Another Store on the same database ("a second instance"), closed when the test ends. Not
   * migrated. On SQLite both stores live in one process: do not interleave their transactions
   * (better-sqlite3 waits for a lock synchronously, blocking the event loop the other store needs).
   */
  openStore(secretBox?: SecretBox): Promise<Store>;
  /** Raw SQL on a separate connection, bypassing the store. Placeholders are `?` on both backends. */
  query(text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
}

/** A fresh, EMPTY database (not migrated). */
export async function withTestDatabase(
  backend: Backend,
  fn: (db: TestDatabase) => Promise<void>,
): Promise<void> {
  const stores: Store[] = [];
  const cleanup: (() => Promise<void> | void)[] = [];
  try {
    let database: Omit<TestDatabase, 'openStore'>;
    if (backend === 'sqlite') {
      const dir = mkdtempSync(join(tmpdir(), 'fbtk-store-'));
      cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
      const file = join(dir, 'store.db');
      database = {
        backend,
        databaseUrl: `sqlite:${file}`,
        schema: undefined,
        file,
        query: async (text, params = []) => sqliteQuery(file, text, params),
      };
    } else {
      const databaseUrl = process.env.TEST_DATABASE_URL;
      if (!databaseUrl) throw new Error('TEST_DATABASE_URL is not set');
      const schema = `test_${randomBytes(6).toString('hex')}`;
      cleanup.push(() =>
        pgQuery(databaseUrl, undefined, `drop schema if exists ${schema} cascade`, []).then(() => undefined),
      );
      database = {
        backend,
        databaseUrl,
        schema,
        file: undefined,
        query: (text, params = []) => pgQuery(databaseUrl, schema, text, params),
      };
    }
    await fn({
      ...database,
      async openStore(secretBox = testBox()) {
        const store = await openStore({
          databaseUrl: database.databaseUrl,
          schema: database.schema,
          secretBox,
        });
        stores.push(store);
        return store;
      },
    });
  } finally {
    for (const store of stores) await store.close();
    for (const step of cleanup.reverse()) await step();
  }
}

/** A fresh, migrated store with the test key. `db` opens second stores and runs raw SQL. */
export async function withStore(
  backend: Backend,
  fn: (store: Store, db: TestDatabase) => Promise<void>,
): Promise<void> {
  await withTestDatabase(backend, async (db) => {
    const store = await db.openStore();
    await store.migrate();
    await fn(store, db);
  });
}

function sqliteQuery(file: string, text: string, params: unknown[]): Record<string, unknown>[] {
  const conn = new BetterSqlite3(file, { timeout: 5000 });
  try {
    const stmt = conn.prepare(text);
    if (stmt.reader) return stmt.all(...params) as Record<string, unknown>[];
    stmt.run(...params);
    return [];
  } finally {
    conn.close();
  }
}

async function pgQuery(
  databaseUrl: string,
  schema: string | undefined,
  text: string,
  params: unknown[],
): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({
    connectionString: databaseUrl,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  await client.connect();
  try {
    let n = 0;
    const result = await client.query(
      text.replace(/\?/g, () => `$${++n}`),
      params,
    );
    return result.rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}
