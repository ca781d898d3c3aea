/**
 * No daemon needed: `fb-token-keeper check` run from cron (the real CLI in a child process, the
 * compiled dist/) delivers the alerts its check raised before it exits — or, when the receiver is
 * down, gives up waiting within a bounded time and leaves them queued in the database for later.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAlertDispatcher } from '../../src/alerts/dispatcher.js';
import { createManualClock, createManualTimers, MINUTE } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { createSecretBox } from '../../src/crypto/secret-box.js';
import { type FakeGraph, startFakeGraph } from '../../src/fake-graph/index.js';
import { silentLogger } from '../../src/logger.js';
import { openStore } from '../../src/store/database.js';
import { startWebhookReceiver, type WebhookReceiver } from './receivers.js';

const SECRET = 'cron-webhook-secret-123';
const KEY = randomBytes(32);
let graph: FakeGraph;
let hook: WebhookReceiver;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  graph = await startFakeGraph();
  hook = await startWebhookReceiver({ secret: SECRET });
  dir = mkdtempSync(join(tmpdir(), 'fbtk-cron-'));
  env = {
    DATABASE_URL: `sqlite:${join(dir, 'keeper.db')}`,
    TOKEN_ENCRYPTION_KEY: KEY.toString('base64'),
    GRAPH_API_URL: graph.url,
    WEBHOOK_URLS: hook.url,
    WEBHOOK_SECRET: SECRET,
    PUBLIC_URL: 'https://keeper.example.com',
    LOG_LEVEL: 'silent',
  };
});
afterAll(async () => {
  await hook.close();
  await graph.close();
  rmSync(dir, { recursive: true, force: true });
});

function cli(args: string[], stdin = '') {
  return new Promise<{ code: number; stdout: string; stderr: string; ms: number }>((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['bin/fb-token-keeper.js', ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += String(d)));
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.stdin.end(stdin);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - started }));
  });
}

async function addPage(name: string) {
  const app = graph.createApp({ name: `${name} app` });
  const user = graph.createUser({ name: `${name} admin` });
  const page = graph.createPage({ name });
  graph.grantRole(user.id, page.id);
  const token = graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
  const add = await cli(['add', page.id, '-', app.appId, '-'], `${token}\n${app.appSecret}\n`);
  expect(add.code, add.stderr).toBe(0);
  return { pageId: page.id, userId: user.id };
}

describe('check from cron', () => {
  it('delivers the alert its check raised before the process exits', async () => {
    const { pageId, userId } = await addPage('Cron Page');
    graph.changePassword(userId);
    const check = await cli(['check', '--page-id', pageId]);
    // needs_reauth: a failure exit code for cron's mail, and the alert already delivered.
    expect(check.code).toBe(1);
    const got = hook.got.filter((g) => g.body.page_id === pageId);
    expect(got.map((g) => g.body.event)).toEqual(['needs_reauth']);
    expect(got[0]!.verified).toBe(true);
    expect(String(got[0]!.body.reconnect_url)).toMatch(
      new RegExp(`^https://keeper\\.example\\.com/connect/${pageId}\\?exp=\\d+&sig=`),
    );

    // The next cron run finds the same problem and does not alert again.
    const again = await cli(['check', '--page-id', pageId]);
    expect(again.code).toBe(1);
    expect(hook.got.filter((g) => g.body.page_id === pageId)).toHaveLength(1);
  });

  it('with the receiver down: exits within its bounded wait, and the alert stays queued for later', async () => {
    const { pageId, userId } = await addPage('Queued Page');
    graph.logout(userId);
    hook.down = true;
    const check = await cli(['check', '--page-id', pageId]);
    hook.down = false;
    expect(check.code).toBe(1);
    expect(check.ms).toBeLessThan(25_000);
    expect(hook.got.filter((g) => g.body.page_id === pageId)).toHaveLength(0);

    // Later (the next cron run, or `serve`): the queued alert is delivered from the database.
    const store = await openStore({
      databaseUrl: env.DATABASE_URL!,
      secretBox: createSecretBox({ current: KEY }),
    });
    try {
      // A minute on: past the first retry delay (30 s), within the receiver's 5-minute signature tolerance.
      const clock = createManualClock(Date.now() + MINUTE);
      const d = createAlertDispatcher({
        store,
        config: loadConfig(env),
        clock,
        logger: silentLogger,
        timers: createManualTimers(clock),
      });
      expect(await d.deliverDue()).toEqual({ delivered: 1, failed: 0 });
      await d.stop();
    } finally {
      await store.close();
    }
    const got = hook.got.filter((g) => g.body.page_id === pageId);
    expect(got.map((g) => g.body.event)).toEqual(['needs_reauth']);
    expect(got[0]!.body.message).toMatch(/logged out/);
  });
});
