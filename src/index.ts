/**
 * Library entry: `import { createTokenKeeper } from 'fb-token-keeper'` gives the same core the CLI
 * and the HTTP API use.
 *
 *   const keeper = await createTokenKeeper(); // the database `serve` uses ($DATA_DIR); never creates one
 *   const fresh = await createTokenKeeper({ env: { DATABASE_URL: 'sqlite:/srv/tokens.db' }, create: true });
 *   const token = await keeper.getPageToken('534295833110036');
 */
export { createTokenKeeper, type KeeperOptions, type KeeperInternals } from './lifecycle/keeper.js';
export type {
  TokenKeeper,
  PageStatus,
  RenewResult,
  CheckReport,
  ValidateResult,
  SetupInput,
  SetupResult,
  HistoryItem,
  KeeperEventMap,
} from './lifecycle/types.js';
export type { ReportedGraphError, TokenRefreshResult } from './lifecycle/on-demand.js';
export { loadConfig, type Config } from './config.js';
export { AppError, type ErrorCode } from './errors.js';
export { createManualClock, type Clock, type ManualClock } from './clock.js';
export type { PageState, TokenType } from './types.js';
export { PAGE_STATES } from './types.js';
