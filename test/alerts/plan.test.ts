/**
 * planAlerts is pure: a table of (before, after, now) → which alerts, with which dedupe keys.
 * Dedupe keys carry the "once per page, event and threshold" guarantee, so they are asserted exactly.
 */
import { describe, expect, it } from 'vitest';
import { type AlertPayload, planAlerts, thresholdCrossed } from '../../src/alerts/plan.js';
import { DAY, HOUR } from '../../src/clock.js';
import type { NewAlert } from '../../src/store/types.js';
import type { ManagedPage, TokenInfo } from '../../src/types.js';
import { managedPage, tokenInfo } from '../helpers/pages.js';

const NOW = Date.parse('2027-03-01T12:00:00Z');
const DAYS = [14, 7, 3, 1];
const LINK = 'http://localhost:5000/connect/123?exp=1&sig=abc';

function token(o: Partial<TokenInfo> = {}): TokenInfo {
  return tokenInfo(NOW, { userId: '9', profileId: '123', appId: '1', hash: 'aaaaaaaaaaaa', ...o });
}

function page(o: Partial<ManagedPage> = {}): ManagedPage {
  return managedPage(NOW, {
    pageId: '123',
    pageName: 'Kitten Page',
    appId: '1',
    stateReason: 'never_expires',
    stateMessage: 'The posting token does not expire.',
    posting: token(),
    lastCheckedAt: NOW,
    nextCheckAt: NOW + 6 * HOUR,
    createdAt: NOW - 30 * DAY,
    ...o,
  });
}

const plan = (
  before: ManagedPage | null,
  after: ManagedPage,
  now = NOW,
  extra: { failingAlertAfterMs?: number } = {},
) => planAlerts({ before, after, now, alertDaysBefore: DAYS, reconnectUrl: LINK, ...extra });
const keys = (alerts: NewAlert[]) => alerts.map((a) => a.dedupeKey);
const payload = (a: NewAlert | undefined) => a?.payload as unknown as AlertPayload;

const failure = (at: number) => ({
  code: 'graph_unavailable' as const,
  message: 'Facebook is down',
  fbCode: 2,
  fbSubcode: null,
  fbtraceId: null,
  at,
});

const invalid = (subcode: number) =>
  token({ isValid: false, error: { code: 190, subcode, message: 'invalid' } });
const healthy = page();
const reauth = page({
  state: 'needs_reauth',
  stateReason: 'password_changed',
  stateMessage: 'The admin changed their Facebook password: reconnect the Page.',
  posting: invalid(460),
});
const blocked = (expiresAt: number) =>
  page({
    state: 'expiring',
    stateReason: 'not_extendable',
    stateMessage: 'This token cannot be extended.',
    posting: token({ expiresAt }),
    extensionBlockedUntil: expiresAt,
  });

describe('planAlerts: which events fire', () => {
  const deadline = NOW + 10 * DAY;
  const cases: {
    name: string;
    before: ManagedPage | null;
    after: ManagedPage;
    now?: number;
    expect: string[];
  }[] = [
    { name: 'nothing happens to a healthy page', before: healthy, after: healthy, expect: [] },
    { name: 'setup of a healthy page', before: null, after: healthy, expect: [] },
    {
      name: 'password changed → needs_reauth, keyed by token and reason',
      before: healthy,
      after: reauth,
      expect: ['needs_reauth:123:aaaaaaaaaaaa:password_changed'],
    },
    {
      name: 'still needs_reauth at the next check → same key (the outbox ignores it)',
      before: reauth,
      after: reauth,
      expect: ['needs_reauth:123:aaaaaaaaaaaa:password_changed'],
    },
    {
      name: 'a new token invalidated again later → a new key',
      before: page({ posting: token({ hash: 'bbbbbbbbbbbb' }) }),
      after: { ...reauth, posting: { ...reauth.posting, hash: 'bbbbbbbbbbbb' } },
      expect: ['needs_reauth:123:bbbbbbbbbbbb:password_changed'],
    },
    {
      name: 'posting token lacks pages_manage_posts → missing_permission (not also needs_reauth)',
      before: healthy,
      after: page({
        state: 'needs_reauth',
        stateReason: 'missing_permission',
        stateMessage: 'The posting token lacks pages_manage_posts: reconnect and grant it.',
        posting: token({ scopes: ['pages_show_list'] }),
      }),
      expect: ['missing_permission:123:aaaaaaaaaaaa'],
    },
    {
      name: 'expired → expired alert',
      before: blocked(NOW - HOUR),
      after: page({
        state: 'expired',
        stateReason: 'expired',
        stateMessage: 'The posting token has expired.',
        posting: token({ expiresAt: NOW - HOUR }),
      }),
      expect: ['expired:123:aaaaaaaaaaaa'],
    },
    {
      name: 'expiring at 10 days → the 14-day threshold only',
      before: healthy,
      after: blocked(deadline),
      expect: [`expiring:123:${deadline}:14`],
    },
    {
      name: 'expiring at 5 days → the 7-day threshold only (not 14 and 7)',
      before: healthy,
      after: blocked(NOW + 5 * DAY),
      expect: [`expiring:123:${NOW + 5 * DAY}:7`],
    },
    {
      name: 'expiring far away → a first notice',
      before: healthy,
      after: blocked(NOW + 40 * DAY),
      expect: [`expiring:123:${NOW + 40 * DAY}:notice`],
    },
    {
      name: 'exactly 7 days left counts as the 7-day threshold',
      before: healthy,
      after: blocked(NOW + 7 * DAY),
      expect: [`expiring:123:${NOW + 7 * DAY}:7`],
    },
    {
      name: 'a renewal_due page (still extendable) raises nothing',
      before: healthy,
      after: page({ state: 'renewal_due', posting: token({ expiresAt: NOW + 3 * DAY }) }),
      expect: [],
    },
    {
      name: 'data access within 7 days → data_access_expiring (posting and source: one alert for the earliest)',
      before: healthy,
      after: page({
        posting: token({ dataAccessExpiresAt: NOW + 6 * DAY }),
        source: token({ type: 'USER', dataAccessExpiresAt: NOW + 6 * DAY, hash: 'ssssssssssss' }),
      }),
      expect: [`data_access_expiring:123:${NOW + 6 * DAY}:7`],
    },
    {
      name: 'data access far away → nothing',
      before: healthy,
      after: page({ posting: token({ dataAccessExpiresAt: NOW + 80 * DAY }) }),
      expect: [],
    },
    {
      name: 'source cannot be extended and lapses within 14 days → source_expiring, once per deadline',
      before: healthy,
      after: page({
        source: token({ type: 'USER', expiresAt: NOW + 12 * DAY, hash: 'ssssssssssss' }),
        sourceExtensionBlockedUntil: NOW + 12 * DAY,
      }),
      expect: [`source_expiring:123:${NOW + 12 * DAY}`],
    },
    {
      name: 'source lapses soon but can still be extended → nothing',
      before: healthy,
      after: page({ source: token({ type: 'USER', expiresAt: NOW + 12 * DAY, hash: 'ssssssssssss' }) }),
      expect: [],
    },
    {
      name: 'source blocked but the page is already expiring → only the expiring alert',
      before: healthy,
      after: {
        ...blocked(deadline),
        source: token({ type: 'USER', expiresAt: deadline, hash: 'ssssssssssss' }),
        sourceExtensionBlockedUntil: deadline,
      },
      expect: [`expiring:123:${deadline}:14`],
    },
    {
      name: 'reconnected: needs_reauth → healthy with a new token → recovered and token_rotated',
      before: reauth,
      after: page({ posting: token({ hash: 'cccccccccccc' }) }),
      expect: [`recovered:123:${NOW}`, 'token_rotated:123:cccccccccccc'],
    },
    {
      name: 'expiring → healthy → recovered',
      before: blocked(deadline),
      after: healthy,
      expect: [`recovered:123:${NOW}`],
    },
    {
      name: 'renewed (renewal_due → healthy, new token) → token_rotated only',
      before: page({ state: 'renewal_due' }),
      after: page({ posting: token({ hash: 'dddddddddddd' }) }),
      expect: ['token_rotated:123:dddddddddddd'],
    },
    {
      name: 'a short failing streak that recovers → nothing (nobody was alerted)',
      before: page({ state: 'failing', failureCount: 2 }),
      after: healthy,
      expect: [],
    },
    {
      name: 'failing for 25 h (so renewal_failed was raised), then healthy → recovered',
      before: page({
        state: 'failing',
        failureCount: 6,
        lastCheckedAt: NOW - 25 * HOUR,
        lastError: failure(NOW - HOUR),
      }),
      after: healthy,
      expect: [`recovered:123:${NOW}`],
    },
    {
      name: 'many failures within a few hours, token never expires → nothing (no risk yet)',
      before: page({ state: 'failing', failureCount: 4, lastCheckedAt: NOW - 3 * HOUR }),
      after: page({
        state: 'failing',
        failureCount: 5,
        lastCheckedAt: NOW - 3 * HOUR,
        lastError: failure(NOW),
      }),
      expect: [],
    },
    {
      name: 'that streak recovering → no recovered either (nobody was alerted)',
      before: page({
        state: 'failing',
        failureCount: 9,
        lastCheckedAt: NOW - 3 * HOUR,
        lastError: failure(NOW - HOUR),
      }),
      after: healthy,
      expect: [],
    },
    {
      name: 'no successful check for 24 h → renewal_failed, keyed by the last success',
      before: page({ state: 'failing', failureCount: 10, lastCheckedAt: NOW - 23 * HOUR }),
      after: page({
        state: 'failing',
        failureCount: 11,
        lastCheckedAt: NOW - 24 * HOUR,
        lastError: failure(NOW),
      }),
      expect: [`renewal_failed:123:streak:${NOW - 24 * HOUR}`],
    },
    {
      name: 'the next failure of the same streak → the same key (the outbox ignores it)',
      before: page({ state: 'failing', failureCount: 11, lastCheckedAt: NOW - 30 * HOUR }),
      after: page({
        state: 'failing',
        failureCount: 12,
        lastCheckedAt: NOW - 30 * HOUR,
        lastError: failure(NOW),
      }),
      expect: [`renewal_failed:123:streak:${NOW - 30 * HOUR}`],
    },
    {
      name: 'one failure while the token expires within 14 days → renewal_failed at once, keyed by deadline and threshold',
      before: page({ state: 'renewal_due', posting: token({ expiresAt: deadline }) }),
      after: page({
        state: 'failing',
        failureCount: 1,
        posting: token({ expiresAt: deadline }),
        lastError: failure(NOW),
      }),
      expect: [`renewal_failed:123:deadline:${deadline}:14`],
    },
  ];
  it.each(cases)('$name', (c) => {
    expect(keys(plan(c.before, c.after, c.now ?? NOW))).toEqual(c.expect);
  });
});

describe('planAlerts: payload', () => {
  it('carries page, state, message, deadline, days left, the link and the time — never a token', () => {
    const deadline = NOW + 5 * DAY + 3 * HOUR;
    const [a] = plan(healthy, blocked(deadline));
    expect(a).toMatchObject({ pageId: '123', kind: 'expiring', createdAt: NOW });
    expect(payload(a)).toEqual({
      alert_id: a!.dedupeKey,
      event: 'expiring',
      severity: 'warning',
      page_id: '123',
      page_name: 'Kitten Page',
      platform: 'facebook_page',
      state: 'expiring',
      message: expect.stringContaining('2027-03-06 15:00 UTC'),
      deadline: new Date(deadline).toISOString(),
      days_left: 5,
      reconnect_url: LINK,
      occurred_at: new Date(NOW).toISOString(),
    });
  });

  it('needs_reauth carries the human sentence for the subcode', () => {
    const [a] = plan(healthy, reauth);
    expect(payload(a)).toMatchObject({
      event: 'needs_reauth',
      severity: 'critical',
      deadline: null,
      days_left: null,
      reconnect_url: LINK,
    });
    expect(payload(a).message).toContain('changed their Facebook password');
  });

  it('severity: critical within 3 days of an unextendable deadline, info for self-healing and good news', () => {
    expect(payload(plan(healthy, blocked(NOW + 2 * DAY))[0]).severity).toBe('critical');
    expect(payload(plan(healthy, blocked(NOW + 10 * DAY))[0]).severity).toBe('warning');
    const src = page({
      source: token({ type: 'USER', expiresAt: NOW + 2 * DAY, hash: 's' }),
      sourceExtensionBlockedUntil: NOW + 2 * DAY,
    });
    const [s] = plan(healthy, src);
    expect(payload(s)).toMatchObject({ event: 'source_expiring', severity: 'info' });
    expect(payload(s).message).toContain('self-healing available until 2027-03-03 12:00 UTC');
  });

  it('a routine Instagram, Threads or WhatsApp refresh (the old string still works) is no alert; a token replacing a dead one is', () => {
    for (const platform of ['instagram', 'threads', 'whatsapp'] as const) {
      const before = page({ platform, posting: token({ expiresAt: NOW + 50 * DAY }) });
      const refreshed = page({
        platform,
        posting: token({ hash: 'ffffffffffff', expiresAt: NOW + 60 * DAY }),
      });
      expect(
        plan(before, refreshed).map((a) => a.kind),
        platform,
      ).toEqual([]);
      const dead = page({ platform, state: 'needs_reauth', posting: token({ isValid: false }) });
      const rotated = plan(dead, refreshed).find((a) => a.kind === 'token_rotated');
      expect(rotated, platform).toBeDefined();
      expect(payload(rotated).message).toContain(`/api/accounts/${platform}/123/token`);
      expect(payload(rotated).message).not.toMatch(/^Page /);
    }
    // A Facebook Page's token change is still an alert (a re-mint: the old Page token may be dead).
    expect(plan(healthy, page({ posting: token({ hash: 'ffffffffffff' }) })).map((a) => a.kind)).toEqual([
      'token_rotated',
    ]);
  });

  it('token_rotated says to fetch the token again and never carries it', () => {
    const after = page({ posting: token({ hash: 'eeeeeeeeeeee' }) });
    const [a] = plan(healthy, after);
    expect(payload(a).message).toMatch(/fetch the token again/);
    expect(JSON.stringify(a)).not.toMatch(/EAA|access_token/);
  });

  it('renewal_failed honours ALERT_FAILING_AFTER_HOURS', () => {
    const before = page({ state: 'failing', failureCount: 2, lastCheckedAt: NOW - 3 * HOUR });
    const after = page({
      state: 'failing',
      failureCount: 3,
      lastCheckedAt: NOW - 3 * HOUR,
      lastError: failure(NOW),
    });
    expect(keys(plan(before, after, NOW, { failingAlertAfterMs: 2 * HOUR }))).toEqual([
      `renewal_failed:123:streak:${NOW - 3 * HOUR}`,
    ]);
    expect(plan(before, after)).toEqual([]);
  });

  it('page without a name is named by its id', () => {
    const [a] = plan(healthy, { ...reauth, pageName: null });
    expect(payload(a).message).toMatch(/^Page 123:/);
  });
});

describe('thresholdCrossed', () => {
  it.each([
    [20 * DAY, null],
    [14 * DAY, 14],
    [13 * DAY, 14],
    [7 * DAY + 1, 14],
    [5 * DAY, 7],
    [2 * DAY, 3],
    [HOUR, 1],
    [-1, null],
  ] as const)('%d ms left → %s', (left, expected) => {
    expect(thresholdCrossed(NOW + left, NOW, [1, 14, 3, 7])).toBe(expected);
  });

  it('walking a deadline down day by day fires each threshold exactly once', () => {
    const deadline = NOW + 20 * DAY;
    const seen = new Set<string>();
    const fired: number[] = [];
    for (let t = NOW; t < deadline; t += 6 * HOUR) {
      for (const a of plan(blocked(deadline), blocked(deadline), t)) {
        if (seen.has(a.dedupeKey)) continue;
        seen.add(a.dedupeKey);
        fired.push(payload(a).days_left ?? -1);
      }
    }
    expect(fired).toEqual([20, 14, 7, 3, 1]);
  });
});
