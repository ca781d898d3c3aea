/**
 * API keys (only a hash of each key is stored; hashing and comparing is the HTTP layer's job) and
 * signed-out dashboard sessions, which belong to a key.
 */
import type { Kysely } from 'kysely';
import type { ApiKey, ApiKeyScope } from '../types.js';
import { parseJson } from './page-rows.js';
import type { ApiKeyRow, Tables } from './schema.js';
import type { Store, StoredApiKey } from './types.js';

type ApiKeyMethods = Pick<
  Store,
  | 'createApiKey'
  | 'getApiKey'
  | 'listApiKeys'
  | 'revokeApiKey'
  | 'touchApiKey'
  | 'countActiveApiKeys'
  | 'endSession'
  | 'isSessionEnded'
>;

export function apiKeyMethods(db: Kysely<Tables>): ApiKeyMethods {
  return {
    async createApiKey(key) {
      await db
        .insertInto('api_keys')
        .values({
          id: key.id,
          name: key.name,
          key_hash: key.keyHash,
          scopes: JSON.stringify(key.scopes),
          created_at: key.createdAt,
          last_used_at: null,
          revoked_at: null,
          page_ids: key.pageIds === null ? null : JSON.stringify(key.pageIds),
          expires_at: key.expiresAt,
        })
        .execute();
      return {
        id: key.id,
        name: key.name,
        scopes: [...key.scopes],
        createdAt: key.createdAt,
        lastUsedAt: null,
        revokedAt: null,
        pageIds: key.pageIds === null ? null : [...key.pageIds],
        expiresAt: key.expiresAt,
      };
    },

    async getApiKey(id) {
      const row = await db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? ({ ...rowToApiKey(row), keyHash: row.key_hash } satisfies StoredApiKey) : null;
    },

    async listApiKeys() {
      const rows = await db.selectFrom('api_keys').selectAll().orderBy('created_at').orderBy('id').execute();
      return rows.map(rowToApiKey);
    },

    async revokeApiKey(id, at) {
      const result = await db
        .updateTable('api_keys')
        .set({ revoked_at: at })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },

    async touchApiKey(id, at) {
      await db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute();
    },

    async countActiveApiKeys(now) {
      const row = await db
        .selectFrom('api_keys')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('revoked_at', 'is', null)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .executeTakeFirstOrThrow();
      return row.n;
    },

    async endSession(session, now) {
      // Pruning here keeps the table at the sessions that could still be presented.
      await db.deleteFrom('ended_sessions').where('expires_at', '<=', now).execute();
      if (session.expiresAt <= now) return;
      await db
        .insertInto('ended_sessions')
        .values({ session_id: session.sessionId, key_id: session.keyId, expires_at: session.expiresAt })
        .onConflict((oc) => oc.column('session_id').doNothing())
        .execute();
    },

    async isSessionEnded(sessionId) {
      const row = await db
        .selectFrom('ended_sessions')
        .select('session_id')
        .where('session_id', '=', sessionId)
        .executeTakeFirst();
      return row !== undefined;
    },
  };
}

function rowToApiKey(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    name: row.name,
    scopes: parseJson(row.scopes) as ApiKeyScope[],
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
    pageIds: row.page_ids === null ? null : (parseJson(row.page_ids) as string[]),
    expiresAt: row.expires_at,
  };
}
