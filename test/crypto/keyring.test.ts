/**
 * The keyring as a running instance sees it: a key file rewritten by rotate-key is picked up
 * without a restart, an unknown key id is reported with the source and the real fix, faults are
 * remembered until the value opens, and the environment forms parse as documented.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openKeyring } from '../../src/crypto/keyring.js';
import { generateKey, loadKeys, parseKeyList, writeKeyFile } from '../../src/crypto/keys.js';
import { createSecretBox, keyIdOf } from '../../src/crypto/secret-box.js';
import { thrown } from '../helpers/errors.js';

const AAD = 'page:1:posting_token';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fbtk-ring-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('key lists', () => {
  it('TOKEN_ENCRYPTION_KEYS is comma-separated, active first; a key file is one per line with comments', () => {
    const [a, b] = [generateKey(), generateKey()];
    const env = parseKeyList(`${a.toString('base64')}, ${b.toString('base64')}`, 'TOKEN_ENCRYPTION_KEYS');
    expect(env.map(keyIdOf)).toEqual([keyIdOf(a), keyIdOf(b)]);
    const file = parseKeyList(
      `# ring\n${b.toString('base64')}  # active\n\n${a.toString('base64')}\n`,
      'key file f',
    );
    expect(file.map(keyIdOf)).toEqual([keyIdOf(b), keyIdOf(a)]);
  });

  it('names the position of a bad key, never its value', () => {
    const bad = 'c2hvcnQ=';
    const err = thrown(() =>
      parseKeyList(`${generateKey().toString('base64')},${bad}`, 'TOKEN_ENCRYPTION_KEYS'),
    );
    expect(err.code).toBe('encryption_key_invalid');
    expect(err.message).toContain('TOKEN_ENCRYPTION_KEYS (key 2)');
    expect(err.message).not.toContain(bad);
  });

  it('a missing key file is created only when asked, never by a reader', () => {
    const path = join(dir, 'sub', 'encryption.key');
    const err = thrown(() => loadKeys({ kind: 'file', path }, { create: false }));
    expect(err.code).toBe('encryption_key_missing');
    expect(err.message).toContain(path);
    expect(existsSync(path)).toBe(false);
    expect(loadKeys({ kind: 'file', path }, { create: true }).keys).toHaveLength(1);
  });
});

describe('a live keyring', () => {
  it('re-reads a rewritten key file when an envelope names a key it lacks, and then seals with the new active key', () => {
    const path = join(dir, 'encryption.key');
    const old = generateKey();
    writeKeyFile(path, [old]);
    let now = 0;
    const ring = openKeyring({ kind: 'file', path }, { create: false, now: () => now });
    const box = createSecretBox(ring);
    expect(box.keyId).toBe(keyIdOf(old));

    // Another process (rotate-key) adds a key and seals with it.
    const next = generateKey();
    writeKeyFile(path, [next, old]);
    const sealedElsewhere = createSecretBox({ current: next, previous: [old] }).seal('TOKEN', AAD);
    expect(box.open(sealedElsewhere, AAD)).toBe('TOKEN');
    expect(box.keyIds).toEqual([keyIdOf(next), keyIdOf(old)]);
    now += 2000;
    expect(box.seal('x', AAD).split('.')[1]).toBe(keyIdOf(next));
  });

  it('an unknown key id names the source and the real fix, and is remembered as a fault until the value opens', () => {
    const path = join(dir, 'encryption.key');
    writeKeyFile(path, [generateKey()]);
    let now = 0;
    const box = createSecretBox(openKeyring({ kind: 'file', path }, { create: false, now: () => now }));
    const other = generateKey();
    const sealed = createSecretBox({ current: other }).seal('TOKEN', AAD);
    const err = thrown(() => box.open(sealed, AAD));
    expect(err.code).toBe('encryption_key_unknown');
    expect(err.status).toBe(503);
    expect(err.message).toContain(`key ${keyIdOf(other)}`);
    expect(err.message).toContain(`key file ${path} does not hold`);
    expect(err.message).not.toContain('set TOKEN_ENCRYPTION_KEY');
    expect(err.message).not.toContain(other.toString('base64'));
    expect([...box.faults().keys()]).toEqual([AAD]);

    // The operator restores the key: the next open succeeds and the fault is gone.
    writeKeyFile(path, [generateKey(), other]);
    now += 10_000;
    expect(box.open(sealed, AAD)).toBe('TOKEN');
    expect(box.faults().size).toBe(0);
  });

  it('an environment keyring says to set TOKEN_ENCRYPTION_KEYS on every instance', () => {
    const ring = openKeyring(
      { kind: 'env', variable: 'TOKEN_ENCRYPTION_KEY', value: generateKey().toString('base64') },
      { create: false },
    );
    const sealed = createSecretBox({ current: generateKey() }).seal('TOKEN', AAD);
    const err = thrown(() => createSecretBox(ring).open(sealed, AAD));
    expect(err.message).toContain('TOKEN_ENCRYPTION_KEY does not hold');
    expect(err.message).toContain('TOKEN_ENCRYPTION_KEYS');
    expect(err.message).toContain('every instance');
  });

  it('keeps the keys it has when the file is caught unreadable', () => {
    const path = join(dir, 'encryption.key');
    const key = generateKey();
    writeKeyFile(path, [key]);
    let now = 0;
    const box = createSecretBox(openKeyring({ kind: 'file', path }, { create: false, now: () => now }));
    const sealed = box.seal('TOKEN', AAD);
    writeFileSync(path, 'half-written');
    chmodSync(path, 0o600);
    now += 10_000;
    expect(box.seal('again', AAD).split('.')[1]).toBe(keyIdOf(key));
    expect(box.open(sealed, AAD)).toBe('TOKEN');
  });
});
