/**
 * The work on one connection (one login's source token), under the connection's lease: look at
 * the source token once, extend it when it needs a longer life, and mark its Pages that need a new
 * token minted from it. Its Pages' own work is page-job.ts; a round runs every due connection
 * before the Pages (round.ts), so N Pages of one login cost one look at the source, not N.
 *
 * The lease (a conditional UPDATE on the connection row, like a page's) means two instances
 * never exchange one source token twice. Backoff, throttling and "extending does not work" are
 * stored on the row, so every instance and every restart sees them.
 */
import { HOUR, toIso as iso } from '../clock.js';
import { AppError } from '../errors.js';
import { GraphError } from '../graph/errors.js';
import type { AppCredentials } from '../graph/client.js';
import type { ConnectionPatch, ConnectionSecrets } from '../store/types.js';
import type { Connection, LastError, ManagedPage, NewEvent } from '../types.js';
import { backoffMs, movedForward, reauthReason, withinThreshold } from './decide.js';
import { createAccountJob } from './account-job.js';
import { isRefreshablePlatform } from './account-decide.js';
import type { ConnectionRunOptions, EngineDeps } from './deps.js';
import { leftLeases, pageEvents, safeError } from './util.js';
import { type ConnectionOutcome, renewalMessage } from './outcome.js';

export type { ConnectionRunOptions } from './deps.js';

/** How soon an overdue revoke is tried again (a Page not yet re-minted, a failed call). */
const REVOKE_RETRY_MS = HOUR;

export function createConnectionJob(deps: EngineDeps) {
  const { store, clock, policy, owner, logger, provider } = deps;
  const pageEvent = pageEvents(clock);

  /**
   * appId → time before which no call is made for that app: Facebook throttles per app, so a
   * throttle met by any login's look or any Page's check holds back every other (the page job
   * shares this map).
   */
  const appThrottledUntil = new Map<string, number>();
  /** One piece of work per connection per process (the lease is re-entrant for its owner). */
  const inFlight = new Map<string, Promise<ConnectionOutcome>>();
  const unreleased = leftLeases(
    (connectionId) => store.releaseConnection(connectionId, owner),
    (connectionId) => inFlight.has(connectionId),
  );
  /**
   * Re-mints one Page from the connection's current source token (the page job, wired by
   * engine.ts; this file cannot import it without a cycle). Used after a rotation and before a
   * retired token is revoked.
   */
  let remintPage: ((pageId: string) => Promise<void>) | null = null;
  /** Instagram-Login and Threads connections: refreshed, one account each (account-job.ts). */
  const accounts = createAccountJob(deps);

  /** `listed`: the row as a listing just read it (a round's), so that it is not read again. */
  async function run(
    connectionId: string,
    options: ConnectionRunOptions,
    listed?: Connection,
  ): Promise<ConnectionOutcome> {
    const running = inFlight.get(connectionId);
    // Someone in this process is looking at it right now: that look is this one's too.
    if (running) {
      const r = await running;
      return options.scheduled ? { ...r, outcome: 'skipped', reason: 'in_flight' } : r;
    }
    const p = runOnce(connectionId, options, listed);
    inFlight.set(connectionId, p);
    try {
      return await p;
    } finally {
      if (inFlight.get(connectionId) === p) inFlight.delete(connectionId);
    }
  }

  async function runOnce(
    connectionId: string,
    options: ConnectionRunOptions,
    given: Connection | undefined,
  ): Promise<ConnectionOutcome> {
    const listed = given ?? (await store.getConnection(connectionId));
    if (!listed) {
      throw new AppError('connection_not_found', `connection ${connectionId} is not managed here`, {
        details: { connection_id: connectionId },
      });
    }
    const now = clock.now();
    const skip = (c: Connection, reason: string): ConnectionOutcome => ({
      connectionId,
      before: c,
      after: c,
      outcome: 'skipped',
      reason,
      message: null,
    });
    const gate = (c: Connection): string | null => {
      if (c.throttledUntil !== null && c.throttledUntil > now) return 'throttled';
      if ((appThrottledUntil.get(c.appId) ?? 0) > now) return 'throttled';
      if (!options.scheduled) return null;
      if (c.retryAt !== null && c.retryAt > now) return 'backoff';
      if (c.nextCheckAt !== null && c.nextCheckAt > (options.dueBy ?? now)) return 'not_due';
      return null;
    };
    const closed = gate(listed);
    if (closed) return skip(listed, closed);
    const dryRun = options.dryRun === true;
    // Leased by another instance: its look is as good as ours; a page's work goes on with what is stored.
    if (!dryRun && !(await store.claimConnection(connectionId, owner, now, deps.leaseTtlMs))) {
      return skip(listed, 'leased');
    }
    // The look's last write gives the lease back with it (one statement fewer); else the finally does.
    const lease = { held: !dryRun };
    try {
      // Re-read under the lease, with the secrets in the same read: another instance may have
      // looked at it since the listing.
      const found = await store.getConnectionWithSecrets(connectionId);
      if (!found) {
        throw new AppError('connection_not_found', `connection ${connectionId} is not managed here`, {
          details: { connection_id: connectionId },
        });
      }
      const again = gate(found.connection);
      if (again) return skip(found.connection, again);
      return await underLease(found.connection, found.secrets, options, dryRun, lease);
    } finally {
      if (lease.held) {
        await store.releaseConnection(connectionId, owner).catch((e: unknown) => {
          unreleased.add(connectionId);
          logger.warn({ err: e, connectionId }, 'connection lease release failed');
        });
      }
    }
  }

  async function underLease(
    before: Connection,
    secrets: ConnectionSecrets,
    options: ConnectionRunOptions,
    dryRun: boolean,
    lease: { held: boolean },
  ): Promise<ConnectionOutcome> {
    if (isRefreshablePlatform(before.platform)) return accounts.underLease(before, options, dryRun);
    const now = clock.now();
    const app = { appId: before.appId, appSecret: secrets.appSecret };
    // The login's Pages, read only when this look needs them (a renewal's events, a rotation, a
    // death): a routine look is the claim, one read and one write.
    let listing: Promise<ManagedPage[]> | null = null;
    const loginPages = () => (listing ??= store.listConnectionPages(before.id));
    const onPages = async (type: NewEvent['type'], reason: string, extra: Partial<NewEvent>) =>
      (await loginPages()).map((p) => pageEvent(p, type, reason, { at: now, ...extra }));
    const save = async (
      patch: ConnectionPatch,
      extra: { sourceToken?: string; retiredToken?: string | null; events?: NewEvent[]; last?: boolean } = {},
    ): Promise<Connection> => {
      if (dryRun) return { ...before, ...patch };
      const { last, ...rest } = extra;
      const after = await store.updateConnection(before.id, patch, {
        leaseOwner: owner,
        ...rest,
        ...(last === true ? { release: true } : {}),
      });
      if (last === true) lease.held = false;
      if (deps.onConnectionChanged) await deps.onConnectionChanged(before, after);
      return after;
    };
    // Step 3 of a rotation (refresh, deploy, revoke), when its grace period is over.
    const revokeAt = dryRun ? before.retiredRevokeAt : await revokeRetired(before, secrets, loginPages, save);
    const scheduleNext = revokeAt === null ? now + policy.checkIntervalMs : nextLook(revokeAt, now);

    let info;
    try {
      info = await provider.inspect(secrets.sourceToken, app);
    } catch (err) {
      if (!(err instanceof GraphError) || dryRun) throw err;
      const after = await save(failurePatch(before, err, now, false), { last: true });
      return {
        connectionId: before.id,
        before,
        after,
        outcome: 'failed',
        reason: err.code,
        message: err.message,
      };
    }
    const looked: ConnectionPatch = {
      source: info,
      lastCheckedAt: now,
      nextCheckAt: scheduleNext,
      failureCount: 0,
      retryAt: null,
      lastError: null,
    };
    const expiresAt = info.expiresAt;
    const wantsExtension =
      options.extend !== 'never' &&
      info.isValid &&
      expiresAt !== null &&
      (options.extend === 'force' ||
        (before.extensionBlockedUntil === null &&
          withinThreshold(expiresAt, now, policy.renewalThresholdDays)));
    if (!wantsExtension || dryRun) {
      const after = await save(looked, { last: true });
      if (!info.isValid && before.source?.isValid && !dryRun) {
        // The login just died (a password change, a logout…): its Pages are due now, so the next
        // round, within a minute in `serve`, shows each of them as it is instead of "healthy"
        // until its own next check, hours later. One write per Page, once per death.
        for (const page of await loginPages()) await store.updatePage(page.pageId, { nextCheckAt: now });
      }
      return {
        connectionId: before.id,
        before,
        after,
        outcome: 'checked',
        reason: wantsExtension ? 'source_expires_soon' : info.isValid ? 'fresh' : 'source_invalid',
        message: null,
      };
    }
    const reason = options.extend === 'force' ? 'forced' : 'source_expires_soon';
    try {
      const extended = await provider.extend({ token: secrets.sourceToken, info }, app);
      if (extended && extended.info.isValid && movedForward(expiresAt, extended.info.expiresAt)) {
        const message = renewalMessage('source_renewed', {
          expiresAt: null,
          sourceExpiresAt: extended.info.expiresAt,
        });
        // A refreshed system-user token is a rotation (docs/FACEBOOK.md#rotating-an-expiring-system-user-token):
        // the old token keeps working, every Page is re-minted from the new one (the "deploy"),
        // and the old one is revoked only after the grace period, when posting apps have picked
        // up the new Page tokens (README, "Configuration": SOURCE_REVOKE_GRACE_HOURS).
        const graceMs = deps.sourceRevokeGraceMs ?? null;
        const rotation = graceMs !== null && before.source.type === 'SYSTEM_USER' && !dryRun;
        if (rotation && secrets.retiredToken !== null) {
          // Rotated again before the last grace ran out: the oldest token goes now, so no retired
          // token is ever forgotten unrevoked, but only once no Page holds a token minted from it
          // (revoking kills those); until then the refresh waits, the current token still works.
          const stillOnOldest = await pagesBehind(before);
          if (stillOnOldest.length > 0) {
            logger.warn(
              { connectionId: before.id, pages: stillOnOldest.map((p) => p.pageId) },
              'source refresh deferred: some Pages still hold a token minted from the token it would revoke',
            );
            const after = await save(looked, { last: true });
            return {
              connectionId: before.id,
              before,
              after,
              outcome: 'checked',
              reason: 'rotation_pending',
              message: null,
            };
          }
          await revokeNow(before, secrets.retiredToken, secrets.sourceToken, app);
        }
        const retireUntil = rotation ? now + graceMs : null;
        const after = await save(
          {
            ...looked,
            source: extended.info,
            extensionBlockedUntil: null,
            retiredRevokeAt: retireUntil,
            ...(retireUntil === null ? {} : { nextCheckAt: Math.min(scheduleNext, retireUntil) }),
          },
          {
            sourceToken: extended.token,
            retiredToken: rotation ? secrets.sourceToken : null,
            events: await onPages('renewed', reason, {
              message,
              details: {
                token: 'source',
                connection_id: before.id,
                source_expires_at: iso(extended.info.expiresAt),
                previous_source_expires_at: iso(expiresAt),
                ...(retireUntil === null ? {} : { previous_source_revoke_at: iso(retireUntil) }),
              },
            }),
          },
        );
        if (rotation && retireUntil !== null) {
          // "Minted before the rotation" must mean "maybe from the old token": a Page's work that
          // read the old token before this save committed started (its lastRenewedAt) before now,
          // but possibly after this look began. So the rotation's time is taken once the new token
          // is stored, and the revoke time with it.
          const storedAt = clock.now();
          if (storedAt + graceMs !== retireUntil) {
            await store.updateConnection(
              before.id,
              { retiredRevokeAt: storedAt + graceMs },
              { leaseOwner: owner },
            );
          }
        }
        const pages = await loginPages();
        if (rotation && options.pagesFollow !== true) {
          // The "deploy": every Page gets a token minted from the new source (token_rotated).
          await remintAll(pages, before.id);
        } else if (rotation) {
          for (const page of pages) await store.updatePage(page.pageId, { nextCheckAt: now });
        } else if (!dryRun) {
          // Page tokens minted from the old token expire with it: their next check re-mints them.
          for (const page of pages) {
            if (page.posting.expiresAt !== null) await store.updatePage(page.pageId, { nextCheckAt: now });
          }
        }
        deps.events.emit('renewal', {
          pageId: pages[0]?.pageId ?? before.id,
          outcome: 'renewed',
          token: 'source',
          reason,
        });
        return { connectionId: before.id, before, after, outcome: 'source_renewed', reason, message };
      }
      // docs/FACEBOOK.md#re-exchanging-does-not-extend: keep the token we have, remember that this
      // path does not extend it, and stop re-trying until a person gives a new one.
      const message = renewalMessage('source_not_extendable', {
        expiresAt: null,
        sourceExpiresAt: expiresAt,
      });
      const after = await save(
        { ...looked, extensionBlockedUntil: expiresAt },
        {
          last: true,
          events: await onPages('source_not_extendable', 'not_extendable', {
            message,
            details: { connection_id: before.id, source_expires_at: iso(expiresAt) },
          }),
        },
      );
      deps.events.emit('renewal', {
        pageId: (await loginPages())[0]?.pageId ?? before.id,
        outcome: 'not_extendable',
        token: 'source',
        reason,
      });
      return { connectionId: before.id, before, after, outcome: 'source_not_extendable', reason, message };
    } catch (err) {
      if (!(err instanceof GraphError)) throw err;
      const after = await save(
        { ...looked, ...failurePatch({ ...before, source: info }, err, now, true) },
        { last: true },
      );
      return {
        connectionId: before.id,
        before,
        after,
        outcome: 'failed',
        reason: err.code,
        message: err.message,
      };
    }
  }

  async function remintAll(pages: readonly ManagedPage[], connectionId: string): Promise<void> {
    for (const page of pages) {
      await remintPage?.(page.pageId).catch((err: unknown) =>
        // That Page keeps its old token (still valid during the grace); the revoke step re-mints it first.
        logger.warn({ connectionId, pageId: page.pageId, err: safeError(err) }, 'page re-mint failed'),
      );
    }
  }

  /** When the rotation happened (the grace is the configured one; a changed setting at worst re-mints a Page once more). */
  function rotatedAtOf(revokeAt: number): number {
    return revokeAt - (deps.sourceRevokeGraceMs ?? 0);
  }

  /** The Pages whose posting token was minted before the rotation, from the retired token. */
  function onRetiredToken(list: readonly ManagedPage[], rotatedAt: number): ManagedPage[] {
    return list.filter((p) => p.lastRenewedAt === null || p.lastRenewedAt < rotatedAt);
  }

  async function pagesBehind(c: Connection): Promise<ManagedPage[]> {
    if (c.retiredRevokeAt === null) return [];
    return onRetiredToken(await store.listConnectionPages(c.id), rotatedAtOf(c.retiredRevokeAt));
  }

  async function revokeNow(c: Connection, retired: string, caller: string, app: AppCredentials) {
    if (!provider.revokeSource) return;
    try {
      await provider.revokeSource(retired, caller, app);
    } catch (err) {
      // Refused as a dead token: if it is the retired one (revoked before a crash, or expired),
      // nothing is left to revoke; if the token still works, the refusal was about something else.
      if (!(err instanceof GraphError) || err.kind !== 'needs_reauth') throw err;
      if ((await provider.inspect(retired, app)).isValid) throw err;
      logger.info({ connectionId: c.id, code: err.code }, 'retired source token was already invalid');
    }
  }

  /**
   * Revoke the retired source token when its time has come, but only once every Page holds a token
   * minted after the rotation (a Page that missed the re-mint, by a crash or a failed call, is
   * re-minted first: revoking kills the Page tokens minted from the old token). Returns when the
   * retired token is (still) due, or null when none is waiting.
   */
  async function revokeRetired(
    c: Connection,
    secrets: ConnectionSecrets,
    loginPages: () => Promise<ManagedPage[]>,
    save: (patch: ConnectionPatch, extra: { retiredToken: null; events: NewEvent[] }) => Promise<Connection>,
  ): Promise<number | null> {
    const due = c.retiredRevokeAt;
    const now = clock.now();
    if (due === null || secrets.retiredToken === null) return null;
    const pages = await loginPages();
    const rotatedAt = rotatedAtOf(due);
    const behind = (list: readonly ManagedPage[]) => onRetiredToken(list, rotatedAt);
    // A Page that missed the re-mint (another instance held it, a call failed, a crash) gets its
    // new token at the next look, so its posting apps still have the rest of the grace.
    if (behind(pages).length > 0) {
      await remintAll(behind(pages), c.id);
      const still = behind(await store.listConnectionPages(c.id));
      if (still.length > 0) {
        if (due <= now) {
          logger.warn(
            { connectionId: c.id, pages: still.map((p) => p.pageId) },
            'retired source token kept: some Pages still hold a token minted from it',
          );
        }
        // Try again within the hour (nextLook), and never revoke before they have it.
        return due > now ? Math.min(due, now + REVOKE_RETRY_MS) : now;
      }
    }
    if (due > now) return due;
    const app = { appId: c.appId, appSecret: secrets.appSecret };
    try {
      await revokeNow(c, secrets.retiredToken, secrets.sourceToken, app);
    } catch (err) {
      if (!(err instanceof GraphError)) throw err;
      logger.warn({ connectionId: c.id, err: safeError(err) }, 'revoking the retired source token failed');
      return now;
    }
    await save(
      { retiredRevokeAt: null },
      {
        retiredToken: null,
        events: pages.map((p) => ({
          pageId: p.pageId,
          at: now,
          type: 'source_revoked',
          reason: 'grace_period_over',
          stateFrom: null,
          stateTo: null,
          message:
            'The replaced source token was revoked: every Page now posts with a token minted from its replacement.',
          details: { connection_id: c.id, rotated_at: iso(rotatedAt) },
        })),
      },
    );
    logger.info({ connectionId: c.id }, 'retired source token revoked');
    return null;
  }

  /** The next look while a retired token waits: at its revoke time, or in a while when it is overdue. */
  function nextLook(revokeAt: number, now: number): number {
    const at = revokeAt > now ? revokeAt : now + REVOKE_RETRY_MS;
    return Math.min(now + policy.checkIntervalMs, at);
  }

  /** A failed call, stored: throttling for every instance, backoff, or a login that is gone. */
  function failurePatch(c: Connection, err: GraphError, now: number, extending: boolean): ConnectionPatch {
    const lastError: LastError = {
      code: err.code,
      message: err.message,
      fbCode: err.fbCode,
      fbSubcode: err.fbSubcode,
      fbtraceId: err.fbtraceId,
      at: now,
    };
    if (err.kind === 'throttled') {
      const until = now + err.retryAfterMs;
      appThrottledUntil.set(c.appId, Math.max(until, appThrottledUntil.get(c.appId) ?? 0));
      return { lastError, throttledUntil: until, nextCheckAt: Math.max(until, c.nextCheckAt ?? 0) };
    }
    if (err.kind === 'transient') {
      const failureCount = c.failureCount + 1;
      const retryAt = now + backoffMs(failureCount, deps.random);
      return { lastError, failureCount, retryAt, nextCheckAt: retryAt };
    }
    if (err.kind === 'needs_reauth' && extending) {
      // The exchange refused the source token: the login is gone until a person reconnects.
      const r = reauthReason(err.fbSubcode);
      return {
        lastError,
        source: {
          ...c.source,
          isValid: false,
          error: { code: err.fbCode ?? 190, subcode: err.fbSubcode, message: r.message },
        },
      };
    }
    // Permanent for this attempt: do not hammer Facebook; the next regular look tries again.
    return { lastError, extensionBlockedUntil: extending ? c.source.expiresAt : c.extensionBlockedUntil };
  }

  return {
    run,
    appThrottledUntil,
    /** Gives back the leases a refused write left held (util.ts leftLeases); round.ts, each round. */
    releaseLeftLeases: unreleased.retry,
    /** engine.ts: how a Page is re-minted from its connection's source token. */
    useRemint(fn: (pageId: string) => Promise<void>) {
      remintPage = fn;
    },
  };
}

export type ConnectionJob = ReturnType<typeof createConnectionJob>;
