/**
 * ManagedPage <-> `pages` row (+ its connection's row). The posting token's TokenInfo is flattened
 * into `posting_*` columns, lists and objects are JSON text, booleans are 0/1. A page's `source`
 * and `sourceExtensionBlockedUntil` are its connection's (connection-rows.ts). Secrets are not
 * handled here (page-store seals them).
 */
import type { Insertable } from 'kysely';
import type { LastError, ManagedPage, PageState, Platform, TokenInfo, TokenType } from '../types.js';
import { connectionTokenInfo } from './connection-rows.js';
import type { ConnectionRow, PageRow, PagesTable } from './schema.js';

/** Page fields that live on the page's connection, not on the page row. */
export const CONNECTION_FIELDS = ['source', 'sourceExtensionBlockedUntil'] as const;

/** The page fields a caller may write to the page row (everything but the key, timestamps, lease). */
type PageFields = Omit<
  ManagedPage,
  'pageId' | 'createdAt' | 'updatedAt' | 'leaseOwner' | 'leaseExpiresAt' | (typeof CONNECTION_FIELDS)[number]
>;

type Columns = Partial<Insertable<PagesTable>>;

/** One writer per field; the mapped type makes the compiler insist that every field has one. */
const WRITERS: { [K in keyof PageFields]: (value: PageFields[K]) => Columns } = {
  platform: (v) => ({ platform: v }),
  pageName: (v) => ({ page_name: v }),
  appId: (v) => ({ app_id: v }),
  state: (v) => ({ state: v }),
  stateReason: (v) => ({ state_reason: v }),
  stateMessage: (v) => ({ state_message: v }),
  posting: (t) => ({
    posting_type: t.type,
    posting_is_valid: t.isValid ? 1 : 0,
    posting_expires_at: t.expiresAt,
    posting_data_access_expires_at: t.dataAccessExpiresAt,
    posting_scopes: JSON.stringify(t.scopes),
    posting_user_id: t.userId,
    posting_profile_id: t.profileId,
    posting_app_id: t.appId,
    posting_checked_at: t.checkedAt,
    posting_hash: t.hash,
    posting_error: t.error === null ? null : JSON.stringify(t.error),
  }),
  connectionId: (v) => ({ connection_id: v }),
  autoRenew: (v) => ({ auto_renew: v ? 1 : 0 }),
  renewalThresholdDays: (v) => ({ renewal_threshold_days: v }),
  lastCheckedAt: (v) => ({ last_checked_at: v }),
  nextCheckAt: (v) => ({ next_check_at: v }),
  lastRenewedAt: (v) => ({ last_renewed_at: v }),
  failureCount: (v) => ({ failure_count: v }),
  retryAt: (v) => ({ retry_at: v }),
  extensionBlockedUntil: (v) => ({ extension_blocked_until: v }),
  lastError: (v) => ({ last_error: v === null ? null : JSON.stringify(v) }),
};

const FIELDS = Object.keys(WRITERS) as (keyof PageFields)[];

/** Columns for the fields present in `fields` (absent or undefined fields are left alone). */
export function pageColumns(fields: Partial<Omit<ManagedPage, 'pageId'>>): Columns {
  const out: Columns = {};
  for (const key of FIELDS) Object.assign(out, columnsFor(key, fields[key]));
  return out;
}

function columnsFor<K extends keyof PageFields>(key: K, value: PageFields[K] | undefined): Columns {
  return value === undefined ? {} : WRITERS[key](value);
}

export function rowToPage(row: PageRow, connection: ConnectionRow | null | undefined): ManagedPage {
  return {
    pageId: row.page_id,
    platform: row.platform as Platform,
    connectionId: row.connection_id,
    pageName: row.page_name,
    appId: row.app_id,
    state: row.state as PageState,
    stateReason: row.state_reason,
    stateMessage: row.state_message,
    posting: {
      type: row.posting_type as TokenType,
      isValid: row.posting_is_valid === 1,
      expiresAt: row.posting_expires_at,
      dataAccessExpiresAt: row.posting_data_access_expires_at,
      scopes: parseJson(row.posting_scopes) as string[],
      userId: row.posting_user_id,
      profileId: row.posting_profile_id,
      appId: row.posting_app_id,
      checkedAt: row.posting_checked_at,
      hash: row.posting_hash,
      error: row.posting_error === null ? null : (parseJson(row.posting_error) as TokenInfo['error']),
    },
    source: connection ? connectionTokenInfo(connection) : null,
    autoRenew: row.auto_renew === 1,
    renewalThresholdDays: row.renewal_threshold_days,
    lastCheckedAt: row.last_checked_at,
    nextCheckAt: row.next_check_at,
    lastRenewedAt: row.last_renewed_at,
    failureCount: row.failure_count,
    retryAt: row.retry_at,
    extensionBlockedUntil: row.extension_blocked_until,
    sourceExtensionBlockedUntil: connection?.extension_blocked_until ?? null,
    lastError: row.last_error === null ? null : (parseJson(row.last_error) as LastError),
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** JSON we wrote ourselves (callers cast to the shape they stored). */
export function parseJson(text: string): unknown {
  return JSON.parse(text);
}
