/**
 * Keys and data locations as an operator meets them, through the real CLI and real `serve`
 * processes (SQLite, and PostgreSQL when TEST_DATABASE_URL is set):
 *
 * - `rotate-key` while a posting client fetches its token in a loop: not one non-200 answer, on one
 *   instance and on two instances sharing PostgreSQL; retiring the old key refuses while anything
 *   is still sealed with it, and works once nothing is;
 * - `serve` with the wrong key refuses to start, naming the key source and never the key;
 * - a secret that stops opening later makes /readyz 503, the token route 503 with a true code, and
 *   `check` exit 1 naming the Page;
 * - `check` from another folder (cron: cwd = $HOME) exits 1 naming the path, and creates nothing;
 * - `status` names the database and the key source.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKeys } from '../../src/crypto/keys.js';
import { createSecretBox, keyIdOf } from '../../src/crypto/secret-box.js';
import { type FakeGraph, startFakeGraph } from '../../src/fake-graph/index.js';
import { openStore } from '../../src/store/database.js';
import { PG_URL, pgSchema, seedPages, type ServeProcess, startServe } from '../reliability/helpers.js';

const BIN = resolve(import.meta.dirname, '../../bin/fb-token-keeper.js');

let graph: FakeGraph;
beforeAll(async () => {
  graph = await startFakeGraph();
});
afterAll(async () => {
  await graph.close();
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string>, cwd = process.cwd()): Promise<Run> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += String(d)));
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.stdin.end();
    child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

/** Every file under `dir`, relative. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name).slice(dir.length + 1));
}

interface Setup {
  dir: string;
  env: Record<string, string>;
  keyFile: string;
  pageIds: string[];
  readKey: string;
  drop(): Promise<void>;
}

async function setUp(backend: 'sqlite' | 'postgres', pages = 3): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'fbtk-keyring-'));
  const keyFile = join(dir, 'keys', 'encryption.key');
  let drop = () => Promise.resolve();
  let databaseUrl = `sqlite:${join(dir, 'keeper.db')}`;
  if (backend === 'postgres') {
    const pgs = await pgSchema('keyring');
    databaseUrl = pgs.databaseUrl;
    drop = () => pgs.drop();
  }
  const env = {
    DATABASE_URL: databaseUrl,
    ENCRYPTION_KEY_FILE: keyFile,
    GRAPH_API_URL: graph.url,
    FACEBOOK_DIALOG_URL: graph.url,
    HOME: join(dir, 'home'),
  };
  const seeded = await seedPages(env, graph, pages, { reader: ['token:read'], admin: ['admin'] });
  return {
    dir,
    env,
    keyFile,
    pageIds: seeded.pageIds,
    readKey: seeded.keys.reader!,
    async drop() {
      await drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A posting client: fetch the token of each Page in turn from the given instances, two requests
 * in flight, until `stop()` resolves; then `after` more requests each. Every answer that is not 200 is kept.
 */
async function postingClient(
  urls: string[],
  s: Setup,
  stop: Promise<unknown>,
  after = 30,
): Promise<{ requests: number; bad: string[] }> {
  let stopped = false;
  void stop.finally(() => (stopped = true));
  let requests = 0;
  const bad: string[] = [];
  const loop = async (offset: number) => {
    let left = after;
    for (let i = offset; !stopped || left-- > 0; i++) {
      const url = urls[i % urls.length]!;
      const pageId = s.pageIds[i % s.pageIds.length]!;
      const r = await fetch(`${url}/api/pages/${pageId}/token`, {
        headers: { authorization: `Bearer ${s.readKey}` },
      });
      const body = await r.text();
      requests++;
      if (r.status !== 200) bad.push(`${url} ${pageId}: ${r.status} ${body}`);
    }
  };
  await Promise.all([loop(0), loop(1)]);
  return { requests, bad };
}

/** Write a posting-token envelope straight into the row, as a faulty copy or a restore would. */
async function rawUpdate(databaseUrl: string, pageId: string, envelope: string): Promise<void> {
  if (databaseUrl.startsWith('sqlite:')) {
    const db = new BetterSqlite3(databaseUrl.slice('sqlite:'.length));
    db.prepare('update pages set posting_token_enc = ? where page_id = ?').run(envelope, pageId);
    db.close();
    return;
  }
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query('update pages set posting_token_enc = $1 where page_id = $2', [envelope, pageId]);
  await client.end();
}

const backends = PG_URL ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);

describe.each(backends)('keys on %s', (backend) => {
  it('rotate-key while a posting client fetches tokens: 0 non-200 answers; retire refuses while a secret is sealed with the old key', {
    timeout: 120_000,
  }, async () => {
    const s = await setUp(backend);
    let serve: ServeProcess | undefined;
    try {
      const [oldKey] = loadKeys({ kind: 'file', path: s.keyFile }, { create: false }).keys;
      const oldId = keyIdOf(oldKey!);
      serve = await startServe(s.env);
      await serve.waitReady();

      const rotation = cli(['rotate-key'], s.env);
      const client = await postingClient([serve.url], s, rotation);
      const rotated = await rotation;
      expect(rotated.stderr).toBe('');
      expect(rotated.code).toBe(0);
      expect(client.bad).toEqual([]);
      expect(client.requests).toBeGreaterThan(60);

      const ring = loadKeys({ kind: 'file', path: s.keyFile }, { create: false }).keys.map(keyIdOf);
      expect(ring).toHaveLength(2);
      expect(ring[1]).toBe(oldId);
      const newId = ring[0]!;
      expect(rotated.stdout).toContain(`Added key ${newId} (active)`);
      expect(rotated.stdout).toContain(`rotate-key --retire ${oldId}`);
      expect(rotated.stdout).toContain('Nothing is sealed with another key.');
      const ready = await fetch(`${serve.url}/readyz`);
      expect(ready.status).toBe(200);

      // An instance that had not seen the new key yet seals one renewal with the old one.
      const stale = await openStore({
        databaseUrl: s.env.DATABASE_URL!,
        secretBox: createSecretBox({ current: oldKey! }),
        create: false,
      });
      await stale.updatePage(s.pageIds[1]!, {}, { secrets: { postingToken: 'EAAstale-instance-token' } });
      await stale.close();
      const refused = await cli(['rotate-key', '--retire', oldId], s.env);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`key ${oldId} still seals 1 secret(s)`);
      expect(refused.stderr).toContain(`page ${s.pageIds[1]!} (posting_token)`);
      expect(refused.stderr).toContain('rotate-key --reseal');
      expect(refused.stderr).toContain('(encryption_key_in_use)');
      expect(loadKeys({ kind: 'file', path: s.keyFile }, { create: false }).keys.map(keyIdOf)).toEqual(ring);

      expect((await cli(['rotate-key', '--retire', newId], s.env)).stderr).toContain('is the active key');
      const resealed = await cli(['rotate-key', '--reseal'], s.env);
      expect(resealed.code).toBe(0);
      const retired = await cli(['rotate-key', '--retire', oldId], s.env);
      expect(retired.stderr).toBe('');
      expect(retired.code).toBe(0);
      expect(loadKeys({ kind: 'file', path: s.keyFile }, { create: false }).keys.map(keyIdOf)).toEqual([
        newId,
      ]);

      // The running instance still serves every token, the stale one included.
      const after = await postingClient([serve.url], s, Promise.resolve(), 5);
      expect(after.bad).toEqual([]);

      // No key value in anything the CLI or the service wrote.
      const keys = [oldKey!, ...loadKeys({ kind: 'file', path: s.keyFile }, { create: false }).keys].map(
        (k) => k.toString('base64'),
      );
      for (const text of [rotated.stdout, refused.stderr, resealed.stdout, retired.stdout, serve.output()]) {
        for (const k of keys) expect(text).not.toContain(k);
      }
    } finally {
      await serve?.kill('SIGTERM');
      await s.drop();
    }
  });

  it('serve with the wrong key refuses to start, naming the key source; a secret that stops opening later makes /readyz 503 and check exit 1', {
    timeout: 120_000,
  }, async () => {
    const s = await setUp(backend, 2);
    let serve: ServeProcess | undefined;
    try {
      const wrong = randomBytes(32).toString('base64');
      const refused = await startServe({ ...s.env, TOKEN_ENCRYPTION_KEY: wrong });
      const exit = await refused.exited;
      expect(exit.code).toBe(1);
      expect(refused.output()).toContain('(encryption_key_unknown)');
      expect(refused.output()).toContain('TOKEN_ENCRYPTION_KEY holds only');
      expect(refused.output()).not.toContain(wrong);

      const otherFile = join(s.dir, 'other.key');
      writeFileSync(otherFile, `${wrong}\n`, { mode: 0o600 });
      const refusedFile = await startServe({ ...s.env, ENCRYPTION_KEY_FILE: otherFile });
      expect((await refusedFile.exited).code).toBe(1);
      expect(refusedFile.output()).toContain(`key file ${otherFile} holds only`);
      expect(refusedFile.output()).not.toContain(wrong);

      // Started with the right key; then one Page's token is sealed with a key nobody holds.
      serve = await startServe(s.env);
      await serve.waitReady();
      const lost = randomBytes(32);
      const foreign = await openStore({
        databaseUrl: s.env.DATABASE_URL!,
        secretBox: createSecretBox({ current: lost }),
        create: false,
      });
      const [broken, fine] = s.pageIds as [string, string];
      await foreign.updatePage(broken, {}, { secrets: { postingToken: 'EAAunreachable' } });
      await foreign.close();

      const token = await fetch(`${serve.url}/api/pages/${broken}/token`, {
        headers: { authorization: `Bearer ${s.readKey}` },
      });
      expect(token.status).toBe(503);
      const body = (await token.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('encryption_key_unknown');
      expect(body.error.message).toContain(`key ${keyIdOf(lost)}`);
      expect(body.error.message).toContain(`key file ${s.keyFile} does not hold`);
      expect(body.error.message).not.toContain('set TOKEN_ENCRYPTION_KEY ');
      const ok = await fetch(`${serve.url}/api/pages/${fine}/token`, {
        headers: { authorization: `Bearer ${s.readKey}` },
      });
      expect(ok.status).toBe(200);
      const ready = await fetch(`${serve.url}/readyz`);
      expect(ready.status).toBe(503);
      const readiness = (await ready.json()) as { checks: Record<string, { ok: boolean; message?: string }> };
      expect(readiness.checks.encryption_keys).toMatchObject({ ok: false });
      expect(readiness.checks.encryption_keys?.message).toContain('1 stored secret(s) cannot be opened');

      await serve.kill('SIGTERM');
      serve = undefined;
      // Any command that reads secrets proves the keyring first, and refuses the same way.
      const refusedCheck = await cli(['check', '--all'], s.env);
      expect(refusedCheck.code).toBe(1);
      expect(refusedCheck.stderr).toContain(`1 secret(s) sealed with key ${keyIdOf(lost)}`);
      expect(refusedCheck.stderr).toContain(`key file ${s.keyFile} holds only`);

      // A value altered in the database (right key id, wrong bytes) does not stop the start, but
      // `check` names the Page it could not work on and exits 1, instead of "0 page(s) checked".
      const fileKeys = loadKeys({ kind: 'file', path: s.keyFile }, { create: false }).keys;
      const moved = createSecretBox({ current: fileKeys[0]! }).seal(
        'EAAcopied',
        `page:${fine}:posting_token`,
      );
      await rawUpdate(s.env.DATABASE_URL!, broken, moved);
      const check = await cli(['check', '--all'], s.env);
      expect(check.code).toBe(1);
      expect(check.stdout).toContain('1 page(s) could not be checked');
      expect(check.stdout).toContain(`${broken}: cannot open a sealed secret`);
      const json = await cli(['check', '--all', '--json'], s.env);
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject({
        could_not_check: [{ page_id: broken, code: 'decryption_failed' }],
      });
    } finally {
      await serve?.kill('SIGTERM');
      await s.drop();
    }
  });
});

describe.skipIf(!PG_URL)('two instances on one PostgreSQL', () => {
  it('rotate-key while a posting client fetches tokens from both: 0 non-200 answers', {
    timeout: 120_000,
  }, async () => {
    const s = await setUp('postgres');
    const serves: ServeProcess[] = [];
    try {
      for (const id of ['a', 'b']) serves.push(await startServe({ ...s.env, INSTANCE_ID: id }));
      for (const serve of serves) await serve.waitReady();
      const rotation = cli(['rotate-key'], s.env);
      const client = await postingClient(
        serves.map((x) => x.url),
        s,
        rotation,
      );
      const rotated = await rotation;
      expect(rotated.code).toBe(0);
      expect(client.bad).toEqual([]);
      expect(client.requests).toBeGreaterThan(60);
      for (const serve of serves) expect((await fetch(`${serve.url}/readyz`)).status).toBe(200);
    } finally {
      for (const serve of serves) await serve.kill('SIGTERM');
      await s.drop();
    }
  });
});

describe('where the data is', () => {
  it('check and status from another folder (cron: cwd = $HOME) exit 1 naming the path, and create nothing', async () => {
    const home = mkdtempSync(join(tmpdir(), 'fbtk-home-'));
    try {
      const env = { HOME: home, GRAPH_API_URL: graph.url };
      const expected = join(home, '.local', 'share', 'fb-token-keeper', 'fb-token-keeper.db');
      // The commands at once (each a Node process: one after the other, they took more than the
      // 30 s timeout on a loaded CI machine); none may create anything, which is checked after all.
      const commands = [['check'], ['status', '--json'], ['renew'], ['rotate-key']];
      const runs = await Promise.all(commands.map((args) => cli(args, env, home)));
      for (const [i, r] of runs.entries()) {
        const args = commands[i]!;
        expect(r.code, args.join(' ')).toBe(1);
        expect(r.stderr).toContain(`no fb-token-keeper database at ${expected}`);
        expect(r.stderr).toContain('DATA_DIR');
        expect(r.stderr).toContain('(database_not_found)');
      }
      expect(filesUnder(home)).toEqual([]);

      // An install from before DATA_DIR, with its data in ./data: told where it is, nothing created.
      mkdirSync(join(home, 'data'));
      writeFileSync(join(home, 'data', 'fb-token-keeper.db'), '');
      const before = [['check'], ['serve']];
      const beforeRuns = await Promise.all(before.map((args) => cli(args, env, home)));
      for (const [i, r] of beforeRuns.entries()) {
        const args = before[i]!;
        expect(r.code, args.join(' ')).toBe(1);
        expect(r.stderr).toContain(`set DATA_DIR=${join(home, 'data')}`);
      }
      expect(filesUnder(home)).toEqual(['data/fb-token-keeper.db']);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('status names the database (no password) and the key source, never a key', async () => {
    const s = await setUp('sqlite', 1);
    try {
      const human = await cli(['status'], s.env, s.dir);
      expect(human.code).toBe(0);
      const [keyId] = loadKeys({ kind: 'file', path: s.keyFile }, { create: false }).keys.map(keyIdOf);
      expect(human.stdout).toContain(`database:   ${s.env.DATABASE_URL!} (DATABASE_URL)`);
      expect(human.stdout).toContain(`key source: key file ${s.keyFile} (active key ${keyId!})`);
      const json = JSON.parse((await cli(['status', '--json'], s.env, s.dir)).stdout) as Record<
        string,
        unknown
      >;
      expect(json).toMatchObject({
        database: s.env.DATABASE_URL,
        database_from: 'DATABASE_URL',
        key_source: `key file ${s.keyFile}`,
        active_key_id: keyId,
        key_ids: [keyId],
      });
      const key = loadKeys({ kind: 'file', path: s.keyFile }, { create: false }).keys[0]!.toString('base64');
      expect(human.stdout + JSON.stringify(json)).not.toContain(key);
    } finally {
      await s.drop();
    }
  });
});
