/**
 * The initial schema. Portable types only: text, integer, bigint (epoch ms), double precision;
 * booleans are 0/1 integers and JSON is text, so the same statements run on SQLite and PostgreSQL.
 * Immutable once released: change the schema with a new numbered migration.
 */
import type { Kysely } from 'kysely';
import type { DatabaseFeatures } from '../database.js';

export async function up(db: Kysely<unknown>, features: DatabaseFeatures): Promise<void> {
  const serialId = <T extends { primaryKey(): T; autoIncrement(): T }>(col: T): T =>
    features.serialNeedsAutoIncrement ? col.primaryKey().autoIncrement() : col.primaryKey();

  await db.schema
    .createTable('pages')
    .addColumn('page_id', 'text', (c) => c.primaryKey())
    .addColumn('platform', 'text', (c) => c.notNull().defaultTo('facebook_page'))
    .addColumn('page_name', 'text')
    .addColumn('app_id', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('state_reason', 'text')
    .addColumn('state_message', 'text')
    // posting token: what debug_token last said (never the token itself)
    .addColumn('posting_type', 'text', (c) => c.notNull())
    .addColumn('posting_is_valid', 'integer', (c) => c.notNull())
    .addColumn('posting_expires_at', 'bigint')
    .addColumn('posting_data_access_expires_at', 'bigint')
    .addColumn('posting_scopes', 'text', (c) => c.notNull())
    .addColumn('posting_user_id', 'text')
    .addColumn('posting_profile_id', 'text')
    .addColumn('posting_app_id', 'text')
    .addColumn('posting_checked_at', 'bigint')
    .addColumn('posting_hash', 'text', (c) => c.notNull())
    .addColumn('posting_error', 'text')
    // source token: all null when the page has none
    .addColumn('source_type', 'text')
    .addColumn('source_is_valid', 'integer')
    .addColumn('source_expires_at', 'bigint')
    .addColumn('source_data_access_expires_at', 'bigint')
    .addColumn('source_scopes', 'text')
    .addColumn('source_user_id', 'text')
    .addColumn('source_profile_id', 'text')
    .addColumn('source_app_id', 'text')
    .addColumn('source_checked_at', 'bigint')
    .addColumn('source_hash', 'text')
    .addColumn('source_error', 'text')
    .addColumn('auto_renew', 'integer', (c) => c.notNull())
    .addColumn('renewal_threshold_days', 'double precision')
    .addColumn('last_checked_at', 'bigint')
    .addColumn('next_check_at', 'bigint')
    .addColumn('last_renewed_at', 'bigint')
    .addColumn('failure_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('retry_at', 'bigint')
    .addColumn('extension_blocked_until', 'bigint')
    .addColumn('source_extension_blocked_until', 'bigint')
    .addColumn('last_error', 'text')
    // secrets, sealed by crypto/secret-box with aad page:<page_id>:<field>
    .addColumn('app_secret_enc', 'text', (c) => c.notNull())
    .addColumn('posting_token_enc', 'text', (c) => c.notNull())
    .addColumn('source_token_enc', 'text')
    // lease: the instance working on this page, until when
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  // The scheduler asks "which pages are due?" every minute; this keeps that cheap as pages grow.
  await db.schema.createIndex('pages_next_check_at').on('pages').column('next_check_at').execute();

  // History outlives a deleted page (it is the audit trail), so no foreign key to pages.
  await db.schema
    .createTable('events')
    .addColumn('id', features.serialType, serialId)
    .addColumn('page_id', 'text', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('state_from', 'text')
    .addColumn('state_to', 'text')
    .addColumn('message', 'text')
    .addColumn('details', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('events_page_id_id').on('events').columns(['page_id', 'id']).execute();

  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('key_hash', 'text', (c) => c.notNull())
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_used_at', 'bigint')
    .addColumn('revoked_at', 'bigint')
    .execute();

  // The alert outbox: one row per alert and channel target, retried independently.
  await db.schema
    .createTable('alert_deliveries')
    .addColumn('id', features.serialType, serialId)
    .addColumn('page_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('dedupe_key', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('target', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('delivered_at', 'bigint')
    .addUniqueConstraint('alert_deliveries_dedupe', ['dedupe_key', 'channel', 'target'])
    .execute();
  await db.schema
    .createIndex('alert_deliveries_due')
    .on('alert_deliveries')
    .columns(['status', 'next_attempt_at'])
    .execute();

  await db.schema
    .createTable('alert_keys')
    .addColumn('dedupe_key', 'text', (c) => c.primaryKey())
    .addColumn('page_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
}
