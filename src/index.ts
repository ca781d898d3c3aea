/**
 * Library entry: `import { createTokenKeeper } from 'fb-token-keeper'` gives the same core the CLI
 * and the HTTP API use.
 *
 *   const keeper = await createTokenKeeper(); // the database `serve` uses ($DATA_DIR); never creates one
 *   const fresh = await createTokenKeeper({ env: { DATABASE_URL: 'sqlite:/srv/tokens.db' }, create: true });
 *   const token = await keeper.getPageToken('534295833110036');
 */
import {
  createTokenKeeper as createKeeper,
  type KeeperOptions as InternalKeeperOptions,
} from './lifecycle/keeper.js';
import { publicKeeper } from './lifecycle/public-keeper.js';
import type { TokenKeeper } from './lifecycle/types.js';

/**
 * How a library user opens a keeper: from `env` (or process.env) or a parsed `config`, with an
 * injected clock, logger or randomness. A store or Graph client of one's own is for the project's
 * own tests and tools (they import src/lifecycle/keeper.js), not part of the public surface.
 */
export type KeeperOptions = Omit<InternalKeeperOptions, 'store' | 'graph'>;

/**
 * The keeper: the TokenKeeper methods only. The store, the Graph client and the secret that signs
 * reconnect links stay inside (src/lifecycle/public-keeper.ts).
 */
export async function createTokenKeeper(options: KeeperOptions = {}): Promise<TokenKeeper> {
  const { store: _s, graph: _g, ...own } = options as InternalKeeperOptions;
  return publicKeeper(await createKeeper(own));
}
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
  ConnectInput,
  ConnectResult,
  ConnectionView,
  ConnectionDetail,
  ReconnectResult,
} from './lifecycle/types.js';
export type { ReportedGraphError, TokenRefreshResult } from './lifecycle/on-demand.js';
export { loadConfig, type Config } from './config.js';
export { AppError, type ErrorCode } from './errors.js';
export { createManualClock, type Clock, type ManualClock } from './clock.js';
export type { PageState, TokenType } from './types.js';
export { PAGE_STATES } from './types.js';
