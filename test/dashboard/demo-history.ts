/**
 * Months of history for the dashboard's screenshots, made the honest way: the real keeper runs its
 * real check rounds against the emulator while a shared clock is wound forward from the past to
 * now (like `simulate`), writing to the SQLite file `serve` will open afterwards.
 *
 * What happens to "Harbour Café" (set up with a 60-day system-user token, as Business Manager
 * makes with `set_token_expires_in_60_days`): its Page token never expires; the system-user token
 * is renewed each time it gets within 50 days of expiry; on day 37 Facebook invalidates the Page
 * token and the keeper mints a new one by itself; on day 64 (between a renewal and the revoke of the token it replaced) Facebook answers with errors for a
 * while and the keeper backs off and recovers. "Northside Books" is a long-lived user token set up
 * 20 days ago.
 */
import { DAY, HOUR } from '../../src/clock.js';
import type { FakeGraph } from '../../src/fake-graph/index.js';
import { createTokenKeeper } from '../../src/lifecycle/keeper.js';
import { silentLogger } from '../../src/logger.js';

export interface OffsetClock {
  now(): number;
  /** Milliseconds added to the real time (negative = the past). */
  offset: number;
}

export function offsetClock(): OffsetClock {
  const c = { offset: 0, now: () => Date.now() + c.offset };
  return c;
}

export async function seedDemoHistory(
  graph: FakeGraph,
  clock: OffsetClock,
  env: Record<string, string>,
  days = 95,
): Promise<{ pageIds: string[] }> {
  clock.offset = -days * DAY;
  const keeper = await createTokenKeeper({
    env,
    clock,
    logger: silentLogger,
    random: () => 0.5,
    create: true,
  });
  try {
    const app = graph.createApp({ name: 'Harbour publishing' });
    const cafe = graph.createPage({ name: 'Harbour Café' });
    const systemUser = graph.createSystemUser({ appId: app.appId, pages: [cafe.id], name: 'Publishing bot' });
    const systemToken = graph.issueSystemUserToken({
      appId: app.appId,
      systemUserId: systemUser.id,
      expiring: true,
    });
    await keeper.setup({
      pageId: cafe.id,
      appId: app.appId,
      appSecret: app.appSecret,
      accessToken: systemToken,
    });

    const step = 6 * HOUR;
    for (let t = 0; t < days * DAY; t += step) {
      if (t === 37 * DAY) graph.invalidateToken(await keeper.getPageToken(cafe.id), 467);
      if (t === 64 * DAY) graph.injectFault({ kind: 'http_500', times: 2 });
      if (t === (days - 20) * DAY) {
        const books = graph.createPage({ name: 'Northside Books' });
        const owner = graph.createUser({ name: 'Sam (owner)' });
        graph.grantRole(owner.id, books.id);
        const userToken = graph.issueUserToken({ appId: app.appId, userId: owner.id, lifetime: 'long' });
        await keeper.setup({
          pageId: books.id,
          appId: app.appId,
          appSecret: app.appSecret,
          accessToken: userToken,
        });
      }
      clock.offset = -days * DAY + t;
      await keeper.runRound();
    }
    clock.offset = 0;
    await keeper.runRound();
    return { pageIds: (await keeper.listPages()).map((p) => p.page_id) };
  } finally {
    clock.offset = 0;
    await keeper.close();
  }
}
