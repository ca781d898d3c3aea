/** `simulate`: the real engine, scheduler and store against the emulator over a virtual year. */
import { describe, expect, it } from 'vitest';
import { runSimulation } from '../../src/lifecycle/simulate.js';

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
  }, 120_000);

  it('a password change on day 100 shows as needs_reauth within one check interval, with the reason', async () => {
    const r = await runSimulation({ days: 120, scenario: 'password-change', pages: 2 });
    const [first, second] = Object.keys(r.final_states);
    expect(r.final_states[first!]).toBe('needs_reauth');
    expect(r.reasons[first!]).toBe('password_changed');
    expect(r.detection_minutes[first!]).not.toBeNull();
    expect(r.detection_minutes[first!]).toBeLessThanOrEqual(6 * 60 * 1.1);
    expect(r.final_states[second!]).toBe('healthy');
    expect(r.minutes_without_valid_token[second!]).toBe(0);
  }, 60_000);

  it('an app with one daily user and 300 Pages over a day: paced, 0 throttled answers and the achievable interval met; unpaced, throttled', async () => {
    const paced = await runSimulation({
      days: 1,
      scenario: 'default',
      pages: 300,
      appUsers: 1,
      stepMinutes: 10,
    });
    expect(paced.budget).toMatchObject({ app_users: 1, pacing: true, throttled_answers: 0 });
    // 300 Pages × ~2 calls every 6 h need ~100 calls an hour: more than 50 % of 200 allows.
    expect(paced.budget!.warning).toMatch(/GRAPH_USAGE_TARGET/);
    expect(paced.budget!.achievable_interval_hours).toBeGreaterThan(6);
    // Met, give or take a step and the estimate's caution.
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
    });
    expect(unpaced.budget!.throttled_answers).toBeGreaterThan(0);
    await expect(runSimulation({ days: 1, scenario: 'default', pages: 5000 })).rejects.toThrow(
      /10000 with --app-users/,
    );
  }, 180_000);

  it('refuses an unknown scenario', async () => {
    await expect(runSimulation({ days: 1, scenario: 'nope', pages: 1 })).rejects.toThrow(/unknown scenario/);
  });
});
