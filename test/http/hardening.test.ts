/**
 * Attacks on a running instance (docs/SECURITY.md), replayed against real `serve` processes on one
 * SQLite file, with the emulator over HTTP: a signed-out cookie, database file modes, Page-limited
 * and expired keys. Each of these got through before the fix.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock, HOUR } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { type FakeGraph, startFakeGraph } from '../../src/fake-graph/index.js';
import { createApiKey } from '../../src/http/auth.js';
import { createTokenKeeper } from '../../src/lifecycle/keeper.js';
import { silentLogger } from '../../src/logger.js';
import { type ServeProcess, seedPages, startServe } from '../reliability/helpers.js';

const BIN = resolve(import.meta.dirname, '../../bin/fb-token-keeper.js');

let graph: FakeGraph;
let dir: string;
let env: Record<string, string>;
let pageIds: string[];
let adminKey: string;
const running: ServeProcess[] = [];

beforeAll(async () => {
  graph = await startFakeGraph();
  dir = mkdtempSync(join(tmpdir(), 'fbtk-hardening-'));
  env = {
    // A folder that does not exist yet: serve creates it, so it must create it private.
    DATABASE_URL: `sqlite:${join(dir, 'data', 'keeper.db')}`,
    // With the key in the environment no key file is written: the folder is made by the database.
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    GRAPH_API_URL: graph.url,
    FACEBOOK_DIALOG_URL: graph.url,
  };
  const seeded = await seedPages(env, graph, 2, { admin: ['admin'] });
  pageIds = seeded.pageIds;
  adminKey = seeded.keys.admin!;
}, 60_000);

afterAll(async () => {
  for (const s of running) await s.kill();
  await graph.close();
  rmSync(dir, { recursive: true, force: true });
});

async function serve(): Promise<ServeProcess> {
  const s = await startServe(env);
  running.push(s);
  await s.waitReady();
  return s;
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.stdin.end();
    child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

/** A browser's cookie jar over real HTTP, for one base URL at a time. */
function jar() {
  const cookies = new Map<string, string>();
  const header = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  async function request(url: string, init: RequestInit = {}) {
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string>), cookie: header() },
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      const name = pair!.slice(0, i);
      const value = pair!.slice(i + 1);
      if (value === '' || /max-age=0|expires=thu, 01 jan 1970/i.test(c)) cookies.delete(name);
      else cookies.set(name, value);
    }
    return { status: res.status, body: await res.text() };
  }
  const csrf = (body: string) => [...body.matchAll(/name="_csrf" value="([^"]+)"/g)].pop()?.[1] ?? '';
  const form = (fields: Record<string, string>) => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  return {
    cookies,
    /** True when `GET /` shows the signed-in dashboard (its sign-out form). */
    async signedIn(base: string) {
      const page = await request(`${base}/`);
      return page.status === 200 && page.body.includes('action="/sign-out"');
    },
    async signIn(base: string, key: string) {
      const page = await request(`${base}/`);
      const res = await request(`${base}/sign-in`, form({ _csrf: csrf(page.body), api_key: key }));
      expect(res.status).toBe(303);
    },
    async signOut(base: string) {
      const page = await request(`${base}/`);
      const res = await request(`${base}/sign-out`, form({ _csrf: csrf(page.body) }));
      expect(res.status).toBe(303);
    },
  };
}

describe('a running instance under attack', () => {
  let a: ServeProcess;
  let b: ServeProcess;

  beforeAll(async () => {
    // Two instances on one database, as behind a load balancer.
    [a, b] = await Promise.all([serve(), serve()]);
  }, 60_000);

  it('a copied session cookie stops working at sign-out on every instance, and stays dead after a restart', async () => {
    const browser = jar();
    await browser.signIn(a.url, adminKey);
    expect(await browser.signedIn(a.url)).toBe(true);
    expect(await browser.signedIn(b.url)).toBe(true);
    const stolen = new Map(browser.cookies); // what an attacker copied before the owner signed out

    await browser.signOut(a.url);
    const attacker = jar();
    for (const [k, v] of stolen) attacker.cookies.set(k, v);
    expect(await attacker.signedIn(a.url)).toBe(false);
    expect(await attacker.signedIn(b.url)).toBe(false);

    // Restart A (the in-memory list of ended sessions used to be all there was).
    await a.kill('SIGTERM');
    running.splice(running.indexOf(a), 1);
    a = await serve();
    for (const [k, v] of stolen) attacker.cookies.set(k, v);
    expect(await attacker.signedIn(a.url)).toBe(false);

    // The owner can sign in again; only the ended session is refused.
    const again = jar();
    await again.signIn(a.url, adminKey);
    expect(await again.signedIn(b.url)).toBe(true);
  });

  it('keeps the database private: folder 0700, database, -wal and -shm 0600 (TOKEN_ENCRYPTION_KEY set)', () => {
    const data = join(dir, 'data');
    expect((statSync(data).mode & 0o777).toString(8)).toBe('700');
    for (const f of ['keeper.db', 'keeper.db-wal', 'keeper.db-shm']) {
      expect((statSync(join(data, f)).mode & 0o777).toString(8), f).toBe('600');
    }
  });

  it('a token:read key limited to Page A cannot read Page B; api-key list shows the limit', async () => {
    const [pageA, pageB] = pageIds as [string, string];
    const created = await cli([
      'api-key',
      'create',
      '--name',
      'poster A',
      '--scope',
      'token:read',
      '--page-id',
      pageA,
      '--expires-in',
      '90d',
      '--json',
    ]);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const { key } = JSON.parse(created.stdout) as { key: string };
    const read = (id: string) =>
      fetch(`${b.url}/api/pages/${id}/token`, { headers: { authorization: `Bearer ${key}` } }).then(
        async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }),
      );
    const own = await read(pageA);
    expect(own.status).toBe(200);
    expect(own.body.page_id).toBe(pageA);
    const other = await read(pageB);
    expect(other.status).toBe(403);
    expect(other.body).toMatchObject({ success: false, error: { code: 'forbidden' } });
    expect(JSON.stringify(other.body)).not.toContain('access_token');
    // Not even existence leaks: an unknown Page is refused the same way.
    expect((await read('999999999')).status).toBe(403);

    const listed = await cli(['api-key', 'list', '--json']);
    const keys = (JSON.parse(listed.stdout) as { keys: Record<string, unknown>[] }).keys;
    const poster = keys.find((k) => k.name === 'poster A')!;
    expect(poster).toMatchObject({
      scopes: ['token:read'],
      pageIds: [pageA],
      lastUsedAt: expect.any(Number),
    });
    expect(poster.expiresAt).toBeGreaterThan(Date.now() + 89 * 24 * HOUR);
    const table = await cli(['api-key', 'list']);
    expect(table.stdout).toMatch(/ID\s+NAME\s+SCOPES\s+PAGES\s+CREATED\s+LAST USED\s+EXPIRES\s+STATUS/);
    expect(table.stdout).toMatch(new RegExp(`poster A\\s+token:read\\s+${pageA}\\s`));
  });

  it('an expired key gets 401 api_key_expired, on the API and at the dashboard sign-in', async () => {
    // Made an hour and a half ago, valid for an hour.
    const keeper = await createTokenKeeper({ config: loadConfig(env), logger: silentLogger, migrate: false });
    let key: string;
    try {
      const past = createManualClock(Date.now() - 90 * 60_000);
      key = (
        await createApiKey(keeper.store, {
          name: 'old',
          scopes: ['admin', 'token:read'],
          expiresAt: past.now() + HOUR,
          clock: past,
        })
      ).key;
    } finally {
      await keeper.close();
    }
    const res = await fetch(`${a.url}/api/pages`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ success: false, error: { code: 'api_key_expired' } });
    const browser = jar();
    const page = await fetch(`${a.url}/`);
    expect(page.status).toBe(200);
    await expect(browser.signIn(a.url, key)).rejects.toThrow();
    expect(await browser.signedIn(a.url)).toBe(false);
  });
});
