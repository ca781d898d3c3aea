/**
 * The dashboard's views of Instagram accounts (Instagram API with Instagram Login) and Threads
 * profiles: each is one account with its own refreshable token (no Facebook Page, no Page token,
 * no source token behind it), so they get their own words. An Instagram account reached through a
 * Facebook Page posts with that Page's token and is shown as the Page.
 */
import type { PageStatus } from '../lifecycle/types.js';
import { daysLeftText, formatDate, readableTimes, relative, STATE_LABEL, STATE_TONE } from './format.js';
import { type Html, html, safeUrl } from './html.js';

export type AccountPlatform = 'instagram' | 'threads';

export function isAccount(s: Pick<PageStatus, 'platform'>): boolean {
  return s.platform === 'instagram' || s.platform === 'threads';
}

export const ACCOUNT_PLATFORM_NAME: Record<AccountPlatform, string> = {
  instagram: 'Instagram',
  threads: 'Threads',
};

function platformOf(s: Pick<PageStatus, 'platform'>): AccountPlatform {
  return s.platform === 'threads' ? 'threads' : 'instagram';
}

export function platformName(s: Pick<PageStatus, 'platform'>): string {
  return ACCOUNT_PLATFORM_NAME[platformOf(s)];
}

/** "Instagram account @shop" / "Threads profile @shop". */
export function accountLabel(s: Pick<PageStatus, 'platform' | 'page_name' | 'page_id'>): string {
  const kind = platformOf(s) === 'threads' ? 'Threads profile' : 'Instagram account';
  return `${kind} ${s.page_name !== null ? `@${s.page_name}` : s.page_id}`;
}

/** What the account's state means, in the platform's words. `nextRefresh`: ms, or null (none). */
export function explainAccount(s: PageStatus, now: number, nextRefresh: number | null): string {
  const name = platformName(s);
  switch (s.state) {
    case 'healthy':
    case 'renewal_due':
      return nextRefresh === null
        ? `Posting works. ${name} did not say when the token expires, so no refresh can be planned.`
        : `Posting works. The token is refreshed ${nextRefresh <= now ? 'at the next check' : relative(nextRefresh, now)}, when ${s.renewal_threshold_days} days or fewer are left (never before it is 24 hours old).`;
    case 'renewing':
      return 'Posting works. A refresh is in progress right now.';
    case 'failing':
      return `Posting still works, but ${name} is not answering properly. The keeper retries with backoff; alerts come before the token expires.`;
    case 'expiring':
      return `${name} would not refresh this token. Posting stops when it expires${s.expires_at ? ` (${relative(Date.parse(s.expires_at), now)})` : ''} unless someone reconnects the account.`;
    case 'needs_reauth':
      return `Posting is broken: ${name} no longer accepts the token. The account's owner must reconnect it.`;
    case 'expired':
      return `Posting is broken: the token expired and ${name} cannot refresh an expired token. The account's owner must log in again to reconnect it.`;
    case 'paused':
      return 'Automatic refresh is off for this account. The token is not refreshed until you resume.';
  }
}

function badge(state: PageStatus['state']): Html {
  return html`<span class="badge badge-${STATE_TONE[state]}" data-state="${state}">${STATE_LABEL[state]}</span>`;
}

function when(ms: number | null, now: number, never = 'never'): Html {
  if (ms === null) return html`<span class="muted">${never}</span>`;
  return html`<time datetime="${new Date(ms).toISOString()}" title="${formatDate(ms)}">${relative(ms, now)}</time>`;
}

function nextRefreshCell(s: PageStatus, now: number, nextRefresh: number | null): Html {
  if (!s.auto_renew) return html`<span class="muted">paused</span>`;
  // An expired token cannot be refreshed at all: only a new login brings the account back.
  if (s.state === 'expired' || (s.expires_at !== null && Date.parse(s.expires_at) <= now)) {
    return html`<span class="bad-text">none: expired, reconnect</span>`;
  }
  if (nextRefresh === null) return html`<span class="muted">none planned</span>`;
  if (nextRefresh <= now) return html`due now`;
  return when(nextRefresh, now);
}

/** The overview's table of Instagram accounts and Threads profiles. */
export function accountsSection(
  accounts: PageStatus[],
  now: number,
  nextRefresh: ReadonlyMap<string, number | null>,
): Html {
  return html`<section class="group" id="accounts">
<div class="group-head"><h2>Instagram and Threads accounts</h2></div>
<p class="muted small">Each keeps its own token, refreshed before it expires. An Instagram account reached through a Facebook Page posts with that Page’s token and is listed as the Page.</p>
<table class="pages">
<thead><tr><th>Account</th><th>State</th><th>Token</th><th>Next refresh</th><th>Last refresh</th></tr></thead>
<tbody>
${accounts.map((s) => {
  const next = nextRefresh.get(s.page_id) ?? null;
  return html`<tr data-page-id="${s.page_id}" data-platform="${s.platform}">
<td data-label="Account"><a class="page-link" href="/pages/${s.page_id}">${accountLabel(s)}</a><div class="muted small">${platformName(s)} · ${s.page_id}</div></td>
<td data-label="State">${badge(s.state)}<div class="small explain">${explainAccount(s, now, next)}</div>${s.state_message && STATE_TONE[s.state] === 'bad' ? html`<div class="small bad-text">${readableTimes(s.state_message)}</div>` : null}</td>
<td data-label="Token"><span class="nowrap">${daysLeftText(s, now)}</span>${s.expires_at ? html`<div class="muted small">expires ${formatDate(Date.parse(s.expires_at))}</div>` : null}</td>
<td data-label="Next refresh">${nextRefreshCell(s, now, next)}</td>
<td data-label="Last refresh">${when(s.last_renewed_at === null ? null : Date.parse(s.last_renewed_at), now)}</td>
</tr>`;
})}
</tbody>
</table>
</section>`;
}

export interface AccountView {
  status: PageStatus;
  now: number;
  csrf: string;
  reconnectUrl: string;
  nextRefresh: number | null;
  /** The history and chart sections, shared with a Page's view. */
  rest: Html;
  csrfField: (token: string) => Html;
}

/** One Instagram account or Threads profile: its token, next refresh, actions, reconnect. */
export function accountView(v: AccountView): Html {
  const s = v.status;
  const name = platformName(s);
  const needsPerson = s.state === 'needs_reauth' || s.state === 'expired' || s.state === 'expiring';
  const action = (path: string, label: string, cls = '') =>
    html`<form method="post" action="/pages/${s.page_id}/${path}" class="inline">${v.csrfField(v.csrf)}<button type="submit" class="${cls}">${label}</button></form>`;
  return html`<section class="card" data-platform="${s.platform}">
<p class="crumbs"><a href="/">Pages</a> /</p>
<div class="headline"><h1>${accountLabel(s)}</h1>${badge(s.state)}</div>
<p class="muted small">${name} account ${s.page_id} · ${name} app ${s.app_id}</p>
<p class="explain" id="account-explain">${explainAccount(s, v.now, v.nextRefresh)}</p>
${s.state_message ? html`<p class="state-message ${STATE_TONE[s.state]}-text" id="state-message">${readableTimes(s.state_message)}</p>` : null}
<div class="actions">
${action('check', 'Check now')}
${action('renew', 'Refresh now')}
${s.auto_renew ? action('pause', 'Pause auto-refresh') : action('resume', 'Resume auto-refresh', 'primary')}
<a class="button${needsPerson ? ' primary' : ''}" id="reconnect-account" href="${safeUrl(v.reconnectUrl)}" rel="noreferrer">Reconnect with ${name}</a>
</div>
<p class="help small">Reconnect opens ${name}’s own login: log in as ${s.page_name !== null ? `@${s.page_name}` : 'the account'} and allow the app.</p>
</section>

<section class="card">
<h2>Token</h2>
<dl class="facts">
<dt>Token</dt><dd>${name} token, ${s.token_valid ? html`<span class="good-text">valid</span>` : html`<strong class="bad-text">not valid</strong>`}</dd>
<dt>Expires</dt><dd id="account-expires">${s.expires_at === null ? html`<span class="muted">not known</span>` : html`${formatDate(Date.parse(s.expires_at))} (${daysLeftText(s, v.now)})`}</dd>
<dt>Next refresh</dt><dd id="account-next-refresh">${nextRefreshCell(s, v.now, v.nextRefresh)}${v.nextRefresh !== null && s.auto_renew ? html` <span class="muted small">(${formatDate(v.nextRefresh)})</span>` : null}</dd>
<dt>Auto-refresh</dt><dd>${s.auto_renew ? `on: refreshes at ${s.renewal_threshold_days} days left, never before the token is 24 hours old` : html`<strong>paused</strong>`}</dd>
<dt>Last check</dt><dd>${when(s.last_checked_at === null ? null : Date.parse(s.last_checked_at), v.now)}</dd>
<dt>Last refresh</dt><dd>${when(s.last_renewed_at === null ? null : Date.parse(s.last_renewed_at), v.now)}</dd>
${
  s.last_error
    ? html`<dt>Last error</dt><dd class="bad-text">${readableTimes(s.last_error.message)} <span class="muted small">(${s.last_error.code}${s.last_error.fb_code !== null ? `, ${name} code ${s.last_error.fb_code}${s.last_error.fb_subcode !== null ? `/${s.last_error.fb_subcode}` : ''}` : ''}, ${formatDate(Date.parse(s.last_error.at))})</span></dd>`
    : null
}
</dl>
</section>
${v.rest}`;
}

// --- add an account -----------------------------------------------------------------------------

export const ACCOUNT_FIELDS = ['platform', 'app_id', 'app_secret', 'access_token'] as const;
export type AccountField = (typeof ACCOUNT_FIELDS)[number];

export interface AddAccountView {
  csrf: string;
  csrfField: (token: string) => Html;
  /** Only the platform and app id are ever re-rendered; secrets must be typed again. */
  values: { platform?: string | undefined; app_id?: string | undefined };
  fieldErrors: Partial<Record<AccountField, string>>;
  error?: { message: string; code: string } | undefined;
}

const ACCOUNT_FIELD_INFO: Record<Exclude<AccountField, 'platform'>, { label: string; help: string }> = {
  app_id: {
    label: 'App id',
    help: 'Instagram: App Dashboard → Instagram → API setup with Instagram login. Threads: the Threads app id (Use cases → Access the Threads API → Settings), not the Facebook app id.',
  },
  app_secret: {
    label: 'App secret',
    help: 'The secret beside that app id (the Instagram or Threads app secret). Stored encrypted; never shown again.',
  },
  access_token: {
    label: 'Access token',
    help: 'A short-lived token (from the login or the token generator) is exchanged for a 60-day one; a long-lived one is kept as it is.',
  },
};

export function addAccountForm(v: AddAccountView): Html {
  const platform = v.values.platform === 'threads' ? 'threads' : 'instagram';
  const field = (name: Exclude<AccountField, 'platform'>) => {
    const info = ACCOUNT_FIELD_INFO[name];
    const err = v.fieldErrors[name];
    const secret = name !== 'app_id';
    const value = secret ? undefined : v.values.app_id;
    return html`<div class="field${err ? ' invalid' : ''}">
<label for="${name}">${info.label}</label>
<input id="${name}" name="${name}" type="${secret ? 'password' : 'text'}" autocomplete="off" spellcheck="false" required aria-describedby="${name}-help${err ? ` ${name}-error` : ''}"${err ? html` aria-invalid="true"` : null}${value ? html` value="${value}"` : null}>
${err ? html`<p class="field-error" id="${name}-error">${info.label} ${err}</p>` : null}
<p class="help small" id="${name}-help">${info.help}</p>
</div>`;
  };
  const hadSecrets = v.error !== undefined || Object.keys(v.fieldErrors).length > 0;
  return html`<section class="card narrow">
<p class="crumbs"><a href="/">Pages</a> /</p>
<h1>Add an Instagram or Threads account</h1>
<p>For an Instagram account connected with Instagram Login, or a Threads profile. Their tokens last 60 days and are refreshed before they expire. An Instagram account reached through a Facebook Page keeps using the Page token: <a href="/pages/new">add the Page</a> instead.</p>
${v.error ? html`<div class="error" role="alert" id="form-error"><strong>Setup refused.</strong> ${v.error.message} <span class="muted small">(${v.error.code})</span></div>` : null}
${hadSecrets ? html`<p class="muted small">For your safety the app secret and the token are not shown again: enter them once more.</p>` : null}
<form method="post" action="/accounts/new" class="stack" novalidate>
${v.csrfField(v.csrf)}
<div class="field${v.fieldErrors.platform ? ' invalid' : ''}">
<label for="platform">Platform</label>
<select id="platform" name="platform">
<option value="instagram"${platform === 'instagram' ? html` selected` : null}>Instagram (Instagram Login)</option>
<option value="threads"${platform === 'threads' ? html` selected` : null}>Threads</option>
</select>
${v.fieldErrors.platform ? html`<p class="field-error" id="platform-error">Platform ${v.fieldErrors.platform}</p>` : null}
</div>
${field('app_id')}
${field('app_secret')}
${field('access_token')}
<button type="submit" class="primary">Check and add</button>
</form>
</section>`;
}
