/**
 * Small helpers the engine's parts share (round.ts, the jobs, keeper.ts, the scheduler). They
 * import nothing from the engine, so the engine's files depend on this one and never on each
 * other in a circle.
 */
import { AppError } from '../errors.js';
import { GraphError } from '../graph/errors.js';
import type { NewPage } from '../store/types.js';
import type { Clock } from '../clock.js';
import type { ManagedPage, NewEvent } from '../types.js';

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

/** A history event on a Page, stamped now: what a job records beside a change (the rest defaults to empty). */
export function pageEvents(clock: Clock) {
  return (
    page: ManagedPage,
    type: NewEvent['type'],
    reason: string | null,
    extra: Partial<NewEvent> = {},
  ): NewEvent => ({
    pageId: page.pageId,
    at: clock.now(),
    type,
    reason,
    stateFrom: null,
    stateTo: null,
    message: null,
    details: {},
    ...extra,
  });
}

/**
 * Leases this process took but could not give back, because the database refused the write (a
 * full disk, a cut connection). The due listings skip a leased row, so without this the work
 * would wait out the lease's TTL after the database came back. `retry` (each round, first) gives
 * them back, except those this process is working on again; it stops at the first refusal.
 */
export function leftLeases(release: (id: string) => Promise<unknown>, busy: (id: string) => boolean) {
  const ids = new Set<string>();
  return {
    add: (id: string) => void ids.add(id),
    retry: async (): Promise<void> => {
      for (const id of [...ids]) {
        if (busy(id)) continue;
        try {
          await release(id);
        } catch {
          return; // still refused: the next round tries again
        }
        ids.delete(id);
      }
    },
  };
}
