/**
 * Call budget: what a check of a Page costs in the app's Facebook budget, for each choice of what
 * to call (src/lifecycle/check-choice.ts), and the HTTP round trips with batching off and on —
 * measured on the emulator's record of calls, side by side, in one run.
 *
 *   npx tsx bench/call-budget.ts [--pages 500] [--concurrency 8] [--days 7] [--interval-hours 6]
 *
 * Each Page has a never-expiring Page token minted from a long-lived user token (the source). The
 * rows: `debug_token` on every check (posting + source, both with the app token); the probe on
 * every check (`/me?fields=id` with the Page token: the Page's budget); and the choice function
 * over `--days` of checks every `--interval-hours` (debug_token at setup and once a day, the probe
 * otherwise). Checks run `--concurrency` at a time, as a round does.
 */
import { createManualClock, DAY, HOUR } from '../src/clock.js';
import { startFakeGraph } from '../src/fake-graph/index.js';
import { createGraphClient, type GraphClient } from '../src/graph/client.js';
import { chooseCheck } from '../src/lifecycle/check-choice.js';
import { machine, parseArgs, table } from './lib/report.js';

const { values } = parseArgs({
  options: {
    pages: { type: 'string', default: '500' },
    concurrency: { type: 'string', default: '8' },
    days: { type: 'string', default: '7' },
    'interval-hours': { type: 'string', default: '6' },
  },
});
const PAGES = Number(values.pages);
const C = Number(values.concurrency);
const DAYS = Number(values.days);
const INTERVAL = Number(values['interval-hours']) * HOUR;

console.log(`call budget: ${PAGES} Pages, concurrency ${C}; ${machine()}`);
const clock = createManualClock('2027-01-01T00:00:00Z');
const graph = await startFakeGraph({ clock });
const app = graph.createApp({ name: 'Bench app' });
const creds = { appId: app.appId, appSecret: app.appSecret };
const make = (batch: 'auto' | 'off') =>
  createGraphClient({ baseUrl: graph.url, version: graph.version, clock, batch });
const setupClient = make('off');
const pages: { posting: string; source: string }[] = [];
for (let i = 0; i < PAGES; i++) {
  const user = graph.createUser();
  const page = graph.createPage();
  graph.grantRole(user.id, page.id);
  const source = graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
  pages.push({ posting: (await setupClient.getPageToken(page.id, source, creds)).accessToken, source });
}

async function pool<T>(items: T[], fn: (t: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

interface Measured {
  checks: number;
  appCalls: number;
  pageCalls: number;
  roundTrips: number;
}

/** Runs `checks` and reads what they cost from the emulator's record. */
async function measure(run: () => Promise<number>): Promise<Measured> {
  graph.resetCalls();
  const checks = await run();
  const calls = graph.calls;
  return {
    checks,
    appCalls: calls.filter((c) => c.path.endsWith('/debug_token')).length,
    pageCalls: calls.filter((c) => c.path.endsWith('/me')).length,
    roundTrips: calls.filter((c) => c.batch !== true).length,
  };
}

const full = (client: GraphClient) => async () => {
  await pool(pages, (p) =>
    Promise.all([client.debugToken(p.posting, creds), client.debugToken(p.source, creds)]),
  );
  return pages.length;
};
const probe = (client: GraphClient) => async () => {
  await pool(pages, (p) => client.probePageToken(p.posting, creds));
  return pages.length;
};
/** `--days` of checks every interval, each Page's check chosen by chooseCheck. */
const chosen = (client: GraphClient) => async () => {
  const start = clock.now();
  const inspected = new Map<string, number | null>(pages.map((p) => [p.posting, null]));
  let checks = 0;
  for (let t = start; t < start + DAYS * DAY; t += INTERVAL) {
    clock.set(t);
    await pool(pages, async (p) => {
      const choice = chooseCheck(
        {
          state: 'healthy',
          posting: {
            type: 'PAGE',
            isValid: true,
            expiresAt: null,
            checkedAt: inspected.get(p.posting) ?? null,
          },
          lastRenewedAt: null,
        },
        clock.now(),
      );
      checks++;
      if (choice.kind === 'debug_token') {
        await Promise.all([client.debugToken(p.posting, creds), client.debugToken(p.source, creds)]);
        inspected.set(p.posting, clock.now());
      } else {
        await client.probePageToken(p.posting, creds);
      }
    });
  }
  return checks;
};

const rows: (string | number)[][] = [];
const base = await measure(full(make('off')));
for (const [name, batch, run] of [
  ['debug_token every check', 'off', full],
  ['debug_token every check', 'auto', full],
  ['probe every check', 'off', probe],
  ['probe every check', 'auto', probe],
  [`chooseCheck over ${DAYS} d, every ${INTERVAL / HOUR} h`, 'off', chosen],
  [`chooseCheck over ${DAYS} d, every ${INTERVAL / HOUR} h`, 'auto', chosen],
] as const) {
  const m = name === 'debug_token every check' && batch === 'off' ? base : await measure(run(make(batch)));
  const perCheck = m.appCalls / m.checks;
  rows.push([
    name,
    batch,
    m.checks,
    perCheck,
    m.pageCalls / m.checks,
    (1000 * m.roundTrips) / m.checks,
    `${(perCheck / (base.appCalls / base.checks)).toFixed(2)}×`,
  ]);
}
console.log(
  table(
    [
      'choice',
      'GRAPH_BATCH',
      'checks',
      'app calls / check',
      'Page calls / check',
      'round trips / 1000 checks',
      'app calls vs debug_token',
    ],
    rows,
  ),
);
await graph.close();
