/**
 * The pure parts of pacing: the planner (table), the budget tracker's projection, and the pacer's
 * token bucket on an injected time.
 */
import { describe, expect, it } from 'vitest';
import { HOUR, MINUTE } from '../../src/clock.js';
import { CallBudget } from '../../src/graph/budget.js';
import { parseUsageHeaders } from '../../src/graph/usage.js';
import { createPacer, planPacing } from '../../src/lifecycle/pacing.js';

const T0 = Date.parse('2027-01-01T00:00:00Z');
const usage = (pct: number) =>
  parseUsageHeaders({
    'x-app-usage': JSON.stringify({ call_count: pct, total_time: pct, total_cputime: pct }),
  });

describe('planPacing', () => {
  it.each([
    // pages, calls/check, interval h, capacity/h, others/h, target %, spacing s, fits, achievable h
    {
      pages: 1000,
      calls: 2,
      hours: 6,
      capacity: 200,
      others: 0,
      target: 50,
      spacing: 72,
      fits: false,
      achievable: 20,
    },
    {
      pages: 1000,
      calls: 1,
      hours: 6,
      capacity: 200,
      others: 0,
      target: 50,
      spacing: 36,
      fits: false,
      achievable: 10,
    },
    {
      pages: 150,
      calls: 2,
      hours: 6,
      capacity: 200,
      others: 0,
      target: 50,
      spacing: 72,
      fits: true,
      achievable: 6,
    },
    {
      pages: 300,
      calls: 2,
      hours: 6,
      capacity: 200,
      others: 0,
      target: 50,
      spacing: 72,
      fits: true,
      achievable: 6,
    },
    {
      pages: 301,
      calls: 2,
      hours: 6,
      capacity: 200,
      others: 0,
      target: 50,
      spacing: 72,
      fits: false,
      achievable: 6.02,
    },
    {
      pages: 1000,
      calls: 2,
      hours: 6,
      capacity: 2000,
      others: 0,
      target: 50,
      spacing: 7.2,
      fits: true,
      achievable: 6,
    },
    {
      pages: 1000,
      calls: 2,
      hours: 6,
      capacity: 2000,
      others: 600,
      target: 50,
      spacing: 18,
      fits: true,
      achievable: 6,
    },
    {
      pages: 1000,
      calls: 2,
      hours: 6,
      capacity: 2000,
      others: 800,
      target: 50,
      spacing: 36,
      fits: false,
      achievable: 10,
    },
    {
      pages: 5000,
      calls: 2,
      hours: 6,
      capacity: 1000,
      others: 0,
      target: 80,
      spacing: 9,
      fits: false,
      achievable: 12.5,
    },
  ])(
    '$pages Pages × $calls calls every $hours h, $capacity calls/h, $others others, target $target % → spacing $spacing s, fits $fits, achievable $achievable h',
    ({ pages, calls, hours, capacity, others, target, spacing, fits, achievable }) => {
      const plan = planPacing({
        pages,
        callsPerCheck: calls,
        intervalMs: hours * HOUR,
        capacityPerHour: capacity,
        otherCallsPerHour: others,
        targetPercent: target,
      });
      expect(plan.spacingMs / 1000).toBeCloseTo(spacing, 5);
      expect(plan.fits).toBe(fits);
      expect(plan.achievableIntervalMs! / HOUR).toBeCloseTo(achievable, 2);
      expect(plan.warning === null).toBe(fits);
      if (plan.warning) {
        expect(plan.warning).toMatchObject({ code: 'call_budget_short', pages, intervalHours: hours });
        expect(plan.warning.message).toContain('GRAPH_USAGE_TARGET');
        expect(plan.warning.achievableIntervalHours).toBeCloseTo(achievable, 1);
      }
    },
  );

  it('an unknown budget plans nothing and warns of nothing; a budget used up by others says so', () => {
    const unknown = planPacing({
      pages: 10,
      callsPerCheck: 2,
      intervalMs: 6 * HOUR,
      capacityPerHour: null,
      otherCallsPerHour: 0,
      targetPercent: 50,
    });
    expect(unknown).toMatchObject({ spacingMs: 0, fits: true, warning: null, allowedCallsPerHour: null });
    const spent = planPacing({
      pages: 10,
      callsPerCheck: 2,
      intervalMs: 6 * HOUR,
      capacityPerHour: 200,
      otherCallsPerHour: 150,
      targetPercent: 50,
    });
    expect(spent.fits).toBe(false);
    expect(spent.achievableIntervalMs).toBeNull();
    expect(spent.warning?.message).toMatch(/used up by other calls/);
  });
});

describe('CallBudget', () => {
  it('estimates the capacity from our calls and the header (a lower bound), and projects usage', () => {
    const b = new CallBudget(50);
    expect(b.view('app', T0).capacity).toBeNull();
    expect(b.mayCall('app', 1000, T0)).toBe(true);
    b.recordCalls('app', 20, T0);
    // 20 of 200 calls = 10 %: the capacity is more than 20·100/11 ≈ 181.8.
    b.observe('app', usage(10), T0);
    const v = b.view('app', T0);
    expect(v.capacity).toBeCloseTo(2000 / 11, 5);
    expect(v.projectedPercent).toBeCloseTo(11, 5);
    expect(b.mayCall('app', 70, T0)).toBe(true);
    expect(b.mayCall('app', 80, T0)).toBe(false);
    // The window rolls: an hour later our calls are gone.
    expect(b.view('app', T0 + HOUR).ourCalls).toBe(0);
    expect(b.mayCall('app', 80, T0 + HOUR)).toBe(true);
  });

  it('others calls seen in the header slow us down; a throttle sets the capacity to what we made', () => {
    const b = new CallBudget(50);
    b.recordCalls('app', 100, T0);
    b.observe('app', usage(49), T0); // capacity > 200
    b.observe('app', usage(80), T0 + MINUTE); // others made 60 % more
    const v = b.view('app', T0 + MINUTE);
    expect(v.otherCalls).toBeCloseTo(60, 5);
    // 50 % of 200 calls, less the others' 60: 40 calls an hour, a check of 2 every 3 minutes…
    expect(b.allowedCallsPerHour('app', T0 + MINUTE)).toBeCloseTo(40, 5);
    expect(b.spacingMs('app', 2, T0 + MINUTE)).toBeCloseTo(3 * MINUTE, 0);
    // …and none now: the projection (80 %) is over the target already.
    expect(b.mayCall('app', 1, T0 + MINUTE)).toBe(false);
    b.observe('app', usage(100), T0 + MINUTE); // others: the other half
    expect(b.allowedCallsPerHour('app', T0 + MINUTE)).toBe(0);
    expect(b.spacingMs('app', 2, T0 + MINUTE)).toBe(Number.POSITIVE_INFINITY);
    b.observeThrottle('app', T0 + 2 * MINUTE);
    expect(b.view('app', T0 + 2 * MINUTE).capacity).toBe(100);
  });
});

describe('createPacer', () => {
  it('admits all while the budget is unknown, then at the rate that keeps usage under the target', () => {
    const b = new CallBudget(50);
    const pacer = createPacer({ budget: b, burstMs: MINUTE });
    for (let i = 0; i < 5; i++) expect(pacer.admit('app', 2, T0)).toBe(true);
    b.recordCalls('app', 10, T0);
    b.observe('app', usage(4), T0); // capacity > 200: 100 calls/h allowed at 50 %
    // 100 calls/h = 1 call per 36 s; a check of 2 calls every 72 s; the bucket holds max(2, 1.67).
    expect(pacer.admit('app', 2, T0)).toBe(true);
    expect(pacer.admit('app', 2, T0)).toBe(false);
    expect(pacer.admit('app', 2, T0 + 36_000)).toBe(false);
    expect(pacer.admit('app', 2, T0 + 72_000)).toBe(true);
    let admitted = 0;
    for (let t = T0 + 73_000; t < T0 + HOUR; t += 1000) if (pacer.admit('app', 2, t)) admitted++;
    // About 49 more checks in the hour (≈ 98 calls), never a burst.
    expect(admitted).toBeGreaterThanOrEqual(45);
    expect(admitted).toBeLessThanOrEqual(50);
    expect(pacer.paced('app')).toBeGreaterThan(0);
  });
});
