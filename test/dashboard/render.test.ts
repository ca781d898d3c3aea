/** Pure rendering: escaping, safe URLs, words for states and times, the timeline chart. */
import { describe, expect, it } from 'vitest';
import { DAY, HOUR } from '../../src/clock.js';
import { expirySamples, postingExpiryOf, sourceExpiryOf, timelineChart } from '../../src/dashboard/chart.js';
import { daysLeftText, explainState, formatDate, relative } from '../../src/dashboard/format.js';
import { escapeHtml, html, raw, safeUrl } from '../../src/dashboard/html.js';
import { addPageForm, pagesPage } from '../../src/dashboard/views.js';
import type { HistoryItem, PageStatus } from '../../src/lifecycle/types.js';
import { PAGE_STATES } from '../../src/types.js';

const NOW = Date.parse('2027-03-01T12:00:00Z');
const EVIL = `<script>alert("x")</script>&'"`;

function status(over: Partial<PageStatus> = {}): PageStatus {
  return {
    success: true,
    page_id: '111',
    page_name: 'Bakery',
    platform: 'facebook_page',
    app_id: '222',
    state: 'healthy',
    state_reason: 'never_expires',
    state_message: 'The posting token does not expire.',
    token_valid: true,
    token_type: 'PAGE',
    expires_at: null,
    days_until_expiry: null,
    data_access_expires_at: null,
    source_token_type: 'USER',
    source_expires_at: new Date(NOW + 40 * DAY).toISOString(),
    source_valid: true,
    self_healing_until: new Date(NOW + 40 * DAY).toISOString(),
    scopes: ['pages_manage_posts'],
    missing_scopes: [],
    last_checked_at: new Date(NOW - 2 * HOUR).toISOString(),
    next_check_at: new Date(NOW + 4 * HOUR).toISOString(),
    last_renewed_at: null,
    auto_renew: true,
    renewal_needed: false,
    renewal_reason: 'never_expires',
    renewal_threshold_days: 50,
    graph_api_version: 'v26.0',
    last_error: null,
    reconnect_url: null,
    history: [],
    ...over,
  };
}

let nextId = 1;
function ev(
  at: number,
  type: string,
  details: Record<string, unknown> = {},
  over: Partial<HistoryItem> = {},
): HistoryItem {
  return {
    id: nextId++,
    at: new Date(at).toISOString(),
    type,
    reason: null,
    state_from: null,
    state_to: null,
    message: null,
    details,
    ...over,
  };
}

describe('html', () => {
  it('escapes every interpolated value, arrays included, and leaves html/raw fragments alone', () => {
    expect(escapeHtml(EVIL)).toBe('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;&quot;');
    const out =
      html`<p title="${EVIL}">${EVIL}${[EVIL, html`<b>${EVIL}</b>`]}${raw('<i>ok</i>')}${null}${undefined}${false}${0}</p>`
        .value;
    expect(out).not.toContain('<script>');
    expect(out).toContain('<b>&lt;script&gt;');
    expect(out).toContain('<i>ok</i>');
    expect(out).toMatch(/0<\/p>$/);
  });

  it('safeUrl lets http(s) and local paths through and nothing else', () => {
    expect(safeUrl('https://keeper.example/connect/1?sig=a')).toBe('https://keeper.example/connect/1?sig=a');
    expect(safeUrl('/pages/1')).toBe('/pages/1');
    for (const bad of [
      'javascript:alert(1)',
      'JaVaScRiPt:alert(1)',
      'data:text/html,x',
      '//evil.example/',
      '/\\evil.example',
      'vbscript:x',
      'not a url',
    ]) {
      expect(safeUrl(bad)).toBe('#');
    }
  });
});

describe('words', () => {
  it('explains every state in plain words', () => {
    for (const state of PAGE_STATES) {
      const text = explainState(status({ state }), NOW);
      expect(text.length).toBeGreaterThan(20);
    }
    expect(explainState(status({ state: 'needs_reauth' }), NOW)).toMatch(/must reconnect/);
    expect(explainState(status({ state: 'healthy' }), NOW)).toMatch(/does not expire/);
  });

  it('days left, dates and relative times', () => {
    expect(daysLeftText({ expires_at: null }, NOW)).toBe('never expires');
    expect(daysLeftText({ expires_at: new Date(NOW + 12.5 * DAY).toISOString() }, NOW)).toBe('12 days left');
    expect(daysLeftText({ expires_at: new Date(NOW + 5 * HOUR).toISOString() }, NOW)).toBe('5 hours left');
    expect(daysLeftText({ expires_at: new Date(NOW - 1).toISOString() }, NOW)).toBe('expired');
    expect(formatDate(NOW)).toBe('1 Mar 2027, 12:00 UTC');
    expect(relative(NOW + 3 * HOUR, NOW)).toBe('in 3 hours');
    expect(relative(NOW - 2 * DAY, NOW)).toBe('2 days ago');
    expect(relative(NOW, NOW)).toBe('just now');
  });
});

describe('views', () => {
  it('the list escapes names and messages, shows "never expires" and days left', () => {
    const body = pagesPage(
      [
        status({ page_name: EVIL }),
        status({
          page_id: '333',
          page_name: 'Shop',
          expires_at: new Date(NOW + 20 * DAY).toISOString(),
          state: 'needs_reauth',
          state_message: EVIL,
        }),
      ],
      NOW,
    ).value;
    expect(body).not.toContain('<script>');
    expect(body).toContain('&lt;script&gt;');
    expect(body).toContain('never expires');
    expect(body).toContain('20 days left');
    expect(body).toContain('1 needs attention');
  });

  it('the add form never re-renders the secrets, only the ids', () => {
    const body = addPageForm({
      csrf: 'c',
      values: { page_id: '12"3', app_id: '45' },
      fieldErrors: { access_token: 'must be a Facebook access token' },
    }).value;
    expect(body).toContain('value="12&quot;3"');
    expect(body).toContain('Access token must be a Facebook access token');
    expect(body).not.toMatch(/name="(app_secret|access_token)"[^>]*value=/);
  });
});

describe('timeline chart', () => {
  it('reads posting and source expiries from setup, renewal and check events', () => {
    const t0 = NOW - 30 * DAY;
    const setup = ev(t0, 'setup', {
      expires_at: new Date(t0 + 60 * DAY).toISOString(),
      source_token_type: 'USER',
      source_expires_at: new Date(t0 + 60 * DAY).toISOString(),
    });
    const renewed = ev(t0 + 10 * DAY, 'renewed', {
      expires_at: new Date(t0 + 70 * DAY).toISOString(),
      previous_expires_at: null,
    });
    const check = ev(t0 + 20 * DAY, 'check', { posting: { expires_at: null }, source: null });
    const other = ev(t0 + 21 * DAY, 'settings_changed', { auto_renew: false });
    expect(postingExpiryOf(setup)).toBe(t0 + 60 * DAY);
    expect(postingExpiryOf(renewed)).toBe(t0 + 70 * DAY);
    expect(postingExpiryOf(check)).toBeNull();
    expect(postingExpiryOf(other)).toBeUndefined();
    expect(sourceExpiryOf(setup)).toBe(t0 + 60 * DAY);
    expect(sourceExpiryOf(check)).toBeUndefined();
    const s = expirySamples([setup, renewed, check, other], postingExpiryOf, null, NOW);
    expect(s.map((x) => x.expiry)).toEqual([t0 + 60 * DAY, t0 + 70 * DAY, null]);
  });

  it('draws a never-expiring token along the top band, with linked, titled event markers', () => {
    const setup = ev(
      NOW - 5 * DAY,
      'setup',
      {
        expires_at: null,
        source_token_type: 'USER',
        source_expires_at: new Date(NOW + 40 * DAY).toISOString(),
      },
      { message: EVIL, state_to: 'healthy' },
    );
    const svg = timelineChart({ status: status(), history: [setup], now: NOW }).value;
    expect(svg).toMatch(/^<svg class="chart"/);
    expect(svg).toContain('role="img"');
    expect(svg).toContain(`href="#event-${setup.id}"`);
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('&lt;script&gt;');
    // The posting line runs at the "never" height (y=22) up to now.
    expect(svg).toMatch(/<path class="c-line" d="M[\d.]+,22 L[\d.]+,22"/);
    expect(svg).toContain('The posting token never expires.');
  });

  it('draws renewals of a finite token as a saw-tooth, and shades a broken period', () => {
    const t0 = NOW - 40 * DAY;
    const history = [
      ev(
        t0,
        'setup',
        { expires_at: new Date(t0 + 60 * DAY).toISOString(), source_token_type: null },
        { state_to: 'healthy' },
      ),
      ev(t0 + 10 * DAY, 'renewed', { expires_at: new Date(t0 + 70 * DAY).toISOString() }),
      ev(t0 + 20 * DAY, 'renewed', { expires_at: new Date(t0 + 80 * DAY).toISOString() }),
      ev(t0 + 25 * DAY, 'state_changed', {}, { state_from: 'healthy', state_to: 'needs_reauth' }),
      ev(
        t0 + 26 * DAY,
        'reconnected',
        { expires_at: new Date(t0 + 86 * DAY).toISOString(), source_token_type: null },
        { state_from: 'needs_reauth', state_to: 'healthy' },
      ),
    ];
    const svg = timelineChart({
      status: status({
        expires_at: new Date(t0 + 86 * DAY).toISOString(),
        source_token_type: null,
        source_expires_at: null,
      }),
      history: history.reverse(),
      now: NOW,
    }).value;
    const line = /<path class="c-line" d="([^"]+)"/.exec(svg)![1]!;
    // Four segments (setup + 2 renewals + reconnect): each starts with a jump up.
    const points = line.split(' ').map((p) => Number(p.slice(1).split(',')[1]));
    const jumpsUp = points.filter((y, i) => i > 0 && y < points[i - 1]! - 1).length;
    expect(jumpsUp).toBe(3);
    expect(svg).toContain('c-shade-bad');
    expect(svg).toContain('renewal starts at 50 days left');
    expect(svg).toMatch(/expires \d+ \w+/);
    expect(svg).not.toContain('c-src');
  });
});
