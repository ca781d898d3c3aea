/**
 * Alerts end to end: a real webhook receiver that checks the signature, a real SMTP server, the
 * real outbox on both databases. Each event arrives once per threshold, with the reconnect link.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { createAlertDispatcher } from '../../src/alerts/dispatcher.js';
import { thresholdCrossed } from '../../src/alerts/plan.js';
import { verifyWebhookSignature } from '../../src/alerts/channels.js';
import { createManualTimers, DAY, HOUR } from '../../src/clock.js';
import { silentLogger } from '../../src/logger.js';
import { testBackends } from '../helpers/backends.js';
import { type KeeperWorld, withKeeper } from '../helpers/keeper.js';

const SECRET = 'a-webhook-secret-of-some-length';
const servers: { close(): unknown }[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => (s as Server).close?.(r) ?? r(null));
});

/** A webhook receiver that records verified bodies, or answers 503 while `down`. */
async function receiver(port = 0) {
  const got: Record<string, unknown>[] = [];
  let bad = 0;
  const state = { down: false };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += String(c)));
    req.on('end', () => {
      if (state.down) {
        res.statusCode = 503;
        res.end();
        return;
      }
      const ok = verifyWebhookSignature(SECRET, String(req.headers['x-fbtk-timestamp']), body, String(req.headers['x-fbtk-signature']), { toleranceSec: 10 * 365 * 86400 });
      if (ok) got.push(JSON.parse(body));
      else bad++;
      res.statusCode = ok ? 204 : 401;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, bad: () => bad, state, server };
}

async function smtp() {
  const mails: string[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, _session, cb) {
      let text = '';
      stream.on('data', (c) => (text += String(c)));
      stream.on('end', () => {
        mails.push(text);
        cb();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push({ close: (cb?: () => void) => server.close(cb) } as unknown as Server);
  return { url: `smtp://127.0.0.1:${(server.server.address() as AddressInfo).port}`, mails };
}

function dispatcherFor(w: KeeperWorld) {
  return createAlertDispatcher({ store: w.store, config: w.keeper.config, clock: w.clock, logger: silentLogger, events: w.keeper.events, timers: createManualTimers(w.clock) });
}

describe('alert planning', () => {
  it('fires the smallest threshold crossed, once', () => {
    const now = 0;
    expect(thresholdCrossed(20 * DAY, now, [14, 7, 3, 1])).toBeNull();
    expect(thresholdCrossed(13 * DAY, now, [14, 7, 3, 1])).toBe(14);
    expect(thresholdCrossed(2 * DAY, now, [14, 7, 3, 1])).toBe(3);
    expect(thresholdCrossed(-1, now, [14, 7, 3, 1])).toBeNull();
  });
});

describe.each(testBackends())('alerts on %s', (backend) => {
  it('needs_reauth arrives once over webhook (signed) and e-mail, with the reconnect link, however often the page is checked', async () => {
    const hook = await receiver();
    const mail = await smtp();
    await withKeeper(
      backend,
      async (w) => {
        const { userId, pageId } = w.newPage('Alerted Page');
        const long = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'long' });
        await w.keeper.setup({ pageId, accessToken: long, appId: w.app.appId, appSecret: w.app.appSecret });
        const d = dispatcherFor(w);
        w.graph.changePassword(userId);
        for (let i = 0; i < 5; i++) {
          w.clock.advance(7 * HOUR);
          await w.keeper.runRound();
          await d.deliverDue();
        }
        const reauth = hook.got.filter((b) => b.event === 'needs_reauth');
        expect(reauth).toHaveLength(1);
        expect(reauth[0]).toMatchObject({ page_id: pageId, page_name: 'Alerted Page', state: 'needs_reauth' });
        expect(String(reauth[0]!.reconnect_url)).toMatch(new RegExp(`/connect/${pageId}\\?exp=\\d+&sig=`));
        expect(String(reauth[0]!.message)).toMatch(/password/);
        expect(hook.bad()).toBe(0);
        expect(mail.mails.filter((m) => m.includes('needs_reauth'))).toHaveLength(1);
        expect(mail.mails[0]).toContain('/connect/');
        const history = await w.keeper.history(pageId, { limit: 100 });
        expect(history.filter((h) => h.type === 'alert_delivered').length).toBeGreaterThanOrEqual(2);
        // No alert carries a token.
        const secretToken = await w.keeper.getPageToken(pageId);
        expect(JSON.stringify(hook.got) + mail.mails.join('')).not.toContain(secretToken);
        await d.stop();
      },
      { env: { WEBHOOK_URLS: hook.url, WEBHOOK_SECRET: SECRET, SMTP_URL: mail.url, ALERT_EMAIL_TO: 'ops@example.com' } },
    );
  });

  it('expiring: a first notice, then one alert at each of 14, 7, 3, 1 days before a deadline that cannot be extended', async () => {
    const hook = await receiver();
    await withKeeper(
      backend,
      async (w) => {
        // Older Facebook behaviour (GRAPH_API.md §1.3 [S3]): Page tokens die with the user token.
        w.graph.setPageTokensInheritExpiry(true);
        const { userId, pageId } = w.newPage();
        const long = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'long' });
        await w.keeper.setup({ pageId, accessToken: long, appId: w.app.appId, appSecret: w.app.appSecret });
        const d = dispatcherFor(w);
        for (let day = 0; day < 61; day++) {
          for (let h = 0; h < 4; h++) {
            w.clock.advance(6 * HOUR);
            await w.keeper.runRound();
          }
          await d.deliverDue();
        }
        const expiring = hook.got.filter((b) => b.event === 'expiring');
        // A first notice when renewal could not extend the token (DESIGN §2: say so, with the
        // deadline), then one at each threshold.
        expect(String(expiring[0]?.alert_id)).toMatch(/:notice$/);
        expect(expiring[0]?.days_left).toBeGreaterThan(14);
        expect(expiring.slice(1).map((b) => b.days_left)).toEqual([14, 7, 3, 1]);
        expect(expiring.every((b) => String(b.reconnect_url).includes('/connect/'))).toBe(true);
        const s = await w.keeper.status(pageId, { historyLimit: 200 });
        // A renewal that could not extend the token led to `expiring`, then `expired` — not a loop of exchanges.
        expect(w.graph.countCalls('/oauth/access_token')).toBeLessThanOrEqual(2);
        expect(s.history.some((h) => h.reason === 'not_extendable')).toBe(true);
        await d.stop();
      },
      { env: { WEBHOOK_URLS: hook.url, WEBHOOK_SECRET: SECRET } },
    );
  }, 120_000);

  it('alerts queued while the receiver is down arrive after it comes back, with a new dispatcher (restart)', async () => {
    const hook = await receiver();
    await withKeeper(
      backend,
      async (w) => {
        const { userId, pageId } = w.newPage();
        const long = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'long' });
        await w.keeper.setup({ pageId, accessToken: long, appId: w.app.appId, appSecret: w.app.appSecret });
        hook.state.down = true;
        w.graph.logout(userId);
        w.clock.advance(7 * HOUR);
        await w.keeper.runRound();
        const first = dispatcherFor(w);
        expect((await first.deliverDue()).failed).toBe(1);
        await first.stop();
        expect(hook.got).toHaveLength(0);
        hook.state.down = false;
        const second = dispatcherFor(w);
        w.clock.advance(HOUR);
        expect((await second.deliverDue()).delivered).toBe(1);
        expect(hook.got.map((b) => b.event)).toEqual(['needs_reauth']);
        await second.stop();
      },
      { env: { WEBHOOK_URLS: hook.url, WEBHOOK_SECRET: SECRET } },
    );
  });
});
