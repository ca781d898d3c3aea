/**
 * Alert channels: generic webhooks (signed JSON), Slack incoming webhooks and email over SMTP.
 *
 * Targets in the outbox are identifiers, not URLs: a Slack webhook URL is itself a credential and a
 * generic webhook URL often carries one, and outbox rows, history and logs are not secret stores.
 * A delivery resolves its identifier against the current configuration; a target that is no longer
 * configured cannot be delivered to (the dispatcher gives up on it).
 *
 * Webhook signature (docs/ALERTS.md): `X-FBTK-Timestamp: <unix seconds>` and
 * `X-FBTK-Signature: sha256=<hex HMAC-SHA256(WEBHOOK_SECRET, "<timestamp>.<raw body>")>`.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Transporter } from 'nodemailer';
import type { Config } from '../config.js';
import type { AlertChannel } from '../store/types.js';
import type { AlertPayload } from './plan.js';

export interface AlertTarget {
  channel: AlertChannel;
  /** A stable, non-secret identifier (see the file comment). */
  target: string;
}

/** Sends one alert; rejects on any failure (HTTP status, network, SMTP), aborts on `signal`. */
export type Sender = (payload: AlertPayload, signal: AbortSignal) => Promise<void>;

const hash8 = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 8);

/** `https://hooks.example.com/…#1a2b3c4d`: the origin for people, a hash to tell URLs apart. */
export function webhookTargetId(url: string): string {
  return `${new URL(url).origin}/…#${hash8(url)}`;
}

export function slackTargetId(url: string): string {
  return `slack#${hash8(url)}`;
}

/** Every configured target: each WEBHOOK_URLS entry, SLACK_WEBHOOK_URL, and email when SMTP is set. */
export function targetsFromConfig(config: Config): AlertTarget[] {
  const targets: AlertTarget[] = [];
  const seen = new Set<string>();
  for (const url of config.webhookUrls) {
    const target = webhookTargetId(url);
    if (seen.has(target)) continue;
    seen.add(target);
    targets.push({ channel: 'webhook', target });
  }
  if (config.slackWebhookUrl) {
    targets.push({ channel: 'slack', target: slackTargetId(config.slackWebhookUrl) });
  }
  if (config.smtpUrl && config.alertEmailTo) targets.push({ channel: 'email', target: config.alertEmailTo });
  return targets;
}

/**
 * What start-up, `status`, `check` and the dashboard say when `targetsFromConfig` is empty: alerts
 * are then planned but sent nowhere, and nothing else would tell anyone.
 */
export const NO_ALERT_CHANNEL =
  'No alert channel is configured, so nobody is told when a Page needs a person. Set WEBHOOK_URLS, SLACK_WEBHOOK_URL, or SMTP_URL with ALERT_EMAIL_TO (README, "Alerts"), then send a test alert with `fb-token-keeper alert-test`.';

// --- webhook signature -------------------------------------------------------------------------

export const SIGNATURE_HEADER = 'X-FBTK-Signature';
export const TIMESTAMP_HEADER = 'X-FBTK-Timestamp';

/** `sha256=<hex>` over `${timestamp}.${body}`. */
export function signWebhook(secret: string, timestamp: number | string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * For receivers (and our tests): true when `signature` is ours for this exact body and timestamp,
 * and the timestamp is within `toleranceSec` (default 300) of now, so a captured request cannot be
 * replayed later. Constant-time comparison.
 */
export function verifyWebhookSignature(
  secret: string,
  timestamp: string | number | undefined | null,
  body: string | Buffer,
  signature: string | undefined | null,
  options: { toleranceSec?: number; nowSec?: number } = {},
): boolean {
  if (timestamp === undefined || timestamp === null || !signature) return false;
  const ts = String(timestamp);
  if (!/^\d{1,12}$/.test(ts)) return false;
  const now = options.nowSec ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(ts)) > (options.toleranceSec ?? 300)) return false;
  const expected = Buffer.from(
    signWebhook(secret, ts, typeof body === 'string' ? body : body.toString('utf8')),
  );
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

// --- rendering ---------------------------------------------------------------------------------

const TITLES: Record<AlertPayload['event'], string> = {
  renewal_failed: 'Token renewal keeps failing',
  needs_reauth: 'Reconnect needed: Facebook no longer accepts the token',
  expired: 'The posting token has expired',
  expiring: 'The posting token will expire',
  data_access_expiring: 'Facebook data access is expiring',
  source_expiring: 'Self-healing will lapse',
  missing_permission: 'A permission is missing',
  recovered: 'Recovered',
  token_rotated: 'The posting token changed',
  test: 'Test alert',
};

/** Events where a person should follow the reconnect link (the rest carry it for reference). */
const ACTION_EVENTS = new Set<AlertPayload['event']>([
  'needs_reauth',
  'expired',
  'expiring',
  'data_access_expiring',
  'source_expiring',
  'missing_permission',
  'renewal_failed',
]);

export function alertTitle(p: AlertPayload): string {
  return `${TITLES[p.event]}: ${p.page_name ?? p.page_id}`;
}

function facts(p: AlertPayload): string[] {
  return [
    `Page: ${p.page_name ? `${p.page_name} (${p.page_id})` : p.page_id}`,
    `State: ${p.state}`,
    `Deadline: ${p.deadline === null ? 'none' : `${p.deadline} (${p.days_left ?? 0} days left)`}`,
    `Severity: ${p.severity}`,
  ];
}

/** Slack escapes only these three in mrkdwn text. */
const slackEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Slack incoming-webhook body: `text` is the notification fallback, `blocks` the message. */
export function renderSlack(p: AlertPayload): { text: string; blocks: unknown[] } {
  const icon =
    p.severity === 'critical'
      ? ':rotating_light:'
      : p.severity === 'warning'
        ? ':warning:'
        : ':information_source:';
  const action = ACTION_EVENTS.has(p.event);
  const link = `<${p.reconnect_url}|${action ? 'Reconnect the Page' : 'Reconnect link'}>`;
  return {
    text: slackEscape(`${alertTitle(p)}. ${p.message}`) + ` ${link}`,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: alertTitle(p).slice(0, 150), emoji: true } },
      { type: 'section', text: { type: 'mrkdwn', text: `${icon} ${slackEscape(p.message)}` } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: slackEscape(facts(p).join(' · ')) }] },
      {
        type: 'actions',
        elements: [
          {
            type: 'button',
            text: { type: 'plain_text', text: action ? 'Reconnect the Page' : 'Open reconnect link' },
            url: p.reconnect_url,
            ...(action && p.severity === 'critical' ? { style: 'danger' } : {}),
          },
        ],
      },
      {
        type: 'section',
        text: { type: 'mrkdwn', text: `${action ? 'Reconnect' : 'Reconnect link (if needed)'}: ${link}` },
      },
    ],
  };
}

const htmlEscape = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

export function renderEmail(p: AlertPayload): { subject: string; text: string; html: string } {
  const action = ACTION_EVENTS.has(p.event);
  const linkLabel = action ? 'Reconnect the Page' : 'Reconnect link (only if needed)';
  const subject = `[fb-token-keeper] ${p.severity === 'info' ? '' : `${p.severity.toUpperCase()}: `}${alertTitle(p)}`;
  const text = [
    p.message,
    '',
    ...facts(p),
    '',
    `${linkLabel}: ${p.reconnect_url}`,
    '',
    `Alert ${p.alert_id} at ${p.occurred_at}`,
  ].join('\n');
  const html = `<!doctype html><html><body style="font-family:system-ui,sans-serif;max-width:36rem">
<h2 style="margin:0 0 .5rem">${htmlEscape(alertTitle(p))}</h2>
<p>${htmlEscape(p.message)}</p>
<ul>${facts(p)
    .map((f) => `<li>${htmlEscape(f)}</li>`)
    .join('')}</ul>
<p><a href="${htmlEscape(p.reconnect_url)}">${htmlEscape(linkLabel)}</a></p>
<p style="color:#666;font-size:.8rem">Alert ${htmlEscape(p.alert_id)} at ${htmlEscape(p.occurred_at)}</p>
</body></html>`;
  return { subject, text, html };
}

// --- senders -----------------------------------------------------------------------------------

export interface ChannelOptions {
  /** Unix seconds for the webhook timestamp (the injected clock). */
  nowSec: () => number;
  /** Per delivery; also bounds the SMTP connection, greeting and socket waits. */
  timeoutMs: number;
}

export interface Channels {
  /** The sender for an outbox target, or null when that target is no longer configured. */
  resolve(channel: AlertChannel, target: string): Sender | null;
  close(): void;
}

async function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'user-agent': 'fb-token-keeper', ...headers },
    signal,
    // A redirect could send the signed body somewhere else.
    redirect: 'manual',
  });
  // The body is not read into errors: it is the receiver's, and may echo anything.
  await res.body?.cancel().catch(() => undefined);
  if (res.status < 200 || res.status > 299) throw new Error(`HTTP ${res.status}`);
}

export function createChannels(config: Config, options: ChannelOptions): Channels {
  const webhooks = new Map(config.webhookUrls.map((url) => [webhookTargetId(url), url]));
  const slackUrl = config.slackWebhookUrl;
  let mailer: Transporter | null = null;

  const webhook =
    (url: string): Sender =>
    async (payload, signal) => {
      const body = JSON.stringify(payload);
      const ts = options.nowSec();
      const headers: Record<string, string> = {
        [TIMESTAMP_HEADER]: String(ts),
        'X-FBTK-Event': payload.event,
        'X-FBTK-Alert-Id': payload.alert_id,
      };
      if (config.webhookSecret) headers[SIGNATURE_HEADER] = signWebhook(config.webhookSecret, ts, body);
      await postJson(url, body, headers, signal);
    };

  const slack =
    (url: string): Sender =>
    async (payload, signal) => {
      await postJson(url, JSON.stringify(renderSlack(payload)), {}, signal);
    };

  const email: Sender = async (payload, signal) => {
    // Loaded on the first e-mail, not at start-up: most installs never send one (docs/BENCHMARKS.md).
    if (!mailer) {
      const [{ default: nodemailer }, { default: SMTPTransport }] = await Promise.all([
        import('nodemailer'),
        import('nodemailer/lib/smtp-transport/index.js'),
      ]);
      mailer = nodemailer.createTransport(
        new SMTPTransport({
          url: config.smtpUrl!,
          connectionTimeout: options.timeoutMs,
          greetingTimeout: options.timeoutMs,
          socketTimeout: options.timeoutMs,
        }),
      );
    }
    const m = renderEmail(payload);
    const sending = mailer.sendMail({
      from: config.alertEmailFrom,
      to: config.alertEmailTo,
      subject: m.subject,
      text: m.text,
      html: m.html,
      // For mail filters, and to de-duplicate a resend.
      headers: {
        'X-FBTK-Event': payload.event,
        'X-FBTK-Alert-Id': payload.alert_id,
        'X-FBTK-Severity': payload.severity,
      },
    });
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(new Error('timed out'));
      signal.addEventListener('abort', onAbort, { once: true });
      sending.then(
        () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err instanceof Error ? err : new Error('SMTP failure'));
        },
      );
    });
  };

  return {
    resolve(channel, target) {
      if (channel === 'webhook') {
        const url = webhooks.get(target);
        return url ? webhook(url) : null;
      }
      if (channel === 'slack') return slackUrl && slackTargetId(slackUrl) === target ? slack(slackUrl) : null;
      return config.smtpUrl && config.alertEmailTo === target ? email : null;
    },
    close() {
      mailer?.close();
      mailer = null;
    },
  };
}
