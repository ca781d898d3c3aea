/**
 * A year of refreshes, without the engine: the emulator, a provider, the pure `refreshDue` rule
 * and a manual clock, checked every 6 hours (CHECK_INTERVAL_HOURS' default) for 365 days, for one
 * Instagram account and one Threads profile. The token must never be invalid at a check, no
 * refresh may come before the token is 24 hours old, and the refresh count must be close to
 * 365 / (60 − threshold). (The engine's `simulate` runs the same world once it keeps these platforms.)
 */
import { describe, expect, it } from 'vitest';
import { DAY, HOUR } from '../../src/clock.js';
import { refreshDue } from '../../src/platforms/decide.js';
import { REFERENCE_TIME as T0, withPlatform } from './world.js';

const CHECK_MS = 6 * HOUR;

describe.each(['instagram', 'threads'] as const)('a year of %s refreshes', (platform) => {
  it.each([50, 59])(
    'threshold %i days: 0 minutes without a valid token, refreshes ≈ 365 / (60 − threshold)',
    async (threshold) => {
      await withPlatform(platform, async (w) => {
        let current = await w.provider.exchangeShortLived(w.token('short'), w.app);
        let expiresAt = current.info.expiresAt;
        let issuedAt = current.issuedAt;
        let refreshes = 0;
        let minutesWithoutToken = 0;
        const ages: number[] = [];
        for (let t = T0 + CHECK_MS; t <= T0 + 365 * DAY; t += CHECK_MS) {
          w.clock.set(t);
          if (!w.graph.platformTokenStatus(platform, current.token).valid) {
            minutesWithoutToken += CHECK_MS / 60_000;
          }
          const decision = refreshDue({ issuedAt, expiresAt }, t, threshold);
          expect(decision.reason).not.toBe('expired');
          if (!decision.due) continue;
          ages.push(t - issuedAt);
          current = await w.provider.extend({ ...current, issuedAt }, w.app);
          expiresAt = current.info.expiresAt;
          issuedAt = current.issuedAt;
          refreshes++;
        }
        expect(minutesWithoutToken).toBe(0);
        expect(Math.min(...ages)).toBeGreaterThanOrEqual(DAY);
        const expected = 365 / (60 - threshold);
        expect(Math.abs(refreshes - expected)).toBeLessThanOrEqual(1);
        // Every refresh was one call to the refresh endpoint, none refused.
        expect(w.graph.countCalls('refresh_access_token')).toBe(refreshes);
        expect((await w.provider.inspect(current.token, w.app)).isValid).toBe(true);
      });
    },
    60_000,
  );
});
