/**
 * The Store (see ./types.ts) over Kysely, dialect-agnostic: pages, leases, history and key
 * rotation here; API keys and the alert outbox in their own files. Secrets are sealed and opened
 * here and nowhere else, each bound to its row and field by the AAD `page:<pageId>:<field>`.
 */
import { type ExpressionBuilder, type Insertable, type Kysely, sql } from 'kysely';
import type { Clock } from '../clock.js';
import type { SecretBox } from '../crypto/secret-box.js';
import { AppError } from '../errors.js';
import type { EventType, HistoryEvent, NewEvent, PageSecrets, PageState } from '../types.js';
import { alertOutbox } from './alert-outbox.js';
import { apiKeyMethods } from './api-keys.js';
import type { Database } from './database.js';
import { migrate, migrationStatus } from './migrate.js';
import { pageColumns, parseJson, rowToPage } from './page-rows.js';
import type { EventRow, PagesTable, Tables } from './schema.js';
import { LeaseLostError, type Store } from './types.js';

type SecretField = 'app_secret' | 'posting_token' | 'source_token';

/** Where a secret lives; sealed into its ciphertext so it cannot be moved to another page or field. */
export function secretAad(pageId: string, field: SecretField): string {
  return `page:${pageId}:${field}`;
}

interface SealedSecrets {
  page_id: string;
  app_secret_enc: string;
  posting_token_enc: string;
  source_token_enc: string | null;
}

const DEFAULT_EVENT_LIMIT = 100;

export function createStore(database: Database, box: SecretBox, clock: Clock): Store {
  const { db } = database;

  function sealSecrets(pageId: string, secrets: Partial<PageSecrets>): Partial<Insertable<PagesTable>> {
    const out: Partial<Insertable<PagesTable>> = {};
    if (secrets.appSecret !== undefined) {
      out.app_secret_enc = box.seal(secrets.appSecret, secretAad(pageId, 'app_secret'));
    }
    if (secrets.postingToken !== undefined) {
      out.posting_token_enc = box.seal(secrets.postingToken, secretAad(pageId, 'posting_token'));
    }
    if (secrets.sourceToken !== undefined) {
      out.source_token_enc =
        secrets.sourceToken === null
          ? null
          : box.seal(secrets.sourceToken, secretAad(pageId, 'source_token'));
    }
    return out;
  }

  function openSecrets(row: SealedSecrets): PageSecrets {
    return {
      appSecret: box.open(row.app_secret_enc, secretAad(row.page_id, 'app_secret')),
      postingToken: box.open(row.posting_token_enc, secretAad(row.page_id, 'posting_token')),
      sourceToken:
        row.source_token_enc === null
          ? null
          : box.open(row.source_token_enc, secretAad(row.page_id, 'source_token')),
    };
  }

  async function insertEvents(q: Kysely<Tables>, events: NewEvent[]): Promise<void> {
    if (events.length === 0) return;
    await q
      .insertInto('events')
      .values(
        events.map((e) => ({
          page_id: e.pageId,
          at: e.at,
          type: e.type,
          reason: e.reason,
          state_from: e.stateFrom,
          state_to: e.stateTo,
          message: e.message,
          details: JSON.stringify(e.details),
        })),
      )
      .execute();
  }

  return {
    dialect: database.features.dialect,

    migrate: () => migrate(database, clock),
    migrationStatus: () => migrationStatus(database),

    async ping() {
      try {
        await sql`select 1`.execute(db);
      } catch (e) {
        throw database.unavailable(e);
      }
      if (database.writeFault()) {
        // Nothing may have written since the failure (no page due, no API call): try a write that
        // changes nothing. If it reaches the file, the fault is cleared and the database is ready.
        await database
          .writeTransaction((trx) => sql`update schema_migrations set applied_at = applied_at`.execute(trx))
          .catch(() => undefined);
      }
      const fault = database.writeFault();
      if (fault) throw new AppError('database_unavailable', `writes are failing: ${fault.message}`);
    },

    // --- pages ----------------------------------------------------------------------------------

    async listPages() {
      const rows = await db
        .selectFrom('pages')
        .selectAll()
        .orderBy('created_at')
        .orderBy('page_id')
        .execute();
      return rows.map(rowToPage);
    },

    async listPageIds(limit) {
      const rows = await db
        .selectFrom('pages')
        .select('page_id')
        .orderBy('created_at')
        .orderBy('page_id')
        .limit(limit)
        .execute();
      return rows.map((r) => r.page_id);
    },

    async countPages() {
      const row = await db
        .selectFrom('pages')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      return row.n;
    },

    async getPage(pageId) {
      const row = await db.selectFrom('pages').selectAll().where('page_id', '=', pageId).executeTakeFirst();
      return row ? rowToPage(row) : null;
    },

    async getSecrets(pageId) {
      const row = await db
        .selectFrom('pages')
        .select(['page_id', 'app_secret_enc', 'posting_token_enc', 'source_token_enc'])
        .where('page_id', '=', pageId)
        .executeTakeFirst();
      return row ? openSecrets(row) : null;
    },

    async savePage(page, secrets, events = []) {
      const now = clock.now();
      // A new setup replaces everything, lease included: a renewal still running on the old data
      // then fails with LeaseLostError instead of overwriting the new setup.
      const replacement = {
        ...pageColumns(page),
        ...sealSecrets(page.pageId, secrets),
        lease_owner: null,
        lease_expires_at: null,
        updated_at: now,
      };
      // NewPage carries every page field, so pageColumns() set every column.
      const row = { ...replacement, page_id: page.pageId, created_at: now } as Insertable<PagesTable>;
      return database.writeTransaction(async (trx) => {
        const saved = await trx
          .insertInto('pages')
          .values(row)
          .onConflict((oc) => oc.column('page_id').doUpdateSet(replacement))
          .returningAll()
          .executeTakeFirstOrThrow();
        await insertEvents(trx, events);
        return rowToPage(saved);
      });
    },

    async updatePage(pageId, patch, options = {}) {
      const set = {
        ...pageColumns(patch),
        ...sealSecrets(pageId, options.secrets ?? {}),
        updated_at: clock.now(),
      };
      const { leaseOwner } = options;
      return database.writeTransaction(async (trx) => {
        const row = await trx
          .updateTable('pages')
          .set(set)
          .where('page_id', '=', pageId)
          .$if(leaseOwner !== undefined, (qb) => qb.where('lease_owner', '=', leaseOwner!))
          .returningAll()
          .executeTakeFirst();
        if (!row) {
          // Throwing rolls the transaction back: neither the row nor the events are written.
          const exists = await trx
            .selectFrom('pages')
            .select('page_id')
            .where('page_id', '=', pageId)
            .executeTakeFirst();
          if (exists) throw new LeaseLostError(pageId);
          throw new AppError('page_not_found', `page ${pageId} is not managed here`);
        }
        await insertEvents(trx, options.events ?? []);
        return rowToPage(row);
      });
    },

    async deletePage(pageId) {
      return database.writeTransaction(async (trx) => {
        const result = await trx.deleteFrom('pages').where('page_id', '=', pageId).executeTakeFirst();
        // Alerts about a page nobody manages any more would only confuse; history stays as the audit trail.
        await trx
          .deleteFrom('alert_deliveries')
          .where('page_id', '=', pageId)
          .where('status', '=', 'pending')
          .execute();
        return result.numDeletedRows > 0n;
      });
    },

    async listDuePages(now, limit) {
      // Never-checked pages first, then the due ones by next_check_at. Two queries, because one
      // with `next_check_at is null or next_check_at <= now` is not a range: it walks the whole
      // index when nothing is due (docs/BENCHMARKS.md, growth). Each of these is an index search.
      const [never, due] = dueQueries(db, now);
      const first = await never.limit(limit).execute();
      const rest = first.length < limit ? await due.limit(limit - first.length).execute() : [];
      return [...first, ...rest].map(rowToPage);
    },

    // --- leases ---------------------------------------------------------------------------------

    async claimPage(pageId, owner, now, ttlMs) {
      // One conditional UPDATE: the database decides who wins, on SQLite and PostgreSQL alike.
      const result = await db
        .updateTable('pages')
        .set({ lease_owner: owner, lease_expires_at: now + ttlMs })
        .where('page_id', '=', pageId)
        .where((eb) =>
          eb.or([
            eb('lease_owner', 'is', null),
            eb('lease_expires_at', '<=', now),
            eb('lease_owner', '=', owner),
          ]),
        )
        .executeTakeFirst();
      return result.numUpdatedRows === 1n;
    },

    async releasePage(pageId, owner) {
      await db
        .updateTable('pages')
        .set({ lease_owner: null, lease_expires_at: null })
        .where('page_id', '=', pageId)
        .where('lease_owner', '=', owner)
        .execute();
    },

    async releaseAll(owner) {
      const result = await db
        .updateTable('pages')
        .set({ lease_owner: null, lease_expires_at: null })
        .where('lease_owner', '=', owner)
        .executeTakeFirst();
      return Number(result.numUpdatedRows);
    },

    // --- history --------------------------------------------------------------------------------

    addEvents: (events) => insertEvents(db, events),

    async listEvents(pageId, options = {}) {
      const { beforeId } = options;
      const rows = await db
        .selectFrom('events')
        .selectAll()
        .where('page_id', '=', pageId)
        .$if(beforeId !== undefined, (qb) => qb.where('id', '<', beforeId!))
        .orderBy('id', 'desc')
        .limit(options.limit ?? DEFAULT_EVENT_LIMIT)
        .execute();
      return rows.map(rowToEvent);
    },

    ...apiKeyMethods(db),
    ...alertOutbox(database),

    // --- keys -----------------------------------------------------------------------------------

    async resealAll() {
      return database.writeTransaction(async (trx) => {
        // Lock the rows (PostgreSQL) so a renewal committing meanwhile cannot be overwritten with
        // the old token re-sealed. SQLite's write transaction already excludes other writers.
        const rows = await trx
          .selectFrom('pages')
          .select(['page_id', 'app_secret_enc', 'posting_token_enc', 'source_token_enc'])
          .$if(database.features.rowLocks, (qb) => qb.forUpdate())
          .execute();
        let resealed = 0;
        for (const row of rows) {
          const secrets = openSecrets(row);
          await trx
            .updateTable('pages')
            .set(sealSecrets(row.page_id, secrets))
            .where('page_id', '=', row.page_id)
            .execute();
          resealed += secrets.sourceToken === null ? 2 : 3;
        }
        return { resealed };
      });
    },

    secretBox: box,

    async sealedKeyUsage() {
      // Envelopes are `v1.<8 hex key id>.…` (crypto/secret-box): characters 4–11 name the key.
      const { rows } = await sql<{ field: SecretField; key_id: string; n: number | string; page_id: string }>`
        select 'app_secret' as field, substr(app_secret_enc, 4, 8) as key_id, count(*) as n, min(page_id) as page_id
          from pages group by substr(app_secret_enc, 4, 8)
        union all
        select 'posting_token', substr(posting_token_enc, 4, 8), count(*), min(page_id)
          from pages group by substr(posting_token_enc, 4, 8)
        union all
        select 'source_token', substr(source_token_enc, 4, 8), count(*), min(page_id)
          from pages where source_token_enc is not null group by substr(source_token_enc, 4, 8)`.execute(db);
      return rows.map((r) => ({
        keyId: r.key_id,
        field: r.field,
        count: Number(r.n),
        samplePageId: r.page_id,
      }));
    },

    async pagesSealedWith(keyId, limit) {
      const rows = await db
        .selectFrom('pages')
        .select(['page_id', 'app_secret_enc', 'posting_token_enc', 'source_token_enc'])
        .where((eb) =>
          eb.or([
            eb(eb.fn('substr', ['app_secret_enc', eb.lit(4), eb.lit(8)]), '=', keyId),
            eb(eb.fn('substr', ['posting_token_enc', eb.lit(4), eb.lit(8)]), '=', keyId),
            eb(eb.fn('substr', ['source_token_enc', eb.lit(4), eb.lit(8)]), '=', keyId),
          ]),
        )
        .orderBy('page_id')
        .limit(limit)
        .execute();
      const named = (enc: string | null) => enc !== null && enc.slice(3, 11) === keyId;
      return rows.map((r) => ({
        pageId: r.page_id,
        fields: [
          ...(named(r.app_secret_enc) ? ['app_secret'] : []),
          ...(named(r.posting_token_enc) ? ['posting_token'] : []),
          ...(named(r.source_token_enc) ? ['source_token'] : []),
        ],
      }));
    },

    close: () => database.close(),
  };
}

function rowToEvent(row: EventRow): HistoryEvent {
  return {
    id: row.id,
    pageId: row.page_id,
    at: row.at,
    type: row.type as EventType,
    reason: row.reason,
    stateFrom: row.state_from as PageState | null,
    stateTo: row.state_to as PageState | null,
    message: row.message,
    details: parseJson(row.details) as Record<string, unknown>,
  };
}

/**
 * The scheduler's two "which pages are due?" queries: pages never checked, and pages whose check
 * is due, both free of a live lease. Exported for the growth benchmark's query plans.
 */
export function dueQueries(db: Kysely<Tables>, now: number) {
  const free = (eb: ExpressionBuilder<Tables, 'pages'>) =>
    eb.or([eb('lease_owner', 'is', null), eb('lease_expires_at', '<=', now)]);
  const never = db
    .selectFrom('pages')
    .selectAll()
    .where('next_check_at', 'is', null)
    .where(free)
    .orderBy('page_id');
  const due = db
    .selectFrom('pages')
    .selectAll()
    .where('next_check_at', '<=', now)
    .where(free)
    .orderBy('next_check_at')
    .orderBy('page_id');
  return [never, due] as const;
}
