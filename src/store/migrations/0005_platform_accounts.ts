/**
 * Instagram-Login and Threads accounts (README "Instagram and Threads"): a connection of platform
 * `instagram` or `threads` is one account's refreshable token, kept with one `pages` row of the same
 * platform (the account as a posting identity: status, history, alerts and the token routes).
 *
 * - `connections.platform` exists since 0004 and every row 0004 wrote is `facebook`; nothing to move.
 *   `user_id` / `user_name` are the Instagram account id and username, or the Threads profile's.
 * - `connections.token_issued_at`: when the token was issued or last refreshed. Both platforms refuse
 *   to refresh a token younger than 24 hours, so the first refresh is scheduled from it. Null for
 *   Facebook connections (their tokens are not refreshed that way).
 *
 * The expiry stays in `token_expires_at`: for Instagram (no debug_token) it is the `expires_in` of
 * the last exchange or refresh, kept across looks that cannot tell it.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('connections').addColumn('token_issued_at', 'bigint').execute();
}
