/**
 * The only code that speaks to Facebook. Every call carries the pinned version in the URL
 * (docs/FACEBOOK.md#versions), an `appsecret_proof` (docs/FACEBOOK.md#appsecret_proof), a timeout; the usage headers are parsed on every
 * response (docs/FACEBOOK.md#throttling) and the body is validated with a zod schema, so a changed or malformed answer is a
 * clear `GraphError` (transient, `graph_bad_response`), never a crash. Failures are classified by
 * the JSON body (docs/FACEBOOK.md#errors, see errors.ts). Nothing thrown from here carries a token or a secret.
 */
import { createHmac } from 'node:crypto';
import type { z } from 'zod';
import type { Clock } from '../clock.js';
import type { TokenType } from '../types.js';
import { classifyGraphError, GraphError, type GraphErrorKind } from './errors.js';
import {
  accessTokenSchema,
  accountsSchema,
  batchAnswerSchema,
  debugTokenSchema,
  meSchema,
  pageSchema,
  postSchema,
  revokeSchema,
} from './schemas.js';
import { createBatchQueue, createSlots, type ItemResult } from './batch.js';
import { batchItemHeaders, type GraphUsage, parseUsageHeaders, usageBucket } from './usage.js';
import { parseJson, type RawAnswer, readShape, sendRequest } from './wire.js';

type Reporter = (err: GraphError | null) => void;

export interface AppCredentials {
  appId: string;
  appSecret: string;
}

export interface DebugTokenInfo {
  isValid: boolean;
  type: TokenType;
  appId: string | null;
  application: string | null;
  /** Epoch ms; null = never (debug_token `expires_at: 0`, docs/FACEBOOK.md#page-tokens). */
  expiresAt: number | null;
  /** Epoch ms; null when absent or 0. */
  dataAccessExpiresAt: number | null;
  /** Epoch ms; only returned for long-lived tokens (docs/FACEBOOK.md#short-lived-and-long-lived-user-tokens). */
  issuedAt: number | null;
  scopes: string[];
  granularScopes: { scope: string; targetIds: string[] }[];
  userId: string | null;
  /** For PAGE tokens: the Page (docs/FACEBOOK.md#debug_token). */
  profileId: string | null;
  /** Why the token is invalid (debug_token's `data.error`), when it is. */
  error: { code: number; subcode: number | null; message: string } | null;
}

export interface ExchangedToken {
  accessToken: string;
  /** Epoch ms (clock.now() + expires_in); null when Facebook sent no expiry. */
  expiresAt: number | null;
  /** Seconds as Facebook sent them (`expires_in`, or legacy `expires`); null when absent. */
  expiresIn: number | null;
}

export interface PageTokenResult {
  id: string;
  name: string;
  accessToken: string;
}

export interface PageAccount {
  id: string;
  name: string;
  /** null: the Page was not selected in the Login dialog's Page picker. */
  accessToken: string | null;
  /** The user's tasks on the Page (CREATE_CONTENT, MANAGE, MODERATE, ANALYZE…). */
  tasks: string[];
}

export interface GraphCallInfo {
  /** Secret-free label, e.g. `debug_token`, `{page-id}/feed`. */
  endpoint: string;
  durationMs: number;
  ok: boolean;
  fbCode: number | null;
  kind: GraphErrorKind | null;
}

export interface GraphClientOptions {
  /** e.g. `https://graph.facebook.com` or the emulator's url. */
  baseUrl: string;
  /** e.g. `v26.0`; pinned in every URL. */
  version: string;
  /** Per call, headers and body included. Default 10 000. */
  timeoutMs?: number;
  clock: Clock;
  onCall?: (info: GraphCallInfo) => void;
  /** Upper bound on `/me/accounts` pages followed. Default 50. */
  maxAccountPages?: number;
  /**
   * Hears the usage headers of every answer with the budget they count against (one call each;
   * a batch request itself as 0 calls, each of its items as 1): what feeds the call budget
   * (graph/budget.ts). Must not throw.
   */
  onUsage?: (u: UsageReport) => void;
  /** GRAPH_BATCH: `auto` sends debug_token calls made at the same time as one batch request. Default `off`. */
  batch?: 'auto' | 'off';
  /**
   * At most this many HTTP requests in flight at once, batch requests and single calls alike
   * (CHECK_CONCURRENCY with GRAPH_BATCH=auto, where a round has more checks waiting than that):
   * callers beyond wait in order, and their batched calls join the next batch. Default: no bound.
   */
  maxInFlight?: number;
}

/** What one answer said of the budgets (see `GraphClientOptions.onUsage`). */
export interface UsageReport {
  appId: string;
  /** `app`: the app's Platform budget (app and user tokens); `page`: the Page's (Page tokens). */
  bucket: 'app' | 'page';
  /** Calls this answer stands for (0 for the batch request itself, whose items report on their own). */
  calls: number;
  usage: GraphUsage;
  /** Facebook refused the call as throttled. */
  throttled: boolean;
}

export interface GraphClient {
  /** docs/FACEBOOK.md#debug_token. An invalid token is a normal result (`isValid: false`), not an exception. */
  debugToken(inputToken: string, app: AppCredentials): Promise<DebugTokenInfo>;
  /** docs/FACEBOOK.md#exchanging-for-a-long-lived-token (user tokens), docs/FACEBOOK.md#system-user-tokens (`systemUser60Days`: refresh an expiring system-user token). */
  exchangeToken(
    token: string,
    app: AppCredentials,
    options?: { systemUser60Days?: boolean },
  ): Promise<ExchangedToken>;
  /**
   * docs/FACEBOOK.md#rotating-an-expiring-system-user-token: `GET /oauth/revoke` invalidates
   * `token` at once (and the Page tokens minted from it); `caller` is a valid token of the same
   * app (the replacement), sent as `access_token` with its proof.
   */
  revokeToken(token: string, caller: string, app: AppCredentials): Promise<void>;
  /** docs/FACEBOOK.md#minting-the-page-token option 2: `GET /{page-id}?fields=access_token,name` with a user or system-user token. */
  getPageToken(pageId: string, userToken: string, app: AppCredentials): Promise<PageTokenResult>;
  /** docs/FACEBOOK.md#minting-the-page-token option 1: every Page of `/me/accounts` with the user's tasks, following the cursors (bounded). */
  listPageAccounts(userToken: string, app: AppCredentials): Promise<PageAccount[]>;
  /** docs/FACEBOOK.md#who-a-token-belongs-to-me. With a Page token, `/me` is the Page. */
  me(token: string, app: AppCredentials): Promise<{ id: string; name: string }>;
  /**
   * The cheapest validity probe of a Page token: `GET /me?fields=id` made with the Page token
   * itself, which counts against the Page's budget, not the app's (docs/FACEBOOK.md#throttling).
   * Resolves with the Page id; a dead token throws its GraphError (190…).
   */
  probePageToken(pageToken: string, app: AppCredentials): Promise<{ id: string }>;
  /** The Login dialog's code → a (short-lived) user token. */
  exchangeCode(code: string, redirectUri: string, app: AppCredentials): Promise<ExchangedToken>;
  /** docs/FACEBOOK.md#posting: `POST /{page-id}/feed` with a Page token. Not retried here: posts are not idempotent. */
  postToFeed(
    pageId: string,
    pageToken: string,
    message: string,
    app: AppCredentials,
  ): Promise<{ id: string }>;
  /** The usage headers of the last response (a response without headers gives `maxPercent: 0`). */
  readonly usage: GraphUsage;
  /** GRAPH_BATCH=auto: calls of one kind made meanwhile share one batch request. */
  readonly batching: boolean;
  /** Calls made and not answered yet: in flight, or waiting for a slot or a batch. */
  readonly pendingCalls: number;
}

/** docs/FACEBOOK.md#appsecret_proof: hex HMAC-SHA256, key = app secret, message = the call's access token. */
export function appsecretProof(accessToken: string, appSecret: string): string {
  return createHmac('sha256', appSecret).update(accessToken).digest('hex');
}

/** docs/FACEBOOK.md#app-tokens: the offline app token. Used only for debug_token. */
export function appToken(app: AppCredentials): string {
  return `${app.appId}|${app.appSecret}`;
}

const TOKEN_TYPES: readonly TokenType[] = ['USER', 'PAGE', 'SYSTEM_USER', 'APP'];
const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_ACCOUNT_PAGES = 50;

interface CallSpec<T> {
  endpoint: string;
  method?: 'GET' | 'POST';
  path: string;
  params: Record<string, string>;
  /**
   * Sent as `access_token`, with an `appsecret_proof` computed over it; null for calls that
   * authenticate with the client secret alone (no token, so no proof).
   */
  accessToken: string | null;
  app: AppCredentials;
  schema: z.ZodType<T>;
  /** Accept the pre-v2.3 URL-encoded `access_token=…&expires=…` body (docs/FACEBOOK.md#exchanging-for-a-long-lived-token). */
  allowFormEncoded?: boolean;
  /** The budget the call counts against when known (`page` for Page-token calls); else from the token and the headers. */
  bucket?: 'app' | 'page';
}

export function createGraphClient(options: GraphClientOptions): GraphClient {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxAccountPages = options.maxAccountPages ?? DEFAULT_MAX_ACCOUNT_PAGES;
  const root = `${options.baseUrl.replace(/\/+$/, '')}/${options.version}`;
  let lastUsage: GraphUsage = { maxPercent: 0, retryAfterMs: null };

  const secretsOf = (spec: CallSpec<unknown>, extra: string[] = []): string[] => {
    const secrets = [
      spec.app.appSecret,
      appToken(spec.app),
      ...Object.values(secretParams(spec.params)),
      ...extra,
    ];
    if (spec.accessToken !== null) {
      secrets.push(spec.accessToken, appsecretProof(spec.accessToken, spec.app.appSecret));
    }
    return secrets;
  };

  /** The HTTP exchange of one call; a network failure or timeout is a transient GraphError. */
  async function send(spec: CallSpec<unknown>, secrets: string[], report: Reporter): Promise<RawAnswer> {
    const method = spec.method ?? 'GET';
    const params: Record<string, string> = { ...spec.params };
    if (spec.accessToken !== null) {
      params.access_token = spec.accessToken;
      params.appsecret_proof = appsecretProof(spec.accessToken, spec.app.appSecret);
    }
    const raw = await sendRequest({
      label: 'Facebook',
      endpoint: spec.endpoint,
      method,
      where: `${root}${spec.path}`,
      params,
      timeoutMs,
      variable: 'GRAPH_API_URL',
      base: options.baseUrl,
      secrets,
    });
    if (raw instanceof GraphError) {
      report(raw);
      throw raw;
    }
    return raw;
  }

  const reporter = (endpoint: string): Reporter => {
    const started = performance.now();
    return (err) =>
      options.onCall?.({
        endpoint,
        durationMs: performance.now() - started,
        ok: err === null,
        fbCode: err?.fbCode ?? null,
        kind: err?.kind ?? null,
      });
  };

  /** Tells the budget what an answer said: which bucket, how many calls, the headers. */
  function tellUsage(spec: CallSpec<unknown>, usage: GraphUsage, calls: number, throttled: boolean): void {
    if (!options.onUsage) return;
    const byToken = spec.accessToken === null || spec.accessToken === appToken(spec.app) ? 'app' : null;
    const heard = usageBucket(usage);
    // A user or Page token's answer without any header: counted against the app, the budget that
    // matters more (Facebook sends no header while usage is about 0 %).
    const bucket = spec.bucket ?? byToken ?? (heard === 'page' ? 'page' : 'app');
    try {
      options.onUsage({ appId: spec.app.appId, bucket, calls, usage, throttled });
    } catch {
      // Budget bookkeeping must never make a call fail.
    }
  }

  /** Reads one answer (a response, or an item of a batch) as the call's result or its GraphError. */
  function finish<T>(spec: CallSpec<T>, raw: RawAnswer, secrets: string[], report: Reporter, calls = 1): T {
    const { status, headers, text } = raw;
    const fail = (err: GraphError): never => {
      report(err);
      throw err;
    };
    const usage = parseUsageHeaders(headers);
    lastUsage = usage;
    const body = parseJson(text);
    let json = body.ok ? body.json : undefined;
    let parsedJson = body.ok;
    if (
      !parsedJson &&
      spec.allowFormEncoded &&
      status >= 200 &&
      status < 300 &&
      /^access_token=/.test(text.trim())
    ) {
      json = Object.fromEntries(new URLSearchParams(text.trim()));
      parsedJson = true;
    }
    const hasErrorObject = parsedJson && typeof json === 'object' && json !== null && 'error' in json;
    if (status < 200 || status >= 300 || !parsedJson || hasErrorObject) {
      const err = classifyGraphError(parsedJson ? json : text, status, headers, {
        endpoint: spec.endpoint,
        secrets,
      });
      tellUsage(spec, usage, calls, err.kind === 'throttled');
      return fail(err);
    }
    tellUsage(spec, usage, calls, false);
    const parsed = readShape(spec.schema, json, {
      label: 'Facebook',
      endpoint: spec.endpoint,
      status,
      secrets,
    });
    if (!parsed.ok) return fail(parsed.error);
    report(null);
    return parsed.data;
  }

  // Every request shares the bound on requests in flight (maxInFlight), batches included.
  const slots = options.maxInFlight === undefined ? undefined : createSlots(options.maxInFlight);

  /** One HTTP call, unbounded (the batch queues hold a slot for it already). */
  async function callUnbounded<T>(spec: CallSpec<T>): Promise<T> {
    const secrets = secretsOf(spec);
    const report = reporter(spec.endpoint);
    const raw = await send(spec, secrets, report);
    return finish(spec, raw, secrets, report);
  }

  let pending = 0;
  /** One HTTP call, inside a slot when requests in flight are bounded. */
  async function call<T>(spec: CallSpec<T>): Promise<T> {
    pending++;
    try {
      if (!slots) return await callUnbounded(spec);
      await slots.acquire();
      try {
        return await callUnbounded(spec);
      } finally {
        slots.release();
      }
    } finally {
      pending--;
    }
  }

  const debugSpec = (
    inputToken: string,
    app: AppCredentials,
  ): CallSpec<z.infer<typeof debugTokenSchema>> => ({
    // Authenticated by the app token; a token cannot inspect itself (docs/FACEBOOK.md#debug_token, docs/FACEBOOK.md#what-goes-wrong-in-the-field item 7).
    endpoint: 'debug_token',
    path: '/debug_token',
    params: { input_token: inputToken },
    accessToken: appToken(app),
    app,
    schema: debugTokenSchema,
  });

  /**
   * Calls of one app as one batch request (src/graph/batch.ts): `POST /` with the app token at the
   * top and `batch=[{method:GET, relative_url:"debug_token?input_token=…"}, …]`; an item made with
   * another token (a Page token's probe) carries it, with its proof, in its own relative_url ("a
   * batch request may include calls with different access tokens"; the top one is the fallback).
   * The batch travels as a form body, so no token is in a URL on the wire. Each item's answer
   * `{code, headers, body}` is read like a single answer.
   */
  async function sendBatch<T>(label: string, specs: CallSpec<T>[]): Promise<(ItemResult<T> | undefined)[]> {
    const app = specs[0]!.app;
    const top = appToken(app);
    const relative = (spec: CallSpec<T>): string => {
      const params: Record<string, string> = { ...spec.params };
      if (spec.accessToken !== null && spec.accessToken !== top) {
        params.access_token = spec.accessToken;
        params.appsecret_proof = appsecretProof(spec.accessToken, app.appSecret);
      }
      return `${spec.path.replace(/^\/+/, '')}?${new URLSearchParams(params).toString()}`;
    };
    const envelope: CallSpec<z.infer<typeof batchAnswerSchema>> = {
      endpoint: `batch(${label})`,
      method: 'POST',
      path: '/',
      params: {
        batch: JSON.stringify(specs.map((spec) => ({ method: 'GET', relative_url: relative(spec) }))),
      },
      accessToken: top,
      app,
      schema: batchAnswerSchema,
    };
    const secrets = secretsOf(
      envelope,
      specs.flatMap((spec) => secretsOf(spec)),
    );
    const report = reporter(envelope.endpoint);
    const raw = await send(envelope, secrets, report);
    const answers = finish(envelope, raw, secrets, report, 0);
    return specs.map((spec, i) => {
      const a = answers[i];
      // An item Facebook did not run is made again alone.
      if (!a) return undefined;
      try {
        const value = finish(
          spec,
          { status: a.code, headers: batchItemHeaders(a.headers), text: a.body ?? '' },
          secretsOf(spec),
          reporter(spec.endpoint),
        );
        return { ok: true, value };
      } catch (e: unknown) {
        return { ok: false, error: e };
      }
    });
  }

  /** A batch queue for one kind of call (GRAPH_BATCH=auto), keyed by app; null when batching is off. */
  const queueOf = <T>(label: string) =>
    options.batch === 'auto'
      ? createBatchQueue<CallSpec<T>, T>({
          sendBatch: (_key, specs) => sendBatch(label, specs),
          sendSingle: (spec) => callUnbounded(spec),
          isRefusal: (e) => e instanceof GraphError && e.kind === 'invalid_request',
          ...(slots ? { slots } : {}),
        })
      : null;
  const debugQueue = queueOf<z.infer<typeof debugTokenSchema>>('debug_token');
  const probeQueue = queueOf<z.infer<typeof meSchema>>('me(page probe)');
  const batched = async <T>(queue: ReturnType<typeof queueOf<T>>, spec: CallSpec<T>): Promise<T> => {
    if (!queue) return call(spec);
    pending++;
    try {
      return await queue.call(`${spec.app.appId}|${spec.app.appSecret}`, spec);
    } finally {
      pending--;
    }
  };

  const ms = (s: number | undefined) => (s === undefined || s === 0 ? null : s * 1000);
  const exchanged = (r: z.infer<typeof accessTokenSchema>): ExchangedToken => {
    const expiresIn = r.expires_in ?? r.expires ?? null;
    const usable = expiresIn !== null && expiresIn > 0 ? expiresIn : null;
    return {
      accessToken: r.access_token,
      expiresIn: usable,
      expiresAt: usable === null ? null : options.clock.now() + usable * 1000,
    };
  };

  return {
    get usage() {
      return lastUsage;
    },
    batching: options.batch === 'auto',
    get pendingCalls() {
      return pending;
    },

    async debugToken(inputToken, app) {
      const r = await batched(debugQueue, debugSpec(inputToken, app));
      const d = r.data;
      return {
        isValid: d.is_valid,
        type: TOKEN_TYPES.includes(d.type as TokenType) ? (d.type as TokenType) : 'UNKNOWN',
        appId: d.app_id ?? null,
        application: d.application ?? null,
        expiresAt: ms(d.expires_at),
        dataAccessExpiresAt: ms(d.data_access_expires_at),
        issuedAt: ms(d.issued_at),
        scopes: d.scopes ?? [],
        granularScopes: (d.granular_scopes ?? []).map((g) => ({
          scope: g.scope,
          targetIds: g.target_ids ?? [],
        })),
        userId: d.user_id ?? null,
        profileId: d.profile_id ?? null,
        error: d.error
          ? { code: d.error.code, subcode: d.error.subcode ?? null, message: d.error.message ?? '' }
          : null,
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
      // Meta documents the exchange with client_id + client_secret and no `access_token`, so no
      // `appsecret_proof` either: a proof is an HMAC over the `access_token` a call sends
      // (https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived,
      // https://developers.facebook.com/docs/facebook-login/security/#appsecret). The official SDKs
      // do the same: php-graph-sdk's OAuth2Client signs only the `access_token` it sends.
      const r = await call({
        endpoint: 'oauth/access_token',
        path: '/oauth/access_token',
        params,
        accessToken: null,
        app,
        schema: accessTokenSchema,
        allowFormEncoded: true,
      });
      return exchanged(r);
    },

    async revokeToken(token, caller, app) {
      await call({
        endpoint: 'oauth/revoke',
        path: '/oauth/revoke',
        params: { client_id: app.appId, client_secret: app.appSecret, revoke_token: token },
        accessToken: caller,
        app,
        schema: revokeSchema,
      });
    },

    async getPageToken(pageId, userToken, app) {
      const endpoint = '{page-id}';
      const r = await call({
        endpoint,
        path: `/${encodeURIComponent(pageId)}`,
        params: { fields: 'access_token,name' },
        accessToken: userToken,
        app,
        schema: pageSchema,
      });
      if (r.access_token === undefined) {
        // Facebook leaves the field out for a Page the user did not tick in the Login dialog's
        // Page picker (the dialog reuses the previous selection unless asked again).
        throw new GraphError({
          kind: 'permission',
          endpoint,
          message: `Facebook returned Page ${r.id} without an access token: the Page was not selected when the app was authorised (Facebook's Login dialog asks which Pages to share); reconnect and tick this Page`,
        });
      }
      return { id: r.id, name: r.name ?? '', accessToken: r.access_token };
    },

    async listPageAccounts(userToken, app) {
      const out: PageAccount[] = [];
      const seen = new Set<string>();
      let after: string | undefined;
      for (let page = 0; page < maxAccountPages; page++) {
        const params: Record<string, string> = { fields: 'id,name,access_token,tasks' };
        if (after !== undefined) params.after = after;
        // We build the next request ourselves from the cursor: `paging.next` carries the token.
        const r = await call({
          endpoint: 'me/accounts',
          path: '/me/accounts',
          params,
          accessToken: userToken,
          app,
          schema: accountsSchema,
        });
        for (const a of r.data) {
          // A Page not ticked in the Login dialog comes back without an access_token: kept, so the
          // caller can say why there is no token for it.
          out.push({
            id: a.id,
            name: a.name ?? '',
            accessToken: a.access_token ?? null,
            tasks: a.tasks ?? [],
          });
        }
        const next = r.paging?.next ? (r.paging.cursors?.after ?? cursorFromNext(r.paging.next)) : undefined;
        if (next === undefined || seen.has(next)) return out;
        seen.add(next);
        after = next;
      }
      throw new GraphError({
        kind: 'transient',
        code: 'graph_bad_response',
        endpoint: 'me/accounts',
        message: `Facebook me/accounts paging did not end after ${maxAccountPages} pages`,
      });
    },

    async me(token, app) {
      const r = await call({
        endpoint: 'me',
        path: '/me',
        params: { fields: 'id,name' },
        accessToken: token,
        app,
        schema: meSchema,
      });
      return { id: r.id, name: r.name ?? '' };
    },

    async probePageToken(pageToken, app) {
      // Batched with the other probes of the moment (GRAPH_BATCH=auto), each item with its own token.
      const r = await batched(probeQueue, {
        endpoint: 'me(page probe)',
        path: '/me',
        params: { fields: 'id' },
        accessToken: pageToken,
        app,
        schema: meSchema,
        bucket: 'page',
      });
      return { id: r.id };
    },

    async exchangeCode(code, redirectUri, app) {
      // No access token yet: the client secret authenticates the call, so no proof is sent.
      const r = await call({
        endpoint: 'oauth/access_token(code)',
        path: '/oauth/access_token',
        params: { client_id: app.appId, client_secret: app.appSecret, redirect_uri: redirectUri, code },
        accessToken: null,
        app,
        schema: accessTokenSchema,
        allowFormEncoded: true,
      });
      return exchanged(r);
    },

    async postToFeed(pageId, pageToken, message, app) {
      // POST with a form body: the token and the message travel in the body, not the URL.
      const r = await call({
        endpoint: '{page-id}/feed',
        method: 'POST',
        path: `/${encodeURIComponent(pageId)}/feed`,
        params: { message },
        accessToken: pageToken,
        app,
        schema: postSchema,
        bucket: 'page',
      });
      return { id: r.id };
    },
  };
}

function secretParams(params: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['input_token', 'fb_exchange_token', 'revoke_token', 'client_secret', 'code'] as const) {
    const v = params[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

function cursorFromNext(next: string): string | undefined {
  try {
    return new URL(next).searchParams.get('after') ?? undefined;
  } catch {
    return undefined;
  }
}
