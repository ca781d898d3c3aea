/**
 * Instagram-Login and Threads failures, classified on each platform's own terms into the
 * GraphError kinds of src/graph/errors.ts (docs/FACEBOOK.md#instagram-login-tokens, #threads-tokens):
 *
 * | platform  | answer                                                        | kind / code                   |
 * |-----------|---------------------------------------------------------------|-------------------------------|
 * | both      | Graph's envelope: 190, throttling, 1/2, 10/200…               | as for Facebook               |
 * | both      | 190/490 or 190/459 "blocking, logged-in checkpoint"           | needs_reauth: log in on Instagram |
 * | threads   | 100 "The requested resource does not exist" on the token's own call | needs_reauth (a dead token, not a bad request) |
 * | threads   | "No app ID was provided in the request." (error_code 4476002) | threads_app_id_required       |
 * | instagram | api.instagram.com's flat `{error_type, code, error_message}`  | invalid_request (app id/secret: app_credentials_invalid) |
 *
 * Threads' code 100 for a dead token is why a check that only looks for 190 thinks the token is
 * fine (trypostit/trypost#230). The sentence for a person names the platform, never Facebook.
 */
import { classifyGraphError, GraphError, type GraphErrorKind } from '../graph/errors.js';
import type { HeaderSource } from '../graph/usage.js';

export type RefreshablePlatformName = 'instagram' | 'threads';

export const PLATFORM_LABEL: Record<RefreshablePlatformName, string> = {
  instagram: 'Instagram',
  threads: 'Threads',
};

const CHECKPOINT = /checkpoint/i;
const RESOURCE_GONE = /requested resource does not exist/i;
const THREADS_APP_ID = /no app id was provided/i;
const THREADS_APP_ID_CODE = 4476002;

/** One sentence for a person, per platform and reason. */
export function platformHumanMessage(
  platform: RefreshablePlatformName,
  reason: 'checkpoint' | 'expired' | 'password_changed' | 'app_removed' | 'gone' | 'other',
): string {
  const account = platform === 'instagram' ? 'the Instagram account' : 'the Threads profile';
  switch (reason) {
    case 'checkpoint':
      return platform === 'instagram'
        ? 'Instagram locked the account behind a security checkpoint: the account owner must log in on Instagram (the app or instagram.com) and follow the instructions, then reconnect.'
        : 'Instagram locked the account behind this Threads profile at a security checkpoint: the owner must log in on Instagram (the app or instagram.com) and follow the instructions, then reconnect.';
    case 'expired':
      return `The ${PLATFORM_LABEL[platform]} token has expired and can no longer be refreshed: log in again to reconnect ${account}.`;
    case 'password_changed':
      return `The password of ${platform === 'instagram' ? 'the Instagram account' : 'the Instagram account behind this Threads profile'} was changed, which ended the token: reconnect ${account}.`;
    case 'app_removed':
      return `The owner removed this app's access to ${account}: reconnect to authorise it again.`;
    case 'gone':
      return `Threads no longer accepts this token (it expired, or access was removed): log in again to reconnect ${account}.`;
    default:
      return `${PLATFORM_LABEL[platform]} no longer accepts this token: reconnect ${account}.`;
  }
}

function reasonOf(subcode: number | null, message: string): Parameters<typeof platformHumanMessage>[1] {
  if (subcode === 490 || subcode === 459 || CHECKPOINT.test(message)) return 'checkpoint';
  if (subcode === 463 || /session has expired/i.test(message)) return 'expired';
  if (subcode === 460) return 'password_changed';
  if (subcode === 458) return 'app_removed';
  return 'other';
}

export interface PlatformClassifyContext {
  endpoint: string;
  secrets: readonly string[];
  /** The call was authenticated by the token being looked at (so "does not exist" means the token). */
  tokenCall: boolean;
}

interface FlatInstagramError {
  error_type?: unknown;
  code?: unknown;
  error_message?: unknown;
}

/** Pure: what the platform answered → a GraphError with the platform's words and a sentence for a person. */
export function classifyPlatformError(
  platform: RefreshablePlatformName,
  body: unknown,
  status: number,
  headers: HeaderSource | undefined,
  ctx: PlatformClassifyContext,
): GraphError {
  const label = PLATFORM_LABEL[platform];
  const where = `${label} ${ctx.endpoint}`;
  const parsed = parseJson(body);
  const base = { endpoint: ctx.endpoint, fbHttpStatus: status, secrets: ctx.secrets };

  // api.instagram.com (code redemption) answers in its own flat shape.
  const flat = parsed as FlatInstagramError | null;
  if (flat && typeof flat === 'object' && typeof flat.error_message === 'string') {
    const credentials = /client secret|client_id|app id|platform app|application/i.test(flat.error_message);
    return new GraphError({
      ...base,
      kind: 'invalid_request',
      ...(credentials ? { code: 'app_credentials_invalid' as const } : {}),
      message: credentials
        ? `${where}: ${label} refused the app id or app secret (“${flat.error_message.slice(0, 200)}”): use the ${label} app id and secret from the App Dashboard (HTTP ${status})`
        : `${where}: ${flat.error_message.slice(0, 300)} (HTTP ${status})`,
    });
  }

  const g = classifyGraphError(parsed ?? body, status, headers, {
    endpoint: ctx.endpoint,
    secrets: ctx.secrets,
  });
  // Graph's sentences name Facebook; these hosts are the platform's own.
  const message = g.message.replace(/Facebook/g, label);
  const rawError = (parsed as { error?: { message?: unknown; error_code?: unknown } } | null)?.error;
  const fbMessage = typeof rawError?.message === 'string' ? rawError.message : '';

  const rebuilt = (
    kind: GraphErrorKind,
    extra: { code?: GraphError['code']; humanMessage?: string; message?: string } = {},
  ) =>
    new GraphError({
      ...base,
      kind,
      message: extra.message ?? message,
      ...(extra.code ? { code: extra.code } : {}),
      ...(extra.humanMessage ? { humanMessage: extra.humanMessage } : {}),
      fbCode: g.fbCode,
      fbSubcode: g.fbSubcode,
      fbtraceId: g.fbtraceId,
      fbType: g.fbType,
      isTransient: g.isTransient,
      ...(kind === 'throttled' ? { retryAfterMs: g.retryAfterMs } : {}),
    });

  if (
    platform === 'threads' &&
    (rawError?.error_code === THREADS_APP_ID_CODE || THREADS_APP_ID.test(fbMessage))
  ) {
    return rebuilt('invalid_request', {
      code: 'threads_app_id_required',
      message: `${where}: Threads refused the app id (“${fbMessage.slice(0, 100)}”): this looks like the Facebook app id; Threads takes its own app id and secret (App Dashboard → App settings → Basic → Threads App ID and Threads App Secret)`,
    });
  }
  if (platform === 'threads' && g.fbCode === 100 && RESOURCE_GONE.test(fbMessage) && ctx.tokenCall) {
    return rebuilt('needs_reauth', { humanMessage: platformHumanMessage('threads', 'gone') });
  }
  if (g.kind === 'needs_reauth' || (g.fbCode === 190 && CHECKPOINT.test(fbMessage))) {
    return rebuilt('needs_reauth', {
      humanMessage: platformHumanMessage(platform, reasonOf(g.fbSubcode, fbMessage)),
    });
  }
  return rebuilt(g.kind, g.code === CODE_OF_KIND[g.kind] ? {} : { code: g.code });
}

const CODE_OF_KIND: Record<GraphErrorKind, GraphError['code']> = {
  transient: 'graph_unavailable',
  throttled: 'graph_rate_limited',
  needs_reauth: 'graph_token_invalid',
  permission: 'graph_permission_denied',
  invalid_request: 'graph_invalid_request',
};

function parseJson(body: unknown): unknown {
  if (typeof body !== 'string') return body ?? null;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return null;
  }
}
