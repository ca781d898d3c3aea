/**
 * The only code that speaks to Facebook. Every call: the pinned version in the URL, an
 * `appsecret_proof` (so "Require App Secret" can be on), a timeout, the usage headers parsed, and
 * the body checked against a schema — a changed or malformed response is a clear GraphError, not a crash.
 */
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import type { Clock } from '../clock.js';
import type { TokenType } from '../types.js';
import { classifyGraphError, GraphError, type GraphErrorBody, type GraphErrorKind } from './errors.js';
import { parseUsage, type Usage } from './usage.js';

export interface AppCredentials {
  appId: string;
  appSecret: string;
}

export interface DebugTokenInfo {
  isValid: boolean;
  type: TokenType;
  appId: string | null;
  application: string | null;
  /** Epoch ms; null = never (debug_token `expires_at: 0`). */
  expiresAt: number | null;
  dataAccessExpiresAt: number | null;
  issuedAt: number | null;
  scopes: string[];
  granularScopes: { scope: string; targetIds: string[] }[];
  userId: string | null;
  profileId: string | null;
  error: { code: number; subcode: number | null; message: string } | null;
}

export interface GraphCallInfo {
  endpoint: string;
  durationMs: number;
  ok: boolean;
  fbCode: number | null;
  kind: GraphErrorKind | null;
}

export interface GraphClientOptions {
  baseUrl: string;
  version: string;
  timeoutMs?: number;
  clock: Clock;
  onCall?: (info: GraphCallInfo) => void;
}

export interface GraphClient {
  debugToken(inputToken: string, app: AppCredentials): Promise<DebugTokenInfo>;
  exchangeToken(
    token: string,
    app: AppCredentials,
    options?: { systemUser60Days?: boolean },
  ): Promise<{ accessToken: string; expiresAt: number | null; expiresIn: number | null }>;
  getPageToken(pageId: string, userToken: string, app: AppCredentials): Promise<{ id: string; name: string; accessToken: string }>;
  listPageAccounts(userToken: string, app: AppCredentials): Promise<{ id: string; name: string; accessToken: string; tasks: string[] }[]>;
  me(token: string, app: AppCredentials): Promise<{ id: string; name: string }>;
  exchangeCode(code: string, redirectUri: string, app: AppCredentials): Promise<{ accessToken: string; expiresAt: number | null }>;
  postToFeed(pageId: string, pageToken: string, message: string, app: AppCredentials): Promise<{ id: string }>;
  /** The usage headers of the last response that had any. */
  readonly usage: Usage | null;
}

// --- response schemas (GRAPH_API.md §2) ------------------------------------------------------------

const id = z.union([z.string(), z.number()]).transform(String);
const debugSchema = z.object({
  data: z.object({
    app_id: id.optional(),
    type: z.string().optional(),
    application: z.string().optional(),
    data_access_expires_at: z.number().optional(),
    expires_at: z.number().optional(),
    issued_at: z.number().optional(),
    is_valid: z.boolean(),
    scopes: z.array(z.string()).optional(),
    granular_scopes: z.array(z.object({ scope: z.string(), target_ids: z.array(id).optional() })).optional(),
    user_id: id.optional(),
    profile_id: id.optional(),
    error: z.object({ code: z.number(), message: z.string().optional(), subcode: z.number().optional() }).optional(),
  }),
});
const exchangeSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.number().optional(),
  // Pre-v2.3 responses named it `expires` (GRAPH_API.md §2a).
  expires: z.number().optional(),
});
const pageTokenSchema = z.object({ id, name: z.string().optional(), access_token: z.string().min(1) });
const accountsSchema = z.object({
  data: z.array(z.object({ id, name: z.string().optional(), access_token: z.string().optional(), tasks: z.array(z.string()).optional() })),
  paging: z.object({ next: z.string().optional(), cursors: z.object({ after: z.string().optional() }).optional() }).optional(),
});
const meSchema = z.object({ id, name: z.string().optional() });
const postSchema = z.object({ id });

const TOKEN_TYPES: readonly TokenType[] = ['USER', 'PAGE', 'SYSTEM_USER', 'APP'];
const MAX_ACCOUNT_PAGES = 50;

export function appsecretProof(accessToken: string, appSecret: string): string {
  return createHmac('sha256', appSecret).update(accessToken).digest('hex');
}

export function createGraphClient(options: GraphClientOptions): GraphClient {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const root = `${options.baseUrl.replace(/\/+$/, '')}/${options.version}`;
  let lastUsage: Usage | null = null;

  /** One call. `endpoint` is a secret-free label for metrics and messages. */
  async function call<T>(
    endpoint: string,
    path: string,
    params: Record<string, string>,
    accessToken: string,
    appSecret: string,
    schema: z.ZodType<T>,
    method: 'GET' | 'POST' = 'GET',
  ): Promise<T> {
    const url = new URL(`${root}${path}`);
    const all: Record<string, string> = { ...params, access_token: accessToken, appsecret_proof: appsecretProof(accessToken, appSecret) };
    let body: string | undefined;
    if (method === 'GET') for (const [k, v] of Object.entries(all)) url.searchParams.set(k, v);
    else body = new URLSearchParams(all).toString();
    const started = performance.now();
    const report = (ok: boolean, err: GraphError | null) =>
      options.onCall?.({ endpoint, durationMs: performance.now() - started, ok, fbCode: err?.fbCode ?? null, kind: err?.kind ?? null });

    let res: Response;
    let text: string;
    try {
      res = await fetch(url, {
        method,
        signal: AbortSignal.timeout(timeoutMs),
        ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
      });
      text = await res.text();
    } catch (e) {
      // Never keep the cause: undici errors can carry the URL, and the URL carries the token.
      const timedOut = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError');
      const err = new GraphError({
        kind: 'transient',
        message: timedOut ? `Facebook did not answer ${endpoint} within ${timeoutMs} ms` : `could not reach Facebook for ${endpoint} (network error)`,
        fbCode: null,
        fbSubcode: null,
        fbtraceId: null,
      });
      report(false, err);
      throw err;
    }
    const usage = parseUsage((h) => res.headers.get(h));
    if (usage) lastUsage = usage;

    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      const err = new GraphError({
        kind: 'transient',
        code: 'graph_bad_response',
        message: `Facebook answered ${endpoint} with HTTP ${res.status} and a body that is not JSON${/<html/i.test(text) ? ' (an HTML page)' : ''}`,
        fbCode: null,
        fbSubcode: null,
        fbtraceId: null,
      });
      report(false, err);
      throw err;
    }
    if (json && typeof json === 'object' && 'error' in json) {
      const err = classifyGraphError((json as { error: GraphErrorBody }).error, res.status, usage);
      report(false, err);
      throw err;
    }
    if (!res.ok) {
      const err = classifyGraphError(null, res.status, usage);
      report(false, err);
      throw err;
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const fields = parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
      const err = new GraphError({
        kind: 'transient',
        code: 'graph_bad_response',
        message: `Facebook's answer to ${endpoint} did not have the expected shape (${fields})`,
        fbCode: null,
        fbSubcode: null,
        fbtraceId: null,
      });
      report(false, err);
      throw err;
    }
    report(true, null);
    return parsed.data;
  }

  const secs = (s: number | undefined) => (s === undefined || s === 0 ? null : s * 1000);
  const expiryFromNow = (s: number | undefined) => (s === undefined || s === 0 ? null : options.clock.now() + s * 1000);

  return {
    get usage() {
      return lastUsage;
    },

    async debugToken(inputToken, app) {
      // debug_token is authenticated by the app token; a token cannot inspect itself (GRAPH_API.md §2d).
      const appToken = `${app.appId}|${app.appSecret}`;
      const r = await call('debug_token', '/debug_token', { input_token: inputToken }, appToken, app.appSecret, debugSchema);
      const d = r.data;
      return {
        isValid: d.is_valid,
        type: TOKEN_TYPES.includes(d.type as TokenType) ? (d.type as TokenType) : 'UNKNOWN',
        appId: d.app_id ?? null,
        application: d.application ?? null,
        expiresAt: secs(d.expires_at),
        dataAccessExpiresAt: secs(d.data_access_expires_at),
        issuedAt: secs(d.issued_at),
        scopes: d.scopes ?? [],
        granularScopes: (d.granular_scopes ?? []).map((g) => ({ scope: g.scope, targetIds: g.target_ids ?? [] })),
        userId: d.user_id ?? null,
        profileId: d.profile_id ?? null,
        error: d.error ? { code: d.error.code, subcode: d.error.subcode ?? null, message: d.error.message ?? '' } : null,
      };
    },

    async exchangeToken(token, app, opts = {}) {
      const params: Record<string, string> = {
        grant_type: 'fb_exchange_token',
        client_id: app.appId,
        client_secret: app.appSecret,
        fb_exchange_token: token,
      };
      if (opts.systemUser60Days) params.set_token_expires_in_60_days = 'true';
      const r = await call('oauth/access_token', '/oauth/access_token', params, token, app.appSecret, exchangeSchema);
      const expiresIn = r.expires_in ?? r.expires ?? null;
      return { accessToken: r.access_token, expiresIn, expiresAt: expiryFromNow(expiresIn ?? undefined) };
    },

    async getPageToken(pageId, userToken, app) {
      const r = await call('page?fields=access_token', `/${encodeURIComponent(pageId)}`, { fields: 'access_token,name' }, userToken, app.appSecret, pageTokenSchema);
      return { id: r.id, name: r.name ?? '', accessToken: r.access_token };
    },

    async listPageAccounts(userToken, app) {
      const out: { id: string; name: string; accessToken: string; tasks: string[] }[] = [];
      let after: string | undefined;
      for (let i = 0; i < MAX_ACCOUNT_PAGES; i++) {
        const params: Record<string, string> = { fields: 'id,name,access_token,tasks', limit: '100' };
        if (after) params.after = after;
        const r = await call('me/accounts', '/me/accounts', params, userToken, app.appSecret, accountsSchema);
        for (const a of r.data) if (a.access_token) out.push({ id: a.id, name: a.name ?? '', accessToken: a.access_token, tasks: a.tasks ?? [] });
        after = r.paging?.next ? r.paging.cursors?.after : undefined;
        if (!after) break;
      }
      return out;
    },

    async me(token, app) {
      const r = await call('me', '/me', { fields: 'id,name' }, token, app.appSecret, meSchema);
      return { id: r.id, name: r.name ?? '' };
    },

    async exchangeCode(code, redirectUri, app) {
      // The code exchange has no access token yet; the proof is computed over the app token.
      const appToken = `${app.appId}|${app.appSecret}`;
      const r = await call(
        'oauth/access_token (code)',
        '/oauth/access_token',
        { client_id: app.appId, client_secret: app.appSecret, redirect_uri: redirectUri, code },
        appToken,
        app.appSecret,
        exchangeSchema,
      );
      return { accessToken: r.access_token, expiresAt: expiryFromNow(r.expires_in ?? r.expires) };
    },

    async postToFeed(pageId, pageToken, message, app) {
      return call('page/feed', `/${encodeURIComponent(pageId)}/feed`, { message }, pageToken, app.appSecret, postSchema, 'POST');
    },
  };
}
