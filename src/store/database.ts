/**
 * Opens the database named by DATABASE_URL and is the ONE place that knows which dialect it is.
 * Everything dialect-specific lives here, as capability flags (`features`) and the few operations
 * that differ (write transactions, the migration lock, "does this table exist?"). The rest of the
 * store is plain Kysely and runs unchanged on both.
 *
 *   sqlite:PATH          better-sqlite3, PATH relative to the working directory (sqlite::memory: too)
 *   postgres://…         pg.Pool (postgresql:// also accepted)
 */
import { countWrites } from './write-count.js';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import {
  Kysely,
  PostgresDialect,
  SqliteDialect,
  type SqliteDatabase,
  type SqliteStatement,
  sql,
} from 'kysely';
import type pg from 'pg';
import { type Clock, systemClock } from '../clock.js';
import type { SecretBox } from '../crypto/secret-box.js';
import { AppError } from '../errors.js';
import { createStore } from './page-store.js';
import type { Tables } from './schema.js';
import type { Store } from './types.js';

export type DialectName = 'sqlite' | 'postgres';

/** What differs between the dialects, as data. Branch on these, never on the URL. */
export interface DatabaseFeatures {
  readonly dialect: DialectName;
  /** `SELECT … FOR UPDATE` exists. SQLite has no row locks; its write transactions exclude all other writers instead. */
  readonly rowLocks: boolean;
  /** Column type of an auto-increment primary key. */
  readonly serialType: 'integer' | 'bigserial';
  /** SQLite needs `AUTOINCREMENT` so ids are never reused; PostgreSQL's bigserial already never reuses. */
  readonly serialNeedsAutoIncrement: boolean;
}

export interface Database {
  readonly db: Kysely<Tables>;
  readonly features: DatabaseFeatures;
  /**
   * A transaction meant to write. On SQLite it starts with BEGIN IMMEDIATE: a deferred transaction
   * that reads first and writes later fails with SQLITE_BUSY when another connection wrote in
   * between, and busy_timeout cannot help with that; taking the write lock up front can wait instead.
   */
  writeTransaction<T>(fn: (trx: Kysely<Tables>) => Promise<T>): Promise<T>;
  /**
   * A write that is one statement (its own commit, no BEGIN/COMMIT round trips), with the same
   * bookkeeping of storage faults as a write transaction.
   */
  writeStatement<T>(fn: (db: Kysely<Tables>) => Promise<T>): Promise<T>;
  /** A write transaction that also holds the migration lock, so concurrent starters migrate one at a time. */
  migrationTransaction<T>(fn: (trx: Kysely<Tables>) => Promise<T>): Promise<T>;
  tableExists(db: Kysely<Tables>, name: string): Promise<boolean>;
  /** Maps a connection failure to AppError('database_unavailable') without the connection string. */
  unavailable(error: unknown): AppError;
  /**
   * Why the last write failed for a reason of the storage (disk full, I/O error, read-only file),
   * or null once a write succeeds again at least FAULT_HOLD_MS after the last failure. `select 1`
   * still answers on a full disk, so a ping alone would call such a database ready while no check
   * can be saved.
   */
  writeFault(): AppError | null;
  close(): Promise<void>;
}

export type DatabaseTarget =
  | { dialect: 'sqlite'; path: string }
  | { dialect: 'postgres'; connectionString: string };

export function parseDatabaseUrl(url: string): DatabaseTarget {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path === '' || path.startsWith('//')) {
      throw new AppError(
        'config_invalid',
        'DATABASE_URL must be sqlite:PATH (e.g. sqlite:data/fb-token-keeper.db or sqlite:/var/lib/fb-token-keeper.db)',
      );
    }
    return { dialect: 'sqlite', path: path === ':memory:' ? path : resolve(path) };
  }
  if (/^postgres(ql)?:\/\//.test(url)) return { dialect: 'postgres', connectionString: url };
  throw new AppError('config_invalid', 'DATABASE_URL must start with sqlite: or postgres://');
}

export interface OpenDatabaseOptions {
  /** Times storage faults (how long readiness keeps reporting one); the system clock by default. */
  clock?: Clock | undefined;
  /** PostgreSQL only: create this schema if needed and put it first on every connection's search_path. */
  schema?: string | undefined;
  /**
   * SQLite only: create the file (and its folder) when it does not exist (default true). When false
   * a missing file is `database_not_found`, naming the path, instead of a new empty database.
   */
  create?: boolean | undefined;
}

export async function openDatabase(url: string, options: OpenDatabaseOptions = {}): Promise<Database> {
  const target = parseDatabaseUrl(url);
  return target.dialect === 'sqlite'
    ? openSqlite(target.path, options.create !== false, options.clock ?? systemClock)
    : openPostgres(target.connectionString, options.schema, options.clock ?? systemClock);
}

export interface OpenStoreOptions extends OpenDatabaseOptions {
  databaseUrl: string;
  secretBox: SecretBox;
  /** Stamps created_at / updated_at / applied_at; the system clock unless a test or `simulate` passes its own. */
  clock?: Clock | undefined;
}

/** Opens the store. It does NOT migrate: call `store.migrate()` (start-up and the `migrate` command do). */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const database = await openDatabase(options.databaseUrl, {
    schema: options.schema,
    create: options.create,
    clock: options.clock,
  });
  return countWrites(createStore(database, options.secretBox, options.clock ?? systemClock));
}

/**
 * How long a storage fault keeps being reported after the last failed write, whatever succeeds in
 * between. A nearly full disk takes the small writes (a lease given back, readiness's own no-op
 * write) and refuses the ones that grow the file (a check's history): one success is no proof that
 * checks can be saved, and readiness flipping to 200 between failures hid the outage (CI saw a
 * disk-full run whose /readyz never said 503).
 */
export const FAULT_HOLD_MS = 10_000;

function storageFaults(clock: Clock) {
  let last: { error: AppError; at: number } | null = null;
  return {
    failed(error: AppError) {
      last = { error, at: clock.now() };
    },
    succeeded() {
      if (last !== null && clock.now() - last.at >= FAULT_HOLD_MS) last = null;
    },
    current: (): AppError | null => last?.error ?? null,
  };
}

// --- SQLite -----------------------------------------------------------------------------------

/**
 * Kysely's SQLite driver prepares every statement afresh, and preparing costs about as much as
 * running the small indexed queries a check makes (bench/sweep.ts: a quarter of the keeper's CPU
 * per page). The store issues a few dozen distinct SQL texts, so keep their prepared statements;
 * the cap only bounds texts that vary (IN-lists). Nothing streams rows, so no statement is ever
 * busy when it is used again.
 *
 * Every write goes through here too, which makes this the place to notice a storage fault (disk
 * full, I/O error): `onWrite` hears of each failed write and of each one that reached the file.
 */
function keepStatements(
  raw: BetterSqlite3.Database,
  onWrite: (error: unknown) => void,
  max = 200,
): SqliteDatabase {
  const statements = new Map<string, SqliteStatement>();
  const watch = (text: string, statement: BetterSqlite3.Statement): SqliteStatement => {
    // Only a write that has reached the database file proves the storage works again: a commit, or
    // a statement outside any transaction. Not BEGIN, not a statement inside a transaction, not ROLLBACK.
    // SQLite calls COMMIT read-only (as it does every transaction-control statement), so it is
    // named here: without it no write transaction ever proved the storage healthy.
    if (statement.readonly && !/^\s*(commit|end)\b/i.test(text)) return statement;
    const rollback = /^\s*rollback/i.test(text);
    const tracked = <R>(fn: () => R): R => {
      try {
        const result = fn();
        if (!raw.inTransaction && !rollback) onWrite(null);
        return result;
      } catch (e) {
        onWrite(e);
        throw e;
      }
    };
    return {
      // UPDATE … RETURNING is a `reader`: Kysely runs it with all().
      reader: statement.reader,
      all: (parameters) => tracked(() => statement.all(...parameters)),
      iterate: (parameters) => statement.iterate(...parameters),
      run: (parameters) => tracked(() => statement.run(...parameters)),
    };
  };
  return {
    close: () => raw.close(),
    prepare(text: string) {
      let statement = statements.get(text);
      if (statement === undefined) {
        statement = watch(text, raw.prepare(text));
        if (statements.size >= max) statements.delete(statements.keys().next().value!);
        statements.set(text, statement);
      }
      return statement;
    },
  };
}

const BUSY_TIMEOUT_MS = 5000;

/**
 * The database holds sealed tokens, and names, ids and history in the clear: only its owner may
 * read it (docs/SECURITY.md). A folder we create is 0700; a folder the user chose (`/var/lib/…`,
 * even `/tmp`) is theirs and left as it is. The file is created 0600 before SQLite opens it, and
 * SQLite gives its `-wal` and `-shm` files the database file's mode, so all three are 0600; files
 * left more open by an older version are tightened.
 */
function privateDatabaseFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  closeSync(openSync(path, 'a', 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    let mode: number;
    try {
      mode = statSync(file).mode & 0o777;
    } catch {
      continue; // no -wal/-shm yet
    }
    if ((mode & 0o077) !== 0) chmodSync(file, mode & 0o700);
  }
}

function openSqlite(path: string, create: boolean, clock: Clock): Database {
  if (!create && path !== ':memory:' && !existsSync(path)) {
    throw new AppError('database_not_found', `no database at ${path}`, { details: { path } });
  }
  let raw: BetterSqlite3.Database | undefined;
  try {
    if (path !== ':memory:' && create) privateDatabaseFile(path);
    raw = new BetterSqlite3(path, { timeout: BUSY_TIMEOUT_MS, fileMustExist: !create });
    raw.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // WAL: readers never block the writer, and a crash mid-write leaves the last commit intact.
    raw.pragma('journal_mode = WAL');
    // NORMAL in WAL mode never corrupts and survives an application crash or kill; only a power
    // loss can undo the last commits — which for us means the previous, still-valid token stays
    // stored. It saves an fsync per commit, and a check is three commits.
    raw.pragma('synchronous = NORMAL');
    raw.pragma('foreign_keys = ON');
  } catch (e) {
    raw?.close();
    throw unavailableError(e, []);
  }
  const connection = raw;
  const fault = storageFaults(clock);
  const onWrite = (error: unknown) => {
    if (error === null) fault.succeeded();
    else if (isStorageFault(error)) fault.failed(unavailableError(error, []));
  };
  const db = new Kysely<Tables>({
    dialect: new SqliteDialect({ database: keepStatements(connection, onWrite) }),
  });

  const writeTransaction = <T>(fn: (trx: Kysely<Tables>) => Promise<T>): Promise<T> =>
    db.connection().execute(async (conn) => {
      await sql`begin immediate`.execute(conn);
      try {
        const result = await fn(conn);
        await sql`commit`.execute(conn);
        return result;
      } catch (e) {
        // SQLite may already have rolled back on its own (e.g. disk full); a second ROLLBACK would throw.
        if (connection.inTransaction) await sql`rollback`.execute(conn);
        throw e;
      }
    });

  return {
    db,
    features: { dialect: 'sqlite', rowLocks: false, serialType: 'integer', serialNeedsAutoIncrement: true },
    writeTransaction,
    // Every statement reports to onWrite already.
    writeStatement: (fn) => fn(db),
    // BEGIN IMMEDIATE already serialises writers across processes: no separate lock needed.
    migrationTransaction: writeTransaction,
    async tableExists(q, name) {
      const { rows } = await sql<{
        name: string;
      }>`select name from sqlite_master where type = 'table' and name = ${name}`.execute(q);
      return rows.length > 0;
    },
    unavailable: (e) => unavailableError(e, []),
    writeFault: fault.current,
    close: () => db.destroy(),
  };
}

/**
 * Whether an error from a query means the database itself is unreachable or failing (connection
 * lost or refused, server shutting down, login refused, disk full, I/O error, locked for too long)
 * rather than a fault in our code. Callers answer such errors with 503 `database_unavailable` and
 * try again later, instead of reporting an internal error.
 */
export function isDatabaseUnavailable(e: unknown): boolean {
  if (e instanceof AppError) return e.code === 'database_unavailable';
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') {
    // PostgreSQL SQLSTATE classes 08 (connection), 53 (resources), 57P (shutdown), 58 (system),
    // 28 (login refused), 3D000 (no such database).
    if (/^(08|53|57P|58|28)[0-9A-Z]{2,3}$/.test(code) || code === '3D000') return true;
    if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH|EAI_AGAIN)$/.test(code)) {
      return true;
    }
    if (/^SQLITE_(BUSY|LOCKED)/.test(code)) return true;
    if (isStorageFault(e)) return true;
  }
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|database connection is not open|driver has already been destroyed/i.test(
    e.message,
  );
}

/** SQLite result codes that mean the storage, not the statement, is at fault. */
function isStorageFault(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|CORRUPT|NOTADB|PERM)/.test(code);
}

// --- PostgreSQL -------------------------------------------------------------------------------

/** Any constant works: advisory locks are per database, and only our migrator takes this one. */
const MIGRATION_LOCK_KEY = 0x6662746b; // "fbtk"

/**
 * BIGINT columns hold epoch milliseconds and counts, far below 2^53, so they are safe as JS numbers.
 * Set on this pool only: pg's global setTypeParser would change every other pg user in the process.
 */
const pgTypes = (types: typeof pg.types): pg.CustomTypesConfig => ({
  getTypeParser: (oid, format): unknown =>
    oid === types.builtins.INT8 && format !== 'binary'
      ? (value: string) => Number(value)
      : types.getTypeParser(oid, format),
});

async function openPostgres(
  connectionString: string,
  schema: string | undefined,
  clock: Clock,
): Promise<Database> {
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new AppError(
      'config_invalid',
      'database schema name must be lowercase letters, digits and _ (at most 63)',
    );
  }
  const secrets = connectionSecrets(connectionString);
  // Loaded here, not at the top: a SQLite install never pays for it at start-up (≈ 86 ms, docs/BENCHMARKS.md).
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({
    connectionString,
    types: pgTypes(pg.types),
    // Fail a ping in seconds rather than hang while the server is unreachable.
    connectionTimeoutMillis: 10_000,
    ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
  });
  // An idle client that loses its server emits 'error' on the pool; unhandled, that would kill the
  // process. The next query reports the failure instead (and ping() maps it to database_unavailable).
  pool.on('error', () => undefined);
  // pg-pool takes its own 'error' listener off a client while it is checked out, so a connection
  // that dies mid-query (failover, server restart, network cut) would emit 'error' on a Client
  // nobody listens to and take the process down. The query in flight still rejects with the error.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });

  if (schema !== undefined) {
    try {
      await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
    } catch (e) {
      // Two processes creating the same schema at once: the loser sees a unique violation, which is fine.
      if (!isPgError(e, '23505') && !isPgError(e, '42P06')) {
        await db.destroy();
        throw unavailableError(e, secrets);
      }
    }
  }

  const fault = storageFaults(clock);
  // Class 53 (insufficient resources: disk full, out of memory) and 58 (system error: I/O).
  const noteFailure = (e: unknown) => {
    const code = (e as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && /^5[38]/.test(code)) fault.failed(unavailableError(e, secrets));
  };
  const writeTransaction = async <T>(fn: (trx: Kysely<Tables>) => Promise<T>): Promise<T> => {
    try {
      const result = await db.transaction().execute(fn);
      fault.succeeded();
      return result;
    } catch (e) {
      noteFailure(e);
      throw e;
    }
  };

  const writeStatement = async <T>(fn: (q: Kysely<Tables>) => Promise<T>): Promise<T> => {
    try {
      const result = await fn(db);
      fault.succeeded();
      return result;
    } catch (e) {
      noteFailure(e);
      throw e;
    }
  };

  return {
    db,
    writeStatement,
    features: {
      dialect: 'postgres',
      rowLocks: true,
      serialType: 'bigserial',
      serialNeedsAutoIncrement: false,
    },
    writeTransaction,
    migrationTransaction: (fn) =>
      db.transaction().execute(async (trx) => {
        // Held until commit: a second starter waits here, then sees the migrations already applied.
        await sql`select pg_advisory_xact_lock(${sql.lit(MIGRATION_LOCK_KEY)})`.execute(trx);
        return fn(trx);
      }),
    async tableExists(q, name) {
      // to_regclass resolves through search_path, so it sees this store's schema only.
      const { rows } = await sql<{ t: string | null }>`select to_regclass(${name})::text as t`.execute(q);
      return rows[0]?.t != null;
    },
    unavailable: (e) => unavailableError(e, secrets),
    writeFault: fault.current,
    close: () => db.destroy(),
  };
}

function isPgError(e: unknown, code: string): boolean {
  return e instanceof Error && (e as Error & { code?: unknown }).code === code;
}

/** Password and full URL, to be scrubbed from any message we pass on. */
function connectionSecrets(connectionString: string): string[] {
  const secrets = [connectionString];
  try {
    const password = decodeURIComponent(new URL(connectionString).password);
    if (password !== '') secrets.push(password);
  } catch {
    // Not parseable as a URL: pg will report it; we still scrub the whole string.
  }
  return secrets;
}

function unavailableError(e: unknown, secrets: string[]): AppError {
  const err: Error & { code?: unknown } = e instanceof Error ? e : new Error(String(e));
  let reason = err.message;
  for (const s of secrets) reason = reason.split(s).join('***');
  const code = typeof err.code === 'string' ? ` [${err.code}]` : '';
  return new AppError('database_unavailable', `database unavailable: ${reason}${code}`);
}
