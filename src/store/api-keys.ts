/** API keys: only a hash of each key is stored (hashing and comparing is the HTTP layer's job). */
import type { Kysely } from 'kysely';
import type { ApiKey, ApiKeyScope } from '../types.js';
import { parseJson } from './page-rows.js';
import type { ApiKeyRow, Tables } from './schema.js';
import type { Store, StoredApiKey } from './types.js';

type ApiKeyMethods = Pick<
  Store,
  'createApiKey' | 'getApiKey' | 'listApiKeys' | 'revokeApiKey' | 'touchApiKey' | 'countActiveApiKeys'
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
        })
        .execute();
      return {
        id: key.id,
        name: key.name,
        scopes: [...key.scopes],
        createdAt: key.createdAt,
        lastUsedAt: null,
        revokedAt: null,
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

    async countActiveApiKeys() {
      const row = await db
        .selectFrom('api_keys')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('revoked_at', 'is', null)
        .executeTakeFirstOrThrow();
      return row.n;
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
  };
}
