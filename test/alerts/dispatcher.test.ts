/**
 * The dispatcher against real receivers (HTTP webhook checking our signature, Slack-format receiver,
 * a real SMTP server) and the real outbox on every backend. Time is a manual clock; the loop runs on
 * manual timers; nothing sleeps.
 */
import { EventEmitter, once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { slackTargetId, targetsFromConfig, webhookTargetId } from '../../src/alerts/channels.js';
import {
  type AlertDispatcher,
  createAlertDispatcher,
  type DispatcherOptions,
} from '../../src/alerts/dispatcher.js';
import type { AlertPayload } from '../../src/alerts/plan.js';
import {
  type Clock,
  createManualClock,
  createManualTimers,
  HOUR,
  type ManualClock,
  type Timers,
} from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import type { KeeperEventMap } from '../../src/lifecycle/types.js';
import { silentLogger } from '../../src/logger.js';
import type { NewAlert, Store } from '../../src/store/types.js';
import { testBackends, withStore } from '../helpers/backends.js';
import {
  decodeQuotedPrintable,
  refusedUrl,
  startHangingServer,
  startSmtpReceiver,
  startWebhookReceiver,
} from './receivers.js';

const SECRET = 'whsec-0123456789abcdef';
const START = Date.parse('2027-05-01T00:00:00Z');
const LINK = 'https://keeper.example.com/connect/4242?exp=1900000000&sig=abcdef';

function alert(n: number, event: AlertPayload['event'] = 'needs_reauth', at = START): NewAlert {
  const payload: AlertPayload = {
    alert_id: `${event}:4242:${n}`,
    event,
    severity: 'critical',
    page_id: '4242',
    page_name: 'Bakery <&> Café',
    state: 'needs_reauth',
    message: `Page "Bakery <&> Café" (4242): The admin changed their Facebook password: reconnect the Page. #${n}`,
    deadline: null,
    days_left: null,
    reconnect_url: LINK,
    occurred_at: new Date(at).toISOString(),
  };
  return { pageId: '4242', kind: event, dedupeKey: payload.alert_id, payload: { ...payload }, createdAt: at };
}

function config(env: Record<string, string>) {
  return loadConfig({
    DATABASE_URL: 'sqlite::memory:',
    TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
    ...env,
  });
}

interface Rig {
  clock: ManualClock;
  events: EventEmitter<KeeperEventMap>;
  outcomes: string[];
  dispatcher(env: Record<string, string>, extra?: Partial<DispatcherOptions>): AlertDispatcher;
  enqueue(a: NewAlert, env: Record<string, string>): Promise<boolean>;
}

function rig(store: Store): Rig {
  const clock = createManualClock(START);
  const events = new EventEmitter<KeeperEventMap>();
  const outcomes: string[] = [];
  events.on('alert_delivery', (e) => outcomes.push(`${e.channel}:${e.outcome}`));
  return {
    clock,
    events,
    outcomes,
    dispatcher: (env, extra = {}) =>
      createAlertDispatcher({
        store,
        config: config(env),
        clock,
        logger: silentLogger,
        events,
        timers: createManualTimers(clock),
        ...extra,
      }),
    enqueue: (a, env) => store.enqueueAlert(a, targetsFromConfig(config(env))),
  };
}

/** Timers that jump the manual clock instead of waiting (drain's backoff waits take no real time). */
function fastForward(clock: ManualClock): Timers {
  return {
    setTimeout: (fn, ms) => {
      const h = setImmediate(() => {
        clock.advance(ms);
        fn();
      });
      return h;
    },
    clearTimeout: (h) => clearImmediate(h as NodeJS.Immediate),
  };
}

const hookNow = (clock: Clock) => () => Math.floor(clock.now() / 1000);

describe.each(testBackends())('alert dispatcher on %s', (backend) => {
  it('delivers one alert to every channel once: signed webhook, Slack blocks with the link, e-mail with the link', async () => {
    await withStore(backend, async (store) => {
      const r = rig(store);
      const hook = await startWebhookReceiver({ secret: SECRET, nowSec: hookNow(r.clock) });
      const slack = await startWebhookReceiver();
      const mail = await startSmtpReceiver();
      try {
        const env = {
          WEBHOOK_URLS: hook.url,
          WEBHOOK_SECRET: SECRET,
          SLACK_WEBHOOK_URL: slack.url,
          SMTP_URL: mail.url,
          ALERT_EMAIL_TO: 'ops@example.com, oncall@example.com',
        };
        expect(await r.enqueue(alert(1), env)).toBe(true);
        // The same event again (next check): the outbox ignores it.
        expect(await r.enqueue(alert(1), env)).toBe(false);
        const d = r.dispatcher(env);
        expect(await d.deliverDue()).toEqual({ delivered: 3, failed: 0 });
        expect(await d.deliverDue()).toEqual({ delivered: 0, failed: 0 });

        expect(hook.got).toHaveLength(1);
        const w = hook.got[0]!;
        expect(w.verified).toBe(true);
        expect(w.headers['x-fbtk-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
        expect(w.headers['x-fbtk-timestamp']).toBe(String(START / 1000));
        expect(w.headers['x-fbtk-event']).toBe('needs_reauth');
        expect(w.headers['x-fbtk-alert-id']).toBe('needs_reauth:4242:1');
        expect(w.body).toMatchObject({
          event: 'needs_reauth',
          page_id: '4242',
          state: 'needs_reauth',
          reconnect_url: LINK,
          deadline: null,
        });

        expect(slack.got).toHaveLength(1);
        const s = slack.got[0]!.body as {
          text: string;
          blocks: { type: string; elements?: { url?: string }[]; text?: { text: string } }[];
        };
        expect(s.text).toContain(`<${LINK}|Reconnect the Page>`);
        expect(s.text).toContain('Bakery &lt;&amp;&gt; Café');
        expect(s.blocks.find((b) => b.type === 'actions')?.elements?.[0]?.url).toBe(LINK);

        expect(mail.mails).toHaveLength(1);
        const m = mail.mails[0]!;
        expect(m.to).toEqual(['ops@example.com', 'oncall@example.com']);
        const text = decodeQuotedPrintable(m.raw);
        expect(text).toContain(LINK);
        expect(text).toMatch(/X-FBTK-Event: needs_reauth/i);
        expect(text).toContain('Bakery &lt;&amp;&gt; Café'); // the HTML part is escaped

        expect(r.outcomes.sort()).toEqual(['email:delivered', 'slack:delivered', 'webhook:delivered']);
        const history = await store.listEvents('4242', { limit: 10 });
        expect(history.filter((h) => h.type === 'alert_delivered')).toHaveLength(3);
        // Neither history nor the outbox holds the webhook or Slack URL (they can carry credentials).
        const dump = JSON.stringify(history);
        expect(dump).not.toContain('receiver-secret');
        expect(dump).not.toContain('alerts:pw');
        expect(await store.alertCounts()).toEqual({ pending: 0, delivered: 3, failed: 0 });
        await d.stop();
      } finally {
        await Promise.all([hook.close(), slack.close(), mail.close()]);
      }
    });
  });

  it('a dead channel (refused, or hanging past the 5 s deadline) never blocks the others', async () => {
    await withStore(backend, async (store) => {
      const r = rig(store);
      const good = await startWebhookReceiver({ secret: SECRET, nowSec: hookNow(r.clock) });
      const hanging = await startHangingServer();
      const mail = await startSmtpReceiver();
      try {
        const env = {
          WEBHOOK_URLS: [await refusedUrl(), hanging.url, good.url].join(','),
          WEBHOOK_SECRET: SECRET,
          SMTP_URL: mail.url,
          ALERT_EMAIL_TO: 'ops@example.com',
        };
        await r.enqueue(alert(1), env);
        await r.enqueue(alert(2, 'expiring'), env);
        // A real deadline (it is about the network). 1 s, not less: on a loaded CI machine a live
        // local receiver sometimes took more than 400 ms to answer, and failed as "timed out".
        const deadlineMs = 1000;
        const d = r.dispatcher(env, { timeoutMs: deadlineMs });
        const started = Date.now();
        const result = await d.deliverDue();
        // Sent in parallel: bounded by one deadline, not by the number of dead deliveries (the
        // two hanging ones, one after the other, would take at least two deadlines).
        expect(Date.now() - started).toBeLessThan(2 * deadlineMs);
        expect(result).toEqual({ delivered: 4, failed: 4 });
        expect(good.got.map((g) => g.body.alert_id).sort()).toEqual([
          'expiring:4242:2',
          'needs_reauth:4242:1',
        ]);
        expect(mail.mails).toHaveLength(2);
        expect(hanging.hits).toBe(2);
        const failures = (await store.listEvents('4242', { limit: 50 })).filter(
          (e) => e.type === 'alert_failed',
        );
        expect(failures).toHaveLength(4);
        expect(failures.map((f) => f.details.error).sort()).toEqual([
          'fetch failed (ECONNREFUSED)',
          'fetch failed (ECONNREFUSED)',
          `timed out after ${deadlineMs} ms`,
          `timed out after ${deadlineMs} ms`,
        ]);
        expect(failures.every((f) => f.reason === 'retrying')).toBe(true);
        await d.stop();
      } finally {
        await Promise.all([good.close(), hanging.close(), mail.close()]);
      }
    });
  });

  it('retries with exponential backoff, then gives up after maxAttempts; history has the first and the final failure', async () => {
    await withStore(backend, async (store) => {
      const r = rig(store);
      const hook = await startWebhookReceiver({ secret: SECRET, nowSec: hookNow(r.clock) });
      try {
        hook.down = true;
        const env = { WEBHOOK_URLS: hook.url, WEBHOOK_SECRET: SECRET };
        await r.enqueue(alert(1), env);
        const d = r.dispatcher(env, { maxAttempts: 4, baseBackoffMs: 1000 });
        const attemptsAt: number[] = [];
        for (let t = 0; t < 20; t++) {
          const res = await d.deliverDue();
          if (res.failed > 0) attemptsAt.push(r.clock.now() - START);
          r.clock.advance(500);
        }
        expect(attemptsAt).toEqual([0, 1000, 3000, 7000]);
        expect(hook.refused).toBe(4);
        expect(await store.alertCounts()).toEqual({ pending: 0, delivered: 0, failed: 1 });
        const failed = (await store.listEvents('4242', { limit: 50 })).filter(
          (e) => e.type === 'alert_failed',
        );
        expect(failed.map((e) => e.reason)).toEqual(['gave_up', 'retrying']);
        expect(r.outcomes).toEqual(['webhook:failed', 'webhook:failed', 'webhook:failed', 'webhook:gave_up']);
        // Given up means given up: the receiver coming back does not resurrect it.
        hook.down = false;
        r.clock.advance(HOUR);
        expect(await d.deliverDue()).toEqual({ delivered: 0, failed: 0 });
        await d.stop();
      } finally {
        await hook.close();
      }
    });
  });

  it('restart: alerts queued while the receiver is down arrive once it is back, sent by a new dispatcher', async () => {
    await withStore(backend, async (store, db) => {
      const r = rig(store);
      const hook = await startWebhookReceiver({ secret: SECRET, nowSec: hookNow(r.clock) });
      try {
        const env = { WEBHOOK_URLS: hook.url, WEBHOOK_SECRET: SECRET };
        hook.down = true;
        await r.enqueue(alert(1), env);
        await r.enqueue(alert(2, 'expiring'), env);
        const first = r.dispatcher(env);
        expect(await first.deliverDue()).toEqual({ delivered: 0, failed: 2 });
        await first.stop();
        // "Restart": a second store on the same database, a new dispatcher.
        const store2 = await db.openStore();
        hook.down = false;
        r.clock.advance(HOUR);
        const second = createAlertDispatcher({
          store: store2,
          config: config(env),
          clock: r.clock,
          logger: silentLogger,
          timers: createManualTimers(r.clock),
        });
        expect(await second.deliverDue()).toEqual({ delivered: 2, failed: 0 });
        expect(hook.got.map((g) => g.body.event).sort()).toEqual(['expiring', 'needs_reauth']);
        expect(hook.got.every((g) => g.verified)).toBe(true);
        await second.stop();
      } finally {
        await hook.close();
      }
    });
  });

  it('two dispatchers on one outbox never send the same row twice (claims)', async () => {
    await withStore(backend, async (store) => {
      const r = rig(store);
      const hook = await startWebhookReceiver({ secret: SECRET, nowSec: hookNow(r.clock) });
      try {
        const env = { WEBHOOK_URLS: hook.url, WEBHOOK_SECRET: SECRET };
        for (let i = 0; i < 10; i++) await r.enqueue(alert(i), env);
        const a = r.dispatcher(env);
        const b = r.dispatcher(env);
        const [ra, rb] = await Promise.all([a.deliverDue(), b.deliverDue()]);
        expect(ra.delivered + rb.delivered).toBe(10);
        expect(hook.got).toHaveLength(10);
        expect(new Set(hook.got.map((g) => g.body.alert_id)).size).toBe(10);
        await Promise.all([a.stop(), b.stop()]);
      } finally {
        await hook.close();
      }
    });
  });

  it('start/stop: the loop runs on injected timers, a check round wakes it, stop leaves no timer behind', async () => {
    await withStore(backend, async (store) => {
      const r = rig(store);
      const timers = createManualTimers(r.clock);
      const hook = await startWebhookReceiver({ secret: SECRET, nowSec: hookNow(r.clock) });
      try {
        const env = { WEBHOOK_URLS: hook.url, WEBHOOK_SECRET: SECRET };
        const d = r.dispatcher(env, { timers, pollMs: 15_000 });
        await r.enqueue(alert(1), env);
        d.start();
        const first = once(r.events, 'alert_delivery');
        timers.advance(0);
        await first;
        expect(hook.got).toHaveLength(1);

        // A check round queues an alert and wakes the loop without waiting for the poll.
        await r.enqueue(alert(2), env);
        const second = once(r.events, 'alert_delivery');
        r.events.emit('check_round', {
          startedAt: r.clock.now(),
          finishedAt: r.clock.now(),
          checked: 1,
          failed: 0,
        });
        timers.advance(0);
        await second;
        expect(hook.got).toHaveLength(2);

        // And the poll finds what was queued without a wake-up.
        await r.enqueue(alert(3), env);
        const third = once(r.events, 'alert_delivery');
        await Promise.resolve();
        timers.advance(15_000);
        await third;
        expect(hook.got).toHaveLength(3);

        await d.stop();
        expect(timers.pending()).toBe(0);
        r.events.emit('check_round', { startedAt: 0, finishedAt: 0, checked: 0, failed: 0 });
        expect(timers.pending()).toBe(0);
      } finally {
        await hook.close();
      }
    });
  });

  it('drain (one-shot check): waits for retries within maxWaitMs, leaves the rest durably queued', async () => {
    await withStore(backend, async (store) => {
      const r = rig(store);
      const hook = await startWebhookReceiver({ secret: SECRET, nowSec: hookNow(r.clock) });
      try {
        const env = { WEBHOOK_URLS: hook.url, WEBHOOK_SECRET: SECRET };
        // Down for the first attempt only: the retry within the window delivers it.
        hook.downFor = 1;
        await r.enqueue(alert(1), env);
        const d = r.dispatcher(env, { timers: fastForward(r.clock), baseBackoffMs: 1000 });
        expect(await d.drain({ maxWaitMs: 5000 })).toEqual({ delivered: 1, failed: 1, pending: 0 });
        expect(hook.got).toHaveLength(1);

        // Down for good: attempts at 0, 1 s and 3 s fit in 5 s; the next (7 s) is left for later.
        hook.down = true;
        await r.enqueue(alert(2), env);
        const startedAt = r.clock.now();
        const second = await d.drain({ maxWaitMs: 5000 });
        expect(second).toEqual({ delivered: 0, failed: 3, pending: 1 });
        expect(r.clock.now() - startedAt).toBeLessThanOrEqual(5000);
        const [left] = await store.dueAlertDeliveries(r.clock.now() + HOUR, 10);
        expect(left).toMatchObject({ status: 'pending', attempts: 3 });
      } finally {
        await hook.close();
      }
    });
  });

  it('a target removed from the configuration is given up, not retried forever; unsigned without WEBHOOK_SECRET', async () => {
    await withStore(backend, async (store) => {
      const r = rig(store);
      const hook = await startWebhookReceiver();
      const other = await startWebhookReceiver();
      try {
        await r.enqueue(alert(1), { WEBHOOK_URLS: `${hook.url},${other.url}` });
        const d = r.dispatcher({ WEBHOOK_URLS: other.url });
        expect(await d.deliverDue()).toEqual({ delivered: 1, failed: 1 });
        expect(hook.got).toHaveLength(0);
        expect(other.got).toHaveLength(1);
        expect(other.got[0]!.headers['x-fbtk-signature']).toBeUndefined();
        expect(other.got[0]!.headers['x-fbtk-timestamp']).toBeDefined();
        expect(await store.alertCounts()).toEqual({ pending: 0, delivered: 1, failed: 1 });
        const [gaveUp] = (await store.listEvents('4242')).filter((e) => e.type === 'alert_failed');
        expect(gaveUp).toMatchObject({
          reason: 'gave_up',
          details: { error: 'target is no longer configured' },
        });
      } finally {
        await Promise.all([hook.close(), other.close()]);
      }
    });
  });
});

describe('targetsFromConfig', () => {
  it('lists each webhook (once), Slack and e-mail by non-secret ids', () => {
    const slackUrl = 'https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX';
    const c = config({
      WEBHOOK_URLS:
        'https://a.example.com/hook?key=s3cret, https://a.example.com/hook?key=s3cret,https://b.example.com/x',
      SLACK_WEBHOOK_URL: slackUrl,
      SMTP_URL: 'smtp://u:p@mail.example.com:587',
      ALERT_EMAIL_TO: 'ops@example.com',
    });
    const targets = targetsFromConfig(c);
    expect(targets).toEqual([
      { channel: 'webhook', target: webhookTargetId('https://a.example.com/hook?key=s3cret') },
      { channel: 'webhook', target: webhookTargetId('https://b.example.com/x') },
      { channel: 'slack', target: slackTargetId(slackUrl) },
      { channel: 'email', target: 'ops@example.com' },
    ]);
    expect(targets[0]!.target).toMatch(/^https:\/\/a\.example\.com\/…#[0-9a-f]{8}$/);
    expect(JSON.stringify(targets)).not.toMatch(/s3cret|SECRET|u:p/);
    expect(targetsFromConfig(config({}))).toEqual([]);
  });
});
