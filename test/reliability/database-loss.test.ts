/**
 * Database loss: a real `serve` process loses its database for a while.
 *
 * - PostgreSQL: the keeper's own role is refused new logins and its connections are terminated
 *   (what a failover, a restart or a network cut looks like to the pool). `/readyz` must answer 503
 *   naming the database, the process must not crash, and once the role may log in again `/readyz`
 *   is 200 and scheduled checks resume.
 * - SQLite: the disk fills up under the database (a small tmpfs; skipped where mounting is not
 *   allowed). Writes fail and `/readyz` says so (a full disk is invisible to `select 1`, so the
 *   store remembers the failing write until one succeeds); the process must not crash, every
 *   stored token must stay readable and valid, and checks resume once space is freed.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createSecretBox } from '../../src/crypto/secret-box.js';
import { startFakeGraph } from '../../src/fake-graph/index.js';
import { openStore } from '../../src/store/database.js';
import {
  PG_URL,
  pgAdmin,
  pollUntil,
  scale,
  seedPages,
  startServe,
  storedTokens,
  tcpProxy,
} from './helpers.js';

const OUTAGE_MS = scale(3000, 20_000);

async function readyz(url: string): Promise<{
  status: number;
  body: { ok: boolean; checks: Record<string, { ok: boolean; message?: string }> };
}> {
  const r = await fetch(`${url}/readyz`);
  return { status: r.status, body: (await r.json()) as never };
}

/** A role of its own owning a schema of its own, so the test can lock it out and cut it off. */
async function pgRole(): Promise<{ role: string; databaseUrl: string; drop(): Promise<void> }> {
  const role = `fbtk_loss_${randomBytes(4).toString('hex')}`;
  await pgAdmin(async (c) => {
    await c.query(`create role ${role} login`);
    await c.query(`create schema ${role} authorization ${role}`);
  });
  const u = new URL(PG_URL!);
  u.username = role;
  u.password = '';
  u.searchParams.set('options', `-c search_path=${role}`);
  return {
    role,
    databaseUrl: u.toString(),
    drop: () =>
      pgAdmin(async (c) => {
        await c.query(`alter role ${role} login`);
        await c.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [role]);
        await c.query(`drop schema if exists ${role} cascade`);
        await c.query(`drop role if exists ${role}`);
      }),
  };
}

const cutOff = (c: pg.Client, role: string) =>
  c.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [role]);

describe.skipIf(!PG_URL)('database loss on postgres', () => {
  it('role locked out and its connections cut: /readyz 503 naming the database, no crash, work resumes', {
    timeout: 120_000,
  }, async () => {
    const db = await pgRole();
    const graph = await startFakeGraph({});
    const env = {
      DATABASE_URL: db.databaseUrl,
      TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      GRAPH_API_URL: graph.url,
      FACEBOOK_DIALOG_URL: graph.url,
    };
    let serve: Awaited<ReturnType<typeof startServe>> | undefined;
    try {
      const key = (await seedPages(env, graph, 3)).keys.admin!;
      serve = await startServe(env);
      await serve.waitReady();
      const url = serve.url;
      const listed = (await (
        await fetch(`${url}/api/pages`, { headers: { authorization: `Bearer ${key}` } })
      ).json()) as { pages: { page_id: string }[] };
      const firstPage = listed.pages[0]!.page_id;

      // --- the database goes away: no new logins, every connection of the keeper cut ------------
      await pgAdmin(async (c) => {
        await c.query(`alter role ${db.role} nologin`);
        await cutOff(c, db.role);
      });
      const down = await pollUntil('/readyz to report the database down', async () => {
        const r = await readyz(url);
        return r.status === 503 ? r : undefined;
      });
      expect(down.body.checks.database?.ok).toBe(false);
      expect(down.body.checks.database?.message ?? '').toMatch(/database/i);
      // Liveness is not readiness: the process answers; API calls fail with an error, not a hang.
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      const api = await fetch(`${url}/api/pages`, { headers: { authorization: `Bearer ${key}` } });
      const apiBody = (await api.json()) as { error?: { code?: string } };
      // 503 database_unavailable with a Retry-After, never a 500: the fault is the database's.
      expect(api.status, JSON.stringify(apiBody)).toBe(503);
      expect(apiBody.error?.code).toBe('database_unavailable');
      expect(api.headers.get('retry-after')).toBe('5');
      expect(JSON.stringify(apiBody)).not.toContain(db.role);
      // The scheduler's rounds fail meanwhile (trigger one on demand too); the process survives.
      const check = await fetch(`${url}/api/pages/${firstPage}/check`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}` },
      });
      expect(check.status, await check.text()).toBe(503);
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      expect(serve.alive(), serve.output().slice(-2000)).toBe(true);
      expect((await readyz(url)).status).toBe(503);

      // --- it comes back ---------------------------------------------------------------------------
      const restoredAt = Date.now();
      await pgAdmin((c) => c.query(`alter role ${db.role} login`));
      await pollUntil('/readyz to be 200 again', async () => (await readyz(url)).status === 200, {
        timeoutMs: 30_000,
      });
      const again = await fetch(`${url}/api/pages/${firstPage}/check`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}` },
      });
      expect(again.status, await again.text()).toBe(200);
      const rows = await pgAdmin((c) =>
        c.query<{ n: string }>(`select count(*) as n from ${db.role}.pages where last_checked_at > $1`, [
          restoredAt,
        ]),
      );
      expect(Number(rows.rows[0]?.n ?? 0)).toBeGreaterThan(0);
      console.log(
        `database loss (postgres): during the outage /readyz said ${JSON.stringify(down.body.checks.database)}; /api/pages answered ${api.status} ${apiBody.error?.code ?? ''}; a check answered ${check.status}`,
      );

      await serve.kill('SIGTERM');
      expect((await serve.exited).code, serve.output().slice(-2000)).toBe(0);
    } finally {
      await serve?.kill('SIGKILL');
      await graph.close();
      await db.drop();
    }
  });

  /*
   * pg-pool takes its 'error' listener off a client while the client is checked out; without a
   * listener of our own (src/store/database.ts), a connection dying under a query in flight killed
   * the whole process with "Connection terminated unexpectedly". Reproduced deterministically: a
   * keeper query waits on a lock when a TCP proxy cuts its connection.
   */
  it('a connection cut while a query is in flight does not kill the process', {
    timeout: 60_000,
  }, async () => {
    const db = await pgRole();
    const pgUrl = new URL(db.databaseUrl);
    const proxy = await tcpProxy({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
    pgUrl.host = `127.0.0.1:${proxy.port}`;
    const graph = await startFakeGraph({});
    const env = {
      DATABASE_URL: pgUrl.toString(),
      TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      GRAPH_API_URL: graph.url,
    };
    let serve: Awaited<ReturnType<typeof startServe>> | undefined;
    const admin = new pg.Client({ connectionString: PG_URL });
    try {
      const key = (await seedPages(env, graph, 1)).keys.admin!;
      serve = await startServe(env);
      await serve.waitReady();
      await admin.connect();
      await admin.query('begin');
      await admin.query(`lock table ${db.role}.pages in access exclusive mode`);
      const inFlight = fetch(`${serve.url}/api/pages`, { headers: { authorization: `Bearer ${key}` } }).then(
        (r) => r.status,
        () => 'no answer',
      );
      await pollUntil('a keeper query to wait on the lock', async () => {
        const r = await pgAdmin((c) =>
          c.query(`select 1 from pg_stat_activity where usename = $1 and wait_event_type = 'Lock'`, [
            db.role,
          ]),
        );
        return (r.rowCount ?? 0) > 0;
      });
      proxy.cut();
      await admin.query('rollback');
      const answered = await inFlight;
      const live = serve;
      const outcome = await pollUntil('/readyz to answer 200, or the process to be gone', async () =>
        !live.alive() ? 'died' : (await readyz(live.url)).status === 200 ? 'ready' : undefined,
      );
      expect(outcome, live.output().slice(-1500)).toBe('ready');
      expect(answered).not.toBe('no answer');
    } finally {
      await admin.end().catch(() => undefined);
      await serve?.kill('SIGKILL');
      await proxy.close();
      await graph.close();
      await db.drop();
    }
  });
});

/** A small tmpfs of our own for the SQLite file, or null where mounting is not allowed. */
function smallDisk(dir: string, size: string): { path: string; unmount(): void } | null {
  const path = join(dir, 'disk');
  mkdirSync(path);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', path], { stdio: 'ignore' });
  } catch {
    return null;
  }
  return { path, unmount: () => execFileSync('umount', [path], { stdio: 'ignore' }) };
}

describe('database loss on sqlite', () => {
  it('the disk fills up under the database: no crash, tokens intact, work resumes once space is freed', {
    timeout: 120_000,
  }, async (ctx) => {
    const dir = mkdtempSync(join(tmpdir(), 'fbtk-loss-'));
    const disk = smallDisk(dir, '4m');
    if (!disk) {
      rmSync(dir, { recursive: true, force: true });
      ctx.skip();
      return;
    }
    const graph = await startFakeGraph({});
    const keyBytes = randomBytes(32);
    const env = {
      DATABASE_URL: `sqlite:${join(disk.path, 'keeper.db')}`,
      TOKEN_ENCRYPTION_KEY: keyBytes.toString('base64'),
      GRAPH_API_URL: graph.url,
      FACEBOOK_DIALOG_URL: graph.url,
      CHECK_INTERVAL_HOURS: '0.0005',
    };
    let serve: Awaited<ReturnType<typeof startServe>> | undefined;
    try {
      const key = (await seedPages(env, graph, 3)).keys.admin!;
      serve = await startServe(env);
      await serve.waitReady();
      const url = serve.url;

      // --- the disk fills up ---------------------------------------------------------------------
      const filler = join(disk.path, 'filler');
      try {
        writeFileSync(filler, Buffer.alloc(8 * 1024 * 1024));
      } catch {
        // ENOSPC: the disk is now full, which is the point.
      }
      const during: number[] = [];
      const deadline = Date.now() + OUTAGE_MS;
      while (Date.now() < deadline) {
        during.push((await readyz(url)).status);
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(serve.alive(), serve.output().slice(-2000)).toBe(true);
      const failedWrites = /SQLITE_FULL|database or disk is full/i.test(serve.output());
      // `select 1` still answers on a full disk; readiness reports the failing writes.
      expect(failedWrites, serve.output().slice(-2000)).toBe(true);
      expect(during).toContain(503);
      expect((await readyz(url)).body.checks.database?.message).toMatch(/writes are failing.*full/i);
      const api = await fetch(`${url}/api/pages`, { headers: { authorization: `Bearer ${key}` } });

      // --- space is freed ------------------------------------------------------------------------
      rmSync(filler, { force: true });
      const freedAt = Date.now();
      await pollUntil('/readyz to be 200', async () => (await readyz(url)).status === 200, {
        timeoutMs: 30_000,
      }).catch(async (e: unknown) => {
        throw new Error(
          `${String(e)}; last /readyz ${JSON.stringify((await readyz(url)).body)}\n${serve?.output().slice(-3000) ?? ''}`,
        );
      });
      const store = await openStore({
        databaseUrl: env.DATABASE_URL,
        secretBox: createSecretBox({ current: keyBytes }),
      });
      try {
        await pollUntil(
          'a page to be checked after space was freed',
          async () => (await store.listPages()).some((p) => (p.lastCheckedAt ?? 0) > freedAt),
          { timeoutMs: 30_000 },
        );
        for (const [pageId, t] of await storedTokens(store)) {
          expect(graph.tokenStatus(t.posting).valid, `posting token of ${pageId}`).toBe(true);
        }
      } finally {
        await store.close();
      }
      console.log(
        `database loss (sqlite, disk full): writes failed: ${failedWrites}; /readyz during the outage: ${[...new Set(during)].join(', ')}; /api/pages answered ${api.status}`,
      );
      await serve.kill('SIGTERM');
      expect((await serve.exited).code, serve.output().slice(-2000)).toBe(0);
    } finally {
      await serve?.kill('SIGKILL');
      await graph.close();
      disk.unmount();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
