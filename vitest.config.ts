import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Store tests create their own SQLite files and PostgreSQL schemas, so files can run in parallel.
    pool: 'forks',
  },
});
