/**
 * Connections: one Facebook login (a user or system-user token of one app) with its Pages under it.
 *
 * - `apps`: each app's secret, sealed once (aad `app:<app_id>:app_secret`) instead of once per Page.
 * - `connections`: the source token (aad `connection:<id>:source_token`), what debug_token last said
 *   about it, whether extending it was found not to work, backoff and throttling (stored, so every
 *   instance sees them), and a lease, so two instances never exchange one source token twice.
 *   `retired_token_enc` / `retired_revoke_at`: a replaced source token kept until it is revoked
 *   after a grace period (rotation without downtime, README "Connections").
 * - `pages.connection_id`: the connection a Page is minted from; null for a Page set up from a
 *   bare Page token.
 *
 * The data move: Pages whose source token belongs to the same user (debug_token's user_id) and
 * app share one connection. The newest Page's copy of the source token (and of the app secret)
 * is kept: they are tokens of the same login, and the newest is the one last verified. Every
 * secret is opened with its old AAD and sealed again with its new one, in this transaction; if
 * one does not open (wrong key), the migration fails and nothing changes.
 */
import type { Kysely } from 'kysely';
import type { DatabaseFeatures } from '../database.js';
import type { MigrationContext } from '../migrate.js';

/** The id of a connection: readable, stable, and the same on every instance that derives it. */
export function connectionIdOf(platform: string, appId: string, userId: string): string {
  return `${platform}_${appId}_${userId}`;
}

const SOURCE_COLUMNS = [
  'source_type',
  'source_is_valid',
  'source_expires_at',
  'source_data_access_expires_at',
  'source_scopes',
  'source_user_id',
  'source_profile_id',
  'source_app_id',
  'source_checked_at',
  'source_hash',
  'source_error',
] as const;

interface OldPage {
  page_id: string;
  app_id: string;
  source_type: string | null;
  source_is_valid: number | null;
  source_expires_at: number | null;
  source_data_access_expires_at: number | null;
  source_scopes: string | null;
  source_user_id: string | null;
  source_profile_id: string | null;
  source_app_id: string | null;
  source_checked_at: number | null;
  source_hash: string | null;
  source_error: string | null;
  source_extension_blocked_until: number | null;
  app_secret_enc: string;
  source_token_enc: string | null;
  created_at: number;
  updated_at: number;
}

export async function up(
  db: Kysely<unknown>,
  _features: DatabaseFeatures,
  { box, now }: MigrationContext,
): Promise<void> {
  await db.schema
    .createTable('apps')
    .addColumn('app_id', 'text', (c) => c.primaryKey())
    .addColumn('app_secret_enc', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('connections')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('platform', 'text', (c) => c.notNull())
    .addColumn('app_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('user_name', 'text')
    // what debug_token last said about the source token (never the token itself)
    .addColumn('token_type', 'text', (c) => c.notNull())
    .addColumn('token_is_valid', 'integer', (c) => c.notNull())
    .addColumn('token_expires_at', 'bigint')
    .addColumn('token_data_access_expires_at', 'bigint')
    .addColumn('token_scopes', 'text', (c) => c.notNull())
    .addColumn('token_profile_id', 'text')
    .addColumn('token_app_id', 'text')
    .addColumn('token_checked_at', 'bigint')
    .addColumn('token_hash', 'text', (c) => c.notNull())
    .addColumn('token_error', 'text')
    .addColumn('source_token_enc', 'text', (c) => c.notNull())
    .addColumn('extension_blocked_until', 'bigint')
    .addColumn('throttled_until', 'bigint')
    .addColumn('failure_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('retry_at', 'bigint')
    .addColumn('last_error', 'text')
    .addColumn('last_checked_at', 'bigint')
    .addColumn('next_check_at', 'bigint')
    .addColumn('retired_token_enc', 'text')
    .addColumn('retired_revoke_at', 'bigint')
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('connections_login', ['platform', 'app_id', 'user_id'])
    .execute();
  await db.schema.createIndex('connections_due').on('connections').columns(['next_check_at', 'id']).execute();

  await db.schema.alterTable('pages').addColumn('connection_id', 'text').execute();
  await db.schema.createIndex('pages_connection_id').on('pages').column('connection_id').execute();

  // --- the data move ------------------------------------------------------------------------------
  const q = db as unknown as Kysely<{ pages: OldPage & { connection_id: string | null } }>;
  const raw = db as unknown as Kysely<Record<string, Record<string, unknown>>>;
  // Oldest first, so the newest copy of a shared secret is the one that stays.
  const pages = await q.selectFrom('pages').selectAll().orderBy('updated_at').orderBy('page_id').execute();
  const apps = new Map<string, { secret: string; createdAt: number }>();
  const connections = new Map<string, { row: Record<string, unknown>; pageIds: string[] }>();
  for (const page of pages) {
    const appSecret = box.open(page.app_secret_enc, `page:${page.page_id}:app_secret`);
    apps.set(page.app_id, {
      secret: appSecret,
      createdAt: Math.min(apps.get(page.app_id)?.createdAt ?? page.created_at, page.created_at),
    });
    if (page.source_token_enc === null || page.source_type === null) continue;
    const sourceToken = box.open(page.source_token_enc, `page:${page.page_id}:source_token`);
    // A source whose owner debug_token did not name stays a login of its own.
    const userId = page.source_user_id ?? `page-${page.page_id}`;
    const id = connectionIdOf('facebook', page.app_id, userId);
    const previous = connections.get(id);
    connections.set(id, {
      pageIds: [...(previous?.pageIds ?? []), page.page_id],
      row: {
        id,
        platform: 'facebook',
        app_id: page.app_id,
        user_id: userId,
        user_name: null,
        token_type: page.source_type,
        token_is_valid: page.source_is_valid ?? 0,
        token_expires_at: page.source_expires_at,
        token_data_access_expires_at: page.source_data_access_expires_at,
        token_scopes: page.source_scopes ?? '[]',
        token_profile_id: page.source_profile_id,
        token_app_id: page.source_app_id,
        token_checked_at: page.source_checked_at,
        token_hash: page.source_hash ?? '',
        token_error: page.source_error,
        source_token_enc: box.seal(sourceToken, `connection:${id}:source_token`),
        extension_blocked_until: page.source_extension_blocked_until,
        throttled_until: null,
        failure_count: 0,
        retry_at: null,
        last_error: null,
        last_checked_at: page.source_checked_at,
        // Due at the next round: a connection's first look is cheap and sets its schedule.
        next_check_at: null,
        retired_token_enc: null,
        retired_revoke_at: null,
        lease_owner: null,
        lease_expires_at: null,
        created_at: Math.min(
          (previous?.row.created_at as number | undefined) ?? page.created_at,
          page.created_at,
        ),
        updated_at: now,
      },
    });
  }
  for (const [appId, app] of apps) {
    await raw
      .insertInto('apps')
      .values({
        app_id: appId,
        app_secret_enc: box.seal(app.secret, `app:${appId}:app_secret`),
        created_at: app.createdAt,
        updated_at: now,
      })
      .execute();
  }
  for (const { row, pageIds } of connections.values()) {
    await raw.insertInto('connections').values(row).execute();
    await q
      .updateTable('pages')
      .set({ connection_id: row.id as string })
      .where('page_id', 'in', pageIds)
      .execute();
  }

  // The moved columns go: a stale copy of a secret must not outlive the move.
  for (const column of [
    ...SOURCE_COLUMNS,
    'source_extension_blocked_until',
    'app_secret_enc',
    'source_token_enc',
  ]) {
    await db.schema.alterTable('pages').dropColumn(column).execute();
  }
}
