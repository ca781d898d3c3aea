/**
 * The Graph API emulator: a real HTTP server with Facebook's token semantics (GRAPH_API.md), the
 * Login dialog for reconnect, fault and latency injection, and a controllable clock. Tests,
 * `simulate` and demos run against it; the production code path is the same.
 *
 * Controls are plain methods for in-process use, and the same operations over HTTP as
 * `POST /__emulator/<method>` with a JSON array of arguments, for a test controlling another process.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Clock, DAY, systemClock } from '../clock.js';
import { createState, DEFAULT_SCOPES, type GraphFailure, LONG_LIVED_MS, randomId, SHORT_LIVED_MS, type TokenRecord } from './state.js';
import { dialogPage } from './dialog.js';

export type FaultKind =
  | 'http_500'
  | 'transient_code_1'
  | 'transient_code_2'
  | 'is_transient'
  | 'html'
  | 'malformed_json'
  | 'wrong_shape'
  | 'timeout'
  | 'throttle_app'
  | 'throttle_page'
  | 'throttle_buc';

export interface FaultSpec {
  path?: string;
  kind: FaultKind;
  times?: number;
  probability?: number;
}

export interface RecordedCall {
  method: string;
  path: string;
  /** Parameter names only: values may be secrets. */
  params: string[];
  at: number;
}

export interface FakeGraphOptions {
  port?: number;
  host?: string;
  clock?: Clock;
  version?: string;
  requireAppsecretProof?: boolean;
}

type Reply = { status: number; body: unknown; headers?: Record<string, string>; raw?: string };

const oauthError = (message: string, code: number, subcode: number | null = null, type = 'OAuthException', extra: Record<string, unknown> = {}) => ({
  error: { message, type, code, ...(subcode === null ? {} : { error_subcode: subcode }), fbtrace_id: `A${randomBytes(8).toString('base64url')}`, ...extra },
});

export async function startFakeGraph(options: FakeGraphOptions = {}) {
  const clock = options.clock ?? systemClock;
  const version = options.version ?? 'v26.0';
  const requireProof = options.requireAppsecretProof ?? true;
  const state = createState(clock);
  const faults: (FaultSpec & { remaining: number })[] = [];
  const calls: RecordedCall[] = [];
  let latencyMs = 0;
  let dialogUser: string | null = null;
  const pending = new Set<ServerResponse>();

  // ---- helpers -------------------------------------------------------------------------------
  const usageHeader = (pct: number) => JSON.stringify({ call_count: pct, total_cputime: Math.max(1, pct - 2), total_time: Math.max(1, pct - 1) });
  const lookup = (token: string | undefined) => (token ? state.tokens.get(token) : undefined);
  const invalidToken = (f: GraphFailure) => ({ status: 400, body: oauthError(f.message, f.code, f.subcode) });
  const badToken = () => ({ status: 400, body: oauthError('Invalid OAuth access token - Cannot parse access token', 190) });

  function appOfToken(accessToken: string) {
    if (accessToken.includes('|')) {
      const [appId, secret] = accessToken.split('|');
      const app = state.apps.get(appId ?? '');
      return app && app.appSecret === secret ? app : undefined;
    }
    const rec = lookup(accessToken);
    return rec ? state.apps.get(rec.appId) : undefined;
  }

  /** §5: appsecret_proof = hex HMAC-SHA256(app secret, access token). */
  function proofOk(accessToken: string, proof: string | undefined): boolean {
    if (!requireProof) return true;
    const app = appOfToken(accessToken);
    if (!app || !proof) return false;
    return createHmac('sha256', app.appSecret).update(accessToken).digest('hex') === proof;
  }

  function mintPageToken(parent: TokenRecord, pageId: string): string {
    // §1.3: from a long-lived user token (or a system user) the Page token never expires; from a
    // short-lived one it dies with it.
    const never = state.systemUsers.has(parent.userId) || (parent.lifetime === 'long' && !state.pageTokensInheritExpiry);
    return state.issue({
      kind: 'PAGE',
      appId: parent.appId,
      userId: parent.userId,
      pageId,
      lifetime: never ? 'never' : parent.lifetime,
      expiresAt: never ? null : parent.expiresAt,
      scopes: parent.scopes,
    });
  }

  function canReachPage(rec: TokenRecord, pageId: string): boolean {
    const su = state.systemUsers.get(rec.userId);
    if (su) return su.pages.has(pageId);
    return state.roles.has(`${rec.userId}:${pageId}`);
  }

  // ---- routes (GRAPH_API.md §2) ----------------------------------------------------------------
  function route(method: string, path: string, q: Record<string, string>): Reply {
    const parts = path.split('/').filter(Boolean);
    if (parts[0] !== version) return { status: 400, body: oauthError(`Unknown path components: /${parts[0] ?? ''}`, 2500) };
    const rest = parts.slice(1);
    // The OAuth endpoints authenticate with client_id + client_secret, not an access token.
    // §2a exchange, and the OAuth code exchange of the Login flow.
    if (rest[0] === 'oauth' && rest[1] === 'access_token') {
      const app = state.apps.get(q.client_id ?? '');
      if (!app || app.appSecret !== q.client_secret) return { status: 400, body: oauthError('Error validating client secret.', 1, null, 'OAuthException') };
      if (q.code !== undefined) {
        const c = state.codes.get(q.code);
        if (!c || c.appId !== app.appId || c.redirectUri !== q.redirect_uri || c.expiresAt <= clock.now()) {
          return { status: 400, body: oauthError('This authorization code has been used.', 100, 36009) };
        }
        state.codes.delete(q.code);
        const token = state.issue({ kind: 'USER', appId: app.appId, userId: c.userId, pageId: null, lifetime: 'short', expiresAt: clock.now() + SHORT_LIVED_MS, scopes: c.scopes });
        return { status: 200, body: { access_token: token, token_type: 'bearer', expires_in: SHORT_LIVED_MS / 1000 } };
      }
      if (q.grant_type !== 'fb_exchange_token') return { status: 400, body: oauthError('Missing grant_type', 100) };
      const rec = lookup(q.fb_exchange_token);
      if (!rec) return badToken();
      const f = state.failure(rec);
      if (f) return invalidToken(f);
      if (rec.kind === 'PAGE') return { status: 400, body: oauthError('(#100) The access token provided is not a user access token', 100) };
      const isSystemUser = state.systemUsers.has(rec.userId);
      let expiresAt: number | null;
      if (isSystemUser) {
        expiresAt = rec.expiresAt === null ? null : q.set_token_expires_in_60_days === 'true' ? clock.now() + LONG_LIVED_MS : rec.expiresAt;
      } else if (rec.lifetime === 'short' || state.exchangeExtends) {
        expiresAt = clock.now() + LONG_LIVED_MS;
      } else {
        // §2b: re-exchanging a long-lived user token gives a new string with the SAME expiry.
        expiresAt = rec.expiresAt;
      }
      const token = state.issue({ kind: rec.kind, appId: rec.appId, userId: rec.userId, pageId: null, lifetime: expiresAt === null ? 'never' : 'long', expiresAt, scopes: rec.scopes });
      const body: Record<string, unknown> = { access_token: token, token_type: 'bearer' };
      if (expiresAt !== null) body.expires_in = Math.max(0, Math.floor((expiresAt - clock.now()) / 1000));
      return { status: 200, body };
    }

    const accessToken = q.access_token;
    if (!accessToken) return { status: 400, body: oauthError('An active access token must be used to query information about the current user.', 2500) };
    if (!proofOk(accessToken, q.appsecret_proof)) {
      return { status: 400, body: oauthError('Invalid appsecret_proof provided in the API argument', 100, null, 'GraphMethodException') };
    }

    // §2d debug_token: GET only, with an app token of the same app.
    if (rest[0] === 'debug_token') {
      if (method !== 'GET') return { status: 400, body: oauthError('Unsupported post request.', 100, 33, 'GraphMethodException') };
      const app = accessToken.includes('|') ? appOfToken(accessToken) : undefined;
      if (!app) return { status: 400, body: oauthError('(#100) You must provide an app access token, or a user access token that is an owner or developer of the app', 100) };
      const rec = lookup(q.input_token);
      if (!rec) {
        return { status: 200, body: { data: { error: { code: 190, message: 'Invalid OAuth access token - Cannot parse access token' }, is_valid: false, scopes: [] } } };
      }
      if (rec.appId !== app.appId) {
        return { status: 400, body: oauthError('(#100) You must provide an app access token, or a user access token that is an owner or developer of the app', 100) };
      }
      const f = state.failure(rec);
      const su = state.systemUsers.has(rec.userId);
      const data: Record<string, unknown> = {
        app_id: rec.appId,
        type: rec.kind === 'USER' && su ? 'SYSTEM_USER' : rec.kind,
        application: app.name,
        data_access_expires_at: Math.floor(rec.dataAccessExpiresAt / 1000),
        expires_at: rec.expiresAt === null ? 0 : Math.floor(rec.expiresAt / 1000),
        is_valid: f === null,
        scopes: rec.scopes,
        granular_scopes: rec.scopes.filter((s) => s.startsWith('pages_')).map((scope) => ({ scope, ...(rec.pageId ? { target_ids: [rec.pageId] } : {}) })),
        user_id: rec.userId,
      };
      if (rec.lifetime !== 'short') data.issued_at = Math.floor(rec.issuedAt / 1000);
      if (rec.kind === 'PAGE') data.profile_id = rec.pageId;
      if (f) data.error = { code: f.code, message: f.message, subcode: f.subcode };
      return { status: 200, body: { data } };
    }

    const rec = lookup(accessToken);
    if (!rec) return badToken();
    const f = state.failure(rec);
    if (f) return invalidToken(f);

    if (rest[0] === 'me' && rest.length === 1) {
      if (rec.kind === 'PAGE') return { status: 200, body: { id: rec.pageId, name: state.pages.get(rec.pageId ?? '')?.name ?? '' } };
      return { status: 200, body: { id: rec.userId, name: state.users.get(rec.userId)?.name ?? 'System User' } };
    }

    if (rest[0] === 'me' && rest[1] === 'accounts') {
      if (rec.kind === 'PAGE') return { status: 400, body: oauthError('(#100) Tried accessing nonexisting field (accounts) on node type (Page)', 100) };
      if (!rec.scopes.includes('pages_show_list')) return { status: 403, body: oauthError('(#200) Requires pages_show_list permission', 200) };
      const all = [...state.pages.values()].filter((p) => canReachPage(rec, p.id));
      const pageSize = 25;
      const start = q.after ? Number(Buffer.from(q.after, 'base64url').toString()) : 0;
      const slice = all.slice(start, start + pageSize);
      const data = slice.map((p) => ({ id: p.id, name: p.name, category: 'Brand', access_token: mintPageToken(rec, p.id), tasks: ['ANALYZE', 'ADVERTISE', 'MODERATE', 'CREATE_CONTENT', 'MANAGE'] }));
      const after = Buffer.from(String(start + pageSize)).toString('base64url');
      const paging: Record<string, unknown> = { cursors: { before: Buffer.from(String(start)).toString('base64url'), after } };
      if (start + pageSize < all.length) paging.next = `http://graph.invalid/${version}/me/accounts?after=${after}`;
      return { status: 200, body: { data, paging } };
    }

    const pageId = rest[0] ?? '';
    const page = state.pages.get(pageId);
    if (rest.length === 2 && rest[1] === 'feed') {
      if (method !== 'POST') return { status: 400, body: oauthError('Unsupported get request.', 100, 33, 'GraphMethodException') };
      if (rec.kind !== 'PAGE' || rec.pageId !== pageId) return { status: 403, body: oauthError('(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts as an admin with sufficient administrative permission', 200) };
      if (!rec.scopes.includes('pages_manage_posts')) return { status: 403, body: oauthError('(#200) Requires pages_manage_posts permission', 200) };
      return { status: 200, body: { id: `${pageId}_${randomId()}` } };
    }
    if (rest.length === 1 && page) {
      const fields = (q.fields ?? 'id,name').split(',');
      if (!(rec.kind === 'PAGE' ? rec.pageId === pageId : canReachPage(rec, pageId))) {
        return { status: 400, body: oauthError(`Unsupported get request. Object with ID '${pageId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`, 100, 33, 'GraphMethodException') };
      }
      const body: Record<string, unknown> = { id: pageId };
      if (fields.includes('name')) body.name = page.name;
      if (fields.includes('access_token')) {
        if (rec.kind === 'PAGE') return { status: 400, body: oauthError('(#100) A user access token is required to request this resource.', 100) };
        body.access_token = mintPageToken(rec, pageId);
      }
      return { status: 200, body };
    }
    return { status: 400, body: oauthError(`Unsupported get request. Object with ID '${pageId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`, 100, 33, 'GraphMethodException') };
  }

  function faultReply(kind: FaultKind): Reply | 'hold' {
    switch (kind) {
      case 'http_500':
        return { status: 500, body: null, raw: '' };
      case 'transient_code_1':
        return { status: 500, body: oauthError('An unknown error has occurred.', 1) };
      case 'transient_code_2':
        return { status: 503, body: oauthError('An unexpected error has occurred. Please retry your request later.', 2, null, 'OAuthException', { is_transient: true }) };
      case 'is_transient':
        return { status: 500, body: oauthError('Temporary issue due to downtime. Please retry.', 1200, null, 'OAuthException', { is_transient: true }) };
      case 'html':
        return { status: 502, body: null, raw: '<html><body><h1>502 Bad Gateway</h1></body></html>', headers: { 'content-type': 'text/html' } };
      case 'malformed_json':
        return { status: 200, body: null, raw: '{"data": {"is_valid": tru' };
      case 'wrong_shape':
        return { status: 200, body: { unexpected: true } };
      case 'timeout':
        return 'hold';
      case 'throttle_app':
        return { status: 400, body: oauthError('(#4) Application request limit reached', 4), headers: { 'x-app-usage': usageHeader(100) } };
      case 'throttle_page':
        return { status: 400, body: oauthError('(#32) Page request limit reached', 32), headers: { 'x-page-usage': usageHeader(100) } };
      case 'throttle_buc':
        return {
          status: 400,
          body: oauthError('(#80001) There have been too many calls to this Page account. Wait a bit and try again.', 80001),
          headers: { 'x-business-use-case-usage': JSON.stringify({ '1': [{ type: 'pages', call_count: 100, total_cputime: 20, total_time: 30, estimated_time_to_regain_access: 15 }] }) },
        };
    }
  }

  function takeFault(path: string): FaultKind | null {
    for (const f of faults) {
      if (f.remaining <= 0) continue;
      if (f.path !== undefined && !path.includes(f.path)) continue;
      if (f.probability !== undefined && Math.random() >= f.probability) continue;
      f.remaining--;
      return f.kind;
    }
    return null;
  }

  // ---- control API ---------------------------------------------------------------------------
  const controls = {
    createApp(o: { appId?: string; appSecret?: string; name?: string } = {}) {
      const app = { appId: o.appId ?? randomId(), appSecret: o.appSecret ?? randomBytes(16).toString('hex'), name: o.name ?? 'Test App' };
      state.apps.set(app.appId, app);
      return app;
    },
    createUser(o: { id?: string; name?: string } = {}) {
      const u = { id: o.id ?? randomId(), name: o.name ?? 'Test User' };
      state.users.set(u.id, u);
      dialogUser ??= u.id;
      return u;
    },
    createPage(o: { id?: string; name?: string } = {}) {
      const p = { id: o.id ?? randomId(), name: o.name ?? 'Test Page' };
      state.pages.set(p.id, p);
      return p;
    },
    grantRole(userId: string, pageId: string) {
      state.roles.add(`${userId}:${pageId}`);
    },
    /** §1.7: losing the Page role invalidates that user's Page tokens for it (190/492). */
    removeRole(userId: string, pageId: string) {
      state.roles.delete(`${userId}:${pageId}`);
    },
    issueUserToken(o: { appId: string; userId: string; lifetime: 'short' | 'long'; scopes?: string[] }) {
      const ms = o.lifetime === 'short' ? SHORT_LIVED_MS : LONG_LIVED_MS;
      return state.issue({ kind: 'USER', appId: o.appId, userId: o.userId, pageId: null, lifetime: o.lifetime, expiresAt: clock.now() + ms, scopes: o.scopes ?? DEFAULT_SCOPES });
    },
    createSystemUser(o: { appId: string; pages: string[] }) {
      const su = { id: randomId(), appId: o.appId, pages: new Set(o.pages) };
      state.systemUsers.set(su.id, su);
      return { id: su.id };
    },
    /** §1.4: never expires, or 60 days with set_token_expires_in_60_days. */
    issueSystemUserToken(o: { appId: string; systemUserId: string; expiring?: boolean; scopes?: string[] }) {
      const expiring = o.expiring === true;
      return state.issue({ kind: 'USER', appId: o.appId, userId: o.systemUserId, pageId: null, lifetime: expiring ? 'long' : 'never', expiresAt: expiring ? clock.now() + LONG_LIVED_MS : null, scopes: o.scopes ?? DEFAULT_SCOPES });
    },
    changePassword: (userId: string) => state.invalidateUser(userId, 460),
    logout: (userId: string) => state.invalidateUser(userId, 467),
    checkpoint: (userId: string) => state.invalidateUser(userId, 459),
    removeApp: (userId: string, appId: string) => state.removeApp(userId, appId),
    /** Invalidate one token (e.g. a Page token) with a subcode, leaving the others alone. */
    invalidateToken(token: string, subcode = 467) {
      const rec = state.tokens.get(token);
      if (rec) rec.invalidSubcode = subcode;
    },
    setExchangeExtends(v: boolean) {
      state.exchangeExtends = v;
    },
    /** Older docs (GRAPH_API.md §1.3 [S3]): Page tokens expire with the user token they came from. */
    setPageTokensInheritExpiry(v: boolean) {
      state.pageTokensInheritExpiry = v;
    },
    setDialogUser(userId: string) {
      dialogUser = userId;
    },
    tokenStatus(token: string) {
      const rec = state.tokens.get(token);
      if (!rec) return { valid: false, type: null, expiresAt: null };
      return { valid: state.failure(rec) === null, type: rec.kind, expiresAt: rec.expiresAt };
    },
    injectFault(f: FaultSpec) {
      faults.push({ ...f, remaining: f.times ?? 1 });
    },
    clearFaults() {
      faults.length = 0;
    },
    setLatency(ms: number) {
      latencyMs = ms;
    },
    countCalls(pathPart: string) {
      return calls.filter((c) => c.path.includes(pathPart)).length;
    },
    resetCalls() {
      calls.length = 0;
    },
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    let bodyText = '';
    for await (const chunk of req) bodyText += String(chunk);
    const q: Record<string, string> = Object.fromEntries(url.searchParams);
    if (req.method === 'POST' && (req.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded')) {
      Object.assign(q, Object.fromEntries(new URLSearchParams(bodyText)));
    }
    const send = (r: Reply) => {
      res.statusCode = r.status;
      res.setHeader('content-type', r.headers?.['content-type'] ?? 'application/json; charset=UTF-8');
      for (const [k, v] of Object.entries(r.headers ?? {})) res.setHeader(k, v);
      res.end(r.raw ?? JSON.stringify(r.body));
    };

    if (url.pathname.startsWith('/__emulator/')) {
      const op = url.pathname.slice('/__emulator/'.length);
      if (!Object.hasOwn(controls, op)) return send({ status: 404, body: { error: `unknown control ${op}` } });
      const args = bodyText ? (JSON.parse(bodyText) as unknown[]) : [];
      const result = Reflect.apply(controls[op as keyof typeof controls], controls, args) as unknown;
      return send({ status: 200, body: { result: result ?? null } });
    }

    const dialogPath = `/${version}/dialog/oauth`;
    if (url.pathname === dialogPath || url.pathname === `${dialogPath}/confirm`) {
      const r = dialogPage(url.pathname.endsWith('/confirm') ? 'confirm' : 'show', req.method ?? 'GET', q, {
        apps: state.apps,
        users: [...state.users.values()],
        dialogUser,
        newCode: (appId, redirectUri, userId, scopes) => state.newCode(appId, redirectUri, userId, scopes),
      });
      res.statusCode = r.status;
      for (const [k, v] of Object.entries(r.headers)) res.setHeader(k, v);
      res.end(r.body);
      return;
    }

    calls.push({ method: req.method ?? 'GET', path: url.pathname, params: Object.keys(q).sort(), at: clock.now() });
    if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
    const fault = takeFault(url.pathname);
    if (fault) {
      const r = faultReply(fault);
      if (r === 'hold') {
        pending.add(res);
        res.on('close', () => pending.delete(res));
        return;
      }
      return send(r);
    }
    const r = route(req.method ?? 'GET', url.pathname, q);
    const headers: Record<string, string> = { 'x-app-usage': usageHeader(Math.min(99, Math.ceil(calls.length / 100))), ...(r.headers ?? {}) };
    if (/^\/v[\d.]+\/\d+/.test(url.pathname)) headers['x-page-usage'] = usageHeader(1);
    send({ ...r, headers });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      res.statusCode = 500;
      res.end(JSON.stringify({ error: { message: `emulator fault: ${e instanceof Error ? e.message : 'unknown'}`, code: 1 } }));
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://${options.host ?? '127.0.0.1'}:${port}`;

  return {
    url,
    version,
    calls,
    ...controls,
    async close() {
      for (const res of pending) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type FakeGraph = Awaited<ReturnType<typeof startFakeGraph>>;

/** `fake-graph --port N`: an emulator seeded with one app, user and Page, for demos. */
export async function runFakeGraphCli(argv: string[]): Promise<void> {
  const i = argv.indexOf('--port');
  const port = i >= 0 ? Number(argv[i + 1]) : 5055;
  const g = await startFakeGraph({ port });
  const app = g.createApp({ name: 'Demo app' });
  const user = g.createUser({ name: 'Demo admin' });
  const page = g.createPage({ name: 'Demo Page' });
  g.grantRole(user.id, page.id);
  const short = g.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'short' });
  process.stdout.write(
    `${JSON.stringify({ graph_api_url: g.url, facebook_dialog_url: g.url, app_id: app.appId, app_secret: app.appSecret, user_id: user.id, page_id: page.id, short_lived_user_token: short, valid_for_days: SHORT_LIVED_MS / DAY }, null, 2)}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await g.close();
}
