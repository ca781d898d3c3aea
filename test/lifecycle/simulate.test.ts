/** `simulate`: the real engine, scheduler and store against the emulator over a virtual year. */
import { describe, expect, it } from 'vitest';
import { runSimulation, simulationText } from '../../src/lifecycle/simulate.js';

describe('simulate', () => {
  it('a year with the default scenario: no minute without a valid posting token', async () => {
    const r = await runSimulation({ days: 365, scenario: 'default', pages: 3 });
    expect(Object.values(r.minutes_without_valid_token)).toEqual([0, 0, 0]);
    expect(Object.values(r.final_states)).toEqual(['healthy', 'healthy', 'healthy']);
    // Four checks a day per page, give or take the jitter.
    expect(r.checks).toBeGreaterThan(3 * 365 * 4 * 0.9);
    // The 60-day system-user page (the third) is renewed by the seed's 50-day rule all year long.
    expect(r.renewals).toBeGreaterThanOrEqual(30);
    expect(r.graph_calls_per_page_check).toBeLessThanOrEqual(2.5);
  }, 300_000); // CPU-bound: 106 s at load 10, past 120 s at load 16 (docs/CI.md)

  it('a year of Instagram and Threads accounts: no minute without a valid token, refreshed at the threshold, never before 24 hours, ≈ 365/(60 − threshold) times', async () => {
    const r = await runSimulation({
      days: 365,
      scenario: 'default',
      pages: 0,
      instagram: 1,
      threads: 1,
      stepMinutes: 60,
    });
    const accounts = Object.values(r.accounts);
    expect(accounts.map((a) => a.platform).sort()).toEqual(['instagram', 'threads']);
    expect(Object.values(r.minutes_without_valid_token)).toEqual([0, 0]);
    expect(Object.values(r.final_states)).toEqual(['healthy', 'healthy']);
    // RENEWAL_THRESHOLD_DAYS 50: 365 / (60 − 50) = 36.5.
    expect(r.expected_refreshes_per_account).toBe(36.5);
    for (const a of accounts) {
      expect(Math.abs(a.refreshes - r.expected_refreshes_per_account!)).toBeLessThanOrEqual(1);
      expect(a.min_age_hours_at_refresh!).toBeGreaterThanOrEqual(24);
      // At the threshold: 50 days left, not earlier, and no later than one step after it.
      expect(a.max_days_left_at_refresh!).toBeLessThanOrEqual(50);
      expect(a.min_days_left_at_refresh!).toBeGreaterThanOrEqual(50 - 1 / 24);
    }
    expect(simulationText(r)).toContain('ACCOUNT');
  }, 180_000);

  it('a password change on day 100 shows as needs_reauth within one check interval, with the reason', async () => {
    const r = await runSimulation({ days: 120, scenario: 'password-change', pages: 2 });
    const [first, second] = Object.keys(r.final_states);
    expect(r.final_states[first!]).toBe('needs_reauth');
    expect(r.reasons[first!]).toBe('password_changed');
    expect(r.detection_minutes[first!]).not.toBeNull();
    expect(r.detection_minutes[first!]).toBeLessThanOrEqual(6 * 60 * 1.1);
    // The second Page's login (a 60-day user token from day 0) ends on day 60, the day of the
    // password change: it cannot be healed, so its token is left alone and stays valid.
    expect(r.final_states[second!]).toBe('healthy');
    expect(r.minutes_without_valid_token[second!]).toBe(0);
    expect(r.posting_app).toBeNull();
  }, 180_000); // CPU-bound, as above

  it('with a posting app that reports failures, a self-healable Page is without a valid token for about one post interval', async () => {
    // Day 10: the admin of the first Page changes their password; the second Page, which they
    // co-administer, loses its Page token while its own login lives on (self-healable).
    const base = { days: 20, scenario: 'password-change', pages: 2 } as const;
    const without = await runSimulation(base);
    expect(without.heals).toBe(1);
    const withApp = await runSimulation({ ...base, postEveryMinutes: 10 });
    const [first, second] = Object.keys(withApp.final_states);
    // The healable Page: from up to a check interval down to one post interval.
    // Page ids differ between runs: compare the second Page of each.
    const secondWithout = Object.keys(without.final_states)[1]!;
    expect(without.minutes_without_valid_token[secondWithout]).toBeGreaterThan(30);
    expect(withApp.minutes_without_valid_token[second!]).toBeLessThanOrEqual(10);
    expect(withApp.final_states[second!]).toBe('healthy');
    expect(withApp.posting_app).toMatchObject({ every_minutes: 10, healed_on_demand: 1, stopped: [first] });
    // The dead login: shown at the app's next post, and the app stops posting to it.
    expect(withApp.final_states[first!]).toBe('needs_reauth');
    // (sampled one step after the post that found it)
    expect(withApp.detection_minutes[first!]).toBeLessThanOrEqual(20);
    // One refresh call per dead token; the healed Page's post succeeded on the retry.
    expect(withApp.posting_app?.failed_posts).toBe(1);
    expect(withApp.posting_app?.refreshes).toBe(2);
    expect(simulationText(withApp)).toMatch(
      /posting app, every 10 minutes: \d+ posts, 1 failed, 2 token refresh calls \(1 healed at once\)/,
    );
  }, 120_000);
  it('an app with one daily user and 300 Pages over a day: paced, 0 throttled answers and the achievable interval met; unpaced, throttled', async () => {
    const paced = await runSimulation({
      days: 1,
      scenario: 'default',
      pages: 300,
      appUsers: 1,
      stepMinutes: 10,
      // Every check a debug_token, so 300 Pages do not fit the budget (with probes they would).
      graphCheck: 'debug_token',
    });
    expect(paced.budget).toMatchObject({ app_users: 1, pacing: true, throttled_answers: 0 });
    // 300 Pages × ~2 calls every 6 h need ~100 calls an hour: more than 50 % of 200 allows.
    expect(paced.budget!.warning).toMatch(/GRAPH_USAGE_TARGET/);
    expect(paced.budget!.achievable_interval_hours).toBeGreaterThan(6);
    // Met, give or take a step and the estimate's caution: while the budget holds checks back, a
    // paced round spends it in due order, each login's look just before its first due Page (every
    // look first held Pages back up to 1.6 × the achievable interval, 9.8 h of 6.1 h here).
    expect(paced.budget!.max_hours_between_checks).toBeLessThanOrEqual(
      paced.budget!.achievable_interval_hours! * 1.25,
    );
    const unpaced = await runSimulation({
      days: 1,
      scenario: 'default',
      pages: 300,
      appUsers: 1,
      stepMinutes: 10,
      pacing: false,
      graphCheck: 'debug_token',
    });
    expect(unpaced.budget!.throttled_answers).toBeGreaterThan(0);
    // The same Pages with GRAPH_CHECK=auto: between daily inspections each check is the probe on
    // the Page's own budget, so they fit — no warning, nothing refused, every Page within its interval.
    const probed = await runSimulation({
      days: 1,
      scenario: 'default',
      pages: 300,
      appUsers: 1,
      stepMinutes: 10,
    });
    expect(probed.budget).toMatchObject({ throttled_answers: 0, warning: null });
    // (the interval with its ±10 % jitter, and one 10-minute step)
    expect(probed.budget!.max_hours_between_checks).toBeLessThanOrEqual(6 * 1.1 + 10 / 60);
    await expect(runSimulation({ days: 1, scenario: 'default', pages: 5000 })).rejects.toThrow(
      /10000 with --app-users/,
    );
  }, 180_000);

  it('agency, 5 logins x 10 Pages: one password change, one alert, one reconnect heals its 10, the other 40 never notice; ~1.1 calls per check', async () => {
    const r = await runSimulation({ days: 10, scenario: 'agency', pages: 50 });
    const a = r.agency!;
    expect(a).toMatchObject({ logins: 5, pages_per_login: 10, needs_reauth_alerts: 1, reconnects: 1 });
    expect(a.affected_pages).toHaveLength(10);
    expect(a.healed_by_reconnect).toBe(10);
    expect(a.others_that_noticed).toEqual([]);
    // One alert for the login: nothing else that asks a person to act.
    for (const kind of ['needs_reauth', 'expired', 'renewal_failed', 'missing_permission', 'expiring']) {
      expect(r.alerts_by_kind[kind] ?? 0).toBe(kind === 'needs_reauth' ? 1 : 0);
    }
    const others = Object.keys(r.final_states).filter((id) => !a.affected_pages.includes(id));
    expect(others).toHaveLength(40);
    for (const id of others) expect(r.minutes_without_valid_token[id]).toBe(0);
    expect(Object.values(r.final_states).every((s) => s === 'healthy')).toBe(true);
    // N Pages of a login cost N + 1 calls a round: 1.1 per Page check, plus the reconnect's few.
    expect(r.graph_calls_per_page_check).toBeGreaterThanOrEqual(1.05);
    expect(r.graph_calls_per_page_check).toBeLessThanOrEqual(1.15);
    expect(simulationText(r)).toContain(
      'needs_reauth alerts: 1   reconnects: 1   Pages healed by it: 10 of 10',
    );
  }, 120_000);

  it('refuses an unknown scenario', async () => {
    await expect(runSimulation({ days: 1, scenario: 'nope', pages: 1 })).rejects.toThrow(/unknown scenario/);
  });
});
