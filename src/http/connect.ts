/**
 * Reconnect through Facebook Login (DESIGN §2 "Reconnect"). Alerts carry a signed, expiring link
 * `GET /connect/{page_id}`; it sends the person to the Login dialog with a `state` that binds the
 * page, a one-time nonce (also in a cookie, against CSRF) and an expiry. The callback exchanges the
 * code, mints and verifies the Page token, and resumes the page — or explains what went wrong and
 * changes nothing.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { type Clock, HOUR, MINUTE } from '../clock.js';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { TokenKeeper } from '../lifecycle/types.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/types.js';
import { LOGIN_SCOPES } from '../types.js';

const STATE_TTL_MS = 15 * MINUTE;
const COOKIE = 'fbtk_connect';

const mac = (secret: Buffer, text: string) => createHmac('sha256', secret).update(text).digest('base64url');

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function signReconnectLink(pageId: string, expiresAtSec: number, secret: Buffer): string {
  return mac(secret, `link:${pageId}:${expiresAtSec}`);
}

/** The link put in alerts and on the dashboard. Expiry is rounded up to the hour so it stays stable for a while. */
export function reconnectUrl(config: Config, pageId: string, now: number, secret: Buffer): string {
  const exp = Math.ceil((now + config.reconnectLinkTtlHours * HOUR) / HOUR) * (HOUR / 1000);
  return `${config.publicUrl}/connect/${encodeURIComponent(pageId)}?exp=${exp}&sig=${signReconnectLink(pageId, exp, secret)}`;
}

export function verifyReconnectLink(pageId: string, exp: string | undefined, sig: string | undefined, now: number, secret: Buffer): 'ok' | 'invalid' | 'expired' {
  if (!exp || !sig || !/^\d{1,12}$/.test(exp)) return 'invalid';
  if (!safeEqual(signReconnectLink(pageId, Number(exp), secret), sig)) return 'invalid';
  return Number(exp) * 1000 > now ? 'ok' : 'expired';
}

interface State {
  pageId: string;
  nonce: string;
  exp: number;
}

function makeState(s: State, secret: Buffer): string {
  const body = `${s.pageId}.${s.nonce}.${s.exp}`;
  return `${body}.${mac(secret, `state:${body}`)}`;
}

function readState(raw: string | undefined, secret: Buffer): State | null {
  const parts = (raw ?? '').split('.');
  if (parts.length !== 4) return null;
  const [pageId, nonce, exp, sig] = parts as [string, string, string, string];
  if (!/^\d{1,32}$/.test(pageId) || !/^\d+$/.test(exp)) return null;
  if (!safeEqual(mac(secret, `state:${pageId}.${nonce}.${exp}`), sig)) return null;
  return { pageId, nonce, exp: Number(exp) };
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function messagePage(title: string, paragraphs: string[], ok: boolean): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)} · fb-token-keeper</title>
<style>body{font-family:system-ui,-apple-system,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1c1e21;line-height:1.5}
h1{font-size:1.4rem;color:${ok ? '#1a7f37' : '#b42318'}}.box{border:1px solid #dadde1;border-radius:8px;padding:1rem 1.25rem}a{color:#1877f2}</style></head>
<body><div class="box"><h1>${esc(title)}</h1>${paragraphs.map((p) => `<p>${esc(p)}</p>`).join('')}</div></body></html>`;
}

export interface ConnectDeps {
  config: Config;
  keeper: TokenKeeper;
  store: Store;
  clock: Clock;
  logger: Logger;
  linkSecret: Buffer;
}

export async function registerConnectRoutes(app: FastifyInstance, deps: ConnectDeps): Promise<void> {
  const { config, clock, linkSecret } = deps;
  const redirectUri = `${config.publicUrl}/connect/callback`;
  /** Nonces already used (replay protection), with their expiry. */
  const used = new Map<string, number>();
  const html = (reply: FastifyReply, status: number, title: string, paragraphs: string[]) =>
    reply
      .code(status)
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
      .send(messagePage(title, paragraphs, status < 400));

  app.get<{ Params: { page_id: string }; Querystring: { exp?: string; sig?: string } }>('/connect/:page_id', { schema: { hide: true } }, async (req, reply) => {
    const pageId = req.params.page_id;
    if (pageId === 'callback') return html(reply, 400, 'Nothing to do here', ['Open the reconnect link from your alert instead.']);
    const q = req.query;
    const verdict = /^\d{1,32}$/.test(pageId) ? verifyReconnectLink(pageId, q.exp, q.sig, clock.now(), linkSecret) : 'invalid';
    if (verdict !== 'ok') {
      return html(reply, verdict === 'expired' ? 410 : 400, verdict === 'expired' ? 'This reconnect link has expired' : 'This reconnect link is not valid', [
        verdict === 'expired'
          ? 'Reconnect links expire for safety. Open the dashboard (or run `fb-token-keeper status --page-id ID`) to get a fresh one.'
          : 'The link was changed or cut short. Use the whole link from the alert, or get a fresh one from the dashboard.',
        'Nothing was changed.',
      ]);
    }
    const page = await deps.store.getPage(pageId);
    if (!page) return html(reply, 404, 'Unknown Page', [`Page ${pageId} is not managed by this fb-token-keeper.`]);
    const nonce = randomBytes(16).toString('base64url');
    const state = makeState({ pageId, nonce, exp: clock.now() + STATE_TTL_MS }, linkSecret);
    const dialog = new URL(`${config.facebookDialogUrl}/${config.graphApiVersion}/dialog/oauth`);
    dialog.searchParams.set('client_id', page.appId);
    dialog.searchParams.set('redirect_uri', redirectUri);
    dialog.searchParams.set('scope', LOGIN_SCOPES.join(','));
    dialog.searchParams.set('response_type', 'code');
    dialog.searchParams.set('state', state);
    const secure = config.publicUrl.startsWith('https:') ? '; Secure' : '';
    return reply
      .header('set-cookie', `${COOKIE}=${nonce}; Path=/connect; HttpOnly; SameSite=Lax; Max-Age=${STATE_TTL_MS / 1000}${secure}`)
      .header('cache-control', 'no-store')
      .redirect(dialog.toString(), 302);
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/connect/callback', { schema: { hide: true } }, async (req, reply) => {
    const q = req.query;
    const state = readState(q.state, linkSecret);
    const now = clock.now();
    for (const [n, exp] of used) if (exp <= now) used.delete(n);
    if (!state) return html(reply, 400, 'This sign-in cannot be used', ['The sign-in response was changed or is incomplete. Start again from the reconnect link.', 'Nothing was changed.']);
    if (state.exp <= now) return html(reply, 400, 'This sign-in took too long', ['Start again from the reconnect link; you have 15 minutes to finish.', 'Nothing was changed.']);
    const cookieNonce = /(?:^|;\s*)fbtk_connect=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    if (!cookieNonce || !safeEqual(cookieNonce, state.nonce)) {
      return html(reply, 403, 'This sign-in was not started here', ['For your safety the reconnect must be finished in the same browser that opened the link. Open the link again.', 'Nothing was changed.']);
    }
    if (used.has(state.nonce)) return html(reply, 400, 'This sign-in was already used', ['Open the reconnect link again if the Page still needs it.', 'Nothing was changed.']);
    used.set(state.nonce, state.exp);
    reply.header('set-cookie', `${COOKIE}=; Path=/connect; HttpOnly; SameSite=Lax; Max-Age=0`);

    if (q.error) {
      return html(reply, 400, 'Facebook Login was cancelled', [
        q.error_reason === 'user_denied' ? 'You cancelled the Facebook dialog or declined the permissions.' : `Facebook said: ${q.error_description ?? q.error}.`,
        'fb-token-keeper needs pages_show_list, pages_read_engagement and pages_manage_posts to keep posting. Open the link again and allow them.',
        'Nothing was changed.',
      ]);
    }
    if (!q.code) return html(reply, 400, 'No authorization code', ['Facebook did not send a code back. Open the reconnect link again.', 'Nothing was changed.']);
    try {
      const s = await deps.keeper.reconnect(state.pageId, q.code, redirectUri);
      deps.logger.info({ pageId: state.pageId }, 'page reconnected');
      return html(reply, 200, `${s.page_name ?? `Page ${s.page_id}`} is connected again`, [
        `State: ${s.state}. ${s.state_message ?? ''}`,
        'Posting continues; you can close this window.',
      ]);
    } catch (e) {
      const err = e instanceof AppError ? e : null;
      deps.logger.warn({ pageId: state.pageId, code: err?.code ?? 'internal_error' }, 'reconnect failed');
      const advice: Record<string, string> = {
        missing_permission: 'You declined a permission fb-token-keeper needs (pages_manage_posts). Open the link again and keep every permission ticked.',
        token_wrong_page: 'The Facebook account you logged in with has no role on this Page. Log in as an admin of the Page.',
        token_invalid: 'Facebook did not accept the login. Open the link again.',
      };
      return html(reply, err && err.status < 500 ? err.status : 502, 'The Page could not be reconnected', [
        (err && advice[err.code]) ?? (err ? err.message : 'An unexpected error happened.'),
        'Nothing was changed.',
      ]);
    }
  });
}
