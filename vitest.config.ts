import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The reliability suite (kill, many instances, fault storm, database loss) is not yet stable
    // enough on a loaded 2-core machine to gate CI; run it with RELIABILITY=1.
    exclude: process.env.RELIABILITY ? ['node_modules/**'] : ['node_modules/**', 'test/reliability/**'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Store tests create their own SQLite files and PostgreSQL schemas, so files can run in parallel.
    pool: 'forks',
  },
});
