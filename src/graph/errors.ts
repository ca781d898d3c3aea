/**
 * Every Graph failure becomes one GraphError with a kind, decided by the JSON body (code, subcode,
 * is_transient), never by HTTP status alone (GRAPH_API.md §3). Messages never carry a token: URLs
 * do, so they are never put into a message.
 */
import { AppError, type ErrorCode } from '../errors.js';
import type { Usage } from './usage.js';

export type GraphErrorKind = 'transient' | 'throttled' | 'needs_reauth' | 'permission' | 'invalid_request';

const CODE_OF: Record<GraphErrorKind, ErrorCode> = {
  transient: 'graph_unavailable',
  throttled: 'graph_rate_limited',
  needs_reauth: 'graph_token_invalid',
  permission: 'graph_permission_denied',
  invalid_request: 'graph_invalid_request',
};

/** Throttling codes (GRAPH_API.md §3.2, §4): app, user, page, custom and business-use-case limits. */
const THROTTLE_CODES = new Set([4, 17, 32, 341, 368, 613]);

export interface GraphErrorFields {
  kind: GraphErrorKind;
  message: string;
  fbCode: number | null;
  fbSubcode: number | null;
  fbtraceId: string | null;
  retryAfterMs?: number;
  code?: ErrorCode;
}

export class GraphError extends AppError {
  readonly kind: GraphErrorKind;
  readonly fbCode: number | null;
  readonly fbSubcode: number | null;
  readonly fbtraceId: string | null;
  /** For throttled errors: how long to make no calls. */
  readonly retryAfterMs: number;

  constructor(f: GraphErrorFields) {
    super(f.code ?? CODE_OF[f.kind], f.message, {
      details: { fb_code: f.fbCode, fb_subcode: f.fbSubcode, fbtrace_id: f.fbtraceId, kind: f.kind },
    });
    this.name = 'GraphError';
    this.kind = f.kind;
    this.fbCode = f.fbCode;
    this.fbSubcode = f.fbSubcode;
    this.fbtraceId = f.fbtraceId;
    this.retryAfterMs = f.retryAfterMs ?? 0;
  }
}

export function kindOf(code: number, subcode: number | null, isTransient: boolean): GraphErrorKind {
  if (isTransient || code === 1 || code === 2) return 'transient';
  if (THROTTLE_CODES.has(code) || (code >= 80000 && code <= 80099)) return 'throttled';
  if (code === 190 || code === 102 || (subcode !== null && subcode >= 458 && subcode <= 492)) return 'needs_reauth';
  if (code === 10 || code === 3 || (code >= 200 && code <= 299)) return 'permission';
  return 'invalid_request';
}

/** Default waits when the usage headers say nothing: app-level limits reset within an hour. */
const DEFAULT_THROTTLE_MS: Record<string, number> = { app: 60 * 60_000, other: 5 * 60_000 };

export interface GraphErrorBody {
  message?: unknown;
  type?: unknown;
  code?: unknown;
  error_subcode?: unknown;
  is_transient?: unknown;
  fbtrace_id?: unknown;
}

/** Pure: a Graph error body (+ status, usage) → GraphError. */
export function classifyGraphError(body: GraphErrorBody | null, status: number, usage: Usage | null): GraphError {
  if (!body || typeof body.code !== 'number') {
    return new GraphError({
      kind: 'transient',
      message: `Facebook answered HTTP ${status} without a Graph error body`,
      fbCode: null,
      fbSubcode: null,
      fbtraceId: null,
      code: status >= 500 || status === 0 ? 'graph_unavailable' : 'graph_bad_response',
    });
  }
  const code = body.code;
  const subcode = typeof body.error_subcode === 'number' ? body.error_subcode : null;
  const kind = kindOf(code, subcode, body.is_transient === true);
  const fbMessage = typeof body.message === 'string' ? scrubSecrets(body.message).slice(0, 300) : 'no message';
  const f: GraphErrorFields = {
    kind,
    message: `Facebook error ${code}${subcode === null ? '' : `/${subcode}`}: ${fbMessage}`,
    fbCode: code,
    fbSubcode: subcode,
    fbtraceId: typeof body.fbtrace_id === 'string' ? body.fbtrace_id : null,
  };
  if (kind === 'throttled') {
    f.retryAfterMs = usage?.retryAfterMs ?? (code === 4 ? DEFAULT_THROTTLE_MS.app! : DEFAULT_THROTTLE_MS.other!);
  }
  return new GraphError(f);
}

/** Anything that looks like a Facebook token (EAA…) or a long opaque string is masked. */
export function scrubSecrets(text: string): string {
  return text.replace(/EAA[A-Za-z0-9]{10,}/g, '[REDACTED]').replace(/[A-Za-z0-9_-]{40,}/g, '[REDACTED]');
}

const SECRET_PARAMS = ['access_token', 'input_token', 'fb_exchange_token', 'client_secret', 'appsecret_proof', 'code'];

/** A URL safe to log: secret query values replaced. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    for (const p of SECRET_PARAMS) if (u.searchParams.has(p)) u.searchParams.set(p, '[REDACTED]');
    return u.toString();
  } catch {
    return '[unparseable url]';
  }
}
