/**
 * Every migration, in order. A static map rather than a directory scan, so `dist/` is
 * self-contained and bundlers see every file. Add one import and one line per migration; names
 * sort in the order they must run (test/store/migrations.test.ts checks).
 */
import type { Migration } from '../migrate.js';
import * as m0001 from './0001_initial.js';
import * as m0002 from './0002_due_index.js';
import * as m0003 from './0003_key_limits_and_sessions.js';
import * as m0004 from './0004_connections.js';
import * as m0005 from './0005_platform_accounts.js';

export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001_initial': m0001,
  '0002_due_index': m0002,
  '0003_key_limits_and_sessions': m0003,
  '0004_connections': m0004,
  '0005_platform_accounts': m0005,
};
