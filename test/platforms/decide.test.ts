/** The pure refresh rule for Instagram-Login and Threads tokens (src/platforms/decide.ts). */
import { describe, expect, it } from 'vitest';
import { DAY, HOUR } from '../../src/clock.js';
import { earliestRefreshAt, nextRefreshAt, refreshDue } from '../../src/platforms/decide.js';

const T0 = Date.parse('2027-01-01T00:00:00Z');
const fresh = { issuedAt: T0, expiresAt: T0 + 60 * DAY };

describe('platforms/decide: refreshDue', () => {
  it('earliestRefreshAt is 24 hours after issue', () => {
    expect(earliestRefreshAt(T0)).toBe(T0 + DAY);
  });

  it.each([
    // [what, token, now, threshold, decision]
    [
      'a fresh token, threshold 50: not before 10 days',
      fresh,
      T0 + 5 * DAY,
      50,
      { due: false, reason: 'not_yet', at: T0 + 10 * DAY },
    ],
    ['at the threshold', fresh, T0 + 10 * DAY, 50, { due: true, reason: 'threshold_reached' }],
    [
      'past the threshold, before expiry',
      fresh,
      T0 + 59 * DAY,
      50,
      { due: true, reason: 'threshold_reached' },
    ],
    [
      'threshold 60: refresh as soon as allowed, never before 24 h',
      fresh,
      T0 + 23 * HOUR,
      60,
      { due: false, reason: 'too_young', at: T0 + DAY },
    ],
    ['threshold 60 at 24 h', fresh, T0 + DAY, 60, { due: true, reason: 'threshold_reached' }],
    [
      'threshold 365 (more than the lifetime) still waits 24 h',
      fresh,
      T0 + HOUR,
      365,
      { due: false, reason: 'too_young', at: T0 + DAY },
    ],
    ['expired: final, no refresh', fresh, T0 + 60 * DAY, 50, { due: false, reason: 'expired' }],
    [
      'an expiry the platform did not tell',
      { issuedAt: T0, expiresAt: null },
      T0 + 30 * DAY,
      50,
      { due: false, reason: 'expiry_unknown' },
    ],
    // The expiry is whatever the platform sent: a 30-day answer is refreshed 20 days in at threshold 10.
    [
      'a shorter expires_in is read, not assumed',
      { issuedAt: T0, expiresAt: T0 + 30 * DAY },
      T0 + 20 * DAY,
      10,
      { due: true, reason: 'threshold_reached' },
    ],
    [
      'threshold 0: only just before expiry',
      fresh,
      T0 + 59 * DAY,
      0,
      { due: false, reason: 'not_yet', at: T0 + 60 * DAY },
    ],
  ] as const)('%s', (_what, token, now, threshold, decision) => {
    expect(refreshDue(token, now, threshold)).toEqual(decision);
  });

  it('nextRefreshAt schedules the first refresh after the 24-hour minimum age', () => {
    expect(nextRefreshAt(fresh, 50)).toBe(T0 + 10 * DAY);
    expect(nextRefreshAt(fresh, 60)).toBe(T0 + DAY);
    expect(nextRefreshAt(fresh, 0)).toBeNull();
    expect(nextRefreshAt({ issuedAt: T0, expiresAt: null }, 50)).toBeNull();
  });
});
