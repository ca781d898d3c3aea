import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSecretBox, keyIdOf } from '../../src/crypto/secret-box.js';
import { thrown } from '../helpers/errors.js';

const oldKey = randomBytes(32);
const newKey = randomBytes(32);
const AAD = 'page:123:posting_token';
const TOKEN = 'EAABsecretTOKENvalue';

/** Flip one bit of one envelope part (1 = key id … 4 = tag). */
function tamper(envelope: string, part: number): string {
  const parts = envelope.split('.');
  const bytes = Buffer.from(parts[part]!, 'base64url');
  bytes[0]! ^= 1;
  parts[part] = bytes.toString('base64url');
  return parts.join('.');
}

describe('secret box', () => {
  it('round-trips text, including empty and non-ASCII', () => {
    const box = createSecretBox({ current: newKey });
    for (const text of [TOKEN, '', 'ünïcødé ✓ 🔑', 'x'.repeat(5000)]) {
      expect(box.open(box.seal(text, AAD), AAD)).toBe(text);
    }
  });

  it('writes a v1 envelope naming its key, with a fresh nonce each time', () => {
    const box = createSecretBox({ current: newKey });
    const keyId = createHash('sha256').update(newKey).digest('hex').slice(0, 8);
    expect(box.keyId).toBe(keyId);
    expect(keyIdOf(newKey)).toBe(keyId);
    const a = box.seal(TOKEN, AAD);
    const b = box.seal(TOKEN, AAD);
    expect(a).toMatch(new RegExp(`^v1\\.${keyId}\\.[A-Za-z0-9_-]{16}\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]{22}$`));
    expect(a).not.toBe(b);
    expect(a).not.toContain(TOKEN);
  });

  it.each([
    ['nonce', 2],
    ['ciphertext', 3],
    ['tag', 4],
  ])('refuses a tampered %s: authentication failed', (_name, part) => {
    const box = createSecretBox({ current: newKey });
    const err = thrown(() => box.open(tamper(box.seal(TOKEN, AAD), part), AAD));
    expect(err.code).toBe('decryption_failed');
    expect(err.message).toContain('authentication failed');
  });

  it('refuses a value opened with another AAD (copied to another row or field)', () => {
    const box = createSecretBox({ current: newKey });
    const sealed = box.seal(TOKEN, AAD);
    for (const other of ['page:124:posting_token', 'page:123:source_token']) {
      const err = thrown(() => box.open(sealed, other));
      expect(err.code).toBe('decryption_failed');
      expect(err.message).toContain('authentication failed');
    }
  });

  it('refuses a value sealed with a key it does not hold, naming the key id it needs', () => {
    const sealed = createSecretBox({ current: oldKey }).seal(TOKEN, AAD);
    const err = thrown(() => createSecretBox({ current: newKey }).open(sealed, AAD));
    expect(err.code).toBe('encryption_key_unknown');
    expect(err.message).toContain(keyIdOf(oldKey));
    expect(err.message).toContain('does not hold');
  });

  it('refuses a value whose key id was altered to a loaded key (still authenticated by that key)', () => {
    const box = createSecretBox({ current: newKey, previous: [oldKey] });
    const sealed = createSecretBox({ current: oldKey }).seal(TOKEN, AAD);
    const relabelled = sealed.replace(`.${keyIdOf(oldKey)}.`, `.${keyIdOf(newKey)}.`);
    expect(thrown(() => box.open(relabelled, AAD)).message).toContain('authentication failed');
  });

  it('opens with any key in the ring and seals with the current one', () => {
    const old = createSecretBox({ current: oldKey });
    const ring = createSecretBox({ current: newKey, previous: [oldKey] });
    expect(ring.keyIds).toEqual([keyIdOf(newKey), keyIdOf(oldKey)]);
    expect(ring.open(old.seal(TOKEN, AAD), AAD)).toBe(TOKEN);
    const resealed = ring.seal(TOKEN, AAD);
    expect(resealed.split('.')[1]).toBe(keyIdOf(newKey));
    expect(createSecretBox({ current: newKey }).open(resealed, AAD)).toBe(TOKEN);
  });

  it('refuses garbage that is not an envelope', () => {
    const box = createSecretBox({ current: newKey });
    for (const junk of [
      '',
      TOKEN,
      'v2.abcdef01.a.b.c',
      'v1.abcdef01.a.b',
      'v1.ABCDEF01.AAAA.AAAA.AAAA',
      'v1.abcdef01.!!.a.b',
    ]) {
      expect(thrown(() => box.open(junk, AAD)).code).toBe('decryption_failed');
    }
  });

  it('never puts the plaintext or key material in error messages', () => {
    const box = createSecretBox({ current: newKey, previous: [oldKey] });
    const sealed = box.seal(TOKEN, AAD);
    const errors = [
      thrown(() => box.open(tamper(sealed, 3), AAD)),
      thrown(() => box.open(sealed, 'page:9:posting_token')),
      thrown(() => createSecretBox({ current: randomBytes(32) }).open(sealed, AAD)),
    ];
    for (const err of errors) {
      const text = `${err.message} ${JSON.stringify(err.details)}`;
      for (const secret of [
        TOKEN,
        newKey.toString('base64'),
        newKey.toString('hex'),
        oldKey.toString('base64'),
        oldKey.toString('hex'),
      ]) {
        expect(text).not.toContain(secret);
      }
    }
  });

  it('rejects keys that are not 32 bytes', () => {
    const err = thrown(() => createSecretBox({ current: randomBytes(16) }));
    expect(err.code).toBe('encryption_key_invalid');
    expect(err.message).toContain('got 16 bytes');
    expect(thrown(() => createSecretBox({ current: newKey, previous: [randomBytes(31)] })).code).toBe(
      'encryption_key_invalid',
    );
  });
});
