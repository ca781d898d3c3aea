/**
 * Delivers the alert outbox. Each row is claimed with a conditional UPDATE (so several instances
 * never send one twice), sent with a timeout (so a dead channel never blocks anything), and retried
 * with backoff; outcomes go to history and to `alert_delivery` events (metrics). What is not
 * delivered stays in the outbox, so a restart sends it.
 */
import type { EventEmitter } from 'node:events';
import { type Clock, HOUR, MINUTE, SECOND, type Timers } from '../clock.js';
import type { Config } from '../config.js';
import type { KeeperEventMap } from '../lifecycle/types.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/types.js';
import { createSender, deliveryError } from './channels.js';

export const MAX_ATTEMPTS = 10;
const POLL_MS = 15 * SECOND;
const CLAIM_MS = MINUTE;

/** 30 s, 1 min, 2 min … capped at an hour. */
export function retryDelayMs(attempts: number): number {
  return Math.min(HOUR, 30 * SECOND * 2 ** Math.max(0, attempts - 1));
}

export interface DispatcherOptions {
  store: Store;
  config: Config;
  clock: Clock;
  logger: Logger;
  events?: EventEmitter<KeeperEventMap>;
  timers: Timers;
}

export function createAlertDispatcher(options: DispatcherOptions) {
  const { store, clock, logger } = options;
  const sender = createSender(options.config);
  let running = false;
  let handle: unknown = null;
  let current: Promise<{ delivered: number; failed: number }> | null = null;

  async function deliverOnce(): Promise<{ delivered: number; failed: number }> {
    let delivered = 0;
    let failed = 0;
    const due = await store.dueAlertDeliveries(clock.now(), 100);
    for (const d of due) {
      if (!(await store.claimDelivery(d.id, d.nextAttemptAt, clock.now() + CLAIM_MS))) continue;
      try {
        await sender.send(d, Math.floor(clock.now() / 1000));
        await store.markDelivered(d.id, clock.now());
        await store.addEvents([{ pageId: d.pageId, at: clock.now(), type: 'alert_delivered', reason: d.kind, stateFrom: null, stateTo: null, message: null, details: { channel: d.channel, attempts: d.attempts + 1 } }]);
        options.events?.emit('alert_delivery', { channel: d.channel, outcome: 'delivered' });
        delivered++;
      } catch (e) {
        const attempts = d.attempts + 1;
        const giveUp = attempts >= MAX_ATTEMPTS;
        const error = deliveryError(e);
        await store.markDeliveryFailed(d.id, error, clock.now() + retryDelayMs(attempts), giveUp);
        await store.addEvents([{ pageId: d.pageId, at: clock.now(), type: 'alert_failed', reason: d.kind, stateFrom: null, stateTo: null, message: giveUp ? `gave up after ${attempts} attempts` : `attempt ${attempts} failed; will retry`, details: { channel: d.channel, attempts, error } }]);
        options.events?.emit('alert_delivery', { channel: d.channel, outcome: giveUp ? 'gave_up' : 'failed' });
        logger.warn({ channel: d.channel, kind: d.kind, pageId: d.pageId, attempts, error }, 'alert delivery failed');
        failed++;
      }
    }
    return { delivered, failed };
  }

  function deliverDue(): Promise<{ delivered: number; failed: number }> {
    current ??= deliverOnce()
      .catch((e: unknown) => {
        // The database may be away; the outbox is still there when it is back.
        logger.error({ err: { message: e instanceof Error ? e.message : 'unknown' } }, 'alert delivery round failed');
        return { delivered: 0, failed: 0 };
      })
      .finally(() => {
        current = null;
      });
    return current;
  }

  function schedule(): void {
    if (!running) return;
    handle = options.timers.setTimeout(() => {
      handle = null;
      void deliverDue().then(schedule);
    }, POLL_MS);
  }

  return {
    deliverDue,
    start() {
      if (running) return;
      running = true;
      void deliverDue().then(schedule);
    },
    async stop() {
      running = false;
      if (handle !== null) options.timers.clearTimeout(handle);
      await current;
      sender.close();
    },
    /**
     * For a one-shot `check`: deliver what is due, retrying within `maxWaitMs` (real time); what is
     * still undelivered then stays queued for the next run.
     */
    async drain(opts: { maxWaitMs: number }): Promise<{ delivered: number; pending: number }> {
      const deadline = Date.now() + opts.maxWaitMs;
      let delivered = 0;
      for (;;) {
        delivered += (await deliverDue()).delivered;
        const pending = (await store.alertCounts()).pending;
        const next = (await store.dueAlertDeliveries(clock.now() + (deadline - Date.now()), 1))[0];
        if (pending === 0 || !next || next.nextAttemptAt - clock.now() > deadline - Date.now()) {
          sender.close();
          return { delivered, pending };
        }
        await new Promise((r) => setTimeout(r, Math.max(0, next.nextAttemptAt - clock.now())));
      }
    },
  };
}

export type AlertDispatcher = ReturnType<typeof createAlertDispatcher>;
