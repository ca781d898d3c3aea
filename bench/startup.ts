/**
 * Start-up: time from spawning `node bin/fb-token-keeper.js serve` to the first `/readyz` 200
 * (polled every 5 ms), repeated; with a fresh SQLite file (migrations run), an existing SQLite file
 * with Pages, and PostgreSQL. For reference, the same machine's bare `node` start and the time to
 * load the service's modules.
 *
 *   npx tsx bench/startup.ts [--runs 10] [--pages 1000] [--backend sqlite|postgres|both]
 */
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDist } from './lib/compile.js';
import { spawnEmulator } from './lib/emulator.js';
import { backends, machine, parseArgs, table } from './lib/report.js';
import { createBenchDatabase, seedStore } from './lib/seed.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    pages: { type: 'string', default: '1000' },
    backend: { type: 'string', default: 'both' },
  },
});
const RUNS = Number(values.runs);
const N = Number(values.pages);
const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const BIN = join(ROOT, 'bin/fb-token-keeper.js');

function freePort(): Promise<number> {
  return new Promise((r) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => r(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** Milliseconds from spawn to the first 200 from /readyz. */
async function startOnce(env: Record<string, string>): Promise<number> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`serve exited: ${err}`);
      try {
        const r = await fetch(`http://127.0.0.1:${port}/readyz`);
        await r.arrayBuffer();
        if (r.status === 200) return performance.now() - t0;
      } catch {
        // not listening yet
      }
      if (performance.now() - t0 > 30_000) throw new Error(`not ready after 30 s: ${err}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  }
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { min: s[0]!, median: q(0.5), p90: q(0.9), max: s[s.length - 1]! };
};

console.log(`startup: ${RUNS} runs each; ${machine()}`);
buildDist();
const rows: (string | number)[][] = [];
const timeIt = (args: string[]) => {
  const xs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'ignore' });
    xs.push(performance.now() - t);
  }
  return stats(xs);
};
const bare = timeIt(['-e', '0']);
rows.push(['node -e 0 (reference)', bare.min, bare.median, bare.p90, bare.max, '-']);
const load = timeIt(['--input-type=module', '-e', "await import('./dist/service.js')"]);
rows.push(['load dist/service.js (reference)', load.min, load.median, load.p90, load.max, '-']);

const emulator = await spawnEmulator();
try {
  const tmp = await createBenchDatabase('sqlite');
  const seeded = N > 0 ? await emulator.seed(N, join(tmp.dir, 'pages.jsonl')) : [];
  for (const backend of backends(values.backend)) {
    const db = await createBenchDatabase(backend);
    try {
      const url = db.schema
        ? (() => {
            const u = new URL(db.databaseUrl);
            u.searchParams.set('options', `-c search_path=${db.schema}`);
            return u.toString();
          })()
        : db.databaseUrl;
      const env = { DATABASE_URL: url, TOKEN_ENCRYPTION_KEY: db.key, GRAPH_API_URL: emulator.url };
      if (backend === 'sqlite') {
        const fresh: number[] = [];
        for (let i = 0; i < RUNS; i++) {
          rmSync(db.databaseUrl.slice('sqlite:'.length), { force: true });
          rmSync(`${db.databaseUrl.slice('sqlite:'.length)}-wal`, { force: true });
          rmSync(`${db.databaseUrl.slice('sqlite:'.length)}-shm`, { force: true });
          fresh.push(await startOnce(env));
        }
        const f = stats(fresh);
        rows.push([
          'sqlite, new file (migrations run)',
          f.min,
          f.median,
          f.p90,
          f.max,
          f.median < 1000 ? 'met' : 'missed',
        ]);
      }
      const store = await db.open();
      await store.migrate();
      // Not due: start-up does not wait for the first round, but it runs right after listening.
      await seedStore(store, seeded, () => Date.now() + 86_400_000);
      await store.close();
      const existing: number[] = [];
      for (let i = 0; i < RUNS; i++) existing.push(await startOnce(env));
      const e = stats(existing);
      rows.push([
        `${backend}, ${N} pages`,
        e.min,
        e.median,
        e.p90,
        e.max,
        e.median < 1000 ? 'met' : 'missed',
      ]);
    } finally {
      await db.drop();
    }
  }
  await tmp.drop();
} finally {
  await emulator.close();
}
console.log('');
console.log(table(['case', 'min ms', 'median ms', 'p90 ms', 'max ms', 'target < 1 s (median)'], rows));
