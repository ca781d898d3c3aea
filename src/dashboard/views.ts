/**
 * The dashboard's pages, as functions from data to HTML. Everything dynamic goes through `html`
 * (escaped); no view ever receives a token, an app secret or an API key, so none can render one.
 */
import type {
  ConnectionDetail,
  ConnectionView,
  HistoryItem,
  PageStatus,
  WhatsAppAccountStatus,
} from '../lifecycle/types.js';
import { accountsSection, isAccount } from './account-views.js';
import { timelineChart } from './chart.js';
import {
  daysLeftText,
  EVENT_LABEL,
  eventTone,
  explainState,
  formatDate,
  readableTimes,
  relative,
  STATE_LABEL,
  STATE_TONE,
} from './format.js';
import { type Html, html, safeUrl } from './html.js';
import type { Flash } from './session.js';

export interface LayoutOptions {
  title: string;
  /** Query string appended to asset URLs so browsers may cache them forever. */
  assetVersion: string;
  /** Present when signed in: the CSRF token for the sign-out form. */
  csrf?: string | undefined;
  flash?: Flash | null | undefined;
  /** Shown on every signed-in page when no alert channel is configured (`NO_ALERT_CHANNEL`). */
  noAlertChannel?: string | undefined;
}

export function layout(o: LayoutOptions, body: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${o.title} · fb-token-keeper</title>
<link rel="stylesheet" href="/assets/dashboard.css?v=${o.assetVersion}">
<link rel="icon" href="/assets/favicon.svg?v=${o.assetVersion}" type="image/svg+xml">
</head>
<body>
<header class="top">
<a class="brand" href="/"><img src="/assets/favicon.svg?v=${o.assetVersion}" alt="" width="22" height="22"> fb-token-keeper</a>
${
  o.csrf !== undefined
    ? html`<nav><a href="/">Pages</a><a href="/pages/new">Add a page</a><a href="/accounts/new">Add an account</a><form method="post" action="/sign-out" class="inline">${csrfField(o.csrf)}<button type="submit" class="link">Sign out</button></form></nav>`
    : null
}
</header>
<main>
${o.csrf !== undefined && o.noAlertChannel !== undefined ? html`<div class="flash flash-error" role="alert" id="no-alert-channel">${o.noAlertChannel}</div>` : null}
${o.flash ? html`<div class="flash flash-${o.flash.kind}" role="${o.flash.kind === 'error' ? 'alert' : 'status'}">${readableTimes(o.flash.text)}</div>` : null}
${body}
</main>
<footer><a href="/docs">API docs</a> · <a href="/healthz">health</a></footer>
</body>
</html>
`;
}

export function csrfField(token: string): Html {
  return html`<input type="hidden" name="_csrf" value="${token}">`;
}

function badge(state: PageStatus['state']): Html {
  return html`<span class="badge badge-${STATE_TONE[state]}" data-state="${state}">${STATE_LABEL[state]}</span>`;
}

function when(iso: string | null, now: number, never = 'never'): Html {
  if (iso === null) return html`<span class="muted">${never}</span>`;
  const ms = Date.parse(iso);
  return html`<time datetime="${iso}" title="${formatDate(ms)}">${relative(ms, now)}</time>`;
}

/** The next check: a time to come, or "due now" once it has passed (the scheduler picks it up). */
function nextCheck(s: PageStatus, now: number): Html {
  if (!s.auto_renew) return html`<span class="muted">paused</span>`;
  if (s.next_check_at === null || Date.parse(s.next_check_at) <= now) return html`due now`;
  return when(s.next_check_at, now);
}

// --- sign in ------------------------------------------------------------------------------------

export interface SignInView {
  csrf: string;
  next?: string | undefined;
  error?: string | undefined;
}

export function signInPage(v: SignInView): Html {
  return html`<section class="card narrow">
<h1>Sign in</h1>
<p>Use an API key with the <code>admin</code> scope. The first <code>serve</code> prints one; more come from <code>fb-token-keeper api-key create</code>.</p>
${v.error ? html`<p class="error" role="alert" id="signin-error">${v.error}</p>` : null}
<form method="post" action="/sign-in" class="stack">
${csrfField(v.csrf)}
${v.next ? html`<input type="hidden" name="next" value="${v.next}">` : null}
<label for="api_key">API key</label>
<input id="api_key" name="api_key" type="password" autocomplete="current-password" spellcheck="false" required placeholder="ftk_…"${v.error ? html` aria-describedby="signin-error" aria-invalid="true"` : null}>
<button type="submit" class="primary">Sign in</button>
</form>
</section>`;
}

// --- list ---------------------------------------------------------------------------------------

export function pagesPage(
  all: PageStatus[],
  now: number,
  connections: ConnectionView[] = [],
  nextRefresh: ReadonlyMap<string, number | null> = new Map(),
): Html {
  // Instagram accounts and Threads profiles have their own table, in their own words.
  const accounts = all.filter(isAccount);
  const pages = all.filter((p) => !isAccount(p));
  const accountsHtml = accounts.length > 0 ? accountsSection(accounts, now, nextRefresh) : null;
  // Accounts count too: the summary line is the one place that says whether anything needs a person.
  const broken = all.filter((p) => STATE_TONE[p.state] === 'bad').length;
  if (pages.length === 0 && accounts.length > 0) {
    return html`<section>
<div class="headline"><h1>Managed accounts</h1><a class="button" href="/accounts/new">Add an Instagram or Threads account</a><a class="button primary" href="/pages/new">Add a page</a></div>
<p class="summary">${accounts.length} account${accounts.length === 1 ? '' : 's'}${broken > 0 ? html` · <strong class="bad-text">${broken} need${broken === 1 ? 's' : ''} attention</strong>` : ' · all posting normally'}</p>
${accountsHtml}
</section>`;
  }
  if (pages.length === 0) {
    return html`<section class="card">
<h1>Managed pages</h1>
<p>No page is managed yet.</p>
<p><a class="button primary" href="/pages/new">Add a page</a> <a class="button" href="/accounts/new">Add an Instagram or Threads account</a></p>
</section>`;
  }
  const byId = new Map(pages.map((p) => [p.page_id, p]));
  // A Page is shown once: under the login it belongs to, else among the Pages on their own.
  const grouped = new Set<string>();
  const groups = connections
    .map((c) => {
      const own = c.page_ids.flatMap((id) => {
        const p = byId.get(id);
        if (!p || grouped.has(id)) return [];
        grouped.add(id);
        return [p];
      });
      return { c, own };
    })
    .filter((g) => g.own.length > 0);
  const alone = pages.filter((p) => !grouped.has(p.page_id));
  return html`<section>
<div class="headline"><h1>Managed pages</h1><a class="button" href="/accounts/new">Add an Instagram or Threads account</a><a class="button primary" href="/pages/new">Add a page</a></div>
<p class="summary">${pages.length} page${pages.length === 1 ? '' : 's'}${groups.length > 0 ? ` · ${groups.length} Facebook login${groups.length === 1 ? '' : 's'}` : ''}${broken > 0 ? html` · <strong class="bad-text">${broken} need${broken === 1 ? 's' : ''} attention</strong>` : ' · all posting normally'}</p>
${groups.map(
  ({ c, own }) => html`<section class="group" data-connection-id="${c.id}">
<div class="group-head"><h2><a href="/connections/${c.id}">${loginName(c)}</a></h2>${connectionBadge(c.state)}</div>
<p class="muted small">${loginSentence(c, own.length)} <a href="/connections/${c.id}">See the login</a></p>
${pagesTable(own, now)}
</section>`,
)}
${
  alone.length > 0
    ? html`<section class="group" data-connection-id="">
${groups.length > 0 ? html`<div class="group-head"><h2>Pages on their own</h2></div>` : null}
${groups.length > 0 ? html`<p class="muted small">Set up from a Page token, with no Facebook login behind ${alone.length === 1 ? 'it' : 'them'}: a lost token needs a person to set it up again.</p>` : null}
${pagesTable(alone, now)}
</section>`
    : null
}
${accountsHtml}
</section>`;
}

function pagesTable(pages: PageStatus[], now: number): Html {
  return html`<table class="pages">
<thead><tr><th>Page</th><th>State</th><th>Token</th><th>Last check</th><th>Next check</th><th>Last renewal</th></tr></thead>
<tbody>
${pages.map(
  (p) => html`<tr data-page-id="${p.page_id}">
<td data-label="Page"><a class="page-link" href="/pages/${p.page_id}">${p.page_name ?? 'Unnamed page'}</a><div class="muted small">${p.page_id}</div></td>
<td data-label="State">${badge(p.state)}<div class="small explain">${explainState(p, now)}</div>${p.state_message && STATE_TONE[p.state] === 'bad' ? html`<div class="small bad-text">${readableTimes(p.state_message)}</div>` : null}</td>
<td data-label="Token"><span class="nowrap${p.expires_at === null && p.token_valid ? ' good-text' : ''}">${daysLeftText(p, now)}</span>${p.expires_at ? html`<div class="muted small">${formatDate(Date.parse(p.expires_at))}</div>` : null}</td>
<td data-label="Last check">${when(p.last_checked_at, now)}</td>
<td data-label="Next check">${nextCheck(p, now)}</td>
<td data-label="Last renewal">${when(p.last_renewed_at, now)}</td>
</tr>`,
)}
</tbody>
</table>`;
}

/** The "Send a test alert" form (on the list of pages, empty or not). */
export function testAlertForm(csrf: string): Html {
  return html`<section class="card">
<h2>Alerts</h2>
<p>Send a test alert to every configured channel and see, per channel, whether it was delivered.</p>
<form method="post" action="/alerts/test" class="inline">${csrfField(csrf)}<button type="submit">Send a test alert</button></form>
</section>`;
}

// --- one page -----------------------------------------------------------------------------------

export interface PageView {
  status: PageStatus;
  /** Events for the chart (newest first is fine). */
  chartHistory: HistoryItem[];
  /** Events for the table, newest first. */
  tableHistory: HistoryItem[];
  /** id to pass as `before` for the next (older) page of the table, or null. */
  olderBefore: number | null;
  now: number;
  csrf: string;
  reconnectUrl: string;
  /** The login (connection) the Page's token comes from; null or absent for a Page on its own. */
  login?: { id: string; name: string } | null;
}

export function pageView(v: PageView): Html {
  const s = v.status;
  const needsPerson = s.state === 'needs_reauth' || s.state === 'expired' || s.state === 'expiring';
  const action = (path: string, label: string, cls = '') =>
    html`<form method="post" action="/pages/${s.page_id}/${path}" class="inline">${csrfField(v.csrf)}<button type="submit" class="${cls}">${label}</button></form>`;
  const src =
    s.source_token_type === null
      ? html`none: a lost posting token cannot be re-minted without a person`
      : html`${s.source_token_type === 'SYSTEM_USER' ? 'system user' : 'user'} token, ${s.source_valid ? 'valid' : html`<strong class="bad-text">not valid</strong>`}, ${s.source_expires_at === null ? 'never expires' : `expires ${formatDate(Date.parse(s.source_expires_at))}`}`;
  return html`<section class="card">
<p class="crumbs"><a href="/">Pages</a> /</p>
<div class="headline"><h1>${s.page_name ?? 'Unnamed page'}</h1>${badge(s.state)}</div>
<p class="muted small">Page ${s.page_id} · app ${s.app_id} · Graph API ${s.graph_api_version}</p>
${v.login ? html`<p class="small" id="page-login">Its token comes from the <a href="/connections/${v.login.id}">${v.login.name}</a>: reconnecting that login heals every Page under it.</p>` : null}
<p class="explain">${explainState(s, v.now)}</p>
${s.state_message ? html`<p class="state-message ${STATE_TONE[s.state]}-text" id="state-message">${readableTimes(s.state_message)}</p>` : null}
<div class="actions">
${action('check', 'Check now')}
${action('renew', 'Renew now')}
${s.auto_renew ? action('pause', 'Pause auto-renew') : action('resume', 'Resume auto-renew', 'primary')}
<a class="button${needsPerson ? ' primary' : ''}" href="${safeUrl(v.reconnectUrl)}" rel="noreferrer">Reconnect with Facebook</a>
</div>
</section>

<section class="card">
<h2>Token</h2>
<dl class="facts">
<dt>Posting token</dt><dd>${s.token_type === 'PAGE' ? 'Page token' : s.token_type}, ${s.token_valid ? html`<span class="good-text">valid</span>` : html`<strong class="bad-text">not valid</strong>`}</dd>
<dt>Expires</dt><dd>${s.expires_at === null ? html`<span class="${s.token_valid ? 'good-text' : ''}">never expires</span>` : html`${formatDate(Date.parse(s.expires_at))} (${daysLeftText(s, v.now)})`}</dd>
<dt>Data access until</dt><dd>${s.data_access_expires_at === null ? 'no limit reported' : formatDate(Date.parse(s.data_access_expires_at))}</dd>
<dt>Source token</dt><dd>${src}</dd>
${s.self_healing_until ? html`<dt>Self-healing</dt><dd>available until ${formatDate(Date.parse(s.self_healing_until))}</dd>` : null}
<dt>Permissions</dt><dd>${s.scopes.length ? s.scopes.join(', ') : 'none'}${s.missing_scopes.length ? html` <strong class="bad-text">missing: ${s.missing_scopes.join(', ')}</strong>` : null}</dd>
<dt>Auto-renew</dt><dd>${s.auto_renew ? `on: renews at ${s.renewal_threshold_days} days left` : html`<strong>paused</strong>`}</dd>
<dt>Last check</dt><dd>${when(s.last_checked_at, v.now)}</dd>
<dt>Next check</dt><dd>${nextCheck(s, v.now)}</dd>
<dt>Last renewal</dt><dd>${when(s.last_renewed_at, v.now)}</dd>
${
  s.last_error
    ? html`<dt>Last error</dt><dd class="bad-text">${readableTimes(s.last_error.message)} <span class="muted small">(${s.last_error.code}${s.last_error.fb_code !== null ? `, Facebook code ${s.last_error.fb_code}${s.last_error.fb_subcode !== null ? `/${s.last_error.fb_subcode}` : ''}` : ''}${s.last_error.fbtrace_id ? `, fbtrace ${s.last_error.fbtrace_id}` : ''}, ${formatDate(Date.parse(s.last_error.at))})</span></dd>`
    : null
}
</dl>
</section>

${historySections(v)}`;
}

/** The timeline chart and the history table of a Page or an account. */
export function historySections(v: PageView): Html {
  const s = v.status;
  return html`<section class="card">
<h2>Timeline</h2>
<div class="chart-wrap">${timelineChart({ status: s, history: v.chartHistory, now: v.now })}</div>
<ul class="legend small">
<li><span class="key key-line"></span>posting token: days left</li>
${s.source_token_type !== null ? html`<li><span class="key key-src"></span>source token: days left</li>` : null}
<li><span class="key key-ev-good"></span>set up, renewed, healed</li>
<li><span class="key key-ev-bad"></span>problem</li>
<li><span class="key key-ev-info"></span>other event</li>
</ul>
</section>

<section class="card">
<h2>History</h2>
${
  v.tableHistory.length === 0
    ? html`<p class="muted">No events yet.</p>`
    : html`<table class="history">
<thead><tr><th>When</th><th>Event</th><th>State</th><th>What happened</th></tr></thead>
<tbody>
${v.tableHistory.map(
  (e) => html`<tr id="event-${e.id}" class="ev-${eventTone(e)}">
<td data-label="When"><time datetime="${e.at}">${formatDate(Date.parse(e.at))}</time></td>
<td data-label="Event">${EVENT_LABEL[e.type] ?? e.type}${e.reason ? html`<div class="muted small">${e.reason}</div>` : null}</td>
<td data-label="State">${e.state_to !== null ? html`${e.state_from !== null && e.state_from !== e.state_to ? html`${STATE_LABEL[e.state_from]} → ` : null}${STATE_LABEL[e.state_to]}` : html`<span class="muted">–</span>`}</td>
<td data-label="What happened">${readableTimes(e.message ?? '')}</td>
</tr>`,
)}
</tbody>
</table>
${v.olderBefore !== null ? html`<p><a href="/pages/${s.page_id}?before=${v.olderBefore}#history">Older events</a></p>` : null}`
}
</section>`;
}

// --- one login (connection) ---------------------------------------------------------------------

const CONNECTION_LABEL: Record<ConnectionView['state'], { label: string; tone: 'good' | 'warn' | 'bad' }> = {
  healthy: { label: 'working', tone: 'good' },
  // Its Pages still post (their tokens need not expire with it); what ends is healing without a person.
  expiring: { label: 'expiring', tone: 'warn' },
  needs_reauth: { label: 'needs reconnect', tone: 'bad' },
};

function connectionBadge(state: ConnectionView['state']): Html {
  // Read defensively: a state added later shows as itself, neutral.
  const l = (CONNECTION_LABEL as Partial<typeof CONNECTION_LABEL>)[state];
  return html`<span class="badge badge-${l?.tone ?? 'muted'}" data-state="${state}">${l?.label ?? state}</span>`;
}

/** `Facebook`, or the platform's own name once other platforms keep logins (read defensively). */
function platformName(c: Pick<ConnectionView, 'platform'>): string {
  const p = typeof c.platform === 'string' && c.platform !== '' ? c.platform : 'facebook';
  if (p === 'facebook') return 'Facebook';
  if (p === 'instagram') return 'Instagram';
  if (p === 'threads') return 'Threads';
  return p.charAt(0).toUpperCase() + p.slice(1);
}

function who(c: ConnectionView): string {
  return c.user_name ?? `user ${c.user_id}`;
}

/** The heading of a login: whose it is, in the words of the person who set it up. */
export function loginName(c: ConnectionView): string {
  return c.source_token_type === 'SYSTEM_USER'
    ? `${platformName(c)} system user ${who(c)}`
    : `${platformName(c)} login of ${who(c)}`;
}

/** "Your Facebook login for app X manages these 3 Pages." */
export function loginSentence(c: ConnectionView, pages: number): string {
  const subject =
    c.source_token_type === 'SYSTEM_USER'
      ? `This system user of app ${c.app_id}`
      : `Your ${platformName(c)} login for app ${c.app_id}`;
  return `${subject} manages ${pages === 1 ? 'this Page' : `these ${pages} Pages`}.`;
}

/** What the login's state means for its Pages, and what a person must do. */
export function explainConnection(c: ConnectionView, now: number): string {
  switch (c.state) {
    case 'healthy':
      return c.source_expires_at === null
        ? 'This login works and its token does not expire. Every Page below gets its posting token from it, and a new one from it whenever Facebook drops one: nothing to do.'
        : `This login works. Its token is extended automatically before it expires (${relative(Date.parse(c.source_expires_at), now)}), once for every Page below.`;
    case 'expiring':
      return `Facebook will not extend this login’s token any further: it expires ${c.source_expires_at ? relative(Date.parse(c.source_expires_at), now) : 'soon'}. Posting tokens that never expire keep working after that, but a Page token Facebook drops can then only be replaced by a person. Reconnect once before then to keep every Page below healing by itself.`;
    case 'needs_reauth':
      return 'Facebook no longer accepts this login (for example after a password change, a log-out or a security check). Reconnect once: every Page below is healed together.';
    default:
      return String(c.state);
  }
}

const NOT_GRANTED_WHY: Record<string, string> = {
  not_selected:
    'not ticked when the app was authorised in Facebook Login. Reconnect and tick it in the list of Pages.',
  no_posting_task:
    'your role on this Page cannot post (it needs a Facebook task that creates content). Ask an admin of the Page for a role that can.',
  not_listed:
    'Facebook no longer lists this Page for this login (the role on it may have been removed). Reconnect as someone with a role on the Page.',
};

export interface ConnectionPageView {
  detail: ConnectionDetail;
  now: number;
  csrf: string;
  /** The login's one reconnect link (through any of its Pages); null when it has none. */
  reconnectUrl: string | null;
  /** A WhatsApp Cloud API connection (no Page): its state and what to do; null otherwise. */
  whatsapp?: WhatsAppAccountStatus | null;
}

/** Where a WhatsApp alert's link lands: the sender's state in words, and the way to a new token. */
function whatsAppCard(a: WhatsAppAccountStatus): Html {
  return html`<section class="card" id="whatsapp">
<h2>WhatsApp Cloud API</h2>
<p>State: <strong class="${a.state === 'healthy' ? 'good-text' : 'bad-text'}" id="whatsapp-state">${a.state.replace('_', ' ')}</strong></p>
<p class="state-message" id="whatsapp-message">${readableTimes(a.state_message ?? '')}</p>
<p class="help small">Your sender fetches the token with a token:read key from <code>GET /api/accounts/whatsapp/${a.id}/token</code>. A system user has no login page to reconnect through: a new token from Business settings, given to <code>connect</code>, replaces this one.</p>
</section>`;
}

export function connectionPage(v: ConnectionPageView): Html {
  const c = v.detail;
  const broken = c.state !== 'healthy';
  const notGranted = c.not_granted ?? [];
  const available = c.available_to_add ?? [];
  return html`<section class="card" data-connection-id="${c.id}">
<p class="crumbs"><a href="/">Pages</a> /</p>
<div class="headline"><h1>${loginName(c)}</h1>${connectionBadge(c.state)}</div>
<p class="muted small">${platformName(c)} user ${c.user_id} · app ${c.app_id}</p>
<p class="lead" id="login-sentence">${loginSentence(c, c.pages.length)}</p>
<p class="explain" id="login-explain">${explainConnection(c, v.now)}</p>
${c.last_error && broken ? html`<p class="state-message bad-text" id="login-error">${readableTimes(c.last_error.message)}</p>` : null}
${
  v.reconnectUrl !== null
    ? html`<div class="actions">
<a class="button${broken ? ' primary' : ''}" id="reconnect-login" href="${safeUrl(v.reconnectUrl)}" rel="noreferrer">Reconnect with ${platformName(c)}</a>
</div>
<p class="help small">Opens ${platformName(c)} Login once for all ${c.pages.length === 1 ? 'of this login’s Pages' : `${c.pages.length} Pages`}: tick every Page you want kept. When you come back, each of them gets a fresh posting token.</p>`
    : null
}
</section>
${v.whatsapp ? whatsAppCard(v.whatsapp) : null}
<section class="card">
<h2>Pages this login manages</h2>
${c.pages.length === 0 ? html`<p class="muted">No Page is kept under this login any more.</p>` : pagesTable(c.pages, v.now)}
</section>

<section class="card">
<h2>The login’s token</h2>
<dl class="facts">
<dt>${platformName(c)} user</dt><dd>${c.user_name ?? html`<span class="muted">name not known</span>`} <span class="muted small">(${c.user_id})</span></dd>
<dt>App</dt><dd>${c.app_id}</dd>
<dt>Token</dt><dd>${c.source_token_type === 'SYSTEM_USER' ? 'system-user token' : c.source_token_type === 'USER' ? 'user token' : c.source_token_type}, ${c.source_valid ? html`<span class="good-text">valid</span>` : html`<strong class="bad-text">not valid</strong>`}</dd>
<dt>Expires</dt><dd id="login-expires">${c.source_expires_at === null ? html`<span class="${c.source_valid ? 'good-text' : ''}">never expires</span>` : html`${formatDate(Date.parse(c.source_expires_at))} (${relative(Date.parse(c.source_expires_at), v.now)})`}</dd>
<dt>Data access until</dt><dd id="login-data-access">${c.data_access_expires_at === null ? 'no limit reported' : html`${formatDate(Date.parse(c.data_access_expires_at))} <span class="muted small">(Facebook asks for a new login after 90 days without use)</span>`}</dd>
<dt>Last checked</dt><dd>${when(c.last_checked_at, v.now)}</dd>
<dt>Next check</dt><dd>${c.next_check_at === null || Date.parse(c.next_check_at) <= v.now ? 'due now' : when(c.next_check_at, v.now)}</dd>
<dt>Extension</dt><dd id="login-extension">${c.extension_blocked_until ? html`<strong class="warn-text">blocked</strong>: Facebook did not move the expiry last time; not tried again before ${formatDate(Date.parse(c.extension_blocked_until))}` : c.source_expires_at === null ? html`<span class="muted">not needed</span>` : 'not blocked'}</dd>
<dt>Permissions</dt><dd>${c.scopes.length ? c.scopes.join(', ') : 'none'}</dd>
</dl>
</section>

<section class="card" id="not-granted">
<h2>Pages not granted</h2>
${
  c.not_granted === null
    ? html`<p class="muted">Facebook could not be asked right now which Pages this login reaches${c.source_valid ? '' : ' (the login does not work: reconnect first)'}.</p>`
    : notGranted.length === 0
      ? html`<p class="muted">None: every Page this login has a role on was shared with the app.</p>`
      : html`<p>This login has a role on these Pages, but they cannot be kept from it:</p>
<ul class="plain">
${notGranted.map(
  (n) =>
    html`<li data-page-id="${n.page_id}"><strong>${n.name ?? `Page ${n.page_id}`}</strong> <span class="muted small">(${n.page_id}${n.managed ? ', kept here' : ''})</span>: ${NOT_GRANTED_WHY[n.reason] ?? n.reason}</li>`,
)}
</ul>`
}
</section>

<section class="card" id="available">
<h2>Pages available to add</h2>
${
  c.available_to_add === null
    ? html`<p class="muted">Facebook could not be asked right now which other Pages this login can post to.</p>`
    : available.length === 0
      ? html`<p class="muted">None: every Page this login can post to is kept here.</p>`
      : html`<p>This login can also post to these Pages. Tick the ones to keep; they join this login (no token to paste).</p>
<form method="post" action="/connections/${c.id}/pages" class="stack">
${csrfField(v.csrf)}
${available.map(
  (a) =>
    html`<label class="check"><input type="checkbox" name="page_id" value="${a.page_id}" checked> ${a.name ?? `Page ${a.page_id}`} <span class="muted small">(${a.page_id})</span></label>`,
)}
<button type="submit" class="primary">Add the ticked Pages</button>
</form>`
}
</section>`;
}

// --- add a page ---------------------------------------------------------------------------------

export const SETUP_FIELDS = ['page_id', 'app_id', 'app_secret', 'access_token'] as const;
export type SetupField = (typeof SETUP_FIELDS)[number];

export interface AddPageView {
  csrf: string;
  /** Only the ids are ever re-rendered; secrets must be typed again. */
  values: { page_id?: string | undefined; app_id?: string | undefined };
  fieldErrors: Partial<Record<SetupField, string>>;
  error?: { message: string; code: string } | undefined;
}

const FIELD_INFO: Record<SetupField, { label: string; help: string }> = {
  page_id: { label: 'Page id', help: 'The number in the Page’s About section, or in Meta Business Suite.' },
  app_id: { label: 'App id', help: 'App Dashboard → Settings → Basic.' },
  app_secret: {
    label: 'App secret',
    help: 'App Dashboard → Settings → Basic. Stored encrypted; never shown again.',
  },
  access_token: {
    label: 'Access token',
    help: 'A user token (short- or long-lived, e.g. from Graph API Explorer), a system-user token, or a Page token. User tokens are exchanged and turned into a Page token that does not expire.',
  },
};

export function fieldLabel(field: string): string {
  return (FIELD_INFO as Record<string, { label: string } | undefined>)[field]?.label ?? field;
}

export function addPageForm(v: AddPageView): Html {
  const field = (name: SetupField) => {
    const info = FIELD_INFO[name];
    const err = v.fieldErrors[name];
    const secret = name === 'app_secret' || name === 'access_token';
    const value = secret ? undefined : v.values[name];
    const describedBy = `${name}-help${err ? ` ${name}-error` : ''}`;
    return html`<div class="field${err ? ' invalid' : ''}">
<label for="${name}">${info.label}</label>
<input id="${name}" name="${name}" type="${secret ? 'password' : 'text'}"${secret ? html` autocomplete="off"` : html` inputmode="numeric" autocomplete="off"`} spellcheck="false" required aria-describedby="${describedBy}"${err ? html` aria-invalid="true"` : null}${value ? html` value="${value}"` : null}>
${err ? html`<p class="field-error" id="${name}-error">${info.label} ${err}</p>` : null}
<p class="help small" id="${name}-help">${info.help}</p>
</div>`;
  };
  const hadSecrets = v.error !== undefined || Object.keys(v.fieldErrors).length > 0;
  return html`<section class="card narrow">
<p class="crumbs"><a href="/">Pages</a> /</p>
<h1>Add a page</h1>
<p>The token is checked with Facebook before anything is stored: if it cannot post to the Page, nothing is saved and you are told why.</p>
${v.error ? html`<div class="error" role="alert" id="form-error"><strong>Facebook setup refused.</strong> ${v.error.message} <span class="muted small">(${v.error.code})</span></div>` : null}
${hadSecrets ? html`<p class="muted small">For your safety the app secret and the token are not shown again: enter them once more.</p>` : null}
<form method="post" action="/pages/new" class="stack" novalidate>
${csrfField(v.csrf)}
${SETUP_FIELDS.map(field)}
<button type="submit" class="primary">Check and add</button>
</form>
</section>`;
}

// --- errors -------------------------------------------------------------------------------------

export function errorPage(title: string, message: string, action?: { href: string; label: string }): Html {
  return html`<section class="card narrow">
<h1>${title}</h1>
<p>${message}</p>
<p><a class="button" href="${safeUrl(action?.href ?? '/')}">${action?.label ?? 'Back to the dashboard'}</a></p>
</section>`;
}
