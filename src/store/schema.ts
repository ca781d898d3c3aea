/**
 * Row types: the tables as Kysely sees them (snake_case columns, epoch-ms BIGINTs, booleans as
 * 0/1 integers, JSON as text). Domain types live in `../types.ts`; `page-rows.ts` maps between them.
 */
import type { Generated, Selectable } from 'kysely';

export interface PagesTable {
  page_id: string;
  platform: string;
  page_name: string | null;
  app_id: string;
  state: string;
  state_reason: string | null;
  state_message: string | null;

  // TokenInfo of the posting token, flattened.
  posting_type: string;
  posting_is_valid: number;
  posting_expires_at: number | null;
  posting_data_access_expires_at: number | null;
  posting_scopes: string;
  posting_user_id: string | null;
  posting_profile_id: string | null;
  posting_app_id: string | null;
  posting_checked_at: number | null;
  posting_hash: string;
  posting_error: string | null;

  /** The connection (login) this Page is minted from; null for a Page set up from a bare Page token. */
  connection_id: string | null;

  auto_renew: number;
  renewal_threshold_days: number | null;
  last_checked_at: number | null;
  next_check_at: number | null;
  last_renewed_at: number | null;
  failure_count: number;
  retry_at: number | null;
  extension_blocked_until: number | null;
  last_error: string | null;

  // Sealed with the SecretBox (aad `page:<pageId>:posting_token`); never plaintext.
  posting_token_enc: string;

  lease_owner: string | null;
  lease_expires_at: number | null;
  created_at: number;
  updated_at: number;
}

/** One row per app: its secret, sealed once (aad `app:<appId>:app_secret`); migration 0004. */
export interface AppsTable {
  app_id: string;
  app_secret_enc: string;
  created_at: number;
  updated_at: number;
}

/** One row per login (source token of one app); migration 0004. */
export interface ConnectionsTable {
  id: string;
  platform: string;
  app_id: string;
  user_id: string;
  user_name: string | null;
  // TokenInfo of the source token, flattened (user id and app id are the columns above).
  token_type: string;
  token_is_valid: number;
  token_expires_at: number | null;
  token_data_access_expires_at: number | null;
  token_scopes: string;
  token_profile_id: string | null;
  token_app_id: string | null;
  token_checked_at: number | null;
  token_hash: string;
  token_error: string | null;
  /** Sealed (aad `connection:<id>:source_token`). */
  source_token_enc: string;
  extension_blocked_until: number | null;
  throttled_until: number | null;
  failure_count: number;
  retry_at: number | null;
  last_error: string | null;
  last_checked_at: number | null;
  next_check_at: number | null;
  /** A replaced source token, kept until `retired_revoke_at` (aad `connection:<id>:retired_token`). */
  retired_token_enc: string | null;
  retired_revoke_at: number | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
  created_at: number;
  updated_at: number;
  /** Instagram/Threads: when the token was issued or last refreshed (24-hour rule); migration 0005. */
  token_issued_at: number | null;
}

export interface EventsTable {
  id: Generated<number>;
  page_id: string;
  at: number;
  type: string;
  reason: string | null;
  state_from: string | null;
  state_to: string | null;
  message: string | null;
  details: string;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  key_hash: string;
  scopes: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
  /** JSON array of Page ids a `token:read` key may read; null = every Page. */
  page_ids: string | null;
  expires_at: number | null;
}

/** Signed-out dashboard sessions, until their cookie would have expired (migration 0003). */
export interface EndedSessionsTable {
  session_id: string;
  key_id: string;
  expires_at: number;
}

export interface AlertDeliveriesTable {
  id: Generated<number>;
  page_id: string;
  kind: string;
  dedupe_key: string;
  channel: string;
  target: string;
  payload: string;
  status: string;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  created_at: number;
  delivered_at: number | null;
}

/** Remembers every dedupe key ever used, so an alert is not queued twice even after delivery. */
export interface AlertKeysTable {
  dedupe_key: string;
  page_id: string;
  created_at: number;
}

export interface SchemaMigrationsTable {
  name: string;
  applied_at: number;
}

export interface Tables {
  pages: PagesTable;
  apps: AppsTable;
  connections: ConnectionsTable;
  events: EventsTable;
  api_keys: ApiKeysTable;
  alert_deliveries: AlertDeliveriesTable;
  alert_keys: AlertKeysTable;
  ended_sessions: EndedSessionsTable;
  schema_migrations: SchemaMigrationsTable;
}

export type PageRow = Selectable<PagesTable>;
export type ConnectionRow = Selectable<ConnectionsTable>;
export type EventRow = Selectable<EventsTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;
export type AlertDeliveryRow = Selectable<AlertDeliveriesTable>;
