import { defineConfig } from 'vitest/config';

/**
 * Two projects: `unit` (every suite but the reliability one; files run in parallel, each on its own
 * SQLite files and PostgreSQL schemas) and `reliability` (real `serve` processes killed, databases
 * cut off, simulated quarters; files run one at a time so that timing on a 2-core machine stays
 * what the tests expect). `npm test` runs both, one after the other.
 */
export default defineConfig({
  test: {
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['node_modules/**', 'test/reliability/**'],
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
