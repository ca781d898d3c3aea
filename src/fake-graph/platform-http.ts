/**
 * HTTP for the Instagram-Login and Threads hosts, served by the same emulator under path prefixes:
 * `/instagram/…` stands for graph.instagram.com, api.instagram.com and www.instagram.com,
 * `/threads/…` for graph.threads.net and threads.net (so INSTAGRAM_API_URL, INSTAGRAM_OAUTH_URL,
 * INSTAGRAM_DIALOG_URL = `<emulator>/instagram`, THREADS_API_URL, THREADS_DIALOG_URL =
 * `<emulator>/threads`). A leading version segment (`/v1.0/me`, `/v23.0/me`) is accepted and ignored.
 * Faults, latency and the call record are http.ts's, as for Facebook's routes.
 */
import { InstagramOauthFailure } from './instagram.js';
import { type RefreshableWorld, REFRESHABLE_PLATFORMS, type RefreshablePlatform } from './refreshable.js';
import { GraphFailure } from './state.js';

export interface PlatformReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const jsonReply = (status: number, body: unknown): PlatformReply => ({
  status,
  headers: { 'content-type': 'application/json; charset=UTF-8' },
  body: JSON.stringify(body),
});

export function isPlatformPrefix(segment: string | undefined): segment is RefreshablePlatform {
  return (REFRESHABLE_PLATFORMS as readonly string[]).includes(segment ?? '');
}

/** Is this request the Login dialog (no faults, latency or usage headers, like Facebook's)? */
export function isPlatformDialog(rest: string[]): boolean {
  return rest[0] === 'oauth' && rest[1] === 'authorize';
}

/** Routes one request under `/instagram` or `/threads` (`rest`: the path after the prefix). */
export function routePlatform(
  world: RefreshableWorld,
  method: string,
  rest: string[],
  q: URLSearchParams,
): PlatformReply {
  if (isPlatformDialog(rest)) {
    return rest[2] === 'confirm' && method === 'POST' ? confirmDialog(world, q) : renderDialog(world, q);
  }
  try {
    return jsonReply(200, graphRoute(world, method, rest, q));
  } catch (e: unknown) {
    if (e instanceof InstagramOauthFailure) return jsonReply(e.status, e.flatBody());
    if (e instanceof GraphFailure) return jsonReply(e.status, e.body());
    throw e;
  }
}

function graphRoute(world: RefreshableWorld, method: string, rest: string[], q: URLSearchParams): unknown {
  const { rules } = world;
  const path = (/^v\d+\.\d+$/.test(rest[0] ?? '') ? rest.slice(1) : rest).join('/');
  const grant = q.get('grant_type');
  if (path === 'access_token' && method === 'GET') {
    if (grant !== rules.exchangeGrant) {
      throw new GraphFailure(400, 100, `Unsupported grant_type "${grant ?? ''}"`);
    }
    return world.exchange(q.get('client_secret'), q.get('access_token'));
  }
  if (path === 'refresh_access_token' && method === 'GET') {
    if (grant !== rules.refreshGrant) {
      throw new GraphFailure(400, 100, `Unsupported grant_type "${grant ?? ''}"`);
    }
    return world.refresh(q.get('access_token'));
  }
  if (path === 'oauth/access_token') {
    if (rules.platform === 'threads' && grant === 'client_credentials') {
      return world.appToken(q.get('client_id'), q.get('client_secret'));
    }
    if (method !== 'POST' && rules.platform === 'instagram') {
      throw new InstagramOauthFailure(405, 400, 'This endpoint requires POST', null, 'OAuthException');
    }
    if (grant !== 'authorization_code') {
      throw new GraphFailure(400, 100, `Unsupported grant_type "${grant ?? ''}"`);
    }
    const rec = world.redeemCode(q);
    // https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/business-login:
    // Instagram wraps the answer in `data` and lists the permissions; Threads answers token and user id.
    return rules.platform === 'instagram'
      ? { data: [{ access_token: rec.token, user_id: rec.accountId, permissions: rec.scopes.join(',') }] }
      : { access_token: rec.token, user_id: rec.accountId };
  }
  if (path === 'me' && method === 'GET') {
    const rec = world.authenticate(q.get('access_token'));
    const fields = (q.get('fields') ?? 'id').split(',').map((f) => f.trim());
    return world.me(rec, fields);
  }
  if (path === 'debug_token' && method === 'GET' && rules.platform === 'threads') {
    const caller = world.authenticate(q.get('access_token'));
    return world.debugToken(caller, q.get('input_token'));
  }
  throw new GraphFailure(
    400,
    100,
    `Unsupported ${method.toLowerCase()} request.`,
    33,
    'GraphMethodException',
  );
}

// ---- the Login dialog ------------------------------------------------------------------------------

const esc = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

const page = (status: number, title: string, inner: string): PlatformReply => ({
  status,
  headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
  body: `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head><body>${inner}</body></html>`,
});

function redirectTarget(raw: string | null): URL | null {
  try {
    const u = new URL(raw ?? '');
    return u.protocol === 'http:' || u.protocol === 'https:' ? u : null;
  } catch {
    return null;
  }
}

function redirect(target: URL, params: Record<string, string>): PlatformReply {
  const u = new URL(target);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  // Both platforms append `#_` to the redirect; it is not part of the code.
  return { status: 302, headers: { location: `${u.toString()}#_`, 'cache-control': 'no-store' }, body: '' };
}

const splitScopes = (s: string | null) => (s ?? '').split(/[\s,]+/).filter(Boolean);

/** `GET …/oauth/authorize?client_id&redirect_uri&scope&response_type=code&state`. */
function renderDialog(world: RefreshableWorld, q: URLSearchParams): PlatformReply {
  const { label } = world.rules;
  let app;
  try {
    app = world.clientApp(q.get('client_id'));
  } catch (e: unknown) {
    const message = e instanceof GraphFailure ? e.message : 'Invalid app id';
    return page(400, 'Error', `<h1>Error</h1><p>${esc(message)}</p>`);
  }
  if (!redirectTarget(q.get('redirect_uri'))) {
    return page(
      400,
      'Error',
      '<h1>Error</h1><p>Invalid redirect_uri: it must be an absolute http(s) URL.</p>',
    );
  }
  if ((q.get('response_type') ?? 'code') !== 'code') {
    return page(400, 'Error', '<h1>Error</h1><p>Unsupported response_type: use code.</p>');
  }
  const accounts = [...world.accounts.values()];
  const first = accounts.find((a) => a.id === world.dialogAccount) ?? accounts[0];
  if (!first) {
    return page(
      400,
      'Error',
      `<h1>Error</h1><p>No ${esc(label)} accounts: create one in the emulator first.</p>`,
    );
  }
  const ordered = [first, ...accounts.filter((a) => a.id !== first.id)];
  const scopes = splitScopes(q.get('scope'));
  const hidden = (name: string, value: string) =>
    `<input type="hidden" name="${name}" value="${esc(value)}">`;
  return page(
    200,
    `Log in to ${app.name} with ${label}`,
    `<h1>Allow ${esc(app.name)} to access your ${esc(label)} account as ${esc(first.username)}?</h1>
<form method="post" action="authorize/confirm">
${hidden('client_id', app.appId)}${hidden('redirect_uri', q.get('redirect_uri') ?? '')}${hidden('state', q.get('state') ?? '')}${hidden('scope', scopes.join(','))}
<label>Continue as <select name="account_id">${ordered
      .map((a) => `<option value="${esc(a.id)}">${esc(a.username)} (${esc(a.id)})</option>`)
      .join('')}</select></label>
<fieldset><legend>${esc(app.name)} is requesting:</legend>
${scopes.map((s) => `<label><input type="checkbox" name="scope_${esc(s)}" checked> ${esc(s)}</label>`).join('\n')}
</fieldset>
<button type="submit" name="action" value="continue">Allow</button>
<button type="submit" name="action" value="cancel">Cancel</button>
</form>`,
  );
}

/** `POST …/oauth/authorize/confirm` (the form above). */
function confirmDialog(world: RefreshableWorld, form: URLSearchParams): PlatformReply {
  const app = world.apps.get(form.get('client_id') ?? '');
  const target = redirectTarget(form.get('redirect_uri'));
  if (!app || !target) return page(400, 'Error', '<h1>Error</h1><p>Invalid app id or redirect_uri.</p>');
  const state = form.get('state') ?? '';
  if (form.get('action') === 'cancel') {
    return redirect(target, {
      error: 'access_denied',
      error_reason: 'user_denied',
      error_description: 'The user denied your request.',
      state,
    });
  }
  const accountId = form.get('account_id') ?? '';
  if (!world.accounts.has(accountId)) {
    return page(400, 'Error', `<h1>Error</h1><p>Unknown account ${esc(accountId)}.</p>`);
  }
  const granted = splitScopes(form.get('scope')).filter((s) => form.get(`scope_${s}`) === 'on');
  const code = world.createCode(app.appId, form.get('redirect_uri') ?? '', accountId, granted);
  return redirect(target, { code, state });
}
