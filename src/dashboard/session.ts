/**
 * Dashboard sessions and CSRF tokens, with no session table.
 *
 * - A session is a signed, expiring cookie: `base64url(JSON {v, k, s, e}) . base64url(HMAC)`, where
 *   `k` is the API key id that signed in (never the key), `s` a random session id and `e` the expiry.
 *   It is signed with a key derived (HKDF) from the reconnect-link secret, which itself comes from
 *   the encryption key: sessions survive restarts and work on every instance sharing that key.
 * - Every request re-reads the API key row, so revoking the key (or removing its admin scope) ends
 *   its dashboard sessions at once. Signing out records the session id in the database
 *   (`ended_sessions`) until the cookie would have expired, so a copied cookie stops working on
 *   every instance and after a restart (`isSessionEnded`, checked by the dashboard on each request).
 * - The CSRF token of a session is HMAC(csrf key, session id): per session, nothing to store, and
 *   compared in constant time. The sign-in form (before a session exists) uses a double-submit
 *   token bound to a random `ftk_signin` cookie.
 * - Flash messages (the result of a button press, shown after the redirect) ride in a signed cookie
 *   that lives a minute; they never carry a secret.
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { type Clock, HOUR } from '../clock.js';
import type { Store } from '../store/types.js';

export const SESSION_COOKIE = 'ftk_session';
export const SIGNIN_COOKIE = 'ftk_signin';
export const FLASH_COOKIE = 'ftk_flash';
export const SESSION_TTL_MS = 12 * HOUR;

export interface Session {
  keyId: string;
  sessionId: string;
  expiresAt: number;
}

export interface Flash {
  kind: 'ok' | 'error' | 'info';
  text: string;
}

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** Constant-time string comparison (HMAC both sides first, so lengths leak nothing either). */
export function sameToken(a: string, b: string): boolean {
  const x = createHmac('sha256', 'compare').update(a).digest();
  const y = createHmac('sha256', 'compare').update(b).digest();
  return timingSafeEqual(x, y);
}

export interface SessionKeys {
  issue(keyId: string): { cookie: string; session: Session };
  /** The session a cookie carries when its signature and expiry hold; sign-out is checked apart. */
  read(cookie: string | undefined): Session | null;
  csrfFor(session: Session): string;
  checkCsrf(session: Session, presented: unknown): boolean;
  /** Double-submit token for the sign-in form, bound to the random `ftk_signin` cookie value. */
  signinCsrf(nonce: string): string;
  checkSigninCsrf(nonce: string | undefined, presented: unknown): boolean;
  newNonce(): string;
  sealFlash(flash: Flash): string;
  openFlash(cookie: string | undefined): Flash | null;
}

/**
 * A session is live while its cookie verifies and it was not signed out. Sign-out lives in the
 * database, not in memory, so that it survives a restart and reaches every instance.
 */
export async function liveSession(
  keys: Pick<SessionKeys, 'read'>,
  store: Pick<Store, 'isSessionEnded'>,
  cookie: string | undefined,
): Promise<Session | null> {
  const session = keys.read(cookie);
  if (!session) return null;
  return (await store.isSessionEnded(session.sessionId)) ? null : session;
}

/** Sign-out: refuse this session on every instance from now on, until it would have expired anyway. */
export function endSession(store: Pick<Store, 'endSession'>, session: Session, now: number): Promise<void> {
  return store.endSession(session, now);
}

export function createSessionKeys(linkSecret: Buffer, clock: Clock, ttlMs = SESSION_TTL_MS): SessionKeys {
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', linkSecret, Buffer.alloc(0), info, 32));
  const sessionKey = derive('fb-token-keeper dashboard session');
  const csrfKey = derive('fb-token-keeper dashboard csrf');
  const flashKey = derive('fb-token-keeper dashboard flash');
  const mac = (key: Buffer, data: string) => b64(createHmac('sha256', key).update(data).digest());

  const sign = (key: Buffer, payload: unknown) => {
    const body = b64(JSON.stringify(payload));
    return `${body}.${mac(key, body)}`;
  };
  const verify = (key: Buffer, cookie: string | undefined): unknown => {
    if (!cookie || cookie.length > 4000) return null;
    const dot = cookie.indexOf('.');
    if (dot <= 0) return null;
    const body = cookie.slice(0, dot);
    if (!sameToken(mac(key, body), cookie.slice(dot + 1))) return null;
    try {
      return JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as unknown;
    } catch {
      return null;
    }
  };

  return {
    issue(keyId) {
      const session: Session = { keyId, sessionId: b64(randomBytes(18)), expiresAt: clock.now() + ttlMs };
      return {
        cookie: sign(sessionKey, { v: 1, k: session.keyId, s: session.sessionId, e: session.expiresAt }),
        session,
      };
    },
    read(cookie) {
      const p = verify(sessionKey, cookie) as { v?: unknown; k?: unknown; s?: unknown; e?: unknown } | null;
      if (!p || p.v !== 1 || typeof p.k !== 'string' || typeof p.s !== 'string' || typeof p.e !== 'number') {
        return null;
      }
      const now = clock.now();
      if (p.e <= now) return null;
      return { keyId: p.k, sessionId: p.s, expiresAt: p.e };
    },
    csrfFor: (session) => mac(csrfKey, `session:${session.sessionId}`),
    checkCsrf(session, presented) {
      return (
        typeof presented === 'string' && sameToken(mac(csrfKey, `session:${session.sessionId}`), presented)
      );
    },
    signinCsrf: (nonce) => mac(csrfKey, `signin:${nonce}`),
    checkSigninCsrf(nonce, presented) {
      return (
        typeof nonce === 'string' &&
        nonce.length >= 16 &&
        typeof presented === 'string' &&
        sameToken(mac(csrfKey, `signin:${nonce}`), presented)
      );
    },
    newNonce: () => b64(randomBytes(18)),
    sealFlash(flash) {
      return sign(flashKey, { k: flash.kind, t: flash.text.slice(0, 1000), e: clock.now() + 60_000 });
    },
    openFlash(cookie) {
      const p = verify(flashKey, cookie) as { k?: unknown; t?: unknown; e?: unknown } | null;
      if (!p || typeof p.t !== 'string' || typeof p.e !== 'number' || p.e <= clock.now()) return null;
      const kind = p.k === 'ok' || p.k === 'error' || p.k === 'info' ? p.k : 'info';
      return { kind, text: p.t };
    },
  };
}
