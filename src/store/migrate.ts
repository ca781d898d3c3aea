/**
 * A small forward-only migrator (simpler to read than Kysely's Migrator, and it lets us say clearly
 * when the database is newer than the code). Each pending migration runs in its own transaction,
 * under the migration lock, and re-reads what is applied once it holds the lock: a second instance
 * starting at the same moment waits, then finds nothing left to do.
 */
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import type { SecretBox } from '../crypto/secret-box.js';
import { AppError } from '../errors.js';
import type { Database, DatabaseFeatures } from './database.js';
import { MIGRATIONS } from './migrations/index.js';
import type { Tables } from './schema.js';
import type { MigrationStatus } from './types.js';

/** What a migration that moves secrets needs: the box that opens and re-seals them. */
export interface MigrationContext {
  box: SecretBox;
  now: number;
}

export interface Migration {
  up(db: Kysely<unknown>, features: DatabaseFeatures, context: MigrationContext): Promise<void>;
}

const KNOWN = Object.keys(MIGRATIONS).sort();

/** Applies every pending migration, in order. Running it again is a no-op. */
export async function migrate(
  database: Database,
  clock: Clock,
  box: SecretBox,
): Promise<{ applied: string[] }> {
  const applied: string[] = [];
  for (const name of KNOWN) {
    await database.migrationTransaction(async (trx) => {
      await trx.schema
        .createTable('schema_migrations')
        .ifNotExists()
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('applied_at', 'bigint', (c) => c.notNull())
        .execute();
      const done = await appliedNames(trx);
      refuseUnknown(done);
      if (done.includes(name)) return;
      // Migrations get an untyped handle: they describe the schema as it was then, not today's Tables.
      await MIGRATIONS[name]!.up(trx as unknown as Kysely<unknown>, database.features, {
        box,
        now: clock.now(),
      });
      await trx.insertInto('schema_migrations').values({ name, applied_at: clock.now() }).execute();
      applied.push(name);
    });
  }
  return { applied };
}

export async function migrationStatus(database: Database): Promise<MigrationStatus> {
  const applied = (await database.tableExists(database.db, 'schema_migrations'))
    ? await appliedNames(database.db)
    : [];
  return {
    applied,
    known: [...KNOWN],
    pending: KNOWN.filter((n) => !applied.includes(n)),
    unknown: applied.filter((n) => !KNOWN.includes(n)),
  };
}

/** Refuse to touch a database a newer version has migrated: its schema may mean something we do not know. */
function refuseUnknown(applied: string[]): void {
  const unknown = applied.filter((n) => !KNOWN.includes(n));
  if (unknown.length > 0) {
    throw new AppError(
      'schema_too_new',
      `database schema has migration(s) ${unknown.join(', ')} that this version does not know; upgrade fb-token-keeper or point DATABASE_URL at another database`,
      { details: { unknown_migrations: unknown } },
    );
  }
}

async function appliedNames(db: Kysely<Tables>): Promise<string[]> {
  const rows = await db.selectFrom('schema_migrations').select('name').orderBy('name').execute();
  return rows.map((r) => r.name);
}
