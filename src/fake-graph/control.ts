/**
 * The emulator's control API over HTTP: `POST /__emulator/<op>` with a JSON object body, answering
 * `{ "result": … }` or `{ "error": { "message" } }` (400). The same operations as the in-process
 * methods, so a test can drive an emulator running in another process (`fake-graph --port N`).
 * A JSON array body is taken as the positional arguments of the method.
 */
import { z } from 'zod';
import {
  PLATFORM_EVENTS,
  type PlatformEvent,
  type PlatformTokenStatus,
  REFRESHABLE_PLATFORMS,
} from './refreshable.js';
import { ControlError, type TokenStatus } from './state.js';
import { FAULT_KINDS, type FaultSpec, type RecordedCall } from './http.js';
import type { FakeGraph } from './fake-graph.js';

/** JSON cannot carry Infinity: `times` may be null, "Infinity" or a number. */
const times = z
  .union([z.number().int().positive(), z.literal('Infinity'), z.null()])
  .transform((v) => (v === null || v === 'Infinity' ? Number.POSITIVE_INFINITY : v));

const str = z.string().min(1);
const platform = z.enum(REFRESHABLE_PLATFORMS);
const scopes = z.array(str).optional();

interface OpDef {
  schema: z.ZodType;
  run: (g: FakeGraph, args: unknown) => unknown;
}

/** Drop undefined fields (zod's optional output vs. exactOptionalPropertyTypes). */
function defined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

function def<S extends z.ZodType>(schema: S, run: (g: FakeGraph, args: z.output<S>) => unknown): OpDef {
  return { schema, run: run as (g: FakeGraph, args: unknown) => unknown };
}

/** Each op: its body schema and what it calls. Field names are the method's parameter names. */
const OPS = {
  createApp: def(
    z.object({ appId: str.optional(), appSecret: str.optional(), name: str.optional() }),
    (g, a) => g.createApp(defined(a)),
  ),
  createUser: def(z.object({ id: str.optional(), name: str.optional() }), (g, a) => g.createUser(defined(a))),
  createPage: def(z.object({ id: str.optional(), name: str.optional() }), (g, a) => g.createPage(defined(a))),
  grantRole: def(z.object({ userId: str, pageId: str, tasks: z.array(str).optional() }), (g, a) =>
    g.grantRole(a.userId, a.pageId, a.tasks),
  ),
  removeRole: def(z.object({ userId: str, pageId: str }), (g, a) => g.removeRole(a.userId, a.pageId)),
  issueUserToken: def(
    z.object({ appId: str, userId: str, lifetime: z.enum(['short', 'long']), scopes }),
    (g, a) =>
      g.issueUserToken({
        appId: a.appId,
        userId: a.userId,
        lifetime: a.lifetime,
        ...(a.scopes ? { scopes: a.scopes } : {}),
      }),
  ),
  createSystemUser: def(
    z.object({ appId: str, pages: z.array(str).default([]), name: str.optional() }),
    (g, a) => g.createSystemUser({ appId: a.appId, pages: a.pages, ...(a.name ? { name: a.name } : {}) }),
  ),
  issueSystemUserToken: def(
    z.object({ appId: str, systemUserId: str, expiring: z.boolean().optional(), scopes }),
    (g, a) =>
      g.issueSystemUserToken({
        appId: a.appId,
        systemUserId: a.systemUserId,
        ...(a.expiring !== undefined ? { expiring: a.expiring } : {}),
        ...(a.scopes ? { scopes: a.scopes } : {}),
      }),
  ),
  issueWhatsAppTemporaryToken: def(z.object({ appId: str, userId: str }), (g, a) =>
    g.issueWhatsAppTemporaryToken(a),
  ),
  changePassword: def(z.object({ userId: str }), (g, a) => g.changePassword(a.userId)),
  logout: def(z.object({ userId: str }), (g, a) => g.logout(a.userId)),
  checkpoint: def(z.object({ userId: str }), (g, a) => g.checkpoint(a.userId)),
  inactive90Days: def(z.object({ userId: str }), (g, a) => g.inactive90Days(a.userId)),
  removeApp: def(z.object({ userId: str, appId: str }), (g, a) => g.removeApp(a.userId, a.appId)),
  invalidateToken: def(z.object({ token: str, subcode: z.number().int().optional() }), (g, a) =>
    g.invalidateToken(a.token, a.subcode),
  ),
  setExchangeExtends: def(z.object({ value: z.boolean() }), (g, a) => g.setExchangeExtends(a.value)),
  setPageTokensInheritExpiry: def(z.object({ value: z.boolean() }), (g, a) =>
    g.setPageTokensInheritExpiry(a.value),
  ),
  setDialogUser: def(z.object({ userId: str }), (g, a) => g.setDialogUser(a.userId)),
  addDeveloper: def(z.object({ appId: str, userId: str }), (g, a) => g.addDeveloper(a.appId, a.userId)),
  selectPages: def(z.object({ appId: str, userId: str, pageIds: z.array(str) }), (g, a) =>
    g.selectPages(a.appId, a.userId, a.pageIds),
  ),
  setDataAccessExpiry: def(z.object({ appId: str, userId: str, at: z.number() }), (g, a) =>
    g.setDataAccessExpiry(a.appId, a.userId, a.at),
  ),
  tokenStatus: def(z.object({ token: str }), (g, a) => g.tokenStatus(a.token)),
  injectFault: def(
    z.object({
      path: str.optional(),
      kind: z.enum(FAULT_KINDS),
      times: times.optional(),
      probability: z.number().min(0).max(1).optional(),
      regainMinutes: z.number().nonnegative().optional(),
      blockMinutes: z.number().nonnegative().optional(),
    }),
    (g, a) => {
      const f: FaultSpec = { kind: a.kind };
      if (a.path !== undefined) f.path = a.path;
      if (a.times !== undefined) f.times = a.times;
      if (a.probability !== undefined) f.probability = a.probability;
      if (a.regainMinutes !== undefined) f.regainMinutes = a.regainMinutes;
      if (a.blockMinutes !== undefined) f.blockMinutes = a.blockMinutes;
      g.injectFault(f);
    },
  ),
  clearFaults: def(z.object({}), (g) => g.clearFaults()),
  setAppUsers: def(z.object({ appId: str, users: z.number().int().positive().nullable() }), (g, a) =>
    g.setAppUsers(a.appId, a.users),
  ),
  setUserLimit: def(
    z.object({ appId: str, callsPerHour: z.number().int().nonnegative().nullable() }),
    (g, a) => g.setUserLimit(a.appId, a.callsPerHour),
  ),
  setCustomLimit: def(
    z.object({ appId: str, path: str, callsPerHour: z.number().int().nonnegative().nullable() }),
    (g, a) => g.setCustomLimit(a.appId, a.path, a.callsPerHour),
  ),
  refuseInBatch: def(z.object({ path: str, refuse: z.boolean().default(true) }), (g, a) =>
    g.refuseInBatch(a.path, a.refuse),
  ),
  appUsage: def(z.object({ appId: str }), (g, a) => g.appUsage(a.appId)),
  resetUsage: def(z.object({}), (g) => g.resetUsage()),
  setLatency: def(z.object({ ms: z.number().nonnegative() }), (g, a) => g.setLatency(a.ms)),
  calls: def(z.object({}), (g) => g.calls),
  countCalls: def(z.object({ path: str.optional() }), (g, a) => g.countCalls(a.path)),
  resetCalls: def(z.object({}), (g) => g.resetCalls()),
  now: def(z.object({}), (g) => g.clock.now()),
  advanceClock: def(z.object({ ms: z.number() }), (g, a) => g.advanceClock(a.ms)),
  // Instagram Login and Threads.
  createPlatformApp: def(
    z.object({
      platform,
      appId: str.optional(),
      appSecret: str.optional(),
      name: str.optional(),
      facebookAppId: str.optional(),
    }),
    (g, { platform: p, ...o }) => g.createPlatformApp(p, defined(o)),
  ),
  createPlatformAccount: def(
    z.object({ platform, id: str.optional(), username: str.optional(), name: str.optional() }),
    (g, { platform: p, ...o }) => g.createPlatformAccount(p, defined(o)),
  ),
  issuePlatformToken: def(
    z.object({ platform, appId: str, accountId: str, lifetime: z.enum(['short', 'long']), scopes }),
    (g, a) =>
      g.issuePlatformToken(a.platform, {
        appId: a.appId,
        accountId: a.accountId,
        lifetime: a.lifetime,
        ...(a.scopes ? { scopes: a.scopes } : {}),
      }),
  ),
  platformEvent: def(
    z.object({ platform, accountId: str, event: z.enum(PLATFORM_EVENTS), appId: str.optional() }),
    (g, a) => g.platformEvent(a.platform, a.accountId, a.event, a.appId),
  ),
  invalidatePlatformToken: def(
    z.object({ platform, token: str, event: z.enum(PLATFORM_EVENTS).optional() }),
    (g, a) => g.invalidatePlatformToken(a.platform, a.token, a.event),
  ),
  platformTokenStatus: def(z.object({ platform, token: str }), (g, a) =>
    g.platformTokenStatus(a.platform, a.token),
  ),
  setRefreshChangesToken: def(z.object({ platform, value: z.boolean() }), (g, a) =>
    g.setRefreshChangesToken(a.platform, a.value),
  ),
  setPlatformDialogAccount: def(z.object({ platform, accountId: str }), (g, a) =>
    g.setPlatformDialogAccount(a.platform, a.accountId),
  ),
} satisfies Record<string, OpDef>;

export type ControlOp = keyof typeof OPS;
export const CONTROL_OPS = Object.keys(OPS) as ControlOp[];

/** Positional parameter names, for a JSON array body. */
const POSITIONAL: Partial<Record<ControlOp, string[]>> = {
  grantRole: ['userId', 'pageId', 'tasks'],
  removeRole: ['userId', 'pageId'],
  changePassword: ['userId'],
  logout: ['userId'],
  checkpoint: ['userId'],
  inactive90Days: ['userId'],
  removeApp: ['userId', 'appId'],
  invalidateToken: ['token', 'subcode'],
  setExchangeExtends: ['value'],
  setPageTokensInheritExpiry: ['value'],
  setDialogUser: ['userId'],
  tokenStatus: ['token'],
  setLatency: ['ms'],
  countCalls: ['path'],
  advanceClock: ['ms'],
  platformEvent: ['platform', 'accountId', 'event', 'appId'],
  invalidatePlatformToken: ['platform', 'token', 'event'],
  platformTokenStatus: ['platform', 'token'],
  setRefreshChangesToken: ['platform', 'value'],
  setPlatformDialogAccount: ['platform', 'accountId'],
  setAppUsers: ['appId', 'users'],
  appUsage: ['appId'],
};

export interface ControlReply {
  status: number;
  body: unknown;
}

/** Runs one control operation from its JSON body text. Never throws. */
export function runControl(graph: FakeGraph, op: string, bodyText: string): ControlReply {
  const entry = (OPS as Record<string, OpDef | undefined>)[op];
  if (!entry) {
    return {
      status: 404,
      body: { error: { message: `unknown control operation "${op}"; one of ${CONTROL_OPS.join(', ')}` } },
    };
  }
  let raw: unknown;
  try {
    raw = bodyText.trim() === '' ? {} : JSON.parse(bodyText);
  } catch {
    return { status: 400, body: { error: { message: 'body is not JSON' } } };
  }
  if (Array.isArray(raw)) {
    const args: unknown[] = raw;
    const names = POSITIONAL[op as ControlOp];
    raw = names
      ? Object.fromEntries(
          names.map((n, i) => [n, args[i]] as const).filter(([, v]) => v !== undefined && v !== null),
        )
      : (args[0] ?? {});
  }
  const parsed = entry.schema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
    return { status: 400, body: { error: { message: `invalid ${op} arguments: ${problems}` } } };
  }
  try {
    return { status: 200, body: { result: entry.run(graph, parsed.data) ?? null } };
  } catch (e: unknown) {
    if (e instanceof ControlError || e instanceof Error) {
      return { status: 400, body: { error: { message: e.message } } };
    }
    return { status: 400, body: { error: { message: 'control operation failed' } } };
  }
}

/** The control API of an emulator in another process, as async methods. */
export interface RemoteFakeGraph {
  readonly url: string;
  op<T = unknown>(name: ControlOp, args?: Record<string, unknown>): Promise<T>;
  createApp(o?: {
    appId?: string;
    appSecret?: string;
    name?: string;
  }): Promise<{ appId: string; appSecret: string; name: string }>;
  createUser(o?: { id?: string; name?: string }): Promise<{ id: string; name: string }>;
  createPage(o?: { id?: string; name?: string }): Promise<{ id: string; name: string }>;
  grantRole(userId: string, pageId: string, tasks?: string[]): Promise<void>;
  removeRole(userId: string, pageId: string): Promise<void>;
  issueUserToken(o: {
    appId: string;
    userId: string;
    lifetime: 'short' | 'long';
    scopes?: string[];
  }): Promise<string>;
  createSystemUser(o: {
    appId: string;
    pages: string[];
    name?: string;
  }): Promise<{ id: string; name: string }>;
  issueSystemUserToken(o: {
    appId: string;
    systemUserId: string;
    expiring?: boolean;
    scopes?: string[];
  }): Promise<string>;
  changePassword(userId: string): Promise<void>;
  logout(userId: string): Promise<void>;
  checkpoint(userId: string): Promise<void>;
  inactive90Days(userId: string): Promise<void>;
  removeApp(userId: string, appId: string): Promise<void>;
  invalidateToken(token: string, subcode?: number): Promise<void>;
  setExchangeExtends(value: boolean): Promise<void>;
  setPageTokensInheritExpiry(value: boolean): Promise<void>;
  setDialogUser(userId: string): Promise<void>;
  addDeveloper(appId: string, userId: string): Promise<void>;
  selectPages(appId: string, userId: string, pageIds: string[]): Promise<void>;
  setDataAccessExpiry(appId: string, userId: string, at: number): Promise<void>;
  tokenStatus(token: string): Promise<TokenStatus>;
  setAppUsers(appId: string, users: number | null): Promise<void>;
  setUserLimit(appId: string, callsPerHour: number | null): Promise<void>;
  setCustomLimit(appId: string, path: string, callsPerHour: number | null): Promise<void>;
  refuseInBatch(path: string, refuse?: boolean): Promise<void>;
  appUsage(appId: string): Promise<ReturnType<FakeGraph['appUsage']>>;
  resetUsage(): Promise<void>;
  injectFault(f: FaultSpec): Promise<void>;
  clearFaults(): Promise<void>;
  setLatency(ms: number): Promise<void>;
  calls(): Promise<RecordedCall[]>;
  countCalls(path?: string): Promise<number>;
  resetCalls(): Promise<void>;
  now(): Promise<number>;
  advanceClock(ms: number): Promise<number>;
  createPlatformApp(
    platform: 'instagram' | 'threads',
    o?: { appId?: string; appSecret?: string; name?: string; facebookAppId?: string },
  ): Promise<{ appId: string; appSecret: string; name: string; facebookAppId: string | null }>;
  createPlatformAccount(
    platform: 'instagram' | 'threads',
    o?: { id?: string; username?: string; name?: string },
  ): Promise<{ id: string; username: string; name: string }>;
  issuePlatformToken(
    platform: 'instagram' | 'threads',
    o: { appId: string; accountId: string; lifetime: 'short' | 'long'; scopes?: string[] },
  ): Promise<string>;
  platformEvent(
    platform: 'instagram' | 'threads',
    accountId: string,
    event: PlatformEvent,
    appId?: string,
  ): Promise<void>;
  invalidatePlatformToken(
    platform: 'instagram' | 'threads',
    token: string,
    event?: PlatformEvent,
  ): Promise<void>;
  platformTokenStatus(platform: 'instagram' | 'threads', token: string): Promise<PlatformTokenStatus>;
  setRefreshChangesToken(platform: 'instagram' | 'threads', value: boolean): Promise<void>;
  setPlatformDialogAccount(platform: 'instagram' | 'threads', accountId: string): Promise<void>;
}

/** Drive an emulator (this process or another) through its HTTP control API. */
export function connectFakeGraph(url: string): RemoteFakeGraph {
  const base = url.replace(/\/+$/, '');
  async function op<T>(name: ControlOp, args: Record<string, unknown> = {}): Promise<T> {
    const res = await fetch(`${base}/__emulator/${name}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(args, (_k, v: unknown) => (v === Number.POSITIVE_INFINITY ? 'Infinity' : v)),
    });
    const body = (await res.json()) as { result?: T; error?: { message: string } };
    if (!res.ok || body.error) {
      throw new Error(`fake-graph ${name}: ${body.error?.message ?? `HTTP ${res.status}`}`);
    }
    return body.result as T;
  }
  const v = async (p: Promise<unknown>) => {
    await p;
  };
  return {
    url: base,
    op,
    createApp: (o = {}) => op('createApp', o),
    createUser: (o = {}) => op('createUser', o),
    createPage: (o = {}) => op('createPage', o),
    grantRole: (userId, pageId, tasks) => v(op('grantRole', { userId, pageId, ...(tasks ? { tasks } : {}) })),
    removeRole: (userId, pageId) => v(op('removeRole', { userId, pageId })),
    issueUserToken: (o) => op('issueUserToken', o),
    createSystemUser: (o) => op('createSystemUser', o),
    issueSystemUserToken: (o) => op('issueSystemUserToken', o),
    changePassword: (userId) => v(op('changePassword', { userId })),
    logout: (userId) => v(op('logout', { userId })),
    checkpoint: (userId) => v(op('checkpoint', { userId })),
    inactive90Days: (userId) => v(op('inactive90Days', { userId })),
    removeApp: (userId, appId) => v(op('removeApp', { userId, appId })),
    invalidateToken: (token, subcode) =>
      v(op('invalidateToken', { token, ...(subcode !== undefined ? { subcode } : {}) })),
    setExchangeExtends: (value) => v(op('setExchangeExtends', { value })),
    setPageTokensInheritExpiry: (value) => v(op('setPageTokensInheritExpiry', { value })),
    setDialogUser: (userId) => v(op('setDialogUser', { userId })),
    addDeveloper: (appId, userId) => v(op('addDeveloper', { appId, userId })),
    selectPages: (appId, userId, pageIds) => v(op('selectPages', { appId, userId, pageIds })),
    setDataAccessExpiry: (appId, userId, at) => v(op('setDataAccessExpiry', { appId, userId, at })),
    tokenStatus: (token) => op('tokenStatus', { token }),
    setAppUsers: (appId, users) => v(op('setAppUsers', { appId, users })),
    setUserLimit: (appId, callsPerHour) => v(op('setUserLimit', { appId, callsPerHour })),
    setCustomLimit: (appId, path, callsPerHour) => v(op('setCustomLimit', { appId, path, callsPerHour })),
    refuseInBatch: (path, refuse = true) => v(op('refuseInBatch', { path, refuse })),
    appUsage: (appId) => op('appUsage', { appId }),
    resetUsage: () => v(op('resetUsage')),
    injectFault: (f) => v(op('injectFault', { ...f })),
    clearFaults: () => v(op('clearFaults')),
    setLatency: (ms) => v(op('setLatency', { ms })),
    calls: () => op('calls'),
    countCalls: (path) => op('countCalls', path === undefined ? {} : { path }),
    resetCalls: () => v(op('resetCalls')),
    now: () => op('now'),
    advanceClock: (ms) => op('advanceClock', { ms }),
    createPlatformApp: (p, o = {}) => op('createPlatformApp', { platform: p, ...o }),
    createPlatformAccount: (p, o = {}) => op('createPlatformAccount', { platform: p, ...o }),
    issuePlatformToken: (p, o) => op('issuePlatformToken', { platform: p, ...o }),
    platformEvent: (p, accountId, event, appId) =>
      v(op('platformEvent', { platform: p, accountId, event, ...(appId === undefined ? {} : { appId }) })),
    invalidatePlatformToken: (p, token, event) =>
      v(op('invalidatePlatformToken', { platform: p, token, ...(event === undefined ? {} : { event }) })),
    platformTokenStatus: (p, token) => op('platformTokenStatus', { platform: p, token }),
    setRefreshChangesToken: (p, value) => v(op('setRefreshChangesToken', { platform: p, value })),
    setPlatformDialogAccount: (p, accountId) => v(op('setPlatformDialogAccount', { platform: p, accountId })),
  };
}
