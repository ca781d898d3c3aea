/**
 * Sweep: N managed Pages checked in one round against the emulator with added latency L and
 * concurrency C (defaults: L = 100 ms, a typical Graph API answer; C = 8, the default
 * CHECK_CONCURRENCY, and 32). The engine inspects a Page's posting and source tokens in parallel,
 * so one check costs about one round trip of latency, and the ideal round takes N·L/C.
 *
 *   npm run bench:sweep -- [--pages 10000] [--latency 100] [--concurrency 8,32] [--backend sqlite|postgres|both]
 *                          [--pages-per-connection 1,10] [--batch auto|off]
 *
 * --pages-per-connection: how many Pages share one login (one connection, whose source token a
 * round looks at once for all of them). The Graph calls per Page check — the login's look shared
 * by its Pages plus the Page's own check — are printed beside the app-budget calls (debug_token)
 * and the HTTP round trips per 1,000 checks, from the emulator's record of calls. Target: ≤ 1.15
 * calls per Page check at 10 Pages per login.
 *
 * --batch: GRAPH_BATCH (default auto: the checks waiting on one round trip share a batch request,
 * so a round is no longer bound by N·L/C; off: one request per call, where N·L/C is the ideal).
 *
 * --latency and --concurrency take comma-separated lists; every combination is run. A row with
 * L = 0 at the largest C is added: it is the keeper's own cost per page (CPU + database + the
 * emulator's CPU on the same cores), the floor under any L/C: a round can never take less than
 * N × that cost, so the target holds where L/C is well above it.
 */
import { spawnEmulator } from './lib/emulator.js';
import { backends, machine, numberList, parseArgs, table } from './lib/report.js';
import { runSweeper } from './lib/run-sweeper.js';
import { mintPages, seededDatabase } from './lib/seed.js';

const { values } = parseArgs({
  options: {
    pages: { type: 'string', default: '10000' },
    latency: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '8,32' },
    backend: { type: 'string', default: 'both' },
    'pages-per-connection': { type: 'string', default: '1,10' },
    batch: { type: 'string', default: 'auto' },
  },
});
const batch = values.batch === 'off' ? 'off' : 'auto';
const perLogins = numberList(values['pages-per-connection']);
const N = Number(values.pages);
const latencies = numberList(values.latency);
const concurrencies = numberList(values.concurrency);

console.log(`sweep: ${N} pages, GRAPH_BATCH=${batch}; ${machine()}`);
const emulator = await spawnEmulator();
const rows: (string | number)[][] = [];
try {
  for (const [n, perLogin] of perLogins.entries()) {
    // Each seeding its own Page ids (the emulator keeps every one).
    const { seeded, drop } = await mintPages(emulator, N, perLogin, String(9 - n));
    for (const backend of backends(values.backend)) {
      const db = await seededDatabase(backend, seeded, () => null);
      try {
        for (const C of concurrencies) {
          for (const L of C === Math.max(...concurrencies) ? [0, ...latencies] : latencies) {
            await db.exec(
              'update pages set next_check_at = null, lease_owner = null, lease_expires_at = null',
            );
            // Every login due again too: each row is a whole round (the looks, then the Pages).
            await db.exec(
              'update connections set next_check_at = null, lease_owner = null, lease_expires_at = null',
            );
            await emulator.control.setLatency(L);
            await emulator.control.resetCalls();
            const r = await runSweeper({
              databaseUrl: db.databaseUrl,
              schema: db.schema,
              key: db.key,
              graphUrl: emulator.url,
              concurrency: C,
              batch,
            });
            const ideal = (N * L) / C;
            const storeN = Object.values(r.storeCalls).reduce((a, c) => a + c.n, 0);
            const storeMs = Object.values(r.storeCalls).reduce((a, c) => a + c.ms, 0);
            const calls = (await emulator.control.calls()) as {
              path: string;
              method: string;
              batch?: boolean;
            }[];
            const envelope = (c: { path: string; method: string }) =>
              c.method === 'POST' && /\/v[\d.]+\/$/.test(c.path);
            const graphCalls = calls.filter((c) => !envelope(c)).length;
            const appCalls = calls.filter((c) => c.path.endsWith('/debug_token')).length;
            const roundTrips = calls.filter((c) => c.batch !== true).length;
            rows.push([
              backend,
              perLogin,
              L,
              C,
              ideal / 1000,
              r.wallMs / 1000,
              L === 0 ? '-' : `${(r.wallMs / ideal).toFixed(3)}×`,
              r.pagesProcessed,
              graphCalls / N,
              appCalls / N,
              (1000 * roundTrips) / N,
              storeN / N,
              storeMs / N,
              (r.cpuUserMs + r.cpuSystemMs) / N,
              r.eventLoopUtilization * 100,
              r.peakRssMb,
            ]);
            if (r.pagesProcessed !== N) {
              console.log(
                `  warning: ${r.pagesProcessed} of ${N} pages processed: ${JSON.stringify(r.outcomes)}`,
              );
            }
            console.log(
              `  ${backend} L=${L} C=${C}: ${(r.wallMs / 1000).toFixed(2)} s; outcomes ${JSON.stringify(r.outcomes)}; store ${Object.entries(
                r.storeCalls,
              )
                .map(([k, v]) => `${k} ${v.n}/${(v.ms / v.n).toFixed(2)}ms`)
                .join(', ')}`,
            );
          }
        }
      } finally {
        await db.drop();
      }
    }
    await drop();
  }
} finally {
  await emulator.close();
}

console.log('');
console.log(
  table(
    [
      'backend',
      'pages/login',
      'L ms',
      'C',
      'ideal s',
      'wall s',
      'wall/ideal',
      'pages',
      'graph calls/Page check',
      'app calls/check',
      'round trips/1000',
      'db calls/page',
      'db ms/page*',
      'cpu ms/page',
      'event loop %',
      'peak RSS MB',
    ],
    rows,
  ),
);
console.log(
  '\n* db ms/page: summed wall time of Store calls per page; under concurrency it includes waiting for the event loop.',
);
console.log('targets: wall/ideal ≤ 1.15×; graph calls per Page check ≤ 1.15 at 10 Pages per login');
