/**
 * The renewal engine, put together: a job per connection (connection-job.ts: look at a login's
 * source token once, extend it, mark its Pages for a new token), a job per Page (page-job.ts:
 * inspect its posting token, heal or renew it from its connection), and the round that streams
 * connections, then Pages (round.ts). One outcome type for all of it (outcome.ts).
 */
import type { EventEmitter } from 'node:events';
import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import { GraphError } from '../graph/errors.js';
import type { Logger } from '../logger.js';
import type { TokenProvider } from '../platforms/provider.js';
import type { NewPage, Store } from '../store/types.js';
import type { Connection, ManagedPage } from '../types.js';
import { createConnectionJob } from './connection-job.js';
import type { Policy } from './decide.js';
import type { ConnectionOutcome } from './outcome.js';
import { createPageJob } from './page-job.js';
import { createRound } from './round.js';
import type { Pacer } from './pacing.js';
import type { KeeperEventMap } from './types.js';

export type { ProcessOutcome } from './outcome.js';

export interface EngineDeps {
  store: Store;
  /** Facebook's token provider (src/platforms/facebook/provider.ts). */
  provider: TokenProvider;
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
  /** Called after every stored change to a connection, with its Pages. Must not throw. */
  onConnectionChanged?: (before: Connection, after: Connection, pages: ManagedPage[]) => Promise<void>;
  /** After an extension, keep the replaced source token this long, then revoke it; null: never revoke. */
  sourceRevokeGraceMs?: number | null;
  /**
   * The call-budget hook (lifecycle/pacing.ts): a scheduled round asks it before claiming each due
   * Page; a Page it holds back stays due for a later round. Absent: no pacing.
   */
  pacer?: Pacer;
  /** GRAPH_CHECK: `auto` lets a scheduled check probe with the Page token (check-choice.ts). Default `auto`. */
  checkChoice?: 'auto' | 'debug_token';
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
  connectionLook?: ConnectionOutcome;
  /** Scheduled mode: ask the pacer before claiming (the service's rounds; a cron run cannot wait). */
  paced?: boolean;
}

export function createEngine(deps: EngineDeps) {
  const connections = createConnectionJob(deps);
  const pages = createPageJob(deps, connections);
  const round = createRound(deps, connections, pages);
  return {
    processPage: pages.processPage,
    processConnection: connections.run,
    runRound: round.runRound,
    withState: pages.withState,
    busy: pages.busy,
    /** appId → time before which no call is made for that app (read by lifecycle/on-demand.ts). */
    appThrottledUntil: pages.appThrottledUntil,
  };
}

export type Engine = ReturnType<typeof createEngine>;

/** Run `fn` over items with at most `concurrency` at once. */
export async function pool<T>(
  items: T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  });
  await Promise.all(workers);
}

/**
 * Like Promise.all, but waits for every call and, when several fail, throws the one that matters
 * most: a throttled answer must never be hidden behind a transient error from the parallel call,
 * or the keeper would go on calling Facebook while it is being throttled.
 */
export async function allOrWorstError<T extends readonly unknown[]>(
  calls: { [K in keyof T]: Promise<T[K]> },
): Promise<T> {
  const settled = await Promise.allSettled(calls);
  const errors = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (errors.length > 0) {
    throw (
      errors.find((e) => e instanceof GraphError && e.kind === 'throttled') ??
      errors.find((e) => e instanceof GraphError && e.kind === 'needs_reauth') ??
      errors[0]
    );
  }
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/** Log-safe view of an error: code and message only (messages never carry secrets by contract). */
export function safeError(err: unknown): { code: string; message: string } {
  if (err instanceof AppError) return { code: err.code, message: err.message };
  return { code: 'internal_error', message: err instanceof Error ? err.message : 'unknown error' };
}

export function newPageFrom(page: ManagedPage): NewPage {
  const { createdAt: _c, updatedAt: _u, leaseOwner: _o, leaseExpiresAt: _e, ...rest } = page;
  return rest;
}
