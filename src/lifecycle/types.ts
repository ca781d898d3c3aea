/**
 * The core's public contract: the same object serves the CLI, the HTTP API, the scheduler and
 * library users. Result objects are already in the public JSON shape (snake_case, ISO times,
 * `null` = never) so every front door says the same thing.
 */
import type { EventEmitter } from 'node:events';
import type { ManagedPage, PageState, TokenType } from '../types.js';
import type { Outcome } from './outcome.js';

export interface HistoryItem {
  id: number;
  at: string;
  type: string;
  reason: string | null;
  state_from: PageState | null;
  state_to: PageState | null;
  message: string | null;
  details: Record<string, unknown>;
}

/** A WhatsApp Cloud API connection seen as the account its sender posts as (status, GET /api/accounts). */
export interface WhatsAppAccountStatus {
  platform: 'whatsapp';
  /** The connection's id (`facebook_<app id>_<system user id>`), as in GET /api/connections. */
  id: string;
  /** The system user's name. */
  name: string | null;
  app_id: string;
  state: PageState;
  state_reason: string | null;
  state_message: string | null;
  token_valid: boolean;
  token_type: TokenType;
  expires_at: string | null;
  days_until_expiry: number | null;
  scopes: string[];
  last_checked_at: string | null;
  next_check_at: string | null;
  last_renewed_at: string | null;
  renewal_needed: boolean;
  renewal_reason: string;
  renewal_threshold_days: number;
  last_error: { code: string; message: string; at: string } | null;
  /** When a person must act: the connection's page on the dashboard (a system user has no Login dialog). */
  reconnect_url: string | null;
}

/** `GET /api/token/status` (the seed's fields), plus a few fields users expect. */
export interface PageStatus {
  success: true;
  page_id: string;
  page_name: string | null;
  platform: string;
  app_id: string;
  state: PageState;
  state_reason: string | null;
  state_message: string | null;
  token_valid: boolean;
  token_type: TokenType;
  expires_at: string | null;
  days_until_expiry: number | null;
  data_access_expires_at: string | null;
  source_token_type: TokenType | null;
  source_expires_at: string | null;
  source_valid: boolean | null;
  /** Until when a lost posting token can be re-minted without a person (null = indefinitely or never). */
  self_healing_until: string | null;
  scopes: string[];
  missing_scopes: string[];
  last_checked_at: string | null;
  next_check_at: string | null;
  last_renewed_at: string | null;
  auto_renew: boolean;
  renewal_needed: boolean;
  renewal_reason: string;
  renewal_threshold_days: number;
  graph_api_version: string;
  last_error: {
    code: string;
    message: string;
    fb_code: number | null;
    fb_subcode: number | null;
    fbtrace_id: string | null;
    at: string;
  } | null;
  reconnect_url: string | null;
  history: HistoryItem[];
}

export interface RenewResult {
  success: true;
  page_id: string;
  renewed: boolean;
  /** Reason code: `renewed`, `healed`, `not_needed`, `never_expires`, `not_extendable`, `paused`, `dry_run`, ... */
  reason: string;
  message: string;
  dry_run: boolean;
  state: PageState;
  expires_at: string | null;
  previous_expires_at: string | null;
  token_changed: boolean;
}

export interface CheckPageResult {
  page_id: string;
  action: string;
  reason: string;
  /** What the work came to (lifecycle/outcome.ts): the same word history uses. */
  outcome: Outcome;
  state_before: PageState;
  state_after: PageState;
  message: string | null;
}

export interface NotCheckedPage {
  page_id: string;
  /** `not_due`, `backoff`, `throttled`, `leased`, `in_flight`. */
  reason: string;
  state: PageState;
  /** When the page is next due (null: at the next run). */
  next_check_at: string | null;
}

export interface CheckReport {
  success: true;
  dry_run: boolean;
  /** Pages worked on (0 in a dry run: nothing was stored). */
  checked: number;
  /** Pages not worked on: `not_checked.length`. */
  skipped: number;
  results: CheckPageResult[];
  /** Every managed page this run did not work on, with why and when it is next due. */
  not_checked: NotCheckedPage[];
  /** Pages in a state only a person can resolve (needs_reauth, expired, expiring): `check` exits 1. */
  needs_person: string[];
  /** Pages the round could not work on at all (e.g. their secrets do not open), with why. */
  could_not_check: { page_id: string; code: string; message: string }[];
}

export interface ValidateResult {
  success: true;
  valid: boolean;
  type: TokenType;
  app_id: string | null;
  profile_id: string | null;
  user_id: string | null;
  expires_at: string | null;
  data_access_expires_at: string | null;
  scopes: string[];
  missing_scopes: string[];
  error: { code: number; subcode: number | null; message: string; reason: string } | null;
}

export interface SetupInput {
  pageId: string;
  accessToken: string;
  appId: string;
  appSecret: string;
}

export interface SetupResult {
  status: PageStatus;
  /** Sentences for a person: what kind of token it got and what will happen. */
  notes: string[];
  /** Kind of token the user gave us. */
  input_token_type: TokenType;
  input_token_lifetime: 'short' | 'long' | 'never' | 'unknown';
}

export interface ConnectInput {
  accessToken: string;
  appId: string;
  appSecret: string;
  /** Only `facebook` today. */
  platform?: string;
  /** Without: every Page the token manages with a posting task. */
  pageIds?: string[];
}

/** `GET /api/connections/{id}`: one login, its source token's facts and its Pages. */
export interface ConnectionView {
  id: string;
  platform: string;
  app_id: string;
  user_id: string;
  user_name: string | null;
  /** `healthy`, `expiring` (the source cannot be extended and expires), `needs_reauth` (the login is gone). */
  state: 'healthy' | 'expiring' | 'needs_reauth';
  source_token_type: TokenType;
  source_valid: boolean;
  source_expires_at: string | null;
  data_access_expires_at: string | null;
  scopes: string[];
  last_checked_at: string | null;
  next_check_at: string | null;
  last_error: { code: string; message: string; at: string } | null;
  /** Extending the source token was found not to move its expiry: not tried again before this time (null: not blocked). */
  extension_blocked_until: string | null;
  page_ids: string[];
  /** One link that reconnects the login and re-mints every Page under it (when it needs a person). */
  reconnect_url: string | null;
}

export interface ConnectionDetail extends ConnectionView {
  success: true;
  pages: PageStatus[];
  /** Pages the login can post to that are not managed yet (asked from Facebook now; null if it could not answer). */
  available_to_add: { page_id: string; name: string | null }[] | null;
  /**
   * Pages the login has a role on but cannot be kept from it, with why (null if Facebook could not
   * be asked): `not_selected` (not ticked in the Login dialog), `no_posting_task`, or — for a Page
   * kept under this login — `not_listed` (Facebook no longer lists it for this login).
   */
  not_granted: { page_id: string; name: string | null; reason: NotGrantedReason; managed: boolean }[] | null;
}

export type NotGrantedReason = 'not_selected' | 'no_posting_task' | 'not_listed';

export interface ConnectResult {
  success: true;
  connection: ConnectionView;
  pages: PageStatus[];
  /** Pages asked for (or managed by the login) that could not be set up, with why. */
  not_set_up: { page_id: string; name: string | null; code: string; message: string }[];
}

/**
 * What a completed reconnect did to the whole login: the Page the link was for, every sibling
 * re-minted from the new token, the Pages that could not get one (named with why, never dropped
 * silently) and the Pages the login can post to that are not kept yet.
 */
export interface ReconnectResult {
  page: PageStatus;
  /** The login the Page belongs to now; null for a Page kept on its own. */
  connection_id: string | null;
  /** Other Pages of the login that got a new token from it. */
  reminted: { page_id: string; name: string | null }[];
  /** Pages of the login left without a working token: not ticked in the dialog, no posting task, or the mint failed. */
  not_granted: { page_id: string; name: string | null; code: string; message: string }[];
  /** Pages the login can post to now that are not managed yet (null: Facebook could not be asked). */
  available_to_add: { page_id: string; name: string | null }[] | null;
}

export interface PageSettingsPatch {
  autoRenew?: boolean;
  renewalThresholdDays?: number | null;
  pageName?: string;
}

/** What the core tells observers (metrics, logs, tests). Never carries a token. */
export interface KeeperEventMap {
  graph_call: [
    { endpoint: string; durationMs: number; ok: boolean; fbCode: number | null; kind: string | null },
  ];
  page_processed: [
    {
      pageId: string;
      action: string;
      reason: string;
      outcome: 'ok' | 'failed' | 'skipped';
      stateBefore: PageState;
      stateAfter: PageState;
    },
  ];
  renewal: [
    {
      pageId: string;
      outcome: 'renewed' | 'healed' | 'not_extendable' | 'failed';
      /** Which token: the posting token, or the source token a never-expiring posting token is minted from. */
      token: 'posting' | 'source';
      reason: string;
    },
  ];
  check_round: [{ startedAt: number; finishedAt: number; checked: number; failed: number }];
  alert_delivery: [{ channel: string; outcome: 'delivered' | 'failed' | 'gave_up' }];
  /** A new alert entered the outbox (a repeat of a dedupe key does not). */
  alert_queued: [{ pageId: string; kind: string }];
}

export interface TokenKeeper {
  readonly events: EventEmitter<KeeperEventMap>;
  setup(input: SetupInput): Promise<SetupResult>;
  /** With no pageId: the only managed page, else AppError('page_id_required'). */
  status(pageId?: string, options?: { historyLimit?: number }): Promise<PageStatus>;
  listPages(): Promise<PageStatus[]>;
  /**
   * The decrypted posting token: what a posting app posts with. With `after` (the Graph error a
   * call with it got, e.g. `{ code: 190, error_subcode: 460, fbtrace_id, message }`), the token is
   * checked now and healed when it can be, as `refreshPageToken` does: the answer is a token that
   * works, or an AppError `needs_reauth` naming the reason and the reconnect link.
   */
  getPageToken(
    pageId: string,
    options?: { after?: ReportedGraphError | { error: ReportedGraphError } },
  ): Promise<string>;
  /** `POST /api/pages/{page_id}/token/refresh`: check now (at most once per 10 s), heal, answer the token. */
  refreshPageToken(pageId: string, reported?: unknown): Promise<TokenRefreshResult>;
  /** Check every due page (or one page, or all with `all`), exactly like the scheduler does. */
  check(options?: { pageId?: string; dryRun?: boolean; all?: boolean }): Promise<CheckReport>;
  renew(pageId?: string, options?: { force?: boolean; dryRun?: boolean }): Promise<RenewResult>;
  validate(input: {
    accessToken?: string;
    pageId?: string;
    appId?: string;
    appSecret?: string;
  }): Promise<ValidateResult>;
  updatePage(pageId: string, patch: PageSettingsPatch): Promise<PageStatus>;
  deletePage(pageId: string): Promise<void>;
  history(pageId: string, options?: { limit?: number; beforeId?: number }): Promise<HistoryItem[]>;
  /**
   * Finish a reconnect: exchange the OAuth code from Facebook Login (short-lived user token), make it
   * long-lived, mint and verify the Page token with the page's stored app, store it, state `healthy`,
   * event `reconnected`. Nothing changes when any step fails.
   */
  reconnect(pageId: string, code: string, redirectUri: string): Promise<PageStatus>;
  /** `reconnect`, answering what it did to every Page of the login (the reconnect result page shows it). */
  reconnectLogin(pageId: string, code: string, redirectUri: string): Promise<ReconnectResult>;
  /**
   * The platform's own authorization dialog for reconnecting an Instagram or Threads account;
   * null for a Facebook Page (the connect route builds Facebook's dialog).
   */
  reconnectDialogUrl(page: ManagedPage, redirectUri: string, state: string): string | null;
  /** Set up a login and its Pages together (every Page it can post to, or `pageIds`). */
  connect(input: ConnectInput): Promise<ConnectResult>;
  listConnections(): Promise<ConnectionView[]>;
  getConnection(id: string): Promise<ConnectionDetail>;
  /**
   * The current token of a WhatsApp Cloud API connection (a system-user token kept with no Page),
   * for the sender that uses it; connection_not_found for any other connection.
   */
  getConnectionToken(id: string): Promise<{ accessToken: string; connection: ConnectionView }>;
  /**
   * WhatsApp Cloud API connections as posting identities (platform `whatsapp`, id = the
   * connection's id): state, expiry and what a person must do (lifecycle/whatsapp-account.ts).
   */
  listWhatsAppAccounts(): Promise<WhatsAppAccountStatus[]>;
  /** One of them; `account_not_found` when `id` is no WhatsApp connection kept here. */
  getWhatsAppAccount(id: string): Promise<WhatsAppAccountStatus>;
  /** Stop managing the login and every Page under it; returns their ids. */
  deleteConnection(id: string): Promise<string[]>;
  close(): Promise<void>;
}

/** The Graph error the posting app got, as Facebook sent it (`error.code`, `error.error_subcode`, …). */
export interface ReportedGraphError {
  code?: number | null;
  error_subcode?: number | null;
  fbtrace_id?: string | null;
  message?: string | null;
  type?: string | null;
}

/** What the refresh route answers (public JSON shape). */
export interface TokenRefreshResult {
  success: true;
  page_id: string;
  /** The current valid posting token: the same one, or a new one when the keeper healed it. */
  access_token: string;
  /**
   * `token_valid`: Facebook says the token is fine, so the error the app got was not the token's;
   * `healed`: the token was dead and a new one was minted from the stored source token;
   * `renewed`: the token was due for renewal and was renewed.
   */
  verdict: 'token_valid' | 'healed' | 'renewed';
  /** The token differs from the one stored before the check: replace the cached one. */
  token_changed: boolean;
  /** false: answered from a check less than 10 seconds old, without calling Facebook. */
  checked_now: boolean;
  checked_at: string | null;
  /** When a new call may check Facebook again (earlier calls reuse this answer). */
  recheck_after: string;
  message: string;
  state: PageState;
  token_type: TokenType;
  expires_at: string | null;
}
