/**
 * A dashboard world for `app.inject` tests: the real keeper (real SQLite file, real Graph client
 * over HTTP to the emulator, a manual clock), `buildApp` with the dashboard registered the way
 * `service.ts` does it, API keys, and a tiny cookie-keeping "browser".
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { createManualClock, type ManualClock } from '../../src/clock.js';
import { type Config, loadConfig } from '../../src/config.js';
import { registerDashboard } from '../../src/dashboard/routes.js';
import { type FakeGraph, startFakeGraph } from '../../src/fake-graph/index.js';
import { buildApp } from '../../src/http/app.js';
import { registerConnectRoutes } from '../../src/http/connect.js';
import { createApiKey } from '../../src/http/auth.js';
import { createTokenKeeper, type KeeperInternals } from '../../src/lifecycle/keeper.js';
import { silentLogger } from '../../src/logger.js';
import type { Store } from '../../src/store/types.js';
import { type Backend, withStore } from '../helpers/backends.js';

export const REFERENCE_TIME = Date.parse('2027-01-01T00:00:00Z');

export interface Browser {
  cookies: Map<string, string>;
  get(url: string): Promise<LightMyRequestResponse>;
  /** A form post (application/x-www-form-urlencoded). */
  post(url: string, form: Record<string, string>): Promise<LightMyRequestResponse>;
  /** Sign in with `key` (reads the form's CSRF token first); returns the session's CSRF token. */
  signIn(key: string): Promise<string>;
}

export interface DashboardWorld {
  app: FastifyInstance;
  keeper: KeeperInternals;
  store: Store;
  graph: FakeGraph;
  clock: ManualClock;
  config: Config;
  fbApp: { appId: string; appSecret: string; name: string };
  keys: { admin: string; reader: string };
  /** Every response body seen by any browser of this world, to look for leaked secrets. */
  bodies: string[];
  browser(): Browser;
  /** A page on the emulator with an admin user and a user token for the test app. */
  newFacebookPage(
    name?: string,
    lifetime?: 'short' | 'long',
  ): { pageId: string; userId: string; token: string };
}

/** The value of `name="_csrf"` in a form of this HTML (the last one, after sign-out's). */
export function csrfOf(body: string): string {
  const all = [...body.matchAll(/name="_csrf" value="([^"]+)"/g)];
  const m = all[all.length - 1];
  if (!m) throw new Error('no CSRF field in the page');
  return m[1]!;
}

export async function withDashboard(
  fn: (w: DashboardWorld) => Promise<void>,
  env: Record<string, string> = {},
  backend: Backend = 'sqlite',
): Promise<void> {
  const clock = createManualClock(REFERENCE_TIME);
  const graph = await startFakeGraph({ clock });
  try {
    await withStore(backend, async (store) => {
      const config = loadConfig({
        DATABASE_URL: 'sqlite::memory:',
        TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        GRAPH_API_URL: graph.url,
        FACEBOOK_DIALOG_URL: graph.url,
        // The emulator's Instagram-Login and Threads hosts (their dialogs too).
        INSTAGRAM_API_URL: graph.instagramUrl,
        INSTAGRAM_OAUTH_URL: graph.instagramUrl,
        INSTAGRAM_DIALOG_URL: graph.instagramUrl,
        THREADS_API_URL: graph.threadsUrl,
        THREADS_DIALOG_URL: graph.threadsUrl,
        PUBLIC_URL: 'http://keeper.test',
        ...env,
      });
      const logger = silentLogger;
      const keeper = await createTokenKeeper({ config, store, clock, logger, random: () => 0.5 });
      const app = await buildApp({
        config,
        keeper,
        store,
        clock,
        logger,
        checkResponses: true,
        // As service.ts registers them: the reconnect routes, then the dashboard.
        extraRoutes: async (a) => {
          await registerConnectRoutes(a, {
            config,
            keeper,
            store,
            clock,
            logger,
            linkSecret: keeper.linkSecret,
          });
          await registerDashboard(a, { config, keeper, store, clock, logger, signInLimit: { max: 5 } });
        },
      });
      const fbApp = graph.createApp({ name: 'Test app' });
      const admin = (await createApiKey(store, { name: 'admin', scopes: ['admin'], clock })).key;
      const reader = (await createApiKey(store, { name: 'poster', scopes: ['token:read'], clock })).key;
      const bodies: string[] = [];

      const browser = (): Browser => {
        const cookies = new Map<string, string>();
        const cookieHeader = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
        const remember = (r: LightMyRequestResponse) => {
          bodies.push(r.body);
          for (const c of r.cookies as { name: string; value: string; maxAge?: number; expires?: Date }[]) {
            const gone =
              c.value === '' ||
              c.maxAge === 0 ||
              (c.expires !== undefined && c.expires.getTime() <= Date.now());
            if (gone) cookies.delete(c.name);
            else cookies.set(c.name, c.value);
          }
          return r;
        };
        const b: Browser = {
          cookies,
          async get(url) {
            return remember(await app.inject({ method: 'GET', url, headers: { cookie: cookieHeader() } }));
          },
          async post(url, form) {
            return remember(
              await app.inject({
                method: 'POST',
                url,
                headers: { cookie: cookieHeader(), 'content-type': 'application/x-www-form-urlencoded' },
                payload: new URLSearchParams(form).toString(),
              }),
            );
          },
          async signIn(key) {
            const page = await b.get('/');
            const r = await b.post('/sign-in', { _csrf: csrfOf(page.body), api_key: key });
            if (r.statusCode !== 303) throw new Error(`sign-in failed: ${r.statusCode}`);
            return csrfOf((await b.get('/')).body);
          },
        };
        return b;
      };

      const w: DashboardWorld = {
        app,
        keeper,
        store,
        graph,
        clock,
        config,
        fbApp,
        keys: { admin, reader },
        bodies,
        browser,
        newFacebookPage(name = 'Test Page', lifetime = 'long') {
          const user = graph.createUser({ name: 'Admin' });
          const page = graph.createPage({ name });
          graph.grantRole(user.id, page.id);
          return {
            pageId: page.id,
            userId: user.id,
            token: graph.issueUserToken({ appId: fbApp.appId, userId: user.id, lifetime }),
          };
        },
      };
      try {
        await fn(w);
      } finally {
        await app.close();
        await keeper.close();
      }
    });
  } finally {
    await graph.close();
  }
}
