/**
 * Snapshots of what posting apps poll: `GET /api/token/status`, `GET /api/pages/{id}/token` and
 * their `/api/accounts` twins. Assembling a status (Page row, 20 history events, the view) was
 * most of the status route's cost, and the token's row read most of what the token route spends
 * beyond a bare route (docs/BENCHMARKS.md, API).
 *
 * A snapshot is served only while no write at all has gone through this store since it was read
 * (`Store.writes`: a check, a renewal, a rotation, a setup, a pause, a new event, anything), so
 * nothing this process changes is ever answered from an older snapshot; and for at most
 * SNAPSHOT_MS of the clock, which bounds how long a change made by *another* process (a second
 * instance, the CLI) can go unseen. Errors and absent values are never kept.
 *
 * A kept token is in this process's memory for that second, as an opened token already is in the
 * store's (Store.getPostingToken, 10 s at most); it is never written anywhere.
 */
import type { Clock } from '../clock.js';
import type { Store } from '../store/types.js';

export const SNAPSHOT_MS = 1000;
/** Past this many kept answers the lot is dropped (a sweep of status questions over every Page). */
const MAX_KEPT = 1000;

export type Snapshots = <T>(key: string, read: () => Promise<T>) => Promise<T>;

export function createSnapshots(store: Pick<Store, 'writes'>, clock: Clock): Snapshots {
  const kept = new Map<string, { writes: number; at: number; value: unknown }>();
  return async <T>(key: string, read: () => Promise<T>): Promise<T> => {
    // Counted before the read: a write that lands while it runs makes the next call read again.
    const writes = store.writes?.();
    const now = clock.now();
    const k = kept.get(key);
    if (k && writes !== undefined && k.writes === writes && now >= k.at && now - k.at < SNAPSHOT_MS) {
      return k.value as T;
    }
    const value = await read();
    if (writes !== undefined && value !== null && value !== undefined) {
      if (kept.size >= MAX_KEPT) kept.clear();
      kept.set(key, { writes, at: now, value });
    }
    return value;
  };
}
