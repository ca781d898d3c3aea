/**
 * Memory: peak RSS of a keeper process while one check round sweeps N Pages (default 100,000),
 * all due. The keeper runs as production does (plain node on dist/), in its own process; the
 * emulator and the seeding run in other processes, so only the keeper is measured.
 *
 *   npm run bench:memory -- [--pages 100000] [--concurrency 50] [--latency 0] [--backend sqlite|postgres|both]
 *                           [--flags='|--max-semi-space-size=2 --heap-growing-percent=25']
 *
 * --flags: Node flag sets to compare, '|'-separated ('' is Node's defaults; `runtime:FLAGS` sets
 * them with v8.setFlagsFromString once the process runs, as serve does). Pass it as --flags=…,
 * since a value starting with a dash is otherwise taken for an option. A second table splits the
 * RSS peak: V8's heap by space, memory outside it, and the kernel's anonymous / file / shared RSS.
 */
import { spawnEmulator } from './lib/emulator.js';
import { backends, machine, parseArgs, table } from './lib/report.js';
import { runSweeper } from './lib/run-sweeper.js';
import { mintPages, seededDatabase } from './lib/seed.js';

const { values } = parseArgs({
  options: {
    pages: { type: 'string', default: '100000' },
    concurrency: { type: 'string', default: '50' },
    latency: { type: 'string', default: '0' },
    // Node flags to compare, '|'-separated; '' is Node's defaults.
    // Node's defaults, and what `serve` runs with under docs/deploy/fb-token-keeper.service (the
    // semi-space on node's command line; the growing factor serve sets itself, src/heap.ts).
    flags: { type: 'string', default: '|--max-semi-space-size=2 --heap-growing-percent=25' },
    backend: { type: 'string', default: 'sqlite' },
  },
});
const N = Number(values.pages);
const C = Number(values.concurrency);
const L = Number(values.latency);
const variants = values.flags.split('|').map((f) => f.trim());

console.log(`memory: ${N} pages, C=${C}, L=${L} ms; ${machine()}`);
const emulator = await spawnEmulator();
const rows: (string | number)[][] = [];
const peakRows: (string | number)[][] = [];
try {
  const { seeded, drop } = await mintPages(emulator, N);
  await emulator.control.setLatency(L);
  for (const backend of backends(values.backend)) {
    const db = await seededDatabase(backend, seeded, () => null);
    try {
      for (const flags of variants) {
        await db.exec('update pages set next_check_at = null, lease_owner = null, lease_expires_at = null');
        const r = await runSweeper(
          {
            databaseUrl: db.databaseUrl,
            schema: db.schema,
            key: db.key,
            graphUrl: emulator.url,
            concurrency: C,
            sampleMs: 10,
          },
          // `runtime:FLAGS` sets them from inside the process instead of on node's command line.
          flags.startsWith('runtime:')
            ? { execArgv: [], env: { BENCH_RUNTIME_FLAGS: flags.slice('runtime:'.length) } }
            : { execArgv: flags ? flags.split(/\s+/) : [] },
        );
        if (r.pagesProcessed !== N) {
          console.log(`  warning: ${r.pagesProcessed} of ${N} processed: ${JSON.stringify(r.outcomes)}`);
        }
        rows.push([
          backend,
          flags || '(defaults)',
          r.pagesProcessed,
          r.wallMs / 1000,
          (r.cpuUserMs + r.cpuSystemMs) / r.pagesProcessed,
          r.rssBeforeMb,
          r.peakRssMb,
          r.maxRssMb,
          r.peakRssMb - r.rssBeforeMb,
          r.heapUsedAfterMb,
          r.peakRssMb < 150 ? 'met' : 'missed',
        ]);
        const p = r.atPeakMb;
        const dash = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '-' : v);
        peakRows.push([
          backend,
          flags || '(defaults)',
          r.peakRssMb,
          p.heapTotal,
          p.heapUsed,
          dash(p.spaces.new_space),
          dash(p.spaces.old_space),
          dash(p.spaces.code_space),
          dash(p.spaces.large_object_space),
          p.external,
          p.arrayBuffers,
          dash(p.rssAnon),
          dash(p.rssFile),
          dash(p.rssShmem),
          dash(p.rssAnon === undefined ? undefined : Math.round((p.rssAnon - p.heapTotal) * 10) / 10),
        ]);
      }
    } finally {
      await db.drop();
    }
  }
  await drop();
} finally {
  await emulator.close();
}
console.log('');
console.log(
  table(
    [
      'backend',
      'node flags',
      'pages swept',
      'round s',
      'cpu ms/page',
      'RSS before MB',
      'peak RSS MB (sampled)',
      'maxRSS MB (kernel)',
      'growth MB',
      'heap used after MB',
      'target < 150 MB',
    ],
    rows,
  ),
);
// Where the peak went: V8's heap (by space) against what the kernel counts as anonymous memory
// (heap + malloc: SQLite's page cache, buffers, native objects), mapped files (code) and shared memory.
console.log('');
console.log('at the RSS peak (MB):');
console.log(
  table(
    [
      'backend',
      'node flags',
      'peak RSS',
      'heap total',
      'heap used',
      'new space',
      'old space',
      'code space',
      'large objects',
      'external',
      'array buffers',
      'anon RSS',
      'file RSS',
      'shmem RSS',
      'anon outside heap',
    ],
    peakRows,
  ),
);
