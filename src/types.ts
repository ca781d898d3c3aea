/**
 * Terminology
 * - user token: a Facebook user's access token. Short-lived (~1 h) from Login, long-lived (~60 days)
 *   after the `fb_exchange_token` exchange. Cannot be extended past its 60 days (docs/FACEBOOK.md#re-exchanging-does-not-extend).
 * - system-user token: a Business Manager system user's token; never expires, or lasts 60 days.
 * - page token: the token an app posts to a Page with. Minted from a long-lived user token or a
 *   system-user token it has no expiry (`debug_token.expires_at == 0`); from a short-lived user token
 *   it dies within the hour.
 * - app token: `APP_ID|APP_SECRET`, used only to call `debug_token`.
 * - posting token: the page token we hand to posting apps. Source token: the user or system-user
 *   token it was minted from, kept so the posting token can be re-minted (self-healing).
 * - renewal: exchange the source token, mint a fresh page token, verify it, swap atomically.
 * - lease: an owner + expiry on a page row; only the lease holder works on the page.
 *
 * All times are epoch milliseconds; `null` means "never" (for expiries) or "not yet".
 */

/** The platform of a connection (what `connect --platform` and `POST /api/connections` take). */
export const CONNECTION_PLATFORMS = ['facebook', 'instagram', 'threads'] as const;
export type ConnectionPlatform = (typeof CONNECTION_PLATFORMS)[number];

/**
 * The platform of a posting identity, as on every status row, alert, metric and history event.
 * `facebook_page` is the name the first release already wrote; `/api/accounts/facebook/{id}` is
 * accepted as its alias.
 */
export const ACCOUNT_PLATFORMS = ['facebook_page', 'instagram', 'threads', 'whatsapp'] as const;
export type AccountPlatform = (typeof ACCOUNT_PLATFORMS)[number];

/** The platform of a posting identity (an alias kept for the first release's name). */
export type Platform = AccountPlatform;

export type TokenType = 'USER' | 'PAGE' | 'SYSTEM_USER' | 'APP' | 'UNKNOWN';

export const PAGE_STATES = [
  'healthy',
  'renewal_due',
  'renewing',
  'failing',
  'expiring',
  'needs_reauth',
  'expired',
  'paused',
] as const;
export type PageState = (typeof PAGE_STATES)[number];

/**
 * States only a person can resolve (reconnect before a deadline, or now). `check` and
 * `status --exit-status` exit 3 when a page is in one of them; the dashboard marks them.
 */
export const PERSON_STATES: readonly PageState[] = ['needs_reauth', 'expired', 'expiring'];
export function needsPerson(state: PageState): boolean {
  return PERSON_STATES.includes(state);
}

/** Scopes a posting token must carry. */
export const REQUIRED_SCOPES = ['pages_manage_posts'] as const;
/**
 * What a posting token of this platform must carry. Instagram and Threads tokens are checked by
 * their platform (a token without its basic permission cannot be refreshed): nothing Facebook's.
 */
export function requiredScopesFor(platform: Platform): readonly string[] {
  return platform === 'facebook_page' ? REQUIRED_SCOPES : [];
}

/** Scopes the reconnect flow asks Facebook Login for. */
export const LOGIN_SCOPES = [
  'pages_show_list',
  'pages_read_engagement',
  'pages_manage_posts',
  'business_management',
] as const;

/** What `debug_token` last said about a token (never the token itself). */
export interface TokenInfo {
  type: TokenType;
  isValid: boolean;
  /** null = never expires (debug_token `expires_at: 0`). */
  expiresAt: number | null;
  dataAccessExpiresAt: number | null;
  scopes: string[];
  userId: string | null;
  profileId: string | null;
  appId: string | null;
  /** When debug_token was asked; null when never inspected. */
  checkedAt: number | null;
  /** Short, non-reversible fingerprint (first 12 hex of sha256), for history and change detection. */
  hash: string;
  /** debug_token's inner error, when the token is invalid. */
  error: { code: number; subcode: number | null; message: string } | null;
}

export interface LastError {
  code: string;
  message: string;
  fbCode: number | null;
  fbSubcode: number | null;
  fbtraceId: string | null;
  at: number;
}

export interface ManagedPage {
  pageId: string;
  platform: Platform;
  /** The connection (login) whose source token mints this Page's token; null: a bare Page token. */
  connectionId: string | null;
  pageName: string | null;
  appId: string;
  state: PageState;
  /** Machine-readable reason for the state (e.g. `fresh`, `expires_soon`, `password_changed`). */
  stateReason: string | null;
  /** A sentence for a person. */
  stateMessage: string | null;
  posting: TokenInfo;
  /** The source token's facts: those of the page's connection (read from it, written to it). */
  source: TokenInfo | null;
  autoRenew: boolean;
  /** Per-page override of RENEWAL_THRESHOLD_DAYS. */
  renewalThresholdDays: number | null;
  lastCheckedAt: number | null;
  nextCheckAt: number | null;
  lastRenewedAt: number | null;
  /** Consecutive transient failures (drives the backoff). */
  failureCount: number;
  /** No Graph calls for this page before this time (backoff or throttling). */
  retryAt: number | null;
  /** Set when renewing cannot move the expiry forward: stop re-trying that path until reconnect. */
  extensionBlockedUntil: number | null;
  /**
   * Set when exchanging the source token did not move its expiry forward (Facebook does not extend
   * long-lived user tokens, docs/FACEBOOK.md#re-exchanging-does-not-extend): self-healing stays possible until the source expires.
   */
  sourceExtensionBlockedUntil: number | null;
  lastError: LastError | null;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  createdAt: number;
  updatedAt: number;
}

/**
 * A connection: one source token (a Facebook user or system-user token) for one app, with the
 * Pages it can mint tokens for under it. Checked once per round for all its Pages.
 */
export interface Connection {
  id: string;
  platform: ConnectionPlatform;
  appId: string;
  /** The Facebook user (or system user) the source token belongs to. */
  userId: string;
  userName: string | null;
  source: TokenInfo;
  /** Extending the source token was found not to move its expiry: not re-tried before this time. */
  extensionBlockedUntil: number | null;
  /** Facebook throttled this app for this login: no call before this time (every instance sees it). */
  throttledUntil: number | null;
  failureCount: number;
  retryAt: number | null;
  lastError: LastError | null;
  lastCheckedAt: number | null;
  nextCheckAt: number | null;
  /** A replaced source token is revoked at this time (after the grace period); null: none waiting. */
  retiredRevokeAt: number | null;
  /**
   * Instagram/Threads: when the token was issued or last refreshed (neither platform refreshes a
   * token younger than 24 hours); null for Facebook.
   */
  tokenIssuedAt: number | null;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface PageSecrets {
  appSecret: string;
  postingToken: string;
  sourceToken: string | null;
}

export const EVENT_TYPES = [
  'setup',
  'check',
  'renewed',
  'renewal_failed',
  'healed',
  'state_changed',
  'token_rotated',
  'alert_queued',
  'alert_delivered',
  'alert_failed',
  'reconnected',
  'settings_changed',
  'deleted',
  'source_not_extendable',
  /** A renewal re-minted the posting token, but Facebook gave it the same expiry. */
  'not_extendable',
  /** A posting app reported a failed call (token refresh route, `getPageToken(id, { after })`). */
  'checked_on_demand',
  /** A source token replaced by a rotation was revoked, after the grace period (SOURCE_REVOKE_GRACE_HOURS). */
  'source_revoked',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface HistoryEvent {
  id: number;
  pageId: string;
  at: number;
  type: EventType;
  /** Reason code (stable, snake_case). */
  reason: string | null;
  stateFrom: PageState | null;
  stateTo: PageState | null;
  message: string | null;
  /** Never a token or secret: expiries, codes, short hashes. */
  details: Record<string, unknown>;
}

export type NewEvent = Omit<HistoryEvent, 'id'>;

export type ApiKeyScope = 'admin' | 'token:read';

export interface ApiKey {
  id: string;
  name: string;
  scopes: ApiKeyScope[];
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
  /** The Pages whose token a `token:read` key may read; null = every Page. */
  pageIds: string[] | null;
  /** Epoch ms after which the key is refused; null = never. */
  expiresAt: number | null;
}
