import { describe, expect, it } from 'vitest';
import { DAY, HOUR, MINUTE } from '../../src/clock.js';
import {
  cronDueBy,
  firstCheckAt,
  nextCheckAt,
  backoffMs,
  decide,
  deriveState,
  isDue,
  movedForward,
  type Policy,
  reauthReason,
} from '../../src/lifecycle/decide.js';
import { REAUTH_SUBCODES, reauthHumanMessage } from '../../src/graph/errors.js';
import type { ManagedPage, TokenInfo } from '../../src/types.js';
import { managedPage, tokenInfo } from '../helpers/pages.js';

const NOW = Date.parse('2027-03-01T00:00:00Z');
const policy: Policy = { renewalThresholdDays: 50, checkIntervalMs: 6 * HOUR };

function token(over: Partial<TokenInfo> = {}): TokenInfo {
  return tokenInfo(NOW, {
    dataAccessExpiresAt: NOW + 80 * DAY,
    scopes: ['pages_manage_posts', 'pages_show_list'],
    ...over,
  });
}

function page(over: Partial<ManagedPage> = {}): ManagedPage {
  return managedPage(NOW, {
    posting: token(),
    source: token({ type: 'USER', expiresAt: NOW + 55 * DAY, profileId: null }),
    ...over,
  });
}

describe('decide', () => {
  const cases: [string, ManagedPage, { force?: boolean }, string, string][] = [
    [
      'never-expiring Page token (expires_at 0 = never, not unknown): validate only',
      page({ source: null }),
      {},
      'none',
      'never_expires',
    ],
    ['never-expiring posting, source far from threshold', page(), {}, 'none', 'never_expires'],
    [
      'never-expiring posting, source within 50 days → refresh the source',
      page({ source: token({ type: 'USER', expiresAt: NOW + 50 * DAY }) }),
      {},
      'renew_source',
      'source_expires_soon',
    ],
    [
      'source already found not extendable → no loop',
      page({
        source: token({ type: 'USER', expiresAt: NOW + 40 * DAY }),
        sourceExtensionBlockedUntil: NOW + 40 * DAY,
      }),
      {},
      'none',
      'never_expires',
    ],
    [
      'finite posting with 51 days left → fresh',
      page({ posting: token({ expiresAt: NOW + 51 * DAY }) }),
      {},
      'none',
      'fresh',
    ],
    [
      'finite posting with exactly 50 days left → the seed rule renews',
      page({ posting: token({ expiresAt: NOW + 50 * DAY }) }),
      {},
      'renew',
      'expires_soon',
    ],
    [
      'per-page threshold override',
      page({ posting: token({ expiresAt: NOW + 20 * DAY }), renewalThresholdDays: 10 }),
      {},
      'none',
      'fresh',
    ],
    [
      'finite posting and no source → cannot extend a Page token',
      page({ posting: token({ expiresAt: NOW + 5 * DAY }), source: null }),
      {},
      'none',
      'not_extendable',
    ],
    [
      'renewal did not move expiry → blocked, no loop',
      page({ posting: token({ expiresAt: NOW + 5 * DAY }), extensionBlockedUntil: NOW + 5 * DAY }),
      {},
      'none',
      'not_extendable',
    ],
    [
      'forced renewal retries a blocked path',
      page({ posting: token({ expiresAt: NOW + 5 * DAY }), extensionBlockedUntil: NOW + 5 * DAY }),
      { force: true },
      'renew',
      'forced',
    ],
    [
      'invalid posting, valid source → heal',
      page({ posting: token({ isValid: false, error: { code: 190, subcode: 460, message: 'x' } }) }),
      {},
      'heal',
      'posting_token_invalid',
    ],
    [
      'invalid posting, no source → cannot heal',
      page({ posting: token({ isValid: false }), source: null }),
      {},
      'none',
      'cannot_heal',
    ],
    [
      'invalid posting, invalid source → cannot heal',
      page({ posting: token({ isValid: false }), source: token({ type: 'USER', isValid: false }) }),
      {},
      'none',
      'cannot_heal',
    ],
    [
      'posting past its expiry counts as invalid',
      page({ posting: token({ expiresAt: NOW - MINUTE }) }),
      {},
      'heal',
      'posting_token_invalid',
    ],
    [
      'a PAGE-typed source is never exchanged',
      page({ posting: token({ isValid: false }), source: token({ type: 'PAGE' }) }),
      {},
      'none',
      'cannot_heal',
    ],
    [
      'paused',
      page({ autoRenew: false, posting: token({ expiresAt: NOW + 5 * DAY }) }),
      {},
      'none',
      'paused',
    ],
    [
      'paused but forced',
      page({ autoRenew: false, posting: token({ expiresAt: NOW + 5 * DAY }) }),
      { force: true },
      'renew',
      'forced',
    ],
    [
      'system-user source that never expires is not exchanged',
      page({ source: token({ type: 'SYSTEM_USER', expiresAt: null }) }),
      {},
      'none',
      'never_expires',
    ],
    [
      '60-day system-user source within threshold',
      page({ source: token({ type: 'SYSTEM_USER', expiresAt: NOW + 30 * DAY }) }),
      {},
      'renew_source',
      'source_expires_soon',
    ],
  ];
  it.each(cases)('%s', (_name, p, options, action, reason) => {
    expect(decide(p, NOW, policy, options)).toEqual({ action, reason });
  });
});

describe('deriveState', () => {
  const cases: [string, ManagedPage, string, string][] = [
    ['healthy never-expiring', page(), 'healthy', 'never_expires'],
    [
      'healthy finite (a renewal has extended it before)',
      page({ posting: token({ expiresAt: NOW + 55 * DAY }), lastRenewedAt: NOW - 10 * DAY }),
      'healthy',
      'fresh',
    ],
    [
      'healthy finite (60-day system-user source, which the exchange extends)',
      page({
        posting: token({ expiresAt: NOW + 55 * DAY }),
        source: token({ type: 'SYSTEM_USER', expiresAt: NOW + 55 * DAY, profileId: null }),
      }),
      'healthy',
      'fresh',
    ],
    [
      "a Page token that inherited the long-lived user token's expiry is a real deadline",
      page({ posting: token({ expiresAt: NOW + 55 * DAY }) }),
      'expiring',
      'inherits_user_token_expiry',
    ],
    [
      'renewal due',
      page({ posting: token({ expiresAt: NOW + 30 * DAY }), lastRenewedAt: NOW - 20 * DAY }),
      'renewal_due',
      'expires_soon',
    ],
    [
      'throttled by Facebook → failing, not healthy',
      page({
        retryAt: NOW + HOUR,
        lastError: {
          code: 'graph_rate_limited',
          message: 'throttled',
          fbCode: 4,
          fbSubcode: null,
          fbtraceId: null,
          at: NOW,
        },
      }),
      'failing',
      'throttled',
    ],
    [
      'expiring: cannot be extended',
      page({ posting: token({ expiresAt: NOW + 30 * DAY }), source: null }),
      'expiring',
      'not_extendable',
    ],
    [
      'password changed',
      page({ posting: token({ isValid: false, error: { code: 190, subcode: 460, message: 'x' } }) }),
      'needs_reauth',
      'password_changed',
    ],
    [
      'checkpoint',
      page({ posting: token({ isValid: false, error: { code: 190, subcode: 459, message: 'x' } }) }),
      'needs_reauth',
      'checkpoint',
    ],
    [
      'ninety days without using the app',
      page({ posting: token({ isValid: false, error: { code: 190, subcode: 493, message: 'x' } }) }),
      'needs_reauth',
      'data_access_expired',
    ],
    [
      'Facebook refused to act as the Page for a missing Page permission (posting token still valid)',
      page({
        lastError: {
          code: 'missing_permission',
          message: 'x',
          fbCode: 190,
          fbSubcode: null,
          fbtraceId: null,
          at: NOW,
        },
      }),
      'needs_reauth',
      'missing_permission',
    ],
    [
      'a transient 100/33 is a failing Page, not needs_reauth',
      page({
        failureCount: 1,
        lastError: {
          code: 'graph_unavailable',
          message: 'x',
          fbCode: 100,
          fbSubcode: 33,
          fbtraceId: null,
          at: NOW,
        },
      }),
      'failing',
      'graph_unavailable',
    ],
    [
      'role removed',
      page({ posting: token({ isValid: false, error: { code: 190, subcode: 492, message: 'x' } }) }),
      'needs_reauth',
      'no_page_role',
    ],
    ['expired', page({ posting: token({ expiresAt: NOW - 1 }) }), 'expired', 'expired'],
    [
      'missing permission',
      page({ posting: token({ scopes: ['pages_show_list'] }) }),
      'needs_reauth',
      'missing_permission',
    ],
    ['paused', page({ autoRenew: false }), 'paused', 'paused'],
    [
      'failing',
      page({
        failureCount: 2,
        lastError: {
          code: 'graph_unavailable',
          message: 'x',
          fbCode: 2,
          fbSubcode: null,
          fbtraceId: null,
          at: NOW,
        },
      }),
      'failing',
      'graph_unavailable',
    ],
  ];
  it.each(cases)('%s', (_name, p, state, reason) => {
    const s = deriveState(p, NOW, policy);
    expect([s.state, s.reason]).toEqual([state, reason]);
    expect(s.message.length).toBeGreaterThan(10);
  });

  it('says until when self-healing is available', () => {
    expect(deriveState(page(), NOW, policy).message).toContain(new Date(NOW + 55 * DAY).toISOString());
  });
});

describe('helpers', () => {
  it('isDue respects backoff, throttling and next_check_at', () => {
    expect(isDue(page(), NOW).reason).toBe('due');
    expect(isDue(page({ nextCheckAt: NOW + 1 }), NOW).reason).toBe('not_due');
    expect(isDue(page({ retryAt: NOW + 1 }), NOW).reason).toBe('backoff');
    expect(
      isDue(
        page({
          retryAt: NOW + 1,
          lastError: {
            code: 'graph_rate_limited',
            message: '',
            fbCode: 4,
            fbSubcode: null,
            fbtraceId: null,
            at: NOW,
          },
        }),
        NOW,
      ).reason,
    ).toBe('throttled');
  });

  it('nextCheckAt: the jittered interval, but never past the moment the decision changes by itself', () => {
    const interval = policy.checkIntervalMs;
    // Never-expiring posting token, source far from its threshold: the interval ±10 %.
    expect(nextCheckAt(page(), NOW, policy, () => 0)).toBe(NOW + interval * 0.9);
    expect(nextCheckAt(page(), NOW, policy, () => 0.5)).toBe(NOW + interval);
    // The source enters the 50-day threshold in 1 hour: checked then, not 6 hours later.
    const soon = page({ source: token({ type: 'USER', expiresAt: NOW + 50 * DAY + HOUR, profileId: null }) });
    expect(nextCheckAt(soon, NOW, policy, () => 0.5)).toBe(NOW + HOUR);
    // ... unless that path is known not to extend (no loop of checks).
    expect(
      nextCheckAt({ ...soon, sourceExtensionBlockedUntil: NOW + 50 * DAY }, NOW, policy, () => 0.5),
    ).toBe(NOW + interval);
    // A finite posting token: its threshold, then its expiry.
    const finite = page({ posting: token({ expiresAt: NOW + 50 * DAY + 2 * HOUR }) });
    expect(nextCheckAt(finite, NOW, policy, () => 0.5)).toBe(NOW + 2 * HOUR);
  });

  it('firstCheckAt: a page set up with work to do is due now', () => {
    const soon = page({ source: token({ type: 'USER', expiresAt: NOW + 40 * DAY, profileId: null }) });
    expect(firstCheckAt(soon, NOW, policy, () => 0.5)).toBe(NOW);
    expect(firstCheckAt(page(), NOW, policy, () => 0.5)).toBe(NOW + policy.checkIntervalMs);
  });

  it('cronDueBy: a page due within a tenth of the interval (plus grace) is due for a cron run', () => {
    const due = cronDueBy(NOW, policy);
    expect(due).toBe(NOW + policy.checkIntervalMs / 10 + 15 * MINUTE);
    // The latest a page checked by the previous cron run can be due: 1.1 intervals after it.
    const previousRun = NOW - policy.checkIntervalMs;
    const latest = page({ nextCheckAt: previousRun + Math.round(policy.checkIntervalMs * 1.1) - 1 });
    expect(isDue(latest, NOW).reason).toBe('not_due');
    expect(isDue(latest, NOW, due).reason).toBe('due');
    // Backoff is never shortened.
    expect(isDue(page({ retryAt: NOW + MINUTE }), NOW, due).reason).toBe('backoff');
  });

  it('backoff grows exponentially with jitter and is capped', () => {
    expect(backoffMs(1, () => 0)).toBe(30 * 1000);
    expect(backoffMs(1, () => 0.999)).toBeLessThan(MINUTE);
    expect(backoffMs(3, () => 0)).toBe(2 * MINUTE);
    expect(backoffMs(30, () => 0.999)).toBeLessThanOrEqual(6 * HOUR);
    expect(backoffMs(30, () => 0)).toBe(3 * HOUR);
  });

  it('movedForward: never beats any finite expiry; equal expiries did not move', () => {
    expect(movedForward(NOW, null)).toBe(true);
    expect(movedForward(NOW, NOW)).toBe(false);
    expect(movedForward(NOW, NOW + 30)).toBe(false);
    expect(movedForward(NOW, NOW + 60 * DAY)).toBe(true);
    expect(movedForward(null, NOW)).toBe(false);
  });

  it('has a sentence for every documented invalidation subcode', () => {
    const reasons = [458, 459, 460, 463, 464, 467, 492, 493].map((s) => reauthReason(s).reason);
    expect(new Set(reasons).size).toBe(8);
    expect(reauthReason(460).message).toMatch(/password/);
  });

  it('one table: the state sentence is the Graph error’s human message, for every subcode', () => {
    for (const s of [...REAUTH_SUBCODES, null, 12345]) {
      expect(reauthReason(s).message).toBe(reauthHumanMessage(s));
    }
  });
});
