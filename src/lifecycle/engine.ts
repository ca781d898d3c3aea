/**
 * The effects beside the pure decisions: inspect, renew, heal and record, under the page's lease.
 *
 * Safety rules that hold at every step:
 * - a page is only worked on while this instance holds its lease (conditional UPDATE), and every
 *   write is conditional on still holding it, so two instances never exchange the same token twice;
 * - the old token stays stored until the new one is verified with debug_token, and the swap is one
 *   UPDATE, so a crash or kill at any moment leaves a valid token stored;
 * - all failure state (backoff, throttling, blocked extension) lives in the row, so a restart
 *   remembers it.
 */
import type { EventEmitter } from 'node:events';
import { type Clock, toIso as iso } from '../clock.js';
import { AppError } from '../errors.js';
import type { DebugTokenInfo, GraphClient } from '../graph/client.js';
import { GraphError } from '../graph/errors.js';
import type { Logger } from '../logger.js';
import { LeaseLostError, type NewPage, type PagePatch, type Store } from '../store/types.js';
import type { LastError, ManagedPage, NewEvent, PageSecrets, TokenInfo } from '../types.js';
import {
  backoffMs,
  type Decision,
  decide,
  deriveState,
  isDue,
  movedForward,
  nextCheckAt,
  type Policy,
  reauthReason,
} from './decide.js';
import { assertPostingTasks, assertPostingToken, pageTasks, toTokenInfo } from './inspect.js';
import { isRenewal, type Outcome, renewalMessage, renewedToken } from './outcome.js';
import { callsPerCheck, type Pacer } from './pacing.js';
import type { KeeperEventMap } from './types.js';

export interface EngineDeps {
  store: Store;
  graph: GraphClient;
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
  /**
   * The call-budget hook (lifecycle/pacing.ts): a scheduled round asks it before claiming each due
   * Page; a Page it holds back stays due for a later round. Absent: no pacing.
   */
  pacer?: Pacer;
}

export type Mode = 'scheduled' | 'check' | 'renew';

export interface ProcessOptions {
  mode: Mode;
  force?: boolean;
  dryRun?: boolean;
  /** Scheduled mode: count a page due by this time as due now (a cron round, `cronDueBy`). */
  dueBy?: number;
  /** Scheduled mode: ask the pacer before claiming (the service's rounds; a cron run cannot wait). */
  paced?: boolean;
}

export interface ProcessOutcome {
  pageId: string;
  before: ManagedPage;
  after: ManagedPage;
  decision: Decision;
  outcome: Outcome;
  tokenChanged: boolean;
  message: string | null;
}

/** Result of getting a fresh posting token from a source token. */
interface Minted {
  postingToken: string;
  posting: TokenInfo;
  pageName: string | null;
  sourceToken: string | null;
  source: TokenInfo | null;
  sourceExtensionBlockedUntil: number | null;
  events: NewEvent[];
}

const PHASE_INSPECT = 'inspect';
const PHASE_RENEW = 'renew';

export function createEngine(deps: EngineDeps) {
  const { store, graph, clock, logger, policy, owner } = deps;
  /** appId → time before which no call is made for that app (Facebook throttles per app). */
  const appThrottledUntil = new Map<string, number>();
  /** In-process de-duplication: one piece of work per page at a time. */
  const inFlight = new Map<string, Promise<ProcessOutcome>>();

  const app = (page: ManagedPage, secrets: PageSecrets) => ({
    appId: page.appId,
    appSecret: secrets.appSecret,
  });

  async function debug(token: string, page: ManagedPage, secrets: PageSecrets): Promise<TokenInfo> {
    const d: DebugTokenInfo = await graph.debugToken(token, app(page, secrets));
    return toTokenInfo(token, d, clock.now());
  }

  /** Exchange the source token when it has a finite expiry; keep it when Facebook does not extend it. */
  async function refreshSource(page: ManagedPage, secrets: PageSecrets) {
    const source = page.source;
    const sourceToken = secrets.sourceToken;
    const events: NewEvent[] = [];
    if (!source || !sourceToken || source.expiresAt === null) {
      return { sourceToken, source, blockedUntil: page.sourceExtensionBlockedUntil, events };
    }
    const exchanged = await graph.exchangeToken(sourceToken, app(page, secrets), {
      systemUser60Days: source.type === 'SYSTEM_USER',
    });
    const info = await debug(exchanged.accessToken, page, secrets);
    if (info.isValid && movedForward(source.expiresAt, info.expiresAt)) {
      return { sourceToken: exchanged.accessToken, source: info, blockedUntil: null, events };
    }
    // docs/FACEBOOK.md#re-exchanging-does-not-extend: re-exchanging a long-lived user token returns the same expiry. Keep the
    // token we have, remember that this path does not extend, and stop re-trying it.
    events.push(
      event(page, 'source_not_extendable', 'not_extendable', {
        message: renewalMessage('source_not_extendable', {
          expiresAt: page.posting.expiresAt,
          sourceExpiresAt: source.expiresAt,
        }),
        details: { source_expires_at: iso(source.expiresAt) },
      }),
    );
    return { sourceToken, source, blockedUntil: source.expiresAt, events };
  }

  /** Mint a Page token from the (possibly refreshed) source token and verify it. */
  async function mint(page: ManagedPage, secrets: PageSecrets, refresh: boolean): Promise<Minted> {
    const src = refresh
      ? await refreshSource(page, secrets)
      : {
          sourceToken: secrets.sourceToken,
          source: page.source,
          blockedUntil: page.sourceExtensionBlockedUntil,
          events: [],
        };
    if (!src.sourceToken) throw new AppError('token_invalid', 'no source token to mint a Page token from');
    const minted = await graph.getPageToken(page.pageId, src.sourceToken, app(page, secrets));
    const posting = await debug(minted.accessToken, page, secrets);
    assertPostingToken(posting, { appId: page.appId, pageId: page.pageId });
    // A valid Page token is not enough: its person needs a posting task on the Page.
    assertPostingTasks(await pageTasks(graph, page.pageId, src.sourceToken, app(page, secrets)), page.pageId);
    return {
      postingToken: minted.accessToken,
      posting,
      pageName: minted.name || page.pageName,
      sourceToken: src.sourceToken,
      source: src.source,
      sourceExtensionBlockedUntil: src.blockedUntil,
      events: src.events,
    };
  }

  function event(
    page: ManagedPage,
    type: NewEvent['type'],
    reason: string | null,
    extra: Partial<NewEvent> = {},
  ): NewEvent {
    return {
      pageId: page.pageId,
      at: clock.now(),
      type,
      reason,
      stateFrom: null,
      stateTo: null,
      message: null,
      details: {},
      ...extra,
    };
  }

  function withState(page: ManagedPage, now: number): ManagedPage {
    const s = deriveState(page, now, policy);
    return { ...page, state: s.state, stateReason: s.reason, stateMessage: s.message };
  }

  /** The events that describe how a page changed between two snapshots. */
  function changeEvents(before: ManagedPage, after: ManagedPage): NewEvent[] {
    const out: NewEvent[] = [];
    if (before.state !== after.state) {
      out.push(
        event(after, 'state_changed', after.stateReason, {
          stateFrom: before.state,
          stateTo: after.state,
          message: after.stateMessage,
        }),
      );
    }
    if (before.posting.hash !== after.posting.hash) {
      out.push(
        event(after, 'token_rotated', 'posting_token_changed', {
          message: 'The posting token changed: apps that cache it should fetch it again.',
          details: { previous_token_hash: before.posting.hash, token_hash: after.posting.hash },
        }),
      );
    }
    return out;
  }

  function tokenFacts(i: TokenInfo | null) {
    return i && { valid: i.isValid, type: i.type, expires_at: iso(i.expiresAt), scopes: i.scopes.join(',') };
  }

  function infoChanged(before: ManagedPage, after: ManagedPage): boolean {
    return (
      JSON.stringify([tokenFacts(before.posting), tokenFacts(before.source)]) !==
      JSON.stringify([tokenFacts(after.posting), tokenFacts(after.source)])
    );
  }

  /** Map a failure to stored state: backoff, throttling, or a person needed. */
  function failurePatch(
    page: ManagedPage,
    err: unknown,
    now: number,
    phase: string,
  ): { page: ManagedPage; events: NewEvent[] } {
    const lastError: LastError = {
      code: err instanceof AppError ? err.code : 'internal_error',
      message: err instanceof Error ? err.message : 'unknown error',
      fbCode: err instanceof GraphError ? err.fbCode : null,
      fbSubcode: err instanceof GraphError ? err.fbSubcode : null,
      fbtraceId: err instanceof GraphError ? err.fbtraceId : null,
      at: now,
    };
    let next: ManagedPage = { ...page, lastError };
    let reason: string = lastError.code;
    if (err instanceof GraphError && err.kind === 'throttled') {
      const until = now + err.retryAfterMs;
      appThrottledUntil.set(page.appId, until);
      next = { ...next, retryAt: until, nextCheckAt: Math.max(until, next.nextCheckAt ?? 0) };
      reason = 'throttled';
    } else if (err instanceof GraphError && err.kind === 'transient') {
      const failureCount = page.failureCount + 1;
      const retryAt = now + backoffMs(failureCount, deps.random);
      next = { ...next, failureCount, retryAt, nextCheckAt: retryAt };
      reason = 'transient_error';
    } else if (
      err instanceof GraphError &&
      err.kind === 'needs_reauth' &&
      phase === PHASE_RENEW &&
      page.source
    ) {
      // The source token was refused while minting/exchanging: self-healing is gone.
      const r = reauthReason(err.fbSubcode);
      next = {
        ...next,
        source: {
          ...page.source,
          isValid: false,
          error: { code: err.fbCode ?? 190, subcode: err.fbSubcode, message: r.message },
        },
      };
      reason = r.reason;
    } else {
      // Permanent for this attempt (permission, bad request, a minted token that fails verification):
      // do not hammer Facebook; try again at the next regular check.
      next = { ...next, extensionBlockedUntil: page.posting.expiresAt ?? page.extensionBlockedUntil };
    }
    next = withState(next, now);
    const events = [
      event(next, phase === PHASE_RENEW ? 'renewal_failed' : 'check', reason, {
        message: lastError.message,
        details: {
          error_code: lastError.code,
          fb_code: lastError.fbCode,
          fb_subcode: lastError.fbSubcode,
          fbtrace_id: lastError.fbtraceId,
          failure_count: next.failureCount,
          retry_at: iso(next.retryAt),
        },
      }),
    ];
    return { page: next, events };
  }

  async function work(
    pageId: string,
    options: ProcessOptions,
    listed?: ManagedPage,
  ): Promise<ProcessOutcome> {
    const dryRun = options.dryRun === true;
    // A scheduled round already has the row from listing the due pages: deciding whether to claim
    // it needs no fresh read, because the row is read again under the lease (workUnderLease).
    const before = listed ?? (await store.getPage(pageId));
    if (!before) throw new AppError('page_not_found', `page ${pageId} is not managed here`);
    const now = clock.now();
    const skip = (reason: string): ProcessOutcome => ({
      pageId,
      before,
      after: before,
      decision: { action: 'none', reason },
      outcome: 'skipped',
      tokenChanged: false,
      message: null,
    });

    const throttled = appThrottledUntil.get(before.appId) ?? 0;
    if (
      throttled > now ||
      (before.retryAt !== null && before.retryAt > now && before.lastError?.code === 'graph_rate_limited')
    ) {
      if (options.mode !== 'scheduled') {
        throw new AppError(
          'graph_rate_limited',
          `Facebook is throttling this app; calls resume at ${iso(Math.max(throttled, before.retryAt ?? 0))}.`,
        );
      }
      return skip('throttled');
    }
    if (options.mode === 'scheduled') {
      const due = isDue(before, now, options.dueBy ?? now);
      if (due.reason !== 'due') return skip(due.reason);
      if (
        !dryRun &&
        options.paced === true &&
        deps.pacer &&
        !deps.pacer.admit(before.appId, callsPerCheck(before), now)
      ) {
        return skip('paced');
      }
    }
    if (!dryRun && !(await store.claimPage(pageId, owner, now, deps.leaseTtlMs))) {
      if (options.mode === 'scheduled') return skip('leased');
      throw new AppError(
        'renewal_in_progress',
        `page ${pageId} is being worked on by another process; try again shortly`,
      );
    }
    try {
      return await workUnderLease(before, options, dryRun);
    } finally {
      if (!dryRun) {
        await store
          .releasePage(pageId, owner)
          .catch((e: unknown) => logger.warn({ err: e, pageId }, 'lease release failed'));
      }
    }
  }

  async function workUnderLease(
    initial: ManagedPage,
    options: ProcessOptions,
    dryRun: boolean,
  ): Promise<ProcessOutcome> {
    const pageId = initial.pageId;
    // Re-read under the lease: someone may have renewed it since we listed it.
    const before = (await store.getPage(pageId)) ?? initial;
    const now = clock.now();
    if (options.mode === 'scheduled') {
      // Another instance (or this one) checked it between the listing and our claim: nothing to do.
      const due = isDue(before, now, options.dueBy ?? now);
      if (due.reason !== 'due') {
        return {
          pageId,
          before,
          after: before,
          decision: { action: 'none', reason: due.reason },
          outcome: 'skipped',
          tokenChanged: false,
          message: null,
        };
      }
    }
    const secrets = await store.getSecrets(pageId);
    if (!secrets) throw new AppError('page_not_found', `page ${pageId} is not managed here`);
    const save = async (
      after: ManagedPage,
      extra: { secrets?: Partial<PageSecrets>; events: NewEvent[] },
    ) => {
      const patch: PagePatch = stripKeys(after);
      const stored = await store.updatePage(pageId, patch, {
        leaseOwner: owner,
        events: [...extra.events, ...changeEvents(before, after)],
        ...(extra.secrets ? { secrets: extra.secrets } : {}),
      });
      if (deps.onPageChanged) await deps.onPageChanged(before, stored);
      return stored;
    };

    // 1. Inspect both tokens (in parallel: one round trip of latency per page).
    let inspected: ManagedPage;
    try {
      const [posting, source] = await allOrWorstError([
        debug(secrets.postingToken, before, secrets),
        secrets.sourceToken ? debug(secrets.sourceToken, before, secrets) : Promise.resolve(null),
      ]);
      inspected = { ...before, posting, source, lastCheckedAt: now };
    } catch (err) {
      if (!(err instanceof GraphError) || dryRun) throw err;
      const failed = failurePatch(before, err, now, PHASE_INSPECT);
      const after = await save(failed.page, { events: failed.events });
      emitProcessed(
        before,
        after,
        { action: 'none', reason: failed.page.lastError?.code ?? 'failed' },
        'failed',
      );
      return {
        pageId,
        before,
        after,
        decision: { action: 'none', reason: 'check_failed' },
        outcome: 'failed',
        tokenChanged: false,
        message: err.message,
      };
    }

    const decision = decide(inspected, now, policy, options.force === true ? { force: true } : {});
    if (dryRun) {
      const after = withState(inspected, now);
      return {
        pageId,
        before,
        after,
        decision,
        outcome: 'skipped',
        tokenChanged: false,
        message: after.stateMessage,
      };
    }

    // A successful inspection clears transient failure state.
    const base: ManagedPage = {
      ...inspected,
      failureCount: 0,
      retryAt: null,
      lastError: null,
      nextCheckAt: nextCheckAt(inspected, now, policy, deps.random),
    };

    if (decision.action === 'none') {
      const after = withState(base, now);
      const events = infoChanged(before, after)
        ? [
            event(after, 'check', decision.reason, {
              details: { posting: tokenFacts(after.posting), source: tokenFacts(after.source) },
            }),
          ]
        : [];
      const stored = await save(after, { events });
      emitProcessed(before, stored, decision, 'ok');
      return {
        pageId,
        before,
        after: stored,
        decision,
        outcome: 'checked',
        tokenChanged: false,
        message: stored.stateMessage,
      };
    }

    // 2. Renew, heal or refresh the source, under the lease. Show `renewing` while we do.
    await store.updatePage(pageId, { state: 'renewing' }, { leaseOwner: owner });
    try {
      if (decision.action === 'renew_source') {
        const src = await refreshSource(base, secrets);
        const after = withState(
          { ...base, source: src.source, sourceExtensionBlockedUntil: src.blockedUntil },
          now,
        );
        const changed = src.sourceToken !== secrets.sourceToken;
        const outcome: Outcome = changed ? 'source_renewed' : 'source_not_extendable';
        const events = [...src.events];
        if (changed) {
          events.push(
            event(after, 'renewed', decision.reason, {
              message: renewalMessage(outcome, facts(after)),
              details: {
                source_expires_at: iso(src.source?.expiresAt ?? null),
                previous_source_expires_at: iso(base.source?.expiresAt ?? null),
              },
            }),
          );
        }
        const stored = await save(
          after,
          changed ? { secrets: { sourceToken: src.sourceToken }, events } : { events },
        );
        emitRenewal(pageId, outcome, decision.reason);
        emitProcessed(before, stored, decision, 'ok');
        return {
          pageId,
          before,
          after: stored,
          decision,
          outcome,
          tokenChanged: false,
          message: renewalMessage(outcome, facts(stored)),
        };
      }

      const heal = decision.action === 'heal';
      // Healing keeps the source as it is; renewing first tries to extend the source.
      const m = await mint(base, secrets, !heal);
      const previousExpiry = base.posting.expiresAt;
      const extended = movedForward(previousExpiry, m.posting.expiresAt) || previousExpiry === null;
      const after = withState(
        {
          ...base,
          pageName: m.pageName,
          posting: m.posting,
          source: m.source,
          sourceExtensionBlockedUntil: m.sourceExtensionBlockedUntil,
          lastRenewedAt: now,
          // If the new expiry did not move forward, stop re-trying this path until a person reconnects.
          extensionBlockedUntil: extended || heal ? null : m.posting.expiresAt,
        },
        now,
      );
      const outcome: 'healed' | 'renewed' | 'not_extendable' = heal
        ? 'healed'
        : extended
          ? 'renewed'
          : 'not_extendable';
      const events = [
        ...m.events,
        event(after, outcome, outcome === 'not_extendable' ? 'not_extendable' : decision.reason, {
          message: renewalMessage(outcome, facts(after)),
          details: {
            previous_expires_at: iso(previousExpiry),
            expires_at: iso(m.posting.expiresAt),
            previous_token_hash: before.posting.hash,
            token_hash: m.posting.hash,
          },
        }),
      ];
      const newSecrets: Partial<PageSecrets> = { postingToken: m.postingToken };
      if (m.sourceToken !== secrets.sourceToken) newSecrets.sourceToken = m.sourceToken;
      const stored = await save(after, { secrets: newSecrets, events });
      emitRenewal(pageId, outcome, decision.reason);
      emitProcessed(before, stored, decision, 'ok');
      return {
        pageId,
        before,
        after: stored,
        decision,
        outcome,
        tokenChanged: true,
        message: renewalMessage(outcome, facts(stored)),
      };
    } catch (err) {
      if (err instanceof LeaseLostError) throw err;
      if (!(err instanceof AppError)) throw err;
      const failed = failurePatch(base, err, now, PHASE_RENEW);
      const stored = await save(failed.page, { events: failed.events });
      emitRenewal(pageId, 'failed', failed.page.lastError?.code ?? 'failed');
      emitProcessed(before, stored, decision, 'failed');
      return {
        pageId,
        before,
        after: stored,
        decision,
        outcome: 'failed',
        tokenChanged: false,
        message: err.message,
      };
    }
  }

  /** Metrics count renewals of either token by one of four words; `token` says which token. */
  function emitRenewal(pageId: string, outcome: Outcome, reason: string) {
    deps.events.emit('renewal', {
      pageId,
      outcome: isRenewal(outcome)
        ? outcome === 'healed'
          ? 'healed'
          : 'renewed'
        : outcome === 'failed'
          ? 'failed'
          : 'not_extendable',
      token: renewedToken(outcome),
      reason,
    });
  }

  function facts(page: ManagedPage) {
    return { expiresAt: page.posting.expiresAt, sourceExpiresAt: page.source?.expiresAt ?? null };
  }

  function emitProcessed(
    before: ManagedPage,
    after: ManagedPage,
    decision: Decision,
    outcome: 'ok' | 'failed' | 'skipped',
  ) {
    deps.events.emit('page_processed', {
      pageId: after.pageId,
      action: decision.action,
      reason: decision.reason,
      outcome,
      stateBefore: before.state,
      stateAfter: after.state,
    });
  }

  /** One piece of work per page per process; a second caller waits for the first. */
  async function processPage(
    pageId: string,
    options: ProcessOptions,
    listed?: ManagedPage,
  ): Promise<ProcessOutcome> {
    const running = inFlight.get(pageId);
    if (running) {
      if (options.mode === 'scheduled') {
        const r = await running;
        return { ...r, outcome: 'skipped', decision: { action: 'none', reason: 'in_flight' } };
      }
      await running.catch(() => undefined);
    }
    const p = work(pageId, options, listed);
    inFlight.set(pageId, p);
    try {
      return await p;
    } finally {
      if (inFlight.get(pageId) === p) inFlight.delete(pageId);
    }
  }

  /**
   * Check every due page, C at a time, until none is due. The due pages are streamed: when the
   * queue runs dry the next batch is listed while the other workers are still busy, so there is no
   * barrier every 500 pages where C-1 workers wait for the slowest page of the batch.
   * `collect: false` keeps no outcomes (a scheduled round over 100,000 pages would otherwise hold
   * two page snapshots per page until the round ends).
   */
  async function runRound(options: {
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
  }): Promise<ProcessOutcome[]> {
    const startedAt = clock.now();
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

    /** List the next due pages into the queue; `exhausted` when nothing new is due. */
    const refill = (): Promise<void> =>
      (listing ??= (async () => {
        try {
          const batch = options.all
            ? await store.listPages()
            : await store.listDuePages(options.dueBy ?? clock.now(), 500);
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
        if (queue.length === 0) {
          if (exhausted) return;
          await refill();
          continue;
        }
        const page = queue.shift()!;
        // Keep the next batch coming before the queue is empty, so workers never wait for it.
        if (queue.length < options.concurrency && !exhausted && listing === null) {
          void refill().catch(() => undefined);
        }
        try {
          const outcome = await processPage(
            page.pageId,
            {
              mode,
              dryRun: options.dryRun === true,
              ...(options.dueBy !== undefined ? { dueBy: options.dueBy } : {}),
              ...(options.paced === true ? { paced: true } : {}),
            },
            mode === 'scheduled' ? page : undefined,
          );
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
    const settled = await Promise.allSettled(
      Array.from({ length: Math.max(1, options.concurrency) }, worker),
    );
    const broken = settled.find((r) => r.status === 'rejected');
    if (broken) throw broken.reason;
    deps.events.emit('check_round', { startedAt, finishedAt: clock.now(), checked, failed });
    return results;
  }

  return { processPage, runRound, debug, mint, withState, appThrottledUntil };
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

function stripKeys(page: ManagedPage): PagePatch {
  const { pageId: _p, createdAt: _c, updatedAt: _u, leaseOwner: _o, leaseExpiresAt: _e, ...patch } = page;
  return patch;
}

export function newPageFrom(page: ManagedPage): NewPage {
  const { createdAt: _c, updatedAt: _u, leaseOwner: _o, leaseExpiresAt: _e, ...rest } = page;
  return rest;
}
