/**
 * "Send a test alert" (`fb-token-keeper alert-test`, the dashboard's button): one alert of event
 * `test` to every configured channel, right now and outside the outbox, with a per-channel answer.
 * Alertmanager and Grafana users expect this: the only way to know a channel works is to see a
 * message arrive, before the day a Page needs a person.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../config.js';
import type { AlertChannel } from '../store/types.js';
import { createChannels, targetsFromConfig } from './channels.js';
import { describeDeliveryError } from './dispatcher.js';
import type { AlertPayload } from './plan.js';

export interface TestAlertResult {
  channel: AlertChannel;
  /** The channel's non-secret identifier (an origin and a hash, never a webhook URL). */
  target: string;
  delivered: boolean;
  /** Why it was not delivered, without URLs, secrets or the receiver's body. */
  error: string | null;
}

export function testAlertPayload(config: Config, now: number): AlertPayload {
  return {
    alert_id: `test:${randomUUID()}`,
    event: 'test',
    severity: 'info',
    page_id: '-',
    page_name: null,
    state: 'healthy',
    message: `Test alert from fb-token-keeper (${config.instanceId}). If you can read this, this channel delivers alerts. No Page needs anything.`,
    deadline: null,
    days_left: null,
    reconnect_url: config.publicUrl,
    occurred_at: new Date(now).toISOString(),
  };
}

/** Send the test alert to every channel at once; never throws for a channel's failure. */
export async function sendTestAlert(
  config: Config,
  options: { now: () => number; timeoutMs?: number },
): Promise<TestAlertResult[]> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const channels = createChannels(config, { nowSec: () => Math.floor(options.now() / 1000), timeoutMs });
  const payload = testAlertPayload(config, options.now());
  try {
    return await Promise.all(
      targetsFromConfig(config).map(async ({ channel, target }): Promise<TestAlertResult> => {
        const send = channels.resolve(channel, target);
        if (!send) return { channel, target, delivered: false, error: 'not configured' };
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), timeoutMs);
        try {
          await send(payload, controller.signal);
          return { channel, target, delivered: true, error: null };
        } catch (err) {
          const error = controller.signal.aborted
            ? `timed out after ${timeoutMs} ms`
            : describeDeliveryError(err);
          return { channel, target, delivered: false, error };
        } finally {
          clearTimeout(timer);
        }
      }),
    );
  } finally {
    channels.close();
  }
}
