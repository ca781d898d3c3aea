/**
 * Heal on demand: a posting app whose call came back with a token error (190) says so, and gets a
 * working token back in the same call — the same one when Facebook says it is fine, a re-minted
 * one when the keeper could heal it — or a clear "a person must reconnect" with the link.
 *
 * Rules that keep many workers of a posting app from turning one dead token into a storm:
 * - in-process, concurrent calls for one Page share one promise: one check, one heal;
 * - across instances, the Page's lease: a call that finds another instance working on the Page
 *   waits (polling the row on the injected timers) and then reuses what that instance found;
 * - a Page is checked on demand at most once per `windowMs` (10 s): a call inside the window
 *   answers from the stored result of the last check (`last_checked_at`, or the failure time of a
 *   check that failed), so it holds across instances and restarts, and calls Facebook not at all;
 * - while Facebook throttles the app, nothing is called: the answer is 429 with Retry-After.
 *
 * The check itself is the engine's (`processPage` in `check` mode): the same inspection, healing,
 * history and alerts as the scheduler's, so a heal is a `token_rotated` alert and a dead login a
 * `needs_reauth` alert at once. One `checked_on_demand` event records each check with the
 * reporter's error summary (never a token). Calls answered from the window record nothing, so a
 * posting app in a retry loop cannot flood the history.
 */
import type { EventEmitter } from 'node:events';
import { type Clock, SECOND, type Timers, toIso } from '../clock.js';
import { AppError, type ErrorCode } from '../errors.js';
import { scrubSecrets } from '../graph/redact.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/types.js';
import type { ManagedPage } from '../types.js';
import type { Engine, ProcessOutcome } from './engine.js';
import { safeError } from './util.js';
import type { KeeperEventMap, ReportedGraphError, TokenRefreshResult } from './types.js';

/** A Page is checked on demand at most once in this window. */
export const ON_DEMAND_WINDOW_MS = 10 * SECOND;
/** How often a call waiting for another instance's lease looks at the row again. */
export const LEASE_POLL_MS = 250;
/** How long a call waits for another instance before it answers `renewal_in_progress`. */
export const LEASE_WAIT_MS = 30 * SECOND;
/** Longest reporter message kept in history. */
const MAX_MESSAGE = 300;

// The shapes a posting app sees live with the rest of the public contract (types.ts).
export type { ReportedGraphError, TokenRefreshResult } from './types.js';

export interface OnDemandDeps {
  store: Store;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  engine: Pick<Engine, 'processPage' | 'appThrottledUntil' | 'busy'>;
  events: EventEmitter<KeeperEventMap>;
  reconnectUrl(pageId: string): string;
  /** Deliver queued alerts now, so a needs_reauth alert goes out within the reporter's call. */
  deliverAlerts(): Promise<void>;
  windowMs?: number;
  pollMs?: number;
  maxWaitMs?: number;
}

/** Reduce what a posting app sent to a summary fit for history: numbers, a short id, a scrubbed line. */
export function summariseReport(
  reported: ReportedGraphError | null | undefined,
  secrets: readonly string[] = [],
): Record<string, unknown> | null {
  if (!reported) return null;
  const text = (v: unknown, max: number) =>
    typeof v === 'string' && v.trim() !== ''
      ? scrubSecrets(v.replace(/\s+/g, ' ').trim(), secrets).slice(0, max)
      : null;
  const int = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) ? v : null);
  return {
    code: int(reported.code),
    error_subcode: int(reported.error_subcode),
    fbtrace_id: text(reported.fbtrace_id, 64),
    type: text(reported.type, 64),
    message: text(reported.message, MAX_MESSAGE),
  };
}

/** Accept the inner error object or Facebook's whole body `{ error: {...} }`; refuse anything else. */
export function parseReport(value: unknown): ReportedGraphError | null {
  if (value === undefined || value === null) return null;
  const inner =
    typeof value === 'object' && 'error' in value && typeof value.error === 'object' ? value.error : value;
  if (typeof inner !== 'object' || inner === null || Array.isArray(inner)) {
    throw invalid('after', 'must be the Graph error object ({code, error_subcode, fbtrace_id, message})');
  }
  const r = inner as Record<string, unknown>;
  const out: ReportedGraphError = {};
  for (const k of ['code', 'error_subcode'] as const) {
    const v = r[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(k, 'must be an integer');
    out[k] = v;
  }
  for (const k of ['fbtrace_id', 'message', 'type'] as const) {
    const v = r[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') throw invalid(k, 'must be a string');
    out[k] = v;
  }
  return out;
}

function invalid(field: string, message: string): AppError {
  return new AppError('validation_failed', `${field} ${message}`, {
    details: { fields: [{ field, message }] },
  });
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

export function createOnDemand(deps: OnDemandDeps) {
  const { store, clock, timers, logger, engine } = deps;
  const windowMs = deps.windowMs ?? ON_DEMAND_WINDOW_MS;
  const pollMs = deps.pollMs ?? LEASE_POLL_MS;
  const maxWaitMs = deps.maxWaitMs ?? LEASE_WAIT_MS;
  /** One check per page at a time in this process; later callers join it. */
  const inFlight = new Map<string, { promise: Promise<TokenRefreshResult>; callers: number }>();

  /** When Facebook calls for this page's app may resume, or null when they may be made now. */
  function throttledUntil(page: ManagedPage, now: number): number | null {
    const app = engine.appThrottledUntil.get(page.appId) ?? 0;
    const row = page.lastError?.code === 'graph_rate_limited' && page.retryAt !== null ? page.retryAt : 0;
    const until = Math.max(app, row);
    return until > now ? until : null;
  }

  /** The last time Facebook was asked about this page (a check, or a check that failed). */
  function lastAsked(page: ManagedPage): number | null {
    const times = [page.lastCheckedAt, page.lastError?.at ?? null].filter((t): t is number => t !== null);
    return times.length === 0 ? null : Math.max(...times);
  }

  function needsReauth(page: ManagedPage): AppError {
    const paused = page.autoRenew
      ? ''
      : ' Automatic renewal is paused for this Page, so it was not re-minted.';
    return new AppError(
      'needs_reauth',
      `${page.stateMessage ?? 'The Page needs a person to reconnect it.'}${paused}`,
      {
        details: {
          page_id: page.pageId,
          state: page.state,
          reason: page.stateReason,
          reconnect_url: deps.reconnectUrl(page.pageId),
        },
      },
    );
  }

  function throttled(page: ManagedPage, until: number, now: number): AppError {
    return new AppError(
      'graph_rate_limited',
      `Facebook is throttling this app, so the token was not checked; try again after ${toIso(until)}. Keep using the token you have until then.`,
      { details: { page_id: page.pageId, state: page.state, retry_after_seconds: seconds(until - now) } },
    );
  }

  /** The answer from the stored row (after a check, or from the window). Throws when no token works. */
  async function answer(
    page: ManagedPage,
    checkedNow: boolean,
    o?: ProcessOutcome,
  ): Promise<TokenRefreshResult> {
    const now = clock.now();
    if (page.state === 'needs_reauth' || page.state === 'expired') throw needsReauth(page);
    const last = lastAsked(page) ?? now;
    if (page.lastError && (o === undefined || o.outcome === 'failed')) {
      // The last check reached no verdict (Facebook failing, a refused mint): say why, and when to retry.
      const until = throttledUntil(page, now);
      if (until !== null) throw throttled(page, until, now);
      const e = page.lastError;
      const retryAt = Math.max(last + windowMs, page.retryAt ?? 0);
      throw new AppError(e.code as ErrorCode, `The token could not be checked: ${e.message}`, {
        // A transient failure is "unavailable, retry later"; anything else keeps its own status.
        ...(page.failureCount > 0 ? { status: 503 } : {}),
        details: {
          page_id: page.pageId,
          state: page.state,
          reason: page.stateReason,
          fb_code: e.fbCode,
          fb_subcode: e.fbSubcode,
          fbtrace_id: e.fbtraceId,
          retry_after_seconds: seconds(retryAt - now),
        },
      });
    }
    const secrets = await store.getSecrets(page.pageId);
    if (!secrets) throw new AppError('page_not_found', `page ${page.pageId} is not managed here`);
    // Did the check re-mint the token? From the window we only have the row: a heal or renewal
    // sets lastRenewedAt to the same time as lastCheckedAt.
    const reminted = o
      ? o.tokenChanged
      : page.lastRenewedAt !== null &&
        page.lastCheckedAt !== null &&
        page.lastRenewedAt >= page.lastCheckedAt;
    let verdict: TokenRefreshResult['verdict'] = 'token_valid';
    if (reminted) {
      // A check renews only a token that expires soon; a re-minted token that never expires was healed.
      const healed = o ? o.outcome === 'healed' : page.posting.expiresAt === null;
      verdict = healed ? 'healed' : 'renewed';
    }
    const when = toIso(page.lastCheckedAt);
    const message =
      verdict === 'token_valid'
        ? `Facebook says this token is valid (checked at ${when}): the error your call got was not caused by the token. Look at its code and message (a permission, a rate limit, a bad request).`
        : verdict === 'healed'
          ? 'The token was no longer valid; a new one was minted from the stored login. Use this token from now on.'
          : 'The token was renewed. Use this token from now on.';
    return {
      success: true,
      page_id: page.pageId,
      access_token: secrets.postingToken,
      verdict,
      token_changed: reminted,
      checked_now: checkedNow,
      checked_at: when,
      recheck_after: toIso(last + windowMs) ?? '',
      message,
      state: page.state,
      token_type: page.posting.type,
      expires_at: toIso(page.posting.expiresAt),
    };
  }

  async function mustGet(pageId: string): Promise<ManagedPage> {
    const page = await store.getPage(pageId);
    if (!page) {
      throw new AppError('page_not_found', `page ${pageId} is not managed here`, {
        details: { page_id: pageId },
      });
    }
    return page;
  }

  /** Wait `pollMs` on the injected timers, keeping a real process alive meanwhile (as drain does). */
  async function pause(): Promise<void> {
    const hold = setInterval(() => undefined, 60_000);
    try {
      await new Promise<void>((resolve) => timers.setTimeout(resolve, pollMs));
    } finally {
      clearInterval(hold);
    }
  }

  async function record(
    before: ManagedPage,
    after: ManagedPage,
    reported: ReportedGraphError | null,
    reason: string,
    callers: number,
    extra: Record<string, unknown>,
  ) {
    const secrets = await store.getSecrets(before.pageId).catch(() => null);
    const known = secrets ? [secrets.postingToken, secrets.appSecret, secrets.sourceToken ?? ''] : [];
    await store
      .addEvents([
        {
          pageId: before.pageId,
          at: clock.now(),
          type: 'checked_on_demand',
          reason,
          stateFrom: before.state,
          stateTo: after.state,
          message: 'A posting app reported a failed call; the token was checked at once.',
          details: {
            reported: summariseReport(
              reported,
              known.filter((k) => k !== ''),
            ),
            coalesced_calls: callers,
            ...extra,
          },
        },
      ])
      .catch((err: unknown) =>
        logger.warn({ pageId: before.pageId, err: safeError(err) }, 'could not record checked_on_demand'),
      );
  }

  async function run(pageId: string, reported: ReportedGraphError | null, entry: { callers: number }) {
    const deadline = clock.now() + maxWaitMs;
    for (;;) {
      // This process's scheduler may be on the page: let it finish, then judge its result.
      await engine.busy(pageId)?.catch(() => undefined);
      const page = await mustGet(pageId);
      const now = clock.now();
      const until = throttledUntil(page, now);
      if (until !== null) throw throttled(page, until, now);
      const last = lastAsked(page);
      if (last !== null && now - last < windowMs) return answer(page, false);
      const leased = page.leaseOwner !== null && (page.leaseExpiresAt ?? 0) > now;
      if (!leased) {
        let queued = 0;
        const count = (e: { pageId: string }) => {
          if (e.pageId === pageId) queued++;
        };
        deps.events.on('alert_queued', count);
        let o: ProcessOutcome | undefined;
        try {
          o = await engine.processPage(pageId, { mode: 'check' });
        } catch (err) {
          // Another instance claimed it between our read and our claim: wait for it (below).
          if (!(err instanceof AppError && err.code === 'renewal_in_progress')) {
            const code = err instanceof AppError ? err.code : 'internal_error';
            await record(page, page, reported, code, entry.callers, {});
            throw err;
          }
        } finally {
          deps.events.off('alert_queued', count);
        }
        if (o !== undefined) {
          const reason = o.outcome === 'failed' ? (o.after.lastError?.code ?? 'failed') : o.outcome;
          await record(o.before, o.after, reported, reason, entry.callers, {
            token_changed: o.tokenChanged,
            action: o.decision.action,
            decision_reason: o.decision.reason,
          });
          if (queued > 0) {
            // Within this call: the person hears of a dead login now, not at the dispatcher's next pass.
            await deps
              .deliverAlerts()
              .catch((err: unknown) =>
                logger.warn(
                  { pageId, err: safeError(err) },
                  'alert delivery after an on-demand check failed',
                ),
              );
          }
          return answer(o.after, true, o);
        }
      }
      if (clock.now() >= deadline) {
        throw new AppError(
          'renewal_in_progress',
          `page ${pageId} is being worked on by another instance; try again shortly`,
          { details: { page_id: pageId, retry_after_seconds: 5 } },
        );
      }
      await pause();
    }
  }

  /** Check the page now (or reuse a check under 10 s old) and answer with a token that works. */
  function refresh(pageId: string, reported: ReportedGraphError | null = null): Promise<TokenRefreshResult> {
    const running = inFlight.get(pageId);
    if (running) {
      running.callers++;
      return running.promise;
    }
    const entry = { callers: 1, promise: undefined as unknown as Promise<TokenRefreshResult> };
    entry.promise = run(pageId, reported, entry).finally(() => {
      if (inFlight.get(pageId) === entry) inFlight.delete(pageId);
    });
    inFlight.set(pageId, entry);
    return entry.promise;
  }

  return { refresh };
}

export type OnDemand = ReturnType<typeof createOnDemand>;
