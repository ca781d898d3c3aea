import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createSecretBox, keyIdOf } from '../../src/crypto/secret-box.js';
import { AppError } from '../../src/errors.js';
import type { Store } from '../../src/store/types.js';
import { TEST_KEY, type TestDatabase, testBackends, withStore } from '../helpers/backends.js';
import { T0, event, newPage, secretsFor } from './fixtures/pages.js';

/** Everything the database holds, as text: the SQLite file and its WAL, or every PostgreSQL row. */
async function rawDatabase(db: TestDatabase): Promise<string> {
  if (db.file) {
    return [db.file, `${db.file}-wal`]
      .filter((f) => existsSync(f))
      .map((f) => readFileSync(f).toString('latin1'))
      .join('\n');
  }
  const tables = ['pages', 'apps', 'connections', 'events', 'api_keys', 'alert_deliveries', 'alert_keys'];
  const dumps = await Promise.all(
    tables.map(async (t) => JSON.stringify(await db.query(`select * from ${t}`))),
  );
  return dumps.join('\n');
}

async function decryptionError(p: Promise<unknown>, code = 'decryption_failed'): Promise<AppError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe(code);
  return error as AppError;
}

/** Each Page with its own app and login, so each holds three secrets of its own. */
async function seed(store: Store, ids: string[]): Promise<void> {
  for (const id of ids) {
    const page = newPage(id, { appId: `app-${id}` });
    await store.savePage({ ...page, source: { ...page.source!, userId: `user-${id}` } }, secretsFor(id), [
      event(id, T0, { type: 'setup' }),
    ]);
  }
}

describe.each(testBackends())('secrets at rest on %s', (backend) => {
  it('never stores a token or app secret in plaintext', async () => {
    await withStore(backend, async (store, db) => {
      await seed(store, ['p1', 'p2']);
      await store.updatePage(
        'p1',
        { state: 'healthy' },
        { secrets: { postingToken: 'EAAROTATEDpostingTOKEN999' } },
      );
      const raw = await rawDatabase(db);
      expect(raw).toContain('Page p1'); // the dump does contain the rows
      for (const secret of [
        ...Object.values(secretsFor('p1')),
        ...Object.values(secretsFor('p2')),
        'EAAROTATEDpostingTOKEN999',
      ]) {
        expect(raw).not.toContain(secret);
      }
      const [row] = await db.query('select posting_token_enc from pages where page_id = ?', ['p1']);
      expect(row!.posting_token_enc).toMatch(new RegExp(`^v1\\.${keyIdOf(TEST_KEY)}\\.`));
    });
  });

  it('refuses a ciphertext copied to another page row', async () => {
    await withStore(backend, async (store, db) => {
      await seed(store, ['A', 'B']);
      await db.query(
        `update pages set posting_token_enc = (select posting_token_enc from pages where page_id = 'A') where page_id = 'B'`,
      );
      const err = await decryptionError(store.getSecrets('B'));
      expect(err.message).toContain('authentication failed');
      expect(err.message).not.toContain(secretsFor('A').postingToken);
      expect((await store.getSecrets('A'))!.postingToken).toBe(secretsFor('A').postingToken);
    });
  });

  it('refuses a ciphertext moved to another field of the same row', async () => {
    await withStore(backend, async (store, db) => {
      await seed(store, ['A']);
      await db.query(
        `update apps set app_secret_enc = (select posting_token_enc from pages where page_id = 'A') where app_id = 'app-A'`,
      );
      await decryptionError(store.getSecrets('A'));
    });
  });

  it('refuses a tampered ciphertext', async () => {
    await withStore(backend, async (store, db) => {
      await seed(store, ['A']);
      const [row] = await db.query(`select posting_token_enc from pages where page_id = 'A'`);
      const parts = String(row!.posting_token_enc).split('.');
      const ciphertext = Buffer.from(parts[3]!, 'base64url');
      ciphertext[0]! ^= 0x01;
      parts[3] = ciphertext.toString('base64url');
      await db.query(`update pages set posting_token_enc = ? where page_id = 'A'`, [parts.join('.')]);
      expect((await decryptionError(store.getSecrets('A'))).message).toContain('authentication failed');
    });
  });

  it('tells which keys seal what (per key id and field, counts, where) without decrypting', async () => {
    await withStore(backend, async (store, db) => {
      await seed(store, ['p1', 'p2', 'p3']);
      const newKey = randomBytes(32);
      const ring = await db.openStore(createSecretBox({ current: newKey, previous: [TEST_KEY] }));
      // p2's posting token renewed under the new key; everything else still under the test key.
      await ring.updatePage('p2', {}, { secrets: { postingToken: 'renewed-token' } });
      const usage = await store.sealedKeyUsage();
      const count = (keyId: string, field: string) =>
        usage.filter((u) => u.keyId === keyId && u.field === field).reduce((n, u) => n + u.count, 0);
      expect(count(keyIdOf(TEST_KEY), 'app_secret')).toBe(3);
      expect(count(keyIdOf(TEST_KEY), 'posting_token')).toBe(2);
      expect(count(keyIdOf(newKey), 'posting_token')).toBe(1);
      expect(count(keyIdOf(TEST_KEY), 'source_token')).toBe(3);
      expect(usage.find((u) => u.keyId === keyIdOf(newKey))?.samplePageId).toBe('p2');
      expect(await store.pagesSealedWith(keyIdOf(newKey), 10)).toEqual([
        { pageId: 'p2', fields: ['posting_token'] },
      ]);
      expect((await store.pagesSealedWith(keyIdOf(TEST_KEY), 2)).map((p) => p.pageId)).toEqual(['p1', 'p2']);
      expect(await store.pagesSealedWith('00000000', 10)).toEqual([]);
    });
  });

  it('rotates keys: after resealAll only the new key opens anything', async () => {
    await withStore(backend, async (store, db) => {
      await seed(store, ['p1', 'p2']);
      await store.updatePage('p2', { source: null }, { secrets: { sourceToken: null } });
      const newKey = randomBytes(32);

      const rotating = await db.openStore(createSecretBox({ current: newKey, previous: [TEST_KEY] }));
      expect(await rotating.resealAll()).toEqual({ resealed: 5 });

      const newOnly = await db.openStore(createSecretBox({ current: newKey }));
      expect(await newOnly.getSecrets('p1')).toEqual(secretsFor('p1'));
      expect(await newOnly.getSecrets('p2')).toEqual({ ...secretsFor('p2'), sourceToken: null });

      const oldOnly = await db.openStore(createSecretBox({ current: TEST_KEY }));
      for (const id of ['p1', 'p2']) {
        const err = await decryptionError(oldOnly.getSecrets(id), 'encryption_key_unknown');
        expect(err.message).toContain(keyIdOf(newKey));
        expect(err.message).toContain('does not hold');
      }
      for (const row of [
        ...(await db.query('select posting_token_enc from pages')),
        ...(await db.query('select app_secret_enc from apps')),
        ...(await db.query('select source_token_enc from connections')),
      ]) {
        for (const value of Object.values(row)) {
          if (value !== null) expect((value as string).split('.')[1]).toBe(keyIdOf(newKey));
        }
      }
    });
  });
});
