/**
 * A real keeper for tests: a real store (SQLite file or PostgreSQL schema), the real Graph client
 * over HTTP to the emulator, and a manual clock shared by both.
 */
import { randomBytes } from 'node:crypto';
import {
  createManualClock,
  createManualTimers,
  type ManualClock,
  type ManualTimers,
} from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { type FakeGraph, startFakeGraph } from '../../src/fake-graph/index.js';
import { createTokenKeeper, type KeeperInternals } from '../../src/lifecycle/keeper.js';
import { silentLogger } from '../../src/logger.js';
import type { Store } from '../../src/store/types.js';
import { type Backend, type TestDatabase, withStore } from './backends.js';

export const REFERENCE_TIME = Date.parse('2027-01-01T00:00:00Z');

export interface KeeperWorld {
  clock: ManualClock;
  /** Timers on `clock`, the keeper's (an on-demand call waiting for a lease waits on them). */
  timers: ManualTimers;
  graph: FakeGraph;
  keeper: KeeperInternals;
  store: Store;
  /** Raw SQL on the same database, beside the store (helpers/backends.ts). */
  db: TestDatabase;
  app: { appId: string; appSecret: string };
  /** A user with a role on a fresh page, and that page's id. */
  newPage(name?: string): { userId: string; pageId: string };
  /** A second keeper (another "instance") on the same store. */
  another(): Promise<KeeperInternals>;
}

export function testEnv(graphUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: 'sqlite::memory:',
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    GRAPH_API_URL: graphUrl,
    FACEBOOK_DIALOG_URL: graphUrl,
    // The emulator's Instagram-Login and Threads hosts (its dialogs too).
    INSTAGRAM_API_URL: `${graphUrl}/instagram`,
    INSTAGRAM_OAUTH_URL: `${graphUrl}/instagram`,
    INSTAGRAM_DIALOG_URL: `${graphUrl}/instagram`,
    THREADS_API_URL: `${graphUrl}/threads`,
    THREADS_DIALOG_URL: `${graphUrl}/threads`,
    ...extra,
  };
}

export async function withKeeper(
  backend: Backend,
  fn: (w: KeeperWorld) => Promise<void>,
  options: { env?: Record<string, string>; random?: () => number } = {},
): Promise<void> {
  const clock = createManualClock(REFERENCE_TIME);
  const timers = createManualTimers(clock);
  const graph = await startFakeGraph({ clock });
  try {
    await withStore(backend, async (store, db) => {
      const env = testEnv(graph.url, options.env);
      const make = () =>
        createTokenKeeper({
          config: loadConfig(env),
          store,
          clock,
          timers,
          logger: silentLogger,
          random: options.random ?? (() => 0.5),
        });
      const keeper = await make();
      const app = graph.createApp({ name: 'Test app' });
      await fn({
        clock,
        timers,
        graph,
        keeper,
        store,
        db,
        app,
        newPage(name = 'Test Page') {
          const user = graph.createUser({ name: 'Admin' });
          const page = graph.createPage({ name });
          graph.grantRole(user.id, page.id);
          return { userId: user.id, pageId: page.id };
        },
        another: make,
      });
    });
  } finally {
    await graph.close();
  }
}
