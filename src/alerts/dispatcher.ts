/**
 * Delivers the alert outbox: due delivery rows → their channel, one row per alert and target, so a
 * dead channel is retried on its own and never holds up the others (or a renewal: the engine only
 * enqueues). Every attempt has a deadline (`timeoutMs`, 5 s); a failed attempt is retried with
 * exponential backoff until `maxAttempts`, then given up. The outbox lives in the database, so a
 * restart resends whatever was not delivered. Outcomes go to history (`alert_delivered`,
 * `alert_failed`) and to the keeper's `alert_delivery` event (metrics).
 *
 * Several instances may run dispatchers on one database: each row is claimed with a conditional
 * UPDATE (`store.claimDelivery`) before it is sent, so only one of them sends it. A claim lasts
 * `claimMs`; if the claimer dies mid-send, the row is due again after that.
 *
 * Delivery is at least once: a receiver that answers after our deadline may see the alert again,
 * with the same `alert_id` (and `X-FBTK-Alert-Id`) to de-duplicate on.
 */
import { type Clock, MINUTE, SECOND, systemTimers, type Timers, toIso } from '../clock.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { AlertDelivery, Store } from '../store/types.js';
import { type Channels, createChannels } from './channels.js';
import type { AlertPayload } from './plan.js';

/**
 * The two keeper events the dispatcher speaks: the keeper's emitter (lifecycle/types.ts,
 * KeeperEventMap) fits this shape, so alerts/ needs nothing from the layer above it.
 */
export interface DispatcherEvents {
  emit(event: 'alert_delivery', e: { channel: string; outcome: 'delivered' | 'failed' | 'gave_up' }): boolean;
  on(event: 'check_round', listener: () => void): unknown;
  off(event: 'check_round', listener: () => void): unknown;
}

export interface DispatcherOptions {
  store: Store;
  config: Config;
  clock: Clock;
  logger: Logger;
  /** The keeper's emitter: `alert_delivery` is emitted on it; a `check_round` wakes the loop. */
  events?: DispatcherEvents;
  /** Drives the loop, the backoff waits in `drain` (default: real timers). */
  timers?: Timers;
  /** Deadline of one delivery attempt (default 5 s). */
  timeoutMs?: number;
  /** Attempts per delivery before giving up (default 10: about three hours of retrying). */
  maxAttempts?: number;
  /** First retry delay, doubled per attempt up to `maxBackoffMs` (defaults 30 s and 1 h). */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** How often the loop looks for due deliveries (default 15 s). */
  pollMs?: number;
  /** Deliveries sent at once (default 8). */
  concurrency?: number;
  /** How long a claimed row is reserved for this instance (default max(1 min, 3 × timeoutMs)). */
  claimMs?: number;
  /** Channels (tests); default: from `config`. */
  channels?: Channels;
}

export interface DeliverResult {
  delivered: number;
  failed: number;
}

export interface DrainResult extends DeliverResult {
  /** Still queued (all pages, all channels) when drain returned: delivered by a later run. */
  pending: number;
}

export interface AlertDispatcher {
  /** Deliver every delivery that is due now, once. Never throws for a channel failure. */
  deliverDue(): Promise<DeliverResult>;
  /** Run `deliverDue` every `pollMs` (and right after each check round) until `stop`. */
  start(): void;
  /** Stop the loop and wait for the attempt in flight (bounded by `timeoutMs`). */
  stop(): Promise<void>;
  /**
   * For a one-shot `check`: deliver what is due, wait for retries that fall due within `maxWaitMs`,
   * then return. What is still undelivered stays in the outbox for the next run.
   */
  drain(options?: { maxWaitMs?: number }): Promise<DrainResult>;
}

const BATCH = 100;

export function backoffDelay(attempts: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempts - 1));
}

export function createAlertDispatcher(options: DispatcherOptions): AlertDispatcher {
  const { store, config, clock, logger } = options;
  const timers = options.timers ?? systemTimers;
  const timeoutMs = options.timeoutMs ?? 5 * SECOND;
  const maxAttempts = Math.max(1, options.maxAttempts ?? 10);
  const baseBackoffMs = options.baseBackoffMs ?? 30 * SECOND;
  const maxBackoffMs = options.maxBackoffMs ?? 60 * MINUTE;
  const pollMs = options.pollMs ?? 15 * SECOND;
  const concurrency = Math.max(1, options.concurrency ?? 8);
  const claimMs = options.claimMs ?? Math.max(MINUTE, 3 * timeoutMs);
  const channels =
    options.channels ?? createChannels(config, { nowSec: () => Math.floor(clock.now() / 1000), timeoutMs });

  if (config.webhookUrls.length > 0 && !config.webhookSecret) {
    logger.warn('WEBHOOK_URLS is set without WEBHOOK_SECRET: webhook alerts are sent unsigned');
  }

  /** One pass at a time in this process: the loop, `drain` and a manual call queue up. */
  let running: Promise<DeliverResult> | null = null;
  let started = false;
  let timer: unknown = null;
  let loopPass: Promise<unknown> | null = null;

  async function record(
    d: AlertDelivery,
    type: 'alert_delivered' | 'alert_failed',
    reason: string,
    extra: Record<string, unknown>,
  ) {
    try {
      await store.addEvents([
        {
          pageId: d.pageId,
          at: clock.now(),
          type,
          reason,
          stateFrom: null,
          stateTo: null,
          message: `${d.kind} alert ${type === 'alert_delivered' ? 'delivered' : reason === 'gave_up' ? 'not delivered; gave up' : 'not delivered yet; will retry'} via ${d.channel} ${d.target}`,
          details: {
            alert: d.kind,
            dedupe_key: d.dedupeKey,
            channel: d.channel,
            target: d.target,
            attempts: d.attempts + 1,
            ...extra,
          },
        },
      ]);
    } catch (err) {
      // The page may have been deleted meanwhile; history is best effort, the outbox row is the record.
      logger.debug(
        { err: describeDeliveryError(err), pageId: d.pageId },
        'could not record alert delivery in history',
      );
    }
  }

  /** true delivered, false failed, null another instance has it. */
  async function attempt(d: AlertDelivery): Promise<boolean | null> {
    if (!(await store.claimDelivery(d.id, d.nextAttemptAt, clock.now() + claimMs))) return null;
    const sender = channels.resolve(d.channel, d.target);
    const attempts = d.attempts + 1;
    if (!sender) {
      await store.markDeliveryFailed(d.id, 'target is no longer configured', clock.now(), true);
      await record(d, 'alert_failed', 'gave_up', { error: 'target is no longer configured' });
      options.events?.emit('alert_delivery', { channel: d.channel, outcome: 'gave_up' });
      logger.warn(
        { channel: d.channel, target: d.target, alert: d.kind },
        'alert target no longer configured; dropped',
      );
      return false;
    }
    const controller = new AbortController();
    // A real timer: the deadline is about the network, whatever clock drives the schedule.
    const deadline = setTimeout(
      () => controller.abort(new Error(`timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      await sender(d.payload as unknown as AlertPayload, controller.signal);
      clearTimeout(deadline);
      await store.markDelivered(d.id, clock.now());
      await record(d, 'alert_delivered', d.kind, {});
      options.events?.emit('alert_delivery', { channel: d.channel, outcome: 'delivered' });
      logger.info(
        { channel: d.channel, target: d.target, alert: d.kind, pageId: d.pageId, attempts },
        'alert delivered',
      );
      return true;
    } catch (err) {
      clearTimeout(deadline);
      const error = controller.signal.aborted
        ? `timed out after ${timeoutMs} ms`
        : describeDeliveryError(err);
      const giveUp = attempts >= maxAttempts;
      const next = clock.now() + backoffDelay(attempts, baseBackoffMs, maxBackoffMs);
      await store.markDeliveryFailed(d.id, error, next, giveUp);
      // History gets the first failure and the final one, not every retry of a dead channel.
      if (giveUp || attempts === 1) {
        await record(d, 'alert_failed', giveUp ? 'gave_up' : 'retrying', {
          error,
          next_attempt_at: giveUp ? null : toIso(next),
        });
      }
      options.events?.emit('alert_delivery', { channel: d.channel, outcome: giveUp ? 'gave_up' : 'failed' });
      logger[giveUp ? 'error' : 'warn'](
        {
          channel: d.channel,
          target: d.target,
          alert: d.kind,
          pageId: d.pageId,
          attempts,
          error,
          ...(giveUp ? {} : { nextAttemptAt: toIso(next) }),
        },
        giveUp ? 'alert delivery failed; giving up' : 'alert delivery failed; will retry',
      );
      return false;
    }
  }

  async function pass(): Promise<DeliverResult> {
    const result = { delivered: 0, failed: 0 };
    const seen = new Set<number>();
    for (;;) {
      const due = (await store.dueAlertDeliveries(clock.now(), BATCH)).filter((d) => !seen.has(d.id));
      if (due.length === 0) break;
      for (const d of due) seen.add(d.id);
      let next = 0;
      const worker = async () => {
        while (next < due.length) {
          const d = due[next++]!;
          try {
            const ok = await attempt(d);
            if (ok === true) result.delivered++;
            else if (ok === false) result.failed++;
          } catch (err) {
            // The store failed: leave the row as it is; the next pass tries again.
            result.failed++;
            logger.error({ err: describeDeliveryError(err), deliveryId: d.id }, 'alert outbox update failed');
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, due.length) }, worker));
      if (due.length < BATCH) break;
    }
    return result;
  }

  function deliverDue(): Promise<DeliverResult> {
    const run = (running ?? Promise.resolve()).catch(() => undefined).then(pass);
    running = run;
    void run
      .finally(() => {
        if (running === run) running = null;
      })
      .catch(() => undefined);
    return run;
  }

  function schedule(ms: number) {
    if (!started) return;
    if (timer !== null) timers.clearTimeout(timer);
    timer = timers.setTimeout(() => {
      timer = null;
      loopPass = deliverDue()
        .catch((err: unknown) =>
          logger.error({ err: describeDeliveryError(err) }, 'alert delivery pass failed'),
        )
        .finally(() => schedule(pollMs));
    }, ms);
  }

  const wake = () => schedule(0);

  return {
    deliverDue,

    start() {
      if (started) return;
      started = true;
      options.events?.on('check_round', wake);
      schedule(0);
    },

    async stop() {
      started = false;
      options.events?.off('check_round', wake);
      if (timer !== null) timers.clearTimeout(timer);
      timer = null;
      await loopPass?.catch(() => undefined);
      await running?.catch(() => undefined);
      channels.close();
    },

    async drain(opts = {}) {
      const maxWaitMs = opts.maxWaitMs ?? 20 * SECOND;
      const until = clock.now() + maxWaitMs;
      const total = { delivered: 0, failed: 0 };
      // Real timers are unref'd so they never hold a server open; a one-shot command must not exit
      // while it waits for a retry, so hold the process open for the (bounded) wait.
      const hold = setInterval(() => undefined, 60 * MINUTE);
      try {
        // Passes that found something due but could not move it (a broken database, another
        // instance's claim) must not spin: a few in a row end the drain.
        let idle = 0;
        for (;;) {
          const r = await deliverDue();
          total.delivered += r.delivered;
          total.failed += r.failed;
          const [next] = await store.dueAlertDeliveries(until, 1);
          if (!next || clock.now() >= until) break;
          const wait = next.nextAttemptAt - clock.now();
          if (wait > 0) {
            idle = 0;
            await new Promise<void>((resolve) => timers.setTimeout(resolve, wait));
          } else if (++idle >= 3) {
            break;
          }
        }
      } finally {
        clearInterval(hold);
      }
      const pending = (await store.alertCounts()).pending;
      if (pending > 0) {
        logger.warn({ pending }, 'some alerts are not delivered yet; they stay queued for the next run');
      }
      channels.close();
      return { ...total, pending };
    },
  };
}

/** A short, secret-free description of a delivery failure (never a URL or a response body). */
export function describeDeliveryError(err: unknown): string {
  if (!(err instanceof Error)) return 'unknown error';
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
  const own = (err as Error & { code?: unknown }).code;
  const code = typeof cause?.code === 'string' ? cause.code : typeof own === 'string' ? own : null;
  const message = err.message.replace(/https?:\/\/\S+/g, '[url]').slice(0, 300);
  return code && !message.includes(code) ? `${message} (${code})` : message;
}
