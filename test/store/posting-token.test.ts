/**
 * `Store.getPostingToken`, what `GET /api/pages/{id}/token` reads on every call: the row is read
 * every time and an opened token is reused only for the very ciphertext it came from, so a token
 * stored by a rotation — through this store or through another instance's on the same database —
 * is the next answer, without the clock moving; a ciphertext that does not belong to the row
 * still fails to open.
 */
import { describe, expect, it } from 'vitest';
import { testBackends, withStore } from '../helpers/backends.js';
import { newPage, secretsFor } from './fixtures/pages.js';

describe.each(testBackends())('the posting token read on %s', (backend) => {
  it('answers the stored token, a rotated one at once (here or from another instance), null when gone', async () => {
    await withStore(backend, async (store, db) => {
      await store.savePage(newPage('p1'), secretsFor('p1'));
      expect(await store.getPostingToken('p1')).toBe(secretsFor('p1').postingToken);
      expect(await store.getPostingToken('p1')).toBe(secretsFor('p1').postingToken);
      expect(await store.getPostingToken('nope')).toBeNull();

      // A rotation through this store.
      await store.updatePage('p1', {}, { secrets: { postingToken: 'EAArotated-here' } });
      expect(await store.getPostingToken('p1')).toBe('EAArotated-here');

      // A rotation by another instance on the same database: seen by the next read.
      const other = await db.openStore();
      await other.updatePage('p1', {}, { secrets: { postingToken: 'EAArotated-there' } });
      expect(await store.getPostingToken('p1')).toBe('EAArotated-there');
      // A set-up again elsewhere, even with a token seen before, is a new ciphertext: read as stored.
      await other.savePage(newPage('p1'), secretsFor('p1'));
      expect(await store.getPostingToken('p1')).toBe(secretsFor('p1').postingToken);

      await other.deletePage('p1');
      expect(await store.getPostingToken('p1')).toBeNull();
    });
  });

  it('refuses a ciphertext moved into the row from another page, even right after reading the row', async () => {
    await withStore(backend, async (store, db) => {
      await store.savePage(newPage('p1'), secretsFor('p1'));
      await store.savePage(newPage('p2'), secretsFor('p2'));
      expect(await store.getPostingToken('p1')).toBe(secretsFor('p1').postingToken);
      expect(await store.getPostingToken('p2')).toBe(secretsFor('p2').postingToken);
      const [row] = await db.query('select posting_token_enc from pages where page_id = ?', ['p2']);
      await db.query('update pages set posting_token_enc = ? where page_id = ?', [
        row?.posting_token_enc,
        'p1',
      ]);
      const err = await store.getPostingToken('p1').catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'decryption_failed' });
    });
  });
});
