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
  seal(plaintext: string, aad: string): string;
  open(envelope: string, aad: string): string;
}

export interface SecretBoxKeys {
  /** Seals new values and opens values sealed with it. */
  current: Buffer;
  /** Older keys that can still open values (during a rotation). */
  previous?: readonly Buffer[] | undefined;
}

/** First 8 hex chars of sha256(key): names a key in envelopes and messages without revealing it. */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

export function createSecretBox(keys: SecretBoxKeys): SecretBox {
  const ring = new Map<string, Buffer>();
  for (const key of [keys.current, ...(keys.previous ?? [])]) {
    if (key.length !== KEY_BYTES) {
      throw new AppError(
        'encryption_key_invalid',
        `encryption keys must be exactly ${KEY_BYTES} bytes (got ${key.length} bytes)`,
      );
    }
    const id = keyIdOf(key);
    if (!ring.has(id)) ring.set(id, Buffer.from(key));
  }
  const currentId = keyIdOf(keys.current);
  const currentKey = ring.get(currentId)!;

  return {
    keyId: currentId,
    keyIds: [...ring.keys()],

    seal(plaintext, aad) {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv(ALGORITHM, currentKey, nonce, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.from(aad, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [VERSION, currentId, b64url(nonce), b64url(ciphertext), b64url(tag)].join('.');
    },

    open(envelope, aad) {
      const parts = parseEnvelope(envelope);
      const key = ring.get(parts.keyId);
      if (!key) {
        throw new AppError(
          'decryption_failed',
          `cannot open a sealed secret: it was sealed with key ${parts.keyId}, which is not loaded (loaded: ${[...ring.keys()].join(', ')}); ` +
            'set TOKEN_ENCRYPTION_KEY (or the key file) to the key it was sealed with',
          { details: { key_id: parts.keyId, loaded_key_ids: [...ring.keys()] } },
        );
      }
      try {
        const decipher = createDecipheriv(ALGORITHM, key, parts.nonce, { authTagLength: TAG_BYTES });
        decipher.setAAD(Buffer.from(aad, 'utf8'));
        decipher.setAuthTag(parts.tag);
        return Buffer.concat([decipher.update(parts.ciphertext), decipher.final()]).toString('utf8');
      } catch {
        // GCM only says "unsupported state or unable to authenticate data"; say what it means for us.
        throw new AppError(
          'decryption_failed',
          `cannot open a sealed secret with key ${parts.keyId}: authentication failed (the value was altered, or it was copied from another page or field)`,
          { details: { key_id: parts.keyId, context: aad } },
        );
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
