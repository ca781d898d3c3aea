/**
 * An HTTP world for tests: the real keeper (real store on the given backend, real Graph client over
 * HTTP to the emulator, a manual clock), `buildApp` on top of it, an admin key and a token:read key,
 * and every log line of the keeper and the app captured as text.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { createManualClock, type ManualClock } from '../../src/clock.js';
import { type Config, loadConfig } from '../../src/config.js';
import { type FakeGraph, startFakeGraph } from '../../src/fake-graph/index.js';
import { type AppDeps, buildApp } from '../../src/http/app.js';
import { createApiKey } from '../../src/http/auth.js';
import { createTokenKeeper, type KeeperInternals } from '../../src/lifecycle/keeper.js';
import { createLogger, type Logger } from '../../src/logger.js';
import type { Store } from '../../src/store/types.js';
import { type Backend, type TestDatabase, withStore } from '../helpers/backends.js';

export const REFERENCE_TIME = Date.parse('2027-01-01T00:00:00Z');

export interface ApiWorld {
  app: FastifyInstance;
  keeper: KeeperInternals;
  store: Store;
  graph: FakeGraph;
  clock: ManualClock;
  config: Config;
  fbApp: { appId: string; appSecret: string };
  keys: { admin: string; reader: string; both: string };
  /** Everything logged so far (JSON lines). */
  logs(): string;
  /** The rows of every table a rejected request must leave alone, as comparable text. */
  dump(): Promise<string>;
  /** Every response seen through `call`: `text` is its status line, headers and body. */
  responses: { method: string; url: string; status: number; text: string }[];
  /** A user with a role on a fresh page. */
  newPage(name?: string): { userId: string; pageId: string };
  /** A long-lived user token for `userId` with the test app. */
  userToken(userId: string, lifetime?: 'short' | 'long'): string;
  /** Set up a page through the API and return its id. */
  setupPage(name?: string): Promise<{ pageId: string; userId: string; token: string }>;
  /** app.inject with `key` as the Bearer key (`null` = no Authorization header). */
  call(
    method: InjectOptions['method'],
    url: string,
    options?: { key?: string | null; body?: unknown; headers?: Record<string, string>; payload?: string },
  ): Promise<LightMyRequestResponse>;
}

export interface WorldOptions {
  env?: Record<string, string>;
  app?: Partial<Pick<AppDeps, 'extraRoutes' | 'authFailureLimit' | 'ready'>>;
  logLevel?: string;
}

export async function withApi(
  backend: Backend,
  fn: (w: ApiWorld) => Promise<void>,
  options: WorldOptions = {},
): Promise<void> {
  const clock = createManualClock(REFERENCE_TIME);
  const graph = await startFakeGraph({ clock });
  const sink = new PassThrough();
  let logText = '';
  sink.on('data', (chunk: Buffer) => {
    logText += chunk.toString('utf8');
  });
  const logger: Logger = createLogger({
    level: options.logLevel ?? 'trace',
    format: 'json',
    destination: sink,
  });
  try {
    await withStore(backend, async (store, db) => {
      const config = loadConfig({
        DATABASE_URL: 'sqlite::memory:',
        TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        GRAPH_API_URL: graph.url,
        FACEBOOK_DIALOG_URL: graph.url,
        INSTAGRAM_API_URL: graph.instagramUrl,
        INSTAGRAM_OAUTH_URL: graph.instagramUrl,
        INSTAGRAM_DIALOG_URL: graph.instagramUrl,
        THREADS_API_URL: graph.threadsUrl,
        THREADS_DIALOG_URL: graph.threadsUrl,
        ...options.env,
      });
      const keeper = await createTokenKeeper({ config, store, clock, logger, random: () => 0.5 });
      const app = await buildApp({
        config,
        keeper,
        store,
        clock,
        logger,
        checkResponses: true,
        ...options.app,
      });
      const fbApp = graph.createApp({ name: 'Test app' });
      const admin = (await createApiKey(store, { name: 'admin', scopes: ['admin'], clock })).key;
      const reader = (await createApiKey(store, { name: 'poster', scopes: ['token:read'], clock })).key;
      const both = (await createApiKey(store, { name: 'both', scopes: ['admin', 'token:read'], clock })).key;
      const responses: ApiWorld['responses'] = [];
      const w: ApiWorld = {
        app,
        keeper,
        store,
        graph,
        clock,
        config,
        fbApp,
        keys: { admin, reader, both },
        logs: () => logText,
        dump: () => dumpDatabase(db),
        responses,
        newPage(name = 'Test Page') {
          const user = graph.createUser({ name: 'Admin' });
          const page = graph.createPage({ name });
          graph.grantRole(user.id, page.id);
          return { userId: user.id, pageId: page.id };
        },
        userToken(userId, lifetime = 'long') {
          return graph.issueUserToken({ appId: fbApp.appId, userId, lifetime });
        },
        async setupPage(name) {
          const { userId, pageId } = w.newPage(name);
          const token = w.userToken(userId);
          const r = await w.call('POST', '/api/token/setup', {
            body: { page_id: pageId, access_token: token, app_id: fbApp.appId, app_secret: fbApp.appSecret },
          });
          if (r.statusCode !== 201) throw new Error(`setup failed: ${r.statusCode} ${r.body}`);
          return { pageId, userId, token };
        },
        async call(method, url, opts = {}) {
          const key = opts.key === undefined ? admin : opts.key;
          const headers: Record<string, string> = {
            ...(key !== null ? { authorization: `Bearer ${key}` } : {}),
            ...opts.headers,
          };
          const inject: InjectOptions = { url, headers };
          if (method !== undefined) inject.method = method;
          if (opts.body !== undefined) inject.payload = opts.body as NonNullable<InjectOptions['payload']>;
          if (opts.payload !== undefined) inject.payload = opts.payload;
          const r = await app.inject(inject);
          responses.push({
            method: String(method),
            url,
            status: r.statusCode,
            text: `${r.statusCode}\n${JSON.stringify(r.headers)}\n${r.body}`,
          });
          return r;
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

const DUMPED_TABLES = ['pages', 'events', 'api_keys', 'alert_deliveries', 'alert_keys'];

/** Every row of the tables a rejected request must not change, read with raw SQL. */
async function dumpDatabase(db: TestDatabase): Promise<string> {
  const out: Record<string, unknown> = {};
  for (const table of DUMPED_TABLES) out[table] = await db.query(`select * from ${table} order by 1`);
  return JSON.stringify(out, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}
