import type { SecretBox } from '../crypto/secret-box.js';
import type { ConnectionPlatform } from '../types.js';
import type {
  ApiKey,
  ApiKeyScope,
  Connection,
  HistoryEvent,
  ManagedPage,
  NewEvent,
  PageSecrets,
  TokenInfo,
} from '../types.js';
import type { ConnectionFields } from './connection-rows.js';

/**
 * A page as stored for the first time (or replaced by a new setup). `connectionId` is set by the
 * store: a page saved with a source token joins (or creates) the connection of its user and app.
 */
export type NewPage = Omit<
  ManagedPage,
  'createdAt' | 'updatedAt' | 'leaseOwner' | 'leaseExpiresAt' | 'connectionId'
> & { connectionId?: string | null };

/** A login as stored by `connect` (or replaced by a new token for the same user and app). */
export interface NewConnection {
  platform: ConnectionPlatform;
  appId: string;
  userId: string;
  userName: string | null;
  source: TokenInfo;
  nextCheckAt: number | null;
}

/** Where a due listing ended: its last Page's `nextCheckAt` and id. */
export interface DueCursor {
  nextCheckAt: number | null;
  pageId: string;
}

export type ConnectionPatch = Partial<ConnectionFields>;

export interface ConnectionSecrets {
  appSecret: string;
  sourceToken: string;
  /** A replaced source token waiting to be revoked (see `retiredRevokeAt`). */
  retiredToken: string | null;
}

/** Fields an update may change. Lease fields change only through claim/release. */
export type PagePatch = Partial<
  Omit<ManagedPage, 'pageId' | 'createdAt' | 'updatedAt' | 'leaseOwner' | 'leaseExpiresAt'>
>;

export interface UpdateOptions {
  /** New secrets to seal and store in the same transaction (only the given ones change). */
  secrets?: Partial<PageSecrets>;
  /** When set, the update only applies while this owner still holds the lease; else `LeaseLostError`. */
  leaseOwner?: string;
  /** History rows written in the same transaction. */
  events?: NewEvent[];
  /**
   * With `leaseOwner`: release the lease in the same UPDATE (the work's last write), so that a
   * check is one commit fewer than write-then-release.
   */
  release?: boolean;
}

export type AlertChannel = 'webhook' | 'slack' | 'email';
export type AlertStatus = 'pending' | 'delivered' | 'failed';

export interface NewAlert {
  pageId: string;
  /** e.g. `expiring`, `needs_reauth`, `recovered`, `token_rotated`. */
  kind: string;
  /** One alert per page per event and threshold: a second enqueue with the same key is ignored. */
  dedupeKey: string;
  /** JSON body handed to the channels; never a token. */
  payload: Record<string, unknown>;
  createdAt: number;
}

/** One row per alert and channel, so each channel is retried on its own. */
export interface AlertDelivery {
  id: number;
  pageId: string;
  kind: string;
  dedupeKey: string;
  channel: AlertChannel;
  target: string;
  payload: Record<string, unknown>;
  status: AlertStatus;
  attempts: number;
  nextAttemptAt: number;
  lastError: string | null;
  createdAt: number;
  deliveredAt: number | null;
}

export interface StoredApiKey extends ApiKey {
  keyHash: string;
}

export interface MigrationStatus {
  applied: string[];
  known: string[];
  pending: string[];
  /** Applied in the database but unknown to this code (a newer version ran here). */
  unknown: string[];
}

export interface SealedKeyUsage {
  keyId: string;
  field: 'app_secret' | 'posting_token' | 'source_token';
  count: number;
  samplePageId: string;
}

export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * How many writes were made through this object (store/write-count.ts; `openStore` provides it):
   * a cache of reads is current while this number has not moved. Absent: do not cache.
   */
  writes?(): number;

  // --- schema ---------------------------------------------------------------------------------
  migrate(): Promise<{ applied: string[] }>;
  migrationStatus(): Promise<MigrationStatus>;
  /**
   * Cheap round trip; throws AppError('database_unavailable') when the database cannot be reached,
   * or when the last write failed for a reason of the storage (disk full, I/O error) and no write
   * has succeeded since.
   */
  ping(): Promise<void>;

  // --- pages ----------------------------------------------------------------------------------
  listPages(): Promise<ManagedPage[]>;
  /** The first `limit` page ids, oldest first: enough to tell "the one page" from "which one?". */
  listPageIds(limit: number): Promise<string[]>;
  countPages(): Promise<number>;
  getPage(pageId: string): Promise<ManagedPage | null>;
  getSecrets(pageId: string): Promise<PageSecrets | null>;
  /**
   * The page and its secrets from one read of its row (a check under its lease needs both):
   * three statements, two of them side by side, instead of getPage's two and getSecrets' three.
   */
  getPageWithSecrets(pageId: string): Promise<{ page: ManagedPage; secrets: PageSecrets } | null>;
  /**
   * Only the posting token, opened; null for an unknown page. What a posting app asks for on every
   * post: one row read and one secret opened, where `getSecrets` reads three rows and opens three.
   */
  getPostingToken(pageId: string): Promise<string | null>;
  /** Insert, or replace everything of an existing page (setup again), with its events, atomically. */
  savePage(page: NewPage, secrets: PageSecrets, events?: NewEvent[]): Promise<ManagedPage>;
  updatePage(pageId: string, patch: PagePatch, options?: UpdateOptions): Promise<ManagedPage>;
  deletePage(pageId: string): Promise<boolean>;
  /**
   * Pages whose `nextCheckAt` is null or <= now and that nobody holds a live lease on: the
   * never-checked ones by id, then the due ones oldest first. `after` (the last Page of a previous
   * listing) lists on from there: a round whose Pages stay due (held back by the call budget) still
   * reaches the ones behind them. Must be an indexed query: its cost follows the due pages, not the table.
   */
  listDuePages(now: number, limit: number, after?: DueCursor): Promise<ManagedPage[]>;

  // --- apps and connections (connection-store.ts) --------------------------------------------
  listConnections(): Promise<Connection[]>;
  getConnection(id: string): Promise<Connection | null>;
  getConnectionSecrets(id: string): Promise<ConnectionSecrets | null>;
  /** The row and its secrets (the app's too) in one read. */
  getConnectionWithSecrets(
    id: string,
  ): Promise<{ connection: Connection; secrets: ConnectionSecrets } | null>;
  /** Insert, or replace the source token of the login of the same platform, app and user. */
  saveConnection(
    connection: NewConnection,
    secrets: { appSecret: string; sourceToken: string },
  ): Promise<Connection>;
  /**
   * Change a connection; with `leaseOwner`, only while that owner holds its lease (else
   * LeaseLostError). `sourceToken` replaces the token; `retiredToken` keeps the one it replaces
   * for revocation later (null forgets it). `events` are written in the same transaction.
   * `release` (with `leaseOwner`) gives the lease back in the same UPDATE: the work's last write.
   */
  updateConnection(
    id: string,
    patch: ConnectionPatch,
    options?: {
      sourceToken?: string;
      retiredToken?: string | null;
      leaseOwner?: string;
      events?: NewEvent[];
      release?: boolean;
    },
  ): Promise<Connection>;
  /** Deletes the connection and every Page under it; returns their ids (null: no such connection). */
  deleteConnection(id: string): Promise<string[] | null>;
  listConnectionPages(id: string): Promise<ManagedPage[]>;
  /** Connections due for a look (next_check_at null or <= now), free of a live lease. */
  listDueConnections(now: number, limit: number): Promise<Connection[]>;
  claimConnection(id: string, owner: string, now: number, ttlMs: number): Promise<boolean>;
  releaseConnection(id: string, owner: string): Promise<void>;

  // --- leases ---------------------------------------------------------------------------------
  /** Conditional UPDATE: true when `owner` now holds the lease (free, expired or already ours). */
  claimPage(pageId: string, owner: string, now: number, ttlMs: number): Promise<boolean>;
  /** claimPage and getPageWithSecrets in one: the leased row and its secrets; null: not claimed (or no such page). */
  claimPageWithSecrets(
    pageId: string,
    owner: string,
    now: number,
    ttlMs: number,
  ): Promise<{ page: ManagedPage; secrets: PageSecrets } | null>;
  releasePage(pageId: string, owner: string): Promise<void>;
  releaseAll(owner: string): Promise<number>;

  // --- history --------------------------------------------------------------------------------
  addEvents(events: NewEvent[]): Promise<void>;
  /** Newest first. */
  listEvents(pageId: string, options?: { limit?: number; beforeId?: number }): Promise<HistoryEvent[]>;

  // --- API keys -------------------------------------------------------------------------------
  createApiKey(key: {
    id: string;
    name: string;
    keyHash: string;
    scopes: ApiKeyScope[];
    createdAt: number;
    pageIds: string[] | null;
    expiresAt: number | null;
  }): Promise<ApiKey>;
  getApiKey(id: string): Promise<StoredApiKey | null>;
  listApiKeys(): Promise<ApiKey[]>;
  revokeApiKey(id: string, at: number): Promise<boolean>;
  touchApiKey(id: string, at: number): Promise<void>;
  /** Keys neither revoked nor expired at `now`. */
  countActiveApiKeys(now: number): Promise<number>;
  /**
   * Sign-out: refuse this dashboard session from now on, on every instance and after a restart,
   * until `expiresAt` (when its cookie stops working anyway). Also forgets sessions past expiry.
   */
  endSession(session: { sessionId: string; keyId: string; expiresAt: number }, now: number): Promise<void>;
  isSessionEnded(sessionId: string): Promise<boolean>;

  // --- alert outbox ---------------------------------------------------------------------------
  /** Inserts one delivery row per target; false when the dedupe key was already used. */
  enqueueAlert(alert: NewAlert, targets: { channel: AlertChannel; target: string }[]): Promise<boolean>;
  dueAlertDeliveries(now: number, limit: number): Promise<AlertDelivery[]>;
  /** Take a due delivery for sending (conditional on the `nextAttemptAt` seen); false if another instance took it. */
  claimDelivery(id: number, seenNextAttemptAt: number, until: number): Promise<boolean>;
  markDelivered(id: number, at: number): Promise<void>;
  markDeliveryFailed(id: number, error: string, nextAttemptAt: number, giveUp: boolean): Promise<void>;
  alertCounts(): Promise<Record<AlertStatus, number>>;

  // --- keys -----------------------------------------------------------------------------------
  /** The box that seals and opens this store's secrets (its key ids, its source, its faults). */
  readonly secretBox: SecretBox;
  /** Re-seal every secret with the store's current box's key (see crypto/secret-box) in one transaction. */
  resealAll(): Promise<{ resealed: number }>;
  /**
   * Which keys the stored secrets are sealed with: per key id and field, how many, and one page
   * holding such a secret (to try opening). Reads the key id out of each envelope in SQL; decrypts nothing.
   */
  sealedKeyUsage(): Promise<SealedKeyUsage[]>;
  /** Up to `limit` pages holding a secret sealed with `keyId`, with the fields that are. */
  pagesSealedWith(keyId: string, limit: number): Promise<{ pageId: string; fields: string[] }[]>;

  close(): Promise<void>;
}

export class LeaseLostError extends Error {
  constructor(pageId: string, what: 'page' | 'connection' = 'page') {
    super(`lease on ${what} ${pageId} is no longer held`);
    this.name = 'LeaseLostError';
  }
}
