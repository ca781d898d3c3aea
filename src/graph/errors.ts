/**
 * Every Graph failure becomes one `GraphError` with a kind, decided by the JSON body (`error.code`,
 * `error_subcode`, `is_transient`), never by HTTP status alone (docs/FACEBOOK.md#errors, #what-goes-wrong-in-the-field items 8–9:
 * Facebook sends transient code 2 under HTTP 401, and throttling under `OAuthException`).
 *
 * | kind            | ErrorCode                 | Graph codes                                             |
 * |-----------------|---------------------------|---------------------------------------------------------|
 * | throttled       | graph_rate_limited        | 4, 17, 32, 341, 613, 80000–80099, 368 (long pause)      |
 * | transient       | graph_unavailable         | 1, 2, is_transient:true, 5xx without body, network, timeout |
 * | transient       | graph_bad_response        | HTML page, invalid JSON, unexpected shape               |
 * | needs_reauth    | graph_token_invalid       | 190, 102, auth subcodes 458–467, 492 and 493            |
 * | permission      | missing_permission        | 190 "… must be granted before impersonating a user's page" |
 * | permission      | graph_permission_denied   | 10, 3, 200–299                                          |
 * | invalid_request | graph_invalid_request     | 100 and everything else; code 1 "Error validating client secret" |
 *
 * 100/33 on a Page whose Page token is valid is transient for that Page: `kindForPage`.
 *
 * Throttle codes are checked first: "(#4) Application request limit reached" arrives with
 * `is_transient: true` (docs/FACEBOOK.md#the-error-envelope) and must still be a cool-down, not a quick retry.
 *
 * Messages never carry a token or secret: URLs are never put into one, Facebook's message is
 * scrubbed (it can echo the token), and the call's known secrets are removed exactly.
 */
import { z } from 'zod';
import { DAY } from '../clock.js';
import { AppError, type ErrorCode } from '../errors.js';
import { scrubSecrets } from './redact.js';
import {
  APP_THROTTLE_DEFAULT_MS,
  type HeaderSource,
  PAGE_THROTTLE_DEFAULT_MS,
  parseUsageHeaders,
} from './usage.js';

export type GraphErrorKind = 'transient' | 'throttled' | 'needs_reauth' | 'permission' | 'invalid_request';

const CODE_OF: Record<GraphErrorKind, ErrorCode> = {
  transient: 'graph_unavailable',
  throttled: 'graph_rate_limited',
  needs_reauth: 'graph_token_invalid',
  permission: 'graph_permission_denied',
  invalid_request: 'graph_invalid_request',
};

/** docs/FACEBOOK.md#codes-and-what-the-keeper-does, #throttling: Platform (4, 17, 32, 341, 613) and BUC (80000–80099) limits. */
export function isThrottleCode(code: number): boolean {
  return [4, 17, 32, 341, 613, 368].includes(code) || (code >= 80000 && code <= 80099);
}

/**
 * Facebook answers a wrong app secret on `/oauth/access_token` with code 1, the "unknown, retry"
 * code: `{"message":"Error validating client secret.","type":"OAuthException","code":1}`
 * (facebookarchive/php-graph-sdk#538). Retrying cannot fix a wrong secret, so that one message
 * is a permanent invalid_request, not a transient failure.
 */
const CONFIG_ERROR_MESSAGE = /error validating (client secret|application)/i;

/**
 * Facebook's answers to a wrong app id or app secret, in its own words, and the sentence a person
 * needs instead: which credential to check. All are permanent (`invalid_request`), never a token
 * problem: a person must fix the configuration, reconnecting would not help.
 * - "Invalid appsecret_proof provided in the API argument" (#100, GraphMethodException): the proof
 *   is an HMAC with the app secret (https://developers.facebook.com/docs/facebook-login/security/#appsecret);
 * - "Invalid OAuth access token signature." (#190): the app token `app_id|app_secret` is wrong;
 * - "(#100) You must provide an app access token, or a user access token that is an owner or
 *   developer of the app" (debug_token, https://developers.facebook.com/docs/graph-api/reference/debug_token);
 * - "Error validating client secret." (#1) and "Error validating application. Invalid application
 *   ID." (#101) on /oauth/access_token.
 */
const APP_CREDENTIAL_ERRORS: { test: RegExp; sentence: string }[] = [
  {
    test: /invalid appsecret_proof/i,
    sentence:
      'Facebook refused the appsecret_proof, which is made with the app secret: check that the app secret is the one the App Dashboard shows for this app id (Settings → Basic).',
  },
  {
    test: /access token signature/i,
    sentence:
      'Facebook refused the app token (app id|app secret): check the app id and the app secret in the App Dashboard (Settings → Basic).',
  },
  {
    test: /must provide an app access token/i,
    sentence:
      'Facebook refused the app token used to inspect tokens: check that the app id and app secret are those of the app the token was made for.',
  },
  {
    test: /error validating client secret/i,
    sentence:
      'Facebook refused the app secret: check that the app secret is the one the App Dashboard shows for this app id (Settings → Basic).',
  },
  {
    test: /invalid application id/i,
    sentence:
      'Facebook does not know this app id: check the app id in the App Dashboard (it is the number at the top of the app’s page).',
  },
];

/** The sentence for a wrong app id or secret, or null when the error is something else. */
export function appCredentialProblem(message: string): string | null {
  return APP_CREDENTIAL_ERRORS.find((e) => e.test.test(message))?.sentence ?? null;
}

/**
 * A 190 that is about one Page's permissions, not about the login: "(#190) Any of the
 * pages_read_engagement, … permission(s) must be granted before impersonating a user's page."
 * The same login keeps working for its other Pages (docs/FACEBOOK.md#misread-errors), so this is a
 * missing permission on that Page, never "the token is dead".
 */
const PAGE_PERMISSION_MESSAGE = /must be granted before impersonating a user'?s page/i;

/** True for Facebook's "permission(s) must be granted before impersonating a user's page". */
export function isPagePermissionProblem(code: number, message: string): boolean {
  return code === 190 && PAGE_PERMISSION_MESSAGE.test(message);
}

/**
 * 100 with subcode 33 ("Unsupported get request. Object with ID … does not exist, cannot be loaded
 * due to missing permissions…") is what a person without a role on the Page gets, a permanent
 * `invalid_request`. But during Meta incidents Pages whose Page token `debug_token` called valid got
 * it too (docs/FACEBOOK.md#misread-errors). So for a Page whose posting token was valid at its last
 * inspection it is transient: retried with backoff (the Page shows `failing` with Facebook's
 * words), never "reconnect". A Page token that really died is seen by `debug_token`, which every
 * check asks first.
 */
export function kindForPage(err: GraphError, pageTokenValid: boolean): GraphErrorKind {
  return err.fbCode === 100 && err.fbSubcode === 33 && pageTokenValid ? 'transient' : err.kind;
}

/** Pure: the kind for a Graph error code / subcode / is_transient (and, for codes 1 and 190, the message). */
export function kindOf(
  code: number,
  subcode: number | null,
  isTransient: boolean,
  message = '',
): GraphErrorKind {
  if (isThrottleCode(code)) return 'throttled';
  if (code === 1 && CONFIG_ERROR_MESSAGE.test(message)) return 'invalid_request';
  if (isTransient || code === 1 || code === 2) return 'transient';
  if (isPagePermissionProblem(code, message)) return 'permission';
  if (code === 190 || code === 102 || (subcode !== null && REAUTH_SUBCODES.includes(subcode))) {
    return 'needs_reauth';
  }
  if (code === 10 || code === 3 || (code >= 200 && code <= 299)) return 'permission';
  return 'invalid_request';
}

/**
 * Default waits when the usage headers do not say (docs/FACEBOOK.md#throttling): app-level limits (4, 341) are
 * a rolling hour; 368 is a policy block ("wait", docs/FACEBOOK.md#codes-and-what-the-keeper-does: a long, alerting pause); the rest 5 minutes.
 */
export function defaultThrottleMs(code: number): number {
  if (code === 368) return DAY;
  if (code === 4 || code === 341) return APP_THROTTLE_DEFAULT_MS;
  return PAGE_THROTTLE_DEFAULT_MS;
}

/**
 * The one table of authentication subcodes (docs/FACEBOOK.md#codes-and-what-the-keeper-does "What
 * to do", #tokens-die-early): the reason code stored with a Page's state and the sentence a person
 * reads, in the Page's state, alerts, API errors and `GraphError.humanMessage` alike.
 */
const REAUTH_REASONS: Record<number, { reason: string; message: string }> = {
  458: {
    reason: 'app_removed',
    message: 'The Facebook user removed this app: reconnect to authorise it again.',
  },
  // https://developers.facebook.com/docs/graph-api/guides/error-handling: 459 "The user is checkpointed.
  // The user must log in to www.facebook.com to restore access".
  459: {
    reason: 'checkpoint',
    message:
      'Facebook locked the account behind a security checkpoint: log in to facebook.com and complete the security check (https://www.facebook.com), then reconnect the Page.',
  },
  460: {
    reason: 'password_changed',
    message: 'The admin changed their Facebook password: reconnect the Page.',
  },
  463: { reason: 'expired', message: 'The token has expired: reconnect the Page.' },
  464: {
    reason: 'unconfirmed_user',
    message: 'The Facebook account is not confirmed: confirm it at facebook.com, then reconnect.',
  },
  467: {
    reason: 'logged_out',
    message: 'The Facebook user logged out or the session was invalidated: reconnect the Page.',
  },
  492: {
    reason: 'no_page_role',
    message:
      'The Facebook user no longer has a role on the Page: reconnect as someone with a role on it (or give them a role again first).',
  },
  // docs/FACEBOOK.md#data-access-expires-after-90-days: data access ends 90 days after the person
  // last used the app; logging in through the app (the reconnect link) starts another 90 days.
  493: {
    reason: 'data_access_expired',
    message:
      'Facebook ended this app’s data access because the admin has not used the app for 90 days: reconnect the Page (logging in through the app renews it for another 90 days).',
  },
};

const TOKEN_INVALID = {
  reason: 'token_invalid',
  message: 'Facebook no longer accepts this token: reconnect the Page.',
};

/** Authentication subcodes that mean "a person must reconnect". */
export const REAUTH_SUBCODES: readonly number[] = Object.keys(REAUTH_REASONS).map(Number);

/** Reason code and sentence for an authentication subcode (`token_invalid` for any other). */
export function reauthReason(subcode: number | null): { reason: string; message: string } {
  return (subcode === null ? undefined : REAUTH_REASONS[subcode]) ?? TOKEN_INVALID;
}

/** The sentence for a person, per authentication subcode. */
export function reauthHumanMessage(subcode: number | null): string {
  return reauthReason(subcode).message;
}

export interface GraphErrorFields {
  kind: GraphErrorKind;
  message: string;
  /** Overrides the kind's ErrorCode (e.g. `graph_bad_response` for a transient malformed answer). */
  code?: ErrorCode;
  fbCode?: number | null;
  fbSubcode?: number | null;
  fbtraceId?: string | null;
  /** Facebook's `error.type` (OAuthException, GraphMethodException…). */
  fbType?: string | null;
  isTransient?: boolean;
  /** HTTP status Facebook answered with (null when there was no answer). */
  fbHttpStatus?: number | null;
  /** Secret-free label of the call, e.g. `debug_token`, `{page-id}/feed`. */
  endpoint?: string | null;
  retryAfterMs?: number;
  /** Already made safe (see `safeCause`). */
  cause?: Error;
  /** Exact secret strings of this call, removed from the message. Not stored. */
  secrets?: readonly string[];
  /** needs_reauth: the sentence for a person, when Facebook's per-subcode one does not fit (Instagram, Threads). */
  humanMessage?: string;
}

export class GraphError extends AppError {
  readonly kind: GraphErrorKind;
  readonly fbCode: number | null;
  readonly fbSubcode: number | null;
  readonly fbtraceId: string | null;
  readonly fbType: string | null;
  readonly fbHttpStatus: number | null;
  readonly endpoint: string | null;
  readonly isTransient: boolean;
  /** Throttled: how long to make no calls (from usage headers, else a default). 0 for other kinds. */
  readonly retryAfterMs: number;
  /** needs_reauth: one sentence telling a person what to do. Null for other kinds. */
  readonly humanMessage: string | null;

  constructor(f: GraphErrorFields) {
    const fbCode = f.fbCode ?? null;
    const fbSubcode = f.fbSubcode ?? null;
    const fbtraceId = f.fbtraceId ?? null;
    const retryAfterMs =
      f.kind === 'throttled' ? Math.max(0, f.retryAfterMs ?? defaultThrottleMs(fbCode ?? 0)) : 0;
    super(f.code ?? CODE_OF[f.kind], scrubSecrets(f.message, f.secrets ?? []), {
      ...(f.cause ? { cause: f.cause } : {}),
      details: {
        kind: f.kind,
        endpoint: f.endpoint ?? null,
        fb_code: fbCode,
        fb_subcode: fbSubcode,
        fbtrace_id: fbtraceId,
        fb_http_status: f.fbHttpStatus ?? null,
        ...(f.kind === 'throttled' ? { retry_after_ms: retryAfterMs } : {}),
      },
    });
    this.name = 'GraphError';
    this.kind = f.kind;
    this.fbCode = fbCode;
    this.fbSubcode = fbSubcode;
    this.fbtraceId = fbtraceId;
    this.fbType = f.fbType ?? null;
    this.fbHttpStatus = f.fbHttpStatus ?? null;
    this.endpoint = f.endpoint ?? null;
    this.isTransient = f.isTransient ?? f.kind === 'transient';
    this.retryAfterMs = retryAfterMs;
    this.humanMessage = f.kind === 'needs_reauth' ? (f.humanMessage ?? reauthHumanMessage(fbSubcode)) : null;
  }
}

const intish = z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]);
/** docs/FACEBOOK.md#the-error-envelope: the documented error envelope (plus the undocumented `is_transient`). */
const errorEnvelopeSchema = z.object({
  error: z.object({
    message: z.string().optional(),
    type: z.string().optional(),
    code: intish,
    error_subcode: intish.optional(),
    is_transient: z.boolean().optional(),
    fbtrace_id: z.string().optional(),
  }),
});

export interface ClassifyContext {
  endpoint?: string;
  secrets?: readonly string[];
}

/**
 * Pure: what Facebook answered (the body as text or already parsed, the HTTP status, the headers)
 * → a GraphError. Used by the client for every failed call; exported for unit tests.
 */
export function classifyGraphError(
  body: unknown,
  status: number,
  headers?: HeaderSource,
  context: ClassifyContext = {},
): GraphError {
  const where = context.endpoint ? `Facebook ${context.endpoint}` : 'Facebook';
  const base = { endpoint: context.endpoint ?? null, fbHttpStatus: status, secrets: context.secrets ?? [] };
  let parsed: unknown = body;
  let kindOfBody: 'empty' | 'json' | 'text' = 'json';
  if (body === undefined || body === null || (typeof body === 'string' && body.trim() === '')) {
    kindOfBody = 'empty';
  } else if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      kindOfBody = 'text';
    }
  }

  if (kindOfBody === 'json') {
    const env = errorEnvelopeSchema.safeParse(parsed);
    if (env.success) {
      const e = env.data.error;
      const subcode = e.error_subcode ?? null;
      const credentials = appCredentialProblem(e.message ?? '');
      const kind = credentials
        ? 'invalid_request'
        : kindOf(e.code, subcode, e.is_transient === true, e.message ?? '');
      const usage = parseUsageHeaders(headers);
      const fbMessage = (e.message ?? 'no message').slice(0, 300);
      if (credentials) {
        return new GraphError({
          ...base,
          kind,
          code: 'app_credentials_invalid',
          message: `${where}: ${credentials} (#${e.code}, HTTP ${status})`,
          fbCode: e.code,
          fbSubcode: subcode,
          fbtraceId: e.fbtrace_id ?? null,
          fbType: e.type ?? null,
        });
      }
      const pagePermission = isPagePermissionProblem(e.code, e.message ?? '');
      return new GraphError({
        ...base,
        kind,
        ...(pagePermission ? { code: 'missing_permission' as const } : {}),
        message: pagePermission
          ? `${where}: a Page permission is missing for this Page (the login itself still works): reconnect and grant the Page permissions for this Page. Facebook said: ${fbMessage} (#${e.code}, HTTP ${status})`
          : `${where}: ${fbMessage} (#${e.code}${subcode === null ? '' : `/${subcode}`}, HTTP ${status})`,
        fbCode: e.code,
        fbSubcode: subcode,
        fbtraceId: e.fbtrace_id ?? null,
        fbType: e.type ?? null,
        isTransient: e.is_transient === true || kind === 'transient',
        ...(kind === 'throttled' ? { retryAfterMs: usage.retryAfterMs ?? defaultThrottleMs(e.code) } : {}),
      });
    }
  }

  if (kindOfBody === 'empty' && status >= 500) {
    return new GraphError({
      ...base,
      kind: 'transient',
      message: `${where} failed with HTTP ${status} and no body`,
    });
  }
  const what =
    kindOfBody === 'empty'
      ? 'an empty body'
      : kindOfBody === 'text'
        ? /<(!doctype|html|body|head)\b/i.test(String(body))
          ? 'an HTML page instead of JSON'
          : 'a body that is not JSON'
        : 'JSON without a Graph error object';
  return new GraphError({
    ...base,
    kind: 'transient',
    code: 'graph_bad_response',
    message: `${where} answered HTTP ${status} with ${what}: Facebook changed or a proxy answered`,
  });
}
