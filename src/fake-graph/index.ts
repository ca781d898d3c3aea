/**
 * The Graph API emulator (`fake-graph`): a real HTTP server with Facebook's token semantics
 * (docs/FACEBOOK.md), the Login dialog for reconnect, fault and latency injection, and an injected
 * clock. Tests, `simulate` and demos run against it; the production client code path is the same.
 *
 * - state.ts   the model: apps, users, Pages, roles, tokens, lifetimes, invalidation events.
 * - http.ts    routing, pinned version, appsecret_proof, usage headers, batch requests, faults, call records.
 * - budget.ts  the rate budgets: rolling-hour usage per app and Page, the cost of a call and a batch.
 * - dialog.ts  the Login dialog (`/{version}/dialog/oauth`).
 * - control.ts the control API over HTTP (`POST /__emulator/<op>`) and a client for it.
 * - persist.ts the world kept in a file across restarts (`stateFile`, `fake-graph --state FILE`).
 * - refreshable.ts, instagram.ts, threads.ts, platform-http.ts: the Instagram API with Instagram
 *   Login and the Threads API, served under `/instagram` and `/threads` (docs/EMULATOR.md).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Clock, systemClock } from '../clock.js';
import { runControl } from './control.js';
import { createHttpLayer, type FaultSpec, type RecordedCall } from './http.js';
import { persistState, type StatePersistence } from './persist.js';
import { INSTAGRAM_RULES } from './instagram.js';
import {
  type PlatformAccountRecord,
  type PlatformEvent,
  type PlatformTokenStatus,
  RefreshableWorld,
  type RefreshablePlatform,
} from './refreshable.js';
import { FakeGraphState, type TokenStatus } from './state.js';
import { THREADS_RULES } from './threads.js';

export { CONTROL_OPS, type ControlOp, connectFakeGraph, type RemoteFakeGraph } from './control.js';
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

export interface FakeGraph {
  /** Base URL, e.g. `http://127.0.0.1:41234` (GRAPH_API_URL and FACEBOOK_DIALOG_URL). */
  readonly url: string;
  readonly version: string;
  readonly clock: Clock;
  /** Set when started with `stateFile`. */
  readonly persistence: StatePersistence | null;
  close(): Promise<void>;

  createApp(o?: { appId?: string; appSecret?: string; name?: string }): {
    appId: string;
    appSecret: string;
    name: string;
  };
  createUser(o?: { id?: string; name?: string }): { id: string; name: string };
  createPage(o?: { id?: string; name?: string }): { id: string; name: string };
  grantRole(userId: string, pageId: string, tasks?: readonly string[]): void;
  /** The user's Page tokens for the Page stop working (190/492). */
  removeRole(userId: string, pageId: string): void;
  issueUserToken(o: {
    appId: string;
    userId: string;
    lifetime: 'short' | 'long';
    scopes?: readonly string[];
  }): string;
  createSystemUser(o: { appId: string; pages: readonly string[]; name?: string }): {
    id: string;
    name: string;
  };
  issueSystemUserToken(o: {
    appId: string;
    systemUserId: string;
    expiring?: boolean;
    scopes?: readonly string[];
  }): string;
  /** The WhatsApp API Setup panel's temporary token (a user token, less than a day). */
  issueWhatsAppTemporaryToken(o: { appId: string; userId: string }): string;
  /** 190/460 on all the user's tokens and the Page tokens minted from them. */
  changePassword(userId: string): void;
  /** 190/467. */
  logout(userId: string): void;
  /** 190/458 on the user's tokens for that app. */
  removeApp(userId: string, appId: string): void;
  /** 190/459. */
  checkpoint(userId: string): void;
  /** 190/493: the person has not used the app for 90 days. */
  inactive90Days(userId: string): void;
  /** One token (and tokens minted from it), with any subcode (default 467). */
  invalidateToken(token: string, subcode?: number): void;
  /** false (default): re-exchanging a long-lived user token keeps its expiry; true: now + 60 days. */
  setExchangeExtends(value: boolean): void;
  /** true: Page tokens expire with the user token they were minted from (older docs, docs/FACEBOOK.md#page-tokens). Default false. */
  setPageTokensInheritExpiry(value: boolean): void;
  /** The user the Login dialog offers first. */
  setDialogUser(userId: string): void;
  /** The user is a developer of the app: their user token may call debug_token for it (docs/FACEBOOK.md#debug_token). */
  addDeveloper(appId: string, userId: string): void;
  /** The Pages the user granted the app, as if ticked in the Login dialog's Page picker. */
  selectPages(appId: string, userId: string, pageIds: readonly string[]): void;
  /** Move the end of the user's data access for the app (epoch ms), e.g. to now (docs/FACEBOOK.md#data-access-expires-after-90-days). */
  setDataAccessExpiry(appId: string, userId: string, at: number): void;
  /** "Does the emulator say this token is valid?" */
  tokenStatus(token: string): TokenStatus;
  /** The posts made on a Page, oldest first. */
  posts(pageId: string): { id: string; message: string; at: number }[];

  /**
   * The app's daily users: its Platform budget becomes 200 × users calls per rolling hour, reported
   * in X-App-Usage and throttled at 100 % (docs/EMULATOR.md "The call budget"); null: not budgeted.
   */
  setAppUsers(appId: string, users: number | null): void;
  /** A per-user limit on the app's user-token calls (#17), calls per rolling hour; null: none. */
  setUserLimit(appId: string, callsPerHour: number | null): void;
  /** A custom limit (#613) on the app's calls to paths containing `path`; null removes it. */
  setCustomLimit(appId: string, path: string, callsPerHour: number | null): void;
  /** Batch items whose path contains `path` are refused with #100 (true) or served again (false). */
  refuseInBatch(path: string, refuse: boolean): void;
  /** The app's usage over the rolling hour: percentages, calls, capacity (200 × users). */
  appUsage(appId: string): {
    call_count: number;
    total_time: number;
    total_cputime: number;
    calls: number;
    capacity: number;
    budgeted: boolean;
  };
  /** Forget every rolling usage window. */
  resetUsage(): void;

  injectFault(f: FaultSpec): void;
  clearFaults(): void;
  /** Real delay before each Graph answer (benchmarks). */
  setLatency(ms: number): void;
  /** Every request (not the control API): method, pathname, parameter names, status, proof. */
  readonly calls: readonly RecordedCall[];
  /** Requests whose pathname contains `path` (all when absent). */
  countCalls(path?: string): number;
  resetCalls(): void;
  /** Moves the emulator's clock when it is a ManualClock (for control from another process). */
  advanceClock(ms: number): number;

  // ---- Instagram Login and Threads (served under `${url}/instagram` and `${url}/threads`) ----
  /** `${url}/instagram`: INSTAGRAM_API_URL, INSTAGRAM_OAUTH_URL and INSTAGRAM_DIALOG_URL. */
  readonly instagramUrl: string;
  /** `${url}/threads`: THREADS_API_URL and THREADS_DIALOG_URL. */
  readonly threadsUrl: string;
  /** An Instagram or Threads app (its own app id and secret; `facebookAppId`: the same Meta app's Facebook id). */
  createPlatformApp(
    platform: RefreshablePlatform,
    o?: { appId?: string; appSecret?: string; name?: string; facebookAppId?: string },
  ): { appId: string; appSecret: string; name: string; facebookAppId: string | null };
  /** An Instagram professional account or a Threads profile. */
  createPlatformAccount(
    platform: RefreshablePlatform,
    o?: { id?: string; username?: string; name?: string },
  ): PlatformAccountRecord;
  /** A short-lived (1 hour) or long-lived (60 days) token, issued now. */
  issuePlatformToken(
    platform: RefreshablePlatform,
    o: { appId: string; accountId: string; lifetime: 'short' | 'long'; scopes?: readonly string[] },
  ): string;
  /** Kills the account's tokens issued before now (for `app_removed`, only that app's). */
  platformEvent(platform: RefreshablePlatform, accountId: string, event: PlatformEvent, appId?: string): void;
  invalidatePlatformToken(platform: RefreshablePlatform, token: string, event?: PlatformEvent): void;
  platformTokenStatus(platform: RefreshablePlatform, token: string): PlatformTokenStatus;
  /** true (default): a refresh answers a new token string; false: the same string with a new expiry. */
  setRefreshChangesToken(platform: RefreshablePlatform, value: boolean): void;
  /** The account the platform's Login dialog offers first. */
  setPlatformDialogAccount(platform: RefreshablePlatform, accountId: string): void;
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
