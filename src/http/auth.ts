/**
 * API keys: `Authorization: Bearer ftk_<id>_<secret>` on every `/api` route.
 *
 * - The id (16 hex) finds the row; the secret (32 random bytes, base64url) proves possession.
 * - Only sha256(secret) is stored. A fast hash is right here, unlike for passwords: the secret is a
 *   256-bit random value, so there is nothing to brute-force or look up in a dictionary, and a slow
 *   KDF (bcrypt/scrypt) would only add latency to every API call without adding security.
 * - Hashes are compared with `crypto.timingSafeEqual`; an unknown id is compared against a dummy
 *   hash so both paths take the same time.
 * - Scopes: `admin` may use every `/api` route except `GET /api/pages/{page_id}/token`;
 *   `token:read` may use only that route. An admin key does NOT read tokens implicitly, so a leaked
 *   dashboard/admin key cannot be used to read posting tokens (give a key both scopes if it must).
 * - A `token:read` key may be limited to named Pages (`page_ids`): it reads only their tokens, so
 *   a posting app for Page A cannot read Page B's token. A key may carry an expiry.
 * - 401 `unauthorized` without a key or with an invalid/revoked one (and `WWW-Authenticate: Bearer`),
 *   401 `api_key_expired` for a key past its expiry, 403 `forbidden` for a valid key without the
 *   route's scope or (token route) without the Page.
 * - A valid key always passes. Invalid keys are counted per client and key id when the id is one
 *   of ours (someone guessing that key's secret), else per client; after too many in a while that
 *   count is answered 429 `rate_limited` with `Retry-After` instead of 401. So a guesser behind the
 *   same proxy as a posting app slows down only itself. Guessing cannot succeed anyway (a secret is
 *   256 random bits); the pause costs a misbehaving client its retries and leaves one log line.
 *   The client is `request.ip`: the socket's address, or X-Forwarded-For through TRUST_PROXY.
 * - `last_used_at` is updated only for a successful (< 400) response, at most once a minute, so
 *   a rejected request changes nothing in the database.
 */
import { createHash, hash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Clock, MINUTE } from '../clock.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/types.js';
import type { ApiKey, ApiKeyScope } from '../types.js';

export const API_KEY_SCOPES: readonly ApiKeyScope[] = ['admin', 'token:read'];

const KEY_PATTERN = /^ftk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const DUMMY_HASH = Buffer.alloc(32);

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Scopes that may call this route; any one is enough. Absent = open route. */
    scopes?: readonly ApiKeyScope[];
  }
  interface FastifyRequest {
    /** The authenticated API key (never its secret). */
    apiKey?: ApiKey;
  }
}

/** Split a presented key into id and secret; null when it is not shaped like one of ours. */
export function parseApiKey(key: string): { id: string; secret: string } | null {
  const m = KEY_PATTERN.exec(key);
  return m ? { id: m[1]!, secret: m[2]! } : null;
}

export function hashSecret(secret: string): string {
  // The one-shot form: no Hash object per call (it runs on every API request, auth.ts verifyCached).
  return hash('sha256', secret, 'hex');
}

function sameHash(storedHex: string, secret: string): boolean {
  const stored = Buffer.from(storedHex, 'hex');
  const presented = createHash('sha256').update(secret, 'utf8').digest();
  if (stored.length !== presented.length) {
    timingSafeEqual(DUMMY_HASH, presented);
    return false;
  }
  return timingSafeEqual(stored, presented);
}

// A Page, Instagram or Threads id (digits), or a WhatsApp connection's id (GET /api/accounts).
const PAGE_ID = /^(\d{1,32}|[a-z]+_[0-9A-Za-z-]{1,64}_[0-9A-Za-z-]{1,64})$/;

export interface NewApiKeyOptions {
  name: string;
  scopes: readonly ApiKeyScope[];
  clock: Clock;
  /** Limit a `token:read` key to these Pages; absent or empty = every Page. */
  pageIds?: readonly string[] | undefined;
  /** Epoch ms after which the key is refused; absent or null = never. */
  expiresAt?: number | null | undefined;
}

/** Create a key; the plaintext `key` is returned once and never stored. */
export async function createApiKey(
  store: Store,
  options: NewApiKeyOptions,
): Promise<{ id: string; key: string; apiKey: ApiKey }> {
  const name = options.name.trim();
  if (name.length === 0 || name.length > 100) {
    throw new AppError('validation_failed', 'an API key name must be 1 to 100 characters', {
      details: { fields: [{ field: 'name', message: '1 to 100 characters' }] },
    });
  }
  const scopes = [...new Set(options.scopes)];
  const unknown = scopes.filter((s) => !API_KEY_SCOPES.includes(s));
  if (scopes.length === 0 || unknown.length > 0) {
    throw new AppError('validation_failed', `scopes must be one or more of ${API_KEY_SCOPES.join(', ')}`, {
      details: { fields: [{ field: 'scopes', message: `one or more of ${API_KEY_SCOPES.join(', ')}` }] },
    });
  }
  const now = options.clock.now();
  const pageIds = keyPageIds(scopes, options.pageIds ?? []);
  const expiresAt = options.expiresAt ?? null;
  if (expiresAt !== null && (!Number.isSafeInteger(expiresAt) || expiresAt <= now)) {
    throw new AppError('validation_failed', 'an API key expiry must lie in the future', {
      details: { fields: [{ field: 'expires_at', message: 'a time in the future' }] },
    });
  }
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const apiKey = await store.createApiKey({
    id,
    name,
    keyHash: hashSecret(secret),
    scopes,
    createdAt: now,
    pageIds,
    expiresAt,
  });
  return { id, key: `ftk_${id}_${secret}`, apiKey };
}

/**
 * The Page list a new key stores: null (every Page) when none are named. Only `token:read` is
 * limited by Pages; an `admin` key can set up and delete any Page, so naming Pages for it would
 * promise a limit that does not exist, and is refused.
 */
function keyPageIds(scopes: readonly ApiKeyScope[], named: readonly string[]): string[] | null {
  const pageIds = [...new Set(named.map((p) => p.trim()))];
  if (pageIds.length === 0) return null;
  const field = (message: string) => ({ details: { fields: [{ field: 'page_ids', message }] } });
  const bad = pageIds.filter((p) => !PAGE_ID.test(p));
  if (bad.length > 0) {
    throw new AppError(
      'validation_failed',
      `not a Page id: ${bad.join(', ').slice(0, 200)}`,
      field('digits'),
    );
  }
  if (scopes.includes('admin')) {
    throw new AppError(
      'validation_failed',
      'Page ids limit a token:read key; a key with the admin scope reaches every Page, so it cannot be limited',
      field('only for a key with just the token:read scope'),
    );
  }
  return pageIds;
}

/** True when the key has an expiry and it has passed. */
export function keyExpired(key: Pick<ApiKey, 'expiresAt'>, now: number): boolean {
  return key.expiresAt !== null && key.expiresAt <= now;
}

/** 401 `api_key_expired` for a key past its expiry: the owner learns what to do, not just "no". */
export function refuseExpiredKey(key: ApiKey, now: number): void {
  if (!keyExpired(key, now)) return;
  throw new AppError(
    'api_key_expired',
    `this API key expired at ${new Date(key.expiresAt ?? 0).toISOString()}; create a new one with: fb-token-keeper api-key create`,
    { details: { expired_at: new Date(key.expiresAt ?? 0).toISOString() } },
  );
}

/** 403 unless `key` may read the token of `pageId` (a key without a Page list may read every Page). */
export function refuseOtherPages(key: ApiKey, pageId: string): void {
  if (key.pageIds === null || key.pageIds.includes(pageId)) return;
  throw new AppError('forbidden', `this API key may not read the token of Page ${pageId}`, {
    details: { key_page_ids: key.pageIds },
  });
}

export function listApiKeys(store: Store): Promise<ApiKey[]> {
  return store.listApiKeys();
}

/** Revoke by id (the `ftk_<id>_…` part, or a whole key). False when no such active key. */
export function revokeApiKey(store: Store, idOrKey: string, clock: Clock): Promise<boolean> {
  const id = parseApiKey(idOrKey)?.id ?? idOrKey;
  return store.revokeApiKey(id, clock.now());
}

/**
 * For `serve`: when no active key exists, create an admin key and return its plaintext (to be
 * printed once on stdout, never logged); otherwise null.
 */
export async function ensureBootstrapKey(store: Store, clock: Clock): Promise<string | null> {
  if ((await store.countActiveApiKeys(clock.now())) > 0) return null;
  const { key } = await createApiKey(store, { name: 'bootstrap admin', scopes: ['admin'], clock });
  return key;
}

/**
 * The key's record when `presented` is a valid, unrevoked key; else null. Constant-time. Expiry is
 * the caller's check (`refuseExpiredKey`), so the owner hears "expired" rather than "invalid".
 */
export async function verifyApiKey(store: Store, presented: string): Promise<ApiKey | null> {
  const parts = parseApiKey(presented);
  if (!parts) return null;
  const stored = await store.getApiKey(parts.id);
  if (!stored) {
    sameHash(DUMMY_HASH.toString('hex'), parts.secret);
    return null;
  }
  const ok = sameHash(stored.keyHash, parts.secret);
  if (!ok || stored.revokedAt !== null) return null;
  return {
    id: stored.id,
    name: stored.name,
    scopes: stored.scopes,
    createdAt: stored.createdAt,
    lastUsedAt: stored.lastUsedAt,
    revokedAt: stored.revokedAt,
    pageIds: stored.pageIds,
    expiresAt: stored.expiresAt,
  };
}

// --- failure limiter ------------------------------------------------------------------------

export interface FailureLimitOptions {
  /** Failures allowed in one count within `windowMs` before it is answered 429. */
  max: number;
  windowMs: number;
  /** How long a count that reached `max` is answered 429. */
  lockMs: number;
  /** Counts remembered at most (oldest forgotten first), so memory stays bounded. */
  maxEntries: number;
}

export const DEFAULT_FAILURE_LIMIT: FailureLimitOptions = {
  max: 10,
  windowMs: 5 * MINUTE,
  lockMs: 5 * MINUTE,
  maxEntries: 10_000,
};

/**
 * Failure counts by name (`failureCount` below names them). It never decides whether a credential
 * is good: callers check the credential first and consult the limiter only for a bad one.
 */
export interface FailureLimiter {
  /** Milliseconds until `count` is answered 401 again; 0 when it is not paused. */
  lockedFor(count: string): number;
  /** Record one failure; true when this one started a pause (log that once, not every failure). */
  fail(count: string): boolean;
}

export function createFailureLimiter(
  clock: Clock,
  options: FailureLimitOptions = DEFAULT_FAILURE_LIMIT,
): FailureLimiter {
  const entries = new Map<string, { count: number; firstAt: number; lockedUntil: number }>();
  return {
    lockedFor(name) {
      const e = entries.get(name);
      if (!e) return 0;
      const now = clock.now();
      if (e.lockedUntil > now) return e.lockedUntil - now;
      if (e.lockedUntil > 0 || now - e.firstAt > options.windowMs) entries.delete(name);
      return 0;
    },
    fail(name) {
      const now = clock.now();
      let e = entries.get(name);
      if (!e || now - e.firstAt > options.windowMs) {
        entries.delete(name);
        e = { count: 0, firstAt: now, lockedUntil: 0 };
        entries.set(name, e);
        while (entries.size > options.maxEntries) {
          const oldest = entries.keys().next().value;
          if (oldest === undefined) break;
          entries.delete(oldest);
        }
      }
      e.count += 1;
      if (e.count < options.max || e.lockedUntil > now) return false;
      e.lockedUntil = now + options.lockMs;
      return true;
    },
  };
}

/**
 * Which count a rejected key goes to: `client keyId` when the id is one of ours (the secret was
 * wrong, or the key is revoked), else `client`. Unknown ids share the client's count so that a
 * flood of made-up ids cannot fill the table. Key ids are not secret (logs and `api-key list` show
 * them), so telling a known id from an unknown one by its count gives nothing away.
 */
export async function failureCount(
  store: Store,
  client: string,
  presented: string | undefined,
): Promise<{ count: string; keyId: string | undefined }> {
  const id = presented === undefined ? undefined : parseApiKey(presented)?.id;
  if (id === undefined || !(await store.getApiKey(id))) return { count: client, keyId: undefined };
  return { count: `${client} ${id}`, keyId: id };
}

// --- the hook -------------------------------------------------------------------------------

/**
 * For a rejected credential: 429 `rate_limited` when its count is paused, else count it (and log
 * the start of a pause once). Returns normally when the caller should answer 401.
 */
export function refuseRepeated(
  limiter: FailureLimiter,
  logger: Logger,
  failure: { count: string; keyId: string | undefined },
  client: string,
): void {
  const waitMs = limiter.lockedFor(failure.count);
  if (waitMs > 0) {
    throw new AppError('rate_limited', 'too many invalid API keys from this client; try again later', {
      details: { retry_after_seconds: Math.ceil(waitMs / 1000) },
    });
  }
  if (limiter.fail(failure.count)) {
    logger.warn(
      { ip: client, ...(failure.keyId !== undefined ? { keyId: failure.keyId } : {}) },
      'repeated invalid API keys: this client gets 429 for a while (valid keys still pass)',
    );
  }
}

const TOUCH_EVERY_MS = MINUTE;

/**
 * How long a verified key is trusted without reading its row again (posting apps call the token
 * route often; the lookup and hash were ≈ 6 % of a request, docs/BENCHMARKS.md). Any write through
 * the store (`Store.writes`: a revocation, a new key, anything) ends every such trust at once, so a
 * key revoked through this process is refused on the very next request; one revoked by another
 * process (the CLI, a second instance) is refused within this time.
 */
export const VERIFIED_KEY_MS = 5_000;

export interface AuthDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  limiter: FailureLimiter;
}

/** `onRequest` hook for routes whose config names `scopes`; `onSend` hook to record use. */
export function createAuthHooks(deps: AuthDeps) {
  const { store, clock, limiter, logger } = deps;
  /** sha256 of the presented key → the key it verified as. Never the key itself. */
  const verified = new Map<string, { key: ApiKey; writes: number; at: number }>();

  async function verifyCached(presented: string): Promise<ApiKey | null> {
    const writes = store.writes?.();
    if (writes === undefined) return verifyApiKey(store, presented);
    const digest = hashSecret(presented);
    const now = clock.now();
    const kept = verified.get(digest);
    if (kept && kept.writes === writes && now >= kept.at && now - kept.at < VERIFIED_KEY_MS) return kept.key;
    const key = await verifyApiKey(store, presented);
    if (key) {
      if (verified.size >= 1000) verified.clear();
      verified.set(digest, { key, writes, at: now });
    } else {
      verified.delete(digest);
    }
    return key;
  }

  async function onRequest(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const scopes = request.routeOptions.config.scopes;
    if (!scopes) return;
    const header = request.headers.authorization;
    if (header === undefined || header.trim() === '') {
      void reply.header('www-authenticate', 'Bearer');
      throw new AppError('unauthorized', 'an API key is required: send "Authorization: Bearer <api key>"');
    }
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    const key = m ? await verifyCached(m[1]!) : null;
    if (!key) {
      refuseRepeated(limiter, logger, await failureCount(store, request.ip, m?.[1]), request.ip);
      void reply.header('www-authenticate', 'Bearer error="invalid_token"');
      throw new AppError(
        'unauthorized',
        m ? 'the API key is invalid or revoked' : 'the Authorization header must be "Bearer <api key>"',
      );
    }
    refuseExpiredKey(key, clock.now());
    request.apiKey = key;
    if (!key.scopes.some((s) => scopes.includes(s))) {
      throw new AppError('forbidden', `this API key lacks the ${scopes.join(' or ')} scope needed here`, {
        details: { required_scopes: [...scopes], key_scopes: key.scopes },
      });
    }
  }

  /**
   * `onSend` (before the response leaves, so a client that got its answer sees the update). A
   * callback hook: on nearly every request there is nothing to record, and then it costs no promise.
   */
  function onSend<T>(
    request: FastifyRequest,
    reply: FastifyReply,
    payload: T,
    done: (err: Error | null, payload: T) => void,
  ): void {
    const key = request.apiKey;
    const now = clock.now();
    if (
      !key ||
      reply.statusCode >= 400 ||
      (key.lastUsedAt !== null && now - key.lastUsedAt < TOUCH_EVERY_MS)
    ) {
      done(null, payload);
      return;
    }
    store.touchApiKey(key.id, now).then(
      () => done(null, payload),
      (err: unknown) => {
        logger.warn(
          { keyId: key.id, err: err instanceof AppError ? err.code : 'error' },
          'could not record API key use',
        );
        done(null, payload);
      },
    );
  }

  return { onRequest, onSend };
}
