import { availableParallelism } from 'node:os';
import { relative } from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Two projects: `unit` (every suite but the reliability one; files run in parallel, each on its own
 * SQLite files and PostgreSQL schemas) and `reliability` (real `serve` processes killed, databases
 * cut off, simulated quarters; files run one at a time so that timing on a 2-core machine stays
 * what the tests expect). `npm test` runs both, one after the other.
 *
 * One worker more than there are cores: unit files spend much of their time waiting on child
 * processes (the CLI, `serve`, npm, Chromium), HTTP and PostgreSQL, so a third worker on 2 cores
 * keeps both busy (docs/CI.md: 283 s instead of ~380 s for the unit project).
 */
/**
 * Unit files that cost a lot and exercise nothing that differs between Node majors: CI runs them on
 * Node 20 only (`.ci/unit-on-node` sets UNIT_SKIP_NODE_AGNOSTIC=1 for 22 and 24; docs/CI.md).
 * Everything that touches the runtime stays on every Node: the store on better-sqlite3 (a native
 * addon built per Node), crypto, the HTTP server and client, the CLI as child processes, the
 * emulator, the engine, alert delivery, the dashboard's and the reconnect flow's routes.
 */
export const NODE_AGNOSTIC_SLOW = [
  // A simulated year of the engine that test/lifecycle/engine.test.ts drives directly.
  'test/lifecycle/simulate.test.ts',
  // Chromium clicking through pages served by routes that dashboard/routes.test.ts and
  // connect/connect.test.ts request one by one.
  'test/**/browser.test.ts',
  // npm pack + npm install of the tarball: npm's work, ~20 s.
  'test/package/install.test.ts',
  // fast-check over routes the route tests cover one by one.
  'test/http/property.test.ts',
  // The README's commands: the CLI and the HTTP API they call are tested in test/cli and test/http.
  'test/docs/readme.test.ts',
  // Months of alert scheduling (pure planning); delivery is test/alerts/dispatcher.test.ts.
  'test/alerts/alerts.test.ts',
];

/**
 * The unit files that take longest start first (seconds in one Node 20 run of the unit project with
 * PostgreSQL, 3 workers, load ~10; docs/CI.md), so that the run does not end with one worker on
 * the simulated year while the others are idle: without a results cache (a fresh clone, CI) vitest
 * starts the largest files first, and the year, a small file, started at 207 s and ended at 368 s,
 * 80 s after every other file. The CPU-bound ones (the year, pacing, the engine) alternate with
 * ones that mostly wait on child processes (the CLI), so that at most two of them share the cores:
 * all three at once, at load 16, took the year tests past their timeouts.
 */
export const SLOW_FIRST = [
  'test/lifecycle/simulate.test.ts', // 161, CPU
  'test/cli/cli.test.ts', // 56, child processes
  'test/lifecycle/pacing.test.ts', // 98, CPU
  'test/cli/keyring.test.ts', // 46, child processes
  'test/lifecycle/engine.test.ts', // 59, CPU and PostgreSQL
  'test/http/property.test.ts', // 42
  'test/alerts/alerts.test.ts', // 35
  'test/docs/readme.test.ts', // 25
  'test/http/graph-errors.test.ts', // 24
  'test/http/security.test.ts', // 23
  'test/http/routes.test.ts', // 20
];

/** vitest's order (failed first, then by the cached durations or size), with SLOW_FIRST ahead of it. */
class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);

    const order = new Map(sorted.map((spec, i) => [spec, i]));
    const rank = (spec: TestSpecification) => {
      const i = SLOW_FIRST.indexOf(relative(import.meta.dirname, spec.moduleId).replaceAll('\\', '/'));
      return i === -1 ? SLOW_FIRST.length : i;
    };
    // Projects stay grouped as vitest put them; within one, slow files first.
    const projectOrder = new Map<string, number>();
    for (const spec of sorted) {
      if (!projectOrder.has(spec.project.name)) projectOrder.set(spec.project.name, projectOrder.size);
    }
    return [...sorted].sort(
      (a, b) =>
        projectOrder.get(a.project.name)! - projectOrder.get(b.project.name)! ||
        rank(a) - rank(b) ||
        order.get(a)! - order.get(b)!,
    );
  }
}

export default defineConfig({
  test: {
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    maxWorkers: availableParallelism() + 1,
    sequence: { sequencer: SlowFirstSequencer },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: [
            'node_modules/**',
            'test/reliability/**',
            ...(process.env.UNIT_SKIP_NODE_AGNOSTIC === '1' ? NODE_AGNOSTIC_SLOW : []),
          ],
        },
      },
      {
        extends: true,
        test: {
          name: 'reliability',
          include: ['test/reliability/**/*.test.ts'],
          fileParallelism: false,
        },
      },
    ],
  },
});
