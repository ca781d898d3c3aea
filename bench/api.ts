/**
 * API: throughput and latency of `GET /api/token/status` (admin key; the status object with 20
 * history events) and `GET /api/pages/{id}/token` (token:read key; what posting apps call), each
 * against a bare Fastify route returning the same body as a constant — same server process, same
 * run, same load (autocannon). Both app routes go through API-key auth and the access log.
 *
 *   npx tsx bench/api.ts [--connections 10] [--duration 10] [--rounds 2]
 *
 * The server runs in a child process; autocannon runs here. Rounds alternate bare/status so that
 * warm-up and drift hit both alike; the table shows every round and the mean.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { machine, parseArgs, table } from './lib/report.js';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '10' },
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
  },
});
const connections = Number(values.connections);
const duration = Number(values.duration);
const rounds = Number(values.rounds);

console.log(`api: ${connections} connections, ${duration} s per run, ${rounds} rounds; ${machine()}`);
const child = fork(fileURLToPath(new URL('./lib/api-server.ts', import.meta.url)), [], {
  // BENCH_SERVER_FLAGS: extra Node flags for the server, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
  execArgv: ['--import', 'tsx', ...(process.env.BENCH_SERVER_FLAGS ?? '').split(' ').filter(Boolean)],
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const info = await new Promise<{
  appUrl: string;
  bareUrl: string;
  key: string;
  tokenKey: string;
  tokenPath: string;
  bytes: number;
  tokenBytes: number;
}>((resolve, reject) => {
  child.once('message', resolve as (m: unknown) => void);
  child.once('exit', (code) => reject(new Error(`api server exited with ${code}`)));
});
child.removeAllListeners('exit');
console.log(`response bodies: status ${info.bytes} bytes, token ${info.tokenBytes} bytes`);

const targets = [
  { name: 'bare Fastify route (same body)', url: `${info.bareUrl}/bare`, headers: {} },
  { name: 'GET /healthz (our app)', url: `${info.appUrl}/healthz`, headers: {} },
  {
    name: 'GET /api/token/status',
    url: `${info.appUrl}/api/token/status`,
    headers: { authorization: `Bearer ${info.key}` },
  },
  { name: 'bare Fastify route (token body)', url: `${info.bareUrl}/bare-token`, headers: {} },
  {
    name: 'GET /api/pages/{id}/token',
    url: `${info.appUrl}${info.tokenPath}`,
    headers: { authorization: `Bearer ${info.tokenKey}` },
  },
];
/** Each app route and the bare route it is compared with. */
const BASELINE: Record<string, string> = {
  'GET /healthz (our app)': 'bare Fastify route (same body)',
  'GET /api/token/status': 'bare Fastify route (same body)',
  'GET /api/pages/{id}/token': 'bare Fastify route (token body)',
};
const results = new Map<
  string,
  { rps: number; p50: number; p99: number; non2xx: number; errors: number }[]
>();
try {
  // Warm-up: JIT and SQLite page cache.
  for (const t of targets) await autocannon({ url: t.url, headers: t.headers, connections, duration: 2 });
  for (let r = 0; r < rounds; r++) {
    for (const t of targets) {
      const res = await autocannon({ url: t.url, headers: t.headers, connections, duration });
      const list = results.get(t.name) ?? [];
      list.push({
        rps: res.requests.average,
        p50: res.latency.p50,
        p99: res.latency.p99,
        non2xx: res.non2xx,
        errors: res.errors,
      });
      results.set(t.name, list);
      console.log(
        `  round ${r + 1} ${t.name}: ${Math.round(res.requests.average)} req/s, p50 ${res.latency.p50} ms, p99 ${res.latency.p99} ms, non-2xx ${res.non2xx}`,
      );
    }
  }
} finally {
  child.disconnect();
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const rpsOf = (name: string) => mean(results.get(name)!.map((x) => x.rps));
console.log('');
console.log(
  table(
    ['route', 'req/s', 'p50 ms', 'p99 ms', 'vs bare', 'non-2xx', 'errors'],
    targets.map((t) => {
      const rs = results.get(t.name)!;
      const rps = mean(rs.map((x) => x.rps));
      return [
        t.name,
        rps,
        mean(rs.map((x) => x.p50)),
        mean(rs.map((x) => x.p99)),
        `${(rps / rpsOf(BASELINE[t.name] ?? t.name)).toFixed(2)}×`,
        rs.reduce((a, x) => a + x.non2xx, 0),
        rs.reduce((a, x) => a + x.errors, 0),
      ];
    }),
  ),
);
console.log('target: status and token ≥ 0.5× their bare route, p99 ≤ 5 ms');
