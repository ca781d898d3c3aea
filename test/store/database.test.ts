import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { createManualClock } from '../../src/clock.js';
import {
  FAULT_HOLD_MS,
  isDatabaseUnavailable,
  openDatabase,
  openStore,
  parseDatabaseUrl,
} from '../../src/store/database.js';
import { testBackends, testBox, withTestDatabase } from '../helpers/backends.js';
import { createStore } from '../../src/store/page-store.js';
import { event, newPage, secretsFor, T0 } from './fixtures/pages.js';

function configError(fn: () => unknown): AppError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).code).toBe('config_invalid');
    return e as AppError;
  }
  throw new Error('expected an error');
}

describe('DATABASE_URL', () => {
  it('names SQLite files relative to the working directory, or in memory', () => {
    expect(parseDatabaseUrl('sqlite:data/x.db')).toEqual({ dialect: 'sqlite', path: resolve('data/x.db') });
    expect(parseDatabaseUrl('sqlite:/var/lib/x.db')).toEqual({ dialect: 'sqlite', path: '/var/lib/x.db' });
    expect(parseDatabaseUrl('sqlite::memory:')).toEqual({ dialect: 'sqlite', path: ':memory:' });
  });

  it('accepts postgres:// and postgresql://', () => {
    for (const url of ['postgres://u:p@h:5432/db', 'postgresql://h/db']) {
      expect(parseDatabaseUrl(url)).toEqual({ dialect: 'postgres', connectionString: url });
    }
  });

  it('refuses anything else with a clear message', () => {
    for (const url of ['mysql://h/db', 'data/x.db', '', 'file:x.db']) {
      expect(configError(() => parseDatabaseUrl(url)).message).toBe(
        'DATABASE_URL must start with sqlite: or postgres://',
      );
    }
    configError(() => parseDatabaseUrl('sqlite:'));
    configError(() => parseDatabaseUrl('sqlite://data/x.db'));
  });
});

describe('SQLite', () => {
  it('creates the folder, and runs with WAL, busy_timeout 5000 and foreign keys', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fbtk-db-'));
    try {
      const file = join(dir, 'a', 'b', 'store.db');
      const database = await openDatabase(`sqlite:${file}`);
      try {
        expect(existsSync(file)).toBe(true);
        const pragma = async (name: string) =>
          (await sql.raw<Record<string, unknown>>(`pragma ${name}`).execute(database.db)).rows[0];
        expect(await pragma('journal_mode')).toEqual({ journal_mode: 'wal' });
        expect(await pragma('busy_timeout')).toEqual({ timeout: 5000 });
        expect(await pragma('foreign_keys')).toEqual({ foreign_keys: 1 });
        expect(database.features).toMatchObject({ dialect: 'sqlite', rowLocks: false });
      } finally {
        await database.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // SQLite only: PostgreSQL's counterpart (class 53/58) cannot be brought about from a test; its
  // lost-database cases are in test/reliability/database-loss.test.ts.
  it('a nearly full file: readiness reports the failing writes for FAULT_HOLD_MS though small writes still succeed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fbtk-db-'));
    const clock = createManualClock(T0);
    const database = await openDatabase(`sqlite:${join(dir, 'store.db')}`, { clock });
    const store = createStore(database, testBox(), clock);
    try {
      await store.migrate();
      await store.savePage(newPage('p1'), secretsFor('p1'));
      await store.ping();
      // Cap the file at its present size: a write that grows it fails with SQLITE_FULL, as on a full
      // disk, while an update in place (readiness's own no-op write) still succeeds.
      const { rows } = await sql<{ page_count: number }>`pragma page_count`.execute(database.db);
      await sql.raw(`pragma max_page_count = ${rows[0]!.page_count}`).execute(database.db);
      const history = Array.from({ length: 100 }, (_, i) =>
        event('p1', T0 + i, { message: 'x'.repeat(2000) }),
      );
      await expect(store.addEvents(history)).rejects.toThrow(/full/i);

      await expect(store.ping()).rejects.toThrow(/writes are failing: .*full/i);
      clock.advance(FAULT_HOLD_MS - 1);
      await expect(store.ping()).rejects.toThrow(/writes are failing/);
      clock.advance(1);
      await store.ping();
      expect(database.writeFault()).toBeNull();
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('works in memory', async () => {
    const store = await openStore({ databaseUrl: 'sqlite::memory:', secretBox: testBox() });
    try {
      await store.migrate();
      await store.savePage(newPage('p1'), secretsFor('p1'));
      expect(await store.getSecrets('p1')).toEqual(secretsFor('p1'));
    } finally {
      await store.close();
    }
  });
});

describe('PostgreSQL', () => {
  it('maps an unreachable server to database_unavailable without revealing the connection string', async () => {
    const store = await openStore({
      databaseUrl: 'postgres://keeper:hunter2secret@127.0.0.1:1/nowhere',
      secretBox: testBox(),
    });
    try {
      const error = await store.ping().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe('database_unavailable');
      expect((error as AppError).message).not.toContain('hunter2secret');
      expect((error as AppError).message).not.toContain('postgres://');
    } finally {
      await store.close();
    }
  });

  it('refuses a schema name that would need quoting', async () => {
    await expect(openDatabase('postgres://h/db', { schema: 'Robert"; drop' })).rejects.toMatchObject({
      code: 'config_invalid',
    });
  });
});

describe.each(testBackends())('database on %s', (backend) => {
  it('returns BIGINT columns and counts as JS numbers', async () => {
    await withTestDatabase(backend, async (db) => {
      const store = await db.openStore();
      await store.migrate();
      const page = await store.savePage(newPage('p1', { nextCheckAt: 2 ** 52 }), secretsFor('p1'));
      expect(page.nextCheckAt).toBe(2 ** 52);
      expect(typeof page.createdAt).toBe('number');
      expect(await store.countPages()).toBe(1);
      expect(await store.alertCounts()).toEqual({ pending: 0, delivered: 0, failed: 0 });
    });
  });
});

describe('isDatabaseUnavailable: what the API answers with 503 instead of 500', () => {
  const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });
  it.each([
    ['PostgreSQL login refused', withCode('role "x" is not permitted to log in', '28000'), true],
    [
      'PostgreSQL shutting down',
      withCode('terminating connection due to administrator command', '57P01'),
      true,
    ],
    ['PostgreSQL connection failure', withCode('connection failure', '08006'), true],
    ['PostgreSQL disk full', withCode('could not extend file', '53100'), true],
    ['server unreachable', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'), true],
    ['connection cut under a query', new Error('Connection terminated unexpectedly'), true],
    ['SQLite disk full', withCode('database or disk is full', 'SQLITE_FULL'), true],
    ['SQLite locked past busy_timeout', withCode('database is locked', 'SQLITE_BUSY'), true],
    ['SQLite I/O error', withCode('disk I/O error', 'SQLITE_IOERR_WRITE'), true],
    ['our AppError for it', new AppError('database_unavailable', 'down'), true],
    ['a unique violation (our bug, or a race)', withCode('duplicate key value', '23505'), false],
    ['a syntax error (our bug)', withCode('syntax error at or near', '42601'), false],
    ['SQLite constraint (our bug)', withCode('UNIQUE constraint failed', 'SQLITE_CONSTRAINT_UNIQUE'), false],
    ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'x')"), false],
    ['another AppError', new AppError('page_not_found', 'no'), false],
    ['not an error', 'Connection terminated', false],
  ])('%s → %s', (_name, error, expected) => {
    expect(isDatabaseUnavailable(error)).toBe(expected);
  });
});
