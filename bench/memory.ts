/**
 * Memory: peak RSS of a keeper process while one check round sweeps N Pages (default 100,000),
 * all due. The keeper runs as production does (plain node on dist/), in its own process; the
 * emulator and the seeding run in other processes, so only the keeper is measured.
 *
 *   npx tsx bench/memory.ts [--pages 100000] [--concurrency 50] [--latency 0] [--backend sqlite|postgres|both]
 */
import { join } from 'node:path';
import { spawnEmulator } from './lib/emulator.js';
import { backends, machine, parseArgs, table } from './lib/report.js';
import { runSweeper } from './lib/run-sweeper.js';
import { createBenchDatabase, seedStore } from './lib/seed.js';

const { values } = parseArgs({
  options: {
    pages: { type: 'string', default: '100000' },
    concurrency: { type: 'string', default: '50' },
    latency: { type: 'string', default: '0' },
    backend: { type: 'string', default: 'sqlite' },
  },
});
const N = Number(values.pages);
const C = Number(values.concurrency);
const L = Number(values.latency);

console.log(`memory: ${N} pages, C=${C}, L=${L} ms; ${machine()}`);
const emulator = await spawnEmulator();
const rows: (string | number)[][] = [];
try {
  const tmp = await createBenchDatabase('sqlite');
  const t = performance.now();
  const seeded = await emulator.seed(N, join(tmp.dir, 'pages.jsonl'));
  console.log(`emulator: ${N} pages with minted tokens in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  await emulator.control.setLatency(L);
  for (const backend of backends(values.backend)) {
    const db = await createBenchDatabase(backend);
    try {
      const store = await db.open();
      await store.migrate();
      await seedStore(
        store,
        seeded,
        () => null,
        (n) => process.stdout.write(`  seeded ${n}\r`),
      );
      await store.close();
      const r = await runSweeper({
        databaseUrl: db.databaseUrl,
        schema: db.schema,
        key: db.key,
        graphUrl: emulator.url,
        concurrency: C,
        sampleMs: 10,
      });
      if (r.pagesProcessed !== N) {
        console.log(`  warning: ${r.pagesProcessed} of ${N} processed: ${JSON.stringify(r.outcomes)}`);
      }
      rows.push([
        backend,
        r.pagesProcessed,
        r.wallMs / 1000,
        r.rssBeforeMb,
        r.peakRssMb,
        r.maxRssMb,
        r.peakRssMb - r.rssBeforeMb,
        r.heapUsedAfterMb,
        r.peakRssMb < 150 ? 'met' : 'missed',
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
console.log(
  table(
    [
      'backend',
      'pages swept',
      'round s',
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
