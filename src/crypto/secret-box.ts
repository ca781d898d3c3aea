/**
 * The only code that encrypts. AES-256-GCM with a random 12-byte nonce per value; the stored string
 * is a versioned envelope that names its key, so keys can be rotated without guessing:
 *
 *   v1.<keyId>.<nonce b64url>.<ciphertext b64url>.<tag b64url>
 *
 * Every value is sealed with associated data (AAD) naming where it lives (the store uses
 * `page:<pageId>:<field>`), so a ciphertext copied to another row or field fails to open instead of
 * silently handing one page's token to another.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { AppError } from '../errors.js';

const VERSION = 'v1';
const ALGORITHM = 'aes-256-gcm';
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export interface SecretBox {
  /** Id of the key new values are sealed with. */
  readonly keyId: string;
  /** Ids of every key this box can open with (current first). */
  readonly keyIds: readonly string[];
  /** What holds the keys, as messages name it ("key file /path", "TOKEN_ENCRYPTION_KEYS"). */
  readonly source: string;
  seal(plaintext: string, aad: string): string;
  open(envelope: string, aad: string): string;
  /**
   * Secrets that failed to open and have not opened since (by where they live, `page:<id>:<field>`),
   * so readiness and the dashboard can tell the truth. Bounded; cleared per value when it opens.
   */
  faults(): ReadonlyMap<string, SecretFault>;
}

export interface SecretFault {
  code: 'encryption_key_unknown' | 'decryption_failed';
  keyId: string | null;
  message: string;
}

export interface SecretBoxKeys {
  /** Seals new values and opens values sealed with it. */
  current: Buffer;
  /** Older keys that can still open values (during a rotation). */
  previous?: readonly Buffer[] | undefined;
}

/**
 * A live keyring (crypto/keyring.ts): its keys may change while the process runs (a key file
 * rewritten by `rotate-key`). The box asks it again when an envelope names a key it does not hold.
 */
export interface KeyProvider {
  /** Active key first. The box rebuilds its ring when this returns a different array. */
  keys(): readonly Buffer[];
  /** Re-read the source if it may have changed; `unknown_key` may re-read even when it looks unchanged. */
  refresh(reason: 'seal' | 'unknown_key'): void;
  /** How messages name the source. */
  readonly description: string;
  /** What to do when a value names key `id` that the source does not hold. */
  missingKeyHint(id: string): string;
}

/** First 8 hex chars of sha256(key): names a key in envelopes and messages without revealing it. */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

const MAX_FAULTS = 10_000;

function staticProvider(keys: SecretBoxKeys): KeyProvider {
  const list = [keys.current, ...(keys.previous ?? [])];
  return {
    keys: () => list,
    refresh: () => undefined,
    description: 'the configured keys',
    missingKeyHint: () => 'load the key it was sealed with',
  };
}

function buildRing(keys: readonly Buffer[]): { ring: Map<string, Buffer>; currentId: string } {
  const ring = new Map<string, Buffer>();
  for (const key of keys) {
    if (key.length !== KEY_BYTES) {
      throw new AppError(
        'encryption_key_invalid',
        `encryption keys must be exactly ${KEY_BYTES} bytes (got ${key.length} bytes)`,
      );
    }
    const id = keyIdOf(key);
    if (!ring.has(id)) ring.set(id, Buffer.from(key));
  }
  if (keys[0] === undefined) throw new AppError('encryption_key_invalid', 'the keyring holds no key');
  return { ring, currentId: keyIdOf(keys[0]) };
}

export function createSecretBox(keys: SecretBoxKeys | KeyProvider): SecretBox {
  const provider = 'current' in keys ? staticProvider(keys) : keys;
  let seen: readonly Buffer[] | null = null;
  let ring = new Map<string, Buffer>();
  let currentId = '';
  const faults = new Map<string, SecretFault>();
  /** The ring for the provider's current keys, rebuilt only when they changed. */
  const sync = () => {
    const now = provider.keys();
    if (now !== seen) {
      ({ ring, currentId } = buildRing(now));
      seen = now;
      // A value that failed only because its key was not loaded may open now: forget those faults.
      for (const [aad, f] of faults) if (f.keyId !== null && ring.has(f.keyId)) faults.delete(aad);
    }
  };
  if ('current' in keys) sync();
  const fault = (aad: string, f: SecretFault) => {
    if (faults.size >= MAX_FAULTS && !faults.has(aad)) return;
    faults.set(aad, f);
  };

  return {
    get keyId() {
      sync();
      return currentId;
    },
    get keyIds() {
      sync();
      return [...ring.keys()];
    },
    source: provider.description,
    faults: () => faults,

    seal(plaintext, aad) {
      provider.refresh('seal');
      sync();
      const key = ring.get(currentId)!;
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv(ALGORITHM, key, nonce, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.from(aad, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [VERSION, currentId, b64url(nonce), b64url(ciphertext), b64url(tag)].join('.');
    },

    open(envelope, aad) {
      let parts: Envelope;
      try {
        parts = parseEnvelope(envelope);
      } catch (e) {
        fault(aad, { code: 'decryption_failed', keyId: null, message: (e as Error).message });
        throw e;
      }
      sync();
      let key = ring.get(parts.keyId);
      if (!key) {
        // Sealed under a key this process has not loaded yet: `rotate-key` may have just added it.
        provider.refresh('unknown_key');
        sync();
        key = ring.get(parts.keyId);
      }
      if (!key) {
        const message =
          `a stored secret is sealed with key ${parts.keyId}, which ${provider.description} does not hold ` +
          `(it holds ${[...ring.keys()].join(', ')}): ${provider.missingKeyHint(parts.keyId)}`;
        fault(aad, { code: 'encryption_key_unknown', keyId: parts.keyId, message });
        throw new AppError('encryption_key_unknown', message, {
          details: {
            key_id: parts.keyId,
            loaded_key_ids: [...ring.keys()],
            key_source: provider.description,
          },
        });
      }
      try {
        const decipher = createDecipheriv(ALGORITHM, key, parts.nonce, { authTagLength: TAG_BYTES });
        decipher.setAAD(Buffer.from(aad, 'utf8'));
        decipher.setAuthTag(parts.tag);
        const plaintext = Buffer.concat([decipher.update(parts.ciphertext), decipher.final()]).toString(
          'utf8',
        );
        faults.delete(aad);
        return plaintext;
      } catch {
        // GCM only says "unsupported state or unable to authenticate data"; say what it means for us.
        // The key id is a hash of the key, so the right key is loaded: the value itself is wrong.
        const message = `cannot open a sealed secret with key ${parts.keyId}: authentication failed (the value was altered, or it was copied from another page or field)`;
        fault(aad, { code: 'decryption_failed', keyId: parts.keyId, message });
        throw new AppError('decryption_failed', message, { details: { key_id: parts.keyId, context: aad } });
      }
    },
  };
}

interface Envelope {
  keyId: string;
  nonce: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function parseEnvelope(envelope: string): Envelope {
  const parts = envelope.split('.');
  const [version, keyId, nonce, ciphertext, tag] = parts;
  if (
    parts.length !== 5 ||
    version !== VERSION ||
    keyId === undefined ||
    !/^[0-9a-f]{8}$/.test(keyId) ||
    nonce === undefined ||
    ciphertext === undefined ||
    tag === undefined ||
    ![nonce, ciphertext, tag].every((p) => B64URL.test(p))
  ) {
    throw new AppError(
      'decryption_failed',
      `cannot open a sealed secret: not a ${VERSION} envelope (corrupted value)`,
    );
  }
  const decoded = {
    keyId,
    nonce: Buffer.from(nonce, 'base64url'),
    ciphertext: Buffer.from(ciphertext, 'base64url'),
    tag: Buffer.from(tag, 'base64url'),
  };
  if (decoded.nonce.length !== NONCE_BYTES || decoded.tag.length !== TAG_BYTES) {
    throw new AppError(
      'decryption_failed',
      `cannot open a sealed secret with key ${keyId}: authentication failed (malformed nonce or tag)`,
    );
  }
  return decoded;
}

function b64url(b: Buffer): string {
  return b.toString('base64url');
}
