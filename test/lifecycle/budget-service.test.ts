/**
 * The call-budget warning where operators look: the service's log, `/readyz` (an advisory
 * `call_budget` check that never fails readiness) and `/metrics` (per-app budget series), for an
 * app with one daily user and more Pages than its budget can check within CHECK_INTERVAL_HOURS.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { expect, it } from 'vitest';
import { createManualClock, createManualTimers, MINUTE } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { startFakeGraph } from '../../src/fake-graph/index.js';
import { createLogger } from '../../src/logger.js';
import { createService } from '../../src/service.js';
import { REFERENCE_TIME } from '../helpers/keeper.js';

it('an app whose budget is too small for its Pages: logged once, in /readyz (still ready) and /metrics, with the achievable interval', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fbtk-budget-'));
  const clock = createManualClock(REFERENCE_TIME);
  const timers = createManualTimers(clock);
  const graph = await startFakeGraph({ clock });
  let logText = '';
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => (logText += c.toString('utf8')));
  const config = loadConfig({
    DATABASE_URL: `sqlite:${join(dir, 'k.db')}`,
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    GRAPH_API_URL: graph.url,
    FACEBOOK_DIALOG_URL: graph.url,
    PORT: '0',
    CHECK_INTERVAL_HOURS: '1',
    // Every check a debug_token, so the budget is short (with probes it would fit).
    GRAPH_CHECK: 'debug_token',
  });
  const service = await createService({
    config,
    clock,
    timers,
    logger: createLogger({ level: 'warn', format: 'json', destination: sink }),
    create: true,
    random: () => 0.5,
  });
  try {
    const app = graph.createApp({ name: 'Few users' });
    // 60 Pages × 2 calls an hour = 120 calls an hour; 50 % of 200 allows 100.
    for (let i = 0; i < 60; i++) {
      const user = graph.createUser();
      const page = graph.createPage();
      graph.grantRole(user.id, page.id);
      const long = graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
      await service.keeper.setup({
        pageId: page.id,
        accessToken: long,
        appId: app.appId,
        appSecret: app.appSecret,
      });
    }
    graph.setAppUsers(app.appId, 1);
    graph.resetUsage();
    await service.start();
    clock.advance(2 * 60 * MINUTE);
    for (let i = 0; i < 30; i++) {
      await service.scheduler.trigger();
      await new Promise((resolve) => setImmediate(resolve));
      timers.advance(MINUTE);
    }
    await new Promise((resolve) => setImmediate(resolve));

    const ready = await service.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    const checks = (JSON.parse(ready.body) as { checks: Record<string, { ok: boolean; message?: string }> })
      .checks;
    expect(checks.call_budget?.ok).toBe(true);
    expect(checks.call_budget?.message).toMatch(
      /60 Pages need 120 Facebook calls an hour to be checked every 1 h/,
    );
    expect(checks.call_budget?.message).toMatch(/GRAPH_USAGE_TARGET/);

    const metrics = (await service.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain(`fbtk_app_call_budget_short{app_id="${app.appId}"} 1`);
    expect(metrics).toContain(`fbtk_app_checks_calls_per_hour{app_id="${app.appId}"} 120`);
    const achievable = Number(
      /fbtk_app_achievable_check_interval_hours\{app_id="\d+"\} ([\d.]+)/.exec(metrics)?.[1] ?? 'NaN',
    );
    expect(achievable).toBeGreaterThan(1);
    expect(achievable).toBeLessThan(3);
    // Logged once, not every round.
    expect(logText.match(/"msg":"60 Pages need/g)).toHaveLength(1);
    // And paced: nothing throttled.
    expect(graph.calls.filter((c) => c.fbCode === 4)).toHaveLength(0);
  } finally {
    await service.stop();
    await graph.close();
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
