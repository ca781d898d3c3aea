/**
 * /metrics under load: what one scrape costs with `--pages` Pages, and what `--scrapers` parallel
 * scrapers do to the latency of the token route a posting app calls
 * (`GET /api/pages/{page_id}/token`, `token:read` key).
 *
 *   npx tsx bench/metrics.ts [--pages 10000] [--scrapers 40] [--duration 10]
 *   METRICS_PAGE_SERIES=none npx tsx bench/metrics.ts     # aggregates only
 *
 * The server runs in a child process; the scrapers (each: scrape, read the whole body, repeat) and
 * the token requests (one at a time, back to back) run here, the scrapers in a third process.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { machine, parseArgs, table } from './lib/report.js';

const { values } = parseArgs({
  options: {
    pages: { type: 'string', default: '10000' },
    scrapers: { type: 'string', default: '40' },
    duration: { type: 'string', default: '10' },
  },
});
const pages = Number(values.pages);
const scrapers = Number(values.scrapers);
const durationMs = Number(values.duration) * 1000;

const BENCH_METRICS_TOKEN = 'bench-metrics-token-0123456789abcdef';

console.log(`metrics: ${pages} pages, ${scrapers} scrapers, ${durationMs / 1000} s; ${machine()}`);
const child = fork(
  fileURLToPath(new URL('./lib/metrics-server.ts', import.meta.url)),
  [String(pages), BENCH_METRICS_TOKEN],
  {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  },
);
const info = await new Promise<{ appUrl: string; readerKey: string; pageId: string; seedSeconds: number }>(
  (resolve, reject) => {
    child.once('message', resolve as (m: unknown) => void);
    child.once('exit', (code) => reject(new Error(`metrics server exited with ${code}`)));
  },
);
child.removeAllListeners('exit');
console.log(`seeded ${pages} pages in ${info.seedSeconds.toFixed(1)} s`);

const scrapeHeaders = { authorization: `Bearer ${BENCH_METRICS_TOKEN}` };
const tokenUrl = `${info.appUrl}/api/pages/${info.pageId}/token`;
const tokenHeaders = { authorization: `Bearer ${info.readerKey}` };

async function timed(
  url: string,
  headers: Record<string, string>,
  signal?: AbortSignal,
): Promise<{ ms: number; bytes: number }> {
  const t = performance.now();
  const r = await fetch(url, { headers, ...(signal ? { signal } : {}) });
  const body = await r.arrayBuffer();
  if (r.status !== 200) throw new Error(`${url} answered ${r.status}`);
  return { ms: performance.now() - t, bytes: body.byteLength };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

/** A token request that has no answer after this long is counted as timed out (at this latency). */
const TOKEN_TIMEOUT_MS = 30_000;

/** Token requests back to back for `ms`; their latencies (a timeout counts as TOKEN_TIMEOUT_MS). */
async function tokenLoop(ms: number): Promise<number[]> {
  const out: number[] = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    try {
      out.push((await timed(tokenUrl, tokenHeaders, AbortSignal.timeout(TOKEN_TIMEOUT_MS))).ms);
    } catch {
      out.push(TOKEN_TIMEOUT_MS);
      timeouts++;
    }
  }
  return out;
}
let timeouts = 0;

try {
  // Warm-up: JIT, SQLite page cache, and the first scrape.
  await tokenLoop(1000);
  const single: { ms: number; bytes: number }[] = [];
  for (let i = 0; i < 5; i++) single.push(await timed(`${info.appUrl}/metrics`, scrapeHeaders));
  const alone = await tokenLoop(durationMs / 2);

  // The scrapers run in their own process; scrapes still running at the end are not counted.
  const scraper = fork(
    fileURLToPath(new URL('./lib/scrapers.ts', import.meta.url)),
    [`${info.appUrl}/metrics`, BENCH_METRICS_TOKEN, String(scrapers)],
    { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  type Report = { scrapes?: number; failed?: number; p50?: number };
  const next = () => new Promise<Report>((resolve) => scraper.once('message', resolve));
  await next();
  const loaded = await tokenLoop(durationMs);
  const done = next();
  scraper.send('stop');
  const { scrapes = 0, failed = 0, p50: scrapeP50 = Number.NaN } = await done;
  console.log('');
  console.log(
    `one scrape: ${(
      pct(
        single.map((s) => s.ms),
        50,
      ) / 1000
    ).toFixed(3)} s (median of 5), ${(single[0]!.bytes / 1e6).toFixed(2)} MB`,
  );
  console.log(
    `${scrapers} scrapers: ${scrapes} scrapes in ${durationMs / 1000} s (${(scrapes / (durationMs / 1000)).toFixed(1)}/s, ${failed} failed), scrape p50 ${scrapeP50.toFixed(0)} ms`,
  );
  if (timeouts > 0) {
    console.log(`token requests without an answer after ${TOKEN_TIMEOUT_MS / 1000} s: ${timeouts}`);
  }
  console.log(
    table(
      ['token route', 'requests', 'p50 ms', 'p99 ms', 'max ms'],
      [
        ['alone', alone.length, pct(alone, 50), pct(alone, 99), Math.max(...alone)],
        [`with ${scrapers} scrapers`, loaded.length, pct(loaded, 50), pct(loaded, 99), Math.max(...loaded)],
      ],
    ),
  );
} finally {
  child.disconnect();
}
