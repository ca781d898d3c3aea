import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  generateKey,
  loadOrCreateKeyFile,
  parseEncryptionKey,
  resolveEncryptionKey,
} from '../../src/crypto/keys.js';
import { keyIdOf } from '../../src/crypto/secret-box.js';
import { thrown } from '../helpers/errors.js';

describe('parseEncryptionKey', () => {
  it('accepts base64 of exactly 32 bytes (standard, unpadded or URL-safe)', () => {
    const key = randomBytes(32);
    expect(parseEncryptionKey(key.toString('base64')).equals(key)).toBe(true);
    expect(parseEncryptionKey(`  ${key.toString('base64')}\n`).equals(key)).toBe(true);
    expect(parseEncryptionKey(key.toString('base64').replace(/=+$/, '')).equals(key)).toBe(true);
    expect(parseEncryptionKey(key.toString('base64url')).equals(key)).toBe(true);
  });

  it.each([16, 31, 33, 64])('rejects %i bytes, naming the variable and the length', (n) => {
    const err = thrown(() => parseEncryptionKey(randomBytes(n).toString('base64')));
    expect(err.code).toBe('encryption_key_invalid');
    expect(err.message).toContain(`TOKEN_ENCRYPTION_KEY must be base64 of exactly 32 bytes (got ${n} bytes)`);
  });

  it.each(['', 'not base64 at all!', `${randomBytes(32).toString('hex')}#`, 'abc$def'])(
    'rejects non-base64 %j, naming the variable',
    (value) => {
      const err = thrown(() => parseEncryptionKey(value));
      expect(err.code).toBe('encryption_key_invalid');
      expect(err.message).toMatch(/^TOKEN_ENCRYPTION_KEY must be base64 of exactly 32 bytes/);
    },
  );

  it('never echoes the value in the message', () => {
    const value = randomBytes(20).toString('base64');
    expect(thrown(() => parseEncryptionKey(value)).message).not.toContain(value);
  });
});

describe('key file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fbtk-keys-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is created on first run (with its folder) with mode 0600, then read back', () => {
    const path = join(dir, 'nested', 'data', 'encryption.key');
    const key = loadOrCreateKeyFile(path);
    expect(key.length).toBe(32);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toContain(`${key.toString('base64')}  # ${keyIdOf(key)} (active)`);
    expect(loadOrCreateKeyFile(path).equals(key)).toBe(true);
  });

  it('is refused when group or others can read it', () => {
    const path = join(dir, 'encryption.key');
    loadOrCreateKeyFile(path);
    chmodSync(path, 0o644);
    const err = thrown(() => loadOrCreateKeyFile(path));
    expect(err.code).toBe('encryption_key_invalid');
    expect(err.message).toContain('chmod 600');
  });

  it('is refused when its content is not a 32-byte key', () => {
    const path = join(dir, 'encryption.key');
    writeFileSync(path, 'short\n', { mode: 0o600 });
    const err = thrown(() => loadOrCreateKeyFile(path));
    expect(err.code).toBe('encryption_key_invalid');
    expect(err.message).toContain(path);
  });
});

describe('resolveEncryptionKey', () => {
  it('prefers TOKEN_ENCRYPTION_KEY, else uses (or creates) the key file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fbtk-keys-'));
    try {
      const keyFile = join(dir, 'encryption.key');
      const envKey = generateKey();
      expect(resolveEncryptionKey({ encryptionKey: envKey.toString('base64'), keyFile }).equals(envKey)).toBe(
        true,
      );
      expect(() => statSync(keyFile)).toThrow();
      const fileKey = resolveEncryptionKey({ encryptionKey: undefined, keyFile });
      expect(resolveEncryptionKey({ keyFile }).equals(fileKey)).toBe(true);
      expect(thrown(() => resolveEncryptionKey({ encryptionKey: 'too-short', keyFile })).code).toBe(
        'encryption_key_invalid',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('generateKey gives 32 random bytes', () => {
    expect(generateKey().length).toBe(32);
    expect(generateKey().equals(generateKey())).toBe(false);
  });
});
