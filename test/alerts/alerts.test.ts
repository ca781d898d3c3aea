/**
 * Alerts end to end through the real engine: a page changes on the emulator, the keeper plans and
 * queues alerts, the dispatcher delivers them to a real webhook receiver (signature checked) and a
 * real SMTP server, on every database. Each event arrives once per threshold, with the link.
 */
import { describe, expect, it } from 'vitest';
import { createAlertDispatcher } from '../../src/alerts/dispatcher.js';
import { createManualTimers, HOUR } from '../../src/clock.js';
import { silentLogger } from '../../src/logger.js';
import { testBackends } from '../helpers/backends.js';
import { type KeeperWorld, withKeeper } from '../helpers/keeper.js';
import { decodeQuotedPrintable, startSmtpReceiver, startWebhookReceiver } from './receivers.js';

const SECRET = 'a-webhook-secret-of-some-length';

function dispatcherFor(w: KeeperWorld) {
  return createAlertDispatcher({
    store: w.store,
    config: w.keeper.config,
    clock: w.clock,
    logger: silentLogger,
    events: w.keeper.events,
    timers: createManualTimers(w.clock),
  });
}

/** The receivers check the timestamp against the world's manual clock, set once the world exists. */
function clockRef() {
  const ref: { clock: { now(): number } | null } = { clock: null };
  return { ref, nowSec: () => Math.floor((ref.clock?.now() ?? Date.now()) / 1000) };
}

describe.each(testBackends())('alerts on %s', (backend) => {
  it('needs_reauth arrives once over webhook (signed) and e-mail, with the reconnect link, however often the page is checked', async () => {
    const time = clockRef();
    const hook = await startWebhookReceiver({ secret: SECRET, nowSec: time.nowSec });
    const mail = await startSmtpReceiver();
    try {
      await withKeeper(
        backend,
        async (w) => {
          time.ref.clock = w.clock;
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
          const reauth = hook.got.map((g) => g.body).filter((b) => b.event === 'needs_reauth');
          expect(reauth).toHaveLength(1);
          expect(reauth[0]).toMatchObject({
            page_id: pageId,
            page_name: 'Alerted Page',
            state: 'needs_reauth',
          });
          expect(String(reauth[0]!.reconnect_url)).toMatch(new RegExp(`/connect/${pageId}\\?exp=\\d+&sig=`));
          expect(String(reauth[0]!.message)).toMatch(/password/);
          expect(hook.got.every((g) => g.verified)).toBe(true);
          const mails = mail.mails.map((m) => decodeQuotedPrintable(m.raw));
          expect(mails.filter((m) => /X-FBTK-Event: needs_reauth/i.test(m))).toHaveLength(1);
          expect(mails[0]).toContain(String(reauth[0]!.reconnect_url));
          const history = await w.keeper.history(pageId, { limit: 100 });
          expect(history.filter((h) => h.type === 'alert_delivered').length).toBeGreaterThanOrEqual(2);
          // No alert carries a token.
          const secretToken = await w.keeper.getPageToken(pageId);
          expect(JSON.stringify(hook.got) + mails.join('')).not.toContain(secretToken);
          await d.stop();
        },
        {
          env: {
            WEBHOOK_URLS: hook.url,
            WEBHOOK_SECRET: SECRET,
            SMTP_URL: mail.url,
            ALERT_EMAIL_TO: 'ops@example.com',
          },
        },
      );
    } finally {
      await Promise.all([hook.close(), mail.close()]);
    }
  });

  it('expiring: a first notice, then one alert at each of 14, 7, 3, 1 days before a deadline that cannot be extended', async () => {
    const time = clockRef();
    const hook = await startWebhookReceiver({ secret: SECRET, nowSec: time.nowSec });
    try {
      await withKeeper(
        backend,
        async (w) => {
          time.ref.clock = w.clock;
          // Older Facebook behaviour (docs/FACEBOOK.md#page-tokens [S3]): Page tokens die with the user token.
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
          expect(hook.got.every((g) => g.verified)).toBe(true);
          const expiring = hook.got.map((g) => g.body).filter((b) => b.event === 'expiring');
          // A first notice when renewal could not extend the token (say so, with the
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
    } finally {
      await hook.close();
    }
  }, 120_000);

  it('alerts queued while the receiver is down arrive after it comes back, with a new dispatcher (restart)', async () => {
    const time = clockRef();
    const hook = await startWebhookReceiver({ secret: SECRET, nowSec: time.nowSec });
    try {
      await withKeeper(
        backend,
        async (w) => {
          time.ref.clock = w.clock;
          const { userId, pageId } = w.newPage();
          const long = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'long' });
          await w.keeper.setup({ pageId, accessToken: long, appId: w.app.appId, appSecret: w.app.appSecret });
          hook.down = true;
          w.graph.logout(userId);
          w.clock.advance(7 * HOUR);
          await w.keeper.runRound();
          const first = dispatcherFor(w);
          expect((await first.deliverDue()).failed).toBe(1);
          await first.stop();
          expect(hook.got).toHaveLength(0);
          hook.down = false;
          const second = dispatcherFor(w);
          w.clock.advance(HOUR);
          expect((await second.deliverDue()).delivered).toBe(1);
          expect(hook.got.map((g) => g.body.event)).toEqual(['needs_reauth']);
          expect(hook.got[0]!.verified).toBe(true);
          await second.stop();
        },
        { env: { WEBHOOK_URLS: hook.url, WEBHOOK_SECRET: SECRET } },
      );
    } finally {
      await hook.close();
    }
  });
});
