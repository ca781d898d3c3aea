/**
 * The emulator's HTTP side: routing of the Graph endpoints we use onto the model (state.ts), the
 * pinned version (docs/FACEBOOK.md#versions), `appsecret_proof` checking (docs/FACEBOOK.md#appsecret_proof), usage headers (docs/FACEBOOK.md#throttling), fault and
 * latency injection, and the record of calls. Sections: docs/FACEBOOK.md.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MINUTE } from '../clock.js';
import {
  BudgetModel,
  CALLS_PER_USER_PER_HOUR,
  ITEM_CPU,
  ITEM_TIME,
  maxPercent,
  PAGE_CALLS_PER_HOUR,
  ROUND_TRIP_TIME,
  SINGLE_CALL,
  type UsagePercent,
} from './budget.js';
import { confirmDialog, renderDialog } from './dialog.js';
import { isPlatformDialog, isPlatformPrefix, routePlatform } from './platform-http.js';
import type { RefreshablePlatform, RefreshableWorld } from './refreshable.js';
import {
  type AppRecord,
  fbtraceId,
  type FakeGraphState,
  GraphFailure,
  noSuchObject,
  type TokenRecord,
} from './state.js';

export const FAULT_KINDS = [
  'http_500',
  'transient_code_1',
  'transient_code_2',
  'is_transient',
  'html',
  'malformed_json',
  'wrong_shape',
  'timeout',
  'throttle_app',
  'throttle_user',
  'throttle_page',
  'throttle_buc',
  'throttle_app_341',
  'throttle_custom_613',
  'policy_block_368',
  'page_permission_190',
  'unsupported_get_100_33',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultSpec {
  /** Substring of the request pathname (e.g. `/debug_token`); all Graph paths when absent. */
  path?: string;
  kind: FaultKind;
  /** How many requests it hits (default 1; `Infinity` allowed). */
  times?: number;
  /** Chance (0..1) that a matching request is hit; a miss does not use up `times`. */
  probability?: number;
  /** throttle_buc: `estimated_time_to_regain_access` in minutes (default 15). */
  regainMinutes?: number;
  /**
   * throttle_app: how long the app stays blocked after the last call it made while blocked, in
   * minutes (default 60). Every call during the block answers #4 again and extends it.
   */
  blockMinutes?: number;
}

export interface RecordedCall {
  method: string;
  /** Pathname only (no query: it carries secrets). */
  path: string;
  /** Parameter NAMES only, sorted. */
  params: string[];
  at: number;
  status: number;
  fbCode: number | null;
  /** What the emulator made of `appsecret_proof` (`none`: the call carried no token to prove). */
  proof: 'valid' | 'invalid' | 'missing' | 'none';
  fault: FaultKind | null;
  /** Set on the items of a batch request (the request itself is recorded too, as `POST /{version}/`). */
  batch?: true;
}

/** "up to 50 requests" per batch (https://developers.facebook.com/docs/graph-api/batch-requests). */
export const MAX_BATCH = 50;

export interface HttpLayerOptions {
  version: string;
  requireAppsecretProof: boolean;
  random: () => number;
  /** Instagram Login and Threads, served under `/instagram` and `/threads` (platform-http.ts). */
  platforms: Record<RefreshablePlatform, RefreshableWorld>;
}

interface Reply {
  status: number;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
}

/** Request context collected while routing: which app / Page the usage headers are about. */
interface Ctx {
  app: AppRecord | null;
  rec: TokenRecord | null;
  proof: RecordedCall['proof'];
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Reply => ({
  status,
  body,
  headers,
});
const failure = (f: GraphFailure, headers: Record<string, string> = {}): Reply =>
  json(f.status, f.body(), headers);
const oauthError = (status: number, code: number, message: string, extra: Record<string, unknown> = {}) =>
  json(status, { error: { message, type: 'OAuthException', code, ...extra, fbtrace_id: fbtraceId() } });

/** docs/FACEBOOK.md#appsecret_proof: hex HMAC-SHA256(key = app secret, message = access token), compared in constant time. */
function proofMatches(token: string, secret: string, proof: string): boolean {
  const expected = Buffer.from(createHmac('sha256', secret).update(token).digest('hex'));
  const given = Buffer.from(proof);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function createHttpLayer(state: FakeGraphState, options: HttpLayerOptions) {
  const { version } = options;
  const faults: (FaultSpec & { remaining: number })[] = [];
  const calls: RecordedCall[] = [];
  const held = new Set<ServerResponse>();
  let latencyMs = 0;
  const budget = new BudgetModel(state.clock);
  /** `${appId} ${path}` → calls per rolling hour: Meta's #613 "custom rate limit" on one endpoint. */
  const customLimits = new Map<string, { appId: string; path: string; callsPerHour: number }>();
  /** Paths refused inside a batch (Meta does not document which calls a batch accepts). */
  const refusedInBatch = new Set<string>();

  /** The app's Platform budget: 200 × its daily users when set, else 200 × the world's users, never throttled. */
  /** The daily users an app without a set number is budgeted for (see platformCapacity). */
  const UNBUDGETED_USERS = 1000;
  function platformCapacity(app: AppRecord): { capacity: number; budgeted: boolean } {
    const users = app.dailyUsers ?? null;
    return users === null
      ? // Not budgeted: an app with 1,000 daily users, so that its headers stay near 0 % and a
        // keeper's pacing never holds back the checks of tests that are not about the budget.
        { capacity: CALLS_PER_USER_PER_HOUR * Math.max(UNBUDGETED_USERS, state.users.size), budgeted: false }
      : { capacity: CALLS_PER_USER_PER_HOUR * users, budgeted: true };
  }

  /** The Business Use Case object a Page or system-user token's calls count against. */
  const bucOf = (who: Who): string | null =>
    who.kind === 'PAGE'
      ? (who.rec?.pageId ?? null)
      : who.kind === 'SYSTEM_USER'
        ? (who.rec?.systemUserId ?? null)
        : null;

  const asHeader = (u: UsagePercent) => JSON.stringify(u);
  const bucHeader = (id: string, u: UsagePercent, regainMinutes: number) =>
    JSON.stringify({ [id]: [{ type: 'pages', ...u, estimated_time_to_regain_access: regainMinutes }] });

  /**
   * docs/FACEBOOK.md#throttling (https://developers.facebook.com/docs/graph-api/overview/rate-limiting): calls with an app
   * or user token count against the app's Platform limit ("200 * Number of Users" per hour) and
   * get X-App-Usage; calls with a Page or system-user token count against Business Use Case limits
   * and get X-Business-Use-Case-Usage (type `pages`, 4800 calls/hour; Page tokens also
   * X-Page-Usage). No X-App-Usage while usage rounds to 0 %: Meta sends the headers "once enough
   * calls have been made", and not when utilization "is effectively 0%". An app that is not
   * budgeted (no daily users set) counts as an app with 1,000 daily users and reports at most 99 %.
   */
  function usageHeaders(who: Who): Record<string, string> {
    const h: Record<string, string> = {};
    const app = who.appId === null ? undefined : state.apps.get(who.appId);
    if (app && (who.kind === 'APP' || who.kind === 'USER')) {
      const { capacity, budgeted } = platformCapacity(app);
      const u = budget.percent(`app:${app.appId}`, capacity);
      const shown = budgeted ? u : capAt99(u);
      if (maxPercent(shown) > 0) h['x-app-usage'] = asHeader(shown);
    }
    const buc = bucOf(who);
    if (buc) {
      // At least 1 % once a call was made: the Page limit's 1 % is 48 calls, and the keeper's
      // header parsing is exercised on every Page-token call (unverified: how soon Facebook starts
      // sending these).
      const raw = budget.percent(`buc:${buc}`, PAGE_CALLS_PER_HOUR);
      const u = {
        call_count: Math.max(1, raw.call_count),
        total_time: Math.max(1, raw.total_time),
        total_cputime: Math.max(1, raw.total_cputime),
      };
      const shown = app && platformCapacity(app).budgeted ? u : capAt99(u);
      if (who.kind === 'PAGE') h['x-page-usage'] = asHeader(shown);
      h['x-business-use-case-usage'] = bucHeader(buc, shown, 0);
    }
    return h;
  }

  /**
   * A budgeted app's call refused because a budget it counts against is spent (checked before the
   * call; the call is charged all the same: "Continuing to make calls will continue to increase
   * your call count", rate-limiting page). Codes as Meta documents them: #4 app limit, #17 user
   * limit, #32 a user token's Pages API call, #613 a custom limit, #80001 a Page token's Page.
   */
  function overBudget(who: Who, path: string): Reply | null {
    const app = who.appId === null ? undefined : state.apps.get(who.appId);
    if (!app || !platformCapacity(app).budgeted) return null;
    const buc = bucOf(who);
    if (buc) {
      const u = budget.percent(`buc:${buc}`, PAGE_CALLS_PER_HOUR);
      if (maxPercent(u) < 100) return null;
      return {
        ...oauthError(
          400,
          80001,
          '(#80001) There have been too many calls to this Page account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.',
        ),
        headers: { 'x-business-use-case-usage': bucHeader(buc, u, 60) },
      };
    }
    if (who.kind !== 'APP' && who.kind !== 'USER') return null;
    for (const limit of customLimits.values()) {
      if (limit.appId !== app.appId || !path.includes(limit.path)) continue;
      if (budget.calls(`custom:${app.appId} ${limit.path}`) >= limit.callsPerHour) {
        return oauthError(400, 613, '(#613) Calls to this api have exceeded the rate limit.');
      }
    }
    const userLimit = budget.userLimit(app.appId);
    if (
      who.kind === 'USER' &&
      userLimit !== null &&
      budget.calls(`user:${app.appId}:${who.rec?.userId ?? ''}`) >= userLimit
    ) {
      return oauthError(400, 17, '(#17) User request limit reached', { is_transient: true });
    }
    const u = budget.percent(`app:${app.appId}`, platformCapacity(app).capacity);
    if (maxPercent(u) < 100) return null;
    // "32: User or app whose token is being used in the Pages API request has reached its rate limit".
    const pagesApi = /^\d+$/.test(path.split('/').filter(Boolean)[1] ?? '');
    const r =
      who.kind === 'USER' && pagesApi
        ? oauthError(400, 32, '(#32) Page request limit reached')
        : oauthError(403, 4, '(#4) Application request limit reached', { is_transient: true });
    return { ...r, headers: { 'x-app-usage': asHeader(u) } };
  }

  /** Charges one call (or one batch item, `item: true`) to every budget it counts against. */
  function chargeCall(who: Who, path: string, item: boolean): void {
    const charge = item ? { calls: 1, time: ITEM_TIME, cpu: ITEM_CPU } : SINGLE_CALL;
    const buc = bucOf(who);
    if (buc) return budget.charge(`buc:${buc}`, charge);
    if (who.appId === null || (who.kind !== 'APP' && who.kind !== 'USER')) return;
    budget.charge(`app:${who.appId}`, charge);
    if (who.kind === 'USER') budget.charge(`user:${who.appId}:${who.rec?.userId ?? ''}`, charge);
    for (const limit of customLimits.values()) {
      if (limit.appId === who.appId && path.includes(limit.path)) {
        budget.charge(`custom:${who.appId} ${limit.path}`, charge);
      }
    }
  }

  interface Who {
    appId: string | null;
    kind: TokenRecord['kind'] | 'APP' | null;
    rec: TokenRecord | null;
  }

  /** Who a request claims to be, before routing: the app and the kind of its token. */
  function caller(q: URLSearchParams): Who {
    const token = q.get('access_token');
    if (token === null) return { appId: q.get('client_id'), kind: 'APP', rec: null };
    const bar = token.indexOf('|');
    if (bar > 0) return { appId: token.slice(0, bar), kind: 'APP', rec: null };
    const rec = state.tokens.get(token);
    return rec ? { appId: rec.appId, kind: rec.kind, rec } : { appId: null, kind: null, rec: null };
  }

  // ---- faults --------------------------------------------------------------------------------

  /** appId → when its #4 block ends (each call during the block moves it on). */
  const appBlocks = new Map<string, { until: number; blockMs: number }>();

  function takeFault(path: string): (FaultSpec & { remaining: number }) | null {
    for (const f of faults) {
      if (f.remaining <= 0) continue;
      if (f.path !== undefined && !path.includes(f.path)) continue;
      if (f.probability !== undefined && options.random() >= f.probability) continue;
      f.remaining--;
      return f;
    }
    return null;
  }

  const appLimit = (): Reply => ({
    // docs/FACEBOOK.md#the-error-envelope [I13]: "(#4) Application request limit reached" with is_transient: true.
    ...oauthError(403, 4, '(#4) Application request limit reached', { is_transient: true }),
    headers: { 'x-app-usage': JSON.stringify({ call_count: 100, total_cputime: 34, total_time: 57 }) },
  });

  /**
   * The documented bodies and headers of each failure (docs/FACEBOOK.md#the-error-envelope, docs/FACEBOOK.md#throttling, docs/FACEBOOK.md#what-goes-wrong-in-the-field, docs/FACEBOOK.md#sample-answers). Throttling codes follow
   * the token kind (https://developers.facebook.com/docs/graph-api/overview/rate-limiting): BUC
   * codes (80001…) only for Page and system-user tokens; with an app or user token the same
   * fault answers with the Platform code (#4 for an app token, #32 for a user token on a Page).
   */
  function faultReply(f: FaultSpec, path: string, who: Who): Reply | 'hold' {
    const objectId = path.split('/').filter(Boolean)[1] ?? '';
    const pageId = /^\d+$/.test(objectId) ? objectId : '0';
    const platform = who.kind === 'APP' || who.kind === 'USER';
    if (f.kind === 'throttle_buc' && platform) {
      return who.kind === 'APP' ? appLimit() : oauthError(400, 32, '(#32) Page request limit reached');
    }
    switch (f.kind) {
      case 'http_500':
        return { status: 500, raw: '' };
      case 'transient_code_1':
        return oauthError(500, 1, 'An unknown error has occurred.');
      case 'transient_code_2':
        return oauthError(500, 2, 'An unexpected error has occurred. Please retry your request later.');
      case 'is_transient':
        // docs/FACEBOOK.md#the-error-envelope / docs/FACEBOOK.md#what-goes-wrong-in-the-field item 8 [I10]: `is_transient: true` under HTTP 401. The code (1200) is one the
        // client has no rule for, so only the flag can make it transient, and the 401 must not
        // be read as an authentication failure.
        return oauthError(401, 1200, 'Temporary issue due to downtime. Please retry your request later.', {
          is_transient: true,
        });
      case 'html':
        return {
          status: 502,
          raw: '<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>',
          headers: { 'content-type': 'text/html; charset=utf-8' },
        };
      case 'malformed_json':
        return { status: 200, raw: '{"data": {"is_valid": tru' };
      case 'wrong_shape':
        return json(200, { result: 'ok', unexpected: ['shape'] });
      case 'timeout':
        return 'hold';
      case 'throttle_app':
        // "Continuing to make calls will continue to increase your call count, which will increase
        // the time before calls will be successful again" (rate-limiting page): the app stays
        // blocked while it keeps calling.
        if (who.appId !== null) {
          const blockMs = (f.blockMinutes ?? 60) * MINUTE;
          appBlocks.set(who.appId, { until: state.clock.now() + blockMs, blockMs });
        }
        return appLimit();
      case 'throttle_user':
        // docs/FACEBOOK.md#codes-and-what-the-keeper-does (https://developers.facebook.com/docs/graph-api/guides/error-handling): #17, user level.
        return oauthError(400, 17, '(#17) User request limit reached', { is_transient: true });
      case 'throttle_app_341':
        // docs/FACEBOOK.md#codes-and-what-the-keeper-does: #341 "Application limit reached".
        return oauthError(400, 341, '(#341) Application limit reached');
      case 'throttle_custom_613':
        // docs/FACEBOOK.md#throttling: #613 "custom rate limit" (rate-limiting page).
        return oauthError(400, 613, '(#613) Calls to this api have exceeded the rate limit.');
      case 'policy_block_368':
        // docs/FACEBOOK.md#codes-and-what-the-keeper-does: #368 "Temporarily blocked for policies violations", "Wait and retry the operation".
        return oauthError(
          400,
          368,
          'It looks like you were misusing this feature by going too fast. You’ve been temporarily blocked from using it.',
        );
      case 'page_permission_190':
        // docs/FACEBOOK.md#misread-errors: a 190 about one Page's permissions (the same login still
        // works for its other Pages), in the words Facebook used in 2025–26.
        return oauthError(
          400,
          190,
          "(#190) Any of the pages_read_engagement, pages_manage_metadata, pages_read_user_content, pages_manage_ads, pages_show_list or pages_messaging permission(s) must be granted before impersonating a user's page.",
        );
      case 'unsupported_get_100_33':
        // docs/FACEBOOK.md#misread-errors: what valid Page tokens got during a Meta incident (May 2026).
        return json(400, {
          error: {
            message: `Unsupported get request. Object with ID '${objectId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
            type: 'GraphMethodException',
            code: 100,
            error_subcode: 33,
            fbtrace_id: fbtraceId(),
          },
        });
      case 'throttle_page':
        // docs/FACEBOOK.md#the-error-envelope [S9]: "(#32) Page request limit reached".
        return {
          ...oauthError(400, 32, '(#32) Page request limit reached'),
          headers: { 'x-page-usage': JSON.stringify({ call_count: 100, total_cputime: 41, total_time: 63 }) },
        };
      case 'throttle_buc':
        // docs/FACEBOOK.md#throttling [S9] verbatim 80001 message, with the BUC header at 100 and a time to regain access.
        return {
          ...oauthError(
            400,
            80001,
            '(#80001) There have been too many calls to this Page account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.',
          ),
          headers: {
            'x-business-use-case-usage': JSON.stringify({
              [pageId]: [
                {
                  type: 'pages',
                  call_count: 100,
                  total_cputime: 30,
                  total_time: 45,
                  estimated_time_to_regain_access: f.regainMinutes ?? 15,
                },
              ],
            }),
          },
        };
    }
  }

  // ---- Graph routes (docs/FACEBOOK.md#the-calls-the-keeper-makes) ---------------------------------------------------------------------

  function checkProof(
    token: string,
    app: AppRecord,
    proof: string | null,
    ctx: Ctx,
    required: boolean,
  ): void {
    if (proof === null) {
      ctx.proof = 'missing';
      if (required && options.requireAppsecretProof) {
        throw new GraphFailure(
          400,
          100,
          'API calls from the server require an appsecret_proof argument',
          null,
          'GraphMethodException',
        );
      }
      return;
    }
    ctx.proof = proofMatches(token, app.appSecret, proof) ? 'valid' : 'invalid';
    // A wrong proof is always refused (docs/FACEBOOK.md#what-goes-wrong-in-the-field item 12 [I16]).
    if (ctx.proof === 'invalid') {
      throw invalidProof();
    }
  }

  /** Facebook's answer to a proof that does not match (Login Security; one wording for every route). */
  function invalidProof(): GraphFailure {
    return new GraphFailure(
      400,
      100,
      'Invalid appsecret_proof provided in the API argument',
      null,
      'GraphMethodException',
    );
  }

  function route(method: string, segments: string[], q: URLSearchParams, ctx: Ctx): Reply {
    const [first, second] = segments;

    // docs/FACEBOOK.md#exchanging-for-a-long-lived-token / Login: /oauth/access_token, authenticated by client_id + client_secret.
    if (first === 'oauth' && second === 'access_token' && segments.length === 2) {
      const app = state.clientApp(q.get('client_id') ?? undefined, q.get('client_secret') ?? undefined);
      ctx.app = app;
      // Authenticated by client_id + client_secret: the documented requests (code redemption and
      // the exchange) send no `access_token` and so no proof
      // (https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived).
      // A proof is an HMAC over the call's `access_token`
      // (https://developers.facebook.com/docs/facebook-login/security/#appsecret): one that does
      // not match the `access_token` parameter, or comes without one (e.g. computed over
      // `fb_exchange_token`), is refused; Meta does not document that case, this is the strict
      // reading, so a keeper that passes here sends only what Meta documents.
      const sentToken = q.get('access_token');
      const sentProof = q.get('appsecret_proof');
      if (sentToken !== null) checkProof(sentToken, app, sentProof, ctx, false);
      else if (sentProof !== null) {
        ctx.proof = 'invalid';
        throw invalidProof();
      }
      const code = q.get('code');
      if (code !== null) return json(200, state.redeemCode(app, code, q.get('redirect_uri') ?? undefined));
      const grant = q.get('grant_type');
      if (grant === 'client_credentials') {
        return json(200, { access_token: `${app.appId}|${app.appSecret}`, token_type: 'bearer' });
      }
      if (grant !== 'fb_exchange_token') {
        throw new GraphFailure(400, 100, `Unsupported grant_type "${grant ?? ''}"`);
      }
      const token = q.get('fb_exchange_token') ?? '';
      return json(200, state.exchange(app, token, q.get('set_token_expires_in_60_days') === 'true'));
    }

    // docs/FACEBOOK.md#rotating-an-expiring-system-user-token: client id + secret name the app,
    // `access_token` is the caller (proof-checked like any call), `revoke_token` the token to kill.
    if (first === 'oauth' && second === 'revoke' && segments.length === 2) {
      const app = state.clientApp(q.get('client_id') ?? undefined, q.get('client_secret') ?? undefined);
      ctx.app = app;
      const caller = q.get('access_token');
      if (!caller) throw new GraphFailure(400, 104, 'An access token is required to request this resource.');
      checkProof(caller, app, q.get('appsecret_proof'), ctx, true);
      return json(200, state.revoke(app, caller, q.get('revoke_token') ?? undefined));
    }

    const accessToken = q.get('access_token');
    if (!accessToken) {
      throw new GraphFailure(400, 104, 'An access token is required to request this resource.');
    }
    // An app token `id|secret` of a known app is proof-checked against the app's real secret
    // first: with a wrong secret in the token, the proof (made with the same wrong secret) fails
    // as "Invalid appsecret_proof" (#100) rather than as a token problem.
    const claimed = accessToken.includes('|')
      ? state.apps.get(accessToken.slice(0, accessToken.indexOf('|')))
      : undefined;
    if (claimed) checkProof(accessToken, claimed, q.get('appsecret_proof'), ctx, true);
    const auth = state.authenticate(accessToken);
    ctx.app = auth.app;
    ctx.rec = auth.rec;
    if (!claimed) checkProof(accessToken, auth.app, q.get('appsecret_proof'), ctx, true);

    // docs/FACEBOOK.md#debug_token: GET only, authenticated by an app token of the input token's app.
    if (first === 'debug_token' && segments.length === 1) {
      if (method !== 'GET') {
        throw new GraphFailure(400, 100, 'Unsupported post request.', 33, 'GraphMethodException');
      }
      const viewer = state.debugCaller(auth.app, auth.rec);
      return json(200, state.debugToken(viewer, q.get('input_token') ?? undefined));
    }

    const rec = auth.rec;
    if (rec === null) {
      throw new GraphFailure(
        400,
        2500,
        'An active access token must be used to query information about the current user.',
      );
    }
    state.requireValid(rec);

    // docs/FACEBOOK.md#who-a-token-belongs-to-me
    if (first === 'me' && segments.length === 1 && method === 'GET') {
      const fields = (q.get('fields') ?? 'id,name').split(',').map((f) => f.trim());
      return json(200, state.me(rec, fields));
    }

    // docs/FACEBOOK.md#minting-the-page-token option 1, cursor paging 25 per page.
    if (first === 'me' && second === 'accounts' && segments.length === 2 && method === 'GET') {
      if (rec.kind === 'PAGE') {
        throw new GraphFailure(
          400,
          100,
          '(#100) Tried accessing nonexisting field (accounts) on node type (Page)',
        );
      }
      if (!rec.scopes.includes('pages_show_list')) {
        throw new GraphFailure(403, 200, '(#200) Requires pages_show_list permission to manage the object');
      }
      return json(200, accounts(rec, q));
    }

    const pageId = first ?? '';
    // docs/FACEBOOK.md#posting: the Page feed. GET lists the posts (to check before re-posting, docs/FACEBOOK.md#what-this-means-for-a-token-keeper).
    if (segments.length === 2 && second === 'feed') {
      if (method === 'POST') return json(200, state.post(rec, pageId, q.get('message') ?? undefined));
      const page = state.pages.get(pageId);
      if (!page) throw noSuchObject(pageId, 'get');
      return json(200, {
        data: [...page.posts]
          .reverse()
          .map((p) => ({ id: p.id, message: p.message, created_time: new Date(p.at).toISOString() })),
      });
    }

    // docs/FACEBOOK.md#minting-the-page-token option 2: /{page-id}?fields=access_token,name
    if (segments.length === 1 && method === 'GET') {
      const page = state.pages.get(pageId);
      if (!page) throw noSuchObject(pageId, 'get');
      const fields = (q.get('fields') ?? 'id,name').split(',').map((f) => f.trim());
      const body: Record<string, unknown> = { id: page.id };
      if (fields.includes('name')) body.name = page.name;
      if (fields.includes('access_token')) {
        if (rec.kind === 'PAGE') {
          // A Page token answers for its own Page with itself.
          if (rec.pageId !== pageId) throw noSuchObject(pageId, 'get');
          body.access_token = rec.token;
        } else if (state.granted(rec, pageId) || !page.roles.has(rec.userId ?? '')) {
          body.access_token = state.mintPageToken(rec, pageId).token;
        }
        // A Page not ticked in the Login dialog's Page picker comes back without `access_token`.
      }
      return json(200, body);
    }
    throw noSuchObject(pageId || segments.join('/'), method === 'POST' ? 'post' : 'get');
  }

  /** Cursors are opaque base64 offsets; `paging.next` is a full URL carrying the token, as Facebook's does. */
  function accounts(rec: TokenRecord, q: URLSearchParams): Record<string, unknown> {
    const all = state.accountPages(rec);
    const pageSize = 25;
    const after = q.get('after');
    const start = after ? Number(Buffer.from(after, 'base64url').toString('utf8')) || 0 : 0;
    const slice = all.slice(start, start + pageSize);
    const cursor = (n: number) => Buffer.from(String(n)).toString('base64url');
    // docs/FACEBOOK.md#minting-the-page-token: each entry carries the Page token and the user's `tasks` on the Page
    // (https://developers.facebook.com/docs/pages-api/manage-pages); a Page not ticked in the
    // Login dialog's Page picker has no `access_token`.
    const data = slice.map(({ page: p, granted }) => ({
      ...(granted ? { access_token: state.mintPageToken(rec, p.id).token } : {}),
      category: 'Brand',
      category_list: [{ id: '1605186416478696', name: 'Brand' }],
      name: p.name,
      id: p.id,
      tasks: state.tasksOf(rec, p),
    }));
    const paging: Record<string, unknown> = {
      cursors: { before: cursor(start), after: cursor(start + slice.length) },
    };
    if (start + pageSize < all.length) {
      const next = new URLSearchParams(q);
      next.set('after', cursor(start + pageSize));
      next.delete('appsecret_proof');
      paging.next = `https://graph.facebook.com/${version}/me/accounts?${next.toString()}`;
    }
    return { data, paging };
  }

  // ---- the request handler ---------------------------------------------------------------------

  async function readBody(req: IncomingMessage): Promise<string> {
    let body = '';
    for await (const chunk of req) {
      body += String(chunk);
      if (body.length > 1_000_000) throw new Error('request body too large');
    }
    return body;
  }

  function send(res: ServerResponse, r: Reply): void {
    res.statusCode = r.status;
    res.setHeader('content-type', r.headers?.['content-type'] ?? 'application/json; charset=UTF-8');
    res.setHeader('facebook-api-version', version);
    res.setHeader('x-fb-trace-id', fbtraceId());
    for (const [k, v] of Object.entries(r.headers ?? {})) res.setHeader(k, v);
    res.end(r.raw ?? JSON.stringify(r.body));
  }

  /** Handles everything but the control API. */
  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    const body = await readBody(req);
    const q = new URLSearchParams(url.searchParams);
    const type = req.headers['content-type'] ?? '';
    if (method === 'POST' && type.includes('application/x-www-form-urlencoded')) {
      for (const [k, v] of new URLSearchParams(body)) q.append(k, v);
    } else if (method === 'POST' && type.includes('application/json') && body.trim() !== '') {
      try {
        for (const [k, v] of Object.entries(JSON.parse(body) as Record<string, unknown>)) q.set(k, String(v));
      } catch {
        // Facebook would answer with a parse error; the params from the query still apply.
      }
    }
    const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const record: RecordedCall = {
      method,
      path: url.pathname,
      params: [...new Set(q.keys())].sort(),
      at: state.clock.now(),
      status: 0,
      fbCode: null,
      proof: 'none',
      fault: null,
    };
    calls.push(record);

    if (isPlatformPrefix(segments[0])) {
      const platformRest = segments.slice(1);
      if (!isPlatformDialog(platformRest)) {
        if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
        const fault = takeFault(url.pathname);
        if (fault) {
          record.fault = fault.kind;
          const r = faultReply(fault, url.pathname, { appId: null, kind: 'USER', rec: null });
          if (r === 'hold') {
            held.add(res);
            res.on('close', () => held.delete(res));
            return;
          }
          record.status = r.status;
          record.fbCode = fbCodeOf(r.body);
          return send(res, r);
        }
      }
      const r = routePlatform(options.platforms[segments[0]], method, platformRest, q);
      record.status = r.status;
      record.fbCode = r.headers['content-type']?.includes('json') ? fbCodeOf(JSON.parse(r.body)) : null;
      res.writeHead(r.status, r.headers);
      res.end(r.body);
      return;
    }

    // docs/FACEBOOK.md#versions: the version is pinned in the path; anything else is refused (the emulator is stricter
    // than Facebook, which routes unversioned calls to a default version).
    if (segments[0] !== version) {
      const r = oauthError(
        400,
        2500,
        `Unknown path components: /${segments.join('/')} (this server serves ${version})`,
      );
      record.status = r.status;
      record.fbCode = 2500;
      return send(res, r);
    }
    const rest = segments.slice(1);

    // The Login dialog (not a Graph call: no faults, latency or usage headers).
    if (rest[0] === 'dialog' && rest[1] === 'oauth') {
      const r =
        rest[2] === 'confirm' && method === 'POST'
          ? confirmDialog(state, q)
          : renderDialog(state, version, q);
      record.status = r.status;
      res.writeHead(r.status, r.headers);
      res.end(r.body);
      return;
    }

    if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
    const r =
      rest.length === 0 && method === 'POST' && q.has('batch')
        ? answerBatch(q, record)
        : answerOne(method, rest, q, url.pathname, record, false);
    if (r === 'hold') {
      // Hold the request until the client gives up (or the emulator closes).
      held.add(res);
      res.on('close', () => held.delete(res));
      return;
    }
    send(res, r);
  }

  /**
   * One Graph call (or one item of a batch, `item: true`): a lasting #4 block, an injected fault, a
   * spent budget, or the route's answer with the usage headers. Fills in `record`.
   */
  function answerOne(
    method: string,
    rest: string[],
    q: URLSearchParams,
    pathname: string,
    record: RecordedCall,
    item: boolean,
  ): Reply | 'hold' {
    const who = caller(q);
    const block = who.appId === null ? undefined : appBlocks.get(who.appId);
    if (block && who.appId !== null) {
      const now = state.clock.now();
      if (now < block.until) {
        // Still blocked: this call answers #4 too and moves the end of the block.
        block.until = now + block.blockMs;
        const r = appLimit();
        record.fault = 'throttle_app';
        record.status = r.status;
        record.fbCode = 4;
        return r;
      }
      appBlocks.delete(who.appId);
    }
    const fault = takeFault(pathname);
    if (fault) {
      record.fault = fault.kind;
      const r = faultReply(fault, pathname, who);
      if (r === 'hold') return r;
      record.status = r.status;
      record.fbCode = fbCodeOf(r.body);
      return r;
    }
    const spent = overBudget(who, pathname);
    chargeCall(who, pathname, item);
    if (spent) {
      record.status = spent.status;
      record.fbCode = fbCodeOf(spent.body);
      return spent;
    }

    const ctx: Ctx = { app: null, rec: null, proof: 'none' };
    let r: Reply;
    try {
      r = route(method, rest, q, ctx);
    } catch (e: unknown) {
      if (!(e instanceof GraphFailure)) throw e;
      r = failure(e);
    }
    r = { ...r, headers: { ...usageHeaders(who), ...r.headers } };
    record.status = r.status;
    record.fbCode = fbCodeOf(r.body);
    record.proof = ctx.proof;
    return r;
  }

  /**
   * docs/EMULATOR.md "Batch requests" (https://developers.facebook.com/docs/graph-api/batch-requests):
   * `POST /{version}/` with `batch=[{"method","relative_url","body"?}, …]` (at most 50) and a
   * top-level `access_token`, which an item without its own inherits. The answer is an array of
   * `{code, headers:[{name,value}], body:"<JSON text>"}`, one per item, in order. Each item is a
   * call of its own (faults, budgets, the record of calls, marked `batch: true`); the request
   * itself adds one round trip of time to the caller's budget, no call count.
   */
  function answerBatch(q: URLSearchParams, envelope: RecordedCall): Reply | 'hold' {
    const done = (r: Reply): Reply => {
      envelope.status = r.status;
      envelope.fbCode = fbCodeOf(r.body);
      return r;
    };
    const token = q.get('access_token');
    if (!token) return done(oauthError(400, 104, 'An access token is required to request this resource.'));
    let items: unknown;
    try {
      items = JSON.parse(q.get('batch') ?? '');
    } catch {
      items = null;
    }
    if (!Array.isArray(items) || items.length === 0) {
      return done(oauthError(400, 100, '(#100) The parameter batch must be a JSON array of requests'));
    }
    if (items.length > MAX_BATCH) {
      return done(
        oauthError(400, 100, `(#100) Too many requests in batch message. Maximum batch size is ${MAX_BATCH}`),
      );
    }
    const top = caller(q);
    budget.charge(bucOf(top) === null ? `app:${top.appId ?? ''}` : `buc:${bucOf(top) ?? ''}`, {
      calls: 0,
      time: ROUND_TRIP_TIME,
      cpu: 0,
    });
    const answers: unknown[] = [];
    for (const raw of items) {
      const it = raw as { method?: unknown; relative_url?: unknown; body?: unknown };
      const method = typeof it.method === 'string' ? it.method.toUpperCase() : '';
      if ((method !== 'GET' && method !== 'POST') || typeof it.relative_url !== 'string') {
        answers.push(
          itemAnswer(oauthError(400, 100, '(#100) Each batch request needs a method and a relative_url')),
        );
        continue;
      }
      const rel = new URL(it.relative_url.replace(/^\/+/, ''), `http://graph/${version}/`);
      const iq = new URLSearchParams(rel.searchParams);
      if (typeof it.body === 'string') for (const [k, v] of new URLSearchParams(it.body)) iq.append(k, v);
      if (!iq.has('access_token')) {
        iq.set('access_token', token);
        const proof = q.get('appsecret_proof');
        if (proof !== null && !iq.has('appsecret_proof')) iq.set('appsecret_proof', proof);
      }
      const record: RecordedCall = {
        method,
        path: rel.pathname,
        params: [...new Set(iq.keys())].sort(),
        at: state.clock.now(),
        status: 0,
        fbCode: null,
        proof: 'none',
        fault: null,
        batch: true,
      };
      calls.push(record);
      const segs = rel.pathname.split('/').filter(Boolean).map(decodeURIComponent).slice(1);
      if ([...refusedInBatch].some((p) => rel.pathname.includes(p))) {
        // How Facebook refuses a call type inside a batch is not documented: an item-level #100.
        const r = oauthError(400, 100, `(#100) ${segs.join('/')} is not supported in batch requests`);
        record.status = r.status;
        record.fbCode = 100;
        answers.push(itemAnswer(r));
        continue;
      }
      const r = answerOne(method, segs, iq, rel.pathname, record, true);
      if (r === 'hold') return 'hold';
      answers.push(itemAnswer(r));
    }
    return done(json(200, answers, usageHeaders(top)));
  }

  function itemAnswer(r: Reply): { code: number; headers: { name: string; value: string }[]; body: string } {
    const headers = Object.entries({ 'content-type': 'text/javascript; charset=UTF-8', ...r.headers }).map(
      ([name, value]) => ({ name, value }),
    );
    return { code: r.status, headers, body: r.raw ?? JSON.stringify(r.body) };
  }

  return {
    handle,
    injectFault(f: FaultSpec): void {
      if (!FAULT_KINDS.includes(f.kind)) throw new Error(`unknown fault kind ${f.kind as string}`);
      faults.push({ ...f, remaining: f.times ?? 1 });
    },
    clearFaults(): void {
      faults.length = 0;
      appBlocks.clear();
    },
    /** The app's per-user limit (#17) in calls per rolling hour; null: none. */
    setUserLimit(appId: string, callsPerHour: number | null): void {
      state.app(appId);
      budget.setUserLimit(appId, callsPerHour);
    },
    /** A custom limit (#613) on the app's calls to paths containing `path`; null: remove it. */
    setCustomLimit(appId: string, path: string, callsPerHour: number | null): void {
      state.app(appId);
      if (callsPerHour === null) customLimits.delete(`${appId} ${path}`);
      else customLimits.set(`${appId} ${path}`, { appId, path, callsPerHour });
    },
    /** Items of a batch whose path contains `path` are refused (true) or served (false). */
    refuseInBatch(path: string, refuse: boolean): void {
      if (refuse) refusedInBatch.add(path);
      else refusedInBatch.delete(path);
    },
    /** The usage the next answer to the app would report (percent; no rounding to a header). */
    appUsage(appId: string): UsagePercent & { calls: number; capacity: number; budgeted: boolean } {
      const { capacity, budgeted } = platformCapacity(state.app(appId));
      return {
        ...budget.percent(`app:${appId}`, capacity),
        calls: budget.calls(`app:${appId}`),
        capacity,
        budgeted,
      };
    },
    /** Forget all usage (the rolling windows), e.g. between two runs of a benchmark. */
    resetUsage(): void {
      budget.reset();
    },
    setLatency(ms: number): void {
      latencyMs = Math.max(0, ms);
    },
    get calls(): readonly RecordedCall[] {
      return calls.map((c) => ({ ...c, params: [...c.params] }));
    },
    countCalls(pathPart?: string): number {
      return pathPart === undefined ? calls.length : calls.filter((c) => c.path.includes(pathPart)).length;
    },
    resetCalls(): void {
      calls.length = 0;
    },
    /** Ends held ('timeout') requests, for close. */
    releaseHeld(): void {
      for (const res of held) res.destroy();
      held.clear();
    },
  };
}

function capAt99(u: UsagePercent): UsagePercent {
  return {
    call_count: Math.min(99, u.call_count),
    total_time: Math.min(99, u.total_time),
    total_cputime: Math.min(99, u.total_cputime),
  };
}

function fbCodeOf(body: unknown): number | null {
  const code = (body as { error?: { code?: unknown } } | undefined)?.error?.code;
  return typeof code === 'number' ? code : null;
}

export type HttpLayer = ReturnType<typeof createHttpLayer>;
