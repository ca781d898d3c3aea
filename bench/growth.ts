/**
 * Growth: one check round when 1 %, 10 % and 100 % of N Pages (default 100,000) are due, and a
 * round when none is. The cost must follow the due Pages, not the total: per due Page the time,
 * the database calls and the Graph calls stay flat, and an idle round costs one indexed query.
 *
 *   npx tsx bench/growth.ts [--pages 100000] [--fractions 0,0.01,0.1,1] [--concurrency 50] [--backend sqlite|postgres|both]
 *
 * No added latency: this measures the keeper's own work per round.
 */
import { spawnEmulator } from './lib/emulator.js';
import { dueQueryPlan } from './lib/plan.js';
import { backends, machine, numberList, parseArgs, table } from './lib/report.js';
import { runSweeper } from './lib/run-sweeper.js';
import { mintPages, seededDatabase } from './lib/seed.js';

const { values } = parseArgs({
  options: {
    pages: { type: 'string', default: '100000' },
    fractions: { type: 'string', default: '0,0.01,0.1,1' },
    concurrency: { type: 'string', default: '50' },
    backend: { type: 'string', default: 'sqlite' },
  },
});
const N = Number(values.pages);
const fractions = numberList(values.fractions);
const C = Number(values.concurrency);
const FUTURE = Date.now() + 30 * 86_400_000;

console.log(`growth: ${N} pages, C=${C}; ${machine()}`);
const emulator = await spawnEmulator();
const rows: (string | number)[][] = [];
try {
  const { seeded, drop } = await mintPages(emulator, N);
  for (const backend of backends(values.backend)) {
    const db = await seededDatabase(backend, seeded, () => FUTURE);
    try {
      let base: number | undefined;
      for (const f of fractions) {
        const due = Math.round(N * f);
        await db.exec('update pages set next_check_at = ?, lease_owner = null, lease_expires_at = null', [
          FUTURE,
        ]);
        if (due > 0) {
          await db.exec(
            'update pages set next_check_at = null where page_id in (select page_id from pages order by page_id limit ?)',
            [due],
          );
        }
        if (f === fractions[0]) {
          console.log(`  due-query plan (${backend}): ${await dueQueryPlan(db, Date.now())}`);
        }
        const r = await runSweeper({
          databaseUrl: db.databaseUrl,
          schema: db.schema,
          key: db.key,
          graphUrl: emulator.url,
          concurrency: C,
        });
        if (r.pagesProcessed !== due) {
          console.log(`  warning: ${r.pagesProcessed} processed, ${due} due: ${JSON.stringify(r.outcomes)}`);
        }
        const storeN = Object.values(r.storeCalls).reduce((a, c) => a + c.n, 0);
        const listMs = r.storeCalls.listDuePages?.ms ?? 0;
        const perPage = due > 0 ? r.wallMs / due : Number.NaN;
        if (due > 0 && f === 1) base = perPage;
        rows.push([
          backend,
          `${(f * 100).toFixed(f < 0.1 && f > 0 ? 0 : 0)} %`,
          due,
          r.wallMs / 1000,
          due > 0 ? perPage : '-',
          due > 0 ? (r.cpuUserMs + r.cpuSystemMs) / due : '-',
          due > 0 ? storeN / due : storeN,
          r.storeCalls.listDuePages?.n ?? 0,
          listMs,
          due > 0 ? r.graphCalls / due : r.graphCalls,
        ]);
        console.log(
          `  ${backend} ${f * 100} % due: ${(r.wallMs / 1000).toFixed(2)} s; store ${JSON.stringify(Object.fromEntries(Object.entries(r.storeCalls).map(([k, v]) => [k, v.n])))}`,
        );
      }
      if (base !== undefined) {
        for (const row of rows.filter((r) => r[0] === backend && typeof r[4] === 'number')) {
          row.push(`${((row[4] as number) / base).toFixed(2)}×`);
        }
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
      'due',
      'due pages',
      'round s',
      'ms/due page',
      'cpu ms/due page',
      'db calls/due page',
      'due queries',
      'due query ms total',
      'graph calls/due page',
      'ms/due page vs 100 %',
    ],
    rows,
  ),
);
console.log(
  '\nThe idle row (0 due) is the fixed cost of a round over all N pages: db calls and graph calls are totals there.',
);
console.log('target: per-due-page figures flat across 1 %, 10 %, 100 %; the idle round one indexed query.');
