/**
 * Batching of Graph calls (GRAPH_BATCH=auto): calls of one kind for the same app are sent as one
 * Graph batch request, at most 50 at a time
 * (https://developers.facebook.com/docs/graph-api/batch-requests). A batch saves round trips, not
 * budget: "each call within the batch is counted separately".
 *
 * When a batch goes (event-driven, no timer): a call made while no request of its kind and app is
 * in flight goes after the current turn of the event loop, with every call made in that turn; a
 * call made while one is in flight waits for it to come back, and then goes with every call that
 * came meanwhile — unless 50 are waiting, which go at once as a full batch. So a batch holds what
 * arrives during one round trip, and a call waits at most one round trip more than alone. With
 * `maxInFlight` (CHECK_CONCURRENCY), no more than that many HTTP requests of the queues sharing
 * the slots are in flight at once, batches and single calls alike, however many callers wait.
 *
 * Whether `debug_token` is accepted inside a batch is not documented by Meta, so a refusal is
 * expected: an item that fails in the batch
 * as an invalid request is made again as a single call, and when the single call works the call
 * type is marked refused and goes as single calls from then on. Other failures (throttled,
 * transient, a dead token) are the item's answer, as they would have been alone. The queue knows nothing of HTTP: `sendBatch` and
 * `sendSingle` do the calls.
 */

/** "up to 50 requests" per batch request. */
export const MAX_BATCH_ITEMS = 50;

/** One item's outcome inside a batch answer. */
export type ItemResult<T> = { ok: true; value: T } | { ok: false; error: unknown };

export interface BatchQueueOptions<I, T> {
  /** Send these items (same key, 1..50) as one batch; one result per item, in order. Throws for the whole batch. */
  sendBatch(key: string, items: I[]): Promise<(ItemResult<T> | undefined)[]>;
  /** The same call, alone. */
  sendSingle(item: I): Promise<T>;
  /**
   * Errors that may mean "this call is not accepted in a batch" (an invalid request): the call is
   * made again alone. Any other error (throttled, transient, a dead token) is the call's answer, as
   * it would have been alone.
   */
  isRefusal(error: unknown): boolean;
  /** When to send what was queued (default: setImmediate, i.e. after the current turn's I/O callbacks). */
  defer?: (fn: () => void) => void;
  maxItems?: number;
  /** Bounds the HTTP requests in flight (shared by the queues given the same slots); default: no bound. */
  slots?: Slots;
  /** Hears when a call type is found refused in batches (once). */
  onRefused?: () => void;
}

export interface BatchQueue<I, T> {
  /** Queue a call; resolves or rejects as its single call would. */
  call(key: string, item: I): Promise<T>;
  /** True once Facebook refused this call type inside a batch: every call goes single. */
  readonly refused: boolean;
}

/** A counting semaphore: at most `n` HTTP requests in flight; the others wait in order. */
export interface Slots {
  acquire(): Promise<void>;
  release(): void;
}

export function createSlots(n: number): Slots {
  let free = Math.max(1, Math.floor(n));
  const waiting: (() => void)[] = [];
  return {
    acquire() {
      if (free > 0) {
        free--;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => waiting.push(resolve));
    },
    release() {
      const next = waiting.shift();
      if (next) next();
      else free++;
    },
  };
}

const unbounded: Slots = { acquire: () => Promise.resolve(), release: () => undefined };

interface Pending<I, T> {
  item: I;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

export function createBatchQueue<I, T>(options: BatchQueueOptions<I, T>): BatchQueue<I, T> {
  const max = Math.min(MAX_BATCH_ITEMS, Math.max(1, options.maxItems ?? MAX_BATCH_ITEMS));
  const defer = options.defer ?? ((fn) => setImmediate(fn));
  const slots = options.slots ?? unbounded;
  /** Calls waiting to go, per key (app). */
  const queues = new Map<string, Pending<I, T>[]>();
  /** Requests in flight per key, and keys waiting for a slot (their calls stay queued meanwhile). */
  const inFlight = new Map<string, number>();
  const awaitingSlot = new Set<string>();
  let scheduled = false;
  let refused = false;

  /** A call alone, inside a slot. */
  async function alone(item: I): Promise<T> {
    await slots.acquire();
    try {
      return await options.sendSingle(item);
    } finally {
      slots.release();
    }
  }

  /** A batched item failed: try it alone; success alone means the batch refused the call type. */
  function retryAlone(p: Pending<I, T>, batchError: unknown): void {
    alone(p.item).then(
      (v) => {
        if (!refused) {
          refused = true;
          options.onRefused?.();
        }
        p.resolve(v);
      },
      (e: unknown) => p.reject(e ?? batchError),
    );
  }

  /** Send one request (holding a slot the caller acquired), then read each item's answer. */
  async function sendChunk(key: string, chunk: Pending<I, T>[]): Promise<void> {
    let results: (ItemResult<T> | undefined)[] | null = null;
    let failure: unknown = null;
    let failed = false;
    const single = chunk.length === 1 ? chunk[0]! : null;
    try {
      if (single) {
        // One call is a single call, not a batch of one.
        single.resolve(await options.sendSingle(single.item));
      } else if (!refused) {
        // (Found refused while these waited: each goes alone, in slots of their own, below.)
        results = await options.sendBatch(
          key,
          chunk.map((p) => p.item),
        );
      }
    } catch (e: unknown) {
      failure = e;
      failed = true;
    } finally {
      // The slot is the request's: retries alone take slots of their own.
      slots.release();
      inFlight.set(key, (inFlight.get(key) ?? 1) - 1);
      // What came in while requests were out goes when the last is back (or at 50).
      if ((queues.get(key)?.length ?? 0) > 0) schedule();
    }
    if (single) {
      if (failed) single.reject(failure);
      return;
    }
    if (results === null) {
      if (failed && !options.isRefusal(failure)) {
        for (const p of chunk) p.reject(failure);
        return;
      }
      // The whole batch was refused (or the call type was meanwhile): each call alone.
      for (const p of chunk) {
        if (!failed) alone(p.item).then(p.resolve, p.reject);
        else retryAlone(p, failure);
      }
      return;
    }
    const answers = results;
    chunk.forEach((p, i) => {
      const r = answers[i];
      if (r === undefined) alone(p.item).then(p.resolve, p.reject);
      else if (r.ok) p.resolve(r.value);
      else if (options.isRefusal(r.error)) retryAlone(p, r.error);
      else p.reject(r.error);
    });
  }

  /** Take a slot for this key; once granted, send what is queued for it then (up to 50). */
  function launch(key: string): void {
    awaitingSlot.add(key);
    void slots.acquire().then(() => {
      awaitingSlot.delete(key);
      const list = queues.get(key) ?? [];
      const chunk = list.splice(0, max);
      if (list.length === 0) queues.delete(key);
      if (chunk.length === 0) {
        slots.release();
        return;
      }
      inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
      void sendChunk(key, chunk);
      if (list.length > 0) schedule();
    });
  }

  function flush(): void {
    scheduled = false;
    for (const [key, list] of queues) {
      if (awaitingSlot.has(key) || list.length === 0) continue;
      // A partial batch waits for the request of its kind in flight; a full one goes at once.
      if ((inFlight.get(key) ?? 0) === 0 || list.length >= max) launch(key);
    }
  }

  function schedule(): void {
    if (!scheduled) {
      scheduled = true;
      defer(flush);
    }
  }

  return {
    call(key, item) {
      if (refused) return alone(item);
      return new Promise<T>((resolve, reject) => {
        let list = queues.get(key);
        if (!list) queues.set(key, (list = []));
        list.push({ item, resolve, reject });
        schedule();
      });
    },
    get refused() {
      return refused;
    },
  };
}
