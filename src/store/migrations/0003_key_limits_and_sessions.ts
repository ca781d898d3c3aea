/**
 * Least privilege and revocable sign-out (docs/SECURITY.md):
 *
 * - `api_keys.page_ids`: JSON array of the Page ids a `token:read` key may read, or null for every
 *   Page (all keys made before this migration keep working as they did).
 * - `api_keys.expires_at`: epoch ms after which the key is refused (401 `api_key_expired`), or null.
 * - `ended_sessions`: dashboard sessions that were signed out. A session is a signed cookie, so
 *   "signed out" must be remembered where every instance and every restart sees it. A row lives
 *   until the cookie would have expired anyway, then it is pruned.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('api_keys').addColumn('page_ids', 'text').execute();
  await db.schema.alterTable('api_keys').addColumn('expires_at', 'bigint').execute();

  await db.schema
    .createTable('ended_sessions')
    .addColumn('session_id', 'text', (c) => c.primaryKey())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('ended_sessions_expires_at')
    .on('ended_sessions')
    .column('expires_at')
    .execute();
}
