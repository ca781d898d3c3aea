/**
 * The keyring: where the encryption keys come from, and how they are read, created and re-read.
 *
 * A keyring is the ACTIVE key (seals new values) followed by PREVIOUS keys (still open values
 * sealed before a rotation). Its source is one of:
 *
 *   TOKEN_ENCRYPTION_KEYS   comma-separated base64 keys, the active one first: "NEW,OLD"
 *   TOKEN_ENCRYPTION_KEY    one base64 key (a keyring of one)
 *   the key file            one base64 key per line, the active one first; "#" starts a comment
 *                           (ENCRYPTION_KEY_FILE, default $DATA_DIR/encryption.key, mode 0600)
 *
 * A key is named by its id (crypto/secret-box `keyIdOf`: 8 hex chars of its sha256), never by its
 * value. A key file may be re-read while the service runs (`rotate-key` writes it), so a running
 * instance picks a new key up without a restart; the environment of a running process cannot change.
 */
import {
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { AppError } from '../errors.js';
import { keyIdOf } from './secret-box.js';

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

/** Where a keyring comes from. */
export type KeySource =
  | { kind: 'env'; variable: 'TOKEN_ENCRYPTION_KEY' | 'TOKEN_ENCRYPTION_KEYS'; value: string }
  | { kind: 'file'; path: string };

/** How messages and `status` name a source: the variable or the file, never a key. */
export function describeKeySource(source: KeySource): string {
  return source.kind === 'env' ? source.variable : `key file ${source.path}`;
}

/** Parse a list of keys (comma- or line-separated, "#" comments), active first. Duplicates are dropped. */
export function parseKeyList(text: string, source: string): Buffer[] {
  const items = text
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .join(',')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) {
    throw new AppError(
      'encryption_key_invalid',
      `${source} holds no key; generate one with: openssl rand -base64 32`,
    );
  }
  const keys: Buffer[] = [];
  const seen = new Set<string>();
  items.forEach((item, i) => {
    const key = parseEncryptionKey(item, items.length > 1 ? `${source} (key ${i + 1})` : source);
    const id = keyIdOf(key);
    if (!seen.has(id)) keys.push(key);
    seen.add(id);
  });
  return keys;
}

/** The key file's text: one key per line, active first, each with its id as a comment. */
export function formatKeyFile(keys: readonly Buffer[], note = ''): string {
  const lines = keys.map(
    (k, i) => `${k.toString('base64')}  # ${keyIdOf(k)}${i === 0 ? ' (active)' : ' (previous)'}`,
  );
  return `# fb-token-keeper keyring: the first key seals new secrets, the others still open older ones.${note ? `\n# ${note}` : ''}\n${lines.join('\n')}\n`;
}

/** A snapshot of a keyring: keys in order, active first. */
export interface LoadedKeys {
  keys: Buffer[];
  /** File identity when read from a file, to notice a rewrite without reading it again. */
  stamp: string | null;
}

/**
 * Read a keyring from its source. A missing key file is created (with one random key) only when
 * `create` is true; otherwise it is an error naming the file, so that a command run from the wrong
 * place never invents a key that opens nothing.
 */
export function loadKeys(source: KeySource, options: { create: boolean }): LoadedKeys {
  if (source.kind === 'env') return { keys: parseKeyList(source.value, source.variable), stamp: null };
  const { path } = source;
  if (!existsSync(path)) {
    if (!options.create) {
      throw new AppError(
        'encryption_key_missing',
        `key file ${path} does not exist. Point ENCRYPTION_KEY_FILE (or DATA_DIR) at the key file of your database, or set TOKEN_ENCRYPTION_KEYS`,
        { details: { key_source: describeKeySource(source) } },
      );
    }
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    tryCreateKeyFile(path);
  }
  const stat = statSync(path);
  const mode = stat.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new AppError(
      'encryption_key_invalid',
      `key file ${path} is readable by other users (mode ${mode.toString(8).padStart(4, '0')}); run: chmod 600 ${path}`,
    );
  }
  return { keys: parseKeyList(readFileSync(path, 'utf8'), `key file ${path}`), stamp: fileStamp(path) };
}

/** Identity of a file's current content as far as stat can tell (a rename gives a new inode). */
export function fileStamp(path: string): string | null {
  try {
    const s = statSync(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return null;
  }
}

/** Read the key file, or create it with a random key on first run. Kept for single-key callers. */
export function loadOrCreateKeyFile(path: string): Buffer {
  return loadKeys({ kind: 'file', path }, { create: true }).keys[0]!;
}

/**
 * Create the key file with one random key. The key is written to a private temporary file (opened
 * with `wx`, mode 0600) and then hard-linked into place: `link` fails if the file already exists,
 * so two processes starting at once agree on one key, and no reader ever sees a half-written file.
 */
function tryCreateKeyFile(path: string): void {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, formatKeyFile([generateKey()]));
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    unlinkSync(temp);
  }
}

/**
 * Replace the key file atomically (a private temporary file renamed over it): a running instance
 * re-reading it sees the old ring or the new one, never half of one.
 */
export function writeKeyFile(path: string, keys: readonly Buffer[], note = ''): void {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, formatKeyFile(keys, note));
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
}

/** The key to use: `encryptionKey` (from TOKEN_ENCRYPTION_KEY) when set, else the key file's active key. */
export function resolveEncryptionKey(options: {
  encryptionKey?: string | undefined;
  keyFile: string;
}): Buffer {
  if (options.encryptionKey !== undefined) return parseEncryptionKey(options.encryptionKey);
  return loadOrCreateKeyFile(options.keyFile);
}
