/**
 * Where alerts go: generic webhooks (JSON, signed), Slack incoming webhooks, e-mail over SMTP.
 * Every alert carries the page, the state, the deadline and the reconnect link — never a token.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import nodemailer from 'nodemailer';
import type { Config } from '../config.js';
import type { AlertChannel, AlertDelivery } from '../store/types.js';

export interface Target {
  channel: AlertChannel;
  target: string;
}

export function targetsFromConfig(config: Config): Target[] {
  const out: Target[] = config.webhookUrls.map((u) => ({ channel: 'webhook' as const, target: u }));
  if (config.slackWebhookUrl) out.push({ channel: 'slack', target: config.slackWebhookUrl });
  if (config.smtpUrl && config.alertEmailTo) out.push({ channel: 'email', target: config.alertEmailTo });
  return out;
}

export const SIGNATURE_HEADER = 'x-fbtk-signature';
export const TIMESTAMP_HEADER = 'x-fbtk-timestamp';

/** `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` — the timestamp stops replays. */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** For receivers (see docs/ALERTS.md): constant-time check, and the timestamp must be recent. */
export function verifyWebhookSignature(
  secret: string,
  timestamp: string | number,
  body: string,
  signature: string,
  options: { toleranceSec?: number; nowSec?: number } = {},
): boolean {
  const ts = Number(timestamp);
  const now = options.nowSec ?? Math.floor(Date.now() / 1000);
  if (!Number.isFinite(ts) || Math.abs(now - ts) > (options.toleranceSec ?? 300)) return false;
  const expected = Buffer.from(signWebhook(secret, ts, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

function slackBody(p: Record<string, unknown>): Record<string, unknown> {
  const icon = p.severity === 'critical' ? ':rotating_light:' : p.severity === 'warning' ? ':warning:' : ':information_source:';
  const lines = [`${icon} *fb-token-keeper*: ${String(p.message)}`, `State: \`${String(p.state)}\``];
  if (p.deadline) lines.push(`Deadline: ${String(p.deadline)}`);
  if (p.reconnect_url) lines.push(`<${String(p.reconnect_url)}|Reconnect the Page>`);
  return { text: lines.join('\n'), blocks: [{ type: 'section', text: { type: 'mrkdwn', text: lines.join('\n') } }] };
}

function emailText(p: Record<string, unknown>): string {
  return [
    String(p.message),
    '',
    `Page: ${String(p.page_name ?? '')} (${String(p.page_id)})`,
    `State: ${String(p.state)}`,
    p.deadline ? `Deadline: ${String(p.deadline)}` : '',
    p.reconnect_url ? `Reconnect: ${String(p.reconnect_url)}` : '',
    '',
    '— fb-token-keeper',
  ]
    .filter((l) => l !== '')
    .join('\n');
}

export interface Sender {
  send(d: AlertDelivery, nowSec: number): Promise<void>;
  close(): void;
}

export function createSender(config: Config, timeoutMs = 5000): Sender {
  const mailer = config.smtpUrl
    ? nodemailer.createTransport(config.smtpUrl, { connectionTimeout: timeoutMs, greetingTimeout: timeoutMs, socketTimeout: timeoutMs })
    : null;

  async function post(url: string, body: string, headers: Record<string, string>): Promise<void> {
    const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, signal: AbortSignal.timeout(timeoutMs) });
    // Drain the body so the connection is freed; its content is not kept (it could be anything).
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
  }

  return {
    async send(d, nowSec) {
      const p = d.payload;
      if (d.channel === 'webhook') {
        const body = JSON.stringify(p);
        const headers: Record<string, string> = { [TIMESTAMP_HEADER]: String(nowSec), 'x-fbtk-event': String(p.event) };
        if (config.webhookSecret) headers[SIGNATURE_HEADER] = signWebhook(config.webhookSecret, nowSec, body);
        await post(d.target, body, headers);
      } else if (d.channel === 'slack') {
        await post(d.target, JSON.stringify(slackBody(p)), {});
      } else {
        if (!mailer) throw new Error('SMTP_URL is not set');
        await mailer.sendMail({
          from: config.alertEmailFrom,
          to: d.target,
          subject: `[fb-token-keeper] ${String(p.event)}: ${String(p.page_name ?? p.page_id)} is ${String(p.state)}`,
          text: emailText(p),
        });
      }
    },
    close() {
      mailer?.close();
    },
  };
}

/** An error description safe to store: no URL (webhook URLs can hold secrets), bounded length. */
export function deliveryError(e: unknown): string {
  const m = e instanceof Error ? (e.name === 'TimeoutError' ? 'timed out' : e.message) : 'unknown error';
  return m.replace(/https?:\/\/\S+/g, '[url]').slice(0, 300);
}
