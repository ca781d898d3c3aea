/**
 * The webhook signature contract (what docs/ALERTS.md tells receivers to check) and the Slack and
 * e-mail renderings.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderEmail, renderSlack, signWebhook, verifyWebhookSignature } from '../../src/alerts/channels.js';
import type { AlertPayload } from '../../src/alerts/plan.js';

const SECRET = 'whsec-0123456789abcdef';
const BODY = '{"event":"expiring","page_id":"1"}';
const TS = 1_900_000_000;

describe('webhook signature', () => {
  it('is sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>, as documented', () => {
    const expected = createHmac('sha256', SECRET).update(`${TS}.${BODY}`).digest('hex');
    expect(signWebhook(SECRET, TS, BODY)).toBe(`sha256=${expected}`);
  });

  const good = signWebhook(SECRET, TS, BODY);
  it.each([
    ['the right secret, body and a fresh timestamp', SECRET, String(TS), BODY, good, TS + 10, true],
    ['a Buffer body', SECRET, String(TS), Buffer.from(BODY), good, TS, true],
    ['another secret', 'whsec-another-secret-value', String(TS), BODY, good, TS, false],
    ['a changed body', SECRET, String(TS), BODY.replace('1', '2'), good, TS, false],
    ['a changed timestamp', SECRET, String(TS + 1), BODY, good, TS, false],
    ['a timestamp older than the tolerance (replay)', SECRET, String(TS), BODY, good, TS + 301, false],
    ['a timestamp from the future beyond the tolerance', SECRET, String(TS), BODY, good, TS - 301, false],
    ['no signature', SECRET, String(TS), BODY, undefined, TS, false],
    ['no timestamp', SECRET, undefined, BODY, good, TS, false],
    ['a garbage timestamp', SECRET, '19e8', BODY, good, TS, false],
    ['a truncated signature', SECRET, String(TS), BODY, good.slice(0, 20), TS, false],
  ] as const)('%s → %s', (_name, secret, ts, body, sig, nowSec, ok) => {
    expect(verifyWebhookSignature(secret, ts, body, sig, { nowSec })).toBe(ok);
  });

  it('the Node.js snippet in docs/ALERTS.md accepts our signatures and rejects altered ones', async () => {
    const doc = readFileSync(new URL('../../docs/ALERTS.md', import.meta.url), 'utf8');
    const snippet = /```js\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(snippet).toContain('export function verifyFbtk');
    const dir = mkdtempSync(join(tmpdir(), 'fbtk-doc-'));
    try {
      const file = join(dir, 'verify.mjs');
      writeFileSync(file, snippet!);
      const { verifyFbtk } = (await import(pathToFileURL(file).href)) as {
        verifyFbtk: (secret: string, headers: Record<string, string>, raw: string) => boolean;
      };
      const ts = String(Math.floor(Date.now() / 1000));
      const headers = { 'x-fbtk-timestamp': ts, 'x-fbtk-signature': signWebhook(SECRET, ts, BODY) };
      expect(verifyFbtk(SECRET, headers, BODY)).toBe(true);
      expect(verifyFbtk(SECRET, headers, `${BODY} `)).toBe(false);
      expect(verifyFbtk('whsec-another-secret-value', headers, BODY)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('honours a custom tolerance', () => {
    expect(verifyWebhookSignature(SECRET, TS, BODY, good, { nowSec: TS + 1000, toleranceSec: 2000 })).toBe(
      true,
    );
  });
});

const payload: AlertPayload = {
  alert_id: 'expiring:1:99:7',
  event: 'expiring',
  severity: 'warning',
  page_id: '1',
  page_name: '<script>alert(1)</script> & Co',
  state: 'expiring',
  message: 'Page "<b>x</b>" expires soon & must be reconnected',
  deadline: '2027-03-08T00:00:00.000Z',
  days_left: 6,
  reconnect_url: 'https://keeper.example.com/connect/1?exp=2&sig=a_b-c',
  occurred_at: '2027-03-01T00:00:00.000Z',
};

describe('Slack rendering', () => {
  it('has a fallback text and blocks with a reconnect button; user text is escaped for mrkdwn', () => {
    const s = renderSlack(payload);
    expect(s.text).toContain('&lt;b&gt;x&lt;/b&gt;');
    expect(s.text).toContain('<https://keeper.example.com/connect/1?exp=2&sig=a_b-c|Reconnect the Page>');
    expect(s.text).not.toContain('<script>');
    const blocks = s.blocks as {
      type: string;
      text?: { text: string };
      elements?: { url?: string; text?: unknown }[];
    }[];
    expect(blocks.map((b) => b.type)).toEqual(['header', 'section', 'context', 'actions', 'section']);
    expect(blocks[3]!.elements![0]!.url).toBe(payload.reconnect_url);
    expect(String(blocks[2]!.elements![0]!.text)).toContain('2027-03-08T00:00:00.000Z (6 days left)');
  });
});

describe('e-mail rendering', () => {
  it('text and HTML parts carry page, state, deadline and link; HTML is escaped', () => {
    const m = renderEmail(payload);
    expect(m.subject).toBe(
      '[fb-token-keeper] WARNING: The posting token will expire: <script>alert(1)</script> & Co',
    );
    expect(m.text).toContain('State: expiring');
    expect(m.text).toContain('Deadline: 2027-03-08T00:00:00.000Z (6 days left)');
    expect(m.text).toContain(`Reconnect the Page: ${payload.reconnect_url}`);
    expect(m.html).not.toContain('<script>');
    expect(m.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co');
    expect(m.html).toContain('href="https://keeper.example.com/connect/1?exp=2&amp;sig=a_b-c"');
  });

  it('good news is not shouted and offers the link only "if needed"', () => {
    const m = renderEmail({
      ...payload,
      event: 'recovered',
      severity: 'info',
      deadline: null,
      days_left: null,
    });
    expect(m.subject).toBe('[fb-token-keeper] Recovered: <script>alert(1)</script> & Co');
    expect(m.text).toContain('Deadline: none');
    expect(m.text).toContain('Reconnect link (only if needed)');
  });
});
