/**
 * The Graph API emulator (`fake-graph`): a real HTTP server with Facebook's token semantics
 * (docs/FACEBOOK.md), the Login dialog for reconnect, fault and latency injection, and an injected
 * clock. Tests, `simulate` and demos run against it; the production client code path is the same.
 *
 * - state.ts   the model: apps, users, Pages, roles, tokens, lifetimes, invalidation events.
 * - http.ts    routing, pinned version, appsecret_proof, usage headers, batch requests, faults, call records.
 * - budget.ts  the rate budgets: rolling-hour usage per app and Page, the cost of a call and a batch.
 * - dialog.ts  the Login dialog (`/{version}/dialog/oauth`).
 * - fake-graph.ts the emulator's interface (FakeGraph), which the control API drives too.
 * - control.ts the control API over HTTP (`POST /__emulator/<op>`) and a client for it.
 * - persist.ts the world kept in a file across restarts (`stateFile`, `fake-graph --state FILE`).
 * - refreshable.ts, instagram.ts, threads.ts, platform-http.ts: the Instagram API with Instagram
 *   Login and the Threads API, served under `/instagram` and `/threads` (docs/EMULATOR.md).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Clock, systemClock } from '../clock.js';
import { runControl } from './control.js';
import type { FakeGraph } from './fake-graph.js';
import { createHttpLayer } from './http.js';
import { persistState } from './persist.js';
import { INSTAGRAM_RULES } from './instagram.js';
import { RefreshableWorld, type RefreshablePlatform } from './refreshable.js';
import { FakeGraphState } from './state.js';
import { THREADS_RULES } from './threads.js';

export { CONTROL_OPS, type ControlOp, connectFakeGraph, type RemoteFakeGraph } from './control.js';
export type { FakeGraph } from './fake-graph.js';
export { CALLS_PER_USER_PER_HOUR, PAGE_CALLS_PER_HOUR } from './budget.js';
export { FAULT_KINDS, type FaultKind, type FaultSpec, MAX_BATCH, type RecordedCall } from './http.js';
export {
  PLATFORM_EVENTS,
  PLATFORM_LONG_LIVED_MS,
  PLATFORM_SHORT_LIVED_MS,
  REFRESH_MIN_AGE_MS,
  REFRESHABLE_PLATFORMS,
  type PlatformEvent,
  type PlatformTokenStatus,
  type RefreshablePlatform,
} from './refreshable.js';
export {
  DEFAULT_SCOPES,
  DEFAULT_TASKS,
  POSTING_TASKS,
  LONG_LIVED_MS,
  SHORT_LIVED_MS,
  TOKEN_PREFIX,
  type TokenKind,
  type TokenStatus,
} from './state.js';

export interface FakeGraphOptions {
  /** 0 (default) = a random free port. */
  port?: number;
  host?: string;
  /** Time for token lifetimes; default the system clock. Share a ManualClock with the code under test. */
  clock?: Clock;
  /** The one Graph version served (default v26.0, like GRAPH_API_VERSION). */
  version?: string;
  /** Refuse calls without a valid `appsecret_proof` ("Require App Secret" on). Default true. */
  requireAppsecretProof?: boolean;
  /** Randomness for fault `probability` (default Math.random). */
  random?: () => number;
  /** Keep the world (apps, users, Pages, tokens, events) in this file: read at start, saved after each request and on close. */
  stateFile?: string;
}

export async function startFakeGraph(options: FakeGraphOptions = {}): Promise<FakeGraph> {
  const clock = options.clock ?? systemClock;
  const version = options.version ?? 'v26.0';
  const host = options.host ?? '127.0.0.1';
  const state = new FakeGraphState(clock);
  const isFacebookApp = (appId: string) => state.apps.has(appId);
  const platforms: Record<RefreshablePlatform, RefreshableWorld> = {
    instagram: new RefreshableWorld(INSTAGRAM_RULES, clock, isFacebookApp),
    threads: new RefreshableWorld(THREADS_RULES, clock, isFacebookApp),
  };
  const persistence =
    options.stateFile === undefined ? null : persistState(state, options.stateFile, { ...platforms });
  const layer = createHttpLayer(state, {
    version,
    requireAppsecretProof: options.requireAppsecretProof ?? true,
    random: options.random ?? Math.random,
    platforms,
  });

  let graph: FakeGraph | null = null;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://emulator');
    if (persistence) res.on('finish', () => persistence.changed());
    const done = (e: unknown) => {
      if (res.headersSent) return void res.destroy();
      res.statusCode = 500;
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          error: {
            message: `emulator fault: ${e instanceof Error ? e.message : 'unknown'}`,
            type: 'Emulator',
            code: 1,
          },
        }),
      );
    };
    if (url.pathname.startsWith('/__emulator/')) {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        const r = graph
          ? runControl(graph, url.pathname.slice('/__emulator/'.length), body)
          : { status: 503, body: {} };
        res.writeHead(r.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(r.body));
      });
      req.on('error', done);
      return;
    }
    layer.handle(req, res, url).catch(done);
  });
  // Keep connections alive well past undici's 2 s threshold (it subtracts 2 s from the server's
  // `Keep-Alive: timeout` hint; a short hint means a new TCP connection per request).
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  graph = {
    url,
    version,
    clock,
    persistence,
    async close() {
      layer.releaseHeld();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      persistence?.flush();
    },
    createApp: (o) => {
      const a = state.createApp(o);
      return { appId: a.appId, appSecret: a.appSecret, name: a.name };
    },
    createUser: (o) => state.createUser(o),
    createPage: (o) => state.createPage(o),
    grantRole: (userId, pageId, tasks) => state.grantRole(userId, pageId, tasks),
    removeRole: (userId, pageId) => state.removeRole(userId, pageId),
    issueUserToken: (o) => state.issueUserToken(o),
    createSystemUser: (o) => state.createSystemUser(o),
    issueSystemUserToken: (o) => state.issueSystemUserToken(o),
    issueWhatsAppTemporaryToken: (o) => state.issueWhatsAppTemporaryToken(o),
    changePassword: (userId) => state.changePassword(userId),
    logout: (userId) => state.logout(userId),
    removeApp: (userId, appId) => state.removeApp(userId, appId),
    checkpoint: (userId) => state.checkpoint(userId),
    inactive90Days: (userId) => state.inactive90Days(userId),
    invalidateToken: (token, subcode) => state.invalidateToken(token, subcode),
    setExchangeExtends: (value) => {
      state.exchangeExtends = value;
    },
    setPageTokensInheritExpiry: (value) => {
      state.pageTokensInheritExpiry = value;
    },
    setDialogUser: (userId) => {
      state.user(userId);
      state.dialogUser = userId;
    },
    addDeveloper: (appId, userId) => {
      state.user(userId);
      state.app(appId).developers.add(userId);
    },
    selectPages: (appId, userId, pageIds) => state.selectPages(appId, userId, pageIds),
    setDataAccessExpiry: (appId, userId, at) => state.setDataAccessExpiry(appId, userId, at),
    tokenStatus: (token) => state.tokenStatus(token),
    posts: (pageId) => state.page(pageId).posts.map((p) => ({ ...p })),
    setAppUsers: (appId, users) => state.setAppUsers(appId, users),
    setUserLimit: (appId, callsPerHour) => layer.setUserLimit(appId, callsPerHour),
    setCustomLimit: (appId, path, callsPerHour) => layer.setCustomLimit(appId, path, callsPerHour),
    refuseInBatch: (path, refuse) => layer.refuseInBatch(path, refuse),
    appUsage: (appId) => layer.appUsage(appId),
    resetUsage: () => layer.resetUsage(),
    injectFault: (f) => layer.injectFault(f),
    clearFaults: () => layer.clearFaults(),
    setLatency: (ms) => layer.setLatency(ms),
    get calls() {
      return layer.calls;
    },
    countCalls: (path) => layer.countCalls(path),
    resetCalls: () => layer.resetCalls(),
    advanceClock(ms) {
      const c = clock as Partial<{ advance(ms: number): number }>;
      if (typeof c.advance !== 'function') {
        throw new Error('the emulator runs on the system clock; start it with a ManualClock to move time');
      }
      return c.advance(ms);
    },
    instagramUrl: `${url}/instagram`,
    threadsUrl: `${url}/threads`,
    createPlatformApp: (platform, o) => platforms[platform].createApp(o),
    createPlatformAccount: (platform, o) => platforms[platform].createAccount(o),
    issuePlatformToken: (platform, o) => platforms[platform].issueToken(o),
    platformEvent: (platform, accountId, event, appId) => platforms[platform].event(accountId, event, appId),
    invalidatePlatformToken: (platform, token, event) => platforms[platform].invalidateToken(token, event),
    platformTokenStatus: (platform, token) => platforms[platform].tokenStatus(token),
    setRefreshChangesToken: (platform, value) => {
      platforms[platform].refreshChangesToken = value;
    },
    setPlatformDialogAccount: (platform, accountId) => {
      platforms[platform].account(accountId);
      platforms[platform].dialogAccount = accountId;
    },
  };
  return graph;
}

export interface FakeGraphCliIo {
  stdout: { write(s: string): unknown };
}

/**
 * `fake-graph --port N [--host H] [--version vX.Y] [--state FILE]`: an emulator seeded with one app,
 * user, Page (the user has a role on it) and system user; prints ids and tokens as JSON, for demos.
 * With `--state FILE`, the world is kept in FILE: a restart reads it back and prints the same ids
 * and tokens instead of seeding a new world. Runs until SIGINT/SIGTERM. Resolves with the running
 * emulator.
 */
export async function runFakeGraphCli(
  argv: string[],
  io: FakeGraphCliIo = { stdout: process.stdout },
): Promise<FakeGraph> {
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const port = Number(arg('--port') ?? 5055);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error('--port must be a whole number from 0 to 65535');
  }
  const version = arg('--version') ?? 'v26.0';
  if (!/^v\d+\.\d+$/.test(version)) throw new Error('--version must look like v26.0');
  const stateFile = arg('--state');
  const g = await startFakeGraph({
    port,
    host: arg('--host') ?? '127.0.0.1',
    version,
    ...(stateFile === undefined ? {} : { stateFile }),
  });
  if (g.persistence?.restored) {
    // The ids and tokens printed when the world was made; the addresses are this run's.
    const again = {
      ...(g.persistence.meta as object),
      url: g.url,
      graph_api_url: g.url,
      facebook_dialog_url: g.url,
      instagram_url: g.instagramUrl,
      threads_url: g.threadsUrl,
      control_url: `${g.url}/__emulator/<op>`,
      restored_from: g.persistence.file,
    };
    io.stdout.write(`${JSON.stringify(again, null, 2)}\n`);
    return stopOnSignals(g);
  }
  const app = g.createApp({ name: 'Demo app' });
  const user = g.createUser({ name: 'Demo Admin' });
  const page = g.createPage({ name: 'Demo Page' });
  g.grantRole(user.id, page.id);
  g.setDialogUser(user.id);
  const systemUser = g.createSystemUser({ appId: app.appId, pages: [page.id], name: 'Demo System User' });
  const igApp = g.createPlatformApp('instagram', { name: 'Demo app (Instagram)' });
  const igAccount = g.createPlatformAccount('instagram', { username: 'demo.bakery', name: 'Demo Bakery' });
  const thApp = g.createPlatformApp('threads', { name: 'Demo app (Threads)', facebookAppId: app.appId });
  const thProfile = g.createPlatformAccount('threads', { username: 'demo.bakery', name: 'Demo Bakery' });
  g.setPlatformDialogAccount('instagram', igAccount.id);
  g.setPlatformDialogAccount('threads', thProfile.id);
  const seeded = {
    url: g.url,
    version: g.version,
    graph_api_url: g.url,
    facebook_dialog_url: g.url,
    control_url: `${g.url}/__emulator/<op>`,
    app: { app_id: app.appId, app_secret: app.appSecret, name: app.name },
    user: { id: user.id, name: user.name },
    page: { id: page.id, name: page.name },
    system_user: { id: systemUser.id, name: systemUser.name },
    instagram_url: g.instagramUrl,
    instagram: {
      app: { app_id: igApp.appId, app_secret: igApp.appSecret },
      account: { id: igAccount.id, username: igAccount.username },
      short_lived_token: g.issuePlatformToken('instagram', {
        appId: igApp.appId,
        accountId: igAccount.id,
        lifetime: 'short',
      }),
    },
    threads_url: g.threadsUrl,
    threads: {
      app: { app_id: thApp.appId, app_secret: thApp.appSecret },
      profile: { id: thProfile.id, username: thProfile.username },
      short_lived_token: g.issuePlatformToken('threads', {
        appId: thApp.appId,
        accountId: thProfile.id,
        lifetime: 'short',
      }),
    },
    tokens: {
      short_lived_user: g.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'short' }),
      long_lived_user: g.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' }),
      system_user: g.issueSystemUserToken({ appId: app.appId, systemUserId: systemUser.id }),
    },
  };
  if (g.persistence) g.persistence.meta = seeded;
  io.stdout.write(`${JSON.stringify(seeded, null, 2)}\n`);
  return stopOnSignals(g);
}

function stopOnSignals(g: FakeGraph): FakeGraph {
  const close = g.close.bind(g);
  const stop = () => void g.close();
  g.close = async () => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return g;
}
