/** The cheapest-bucket choice of what a check calls (table). */
import { describe, expect, it } from 'vitest';
import { DAY, HOUR } from '../../src/clock.js';
import { appCallsOf, type CheckChoiceInput, chooseCheck } from '../../src/lifecycle/check-choice.js';

const NOW = Date.parse('2027-01-01T00:00:00Z');
const healthy = (
  o: Partial<CheckChoiceInput['posting']> = {},
  rest: Partial<CheckChoiceInput> = {},
): CheckChoiceInput => ({
  state: 'healthy',
  posting: { type: 'PAGE', isValid: true, expiresAt: null, checkedAt: NOW - 6 * HOUR, ...o },
  lastRenewedAt: null,
  ...rest,
});

describe('chooseCheck', () => {
  it.each([
    ['a never-expiring Page token inspected 6 h ago', healthy(), 'page_probe', 'never_expiring_page_token'],
    ['never inspected (just set up)', healthy({ checkedAt: null }), 'debug_token', 'never_inspected'],
    [
      'rotated since the last inspection',
      healthy({}, { lastRenewedAt: NOW - HOUR }),
      'debug_token',
      'rotated',
    ],
    [
      'rotated before it',
      healthy({}, { lastRenewedAt: NOW - DAY / 2 }),
      'page_probe',
      'never_expiring_page_token',
    ],
    ['an expiring Page token', healthy({ expiresAt: NOW + 30 * DAY }), 'debug_token', 'expiring_token'],
    ['a user token as posting token', healthy({ type: 'USER' }), 'debug_token', 'expiring_token'],
    ['a Page that needs a person', healthy({}, { state: 'needs_reauth' }), 'debug_token', 'not_healthy'],
    ['an invalid token', healthy({ isValid: false }), 'debug_token', 'not_healthy'],
    ['inspected a day ago (the slower cadence)', healthy({ checkedAt: NOW - DAY }), 'debug_token', 'cadence'],
  ])('%s → %s (%s)', (_name, page, kind, reason) => {
    expect(chooseCheck(page, NOW)).toEqual({ kind, reason });
  });

  it('calls against the app: debug_token 1 or 2, the probe none', () => {
    expect(appCallsOf({ kind: 'debug_token', reason: 'cadence' }, true)).toBe(2);
    expect(appCallsOf({ kind: 'debug_token', reason: 'cadence' }, false)).toBe(1);
    expect(appCallsOf({ kind: 'page_probe', reason: 'never_expiring_page_token' }, true)).toBe(0);
  });
});
