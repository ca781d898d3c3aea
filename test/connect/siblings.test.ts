/**
 * A reconnect heals the whole login: every sibling Page is re-minted from the new token, a Page the
 * person did not tick in Facebook's Page list comes back named (on the result page and in an
 * alert), and a Page the login can newly post to is offered as "available to add".
 */
import { describe, expect, it } from 'vitest';
import { DAY, HOUR } from '../../src/clock.js';
import { buildApp } from '../../src/http/app.js';
import { reconnectUrl, registerConnectRoutes } from '../../src/http/connect.js';
import { silentLogger } from '../../src/logger.js';
import { testBackends } from '../helpers/backends.js';
import { withKeeper } from '../helpers/keeper.js';
import { answerDialog, callback, openLink } from './flow.js';

describe.each(testBackends())('reconnecting a login on %s', (backend) => {
  it('re-mints every sibling; an unticked Page is named in the result and the alert; a new Page is available to add', async () => {
    await withKeeper(
      backend,
      async (w) => {
        const user = w.graph.createUser({ name: 'Agency admin' });
        const [a, b, c] = ['Bakery', 'Florist', 'Garage'].map((name) => {
          const page = w.graph.createPage({ name });
          w.graph.grantRole(user.id, page.id);
          return page.id;
        }) as [string, string, string];
        const token = w.graph.issueUserToken({ appId: w.app.appId, userId: user.id, lifetime: 'long' });
        const set = await w.keeper.connect({ accessToken: token, ...w.app });
        expect(set.pages).toHaveLength(3);
        const before = new Map<string, string>();
        for (const id of [a, b, c]) before.set(id, await w.keeper.getPageToken(id));

        // The admin changes their password; later the login also gets a role on a fourth Page.
        w.graph.changePassword(user.id);
        const d = w.graph.createPage({ name: 'Dentist' }).id;
        w.graph.grantRole(user.id, d);
        w.clock.advance(7 * HOUR);
        await w.keeper.runRound();
        for (const id of [a, b, c]) expect((await w.keeper.status(id)).state).toBe('needs_reauth');

        const app = await buildApp({
          config: w.keeper.config,
          keeper: w.keeper,
          store: w.store,
          clock: w.clock,
          logger: silentLogger,
          extraRoutes: (x) =>
            registerConnectRoutes(x, {
              config: w.keeper.config,
              keeper: w.keeper,
              store: w.store,
              clock: w.clock,
              logger: silentLogger,
              linkSecret: w.keeper.linkSecret,
            }),
        });
        try {
          const started = await openLink(
            app,
            reconnectUrl(w.keeper.config, a, w.clock.now(), w.keeper.linkSecret),
          );
          w.graph.setDialogUser(user.id);
          // The dialog asks again which Pages to share (auth_type=rerequest); the person unticks the Garage.
          const back = await answerDialog(started.location, { userId: user.id, untickPages: [c] });
          const done = await callback(app, back, started.cookie);
          expect(done.status).toBe(200);
          const text = done.body.replace(/&quot;/g, '"');
          expect(text).toContain(`The other Pages of this login got a new token too: "Florist" (${b})`);
          expect(text).toContain(`Not connected: Page "Garage" (${c}) was not ticked`);
          expect(text).toContain(
            `Available to add (this login can post to them, they are not kept yet): "Dentist" (${d})`,
          );
        } finally {
          await app.close();
        }

        for (const id of [a, b]) {
          const fresh = await w.keeper.getPageToken(id);
          expect(fresh).not.toBe(before.get(id));
          expect(w.graph.tokenStatus(fresh).valid).toBe(true);
          expect((await w.keeper.status(id)).state).toBe('healthy');
        }
        // Never silently dropped: still kept, still asking for a person, and an alert names it.
        expect((await w.keeper.status(c)).state).toBe('needs_reauth');
        const alerts = (await w.store.dueAlertDeliveries(w.clock.now() + DAY, 100)).filter(
          (x) => x.kind === 'needs_reauth' && Array.isArray(x.payload.page_ids),
        );
        const notGranted = alerts.find((x) => x.dedupeKey.includes(':not_granted:'));
        expect(notGranted?.payload.page_ids).toEqual([c]);
        expect(String(notGranted?.payload.message)).toContain(`Page "Garage" (${c}) was not ticked`);
        expect(String(notGranted?.payload.reconnect_url)).toMatch(/\/connect\/\d+\?exp=/);

        const detail = await w.keeper.getConnection(set.connection.id);
        expect(detail.available_to_add).toEqual([{ page_id: d, name: 'Dentist' }]);
      },
      { env: { PUBLIC_URL: 'https://keeper.example.com', WEBHOOK_URLS: 'http://127.0.0.1:9/hook' } },
    );
  });
});
