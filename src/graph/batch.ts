/**
 * Batching of Graph calls (GRAPH_BATCH=auto): calls of one kind made in the same turn of the event
 * loop for the same app are sent as one Graph batch request, at most 50 at a time
 * (https://developers.facebook.com/docs/graph-api/batch-requests). A batch saves round trips, not
 * budget: "each call within the batch is counted separately".
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
  /** Hears when a call type is found refused in batches (once). */
  onRefused?: () => void;
}

export interface BatchQueue<I, T> {
  /** Queue a call; resolves or rejects as its single call would. */
  call(key: string, item: I): Promise<T>;
  /** True once Facebook refused this call type inside a batch: every call goes single. */
  readonly refused: boolean;
}

interface Pending<I, T> {
  item: I;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

export function createBatchQueue<I, T>(options: BatchQueueOptions<I, T>): BatchQueue<I, T> {
  const max = Math.min(MAX_BATCH_ITEMS, Math.max(1, options.maxItems ?? MAX_BATCH_ITEMS));
  const defer = options.defer ?? ((fn) => setImmediate(fn));
  const queues = new Map<string, Pending<I, T>[]>();
  let scheduled = false;
  let refused = false;

  function single(p: Pending<I, T>): void {
    options.sendSingle(p.item).then(p.resolve, p.reject);
  }

  /** A batched item failed: try it alone; success alone means the batch refused the call type. */
  function retryAlone(p: Pending<I, T>, batchError: unknown): void {
    options.sendSingle(p.item).then(
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

  async function sendChunk(key: string, chunk: Pending<I, T>[]): Promise<void> {
    if (chunk.length === 1 || refused) {
      for (const p of chunk) single(p);
      return;
    }
    let results: (ItemResult<T> | undefined)[];
    try {
      results = await options.sendBatch(
        key,
        chunk.map((p) => p.item),
      );
    } catch (e: unknown) {
      if (!options.isRefusal(e)) {
        for (const p of chunk) p.reject(e);
        return;
      }
      // The whole batch was refused: each call alone.
      for (const p of chunk) retryAlone(p, e);
      return;
    }
    chunk.forEach((p, i) => {
      const r = results[i];
      if (r === undefined) single(p);
      else if (r.ok) p.resolve(r.value);
      else if (options.isRefusal(r.error)) retryAlone(p, r.error);
      else p.reject(r.error);
    });
  }

  function flush(): void {
    scheduled = false;
    const all = [...queues.entries()];
    queues.clear();
    for (const [key, list] of all) {
      for (let i = 0; i < list.length; i += max) {
        void sendChunk(key, list.slice(i, i + max));
      }
    }
  }

  return {
    call(key, item) {
      if (refused) return options.sendSingle(item);
      return new Promise<T>((resolve, reject) => {
        let list = queues.get(key);
        if (!list) queues.set(key, (list = []));
        list.push({ item, resolve, reject });
        if (!scheduled) {
          scheduled = true;
          defer(flush);
        }
      });
    },
    get refused() {
      return refused;
    },
  };
}
