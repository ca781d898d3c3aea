/**
 * Shared by the reliability suite: a real `serve` process, polling with a deadline (the suite never
 * sleeps except while waiting on a real process), PostgreSQL schemas reachable through a URL,
 * history consistency checks, and a seeded random source so a failing run can be replayed.
 *
 * RELIABILITY_SCALE=large makes every test run longer and harder (see `scale`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { resolve } from 'node:path';
import pg from 'pg';
import { systemClock } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import type { FakeGraph } from '../../src/fake-graph/index.js';
import { createApiKey } from '../../src/http/auth.js';
import { createTokenKeeper } from '../../src/lifecycle/keeper.js';
import { silentLogger } from '../../src/logger.js';
import { tokenHash } from '../../src/crypto/token-hash.js';
import { mulberry32 } from '../../src/random.js';
import type { Store } from '../../src/store/types.js';
import type { HistoryEvent } from '../../src/types.js';

export const LARGE = process.env.RELIABILITY_SCALE === 'large';

/** Pick the bounded (CI) or the large figure. */
export function scale<T>(bounded: T, large: T): T {
  return LARGE ? large : bounded;
}

/** Seed for every random choice in the suite; printed by each test so a failure can be replayed. */
export const SEED = Number(process.env.RELIABILITY_SEED ?? Date.now() % 2 ** 31);

/** Kill points and fault rolls come from one seeded source, so a failing run can be replayed. */
export const prng = mulberry32;

/** Poll `fn` until it returns a value other than undefined/false, or fail after `timeoutMs`. */
export async function pollUntil<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 25));
  }
}

/**
 * A port nothing listens on, chosen below Linux's ephemeral range (32768–60999): a port the kernel
 * hands out for `listen(0)` is in that range, and so is every outgoing connection's local port, so
 * under a busy parallel run another test could take it between this check and the process that
 * binds it (a CI run's README test once waited five minutes for a `serve` that never became ready).
 */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canListen(port)) return port;
  }
  return listenOn(0);
}

function canListen(port: number): Promise<boolean> {
  return listenOn(port).then(
    () => true,
    () => false,
  );
}

function listenOn(port: number): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => {
      const address = s.address();
      const bound = typeof address === 'object' && address ? address.port : 0;
      s.close(() => resolvePort(bound));
    });
  });
}

const BIN = resolve(import.meta.dirname, '../../bin/fb-token-keeper.js');

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly pid: number;
  /** Everything the process wrote, for assertions and for failure messages. */
  output(): string;
  /** Resolves with the exit code / signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  /** Poll GET /readyz until it answers 200. Returns milliseconds since spawn. */
  waitReady(timeoutMs?: number): Promise<number>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** `node bin/fb-token-keeper.js serve` (the compiled dist/, built by the test global setup). */
export async function startServe(env: Record<string, string>): Promise<ServeProcess> {
  const port = await freePort();
  const started = Date.now();
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  let exitedFlag = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => {
      exitedFlag = true;
      r({ code, signal });
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  return {
    child,
    url,
    pid: child.pid ?? 0,
    output: () => out,
    exited,
    alive: () => !exitedFlag,
    async waitReady(timeoutMs = 20_000) {
      await pollUntil(
        'serve to answer /readyz with 200',
        async () => {
          if (exitedFlag) throw new Error(`serve exited early:\n${out.slice(-2000)}`);
          const r = await fetch(`${url}/readyz`);
          await r.arrayBuffer();
          return r.status === 200;
        },
        { timeoutMs, intervalMs: 10 },
      ).catch((e: unknown) => {
        throw new Error(
          `${e instanceof Error ? e.message : String(e)}\n--- serve output ---\n${out.slice(-3000)}`,
        );
      });
      return Date.now() - started;
    },
    async kill(signal = 'SIGKILL') {
      if (!exitedFlag) child.kill(signal);
      await exited;
    },
  };
}

/**
 * Set up `n` Pages through the library (as `add` would, one admin and one long-lived user token
 * each, all for one app) before any `serve` runs, and create one API key per requested scope set.
 */
export async function seedPages(
  env: Record<string, string>,
  graph: FakeGraph,
  n: number,
  keys: Record<string, ('admin' | 'token:read')[]> = { admin: ['admin'] },
  /**
   * Which token each Page is set up with. `user`: a long-lived user token (its Page token never
   * expires; the user token itself ends after 60 days and cannot be extended). `system_user_60d`:
   * an expiring system-user token, the kind Meta documents as refreshable every 60 days
   * (https://developers.facebook.com/docs/business-management-apis/system-users/install-apps-and-generate-tokens/).
   */
  kindOf: (i: number) => 'user' | 'system_user_60d' = () => 'user',
): Promise<{
  pageIds: string[];
  keys: Record<string, string>;
  kinds: Map<string, 'user' | 'system_user_60d'>;
}> {
  const keeper = await createTokenKeeper({
    config: loadConfig(env),
    logger: silentLogger,
    clock: systemClock,
    create: true,
  });
  try {
    const app = graph.createApp({ name: 'Reliability app' });
    const pageIds: string[] = [];
    const kinds = new Map<string, 'user' | 'system_user_60d'>();
    for (let i = 0; i < n; i++) {
      const page = graph.createPage({ name: `Page ${i}` });
      const kind = kindOf(i);
      let token: string;
      if (kind === 'system_user_60d') {
        const su = graph.createSystemUser({ appId: app.appId, pages: [page.id], name: `System user ${i}` });
        token = graph.issueSystemUserToken({ appId: app.appId, systemUserId: su.id, expiring: true });
      } else {
        const user = graph.createUser({ name: `Admin ${i}` });
        graph.grantRole(user.id, page.id);
        token = graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
      }
      await keeper.setup({ pageId: page.id, accessToken: token, appId: app.appId, appSecret: app.appSecret });
      pageIds.push(page.id);
      kinds.set(page.id, kind);
    }
    const made: Record<string, string> = {};
    for (const [name, scopes] of Object.entries(keys)) {
      made[name] = (await createApiKey(keeper.store, { name, scopes, clock: systemClock })).key;
    }
    return { pageIds, keys: made, kinds };
  } finally {
    await keeper.close();
  }
}

// --- PostgreSQL -------------------------------------------------------------------------------

export const PG_URL = process.env.TEST_DATABASE_URL;

export async function pgAdmin<T>(fn: (c: pg.Client) => Promise<T>, url = PG_URL): Promise<T> {
  if (!url) throw new Error('TEST_DATABASE_URL is not set');
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A fresh schema, and a DATABASE_URL whose connections use it (search_path in `options`). */
export async function pgSchema(
  prefix: string,
): Promise<{ schema: string; databaseUrl: string; drop(): Promise<void> }> {
  if (!PG_URL) throw new Error('TEST_DATABASE_URL is not set');
  const schema = `${prefix}_${randomBytes(5).toString('hex')}`;
  await pgAdmin((c) => c.query(`create schema ${schema}`));
  const u = new URL(PG_URL);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return {
    schema,
    databaseUrl: u.toString(),
    drop: () => pgAdmin((c) => c.query(`drop schema if exists ${schema} cascade`)).then(() => undefined),
  };
}

// --- history consistency ------------------------------------------------------------------------

export interface ChainReport {
  rotations: number;
  problems: string[];
}

/**
 * The posting-token history of a page must be one unbroken chain: setup names the first token,
 * every `token_rotated` event goes from the previous token to a new one, no token appears twice,
 * every posting renewal (`renewed`/`healed` with a new token) has exactly one matching rotation,
 * and the chain ends at the token stored now. A renewal written twice, or half-written (event
 * without token or token without event), breaks one of these.
 */
export function checkRotationChain(events: HistoryEvent[], storedPostingToken: string): ChainReport {
  const problems: string[] = [];
  const oldestFirst = [...events].sort((a, b) => a.id - b.id);
  let current: string | null = null;
  const seen = new Set<string>();
  let rotations = 0;
  const renewedHashes: string[] = [];
  const rotatedHashes: string[] = [];
  for (const e of oldestFirst) {
    const d = e.details as { token_hash?: string; previous_token_hash?: string | null };
    if (e.type === 'setup' || e.type === 'reconnected') {
      if (typeof d.token_hash !== 'string') problems.push(`event ${e.id} (${e.type}) has no token_hash`);
      if (current !== null && d.token_hash !== current && d.previous_token_hash !== current) {
        problems.push(`event ${e.id} (${e.type}) does not follow the chain`);
      }
      if (d.token_hash && d.token_hash !== current) {
        current = d.token_hash;
        seen.add(current);
      }
    } else if (e.type === 'token_rotated' && e.reason !== 'setup' && e.reason !== 'reconnected') {
      rotations++;
      if (d.previous_token_hash !== current) {
        problems.push(
          `rotation ${e.id} starts from ${String(d.previous_token_hash)} but the chain is at ${String(current)}`,
        );
      }
      if (typeof d.token_hash !== 'string') {
        problems.push(`rotation ${e.id} has no token_hash`);
        continue;
      }
      if (seen.has(d.token_hash)) problems.push(`token ${d.token_hash} appears twice (rotation ${e.id})`);
      seen.add(d.token_hash);
      rotatedHashes.push(d.token_hash);
      current = d.token_hash;
    } else if (
      (e.type === 'renewed' || e.type === 'healed') &&
      typeof d.token_hash === 'string' &&
      d.token_hash !== d.previous_token_hash
    ) {
      renewedHashes.push(d.token_hash);
    }
  }
  const stored = tokenHash(storedPostingToken);
  if (current !== stored) {
    problems.push(`the chain ends at ${String(current)} but the stored posting token is ${stored}`);
  }
  const a = [...renewedHashes].sort().join(',');
  const b = [...rotatedHashes].sort().join(',');
  if (a !== b) {
    problems.push(
      `renewal events (${renewedHashes.length}) and rotations (${rotatedHashes.length}) do not match`,
    );
  }
  return { rotations, problems };
}

/** Every page's stored posting token, decrypted (proves the row is whole and readable). */
export async function storedTokens(
  store: Store,
): Promise<Map<string, { posting: string; source: string | null }>> {
  const out = new Map<string, { posting: string; source: string | null }>();
  for (const p of await store.listPages()) {
    const s = await store.getSecrets(p.pageId);
    if (!s) throw new Error(`page ${p.pageId} has no secrets`);
    out.set(p.pageId, { posting: s.postingToken, source: s.sourceToken });
  }
  return out;
}

// --- a TCP proxy to cut a database connection like a network failure does -----------------------

export interface TcpProxy {
  readonly port: number;
  /** Destroy every open connection (both sides), as a network cut or a server crash would. */
  cut(): number;
  /** Refuse new connections (accept and destroy them at once) until `restore()`. */
  refuse(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function tcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let refusing = false;
  const server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    cut() {
      const n = sockets.size;
      for (const s of sockets) s.destroy();
      return n;
    },
    refuse() {
      refusing = true;
    },
    restore() {
      refusing = false;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
