/**
 * Reconnect links and OAuth state, signed (below the core: the keeper puts links in alerts and
 * status, the HTTP layer checks them). Sub-keys are derived from one root secret, one per purpose.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { HOUR } from '../clock.js';
import type { Config } from '../config.js';

const PAGE_ID = /^\d{1,32}$/;

const subKeys = new WeakMap<Buffer, { link: Buffer; state: Buffer }>();

function keysOf(secret: Buffer): { link: Buffer; state: Buffer } {
  let k = subKeys.get(secret);
  if (!k) {
    const derive = (info: string) => Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), info, 32));
    k = {
      link: derive('fb-token-keeper/connect/link/v1'),
      state: derive('fb-token-keeper/connect/state/v1'),
    };
    subKeys.set(secret, k);
  }
  return k;
}

const mac = (key: Buffer, message: string) => createHmac('sha256', key).update(message).digest('base64url');

/** Constant-time comparison of two strings. */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The `sig` of a reconnect link for a page, valid until `expiresAt` (unix seconds). */
export function signReconnectLink(pageId: string, expiresAt: number, secret: Buffer): string {
  return mac(keysOf(secret).link, `link.${pageId}.${expiresAt}`);
}

export type LinkCheck = 'ok' | 'invalid' | 'expired';

/** Signature first (a forged link learns nothing about expiry), then expiry. `now` in ms. */
export function verifyReconnectLink(
  pageId: string,
  exp: string | undefined,
  sig: string | undefined,
  secret: Buffer,
  now: number,
): LinkCheck {
  if (!PAGE_ID.test(pageId) || !exp || !/^\d{1,12}$/.test(exp) || !sig) return 'invalid';
  if (!safeEqual(sig, signReconnectLink(pageId, Number(exp), secret))) return 'invalid';
  return Number(exp) * 1000 > now ? 'ok' : 'expired';
}

/** The signed link put in alerts and status: `PUBLIC_URL/connect/{page_id}?exp=…&sig=…`. */
export function reconnectUrl(
  config: Pick<Config, 'publicUrl' | 'reconnectLinkTtlHours'>,
  pageId: string,
  now: number,
  secret: Buffer,
): string {
  // Rounded up to the hour: the link stays the same for an hour (status pages, repeated alerts).
  const exp = (Math.ceil((now + config.reconnectLinkTtlHours * HOUR) / HOUR) * HOUR) / 1000;
  return `${config.publicUrl}/connect/${encodeURIComponent(pageId)}?exp=${exp}&sig=${signReconnectLink(pageId, exp, secret)}`;
}

export function callbackUrl(config: Pick<Config, 'publicUrl'>): string {
  return `${config.publicUrl}/connect/callback`;
}

export interface OAuthState {
  pageId: string;
  /** ms */
  expiresAt: number;
  /** Unix seconds: the `exp` of the reconnect link this login was started from. */
  linkExpiresAt: number;
  nonce: string;
}

export function signState(s: OAuthState, secret: Buffer): string {
  const body = `v2.${s.pageId}.${Math.floor(s.expiresAt / 1000)}.${s.linkExpiresAt}.${s.nonce}`;
  return `${body}.${mac(keysOf(secret).state, body)}`;
}

const STATE = /^v2\.(\d{1,32})\.(\d{1,12})\.(\d{1,12})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

/** null when malformed or not signed by us; the caller checks expiry (to say which it was). */
export function parseState(state: string, secret: Buffer): OAuthState | null {
  const m = STATE.exec(state);
  if (!m) return null;
  const [, pageId, exp, linkExp, nonce, sig] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (!safeEqual(sig, mac(keysOf(secret).state, `v2.${pageId}.${exp}.${linkExp}.${nonce}`))) return null;
  return { pageId, expiresAt: Number(exp) * 1000, linkExpiresAt: Number(linkExp), nonce };
}
