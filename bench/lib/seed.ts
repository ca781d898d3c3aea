/**
 * Bench databases and seeding. Pages are written straight through `Store.savePage` with tokens the
 * emulator issued (valid, distinct per Page), instead of through `keeper.setup` (four Graph calls
 * each): the benchmarks measure checks, not set-up, and what is stored is exactly what a set-up
 * would have stored for these tokens.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createSecretBox } from '../../src/crypto/secret-box.js';
import { deriveState, type Policy } from '../../src/lifecycle/decide.js';
import { tokenHash } from '../../src/crypto/token-hash.js';
import { NOTHING_YET } from '../../src/lifecycle/setup.js';
import { openStore } from '../../src/store/database.js';
import type { NewPage, Store } from '../../src/store/types.js';
import type { SeededPage } from './emulator-child.js';
import type { RemoteEmulator } from './emulator.js';

export type Backend = 'sqlite' | 'postgres';

export interface BenchDatabase {
  backend: Backend;
  /** DATABASE_URL for a keeper (PostgreSQL: with `schema`). */
  databaseUrl: string;
  schema: string | undefined;
  /** base64 TOKEN_ENCRYPTION_KEY the pages are sealed with. */
  key: string;
  dir: string;
  open(): Promise<Store>;
  /** Raw SQL for fixtures (making a subset due); `?` placeholders on both backends. */
  exec(text: string, params?: unknown[]): Promise<void>;
  drop(): Promise<void>;
}

export const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export async function createBenchDatabase(backend: Backend): Promise<BenchDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'fbtk-bench-'));
  const keyBytes = randomBytes(32);
  const key = keyBytes.toString('base64');
  const schema = backend === 'postgres' ? `bench_${randomBytes(5).toString('hex')}` : undefined;
  const databaseUrl = backend === 'sqlite' ? `sqlite:${join(dir, 'bench.db')}` : PG_URL;
  const open = async () => {
    const store = await openStore({ databaseUrl, schema, secretBox: createSecretBox({ current: keyBytes }) });
    return store;
  };
  const pgClient = async () => {
    const c = new pg.Client({
      connectionString: PG_URL,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    await c.connect();
    return c;
  };
  return {
    backend,
    databaseUrl,
    schema,
    key,
    dir,
    open,
    async exec(text, params = []) {
      if (backend === 'sqlite') {
        const { default: Sqlite } = await import('better-sqlite3');
        const conn = new Sqlite(join(dir, 'bench.db'), { timeout: 5000 });
        try {
          conn.prepare(text).run(...params);
        } finally {
          conn.close();
        }
        return;
      }
      const c = await pgClient();
      try {
        let n = 0;
        await c.query(
          text.replace(/\?/g, () => `$${++n}`),
          params,
        );
      } finally {
        await c.end();
      }
    },
    async drop() {
      if (schema) {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`drop schema if exists ${schema} cascade`);
        await c.end();
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const BENCH_POLICY: Policy = { renewalThresholdDays: 50, checkIntervalMs: 6 * 3_600_000 };

/** The page a set-up with this Page's long-lived user token stores: a never-expiring Page token. */
export function pageFor(s: SeededPage, now: number, nextCheckAt: number | null): NewPage {
  const appId = s.appId;
  const common = {
    dataAccessExpiresAt: s.dataAccessExpiresAt,
    scopes: [...s.scopes],
    userId: s.userId,
    appId,
    checkedAt: now,
    error: null,
  };
  const page: NewPage = {
    pageId: s.pageId,
    platform: 'facebook_page',
    pageName: s.pageName,
    appId,
    state: 'healthy',
    stateReason: null,
    stateMessage: null,
    posting: {
      ...common,
      type: 'PAGE',
      isValid: true,
      expiresAt: null,
      profileId: s.pageId,
      hash: tokenHash(s.postingToken),
    },
    source: {
      ...common,
      type: 'USER',
      isValid: true,
      expiresAt: s.sourceExpiresAt,
      profileId: null,
      hash: tokenHash(s.sourceToken),
    },
    autoRenew: true,
    renewalThresholdDays: null,
    lastCheckedAt: now,
    nextCheckAt,
    ...NOTHING_YET,
  };
  const d = deriveState(
    { ...page, connectionId: null, createdAt: now, updatedAt: now, leaseOwner: null, leaseExpiresAt: null },
    now,
    BENCH_POLICY,
  );
  return { ...page, state: d.state, stateReason: d.reason, stateMessage: d.message };
}

/** Save every seeded page through the Store; `nextCheckAt(i)` decides which are due. */
export async function seedStore(
  store: Store,
  pages: SeededPage[],
  nextCheckAt: (i: number) => number | null,
  onProgress?: (done: number) => void,
): Promise<void> {
  const now = Date.now();
  let next = 0;
  let done = 0;
  // SQLite runs one statement at a time anyway; PostgreSQL uses its pool (10 connections).
  const worker = async () => {
    while (next < pages.length) {
      const i = next++;
      const s = pages[i]!;
      await store.savePage(pageFor(s, now, nextCheckAt(i)), {
        appSecret: s.appSecret,
        postingToken: s.postingToken,
        sourceToken: s.sourceToken,
      });
      if (++done % 10_000 === 0) onProgress?.(done);
    }
  };
  // Pages of one login join its connection as they are saved: one writer, or two first saves of a
  // login would both try to create it.
  const shared = new Set(pages.map((p) => p.sourceToken)).size < pages.length;
  await Promise.all(Array.from({ length: store.dialect === 'postgres' && !shared ? 10 : 1 }, worker));
}

/** N Pages minted in the emulator (listed in a temporary file, removed by `drop`); prints the time. */
export async function mintPages(
  emulator: RemoteEmulator,
  n: number,
  perLogin = 1,
  prefix = '9',
): Promise<{ seeded: SeededPage[]; drop: () => Promise<void> }> {
  const t = performance.now();
  const tmp = await createBenchDatabase('sqlite');
  const seeded = await emulator.seed(n, join(tmp.dir, 'pages.jsonl'), prefix, perLogin);
  console.log(
    `emulator: ${n} pages (${perLogin} per login) with minted tokens in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  return { seeded, drop: () => tmp.drop() };
}

/** A fresh, migrated `backend` database holding `seeded`, saved through Store.savePage; prints the time. */
export async function seededDatabase(
  backend: Backend,
  seeded: SeededPage[],
  nextCheckAt: (i: number) => number | null,
): Promise<BenchDatabase> {
  const db = await createBenchDatabase(backend);
  try {
    const store = await db.open();
    await store.migrate();
    const t = performance.now();
    await seedStore(store, seeded, nextCheckAt, (n) => process.stdout.write(`  seeded ${n}\r`));
    await store.close();
    console.log(
      `${backend}: seeded ${seeded.length} pages through Store.savePage in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
    return db;
  } catch (e) {
    await db.drop();
    throw e;
  }
}
