/**
 * The package as a user gets it: `npm pack`, then in an empty folder `npm install ./fb-token-keeper-*.tgz`,
 * then `npx fb-token-keeper --help`, `serve` with its data in a folder the user chose, and the
 * library imported by name — from that folder, with nothing of this checkout on the module path.
 *
 * better-sqlite3 compiles from source on install (prebuilt binaries cannot be downloaded here),
 * which costs ~45 s of one core. By default the install skips install scripts and copies the addon
 * this checkout already built for this Node (same package version, same ABI: checked); the rest of
 * the install is the real one, from npm's cache. FBTK_PACK_FULL_INSTALL=1 runs the install
 * scripts, compile included.
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, pollUntil } from '../reliability/helpers.js';

const ROOT = resolve(import.meta.dirname, '../..');
const FULL = process.env.FBTK_PACK_FULL_INSTALL === '1';
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
};

let work = '';
let app = '';
let tarball = '';
let packed: string[] = [];
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'fbtk-pack-'));
  // dist/ is built by the test run's global setup (what `prepare` does on `npm pack`); packing
  // without scripts keeps a second tsc from rewriting dist/ while other test files run the CLI.
  const out = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', work], ROOT)) as {
    filename: string;
    files: { path: string }[];
  }[];
  tarball = join(work, out[0]!.filename);
  packed = out[0]!.files.map((f) => f.path);
  app = join(work, 'my-app');
  mkdirSync(app);
  const t0 = Date.now();
  npm(
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      ...(FULL ? [] : ['--ignore-scripts']),
      tarball,
    ],
    app,
  );
  if (!FULL) {
    const theirs = JSON.parse(
      readFileSync(join(app, 'node_modules/better-sqlite3/package.json'), 'utf8'),
    ) as {
      version: string;
    };
    const ours = JSON.parse(readFileSync(join(ROOT, 'node_modules/better-sqlite3/package.json'), 'utf8')) as {
      version: string;
    };
    expect(theirs.version, 'the addon copied must be from the same better-sqlite3').toBe(ours.version);
    const release = join(app, 'node_modules/better-sqlite3/build/Release');
    mkdirSync(release, { recursive: true });
    copyFileSync(
      join(ROOT, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'),
      join(release, 'better_sqlite3.node'),
    );
  }
  process.stdout.write(
    `package test: npm install of the tarball took ${String(Date.now() - t0)} ms${FULL ? ' (with compile)' : ''}\n`,
  );
}, 600_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('holds the build, the CLI, the dashboard assets and the licence, and no sources or tests', () => {
    expect(packed).toEqual(
      expect.arrayContaining([
        'bin/fb-token-keeper.js',
        'dist/main.js',
        'dist/index.js',
        'dist/index.d.ts',
        'LICENSE',
        'README.md',
        'package.json',
      ]),
    );
    expect(packed.some((p) => p.startsWith('public/'))).toBe(true);
    expect(packed).toContain('docs/deploy/fb-token-keeper.service');
    expect(packed.filter((p) => /^(src|test|bench|\.ci)\//.test(p))).toEqual([]);
    // Installing from a tarball runs only install-time scripts: none may need devDependencies.
    expect(Object.keys(pkg.scripts).filter((s) => /^(pre|post)?install$/.test(s))).toEqual([]);
    // Only runtime dependencies were installed (no tsc, no vitest).
    expect(existsSync(join(app, 'node_modules/typescript'))).toBe(false);
    expect(existsSync(join(app, 'node_modules/vitest'))).toBe(false);
    expect(existsSync(join(app, 'node_modules/@fastify/static'))).toBe(true);
  });

  it('npx fb-token-keeper --help lists the commands', () => {
    const help = execFileSync('npx', ['fb-token-keeper', '--help'], { cwd: app, encoding: 'utf8' });
    for (const command of ['serve', 'setup', 'add', 'status', 'check', 'fake-graph']) {
      expect(help).toContain(command);
    }
  });

  it('serve keeps its database and key in the folder the user chose, and nothing in the working folder', async () => {
    const data = join(work, 'chosen', 'keeper-data');
    const port = await freePort();
    const before = readdirSync(app).sort();
    const child = spawn('npx', ['fb-token-keeper', 'serve'], {
      cwd: app,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? work,
        DATABASE_URL: `sqlite:${join(data, 'x.db')}`,
        ENCRYPTION_KEY_FILE: join(data, 'encryption.key'),
        HOST: '127.0.0.1',
        PORT: String(port),
        LOG_FORMAT: 'json',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      await pollUntil(
        'the installed serve to answer /readyz',
        async () => {
          if (child.exitCode !== null) throw new Error(`serve exited:\n${out}`);
          const r = await fetch(`http://127.0.0.1:${String(port)}/readyz`);
          await r.arrayBuffer();
          return r.status === 200;
        },
        { timeoutMs: 60_000, intervalMs: 50 },
      ).catch((e: unknown) => {
        throw new Error(`${String(e)}\n--- serve output ---\n${out}`);
      });
      const dash = await fetch(`http://127.0.0.1:${String(port)}/`);
      expect(dash.status).toBeLessThan(500);
      expect(readdirSync(data).sort()).toEqual(expect.arrayContaining(['encryption.key', 'x.db']));
      expect(readdirSync(app).sort()).toEqual(before);
    } finally {
      // npx runs serve as a child: signal the whole group, then wait for npx to go.
      if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGTERM');
      await exited;
    }
  });

  it('the library and the emulator import by name: set up a Page and read its token', () => {
    const script = `
      import { createTokenKeeper } from 'fb-token-keeper';
      import { startFakeGraph } from 'fb-token-keeper/fake-graph';
      import { randomBytes } from 'node:crypto';
      const graph = await startFakeGraph();
      const app = graph.createApp();
      const user = graph.createUser();
      const page = graph.createPage();
      graph.grantRole(user.id, page.id);
      const keeper = await createTokenKeeper({ env: {
        DATABASE_URL: 'sqlite:' + ${JSON.stringify(join(work, 'lib-data', 'lib.db'))},
        TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        GRAPH_API_URL: graph.url, LOG_LEVEL: 'silent' }, create: true });
      await keeper.setup({ pageId: page.id, appId: app.appId, appSecret: app.appSecret,
        accessToken: graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' }) });
      const token = await keeper.getPageToken(page.id);
      console.log(JSON.stringify({ valid: graph.tokenStatus(token).valid, state: (await keeper.status()).state }));
      await keeper.close();
      await graph.close();
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: app,
      encoding: 'utf8',
    });
    expect(JSON.parse(out.trim().split('\n').pop() ?? '')).toEqual({ valid: true, state: 'healthy' });
    // It resolved the installed copy, not this checkout.
    const where = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', "console.log(import.meta.resolve('fb-token-keeper'))"],
      { cwd: app, encoding: 'utf8' },
    );
    expect(where).toContain(join(app, 'node_modules', 'fb-token-keeper'));
  });
});
