/**
 * A lease the database refused to give back (a full disk, a cut connection) must not hide its
 * Page from this process once the database takes writes again: before, the Page waited out the
 * lease's 2 minutes, which a disk-full outage in the reliability tests met as "no page checked
 * 30 s after space was freed". The refusal is real: a trigger in the database itself.
 */
import { describe, expect, it } from 'vitest';
import { MINUTE, SECOND } from '../../src/clock.js';
import { testBackends } from '../helpers/backends.js';
import { withKeeper, type KeeperWorld } from '../helpers/keeper.js';

/** Every write that gives a page's lease back fails, as on a full disk. */
async function refuseReleases(w: KeeperWorld): Promise<() => Promise<void>> {
  if (w.db.backend === 'sqlite') {
    await w.db.query(
      `create trigger refuse_release before update on pages
       when new.lease_owner is null and old.lease_owner is not null
       begin select raise(abort, 'database or disk is full'); end`,
    );
    return async () => {
      await w.db.query('drop trigger refuse_release');
    };
  }
  await w.db.query(
    `create function refuse_release() returns trigger language plpgsql as $$
     begin raise exception 'could not extend file: No space left on device' using errcode = '53100'; end $$`,
  );
  await w.db.query(
    `create trigger refuse_release before update on pages for each row
     when (new.lease_owner is null and old.lease_owner is not null) execute function refuse_release()`,
  );
  return async () => {
    await w.db.query('drop trigger refuse_release on pages');
    await w.db.query('drop function refuse_release()');
  };
}

describe.each(testBackends())('lease release refused on %s', (backend) => {
  it('a Page whose lease could not be given back is checked at the next round once writes succeed', async () => {
    await withKeeper(backend, async (w) => {
      const { userId, pageId } = w.newPage('Bakery');
      await w.keeper.setup({
        pageId,
        accessToken: w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'long' }),
        appId: w.app.appId,
        appSecret: w.app.appSecret,
      });
      const set = (await w.store.getPage(pageId))!;
      w.clock.set(set.nextCheckAt! + SECOND);

      const allow = await refuseReleases(w);
      await w.keeper.runRound();
      const during = (await w.store.getPage(pageId))!;
      // The check's save and the lease's release were both refused: nothing changed but the lease.
      expect(during.lastCheckedAt).toBe(set.lastCheckedAt);
      expect(during.leaseOwner).not.toBeNull();

      await allow();
      // Well inside the lease's 2 minutes.
      w.clock.advance(MINUTE);
      await w.keeper.runRound();
      const after = (await w.store.getPage(pageId))!;
      expect(after.lastCheckedAt).toBe(w.clock.now());
      expect(after.leaseOwner).toBeNull();
      expect(after.state).toBe('healthy');
    });
  });
});
