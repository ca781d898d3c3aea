/**
 * One check round in a process of its own, measured: the keeper as `serve` runs it (real store,
 * real Graph client over HTTP to the emulator), with every Store call counted and timed, Graph
 * calls counted, CPU time, event-loop utilisation and peak RSS. Run by `runSweeper()` (sweep.ts).
 *
 * Input: JSON in BENCH_SWEEP. Output: one JSON object over IPC.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { Agent, setGlobalDispatcher } from 'undici';
import { loadConfig } from '../../src/config.js';
import { createSecretBox } from '../../src/crypto/secret-box.js';
import { parseEncryptionKey } from '../../src/crypto/keys.js';
import { createTokenKeeper } from '../../src/lifecycle/keeper.js';
import { silentLogger } from '../../src/logger.js';
import { openStore } from '../../src/store/database.js';
import type { Store } from '../../src/store/types.js';

export interface SweepInput {
  databaseUrl: string;
  schema: string | undefined;
  key: string;
  graphUrl: string;
  concurrency: number;
  /** GRAPH_BATCH (default auto). */
  batch?: 'auto' | 'off';
  /** Sample RSS this often (ms). */
  sampleMs?: number;
}

export interface SweepOutput {
  wallMs: number;
  pagesProcessed: number;
  outcomes: Record<string, number>;
  graphCalls: number;
  graphCallsByEndpoint: Record<string, number>;
  storeCalls: Record<string, { n: number; ms: number }>;
  cpuUserMs: number;
  cpuSystemMs: number;
  eventLoopUtilization: number;
  rssBeforeMb: number;
  peakRssMb: number;
  maxRssMb: number;
  heapUsedAfterMb: number;
  /** process.memoryUsage() when RSS peaked: V8's heap (total, used) and memory outside it. */
  atPeakMb: {
    heapTotal: number;
    heapUsed: number;
    external: number;
    arrayBuffers: number;
    /** The kernel's split of RSS (Linux): anonymous memory (V8's heap, malloc), mapped files (code), shared (SQLite's -shm). */
    rssAnon?: number;
    rssFile?: number;
    rssShmem?: number;
    /** V8's heap by space (committed), e.g. new_space, old_space, code_space, large_object_space. */
    spaces: Record<string, number>;
  };
  /** With BENCH_LIVE_HEAP=1 (and --expose-gc): the largest heap left after a full GC during the round. */
  liveHeapMb?: number;
}

/** Count and time every Store method (async wall time, so under concurrency it includes queueing). */
function instrument(store: Store, calls: SweepOutput['storeCalls'], recording: () => boolean): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      return (...args: unknown[]) => {
        const started = performance.now();
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (!(result instanceof Promise) || !recording()) return result;
        return result.finally(() => {
          const c = (calls[prop] ??= { n: 0, ms: 0 });
          c.n++;
          c.ms += performance.now() - started;
        });
      };
    },
  });
}

/**
 * The emulator answers `Keep-Alive: timeout=2`; undici subtracts a 2 s safety margin from that
 * hint, which leaves 0, so it would open a new connection for every Graph call. Facebook sends no
 * such short hint, so production reuses connections: a 1 s margin does here too.
 */
export function reuseEmulatorConnections(): void {
  setGlobalDispatcher(new Agent({ keepAliveTimeoutThreshold: 1000 }));
}

/** RssAnon / RssFile / RssShmem from /proc/self/status (bytes); nothing where there is no /proc. */
function kernelRss(): { rssAnon?: number; rssFile?: number; rssShmem?: number } {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kb = (name: string) =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
    return { rssAnon: kb('RssAnon'), rssFile: kb('RssFile'), rssShmem: kb('RssShmem') };
  } catch {
    return {};
  }
}

async function main(): Promise<void> {
  // V8 flags set once the process runs (v8.setFlagsFromString), as opposed to on node's command line.
  if (process.env.BENCH_RUNTIME_FLAGS) setFlagsFromString(process.env.BENCH_RUNTIME_FLAGS);
  if (process.env.BENCH_NEW_CONNECTIONS !== '1') reuseEmulatorConnections();
  const input = JSON.parse(process.env.BENCH_SWEEP ?? '{}') as SweepInput;
  const storeCalls: SweepOutput['storeCalls'] = {};
  const raw = await openStore({
    databaseUrl: input.databaseUrl,
    schema: input.schema,
    secretBox: createSecretBox({ current: parseEncryptionKey(input.key) }),
  });
  let recording = false;
  const store = instrument(raw, storeCalls, () => recording);
  const config = loadConfig({
    DATABASE_URL: input.databaseUrl,
    TOKEN_ENCRYPTION_KEY: input.key,
    GRAPH_API_URL: input.graphUrl,
    CHECK_CONCURRENCY: String(input.concurrency),
    GRAPH_BATCH: input.batch ?? 'auto',
    LOG_LEVEL: 'silent',
    INSTANCE_ID: `bench:${process.pid}`,
  });
  const keeper = await createTokenKeeper({ config, store, logger: silentLogger });
  const byEndpoint: Record<string, number> = {};
  let graphCalls = 0;
  keeper.events.on('graph_call', (c) => {
    graphCalls++;
    byEndpoint[c.endpoint] = (byEndpoint[c.endpoint] ?? 0) + 1;
  });
  const outcomes: Record<string, number> = {};
  let processed = 0;
  keeper.events.on('page_processed', (p) => {
    processed++;
    const k = `${p.action}:${p.outcome}`;
    outcomes[k] = (outcomes[k] ?? 0) + 1;
  });

  global.gc?.();
  const rssBefore = process.memoryUsage.rss();
  let peak = rssBefore;
  // At the peak of RSS, how much of it was V8's heap and how much memory outside it (buffers, native).
  let atPeak = process.memoryUsage();
  let atPeakKernel = kernelRss();
  let atPeakSpaces = getHeapSpaceStatistics();
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    if (m.rss > peak) {
      peak = m.rss;
      atPeak = m;
      atPeakKernel = kernelRss();
      atPeakSpaces = getHeapSpaceStatistics();
    }
  }, input.sampleMs ?? 20);
  // What the round keeps alive (as opposed to garbage not yet collected): force a GC now and then.
  let live = 0;
  const liveSampler =
    process.env.BENCH_LIVE_HEAP === '1' && global.gc
      ? setInterval(() => {
          global.gc?.();
          live = Math.max(live, process.memoryUsage().heapUsed);
        }, 1000)
      : undefined;
  // Only the round's store calls count, not those made while opening.
  recording = true;

  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  await keeper.runRound();
  const wallMs = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  if (liveSampler) clearInterval(liveSampler);
  peak = Math.max(peak, process.memoryUsage.rss());
  const mb = (b: number) => Math.round((b / 1048576) * 10) / 10;
  const out: SweepOutput = {
    wallMs,
    pagesProcessed: processed,
    outcomes,
    graphCalls,
    graphCallsByEndpoint: byEndpoint,
    storeCalls,
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    eventLoopUtilization: elu.utilization,
    rssBeforeMb: mb(rssBefore),
    peakRssMb: mb(peak),
    maxRssMb: mb(process.resourceUsage().maxRSS * 1024),
    heapUsedAfterMb: mb(process.memoryUsage().heapUsed),
    atPeakMb: {
      heapTotal: mb(atPeak.heapTotal),
      heapUsed: mb(atPeak.heapUsed),
      external: mb(atPeak.external),
      arrayBuffers: mb(atPeak.arrayBuffers),
      ...Object.fromEntries(Object.entries(atPeakKernel).map(([k, v]) => [k, mb(v)])),
      spaces: Object.fromEntries(atPeakSpaces.map((s) => [s.space_name, mb(s.physical_space_size)])),
    },
    ...(liveSampler ? { liveHeapMb: mb(live) } : {}),
  };
  await keeper.close();
  await raw.close();
  process.send?.(out);
}

await main();
