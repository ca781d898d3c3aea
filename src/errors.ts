/**
 * One error class with a stable, snake_case code. Codes are public API (HTTP bodies, CLI --json,
 * history rows): add new ones, never rename. Messages must never contain a token or a secret.
 */
export type ErrorCode =
  | 'validation_failed'
  | 'unauthorized'
  | 'api_key_expired'
  | 'forbidden'
  | 'not_found'
  | 'page_not_found'
  | 'connection_not_found'
  | 'account_not_found'
  | 'page_id_required'
  | 'page_exists'
  | 'token_invalid'
  | 'token_wrong_app'
  | 'app_credentials_invalid'
  | 'threads_app_id_required'
  | 'refresh_too_early'
  | 'refresh_refused'
  | 'whatsapp_temporary_token'
  | 'whatsapp_system_user_required'
  | 'token_wrong_page'
  | 'missing_permission'
  | 'renewal_in_progress'
  | 'needs_reauth'
  | 'graph_token_invalid'
  | 'graph_rate_limited'
  | 'graph_unavailable'
  | 'graph_permission_denied'
  | 'graph_invalid_request'
  | 'graph_bad_response'
  | 'config_invalid'
  | 'encryption_key_invalid'
  | 'decryption_failed'
  | 'encryption_key_unknown'
  | 'encryption_key_missing'
  | 'encryption_key_in_use'
  | 'encryption_key_not_in_ring'
  | 'database_not_found'
  | 'database_unavailable'
  | 'schema_too_new'
  | 'payload_too_large'
  | 'rate_limited'
  | 'host_not_allowed'
  | 'unsupported_media_type'
  | 'method_not_allowed'
  | 'reconnect_link_invalid'
  | 'no_alert_channel'
  | 'internal_error';

const STATUS: Record<ErrorCode, number> = {
  validation_failed: 400,
  unauthorized: 401,
  api_key_expired: 401,
  forbidden: 403,
  not_found: 404,
  page_not_found: 404,
  connection_not_found: 404,
  account_not_found: 404,
  page_id_required: 400,
  page_exists: 409,
  token_invalid: 422,
  token_wrong_app: 422,
  app_credentials_invalid: 422,
  threads_app_id_required: 422,
  // Not yet: Instagram and Threads refuse a refresh before the token is 24 hours old.
  refresh_too_early: 409,
  refresh_refused: 422,
  whatsapp_temporary_token: 422,
  whatsapp_system_user_required: 422,
  token_wrong_page: 422,
  missing_permission: 422,
  renewal_in_progress: 409,
  // The Page's login is gone: only a person can act (reconnect), so retrying cannot help.
  needs_reauth: 409,
  graph_token_invalid: 422,
  graph_rate_limited: 429,
  graph_unavailable: 502,
  graph_permission_denied: 422,
  graph_invalid_request: 422,
  graph_bad_response: 502,
  config_invalid: 500,
  encryption_key_invalid: 500,
  decryption_failed: 500,
  // The service cannot open what it stores until an operator loads the key: unavailable, not broken.
  encryption_key_unknown: 503,
  encryption_key_missing: 500,
  encryption_key_in_use: 409,
  encryption_key_not_in_ring: 400,
  database_not_found: 500,
  database_unavailable: 503,
  schema_too_new: 500,
  payload_too_large: 413,
  rate_limited: 429,
  // 421 Misdirected Request: this server does not answer for that authority (RFC 9110 §15.5.20).
  host_not_allowed: 421,
  unsupported_media_type: 415,
  method_not_allowed: 405,
  reconnect_link_invalid: 400,
  no_alert_channel: 409,
  internal_error: 500,
};

export interface AppErrorOptions {
  details?: Record<string, unknown> | undefined;
  cause?: unknown;
  status?: number | undefined;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = options.status ?? STATUS[code];
    this.details = options.details;
  }
}

export function httpStatusOf(code: ErrorCode): number {
  return STATUS[code];
}

/** Normalise anything thrown into an Error (every `catch (e: unknown)` goes through here). */
export function toError(e: unknown): Error {
  if (e instanceof Error) return e;
  return new Error(typeof e === 'string' ? e : 'non-error thrown');
}

export function isAppError(e: unknown, code?: ErrorCode): e is AppError {
  return e instanceof AppError && (code === undefined || e.code === code);
}
