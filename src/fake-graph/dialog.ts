/**
 * The emulator's Facebook Login dialog (`GET /{version}/dialog/oauth`, docs/FACEBOOK.md#the-calls-the-keeper-makes, #versions), enough
 * for the reconnect flow without a browser: an HTML page "Log in to <app> as <user>" with a user
 * picker, one ticked checkbox per requested permission, and Continue / Cancel. Continue redirects
 * to `redirect_uri?code=…&state=…`; an unticked permission is declined (left out of the token);
 * Cancel redirects with `error=access_denied&error_reason=user_denied`.
 *
 * The Page picker: Facebook asks which Pages to grant and remembers the answer. The first login
 * shows one ticked box per Page the user has a role on; a later login reuses the previous
 * selection without asking unless `auth_type=rerequest` is passed, and a Page left unticked comes
 * back from `/me/accounts` without an `access_token` (field reports: trypost PR #314, postiz-app PRs
 * #1679/#1719; Meta documents `auth_type=rerequest` for asking again:
 * https://developers.facebook.com/docs/facebook-login/guides/advanced/re-authentication). With
 * `auth_type=reauthorize` a login also renews expired data access
 * (https://developers.facebook.com/docs/facebook-login/auth-vs-data).
 */
import type { FakeGraphState } from './state.js';

export interface DialogReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const esc = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

const html = (status: number, title: string, inner: string): DialogReply => ({
  status,
  headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
  body: `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:30rem;margin:2rem auto;padding:0 1rem}
fieldset{margin:1rem 0}label{display:block;margin:.3rem 0}button{padding:.5rem 1.2rem;margin-right:.5rem}</style>
</head><body>${inner}</body></html>`,
});

const failure = (message: string) => html(400, 'Error', `<h1>Error</h1><p>${esc(message)}</p>`);

function redirectUri(raw: string | undefined): URL | null {
  if (!raw) return null;
  try {
    const u = new URL(raw);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u : null;
  } catch {
    return null;
  }
}

function redirect(target: URL, params: Record<string, string>): DialogReply {
  const u = new URL(target);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return { status: 302, headers: { location: u.toString(), 'cache-control': 'no-store' }, body: '' };
}

const splitScopes = (s: string | null) => (s ?? '').split(/[\s,]+/).filter(Boolean);

/** `GET /{version}/dialog/oauth?client_id&redirect_uri&state&scope&response_type=code`. */
export function renderDialog(state: FakeGraphState, version: string, q: URLSearchParams): DialogReply {
  const app = state.apps.get(q.get('client_id') ?? '');
  if (!app) return failure('Invalid App ID: the client_id is not an app this emulator knows.');
  if (!redirectUri(q.get('redirect_uri') ?? undefined)) {
    return failure('URL blocked: redirect_uri must be an absolute http(s) URL.');
  }
  const responseType = q.get('response_type') ?? 'code';
  if (responseType !== 'code') {
    return failure(`Unsupported response_type "${responseType}": the emulator supports "code".`);
  }
  const requested = splitScopes(q.get('scope'));
  const scopes = requested.length > 0 ? requested : ['public_profile'];
  const users = [...state.users.values()];
  const first = users.find((u) => u.id === state.dialogUser) ?? users[0];
  if (!first) return failure('No users: create one in the emulator first.');
  const ordered = [first, ...users.filter((u) => u.id !== first.id)];
  const hidden = (name: string, value: string) =>
    `<input type="hidden" name="${name}" value="${esc(value)}">`;
  const authType = q.get('auth_type') ?? '';
  const previous = state.selectedPages(app.appId, first.id);
  const rolePages = [...state.pages.values()].filter((p) => p.roles.has(first.id));
  const ask = previous === null || authType === 'rerequest';
  const picker = ask
    ? `<fieldset><legend>Choose the Pages ${esc(app.name)} can access</legend>
${rolePages
  .map(
    (p) =>
      `<label><input type="checkbox" name="page_${esc(p.id)}" checked> ${esc(p.name)} (${esc(p.id)})</label>`,
  )
  .join('\n')}
</fieldset>${hidden('picker_user', first.id)}${hidden('picker_pages', rolePages.map((p) => p.id).join(','))}`
    : `<p>Pages: as selected before (${previous.length}). To change them, the app must ask again.</p>`;
  return html(
    200,
    `Log in to ${app.name}`,
    `<h1>Log in to ${esc(app.name)} as ${esc(first.name)}</h1>
<form method="post" action="/${esc(version)}/dialog/oauth/confirm">
${hidden('client_id', app.appId)}${hidden('redirect_uri', q.get('redirect_uri') ?? '')}${hidden('state', q.get('state') ?? '')}${hidden('scope', scopes.join(','))}${hidden('response_type', 'code')}${hidden('auth_type', authType)}
<label>Continue as <select name="user_id">${ordered
      .map((u) => `<option value="${esc(u.id)}">${esc(u.name)} (${esc(u.id)})</option>`)
      .join('')}</select></label>
<fieldset><legend>${esc(app.name)} is requesting:</legend>
${scopes.map((s) => `<label><input type="checkbox" name="scope_${esc(s)}" checked> ${esc(s)}</label>`).join('\n')}
</fieldset>
${picker}
<button type="submit" name="action" value="continue">Continue</button>
<button type="submit" name="action" value="cancel">Cancel</button>
</form>`,
  );
}

/** `POST /{version}/dialog/oauth/confirm` (the form above). */
export function confirmDialog(state: FakeGraphState, form: URLSearchParams): DialogReply {
  const app = state.apps.get(form.get('client_id') ?? '');
  const target = redirectUri(form.get('redirect_uri') ?? undefined);
  if (!app || !target) return failure('Invalid App ID or redirect_uri.');
  const stateParam = form.get('state') ?? '';
  if (form.get('action') === 'cancel') {
    return redirect(target, {
      error: 'access_denied',
      error_code: '200',
      error_description: 'Permissions error',
      error_reason: 'user_denied',
      state: stateParam,
    });
  }
  const userId = form.get('user_id') ?? '';
  if (!state.users.has(userId)) return failure(`Unknown user ${userId}.`);
  // The form posts the requested list as `scope` and one `scope_<permission>=on` per ticked box.
  const requested = splitScopes(form.get('scope'));
  const granted = requested.filter((s) => form.get(`scope_${s}`) === 'on');
  // The picker applies to the user it was shown for; another user chosen in the form (or no
  // picker shown) keeps the previous selection, or every Page on a first login.
  let pageIds: string[] | null = null;
  if (form.get('picker_user') === userId) {
    pageIds = (form.get('picker_pages') ?? '')
      .split(',')
      .filter((id) => id !== '' && form.get(`page_${id}`) === 'on');
  }
  const code = state.createCode(app.appId, form.get('redirect_uri') ?? '', userId, granted, {
    pageIds,
    reauthorize: form.get('auth_type') === 'reauthorize',
  });
  return redirect(target, { code, state: stateParam });
}
