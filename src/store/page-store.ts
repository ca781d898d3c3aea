/**
 * The Store (see ./types.ts) over Kysely, dialect-agnostic: pages, leases, history and key
 * rotation here; apps and connections, API keys and the alert outbox in their own files. Secrets
 * are sealed and opened in the store and nowhere else, each bound to its row and field by its AAD:
 * `page:<pageId>:posting_token`, `app:<appId>:app_secret`, `connection:<id>:source_token`.
 *
 * A page's `source` (and the app secret and source token of its secrets) are its connection's:
 * read from the connection row, and a write of them goes to the connection row, so every Page of
 * one login sees one source token.
 */
import { type CompiledQuery, type ExpressionBuilder, type Insertable, type Kysely, sql } from 'kysely';
import type { Clock } from '../clock.js';
import type { SecretBox } from '../crypto/secret-box.js';
import { AppError } from '../errors.js';
import { connectionPlatformOf } from '../platforms/provider.js';
import type {
  EventType,
  HistoryEvent,
  ManagedPage,
  NewEvent,
  PageSecrets,
  PageState,
  Platform,
  TokenInfo,
} from '../types.js';
import { alertOutbox } from './alert-outbox.js';
import { apiKeyMethods } from './api-keys.js';
import type { Database } from './database.js';
import { migrate, migrationStatus } from './migrate.js';
import { appAad, connectionAad, connectionMethods, connectionRows } from './connection-store.js';
import { pageColumns, parseJson, rowToPage } from './page-rows.js';
import type { EventRow, PageRow, PagesTable, Tables } from './schema.js';
import { type DueCursor, LeaseLostError, type Store } from './types.js';

type SecretField = 'app_secret' | 'posting_token' | 'source_token';

/** Where a secret lives; sealed into its ciphertext so it cannot be moved to another page or field. */
export function secretAad(pageId: string, field: SecretField): string {
  return `page:${pageId}:${field}`;
}

const DEFAULT_EVENT_LIMIT = 100;

/** How long an opened posting token is kept beside the exact ciphertext it came from. */
export const OPENED_TOKEN_MS = 10_000;
const OPENED_TOKEN_MAX = 10_000;

export function createStore(database: Database, box: SecretBox, clock: Clock): Store {
  const { db } = database;
  const rows = connectionRows(box, clock);

  /**
   * `getPostingToken` is what a posting app calls before every post, so it costs one row read and
   * nothing else. The statement is compiled once (only the page id changes). The row is read every
   * time — a token stored by a rotation, here or in another instance on the same database, is the
   * very next answer — but opening it again is skipped while the row holds the same ciphertext it
   * was opened from: a new token is a new ciphertext (a fresh nonce, even for the same token), so a
   * kept one is never served for a changed row. Kept for OPENED_TOKEN_MS at most, so a key removed
   * from the ring is noticed as soon as that.
   */
  const postingTokenQuery: CompiledQuery = db
    .selectFrom('pages')
    .select('posting_token_enc')
    .where('page_id', '=', '')
    .compile();
  const openedTokens = new Map<string, { sealed: string; token: string; at: number }>();

  /** A page row with its secrets: the app's and the login's rows, read side by side. */
  async function withSecrets(row: PageRow): Promise<{ page: ManagedPage; secrets: PageSecrets }> {
    const pageId = row.page_id;
    const [app, connection] = await Promise.all([
      db.selectFrom('apps').selectAll().where('app_id', '=', row.app_id).executeTakeFirst(),
      row.connection_id === null
        ? Promise.resolve(undefined)
        : db.selectFrom('connections').selectAll().where('id', '=', row.connection_id).executeTakeFirst(),
    ]);
    if (!app) throw new AppError('internal_error', `the secret of app ${row.app_id} is not stored`);
    return {
      page: rowToPage(row, connection),
      secrets: {
        appSecret: rows.openAppSecret(app),
        postingToken: box.open(row.posting_token_enc, secretAad(pageId, 'posting_token')),
        sourceToken: connection ? rows.openSource(connection) : null,
      },
    };
  }

  /** Pages with their connection's facts, one extra query for all of them. */
  async function withConnections(q: Kysely<Tables>, pageRows: PageRow[]): Promise<ManagedPage[]> {
    const byId = await rows.connectionsById(
      q,
      pageRows.map((r) => r.connection_id),
    );
    return pageRows.map((r) => rowToPage(r, r.connection_id === null ? null : byId.get(r.connection_id)));
  }

  async function readSecrets(q: Kysely<Tables>, pageId: string): Promise<PageSecrets | null> {
    const page = await q
      .selectFrom('pages')
      .select(['page_id', 'app_id', 'connection_id', 'posting_token_enc'])
      .where('page_id', '=', pageId)
      .executeTakeFirst();
    if (!page) return null;
    const [app, connection] = await Promise.all([
      q.selectFrom('apps').selectAll().where('app_id', '=', page.app_id).executeTakeFirst(),
      page.connection_id === null
        ? Promise.resolve(undefined)
        : q.selectFrom('connections').selectAll().where('id', '=', page.connection_id).executeTakeFirst(),
    ]);
    if (!app) throw new AppError('internal_error', `the secret of app ${page.app_id} is not stored`);
    return {
      appSecret: rows.openAppSecret(app),
      postingToken: box.open(page.posting_token_enc, secretAad(pageId, 'posting_token')),
      sourceToken: connection ? rows.openSource(connection) : null,
    };
  }

  /**
   * Where a page's source goes: the connection of its user and app (created when new), or none.
   * `source.userId` names the login; a source debug_token named no owner for stays a login of its own.
   */
  async function attachSource(
    q: Kysely<Tables>,
    page: { pageId: string; appId: string; nextCheckAt?: number | null; platform?: Platform },
    source: TokenInfo,
    sourceToken: string,
    blockedUntil: number | null | undefined,
  ): Promise<string> {
    const conn = await rows.upsertConnection(
      q,
      {
        // An Instagram or Threads account's token is its own connection's (migration 0005).
        platform: page.platform === undefined ? 'facebook' : connectionPlatformOf(page.platform),
        appId: page.appId,
        userId: source.userId ?? `page-${page.pageId}`,
        userName: null,
        source,
        nextCheckAt: page.nextCheckAt ?? null,
      },
      sourceToken,
    );
    if (blockedUntil !== undefined && blockedUntil !== null) {
      await q
        .updateTable('connections')
        .set({ extension_blocked_until: blockedUntil })
        .where('id', '=', conn.id)
        .execute();
    }
    return conn.id;
  }

  /** A connection nobody's Page points at any more holds a token for nothing: it goes. */
  async function dropIfOrphaned(q: Kysely<Tables>, connectionId: string | null): Promise<void> {
    if (connectionId === null) return;
    const left = await q
      .selectFrom('pages')
      .select('page_id')
      .where('connection_id', '=', connectionId)
      .limit(1)
      .execute();
    if (left.length === 0) await q.deleteFrom('connections').where('id', '=', connectionId).execute();
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

    migrate: () => migrate(database, clock, box),
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
      const list = await db
        .selectFrom('pages')
        .selectAll()
        .orderBy('created_at')
        .orderBy('page_id')
        .execute();
      return withConnections(db, list);
    },

    async listPageIds(limit) {
      const list = await db
        .selectFrom('pages')
        .select('page_id')
        .orderBy('created_at')
        .orderBy('page_id')
        .limit(limit)
        .execute();
      return list.map((r) => r.page_id);
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
      return row ? ((await withConnections(db, [row]))[0] ?? null) : null;
    },

    getSecrets: (pageId) => readSecrets(db, pageId),

    async getPageWithSecrets(pageId) {
      const row = await db.selectFrom('pages').selectAll().where('page_id', '=', pageId).executeTakeFirst();
      return row ? withSecrets(row) : null;
    },

    async getPostingToken(pageId) {
      const { rows: found } = await db.executeQuery<{ posting_token_enc: string }>({
        ...postingTokenQuery,
        parameters: [pageId],
      });
      const sealed = found[0]?.posting_token_enc;
      if (sealed === undefined) return null;
      const now = clock.now();
      const kept = openedTokens.get(pageId);
      if (kept && kept.sealed === sealed && now >= kept.at && now - kept.at < OPENED_TOKEN_MS) {
        return kept.token;
      }
      const token = box.open(sealed, secretAad(pageId, 'posting_token'));
      if (openedTokens.size >= OPENED_TOKEN_MAX) openedTokens.clear();
      openedTokens.set(pageId, { sealed, token, at: now });
      return token;
    },

    async savePage(page, secrets, events = []) {
      const now = clock.now();
      return database.writeTransaction(async (trx) => {
        const previous = await trx
          .selectFrom('pages')
          .select('connection_id')
          .where('page_id', '=', page.pageId)
          .executeTakeFirst();
        await rows.upsertApp(trx, page.appId, secrets.appSecret);
        // A page set up with a source token joins the connection of its user and app (and gives it
        // this token); one set up from a bare Page token has none.
        const connectionId =
          secrets.sourceToken !== null && page.source !== null
            ? await attachSource(
                trx,
                page,
                page.source,
                secrets.sourceToken,
                page.sourceExtensionBlockedUntil,
              )
            : null;
        // A new setup replaces everything, lease included: a renewal still running on the old data
        // then fails with LeaseLostError instead of overwriting the new setup.
        const replacement = {
          ...pageColumns({ ...page, connectionId }),
          posting_token_enc: box.seal(secrets.postingToken, secretAad(page.pageId, 'posting_token')),
          lease_owner: null,
          lease_expires_at: null,
          updated_at: now,
        };
        // NewPage carries every page field, so pageColumns() set every column.
        const row = { ...replacement, page_id: page.pageId, created_at: now } as Insertable<PagesTable>;
        const saved = await trx
          .insertInto('pages')
          .values(row)
          .onConflict((oc) => oc.column('page_id').doUpdateSet(replacement))
          .returningAll()
          .executeTakeFirstOrThrow();
        if (previous && previous.connection_id !== connectionId) {
          await dropIfOrphaned(trx, previous.connection_id);
        }
        await insertEvents(trx, events);
        return (await withConnections(trx, [saved]))[0]!;
      });
    },

    async updatePage(pageId, patch, options = {}) {
      const secrets = options.secrets ?? {};
      const { leaseOwner } = options;
      // A check's save changes the page row alone (its facts, the lease): no read first, and no
      // transaction when there is no history to write with it — one statement (one commit).
      const pageOnly =
        patch.source === undefined &&
        patch.sourceExtensionBlockedUntil === undefined &&
        secrets.appSecret === undefined &&
        secrets.sourceToken === undefined;
      if (pageOnly) {
        const write = async (q: Kysely<Tables>) => {
          const { connection_id: _keep, ...set }: Partial<Insertable<PagesTable>> = {
            ...pageColumns(patch),
            updated_at: clock.now(),
          };
          if (secrets.postingToken !== undefined) {
            set.posting_token_enc = box.seal(secrets.postingToken, secretAad(pageId, 'posting_token'));
          }
          if (options.release === true && leaseOwner !== undefined) {
            set.lease_owner = null;
            set.lease_expires_at = null;
          }
          const row = await q
            .updateTable('pages')
            .set(set)
            .where('page_id', '=', pageId)
            .$if(leaseOwner !== undefined, (qb) => qb.where('lease_owner', '=', leaseOwner!))
            .returningAll()
            .executeTakeFirst();
          if (!row) {
            const exists = await q
              .selectFrom('pages')
              .select('page_id')
              .where('page_id', '=', pageId)
              .executeTakeFirst();
            // Throwing rolls a transaction back: neither the row nor the events are written.
            if (!exists) throw new AppError('page_not_found', `page ${pageId} is not managed here`);
            throw new LeaseLostError(pageId);
          }
          await insertEvents(q, options.events ?? []);
          return row;
        };
        const row =
          (options.events ?? []).length === 0
            ? await database.writeStatement(write)
            : await database.writeTransaction(write);
        return (await withConnections(db, [row]))[0]!;
      }
      return database.writeTransaction(async (trx) => {
        const set: Partial<Insertable<PagesTable>> = { ...pageColumns(patch), updated_at: clock.now() };
        if (secrets.postingToken !== undefined) {
          set.posting_token_enc = box.seal(secrets.postingToken, secretAad(pageId, 'posting_token'));
        }
        const current = await trx
          .selectFrom('pages')
          .select(['app_id', 'connection_id', 'lease_owner'])
          .where('page_id', '=', pageId)
          .executeTakeFirst();
        if (!current) throw new AppError('page_not_found', `page ${pageId} is not managed here`);
        if (leaseOwner !== undefined && current.lease_owner !== leaseOwner) throw new LeaseLostError(pageId);
        const appId = patch.appId ?? current.app_id;
        if (secrets.appSecret !== undefined) await rows.upsertApp(trx, appId, secrets.appSecret);
        // The source is the connection's: a new one moves the page to its login, none detaches it.
        let connectionId = current.connection_id;
        if (patch.source === null || secrets.sourceToken === null) {
          connectionId = null;
        } else if (secrets.sourceToken !== undefined && patch.source !== undefined) {
          connectionId = await attachSource(
            trx,
            { pageId, appId },
            patch.source,
            secrets.sourceToken,
            undefined,
          );
        } else if (connectionId !== null) {
          const conn = {
            ...(patch.source !== undefined ? rows.sourceColumns(patch.source) : {}),
            ...(patch.sourceExtensionBlockedUntil !== undefined
              ? { extension_blocked_until: patch.sourceExtensionBlockedUntil }
              : {}),
            ...(secrets.sourceToken !== undefined
              ? {
                  source_token_enc: box.seal(
                    secrets.sourceToken,
                    connectionAad(connectionId, 'source_token'),
                  ),
                }
              : {}),
          };
          if (Object.keys(conn).length > 0) {
            await trx
              .updateTable('connections')
              .set({ ...conn, updated_at: clock.now() })
              .where('id', '=', connectionId)
              .execute();
          }
        }
        set.connection_id = connectionId;
        if (options.release === true && leaseOwner !== undefined) {
          set.lease_owner = null;
          set.lease_expires_at = null;
        }
        const row = await trx
          .updateTable('pages')
          .set(set)
          .where('page_id', '=', pageId)
          .$if(leaseOwner !== undefined, (qb) => qb.where('lease_owner', '=', leaseOwner!))
          .returningAll()
          .executeTakeFirst();
        // Throwing rolls the transaction back: neither the row nor the events are written.
        if (!row) throw new LeaseLostError(pageId);
        if (current.connection_id !== connectionId) await dropIfOrphaned(trx, current.connection_id);
        await insertEvents(trx, options.events ?? []);
        return (await withConnections(trx, [row]))[0]!;
      });
    },

    async deletePage(pageId) {
      return database.writeTransaction(async (trx) => {
        const page = await trx
          .selectFrom('pages')
          .select('connection_id')
          .where('page_id', '=', pageId)
          .executeTakeFirst();
        const result = await trx.deleteFrom('pages').where('page_id', '=', pageId).executeTakeFirst();
        // Alerts about a page nobody manages any more would only confuse; history stays as the audit trail.
        await trx
          .deleteFrom('alert_deliveries')
          .where('page_id', '=', pageId)
          .where('status', '=', 'pending')
          .execute();
        await dropIfOrphaned(trx, page?.connection_id ?? null);
        return result.numDeletedRows > 0n;
      });
    },

    async listDuePages(now, limit, after) {
      // Never-checked pages first, then the due ones by next_check_at. Two queries, because one
      // with `next_check_at is null or next_check_at <= now` is not a range: it walks the whole
      // index when nothing is due (docs/BENCHMARKS.md, growth). Each of these is an index search.
      const [never, due] = dueQueries(db, now, after);
      // Past the never-checked ones already: only the due ones after the cursor are left.
      const first =
        after !== undefined && after.nextCheckAt !== null ? [] : await never.limit(limit).execute();
      const rest = first.length < limit ? await due.limit(limit - first.length).execute() : [];
      return withConnections(db, [...first, ...rest]);
    },

    // --- leases ---------------------------------------------------------------------------------

    async claimPageWithSecrets(pageId, owner, now, ttlMs) {
      // The claim's UPDATE returns the row it leased: the work's first read comes with it.
      const row = await db
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
        .returningAll()
        .executeTakeFirst();
      return row ? withSecrets(row) : null;
    },

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

    ...connectionMethods(database, box, clock),
    ...apiKeyMethods(db),
    ...alertOutbox(database),

    // --- keys -----------------------------------------------------------------------------------

    async resealAll() {
      return database.writeTransaction(async (trx) => {
        // Lock the rows (PostgreSQL) so a renewal committing meanwhile cannot be overwritten with
        // the old token re-sealed. SQLite's write transaction already excludes other writers.
        const locked = <T extends { forUpdate(): T }>(qb: T) =>
          database.features.rowLocks ? qb.forUpdate() : qb;
        let resealed = 0;
        const pages = await trx
          .selectFrom('pages')
          .select(['page_id', 'posting_token_enc'])
          .$call(locked)
          .execute();
        for (const page of pages) {
          const aad = secretAad(page.page_id, 'posting_token');
          const sealed = box.seal(box.open(page.posting_token_enc, aad), aad);
          await trx
            .updateTable('pages')
            .set({ posting_token_enc: sealed })
            .where('page_id', '=', page.page_id)
            .execute();
          resealed++;
        }
        const apps = await trx
          .selectFrom('apps')
          .select(['app_id', 'app_secret_enc'])
          .$call(locked)
          .execute();
        for (const app of apps) {
          const sealed = box.seal(rows.openAppSecret(app), appAad(app.app_id));
          await trx
            .updateTable('apps')
            .set({ app_secret_enc: sealed })
            .where('app_id', '=', app.app_id)
            .execute();
          resealed++;
        }
        const conns = await trx
          .selectFrom('connections')
          .select(['id', 'source_token_enc', 'retired_token_enc'])
          .$call(locked)
          .execute();
        for (const c of conns) {
          const retiredAad = connectionAad(c.id, 'retired_token');
          await trx
            .updateTable('connections')
            .set({
              source_token_enc: box.seal(rows.openSource(c), connectionAad(c.id, 'source_token')),
              retired_token_enc:
                c.retired_token_enc === null
                  ? null
                  : box.seal(box.open(c.retired_token_enc, retiredAad), retiredAad),
            })
            .where('id', '=', c.id)
            .execute();
          resealed += c.retired_token_enc === null ? 1 : 2;
        }
        return { resealed };
      });
    },

    secretBox: box,

    async sealedKeyUsage() {
      // Envelopes are `v1.<8 hex key id>.…` (crypto/secret-box): characters 4–11 name the key. The
      // sample is a Page whose secrets include one sealed with that key (getSecrets opens all three).
      const { rows: usage } = await sql<{
        field: SecretField;
        key_id: string;
        n: number | string;
        page_id: string | null;
      }>`
        select 'posting_token' as field, substr(posting_token_enc, 4, 8) as key_id, count(*) as n, min(page_id) as page_id
          from pages group by substr(posting_token_enc, 4, 8)
        union all
        select 'app_secret', substr(a.app_secret_enc, 4, 8), count(distinct a.app_id), min(p.page_id)
          from apps a left join pages p on p.app_id = a.app_id group by substr(a.app_secret_enc, 4, 8)
        union all
        select 'source_token', substr(c.source_token_enc, 4, 8), count(distinct c.id), min(p.page_id)
          from connections c left join pages p on p.connection_id = c.id group by substr(c.source_token_enc, 4, 8)
        union all
        select 'source_token', substr(retired_token_enc, 4, 8), count(*), min(id)
          from connections where retired_token_enc is not null group by substr(retired_token_enc, 4, 8)`.execute(
        db,
      );
      return usage.map((r) => ({
        keyId: r.key_id,
        field: r.field,
        count: Number(r.n),
        samplePageId: r.page_id ?? '',
      }));
    },

    async pagesSealedWith(keyId, limit) {
      const { rows: found } = await sql<{
        page_id: string;
        posting_token_enc: string;
        app_secret_enc: string | null;
        source_token_enc: string | null;
      }>`
        select p.page_id, p.posting_token_enc, a.app_secret_enc, c.source_token_enc
          from pages p
          left join apps a on a.app_id = p.app_id
          left join connections c on c.id = p.connection_id
         where substr(p.posting_token_enc, 4, 8) = ${keyId}
            or substr(a.app_secret_enc, 4, 8) = ${keyId}
            or substr(c.source_token_enc, 4, 8) = ${keyId}
         order by p.page_id
         limit ${limit}`.execute(db);
      const named = (enc: string | null) => enc !== null && enc.slice(3, 11) === keyId;
      return found.map((r) => ({
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
 * is due, both free of a live lease. `after`: only the pages that come after this one in that
 * order (a round listing on from where its last listing ended). Exported for the growth
 * benchmark's query plans.
 */
export function dueQueries(db: Kysely<Tables>, now: number, after?: DueCursor) {
  const free = (eb: ExpressionBuilder<Tables, 'pages'>) =>
    eb.or([eb('lease_owner', 'is', null), eb('lease_expires_at', '<=', now)]);
  const never = db
    .selectFrom('pages')
    .selectAll()
    .where('next_check_at', 'is', null)
    .where(free)
    .$if(after !== undefined && after.nextCheckAt === null, (qb) => qb.where('page_id', '>', after!.pageId))
    .orderBy('page_id');
  const due = db
    .selectFrom('pages')
    .selectAll()
    .where('next_check_at', '<=', now)
    .where(free)
    // A row-value comparison: one range of the (next_check_at, page_id) index on both databases.
    .$if(after !== undefined && after.nextCheckAt !== null, (qb) =>
      qb.where((eb) =>
        eb(eb.refTuple('next_check_at', 'page_id'), '>', eb.tuple(after!.nextCheckAt!, after!.pageId)),
      ),
    )
    .orderBy('next_check_at')
    .orderBy('page_id');
  return [never, due] as const;
}
