/**
 * The dashboard at `/`: server-rendered HTML, a stylesheet and an icon from `public/` under
 * `/assets/`, and no script. It calls the same core (`TokenKeeper`) as the API and the CLI.
 *
 * Routes: `GET /` (sign-in page, or the list of pages) · `POST /sign-in` · `POST /sign-out` ·
 * `GET|POST /pages/new` (add a page) · `GET /pages/:pageId` · `POST /pages/:pageId/check|renew|
 * pause|resume` · `GET /connections/:id` (one login: its token, its Pages, one reconnect button) ·
 * `POST /connections/:id/pages` (add Pages the login can post to) · `GET|POST /accounts/new` (add an
 * Instagram account or a Threads profile; `/pages/:id` shows it in its platform's words) · `POST /alerts/test` (send a
 * test alert, like `fb-token-keeper alert-test`). Every POST needs the form's CSRF token (else 403); every page but the sign-in page
 * needs a session (sign in with an API key that has the `admin` scope; see `session.ts`).
 *
 * Responses carry a strict Content-Security-Policy (nothing but this origin's stylesheet and
 * images, no frames, forms only to this origin), `Referrer-Policy: no-referrer` (the reconnect
 * link is signed) and `Cache-Control: no-store` on HTML.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyCookie from '@fastify/cookie';
import fastifyFormbody from '@fastify/formbody';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { NO_ALERT_CHANNEL, targetsFromConfig } from '../alerts/channels.js';
import { sendTestAlert } from '../alerts/test-alert.js';
import { type Clock, MINUTE } from '../clock.js';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import {
  createFailureLimiter,
  type FailureLimitOptions,
  failureCount,
  keyExpired,
  verifyApiKey,
} from '../http/auth.js';
import { loggableError, toErrorResponse } from '../http/error-handler.js';
import type { KeeperInternals } from '../lifecycle/keeper.js';
import type { TokenKeeper } from '../lifecycle/types.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/types.js';
import { nextRefreshAt } from '../platforms/decide.js';
import {
  ACCOUNT_FIELDS,
  type AccountField,
  accountLabel,
  accountView,
  addAccountForm,
  isAccount,
  platformName as accountPlatformName,
} from './account-views.js';
import { STATE_LABEL } from './format.js';
import { type Html, html } from './html.js';
import {
  createSessionKeys,
  endSession,
  FLASH_COOKIE,
  type Flash,
  SESSION_COOKIE,
  SESSION_TTL_MS,
  liveSession,
  type Session,
  SIGNIN_COOKIE,
} from './session.js';
import {
  addPageForm,
  connectionPage,
  errorPage,
  csrfField,
  fieldLabel,
  historySections,
  layout,
  loginName,
  pagesPage,
  pageView,
  SETUP_FIELDS,
  type SetupField,
  signInPage,
  testAlertForm,
} from './views.js';

export interface DashboardDeps {
  config: Config;
  keeper: TokenKeeper & Pick<KeeperInternals, 'linkSecret' | 'reconnectUrl'>;
  store: Store;
  clock: Clock;
  logger: Logger;
  /** Failed sign-ins allowed per address before a pause (default: 10 in 15 minutes, then 15 minutes). */
  signInLimit?: Partial<FailureLimitOptions>;
}

export const PUBLIC_DIR = fileURLToPath(new URL('../../public/', import.meta.url));

const CSP =
  "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const PAGE_ID = /^\d{1,32}$/;
const NEXT =
  /^\/(pages\/(\d{1,32}|new)|accounts\/new|connections\/[a-z]+_[0-9A-Za-z-]{1,64}_[0-9A-Za-z-]{1,64})$/;
/** A connection id, as `GET /api/connections/{id}` checks it. */
const CONNECTION_ID = /^[a-z]+_[0-9A-Za-z-]{1,64}_[0-9A-Za-z-]{1,64}$/;
const HISTORY_TABLE_SIZE = 50;
const CHART_EVENTS = 500;
const NEEDS_PERSON = new Set<string>(['needs_reauth', 'expired', 'expiring']);

interface Ctx {
  session: Session;
  csrf: string;
}

type Body = Record<string, unknown>;

/** Every value of a repeated form field (`page_id=1&page_id=2`). */
function fields(body: unknown, name: string): string[] {
  const v = (body as Body | undefined)?.[name];
  const all = Array.isArray(v) ? (v as unknown[]) : [v];
  return all.filter((x): x is string => typeof x === 'string');
}

function field(body: unknown, name: string): string | undefined {
  const v = (body as Body | undefined)?.[name];
  const first = Array.isArray(v) ? (v as unknown[])[0] : v;
  return typeof first === 'string' ? first : undefined;
}

function assetVersion(): string {
  const h = createHash('sha256');
  for (const f of ['dashboard.css', 'favicon.svg']) {
    try {
      h.update(readFileSync(`${PUBLIC_DIR}${f}`));
    } catch {
      h.update(f);
    }
  }
  return h.digest('hex').slice(0, 10);
}

export async function registerDashboard(app: FastifyInstance, deps: DashboardDeps): Promise<void> {
  // Own encapsulated context: the form parser, cookies, headers and HTML error pages stay here.
  await app.register(async (d) => dashboard(d, deps));
}

async function dashboard(app: FastifyInstance, deps: DashboardDeps): Promise<void> {
  const { keeper, store, clock, logger, config } = deps;
  const keys = createSessionKeys(keeper.linkSecret, clock);
  const limiter = createFailureLimiter(clock, {
    max: 10,
    windowMs: 15 * MINUTE,
    lockMs: 15 * MINUTE,
    maxEntries: 10_000,
    ...deps.signInLimit,
  });
  const version = assetVersion();

  await app.register(fastifyCookie);
  await app.register(fastifyFormbody, { bodyLimit: 16 * 1024 });
  await app.register(fastifyStatic, {
    root: PUBLIC_DIR,
    prefix: '/assets/',
    decorateReply: false,
    index: false,
    list: false,
    wildcard: false,
    // URLs carry ?v=<content hash>, so a browser may keep them.
    maxAge: '30d',
    immutable: true,
  });

  app.addHook('onSend', async (request, reply, payload) => {
    void reply.header('content-security-policy', CSP);
    void reply.header('x-frame-options', 'DENY');
    void reply.header('referrer-policy', 'no-referrer');
    void reply.header('cross-origin-opener-policy', 'same-origin');
    if (!request.url.startsWith('/assets/')) void reply.header('cache-control', 'no-store');
    return payload;
  });

  // --- helpers -----------------------------------------------------------------------------------

  /**
   * Secure cookies whenever PUBLIC_URL is https, whatever Host the request carries (nginx's default
   * `proxy_pass` sends the upstream's 127.0.0.1:PORT), and when the request itself came over HTTPS
   * (directly, or per X-Forwarded-Proto from a proxy TRUST_PROXY names).
   */
  const publicIsHttps = new URL(config.publicUrl).protocol === 'https:';
  const isSecure = (request: FastifyRequest) => publicIsHttps || request.protocol === 'https';
  const cookieOptions = (request: FastifyRequest, maxAgeSeconds?: number) => ({
    path: '/',
    httpOnly: true,
    sameSite: 'strict' as const,
    secure: isSecure(request),
    ...(maxAgeSeconds !== undefined ? { maxAge: maxAgeSeconds } : {}),
  });

  function send(
    reply: FastifyReply,
    status: number,
    title: string,
    body: Html,
    ctx: Ctx | null,
    flash?: Flash | null,
  ) {
    return reply
      .code(status)
      .type('text/html; charset=utf-8')
      .send(
        layout(
          {
            title,
            assetVersion: version,
            csrf: ctx?.csrf,
            flash,
            // Read per request: nothing else on the dashboard would say that alerts go nowhere.
            noAlertChannel: targetsFromConfig(config).length === 0 ? NO_ALERT_CHANNEL : undefined,
          },
          body,
        ).value,
      );
  }

  function takeFlash(request: FastifyRequest, reply: FastifyReply): Flash | null {
    const cookie = request.cookies[FLASH_COOKIE];
    if (cookie === undefined) return null;
    void reply.clearCookie(FLASH_COOKIE, cookieOptions(request));
    return keys.openFlash(cookie);
  }

  function redirect(request: FastifyRequest, reply: FastifyReply, to: string, flash?: Flash) {
    if (flash) void reply.setCookie(FLASH_COOKIE, keys.sealFlash(flash), cookieOptions(request, 60));
    return reply.code(303).header('location', to).send();
  }

  /** The signed-in session, when the cookie is valid and its API key still active with `admin`. */
  async function auth(request: FastifyRequest): Promise<Ctx | null> {
    const session = await liveSession(keys, store, request.cookies[SESSION_COOKIE]);
    if (!session) return null;
    const key = await store.getApiKey(session.keyId);
    if (!key || key.revokedAt !== null || keyExpired(key, clock.now()) || !key.scopes.includes('admin')) {
      return null;
    }
    return { session, csrf: keys.csrfFor(session) };
  }

  function signIn(
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    options: { error?: string; next?: string | undefined } = {},
  ) {
    let nonce = request.cookies[SIGNIN_COOKIE];
    if (nonce === undefined || !/^[A-Za-z0-9_-]{16,64}$/.test(nonce)) {
      nonce = keys.newNonce();
      void reply.setCookie(SIGNIN_COOKIE, nonce, cookieOptions(request));
    }
    // A stale session cookie (expired, signed out, key revoked) is removed.
    if (request.cookies[SESSION_COOKIE] !== undefined) {
      void reply.clearCookie(SESSION_COOKIE, cookieOptions(request));
    }
    const next = options.next !== undefined && NEXT.test(options.next) ? options.next : undefined;
    return send(
      reply,
      status,
      'Sign in',
      signInPage({ csrf: keys.signinCsrf(nonce), next, error: options.error }),
      null,
      takeFlash(request, reply),
    );
  }

  function forbidden(reply: FastifyReply, ctx: Ctx | null, message: string) {
    return send(
      reply,
      403,
      'Refused',
      errorPage('Refused', message, { href: '/', label: 'Reload the dashboard' }),
      ctx,
    );
  }

  /** For POST routes: the session and a matching CSRF token, or a 403 page (already sent). */
  async function guardPost(request: FastifyRequest, reply: FastifyReply): Promise<Ctx | null> {
    const ctx = await auth(request);
    if (!ctx) {
      await forbidden(reply, null, 'You are not signed in (or your session ended). Sign in and try again.');
      return null;
    }
    if (!keys.checkCsrf(ctx.session, field(request.body, '_csrf'))) {
      logger.warn(
        { route: request.routeOptions.url, keyId: ctx.session.keyId },
        'dashboard form without a valid CSRF token',
      );
      await forbidden(
        reply,
        ctx,
        'This form was not sent from the dashboard (its security token is missing or wrong), so nothing was done. Reload the page and try again.',
      );
      return null;
    }
    return ctx;
  }

  function notFound(reply: FastifyReply, ctx: Ctx | null, pageId: string) {
    return send(
      reply,
      404,
      'Not found',
      errorPage('Page not managed', `No page with id ${pageId} is managed here.`),
      ctx,
    );
  }

  app.setErrorHandler(async (err, request, reply) => {
    const r = toErrorResponse(err);
    if (r.fault) {
      logger.error({ err: loggableError(err), route: request.routeOptions.url }, 'dashboard request failed');
    }
    const message = r.fault
      ? 'Something went wrong on the server; the log has the details.'
      : r.body.error.message;
    const ctx = await auth(request).catch(() => null);
    return send(
      reply,
      r.status,
      'Error',
      errorPage(r.status >= 500 ? 'Server error' : 'Request refused', message),
      ctx,
    );
  });

  // --- sign in / out -------------------------------------------------------------------------

  app.get('/', async (request, reply) => {
    const ctx = await auth(request);
    if (!ctx) return signIn(request, reply, 200);
    const [pages, connections] = await Promise.all([keeper.listPages(), keeper.listConnections()]);
    const next = await nextRefreshes(pages);
    const body = html`${pagesPage(pages, clock.now(), connections, next)}${testAlertForm(ctx.csrf)}`;
    return send(reply, 200, 'Pages', body, ctx, takeFlash(request, reply));
  });

  app.post('/sign-in', async (request, reply) => {
    const next = field(request.body, 'next');
    if (!keys.checkSigninCsrf(request.cookies[SIGNIN_COOKIE], field(request.body, '_csrf'))) {
      return forbidden(
        reply,
        null,
        'The sign-in form expired or did not come from this dashboard. Reload the page and sign in again.',
      );
    }
    const presented = (field(request.body, 'api_key') ?? '').trim();
    const key = presented === '' ? null : await verifyApiKey(store, presented);
    if (!key) {
      // A valid key always signs in (above); only the wrong ones are counted and paused, per
      // client and key id, so a guesser behind the same proxy does not lock the owner out.
      const failure = await failureCount(store, request.ip, presented === '' ? undefined : presented);
      const waitMs = limiter.lockedFor(failure.count);
      if (waitMs > 0) {
        void reply.header('retry-after', String(Math.ceil(waitMs / 1000)));
        return signIn(request, reply, 429, {
          error: `Too many failed sign-ins from your address. Try again in ${Math.ceil(waitMs / MINUTE)} minutes.`,
          next,
        });
      }
      limiter.fail(failure.count);
      logger.info({ ip: request.ip }, 'dashboard sign-in refused');
      return signIn(request, reply, 401, { error: 'That API key is not valid, or it was revoked.', next });
    }
    if (keyExpired(key, clock.now())) {
      return signIn(request, reply, 401, {
        error: `That API key expired at ${new Date(key.expiresAt ?? 0).toISOString()}. Create a new one with: fb-token-keeper api-key create`,
        next,
      });
    }
    if (!key.scopes.includes('admin')) {
      return signIn(request, reply, 403, {
        error: `This key has only the ${key.scopes.join(', ')} scope; the dashboard needs a key with the admin scope.`,
        next,
      });
    }
    const issued = keys.issue(key.id);
    void reply.setCookie(
      SESSION_COOKIE,
      issued.cookie,
      cookieOptions(request, Math.floor(SESSION_TTL_MS / 1000)),
    );
    void reply.clearCookie(SIGNIN_COOKIE, cookieOptions(request));
    await store.touchApiKey(key.id, clock.now()).catch(() => undefined);
    logger.info({ keyId: key.id }, 'dashboard sign-in');
    return redirect(request, reply, next !== undefined && NEXT.test(next) ? next : '/');
  });

  app.post('/sign-out', async (request, reply) => {
    const ctx = await guardPost(request, reply);
    if (!ctx) return reply;
    await endSession(store, ctx.session, clock.now());
    void reply.clearCookie(SESSION_COOKIE, cookieOptions(request));
    logger.info({ keyId: ctx.session.keyId }, 'dashboard sign-out');
    return redirect(request, reply, '/', { kind: 'info', text: 'You are signed out.' });
  });

  // --- test alert ------------------------------------------------------------------------------

  app.post('/alerts/test', async (request, reply) => {
    const ctx = await guardPost(request, reply);
    if (!ctx) return reply;
    if (targetsFromConfig(config).length === 0) {
      return redirect(request, reply, '/', {
        kind: 'error',
        text: `No test alert was sent. ${NO_ALERT_CHANNEL}`,
      });
    }
    // The same call as the CLI's `alert-test`; targets are identifiers, never webhook URLs.
    const results = await sendTestAlert(config, { now: () => clock.now() });
    const lines = results.map(
      (r) =>
        `${r.channel} ${r.target}: ${r.delivered ? 'delivered' : `NOT delivered (${r.error ?? 'unknown error'})`}`,
    );
    const failed = results.filter((r) => !r.delivered).length;
    logger.info({ keyId: ctx.session.keyId, channels: results.length, failed }, 'dashboard test alert');
    return redirect(request, reply, '/', {
      kind: failed > 0 ? 'error' : 'ok',
      text: `Test alert: ${lines.join('; ')}.`,
    });
  });

  // --- add a page ------------------------------------------------------------------------------

  app.get('/pages/new', async (request, reply) => {
    const ctx = await auth(request);
    if (!ctx) return signIn(request, reply, 401, { next: '/pages/new' });
    return send(
      reply,
      200,
      'Add a page',
      addPageForm({ csrf: ctx.csrf, values: {}, fieldErrors: {} }),
      ctx,
      takeFlash(request, reply),
    );
  });

  app.post('/pages/new', async (request, reply) => {
    const ctx = await guardPost(request, reply);
    if (!ctx) return reply;
    const v = Object.fromEntries(
      SETUP_FIELDS.map((f) => [f, (field(request.body, f) ?? '').trim()]),
    ) as Record<SetupField, string>;
    let r;
    try {
      r = await keeper.setup({
        pageId: v.page_id,
        appId: v.app_id,
        appSecret: v.app_secret,
        accessToken: v.access_token,
      });
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      const fieldErrors: Partial<Record<SetupField, string>> = {};
      const fields = err.details?.fields;
      if (Array.isArray(fields)) {
        for (const f of fields as { field?: unknown; message?: unknown }[]) {
          if (
            typeof f.field === 'string' &&
            (SETUP_FIELDS as readonly string[]).includes(f.field) &&
            typeof f.message === 'string'
          ) {
            fieldErrors[f.field as SetupField] = f.message;
          }
        }
      }
      const hasFields = Object.keys(fieldErrors).length > 0;
      const view = addPageForm({
        csrf: ctx.csrf,
        values: { page_id: v.page_id, app_id: v.app_id },
        fieldErrors,
        error: hasFields ? undefined : { message: err.message, code: err.code },
      });
      const title = hasFields
        ? `Add a page: check ${Object.keys(fieldErrors).map(fieldLabel).join(', ')}`
        : 'Add a page';
      return send(reply, err.status, title, view, ctx);
    }
    const name = r.status.page_name ?? `Page ${r.status.page_id}`;
    return redirect(request, reply, `/pages/${r.status.page_id}`, {
      kind: 'ok',
      text: `${name} was added and is ${STATE_LABEL[r.status.state]}. ${r.notes.join(' ')}`,
    });
  });

  // --- add an Instagram account or a Threads profile ------------------------------------------

  app.get('/accounts/new', async (request, reply) => {
    const ctx = await auth(request);
    if (!ctx) return signIn(request, reply, 401, { next: '/accounts/new' });
    return send(
      reply,
      200,
      'Add an Instagram or Threads account',
      addAccountForm({ csrf: ctx.csrf, csrfField, values: {}, fieldErrors: {} }),
      ctx,
      takeFlash(request, reply),
    );
  });

  app.post('/accounts/new', async (request, reply) => {
    const ctx = await guardPost(request, reply);
    if (!ctx) return reply;
    const v = Object.fromEntries(
      ACCOUNT_FIELDS.map((f) => [f, (field(request.body, f) ?? '').trim()]),
    ) as Record<AccountField, string>;
    const refuse = (
      status: number,
      fieldErrors: Partial<Record<AccountField, string>>,
      error?: { message: string; code: string },
    ) =>
      send(
        reply,
        status,
        'Add an Instagram or Threads account',
        addAccountForm({
          csrf: ctx.csrf,
          csrfField,
          values: { platform: v.platform, app_id: v.app_id },
          fieldErrors,
          error,
        }),
        ctx,
      );
    // Only the two platforms this form is for: a Facebook Page is added at /pages/new.
    if (v.platform !== 'instagram' && v.platform !== 'threads') {
      return refuse(400, { platform: 'must be Instagram or Threads' });
    }
    let r;
    try {
      r = await keeper.connect({
        platform: v.platform,
        appId: v.app_id,
        appSecret: v.app_secret,
        accessToken: v.access_token,
      });
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      const fieldErrors: Partial<Record<AccountField, string>> = {};
      const fields = err.details?.fields;
      if (Array.isArray(fields)) {
        for (const f of fields as { field?: unknown; message?: unknown }[]) {
          if (
            typeof f.field === 'string' &&
            (ACCOUNT_FIELDS as readonly string[]).includes(f.field) &&
            typeof f.message === 'string'
          ) {
            fieldErrors[f.field as AccountField] = f.message;
          }
        }
      }
      const hasFields = Object.keys(fieldErrors).length > 0;
      return refuse(
        err.status,
        fieldErrors,
        hasFields ? undefined : { message: err.message, code: err.code },
      );
    }
    const account = r.pages[0];
    logger.info(
      { connectionId: r.connection.id, platform: v.platform, keyId: ctx.session.keyId },
      'dashboard add account',
    );
    if (!account) return redirect(request, reply, '/');
    return redirect(request, reply, `/pages/${account.page_id}`, {
      kind: 'ok',
      text: `${accountLabel(account)} was added and is ${STATE_LABEL[account.state]}.`,
    });
  });

  // --- one page --------------------------------------------------------------------------------

  app.get<{ Params: { pageId: string }; Querystring: { before?: string } }>(
    '/pages/:pageId',
    async (request, reply) => {
      const { pageId } = request.params;
      const ctx = await auth(request);
      if (!ctx) return signIn(request, reply, 401, { next: `/pages/${pageId}` });
      if (!PAGE_ID.test(pageId)) return notFound(reply, ctx, pageId);
      let status;
      try {
        status = await keeper.status(pageId, { historyLimit: 0 });
      } catch (err) {
        if (err instanceof AppError && err.code === 'page_not_found') return notFound(reply, ctx, pageId);
        throw err;
      }
      const chartHistory = await keeper.history(pageId, { limit: CHART_EVENTS });
      const before = Number(request.query.before);
      const tableHistory =
        Number.isInteger(before) && before > 0
          ? await keeper.history(pageId, { limit: HISTORY_TABLE_SIZE, beforeId: before })
          : chartHistory.slice(0, HISTORY_TABLE_SIZE);
      const last = tableHistory[tableHistory.length - 1];
      const olderBefore = tableHistory.length === HISTORY_TABLE_SIZE && last ? last.id : null;
      const base = {
        status,
        chartHistory,
        tableHistory,
        olderBefore,
        now: clock.now(),
        csrf: ctx.csrf,
        reconnectUrl: keeper.reconnectUrl(pageId),
      };
      if (isAccount(status)) {
        // An Instagram account or Threads profile: its own token, its own platform's dialog.
        const view = accountView({
          ...base,
          nextRefresh: (await nextRefreshes([status])).get(pageId) ?? null,
          rest: historySections(base),
          csrfField,
        });
        return send(reply, 200, accountLabel(status), view, ctx, takeFlash(request, reply));
      }
      const view = pageView({ ...base, login: await loginOf(pageId) });
      return send(reply, 200, status.page_name ?? `Page ${pageId}`, view, ctx, takeFlash(request, reply));
    },
  );

  // --- one login (connection) -----------------------------------------------------------------

  function connectionNotFound(reply: FastifyReply, ctx: Ctx | null, id: string) {
    return send(
      reply,
      404,
      'Not found',
      errorPage('Login not kept', `No Facebook login with id ${id} is kept here.`),
      ctx,
    );
  }

  app.get<{ Params: { id: string } }>('/connections/:id', async (request, reply) => {
    const { id } = request.params;
    const ctx = await auth(request);
    if (!ctx) {
      return signIn(request, reply, 401, { next: CONNECTION_ID.test(id) ? `/connections/${id}` : undefined });
    }
    if (!CONNECTION_ID.test(id)) return connectionNotFound(reply, ctx, id);
    let detail;
    try {
      detail = await keeper.getConnection(id);
    } catch (err) {
      if (err instanceof AppError && err.code === 'connection_not_found') {
        return connectionNotFound(reply, ctx, id);
      }
      throw err;
    }
    // An Instagram or Threads connection is its one account: its view is the account's.
    const only = detail.pages[0];
    if (only && detail.pages.length === 1 && isAccount(only)) {
      return redirect(request, reply, `/pages/${only.page_id}`);
    }
    // One link for the whole login: a reconnect through any of its Pages gives the login its new
    // token and re-mints every sibling (keeper `storeSetup`), so the first Page's link serves all.
    const first = detail.pages[0];
    const view = connectionPage({
      detail,
      now: clock.now(),
      csrf: ctx.csrf,
      reconnectUrl: first ? keeper.reconnectUrl(first.page_id) : null,
      whatsapp: first ? null : await keeper.getWhatsAppAccount(id).catch(() => null),
    });
    return send(reply, 200, loginName(detail), view, ctx, takeFlash(request, reply));
  });

  app.post<{ Params: { id: string } }>('/connections/:id/pages', async (request, reply) => {
    const { id } = request.params;
    const ctx = await guardPost(request, reply);
    if (!ctx) return reply;
    if (!CONNECTION_ID.test(id)) return connectionNotFound(reply, ctx, id);
    const connection = await store.getConnection(id);
    if (!connection) return connectionNotFound(reply, ctx, id);
    const pageIds = [...new Set(fields(request.body, 'page_id').map((p) => p.trim()))];
    if (pageIds.length === 0 || pageIds.some((p) => !PAGE_ID.test(p))) {
      return redirect(request, reply, `/connections/${id}`, {
        kind: 'error',
        text:
          pageIds.length === 0
            ? 'No Page was ticked, so nothing was added.'
            : 'A Page id in the form was not a Facebook Page id, so nothing was added.',
      });
    }
    const secrets = await store.getConnectionSecrets(id);
    if (!secrets) return connectionNotFound(reply, ctx, id);
    let flash: Flash;
    try {
      // The login's own token, read here and handed straight to the core: never rendered or logged.
      const r = await keeper.connect({
        accessToken: secrets.sourceToken,
        appId: connection.appId,
        appSecret: secrets.appSecret,
        platform: connection.platform,
        pageIds,
      });
      const added = r.pages.map((p) => p.page_name ?? p.page_id);
      const refused = r.not_set_up.map((n) => `${n.name ?? n.page_id}: ${n.message}`);
      flash = {
        kind: refused.length > 0 ? 'error' : 'ok',
        text: `Added ${added.length} Page${added.length === 1 ? '' : 's'} to this login: ${added.join(', ')}.${refused.length > 0 ? ` Not added: ${refused.join('; ')}` : ''}`,
      };
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500) throw err;
      flash = { kind: 'error', text: `Nothing was added: ${err.message}` };
    }
    logger.info({ connectionId: id, pages: pageIds.length, keyId: ctx.session.keyId }, 'dashboard add pages');
    return redirect(request, reply, `/connections/${id}`, flash);
  });

  /**
   * When each Instagram/Threads account's token is refreshed next (epoch ms; null: none planned):
   * by RENEWAL_THRESHOLD_DAYS, never before the token is 24 hours old, the rule the engine follows.
   */
  async function nextRefreshes(
    statuses: readonly {
      page_id: string;
      platform: string;
      expires_at: string | null;
      renewal_threshold_days: number;
    }[],
  ): Promise<Map<string, number | null>> {
    const out = new Map<string, number | null>();
    const accounts = statuses.filter(isAccount);
    if (accounts.length === 0) return out;
    const [rows, connections] = await Promise.all([store.listPages(), store.listConnections()]);
    const rowOf = new Map(rows.map((r) => [r.pageId, r]));
    const connectionOf = new Map(connections.map((c) => [c.id, c]));
    for (const s of accounts) {
      const row = rowOf.get(s.page_id);
      if (!row) continue;
      const c = row.connectionId ? connectionOf.get(row.connectionId) : undefined;
      const issuedAt = c?.tokenIssuedAt ?? row.createdAt;
      const expiresAt = s.expires_at === null ? null : Date.parse(s.expires_at);
      out.set(s.page_id, nextRefreshAt({ expiresAt, issuedAt }, s.renewal_threshold_days));
    }
    return out;
  }

  /** The login a Page belongs to, for its link to the login's view (null: a Page on its own). */
  async function loginOf(pageId: string): Promise<{ id: string; name: string } | null> {
    const row = await store.getPage(pageId);
    if (!row?.connectionId) return null;
    const c = (await keeper.listConnections()).find((x) => x.id === row.connectionId);
    return c ? { id: c.id, name: loginName(c) } : null;
  }

  type Action = (pageId: string) => Promise<Flash>;
  /** "Facebook", or the account's own platform. */
  async function platformWord(pageId: string): Promise<string> {
    const row = await store.getPage(pageId);
    return row && isAccount(row) ? accountPlatformName(row) : 'Facebook';
  }

  const actions: Record<string, Action> = {
    async check(pageId) {
      const r = await keeper.check({ pageId });
      const x = r.results[0];
      if (!x) return { kind: 'info', text: 'Nothing was checked.' };
      const change =
        x.state_before === x.state_after
          ? `still ${STATE_LABEL[x.state_after]}`
          : `${STATE_LABEL[x.state_before]} → ${STATE_LABEL[x.state_after]}`;
      return {
        kind: NEEDS_PERSON.has(x.state_after) ? 'error' : 'ok',
        text: `Checked with ${await platformWord(pageId)}: ${change}.${x.message ? ` ${x.message}` : ''}`,
      };
    },
    async renew(pageId) {
      const r = await keeper.renew(pageId, { force: true });
      return r.renewed
        ? {
            kind: 'ok',
            // The engine's own sentence (lifecycle/outcome.ts) already names the expiry.
            text: r.message,
          }
        : {
            kind: NEEDS_PERSON.has(r.state) ? 'error' : 'info',
            text: `Not renewed: ${r.message || r.reason.replaceAll('_', ' ')}`,
          };
    },
    async pause(pageId) {
      await keeper.updatePage(pageId, { autoRenew: false });
      return {
        kind: 'info',
        text: 'Auto-renew is paused: the token will not be renewed or healed until you resume.',
      };
    },
    async resume(pageId) {
      const s = await keeper.updatePage(pageId, { autoRenew: true });
      return {
        kind: 'ok',
        text: `Auto-renew is on again; the page is ${STATE_LABEL[s.state]} and will be checked shortly.`,
      };
    },
  };

  app.post<{ Params: { pageId: string; action: string } }>(
    '/pages/:pageId/:action',
    async (request, reply) => {
      const { pageId, action } = request.params;
      const run = Object.hasOwn(actions, action) ? actions[action] : undefined;
      const ctx = await guardPost(request, reply);
      if (!ctx) return reply;
      if (!run || !PAGE_ID.test(pageId)) return notFound(reply, ctx, pageId);
      let flash: Flash;
      try {
        flash = await run(pageId);
      } catch (err) {
        if (err instanceof AppError && err.code === 'page_not_found') return notFound(reply, ctx, pageId);
        if (!(err instanceof AppError)) throw err;
        flash = {
          kind: 'error',
          text: `${action === 'renew' ? 'Renewal' : action === 'check' ? 'The check' : 'The change'} failed: ${err.message}`,
        };
      }
      logger.info({ pageId, action, keyId: ctx.session.keyId }, 'dashboard action');
      return redirect(request, reply, `/pages/${pageId}`, flash);
    },
  );
}
