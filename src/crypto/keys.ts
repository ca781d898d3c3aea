/**
 * Where the encryption key comes from: `TOKEN_ENCRYPTION_KEY` (base64 of 32 bytes) or, when unset,
 * a key file created with mode 0600 on first run. The key is checked here, at start-up, so a bad
 * key fails with a message naming its source instead of as a decryption error later.
 */
import {
  closeSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { AppError } from '../errors.js';

export const KEY_BYTES = 32;

/** A fresh random 32-byte key. */
export function generateKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

// Standard or URL-safe alphabet, optional padding. Buffer.from(s, 'base64') silently skips anything
// else, so without this check a typo would shrink the key instead of failing.
const BASE64 = /^(?:[A-Za-z0-9+/]+|[A-Za-z0-9_-]+)={0,2}$/;

/**
 * Decode a base64 key that must be exactly 32 bytes.
 * @param source what to name in the error (the variable or file the value came from).
 */
export function parseEncryptionKey(base64: string, source = 'TOKEN_ENCRYPTION_KEY'): Buffer {
  const text = base64.trim();
  const hint = 'generate one with: openssl rand -base64 32';
  if (!BASE64.test(text)) {
    throw new AppError(
      'encryption_key_invalid',
      `${source} must be base64 of exactly ${KEY_BYTES} bytes (it is not valid base64); ${hint}`,
    );
  }
  const key = Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
  if (key.length !== KEY_BYTES) {
    throw new AppError(
      'encryption_key_invalid',
      `${source} must be base64 of exactly ${KEY_BYTES} bytes (got ${key.length} bytes); ${hint}`,
    );
  }
  return key;
}

/**
 * Read the key file, or create it with a random key on first run. The new key is written to a
 * private temporary file (opened with `wx`, mode 0600) and then hard-linked into place: `link`
 * fails if the file already exists, so two processes starting at once agree on one key, and no
 * reader ever sees a half-written file.
 */
export function loadOrCreateKeyFile(path: string): Buffer {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const created = tryCreateKeyFile(path);
  if (created) return created;

  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new AppError(
      'encryption_key_invalid',
      `key file ${path} is readable by other users (mode ${mode.toString(8).padStart(4, '0')}); run: chmod 600 ${path}`,
    );
  }
  return parseEncryptionKey(readFileSync(path, 'utf8'), `key file ${path}`);
}

function tryCreateKeyFile(path: string): Buffer | null {
  const key = generateKey();
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, `${key.toString('base64')}\n`);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, path);
    return key;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return null;
    throw e;
  } finally {
    unlinkSync(temp);
  }
}

/** The key to use: `encryptionKey` (from TOKEN_ENCRYPTION_KEY) when set, else the key file. */
export function resolveEncryptionKey(options: {
  encryptionKey?: string | undefined;
  keyFile: string;
}): Buffer {
  if (options.encryptionKey !== undefined) return parseEncryptionKey(options.encryptionKey);
  return loadOrCreateKeyFile(options.keyFile);
}
