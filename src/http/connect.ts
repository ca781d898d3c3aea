/**
 * Reconnect: a signed, expiring link from an alert → Facebook Login → back here, where
 * the keeper exchanges the code, mints and verifies the Page token and resumes the page.
 *
 *   GET /connect/{page_id}?exp&sig   link check → 302 to `{FACEBOOK_DIALOG_URL}/{version}/dialog/oauth`
 *   GET /connect/callback?code&state state check → keeper.reconnect → an HTML page saying what happened
 *
 * Keys: two HKDF sub-keys of the service's `linkSecret` (itself derived from the encryption key), one
 * for links and one for OAuth `state`, so neither can stand in for the other.
 *
 * `state` = `v2.<page_id>.<exp>.<link_exp>.<nonce>.<HMAC>`: bound to the page, valid for 15 minutes, and paired
 * with an httpOnly SameSite=Lax cookie holding the nonce, so a callback only completes in the browser
 * that started it (CSRF / login CSRF). Each nonce is accepted once (replay); used nonces are kept in
 * memory until their state expires. Across several instances a replay would still fail at Facebook,
 * which accepts each code once.
 *
 * `link_exp` is the expiry of the reconnect link the person started from. A failure page offers
 * "Start again" as that same link, and only while it is still valid; otherwise it points to the
 * dashboard. (Signing a fresh link there would turn any old `state` — from browser history or a
 * proxy log — into a working link, bypassing the link's expiry.)
 *
 * Every failure renders a small self-contained HTML page (4xx) that says what happened and what to
 * do; nothing changes unless `keeper.reconnect` succeeds. Neither the code, the state nor any token
 * is logged or shown.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type Clock, MINUTE } from '../clock.js';
import type { Config } from '../config.js';
import { type ErrorCode, isAppError } from '../errors.js';
import type { TokenKeeper } from '../lifecycle/types.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/types.js';
import { LOGIN_SCOPES } from '../types.js';

export interface ConnectDeps {
  config: Config;
  keeper: Pick<TokenKeeper, 'reconnectLogin'> & Partial<Pick<TokenKeeper, 'reconnectDialogUrl'>>;
  store: Pick<Store, 'getPage' | 'listConnectionPages'>;
  clock: Clock;
  logger: Logger;
  /** 32 bytes from the service (HKDF of the encryption key); sub-keys are derived from it here. */
  linkSecret: Buffer;
  /** How long an OAuth round trip may take (default 15 minutes). */
  stateTtlMs?: number;
}

export const STATE_TTL_MS = 15 * MINUTE;
const COOKIE_PREFIX = 'fbtk_oauth_';

// --- keys and signatures: src/reconnect/links.ts (re-exported for the routes and tests) ----------
export {
  callbackUrl,
  type LinkCheck,
  type OAuthState,
  parseState,
  reconnectUrl,
  signReconnectLink,
  signState,
  verifyReconnectLink,
} from '../reconnect/links.js';
import {
  callbackUrl,
  type OAuthState,
  parseState,
  safeEqual,
  signReconnectLink,
  signState,
  verifyReconnectLink,
} from '../reconnect/links.js';

/**
 * Where a failure page sends the person next: the very link they started from while it is still
 * valid ("Start again"), else the dashboard — never a freshly signed link (see the header).
 */
export function nextStep(
  config: Pick<Config, 'publicUrl'>,
  state: Pick<OAuthState, 'pageId' | 'linkExpiresAt'>,
  now: number,
  secret: Buffer,
): { href: string; label: string } {
  if (state.linkExpiresAt * 1000 <= now) return { href: `${config.publicUrl}/`, label: 'Open the dashboard' };
  const sig = signReconnectLink(state.pageId, state.linkExpiresAt, secret);
  return {
    href: `${config.publicUrl}/connect/${encodeURIComponent(state.pageId)}?exp=${state.linkExpiresAt}&sig=${sig}`,
    label: 'Start again',
  };
}

// --- HTML ----------------------------------------------------------------------------------------

export const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

interface PageView {
  status: number;
  tone: 'ok' | 'error' | 'warn';
  title: string;
  /** Paragraphs of plain text (escaped here). */
  lines: string[];
  /** What to do next, plain text. */
  steps?: string[];
  action?: { href: string; label: string };
}

function render(v: PageView): string {
  const color = v.tone === 'ok' ? '#1b7f3b' : v.tone === 'warn' ? '#9a6700' : '#b42318';
  const mark = v.tone === 'ok' ? '✓' : v.tone === 'warn' ? '!' : '✕';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${escapeHtml(v.title)} · fb-token-keeper</title>
<style>
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;background:#f6f8fa;margin:0}
main{max-width:34rem;margin:3rem auto;background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:1.5rem 2rem}
h1{font-size:1.3rem;margin:0 0 1rem;display:flex;gap:.6rem;align-items:center}
.mark{display:inline-grid;place-items:center;width:1.8rem;height:1.8rem;border-radius:50%;color:#fff;background:${color};font-size:1rem}
ol{padding-left:1.2rem}a.button{display:inline-block;margin-top:.5rem;padding:.5rem 1rem;background:#0969da;color:#fff;border-radius:6px;text-decoration:none}
footer{color:#656d76;font-size:.8rem;margin-top:1.5rem}
</style></head><body><main>
<h1><span class="mark" aria-hidden="true">${mark}</span><span>${escapeHtml(v.title)}</span></h1>
${v.lines.map((l) => `<p>${escapeHtml(l)}</p>`).join('\n')}
${v.steps && v.steps.length > 0 ? `<p><strong>What to do:</strong></p><ol>${v.steps.map((s) => `<li>${escapeHtml(s)}</li>`).join('')}</ol>` : ''}
${v.action ? `<p><a class="button" href="${escapeHtml(v.action.href)}">${escapeHtml(v.action.label)}</a></p>` : ''}
<footer>fb-token-keeper</footer>
</main></body></html>`;
}

const FRESH_LINK_HINT =
  'Get a fresh reconnect link: it is in the latest alert, on the dashboard, in `fb-token-keeper status --page-id <id>` and in the `reconnect_url` of GET /api/pages/<id>.';

function send(reply: FastifyReply, v: PageView): FastifyReply {
  return reply
    .code(v.status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header(
      'content-security-policy',
      "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    )
    .send(render(v));
}

// --- cookies (a few lines; no plugin, so nothing clashes with the dashboard's context) -----------

function readCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

function cookie(config: Config, name: string, value: string, maxAgeSec: number): string {
  const secure = config.publicUrl.startsWith('https:') ? '; Secure' : '';
  return `${name}=${value}; Max-Age=${maxAgeSec}; Path=/connect; HttpOnly; SameSite=Lax${secure}`;
}

/** Used nonces until their state expires; bounded so a flood cannot grow it without limit. */
function createNonceLedger(maxEntries = 10_000) {
  const used = new Map<string, number>();
  return {
    has: (nonce: string) => used.has(nonce),
    /** false when the nonce was already used. */
    use(nonce: string, expiresAt: number, now: number): boolean {
      if (used.has(nonce)) return false;
      for (const [n, exp] of used) if (exp <= now) used.delete(n);
      if (used.size >= maxEntries) {
        const oldest = used.keys().next();
        if (!oldest.done) used.delete(oldest.value);
      }
      used.set(nonce, expiresAt);
      return true;
    },
  };
}

// --- routes --------------------------------------------------------------------------------------

function queryString(q: unknown, key: string): string | undefined {
  const v = (q as Record<string, unknown> | undefined)?.[key];
  return typeof v === 'string' ? v : undefined;
}

/** Registers `GET /connect/callback` and `GET /connect/:page_id` on `app` (an encapsulated context). */
export function registerConnectRoutes(app: FastifyInstance, deps: ConnectDeps): Promise<void> {
  const { config, keeper, store, clock, logger, linkSecret } = deps;
  const stateTtlMs = deps.stateTtlMs ?? STATE_TTL_MS;
  const nonces = createNonceLedger();
  const redirectUri = callbackUrl(config);

  app.get('/connect/callback', async (request, reply) => {
    const q = request.query;
    const rawState = queryString(q, 'state');
    const now = clock.now();
    const state = rawState ? parseState(rawState, linkSecret) : null;
    if (!state) {
      logger.warn(
        { event: 'reconnect', outcome: 'state_invalid' },
        'reconnect callback with a missing or tampered state',
      );
      return send(reply, {
        status: 400,
        tone: 'error',
        title: 'This reconnect request is not valid',
        lines: [
          'The request that came back from Facebook is missing its security check or it was altered, so it was refused. Nothing was changed.',
        ],
        steps: [
          'Open the reconnect link from the alert again and go through Facebook Login once more.',
          FRESH_LINK_HINT,
        ],
      });
    }
    const page = await store.getPage(state.pageId).catch(() => null);
    const name = label(page?.pageName ?? null, state.pageId);
    const retry = nextStep(config, state, now, linkSecret);
    // The link this login started from has expired: say where a fresh one is, instead of "start again".
    const show = (v: PageView) =>
      send(
        reply,
        v.action === retry && retry.label !== 'Start again'
          ? {
              ...v,
              steps: [
                ...(v.steps ?? []),
                `The reconnect link you started from has expired. ${FRESH_LINK_HINT}`,
              ],
            }
          : v,
      );
    const cookieName = COOKIE_PREFIX + state.nonce.slice(0, 8);
    void reply.header('set-cookie', cookie(config, cookieName, '', 0));

    const replayed = () => {
      logger.warn(
        { event: 'reconnect', pageId: state.pageId, outcome: 'replayed' },
        'reconnect callback replayed',
      );
      return show({
        status: 400,
        tone: 'error',
        title: 'This reconnect was already used',
        lines: [
          'This answer from Facebook was already handled once (for example the page was reloaded or the back button was used), so it was not accepted again. Nothing was changed by this request.',
        ],
        steps: [`Check the Page's status on the dashboard; if it still needs a reconnect, start again.`],
        action: retry,
      });
    };
    if (nonces.has(state.nonce)) return replayed();
    if (state.expiresAt <= now) {
      return show({
        status: 400,
        tone: 'error',
        title: 'This reconnect took too long',
        lines: [
          `The Facebook Login for Page ${name} was started more than ${Math.round(stateTtlMs / MINUTE)} minutes ago, so it was not accepted. Nothing was changed.`,
        ],
        steps: ['Start again and finish the Facebook Login within a few minutes.'],
        action: retry,
      });
    }
    const bound = readCookie(request, cookieName);
    if (!bound || !safeEqual(bound, state.nonce)) {
      logger.warn(
        { event: 'reconnect', pageId: state.pageId, outcome: 'cookie_mismatch' },
        'reconnect callback without its cookie',
      );
      return show({
        status: 400,
        tone: 'error',
        title: 'This reconnect was started in another browser',
        lines: [
          'For your security a reconnect must finish in the same browser that opened the link, and this browser does not have the matching cookie (it was started elsewhere, or cookies are blocked). Nothing was changed.',
        ],
        steps: [
          'Open the reconnect link in this browser, with cookies allowed for this site, and log in again.',
        ],
        action: retry,
      });
    }
    // Two requests racing with the same state: only one gets past here.
    if (!nonces.use(state.nonce, state.expiresAt, now)) return replayed();
    if (!page) {
      return show({
        status: 404,
        tone: 'error',
        title: 'This Page is not managed here',
        lines: [
          `Page ${state.pageId} is not (or no longer) managed by this fb-token-keeper. Nothing was changed.`,
        ],
        steps: ['Set the Page up again from the dashboard or with `fb-token-keeper setup`.'],
      });
    }

    const error = queryString(q, 'error');
    const code = queryString(q, 'code');
    if (error || !code) {
      logger.info(
        {
          event: 'reconnect',
          pageId: state.pageId,
          outcome: 'denied',
          reason: (error ?? 'no_code').slice(0, 40),
        },
        'reconnect denied at Facebook',
      );
      return show({
        status: 403,
        tone: 'warn',
        title: 'Facebook Login was cancelled',
        lines: [
          `Facebook did not give access to Page ${name}: the login was cancelled or the permissions were declined. Nothing was changed, and posting keeps using the current token while it still works.`,
        ],
        steps: [
          'Start again, log in with a Facebook account that has a role on the Page, and keep every requested permission ticked (pages_manage_posts is needed to post).',
        ],
        action: retry,
      });
    }

    let view: PageView;
    try {
      const result = await keeper.reconnectLogin(state.pageId, code, redirectUri);
      const status = result.page;
      logger.info(
        { event: 'reconnect', pageId: state.pageId, outcome: 'reconnected', state: status.state },
        'page reconnected',
      );
      const healthy = status.state === 'healthy' && result.not_granted.length === 0;
      const names = (list: { page_id: string; name: string | null }[]) =>
        list.map((p) => label(p.name, p.page_id)).join(', ');
      view = {
        status: 200,
        tone: healthy ? 'ok' : 'warn',
        title: `Page ${label(status.page_name, status.page_id)} is connected again`,
        lines: [
          status.state === 'healthy'
            ? 'Posting continues: fb-token-keeper has a fresh, verified Page token and keeps it alive from here.'
            : `It is connected, but: ${status.state_message ?? status.state}`,
          status.expires_at === null
            ? 'The new Page token does not expire.'
            : `The new Page token is valid until ${status.expires_at}.`,
          // The whole login, not only this Page: every sibling is accounted for.
          ...(result.reminted.length > 0
            ? [`The other Pages of this login got a new token too: ${names(result.reminted)}.`]
            : []),
          ...result.not_granted.map((p) => `Not connected: ${p.message}`),
          ...(result.available_to_add !== null && result.available_to_add.length > 0
            ? [
                `Available to add (this login can post to them, they are not kept yet): ${names(result.available_to_add)}. Add them with \`connect\` or from the dashboard.`,
              ]
            : []),
          'Apps that cache the Page token should fetch it again. You can close this page.',
        ],
        ...(result.not_granted.length > 0
          ? {
              steps: [
                "Open the reconnect link again and, in Facebook's list of Pages, tick every Page this app should keep.",
              ],
            }
          : {}),
      };
    } catch (err) {
      view = failureView(err, name, retry);
      const logged = isAppError(err) ? { code: err.code, message: err.message } : { code: 'internal_error' };
      logger[view.status >= 500 ? 'error' : 'warn'](
        { event: 'reconnect', pageId: state.pageId, outcome: 'failed', err: logged },
        'reconnect failed',
      );
    }
    return show(view);
  });

  app.get('/connect/:page_id', async (request, reply) => {
    const pageId = (request.params as { page_id?: string }).page_id ?? '';
    const now = clock.now();
    const check = verifyReconnectLink(
      pageId,
      queryString(request.query, 'exp'),
      queryString(request.query, 'sig'),
      linkSecret,
      now,
    );
    if (check === 'invalid') {
      return send(reply, {
        status: 400,
        tone: 'error',
        title: 'This reconnect link is not valid',
        lines: [
          'The link is incomplete or was changed (for example cut off by an email program). Nothing was changed.',
        ],
        steps: ['Copy the whole link from the alert again.', FRESH_LINK_HINT],
      });
    }
    if (check === 'expired') {
      return send(reply, {
        status: 410,
        tone: 'error',
        title: 'This reconnect link has expired',
        lines: [
          `Reconnect links work for ${config.reconnectLinkTtlHours} hours after they are sent, so that an old message cannot be used later. Nothing was changed.`,
        ],
        steps: [FRESH_LINK_HINT],
      });
    }
    const page = await store.getPage(pageId);
    if (!page) {
      return send(reply, {
        status: 404,
        tone: 'error',
        title: 'This Page is not managed here',
        lines: [`Page ${pageId} is not (or no longer) managed by this fb-token-keeper. Nothing was changed.`],
        steps: ['Set the Page up again from the dashboard or with `fb-token-keeper setup`.'],
      });
    }
    const nonce = randomBytes(16).toString('base64url');
    const linkExpiresAt = Number(queryString(request.query, 'exp'));
    const state = signState({ pageId, expiresAt: now + stateTtlMs, linkExpiresAt, nonce }, linkSecret);
    // Instagram and Threads accounts reconnect through their platform's own dialog.
    const platformDialog = keeper.reconnectDialogUrl?.(page, redirectUri, state) ?? null;
    const dialog = new URL(
      platformDialog ?? `${config.facebookDialogUrl}/${config.graphApiVersion}/dialog/oauth`,
    );
    if (platformDialog === null) {
      dialog.searchParams.set('client_id', page.appId);
      dialog.searchParams.set('redirect_uri', redirectUri);
      dialog.searchParams.set('scope', LOGIN_SCOPES.join(','));
      dialog.searchParams.set('response_type', 'code');
    }
    // Once the app's data access has expired, Meta documents `auth_type=reauthorize` to renew it
    // (https://developers.facebook.com/docs/facebook-login/auth-vs-data); otherwise `rerequest`
    // asks again for a permission or a Page that was declined last time (Facebook would skip it
    // silently and reuse the previous Page selection).
    const dataAccessEnded = [page.posting, page.source].some(
      (t) => t !== null && t.dataAccessExpiresAt !== null && t.dataAccessExpiresAt <= now,
    );
    if (platformDialog === null) {
      dialog.searchParams.set('auth_type', dataAccessEnded ? 'reauthorize' : 'rerequest');
      dialog.searchParams.set('state', state);
    }
    logger.info({ event: 'reconnect', pageId, outcome: 'started' }, 'reconnect started');
    return reply
      .code(302)
      .header(
        'set-cookie',
        cookie(config, COOKIE_PREFIX + nonce.slice(0, 8), nonce, Math.ceil(stateTtlMs / 1000)),
      )
      .header('cache-control', 'no-store')
      .header('referrer-policy', 'no-referrer')
      .header('location', dialog.toString())
      .send();
  });
  return Promise.resolve();
}

/**
 * What a failed `keeper.reconnect` means for the person in front of the browser. When the login
 * came back without this Page but its other Pages took it, the page says which were reconnected.
 */
function failureView(err: unknown, name: string, retry: { href: string; label: string }): PageView {
  const v = pageFailureView(err, name, retry);
  const healed = isAppError(err) ? err.details?.reconnected_pages : undefined;
  if (!Array.isArray(healed) || healed.length === 0) return v;
  const names = (healed as { page_id: string; name: string | null }[]).map((p) => label(p.name, p.page_id));
  return {
    ...v,
    lines: [
      ...v.lines.map((l) => l.replace(/ Nothing was changed\.$/, ` Page ${name} was left as it was.`)),
      `The login’s other ${names.length === 1 ? 'Page was' : `${names.length} Pages were`} reconnected with it and can post again: ${names.join(', ')}.`,
    ],
    steps: [
      `To keep Page ${name} too, start again and tick it in the list of Pages in the Facebook dialog.`,
      ...(v.steps ?? []).slice(1),
    ],
  };
}

const label = (name: string | null, pageId: string) => (name ? `"${name}" (${pageId})` : pageId);

function pageFailureView(err: unknown, name: string, retry: { href: string; label: string }): PageView {
  const code: ErrorCode | null = isAppError(err) ? err.code : null;
  const unchanged = 'Nothing was changed.';
  switch (code) {
    case 'missing_permission':
      return {
        status: 403,
        tone: 'warn',
        title: 'A required permission was not granted',
        lines: [
          `Facebook gave a token without the permission to post to Page ${name} (pages_manage_posts), so it was not used. ${unchanged}`,
        ],
        steps: ['Start again and keep every requested permission ticked in the Facebook dialog.'],
        action: retry,
      };
    case 'token_wrong_page':
    case 'graph_permission_denied':
      return {
        status: 403,
        tone: 'warn',
        title: 'This Facebook account cannot manage the Page',
        lines: [
          `The Facebook account you logged in with has no role on Page ${name} (or did not allow access to it), so no Page token could be made. ${unchanged}`,
        ],
        steps: [
          'Log out of Facebook, or switch accounts, and start again as a person with a role on the Page (an admin can add you in the Page settings).',
          'In the Facebook dialog, allow access to this Page.',
        ],
        action: retry,
      };
    case 'token_wrong_app':
    case 'token_invalid':
    case 'graph_token_invalid':
    case 'graph_invalid_request':
      return {
        status: 400,
        tone: 'error',
        title: 'Facebook did not accept the login',
        lines: [
          `The answer from Facebook could not be turned into a working token for Page ${name} (the login may have expired or been used already). ${unchanged}`,
        ],
        steps: ['Start again and finish the Facebook Login within a few minutes.'],
        action: retry,
      };
    case 'graph_rate_limited':
    case 'graph_unavailable':
    case 'graph_bad_response':
      return {
        status: 503,
        tone: 'error',
        title: 'Facebook is not answering right now',
        lines: [
          `Facebook was unavailable or is limiting requests, so Page ${name} could not be reconnected. ${unchanged}`,
        ],
        steps: ['Wait a few minutes, then start again.'],
        action: retry,
      };
    case 'renewal_in_progress':
      return {
        status: 409,
        tone: 'warn',
        title: 'The Page is busy',
        lines: [`fb-token-keeper is working on Page ${name} right now. ${unchanged}`],
        steps: ['Wait a minute, then start again.'],
        action: retry,
      };
    case 'page_not_found':
      return {
        status: 404,
        tone: 'error',
        title: 'This Page is not managed here',
        lines: [`Page ${name} is not (or no longer) managed by this fb-token-keeper. ${unchanged}`],
        steps: ['Set the Page up again from the dashboard or with `fb-token-keeper setup`.'],
      };
    default:
      return {
        status: 500,
        tone: 'error',
        title: 'Something went wrong on our side',
        lines: [
          `Page ${name} could not be reconnected because of an internal error; it has been logged. ${unchanged}`,
        ],
        steps: ['Try again in a few minutes; if it keeps failing, check the fb-token-keeper logs.'],
        action: retry,
      };
  }
}
