/**
 * A round: every due connection first (one look at each login's source token, extended when it
 * needs to be), then every due Page (one look at its posting token) — or, while the call budget holds
 * paced rounds back, the looks and the Pages together in due order, each login's look just before
 * its first due Page (a short budget goes to what fell due first). C at a time — or, with
 * batching (`checksPerRequest` 50), 50 at a time while the Graph client keeps at most C requests
 * in flight, so that the checks waiting on one round trip share a batch. A round over N Pages of one
 * login costs N + 1 Graph calls when nothing needs renewing.
 */
import type { Connection, ManagedPage } from '../types.js';
import type { DueCursor } from '../store/types.js';
import { type ConnectionLook, connectionLook } from './outcome.js';
import type { ConnectionJob } from './connection-job.js';
import type { EngineDeps, Mode } from './deps.js';
import type { ProcessOutcome } from './outcome.js';
import { createSlots } from '../graph/batch.js';
import { isRefreshablePlatform } from './account-decide.js';
import { pool, safeError } from './util.js';
import type { PageJob } from './page-job.js';

export interface RoundOptions {
  dryRun?: boolean;
  all?: boolean;
  concurrency: number;
  collect?: boolean;
  /** See ProcessOptions.dueBy. */
  dueBy?: number;
  /** See ProcessOptions.paced. */
  paced?: boolean;
  /** Hears of each page the round could not work on (the round goes on). */
  onPageError?: (pageId: string, err: unknown) => void;
}

export function createRound(deps: EngineDeps, connections: ConnectionJob, pages: PageJob) {
  const { store, clock, logger } = deps;
  const processPage = pages.processPage;
  /**
   * Checks worked on at once: C, or with batching enough to fill one batch (50) — the checks that
   * reach their call while a batch is out wait for it and go together in the next one. More would
   * only hold more Pages in memory: the batches already carry what arrives in one round trip.
   */
  /** The last paced round's pacer held a check back: the next one goes in due order (runRound). */
  let budgetHeld = false;
  const workersFor = (options: RoundOptions) => Math.max(1, options.concurrency, deps.checksPerRequest ?? 1);
  /**
   * Instagram and Threads accounts call their platform's own API, which batches nothing and is not
   * bounded by the Graph client: with more workers than C, they still go C at a time.
   */
  const unbatched = (options: RoundOptions) => {
    if ((deps.checksPerRequest ?? 1) <= 1) return <T>(_facebook: boolean, fn: () => Promise<T>) => fn();
    const slots = createSlots(Math.max(1, options.concurrency));
    return async <T>(facebook: boolean, fn: () => Promise<T>): Promise<T> => {
      if (facebook) return fn();
      await slots.acquire();
      try {
        return await fn();
      } finally {
        slots.release();
      }
    };
  };

  /** One look at a login, asked of the pacer first when the round is paced; null: none made. */
  async function look(
    c: Connection,
    options: RoundOptions,
    bound: ReturnType<typeof unbatched>,
  ): Promise<ConnectionLook | null> {
    // A login held back by the call budget stays due: its Pages go on with what is stored.
    if (options.paced === true && deps.pacer && !deps.pacer.admit(c.appId, 1, clock.now())) {
      budgetHeld = true;
      return null;
    }
    try {
      const look = await bound(c.platform === 'facebook', () =>
        connections.run(
          c.id,
          {
            extend: 'auto',
            dryRun: options.dryRun === true,
            scheduled: !options.all,
            pagesFollow: true,
            ...(options.dueBy !== undefined ? { dueBy: options.dueBy } : {}),
          },
          c,
        ),
      );
      return look.outcome === 'skipped' ? null : connectionLook(look, options.dryRun === true);
    } catch (err) {
      // One login's failure never stops the round: its Pages are still checked.
      logger.warn({ connectionId: c.id, err: safeError(err) }, 'connection check failed');
      return null;
    }
  }

  /** Look at every due login once (all of them with `all`), before their Pages. */
  async function runConnections(options: RoundOptions): Promise<Map<string, ConnectionLook>> {
    const looks = new Map<string, ConnectionLook>();
    const seen = new Set<string>();
    const bound = unbatched(options);
    for (;;) {
      const due = options.all
        ? await store.listConnections()
        : await store.listDueConnections(options.dueBy ?? clock.now(), 500);
      const fresh = due.filter((c) => !seen.has(c.id));
      if (fresh.length === 0) return looks;
      for (const c of fresh) seen.add(c.id);
      await pool(fresh, workersFor(options), async (c) => {
        const outcome = await look(c, options, bound);
        if (outcome) looks.set(c.id, outcome);
      });
      if (options.all || options.dryRun) return looks;
    }
  }

  /**
   * Check every due page, C at a time, until none is due. The due pages are streamed: when the
   * queue runs dry the next batch is listed while the other workers are still busy, so there is no
   * barrier every 500 pages where C-1 workers wait for the slowest page of the batch.
   * `collect: false` keeps no outcomes (a scheduled round over 100,000 pages would otherwise hold
   * two page snapshots per page until the round ends).
   */
  async function runRound(options: RoundOptions): Promise<ProcessOutcome[]> {
    const startedAt = clock.now();
    // Leases a refused write left held would hide their work from the due listings below.
    await connections.releaseLeftLeases();
    await pages.releaseLeftLeases();
    // While the call budget holds checks back (the last paced round did), a round spends it in due
    // order: each login's look just before its first due Page, or at its own due time when that
    // comes first. Looking at every login first would spend a short budget on looks while the Pages
    // due before them wait for a later round. With budget to spare, looks first fill the batches
    // better (round trips per 1,000 checks, bench:sweep).
    const interleaved =
      options.paced === true && deps.pacer !== undefined && options.all !== true && budgetHeld;
    if (options.paced === true) budgetHeld = false;
    const looks = interleaved ? new Map<string, ConnectionLook>() : await runConnections(options);
    const workers = workersFor(options);
    const bound = unbatched(options);
    const logins = interleaved ? dueLogins(options, workers) : null;
    /** The look at this login, once per round (a second Page of it waits for the first's). */
    const lookings = new Map<string, Promise<void>>();
    const lookOnce = (c: Connection): Promise<void> => {
      logins?.pending.delete(c.id);
      let p = lookings.get(c.id);
      if (!p) {
        p = look(c, options, bound).then((outcome) => {
          if (outcome) looks.set(c.id, outcome);
        });
        lookings.set(c.id, p);
      }
      return p;
    };
    const collect = options.collect !== false;
    const results: ProcessOutcome[] = [];
    let checked = 0;
    let failed = 0;
    const seen = new Set<string>();
    const mode: Mode = options.all ? 'check' : 'scheduled';
    const once = options.all === true || options.dryRun === true;
    const queue: ManagedPage[] = [];
    let exhausted = false;
    let listing: Promise<void> | null = null;
    let cursor: DueCursor | undefined;

    /** List the next due pages into the queue; `exhausted` when nothing new is due. */
    const refill = (): Promise<void> =>
      (listing ??= (async () => {
        try {
          const batch = options.all
            ? await store.listPages()
            : // On from where the last listing ended: the Pages this round holds, and those it left
              // due (held back by the budget, in backoff), are not listed again, so a round whose
              // first 500 all stay due still reaches the Pages behind them.
              await store.listDuePages(options.dueBy ?? clock.now(), 500, cursor);
          const last = batch.at(-1);
          if (last) cursor = { nextCheckAt: last.nextCheckAt, pageId: last.pageId };
          let added = 0;
          for (const page of batch) {
            if (seen.has(page.pageId)) continue;
            seen.add(page.pageId);
            queue.push(page);
            added++;
          }
          if (added === 0 || once) exhausted = true;
        } finally {
          listing = null;
        }
      })());

    const worker = async () => {
      for (;;) {
        if (logins && logins.pending.size === 0 && !logins.exhausted) {
          await logins.refill();
          continue;
        }
        if (queue.length === 0 && !exhausted) {
          await refill();
          continue;
        }
        const login = logins?.pending.values().next().value;
        if (login && (queue.length === 0 || dueAt(login) < dueAt(queue[0]!))) {
          await lookOnce(login);
          continue;
        }
        if (queue.length === 0) return;
        const page = queue.shift()!;
        if (logins && page.connectionId !== null) {
          const own = logins.pending.get(page.connectionId);
          if (own) await lookOnce(own);
          else await lookings.get(page.connectionId);
        }
        // Keep the next batch coming before the queue is empty, so workers never wait for it.
        if (queue.length < workers && !exhausted && listing === null) {
          void refill().catch(() => undefined);
        }
        try {
          const outcome = await bound(!isRefreshablePlatform(page.platform), () =>
            processPage(
              page.pageId,
              {
                mode,
                dryRun: options.dryRun === true,
                connectionDone: true,
                ...(options.paced === true ? { paced: true } : {}),
                ...(page.connectionId !== null && looks.has(page.connectionId)
                  ? { connectionLook: looks.get(page.connectionId)! }
                  : {}),
                ...(options.dueBy !== undefined ? { dueBy: options.dueBy } : {}),
              },
              mode === 'scheduled' ? page : undefined,
            ),
          );
          if (outcome.decision.reason === 'paced') budgetHeld = true;
          if (outcome.outcome !== 'skipped') checked++;
          if (outcome.outcome === 'failed') failed++;
          if (collect) results.push(outcome);
        } catch (err) {
          // One page's failure (lease lost, a throttled app, a deleted page) never stops the round,
          // and never drops the page from the round's summary either.
          const e = safeError(err);
          logger.warn({ pageId: page.pageId, err: e }, 'page check failed');
          options.onPageError?.(page.pageId, err);
          const throttledNow = e.code === 'graph_rate_limited';
          if (!throttledNow) failed++;
          if (collect) {
            results.push({
              pageId: page.pageId,
              before: page,
              after: page,
              decision: { action: 'none', reason: throttledNow ? 'throttled' : e.code },
              outcome: throttledNow ? 'skipped' : 'failed',
              tokenChanged: false,
              message: e.message,
            });
          }
        }
      }
    };
    await refill();
    // Every worker finishes its page before the round ends, even when listing failed for one of them.
    const settled = await Promise.allSettled(Array.from({ length: workers }, worker));
    const broken = settled.find((r) => r.status === 'rejected');
    if (broken) throw broken.reason;
    deps.events.emit('check_round', { startedAt, finishedAt: clock.now(), checked, failed });
    return results;
  }

  /**
   * The due logins of a paced round, listed as the round reaches them (500 at a time, beyond those
   * it holds): `pending` in due order, each taken out when its look starts.
   */
  function dueLogins(options: RoundOptions, workers: number) {
    const seen = new Set<string>();
    const state = {
      pending: new Map<string, Connection>(),
      exhausted: false,
      listing: null as Promise<void> | null,
      refill: (): Promise<void> =>
        (state.listing ??= (async () => {
          try {
            const due = await store.listDueConnections(
              options.dueBy ?? clock.now(),
              500 + state.pending.size + workers,
            );
            let added = 0;
            for (const c of due) {
              if (seen.has(c.id)) continue;
              seen.add(c.id);
              state.pending.set(c.id, c);
              added++;
            }
            if (added === 0 || options.dryRun === true) state.exhausted = true;
          } finally {
            state.listing = null;
          }
        })()),
    };
    return state;
  }

  return { runRound };
}

/** When a Page or login falls due; never checked: before everything else. */
const dueAt = (x: { nextCheckAt: number | null }) => x.nextCheckAt ?? Number.NEGATIVE_INFINITY;
