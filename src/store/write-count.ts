/**
 * A count of the writes made through one store object, for caches of what was read through it
 * (the snapshots in lifecycle/snapshots.ts). Every method not listed in READS counts as a write,
 * so a method added to the Store later invalidates caches until someone lists it as a read: the
 * safe default. A write is counted when it starts and again when it ends, so a read that overlaps
 * a write never matches the count that follows it.
 */
import type { Store } from './types.js';

const READS = new Set<string>([
  'migrationStatus',
  'ping',
  'listPages',
  'listPageIds',
  'countPages',
  'getPage',
  'getSecrets',
  'getPageWithSecrets',
  'getPostingToken',
  'getConnection',
  'getConnectionSecrets',
  'getConnectionWithSecrets',
  'listConnections',
  'listConnectionPages',
  'listDueConnections',
  'listDuePages',
  'listEvents',
  'getApiKey',
  'listApiKeys',
  'countActiveApiKeys',
  'isSessionEnded',
  'dueAlertDeliveries',
  'alertCounts',
  'sealedKeyUsage',
  'pagesSealedWith',
]);

export function countWrites(store: Store): Store {
  let writes = 0;
  const wrapped = new Map<PropertyKey, unknown>();
  const count = () => writes;
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'writes') return count;
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      let fn = wrapped.get(prop);
      if (fn === undefined) {
        const method = value as (...args: unknown[]) => unknown;
        fn =
          typeof prop === 'string' && READS.has(prop)
            ? method.bind(target)
            : async (...args: unknown[]) => {
                writes++;
                try {
                  return await method.apply(target, args);
                } finally {
                  writes++;
                }
              };
        wrapped.set(prop, fn);
      }
      return fn;
    },
  });
}
