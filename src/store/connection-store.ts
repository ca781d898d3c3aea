/**
 * Apps and connections (migration 0004). An app's secret is sealed once, bound to its row by the
 * AAD `app:<appId>:app_secret`; a connection's source token by `connection:<id>:source_token`.
 * Page rows point at their connection; page-store reads a page's `source` from it.
 */
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import type { SecretBox } from '../crypto/secret-box.js';
import { AppError } from '../errors.js';
import { connectionColumns, rowToConnection } from './connection-rows.js';
import type { Database } from './database.js';
import { connectionIdOf } from './migrations/0004_connections.js';
import { rowToPage } from './page-rows.js';
import type { ConnectionRow, Tables } from './schema.js';
import type { TokenInfo } from '../types.js';
import { type ConnectionSecrets, LeaseLostError, type NewConnection, type Store } from './types.js';
import type { Connection } from '../types.js';

export { connectionIdOf };

export function appAad(appId: string): string {
  return `app:${appId}:app_secret`;
}

export function connectionAad(id: string, field: 'source_token' | 'retired_token'): string {
  return `connection:${id}:${field}`;
}

type ConnectionMethods = Pick<
  Store,
  | 'listConnections'
  | 'getConnection'
  | 'getConnectionSecrets'
  | 'getConnectionWithSecrets'
  | 'saveConnection'
  | 'updateConnection'
  | 'deleteConnection'
  | 'listConnectionPages'
  | 'listDueConnections'
  | 'claimConnection'
  | 'releaseConnection'
>;

/** What page-store shares with this file: writing apps and connections inside its transactions. */
export function connectionRows(box: SecretBox, clock: Clock) {
  async function upsertApp(q: Kysely<Tables>, appId: string, appSecret: string): Promise<void> {
    const now = clock.now();
    const sealed = box.seal(appSecret, appAad(appId));
    await q
      .insertInto('apps')
      .values({ app_id: appId, app_secret_enc: sealed, created_at: now, updated_at: now })
      .onConflict((oc) => oc.column('app_id').doUpdateSet({ app_secret_enc: sealed, updated_at: now }))
      .execute();
  }

  /** Insert the login, or give the existing login of this user and app its new token. */
  async function upsertConnection(
    q: Kysely<Tables>,
    c: NewConnection,
    sourceToken: string,
  ): Promise<ConnectionRow> {
    const now = clock.now();
    const id = connectionIdOf(c.platform, c.appId, c.userId);
    const replacement = {
      ...connectionColumns({
        source: c.source,
        // A new token is a fresh start: nothing blocked, failing or throttled about it yet.
        extensionBlockedUntil: null,
        throttledUntil: null,
        failureCount: 0,
        retryAt: null,
        lastError: null,
        lastCheckedAt: c.source.checkedAt,
        nextCheckAt: c.nextCheckAt,
      }),
      ...(c.userName !== null ? { user_name: c.userName } : {}),
      source_token_enc: box.seal(sourceToken, connectionAad(id, 'source_token')),
      updated_at: now,
    };
    const row = {
      ...replacement,
      id,
      platform: c.platform,
      app_id: c.appId,
      user_id: c.userId,
      user_name: c.userName,
      created_at: now,
    } as Parameters<ReturnType<Kysely<Tables>['insertInto']>['values']>[0] & { id: string };
    return q
      .insertInto('connections')
      .values(row as never)
      .onConflict((oc) => oc.column('id').doUpdateSet(replacement))
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async function connectionsById(q: Kysely<Tables>, ids: (string | null)[]) {
    const wanted = [...new Set(ids.filter((id): id is string => id !== null))];
    if (wanted.length === 0) return new Map<string, ConnectionRow>();
    const rows = await q.selectFrom('connections').selectAll().where('id', 'in', wanted).execute();
    return new Map(rows.map((r) => [r.id, r]));
  }

  function openAppSecret(row: { app_id: string; app_secret_enc: string }): string {
    return box.open(row.app_secret_enc, appAad(row.app_id));
  }

  function openSource(row: { id: string; source_token_enc: string }): string {
    return box.open(row.source_token_enc, connectionAad(row.id, 'source_token'));
  }

  /** The source columns of a connection row for a page's `source` patch. */
  function sourceColumns(source: TokenInfo) {
    return connectionColumns({ source, lastCheckedAt: source.checkedAt });
  }

  return { upsertApp, upsertConnection, connectionsById, openAppSecret, openSource, sourceColumns };
}

export function connectionMethods(database: Database, box: SecretBox, clock: Clock): ConnectionMethods {
  const { db } = database;
  const rows = connectionRows(box, clock);

  async function getConnectionWithSecrets(
    id: string,
  ): Promise<{ connection: Connection; secrets: ConnectionSecrets } | null> {
    // One round trip: the app's secret comes with the row.
    const row = await db
      .selectFrom('connections')
      .innerJoin('apps', 'apps.app_id', 'connections.app_id')
      .selectAll('connections')
      .select('apps.app_secret_enc')
      .where('connections.id', '=', id)
      .executeTakeFirst();
    if (!row) {
      const orphan = await db
        .selectFrom('connections')
        .select('app_id')
        .where('id', '=', id)
        .executeTakeFirst();
      if (orphan) {
        throw new AppError('internal_error', `app ${orphan.app_id} of connection ${id} is not stored`);
      }
      return null;
    }
    const { app_secret_enc, ...connection } = row;
    return {
      connection: rowToConnection(connection),
      secrets: {
        appSecret: rows.openAppSecret({ app_id: row.app_id, app_secret_enc }),
        sourceToken: rows.openSource(row),
        retiredToken:
          row.retired_token_enc === null
            ? null
            : box.open(row.retired_token_enc, connectionAad(row.id, 'retired_token')),
      },
    };
  }

  return {
    async listConnections() {
      const list = await db
        .selectFrom('connections')
        .selectAll()
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return list.map(rowToConnection);
    },

    async getConnection(id) {
      const row = await db.selectFrom('connections').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? rowToConnection(row) : null;
    },

    async getConnectionSecrets(id) {
      return (await getConnectionWithSecrets(id))?.secrets ?? null;
    },

    getConnectionWithSecrets,

    async saveConnection(connection, secrets) {
      return database.writeTransaction(async (trx) => {
        await rows.upsertApp(trx, connection.appId, secrets.appSecret);
        return rowToConnection(await rows.upsertConnection(trx, connection, secrets.sourceToken));
      });
    },

    async updateConnection(id, patch, options = {}) {
      const set = {
        ...connectionColumns(patch),
        ...(options.sourceToken !== undefined
          ? { source_token_enc: box.seal(options.sourceToken, connectionAad(id, 'source_token')) }
          : {}),
        ...(options.retiredToken !== undefined
          ? {
              retired_token_enc:
                options.retiredToken === null
                  ? null
                  : box.seal(options.retiredToken, connectionAad(id, 'retired_token')),
            }
          : {}),
        updated_at: clock.now(),
      };
      const { leaseOwner } = options;
      if (options.release === true && leaseOwner !== undefined) {
        Object.assign(set, { lease_owner: null, lease_expires_at: null });
      }
      const events = options.events ?? [];
      const write = async (q: Kysely<Tables>) => {
        const row = await q
          .updateTable('connections')
          .set(set)
          .where('id', '=', id)
          .$if(leaseOwner !== undefined, (qb) => qb.where('lease_owner', '=', leaseOwner!))
          .returningAll()
          .executeTakeFirst();
        if (!row) {
          const exists = await q
            .selectFrom('connections')
            .select('id')
            .where('id', '=', id)
            .executeTakeFirst();
          if (exists) throw new LeaseLostError(id, 'connection');
          throw new AppError('connection_not_found', `connection ${id} is not managed here`, {
            details: { connection_id: id },
          });
        }
        if (events.length > 0) {
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
        return rowToConnection(row);
      };
      // A look's save writes the row alone: one statement (one commit), no transaction around it.
      return events.length === 0 ? database.writeStatement(write) : database.writeTransaction(write);
    },

    async deleteConnection(id) {
      return database.writeTransaction(async (trx) => {
        const pages = await trx
          .selectFrom('pages')
          .select('page_id')
          .where('connection_id', '=', id)
          .execute();
        const ids = pages.map((p) => p.page_id);
        const result = await trx.deleteFrom('connections').where('id', '=', id).executeTakeFirst();
        if (result.numDeletedRows === 0n) return null;
        if (ids.length > 0) {
          await trx.deleteFrom('pages').where('page_id', 'in', ids).execute();
          await trx
            .deleteFrom('alert_deliveries')
            .where('page_id', 'in', ids)
            .where('status', '=', 'pending')
            .execute();
        }
        return ids;
      });
    },

    async listConnectionPages(id) {
      const [pages, connection] = await Promise.all([
        db.selectFrom('pages').selectAll().where('connection_id', '=', id).orderBy('page_id').execute(),
        db.selectFrom('connections').selectAll().where('id', '=', id).executeTakeFirst(),
      ]);
      return pages.map((p) => rowToPage(p, connection));
    },

    async listDueConnections(now, limit) {
      const list = await db
        .selectFrom('connections')
        .selectAll()
        .where((eb) => eb.or([eb('next_check_at', 'is', null), eb('next_check_at', '<=', now)]))
        .where((eb) => eb.or([eb('lease_owner', 'is', null), eb('lease_expires_at', '<=', now)]))
        .orderBy('next_check_at')
        .orderBy('id')
        .limit(limit)
        .execute();
      return list.map(rowToConnection);
    },

    async claimConnection(id, owner, now, ttlMs) {
      // The same conditional UPDATE as a page's lease: the database decides who wins.
      const result = await db
        .updateTable('connections')
        .set({ lease_owner: owner, lease_expires_at: now + ttlMs })
        .where('id', '=', id)
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

    async releaseConnection(id, owner) {
      await db
        .updateTable('connections')
        .set({ lease_owner: null, lease_expires_at: null })
        .where('id', '=', id)
        .where('lease_owner', '=', owner)
        .execute();
    },
  };
}
