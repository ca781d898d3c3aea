/** Connection <-> `connections` row: the source token's TokenInfo is flattened into `token_*` columns. */
import type { Insertable } from 'kysely';
import type { ConnectionPlatform } from '../types.js';
import type { Connection, LastError, TokenInfo, TokenType } from '../types.js';
import type { ConnectionRow, ConnectionsTable } from './schema.js';

/** Fields a caller may write (the key, owner, timestamps and lease change elsewhere). */
export type ConnectionFields = Omit<
  Connection,
  'id' | 'platform' | 'appId' | 'userId' | 'createdAt' | 'updatedAt' | 'leaseOwner' | 'leaseExpiresAt'
>;

type Columns = Partial<Insertable<ConnectionsTable>>;

const WRITERS: { [K in keyof ConnectionFields]: (value: ConnectionFields[K]) => Columns } = {
  userName: (v) => ({ user_name: v }),
  source: (t) => ({
    token_type: t.type,
    token_is_valid: t.isValid ? 1 : 0,
    token_expires_at: t.expiresAt,
    token_data_access_expires_at: t.dataAccessExpiresAt,
    token_scopes: JSON.stringify(t.scopes),
    token_profile_id: t.profileId,
    token_app_id: t.appId,
    token_checked_at: t.checkedAt,
    token_hash: t.hash,
    token_error: t.error === null ? null : JSON.stringify(t.error),
  }),
  extensionBlockedUntil: (v) => ({ extension_blocked_until: v }),
  throttledUntil: (v) => ({ throttled_until: v }),
  failureCount: (v) => ({ failure_count: v }),
  retryAt: (v) => ({ retry_at: v }),
  lastError: (v) => ({ last_error: v === null ? null : JSON.stringify(v) }),
  lastCheckedAt: (v) => ({ last_checked_at: v }),
  nextCheckAt: (v) => ({ next_check_at: v }),
  retiredRevokeAt: (v) => ({ retired_revoke_at: v }),
  tokenIssuedAt: (v) => ({ token_issued_at: v }),
};

const FIELDS = Object.keys(WRITERS) as (keyof ConnectionFields)[];

export function connectionColumns(fields: Partial<ConnectionFields>): Columns {
  const out: Columns = {};
  for (const key of FIELDS) {
    const value = fields[key];
    if (value !== undefined) Object.assign(out, (WRITERS[key] as (v: unknown) => Columns)(value));
  }
  return out;
}

export function connectionTokenInfo(row: ConnectionRow): TokenInfo {
  return {
    type: row.token_type as TokenType,
    isValid: row.token_is_valid === 1,
    expiresAt: row.token_expires_at,
    dataAccessExpiresAt: row.token_data_access_expires_at,
    scopes: JSON.parse(row.token_scopes) as string[],
    userId: row.user_id.startsWith('page-') ? null : row.user_id,
    profileId: row.token_profile_id,
    appId: row.token_app_id,
    checkedAt: row.token_checked_at,
    hash: row.token_hash,
    error: row.token_error === null ? null : (JSON.parse(row.token_error) as TokenInfo['error']),
  };
}

export function rowToConnection(row: ConnectionRow): Connection {
  return {
    id: row.id,
    platform: row.platform as ConnectionPlatform,
    appId: row.app_id,
    userId: row.user_id,
    userName: row.user_name,
    source: connectionTokenInfo(row),
    extensionBlockedUntil: row.extension_blocked_until,
    throttledUntil: row.throttled_until,
    failureCount: row.failure_count,
    retryAt: row.retry_at,
    lastError: row.last_error === null ? null : (JSON.parse(row.last_error) as LastError),
    lastCheckedAt: row.last_checked_at,
    nextCheckAt: row.next_check_at,
    retiredRevokeAt: row.retired_revoke_at,
    tokenIssuedAt: row.token_issued_at ?? null,
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
