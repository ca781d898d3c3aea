/**
 * What the engine's parts are given (engine.ts puts them together) and how a Page's work is asked
 * for. Types only, below every engine file, so none of them imports engine.ts.
 */
import type { EventEmitter } from 'node:events';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { RefreshablePlatformName } from '../platforms/errors.js';
import type { TokenProvider } from '../platforms/provider.js';
import type { RefreshableProvider } from '../platforms/refreshable-provider.js';
import type { Store } from '../store/types.js';
import type { Connection, ManagedPage } from '../types.js';
import type { Policy } from './decide.js';
import type { ConnectionLook, ConnectionOutcome } from './outcome.js';
import type { Pacer } from './pacing.js';
import type { KeeperEventMap } from './types.js';

export interface EngineDeps {
  store: Store;
  /** Facebook's token provider (src/platforms/facebook/provider.ts). */
  provider: TokenProvider;
  /** Instagram-Login and Threads providers (lifecycle/account-job.ts); absent: not configured. */
  providers?: Partial<Record<RefreshablePlatformName, RefreshableProvider>>;
  clock: Clock;
  logger: Logger;
  policy: Policy;
  /** This instance's lease owner name. */
  owner: string;
  leaseTtlMs: number;
  events: EventEmitter<KeeperEventMap>;
  random: () => number;
  /** Called after every stored change to a page (alerts are planned here). Must not throw. */
  onPageChanged?: (before: ManagedPage | null, after: ManagedPage) => Promise<void>;
  /** Called after every stored change to a connection. Must not throw. */
  onConnectionChanged?: (before: Connection, after: Connection) => Promise<void>;
  /** After an extension, keep the replaced source token this long, then revoke it; null: never revoke. */
  sourceRevokeGraceMs?: number | null;
  /**
   * The call-budget hook (lifecycle/pacing.ts): a scheduled round asks it before claiming each due
   * Page; a Page it holds back stays due for a later round. Absent: no pacing.
   */
  pacer?: Pacer;
  /** GRAPH_CHECK: `auto` lets a scheduled check probe with the Page token (check-choice.ts). Default `auto`. */
  checkChoice?: 'auto' | 'debug_token';
  /**
   * How many checks one Graph request may carry: a batch's 50 with GRAPH_BATCH=auto, else 1. A
   * round works on max(CHECK_CONCURRENCY, this) Pages (and logins) at once, so that one batch can
   * fill, while the Graph client keeps at most CHECK_CONCURRENCY requests in flight. Default 1.
   */
  checksPerRequest?: number;
}

export type Mode = 'scheduled' | 'check' | 'renew';

export interface ProcessOptions {
  mode: Mode;
  force?: boolean;
  dryRun?: boolean;
  /** Scheduled mode: count a page due by this time as due now (a cron round, `cronDueBy`). */
  dueBy?: number;
  /** The round already looked at this page's connection: do not look again. */
  connectionDone?: boolean;
  /** Mint a new posting token from the connection's (new) source token, whatever the decision. */
  remint?: boolean;
  /** What that look came to (a Page that needed nothing reports its source's renewal). */
  connectionLook?: ConnectionLook;
  /** Scheduled mode: ask the pacer before claiming (the service's rounds; a cron run cannot wait). */
  paced?: boolean;
}

export interface ConnectionRunOptions {
  /** `auto`: when its expiry is within the threshold; `force`: a person's "renew now"; `never`: look only. */
  extend: 'auto' | 'force' | 'never';
  dryRun?: boolean;
  /** A scheduled round: skip a connection that is not due (by `dueBy`), in backoff, or leased. */
  scheduled?: boolean;
  dueBy?: number;
  /**
   * A round works on this login's due Pages right after this look (round.ts): after a rotation
   * they are made due and re-mint themselves there (and show in the round's results), instead of
   * being re-minted from here.
   */
  pagesFollow?: boolean;
}

/** What a Page's work asks of its connection's job (connection-job.ts): one look at the login. */
export interface ConnectionLooker {
  run(connectionId: string, options: ConnectionRunOptions): Promise<ConnectionOutcome>;
}
