/**
 * The work on one Page, under the page's lease: inspect its posting token, and renew or heal it
 * from its connection's source token (the connection's own work, looking at and extending the
 * source, is connection-job.ts). One Graph call for a Page whose token is fine.
 *
 * Safety rules that hold at every step:
 * - a page is only worked on while this instance holds its lease (conditional UPDATE), and every
 *   write is conditional on still holding it;
 * - the old token stays stored until the new one is verified with debug_token, and the swap is one
 *   UPDATE, so a crash or kill at any moment leaves a valid token stored;
 * - all failure state (backoff, throttling, blocked extension) lives in the row, so a restart
 *   remembers it.
 */
import { toIso as iso } from '../clock.js';
import { AppError } from '../errors.js';
import { GraphError, kindForPage } from '../graph/errors.js';
import { callsPerCheck } from './pacing.js';
import { type CheckChoice, chooseCheck, FULL_CHECK } from './check-choice.js';
import { LeaseLostError, type PagePatch } from '../store/types.js';
import type { LastError, ManagedPage, NewEvent, PageSecrets, TokenInfo } from '../types.js';
import {
  backoffMs,
  canMintFromSource,
  type Decision,
  decide,
  deriveState,
  isDue,
  movedForward,
  nextCheckAt,
  reauthReason,
} from './decide.js';
import { deriveAccountState, isRefreshablePlatform } from './account-decide.js';
import { processAccountPage } from './account-job.js';
import type { ConnectionJob } from './connection-job.js';
import type { EngineDeps, ProcessOptions } from './deps.js';
import { leftLeases, pageEvents } from './util.js';
import {
  type ConnectionLook,
  isRenewal,
  type Outcome,
  type ProcessOutcome,
  renewalMessage,
  renewedToken,
} from './outcome.js';

/** A fresh posting token minted from the connection's source token, verified. */
interface MintedToken {
  postingToken: string;
  posting: TokenInfo;
  pageName: string | null;
}

const PHASE_INSPECT = 'inspect';
const PHASE_RENEW = 'renew';

export function createPageJob(deps: EngineDeps, connections: ConnectionJob) {
  const { store, clock, logger, policy, owner, provider } = deps;
  /** appId → time before which no call is made for that app; shared with the connection job. */
  const appThrottledUntil = connections.appThrottledUntil;
  /** In-process de-duplication: one piece of work per page at a time. */
  const inFlight = new Map<string, Promise<ProcessOutcome>>();
  const unreleased = leftLeases(
    (pageId) => store.releasePage(pageId, owner),
    (pageId) => inFlight.has(pageId),
  );
  const release = (pageId: string) =>
    store.releasePage(pageId, owner).catch((e: unknown) => {
      unreleased.add(pageId);
      logger.warn({ err: e, pageId }, 'lease release failed');
    });

  const app = (page: ManagedPage, secrets: PageSecrets) => ({
    appId: page.appId,
    appSecret: secrets.appSecret,
  });

  const debug = (token: string, page: ManagedPage, secrets: PageSecrets): Promise<TokenInfo> =>
    provider.inspect(token, app(page, secrets));

  /** A probe chosen before the lease, unless the row read under it needs more (rotated, unhealthy). */
  function chooseProbeAgain(page: ManagedPage, options: ProcessOptions, now: number): CheckChoice {
    const again = choiceFor(page, options, now);
    return again.kind === 'debug_token' && again.reason === 'cadence'
      ? { kind: 'page_probe', reason: 'never_expiring_page_token' }
      : again;
  }

  /**
   * What this check calls (check-choice.ts): a scheduled check of a never-expiring Page token may
   * be the probe (the Page's budget); a person's check or renewal, a re-mint, a platform without a
   * probe, or GRAPH_CHECK=debug_token always inspect in full.
   */
  function choiceFor(page: ManagedPage, options: ProcessOptions, now: number): CheckChoice {
    if (
      options.mode !== 'scheduled' ||
      options.remint === true ||
      provider.probe === undefined ||
      deps.checkChoice === 'debug_token'
    ) {
      return FULL_CHECK;
    }
    return chooseCheck(page, now);
  }

  /** Mint a Page token from the connection's source token (as stored: the connection job extends it). */
  async function mint(page: ManagedPage, secrets: PageSecrets): Promise<MintedToken> {
    if (!secrets.sourceToken) {
      throw new AppError('token_invalid', 'no source token to mint a Page token from');
    }
    const minted = await provider.mintChild(page.pageId, secrets.sourceToken, app(page, secrets));
    return { postingToken: minted.token, posting: minted.info, pageName: minted.name ?? page.pageName };
  }

  const event = pageEvents(clock);

  function withState(page: ManagedPage, now: number): ManagedPage {
    const s = isRefreshablePlatform(page.platform)
      ? deriveAccountState(page, now, policy)
      : deriveState(page, now, policy);
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
    } else if (err instanceof GraphError && kindForPage(err, page.posting.isValid) === 'transient') {
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

  async function runPage(
    pageId: string,
    options: ProcessOptions,
    listed?: ManagedPage,
  ): Promise<ProcessOutcome> {
    const dryRun = options.dryRun === true;
    // A scheduled round already has the row from listing the due pages: deciding whether to claim
    // it needs no fresh read, because the row is read again under the lease (underLease).
    const before = listed ?? (await store.getPage(pageId));
    if (!before) throw new AppError('page_not_found', `page ${pageId} is not managed here`);
    // An Instagram or Threads account is its connection's token: the connection's work is its work.
    if (isRefreshablePlatform(before.platform)) return processAccountPage(deps, connections, before, options);
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
        const until = Math.max(throttled, before.retryAt ?? 0);
        const message = `Facebook is throttling this app; calls resume at ${iso(until)}.`;
        // The throttle may have been met by another Page or by the look at the login: show it on
        // this Page too (failing, throttled), so that a person's check says why — without a call.
        if (!dryRun && before.lastError?.code !== 'graph_rate_limited') {
          await markThrottled(
            before,
            new GraphError({ kind: 'throttled', message, retryAfterMs: until - now }),
            now,
          );
        }
        throw new AppError('graph_rate_limited', message);
      }
      return skip('throttled');
    }
    let choice = choiceFor(before, options, now);
    if (options.mode === 'scheduled') {
      const due = isDue(before, now, options.dueBy ?? now);
      if (due.reason !== 'due') return skip(due.reason);
      if (
        !dryRun &&
        options.paced === true &&
        deps.pacer &&
        !deps.pacer.admit(before.appId, choice.kind === 'page_probe' ? 0 : callsPerCheck(before), now)
      ) {
        // The daily inspection can wait for the budget; the check cannot: probe now (the Page's
        // budget), inspect at a later round. Otherwise every Page's daily debug_token falls in the
        // same hours and holds their checks back past the interval.
        if (choice.kind !== 'debug_token' || choice.reason !== 'cadence') return skip('paced');
        choice = { kind: 'page_probe', reason: 'never_expiring_page_token' };
      }
    }
    // The page lease is claimed before the look at the login, so that a second instance asked
    // about the same Page (an on-demand refresh) sees the Page taken and waits for this work,
    // instead of doing it again beside it.
    // The claim brings the row and its secrets back with it: the re-read under the lease.
    let claimed: Awaited<ReturnType<typeof store.claimPageWithSecrets>> = null;
    if (!dryRun) {
      try {
        claimed = await store.claimPageWithSecrets(pageId, owner, now, deps.leaseTtlMs);
      } catch (err) {
        await release(pageId); // the lease may have been taken before the secrets' read failed
        throw err;
      }
    }
    if (!dryRun && !claimed) {
      if (options.mode === 'scheduled') return skip('leased');
      throw new AppError(
        'renewal_in_progress',
        `page ${pageId} is being worked on by another process; try again shortly`,
      );
    }
    // The work's last write releases the lease with it (one commit fewer); else the finally does.
    const lease = { held: !dryRun };
    try {
      // A person's check or renewal looks at the login first; a round has done so already.
      let looked: ConnectionLook | null = options.connectionLook ?? null;
      if (before.connectionId !== null && options.mode !== 'scheduled' && options.connectionDone !== true) {
        looked = await connections.run(before.connectionId, {
          extend: options.force === true ? 'force' : 'auto',
          dryRun,
        });
        // The look may have changed the login (a new source token): what the claim read is stale.
        claimed = null;
      }
      return await underLease(before, options, dryRun, looked, choice, lease, claimed);
    } finally {
      if (lease.held) await release(pageId);
    }
  }

  /** Record an app throttle on a Page that has not met it itself (under its lease; no Graph call). */
  async function markThrottled(before: ManagedPage, err: GraphError, now: number): Promise<void> {
    if (!(await store.claimPage(before.pageId, owner, now, deps.leaseTtlMs))) return;
    try {
      const failed = failurePatch(before, err, now, PHASE_INSPECT);
      const { source: _s, sourceExtensionBlockedUntil: _b, ...patch } = stripKeys(failed.page);
      const stored = await store.updatePage(before.pageId, patch, {
        leaseOwner: owner,
        events: [...failed.events, ...changeEvents(before, failed.page)],
      });
      if (deps.onPageChanged) await deps.onPageChanged(before, stored);
    } finally {
      await release(before.pageId);
    }
  }

  async function underLease(
    initial: ManagedPage,
    options: ProcessOptions,
    dryRun: boolean,
    looked: ConnectionLook | null,
    /** What runPage chose (and the pacer admitted); chosen again on the row read under the lease. */
    chosen: CheckChoice,
    lease: { held: boolean },
    /** The row and secrets the claim read (null on a dry run, which claims nothing). */
    claimed: { page: ManagedPage; secrets: PageSecrets } | null,
  ): Promise<ProcessOutcome> {
    const pageId = initial.pageId;
    // Re-read under the lease (with the secrets, in one read): someone may have renewed it since
    // we listed it. A dry run stored nothing about the login it looked at: use what it saw.
    const found = claimed ?? (await store.getPageWithSecrets(pageId));
    if (!found) throw new AppError('page_not_found', `page ${pageId} is not managed here`);
    const { page: read, secrets } = found;
    const before = dryRun && looked?.after.source ? { ...read, source: looked.after.source } : read;
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
    const save = async (
      after: ManagedPage,
      extra: { secrets?: Partial<PageSecrets>; events: NewEvent[] },
    ) => {
      // The source's facts are the connection's: written only when this work learnt something new
      // about them (the login refused while minting), never a stale copy.
      const { source, sourceExtensionBlockedUntil: _b, ...rest } = stripKeys(after);
      const patch: PagePatch =
        JSON.stringify(source) === JSON.stringify(before.source) ? rest : { ...rest, source: source ?? null };
      // Every save here is the work's last write: it releases the lease in the same UPDATE.
      const stored = await store.updatePage(pageId, patch, {
        leaseOwner: owner,
        events: [...extra.events, ...changeEvents(before, after)],
        ...(extra.secrets ? { secrets: extra.secrets } : {}),
        release: true,
      });
      lease.held = false;
      if (deps.onPageChanged) await deps.onPageChanged(before, stored);
      return stored;
    };

    // 1. Inspect the posting token (the source is the connection's, looked at once per round):
    // the probe when it is enough, debug_token otherwise or when the probe did not answer as the Page.
    let inspected: ManagedPage;
    // A probe chosen for the budget's sake stays a probe; otherwise the fresh row decides.
    const choice = chosen.kind === 'page_probe' ? chooseProbeAgain(before, options, now) : chosen;
    try {
      const alive =
        choice.kind === 'page_probe' && provider.probe
          ? await provider.probe(secrets.postingToken, pageId, app(before, secrets))
          : false;
      // A probe that answered keeps the facts debug_token last gave (posting.checkedAt says when).
      const posting = alive ? before.posting : await debug(secrets.postingToken, before, secrets);
      inspected = { ...before, posting, lastCheckedAt: now };
    } catch (err) {
      if (!(err instanceof GraphError) || dryRun) throw err;
      // A throttle met by the probe holds back the whole app too: Facebook's #4/#17 are the app's
      // whatever token the call carried, and no call is made while throttled.
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

    // A login given a new source token re-mints every Page under it from that token; so does a
    // rotation this Page's own work asked for (the connection job re-mints the others).
    const rotated =
      looked?.outcome === 'source_renewed' &&
      looked.after.retiredRevokeAt !== null &&
      (before.lastRenewedAt ?? 0) < (looked.after.lastCheckedAt ?? 0);
    const decision: Decision =
      (options.remint === true || rotated) && canMintFromSource(inspected, now)
        ? { action: 'renew', reason: 'source_replaced' }
        : decide(inspected, now, policy, options.force === true ? { force: true } : {});
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

    // The source is the connection's: its job extends it (now, unless it already looked this time).
    if (decision.action === 'renew_source' && base.connectionId !== null) {
      looked ??= await connections.run(base.connectionId, { extend: 'auto' });
    }
    if (decision.action === 'none' || decision.action === 'renew_source') {
      const fresh = decision.action === 'renew_source' ? ((await store.getPage(pageId)) ?? base) : base;
      const after = withState(
        { ...base, source: fresh.source, sourceExtensionBlockedUntil: fresh.sourceExtensionBlockedUntil },
        now,
      );
      const events = infoChanged(before, after)
        ? [
            event(after, 'check', decision.reason, {
              details: { posting: tokenFacts(after.posting), source: tokenFacts(after.source) },
            }),
          ]
        : [];
      const stored = await save(after, { events });
      // What the look at the login came to is this work's outcome when the Page itself needed nothing.
      const sourceOutcome =
        looked && (looked.outcome === 'source_renewed' || looked.outcome === 'source_not_extendable')
          ? looked.outcome
          : null;
      emitProcessed(before, stored, decision, 'ok');
      return {
        pageId,
        before,
        after: stored,
        decision,
        outcome: sourceOutcome ?? 'checked',
        tokenChanged: false,
        message: sourceOutcome ? renewalMessage(sourceOutcome, facts(stored)) : stored.stateMessage,
      };
    }

    // 2. Renew, heal or refresh the source, under the lease. Show `renewing` while we do.
    await store.updatePage(pageId, { state: 'renewing' }, { leaseOwner: owner });
    try {
      const heal = decision.action === 'heal';
      // The source is as the connection job left it (extended first when it needed to be).
      const m = await mint(base, secrets);
      const previousExpiry = base.posting.expiresAt;
      const extended = movedForward(previousExpiry, m.posting.expiresAt) || previousExpiry === null;
      const after = withState(
        {
          ...base,
          pageName: m.pageName,
          posting: m.posting,
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
      const stored = await save(after, { secrets: { postingToken: m.postingToken }, events });
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
    // Two callers waiting on the same work must not both start afterwards (the page lease is
    // re-entrant for this process, so nothing else would keep them apart): look again after waiting.
    for (let running = inFlight.get(pageId); running; running = inFlight.get(pageId)) {
      if (options.mode === 'scheduled') {
        const r = await running;
        return { ...r, outcome: 'skipped', decision: { action: 'none', reason: 'in_flight' } };
      }
      await running.catch(() => undefined);
    }
    const p = runPage(pageId, options, listed);
    inFlight.set(pageId, p);
    try {
      return await p;
    } finally {
      if (inFlight.get(pageId) === p) inFlight.delete(pageId);
    }
  }

  /** The work this process is doing on a page right now, if any (lifecycle/on-demand.ts waits for it). */
  const busy = (pageId: string): Promise<ProcessOutcome> | undefined => inFlight.get(pageId);

  return { processPage, withState, busy, appThrottledUntil, releaseLeftLeases: unreleased.retry };
}

export type PageJob = ReturnType<typeof createPageJob>;

function stripKeys(page: ManagedPage): PagePatch {
  const { pageId: _p, createdAt: _c, updatedAt: _u, leaseOwner: _o, leaseExpiresAt: _e, ...patch } = page;
  return patch;
}
