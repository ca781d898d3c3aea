/**
 * How `serve` asks V8 to collect its old generation. A round checks hundreds of Pages a second;
 * each check's objects live across its awaits, so many reach the old generation before they are
 * garbage, and by default V8 lets that generation grow to several times what is alive before it
 * collects it (bench/memory.ts: 97 MB of old space at the RSS peak, 30 MB of it alive).
 * `--heap-growing-percent=25` makes V8 collect once the old generation has grown by a quarter
 * instead: a smaller peak for more frequent collections (docs/BENCHMARKS.md, "Memory"). It is no
 * limit: a heap that needs more memory still gets it.
 *
 * V8 reads this flag at each full collection, so it can be set once the process runs. The young
 * generation's size (`--max-semi-space-size`) is fixed when the process starts: that one goes on
 * node's command line (docs/deploy/fb-token-keeper.service does).
 *
 * An operator's own choice wins: when NODE_OPTIONS or node's command line sets the same flag,
 * serve sets nothing.
 */
import { setFlagsFromString } from 'node:v8';

export const SERVE_HEAP_FLAGS = ['--heap-growing-percent=25'] as const;

/** The flags `serve` sets on itself: those the operator did not set already. */
export function serveHeapFlags(nodeOptions: string | undefined, execArgv: readonly string[]): string[] {
  const given = `${nodeOptions ?? ''} ${execArgv.join(' ')}`;
  return SERVE_HEAP_FLAGS.filter((flag) => !given.includes(flag.slice(0, flag.indexOf('='))));
}

/** Applies serveHeapFlags() to this process; returns what it set (for the start-up log line). */
export function applyServeHeapFlags(
  env: NodeJS.ProcessEnv = process.env,
  execArgv: readonly string[] = process.execArgv,
): string[] {
  const flags = serveHeapFlags(env.NODE_OPTIONS, execArgv);
  for (const flag of flags) setFlagsFromString(flag);
  return flags;
}
