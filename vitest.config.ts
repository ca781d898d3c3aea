import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

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

export default defineConfig({
  test: {
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    maxWorkers: availableParallelism() + 1,
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
