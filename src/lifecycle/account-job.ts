/**
 * The work on an Instagram-Login or Threads connection, under the connection's lease (the
 * connection job hands it over: one dispatch on the platform). One token is both the connection's
 * source and its one account's posting token, so this job writes both the connection row and the
 * account's `pages` row (platform `instagram` / `threads`).
 *
 * - Liveness the way each platform allows (the provider's `inspect`: Instagram `/me`, Threads
 *   debug_token); Instagram's look has no expiry, so the one from the last exchange or refresh
 *   (`expires_in`) is kept.
 * - Refresh by RENEWAL_THRESHOLD_DAYS, never before the token is 24 hours old (refreshDue); the
 *   provider verifies the refreshed token before it is returned; whatever string comes back is stored.
 * - A refusal keeps the token and is retried at the next check; the account is `failing`, and the
 *   alert plan raises `renewal_failed` at each ALERT_DAYS_BEFORE threshold before the expiry.
 * - Past the expiry the token is lost for good: `expired`, and no call is made for it again
 *   (the emulator counts them in the tests).
 */
import { toIso as iso } from '../clock.js';
import { AppError } from '../errors.js';
import { GraphError } from '../graph/errors.js';
import { nextRefreshAt, refreshDue } from '../platforms/decide.js';
import { PLATFORM_LABEL, platformHumanMessage, type RefreshablePlatformName } from '../platforms/errors.js';
import type { RefreshableProvider, RefreshedToken } from '../platforms/refreshable-provider.js';
import type { ConnectionPatch, PagePatch } from '../store/types.js';
import type { Connection, LastError, ManagedPage, NewEvent, TokenInfo } from '../types.js';
import { deriveAccountState } from './account-decide.js';
import { backoffMs } from './decide.js';
import type { ConnectionLooker, ConnectionRunOptions, EngineDeps, ProcessOptions } from './deps.js';
import { pageEvents } from './util.js';
import type { ConnectionOutcome, ProcessOutcome } from './outcome.js';

export function providerOf(
  deps: Pick<EngineDeps, 'providers'>,
  platform: RefreshablePlatformName,
): RefreshableProvider {
  const provider = deps.providers?.[platform];
  if (!provider) {
    throw new AppError('validation_failed', `platform ${platform} is not configured in this keeper`, {
      details: { fields: [{ field: 'platform', message: `${platform} is not configured` }] },
    });
  }
  return provider;
}

export function createAccountJob(deps: EngineDeps) {
  const { store, clock, policy, owner, logger } = deps;

  async function underLease(
    before: Connection,
    options: ConnectionRunOptions,
    dryRun: boolean,
  ): Promise<ConnectionOutcome> {
    const platform = before.platform as RefreshablePlatformName;
    const label = PLATFORM_LABEL[platform];
    const provider = providerOf(deps, platform);
    const now = clock.now();
    const secrets = await store.getConnectionSecrets(before.id);
    if (!secrets) throw new AppError('connection_not_found', `connection ${before.id} is not managed here`);
    const app = { appId: before.appId, appSecret: secrets.appSecret };
    const [page] = await store.listConnectionPages(before.id);
    const interval = Math.round(policy.checkIntervalMs * (0.9 + deps.random() * 0.2));
    const threshold = page?.renewalThresholdDays ?? policy.renewalThresholdDays;

    const outcome = (
      after: Connection,
      kind: ConnectionOutcome['outcome'],
      reason: string,
      message: string | null = null,
    ): ConnectionOutcome => ({ connectionId: before.id, before, after, outcome: kind, reason, message });

    /** Write the connection and its account together; the account's state follows from its facts. */
    const save = async (
      patch: ConnectionPatch,
      pagePatch: PagePatch,
      extra: { token?: string; events?: (p: ManagedPage) => NewEvent[] } = {},
    ): Promise<Connection> => {
      if (dryRun) return { ...before, ...patch };
      const after = await store.updateConnection(before.id, patch, {
        leaseOwner: owner,
        ...(extra.token !== undefined ? { sourceToken: extra.token } : {}),
      });
      if (page) {
        const next = { ...page, ...pagePatch, nextCheckAt: after.nextCheckAt };
        const s = deriveAccountState(next, now, policy);
        const withState = { ...next, state: s.state, stateReason: s.reason, stateMessage: s.message };
        const events: NewEvent[] = [...(extra.events?.(withState) ?? [])];
        if (page.state !== withState.state) {
          events.push(
            event(page, 'state_changed', s.reason, {
              stateFrom: page.state,
              stateTo: s.state,
              message: s.message,
            }),
          );
        }
        const { source: _s, sourceExtensionBlockedUntil: _b, ...rest } = pagePatch;
        const stored = await store.updatePage(
          page.pageId,
          {
            ...rest,
            nextCheckAt: after.nextCheckAt,
            state: s.state,
            stateReason: s.reason,
            stateMessage: s.message,
          },
          { events, ...(extra.token !== undefined ? { secrets: { postingToken: extra.token } } : {}) },
        );
        if (deps.onPageChanged) await deps.onPageChanged(page, stored);
        deps.events.emit('page_processed', {
          pageId: page.pageId,
          action: extra.token !== undefined ? 'renew' : 'none',
          reason: s.reason,
          outcome: stored.failureCount > 0 ? 'failed' : 'ok',
          stateBefore: page.state,
          stateAfter: stored.state,
        });
      }
      return after;
    };

    const expiresAt = before.source.expiresAt;
    // Expired, or killed by the platform: lost for good. No call is made for it again.
    if ((expiresAt !== null && now >= expiresAt) || !before.source.isValid) {
      const dead: TokenInfo = before.source.isValid
        ? {
            ...before.source,
            isValid: false,
            error: { code: 190, subcode: 463, message: platformHumanMessage(platform, 'expired') },
          }
        : before.source;
      const after = await save(
        { source: dead, nextCheckAt: now + interval, lastCheckedAt: before.lastCheckedAt },
        { posting: dead },
      );
      return outcome(after, 'checked', before.source.isValid ? 'expired' : 'source_invalid');
    }

    let info;
    try {
      info = await provider.inspect(secrets.sourceToken, app);
    } catch (err) {
      if (!(err instanceof GraphError) || dryRun) throw err;
      const failed = failure(before, page, err, now);
      const after = await save(failed.connection, failed.page);
      return outcome(after, 'failed', err.code, err.message);
    }
    // Instagram cannot tell the expiry on a look: the one from the last exchange or refresh stays.
    const source: TokenInfo = {
      ...info,
      expiresAt: provider.inspectKnowsExpiry && info.expiresAt !== null ? info.expiresAt : expiresAt,
    };
    const issuedAt = info.issuedAt ?? before.tokenIssuedAt ?? before.createdAt;
    const looked: ConnectionPatch = {
      source,
      lastCheckedAt: now,
      failureCount: 0,
      retryAt: null,
      lastError: null,
      tokenIssuedAt: issuedAt,
    };
    const lookedPage: PagePatch = {
      posting: source,
      lastCheckedAt: now,
      failureCount: 0,
      retryAt: null,
      lastError: null,
    };
    if (!source.isValid) {
      const after = await save({ ...looked, nextCheckAt: now + interval }, lookedPage);
      return outcome(after, 'checked', 'source_invalid');
    }

    const token = { expiresAt: source.expiresAt, issuedAt };
    const decision = refreshDue(token, now, threshold);
    const paused = page !== undefined && !page.autoRenew;
    // Even a person's "renew now" waits for the 24 hours (the platform would refuse): said, not failed.
    const tooYoung = !decision.due && decision.reason === 'too_young';
    const wanted =
      (options.extend === 'force' && !tooYoung) || (options.extend === 'auto' && !paused && decision.due);
    const scheduled = (t: { expiresAt: number | null; issuedAt: number }) => {
      const at = nextRefreshAt(t, threshold);
      return at !== null && at > now && at < now + interval ? at : now + interval;
    };
    if (!wanted || dryRun) {
      const after = await save({ ...looked, nextCheckAt: scheduled(token) }, lookedPage);
      return outcome(after, 'checked', wanted ? 'refresh_due' : decision.reason);
    }

    const reason = options.extend === 'force' ? 'forced' : 'threshold_reached';
    let refreshed: RefreshedToken;
    try {
      refreshed = await provider.extend({ token: secrets.sourceToken, info: source, issuedAt }, app);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      const failed = failure({ ...before, source }, page, err, now);
      const after = await save(
        { ...looked, ...failed.connection },
        { ...lookedPage, ...failed.page },
        {
          events: (p) => [
            event(p, 'renewal_failed', err.code, {
              message: err.message,
              details: { error_code: err.code, expires_at: iso(source.expiresAt) },
            }),
          ],
        },
      );
      deps.events.emit('renewal', {
        pageId: page?.pageId ?? before.id,
        outcome: 'failed',
        token: 'posting',
        reason: err.code,
      });
      return outcome(after, 'failed', err.code, err.message);
    }
    const message = `The ${label} token was refreshed; it expires at ${iso(refreshed.info.expiresAt)}.`;
    const after = await save(
      {
        ...looked,
        source: refreshed.info,
        tokenIssuedAt: refreshed.issuedAt,
        nextCheckAt: scheduled({ expiresAt: refreshed.info.expiresAt, issuedAt: refreshed.issuedAt }),
      },
      { ...lookedPage, posting: refreshed.info, lastRenewedAt: now, extensionBlockedUntil: null },
      {
        token: refreshed.token,
        events: (p) => [
          event(p, 'renewed', reason, {
            message,
            details: {
              previous_expires_at: iso(source.expiresAt),
              expires_at: iso(refreshed.info.expiresAt),
              token_changed: refreshed.token !== secrets.sourceToken,
              token_hash: refreshed.info.hash,
            },
          }),
        ],
      },
    );
    deps.events.emit('renewal', {
      pageId: page?.pageId ?? before.id,
      outcome: 'renewed',
      token: 'posting',
      reason,
    });
    logger.debug({ connectionId: before.id, platform }, 'account token refreshed');
    return outcome(after, 'source_renewed', reason, message);
  }

  /** A failed look or refresh, stored on the connection and its account. */
  function failure(
    c: Connection,
    page: ManagedPage | undefined,
    err: AppError,
    now: number,
  ): { connection: ConnectionPatch; page: PagePatch } {
    const g = err instanceof GraphError ? err : null;
    const lastError: LastError = {
      code: err.code,
      message: err.message,
      fbCode: g?.fbCode ?? null,
      fbSubcode: g?.fbSubcode ?? null,
      fbtraceId: g?.fbtraceId ?? null,
      at: now,
    };
    const failureCount = (page?.failureCount ?? c.failureCount) + 1;
    if (g?.kind === 'throttled') {
      const until = now + g.retryAfterMs;
      return {
        connection: { lastError, throttledUntil: until, nextCheckAt: until },
        page: { lastError },
      };
    }
    if (g?.kind === 'transient') {
      const retryAt = now + backoffMs(c.failureCount + 1, deps.random);
      return {
        connection: { lastError, failureCount: c.failureCount + 1, retryAt, nextCheckAt: retryAt },
        page: { lastError, failureCount },
      };
    }
    if (g?.kind === 'needs_reauth') {
      // The platform killed the token (a dead token on refresh, a checkpoint): a person must log in.
      const dead: TokenInfo = {
        ...c.source,
        isValid: false,
        error: { code: g.fbCode ?? 190, subcode: g.fbSubcode, message: g.humanMessage ?? g.message },
      };
      return {
        connection: { lastError, source: dead, nextCheckAt: now + policy.checkIntervalMs },
        page: { lastError, posting: dead },
      };
    }
    // Refused (refresh_refused, refresh_too_early, a bad request): keep the token, try again at the
    // next regular check; the account shows `failing` so the deadline alerts fire.
    return {
      connection: { lastError, nextCheckAt: now + policy.checkIntervalMs },
      page: { lastError, failureCount },
    };
  }

  const event = pageEvents(clock);

  return { underLease };
}

export type AccountJob = ReturnType<typeof createAccountJob>;

/**
 * The page job's work on an account row: the account is its connection's token, so the work is the
 * connection's (one dispatch in page-job.ts); this turns what it came to into a page outcome.
 */
export async function processAccountPage(
  deps: EngineDeps,
  connections: ConnectionLooker,
  before: ManagedPage,
  options: ProcessOptions,
): Promise<ProcessOutcome> {
  if (before.connectionId === null) {
    throw new AppError('internal_error', `account ${before.pageId} has no connection`);
  }
  const dryRun = options.dryRun === true;
  const look =
    options.connectionLook ??
    (await connections.run(before.connectionId, {
      extend: options.force === true ? 'force' : 'auto',
      dryRun,
      scheduled: options.mode === 'scheduled',
      ...(options.dueBy !== undefined ? { dueBy: options.dueBy } : {}),
    }));
  let after = (await deps.store.getPage(before.pageId)) ?? before;
  // Not due on its connection: the row follows the connection's schedule, so a round does not list it again.
  if (look.outcome === 'skipped' && !dryRun && after.nextCheckAt !== look.after.nextCheckAt) {
    after = await deps.store.updatePage(before.pageId, { nextCheckAt: look.after.nextCheckAt });
  }
  const renewed = look.outcome === 'source_renewed';
  return {
    pageId: before.pageId,
    before,
    after,
    decision: { action: renewed ? 'renew' : 'none', reason: look.reason },
    outcome: renewed ? 'renewed' : look.outcome === 'source_not_extendable' ? 'not_extendable' : look.outcome,
    tokenChanged: renewed,
    message: look.message ?? after.stateMessage,
  };
}
