/**
 * A live keyring over a key source (crypto/keys.ts): what the secret box asks for its keys. A key
 * file is re-read when it changed (checked with one `stat`, at most once a second, before sealing)
 * and whenever an envelope names a key the ring does not hold (at most every few seconds when the
 * file looks unchanged), so `rotate-key` reaches every running instance without a restart.
 */
import { describeKeySource, fileStamp, type KeySource, loadKeys } from './keys.js';
import { keyIdOf, type KeyProvider } from './secret-box.js';

/** Seals check the key file's stat at most this often. */
const STAT_EVERY_MS = 1000;
/** An unknown key id forces a re-read of an unchanged-looking file at most this often (a wrong key must not read the file on every request). */
const FORCED_REREAD_EVERY_MS = 5000;

export interface Keyring extends KeyProvider {
  readonly source: KeySource;
  /** Active first. */
  ids(): string[];
  /** The oldest key still held (the last one): reconnect links and sessions derive from it, so a rotation does not void them. */
  oldest(): Buffer;
}

export function openKeyring(source: KeySource, options: { create: boolean; now?: () => number }): Keyring {
  const now = options.now ?? Date.now;
  let loaded = loadKeys(source, { create: options.create });
  let lastStat = now();
  let lastForced = now();
  const description = describeKeySource(source);

  const reread = () => {
    try {
      loaded = loadKeys(source, { create: false });
    } catch {
      // A file caught mid-edit by hand, or removed: keep the keys we have; the next look tries again.
    }
  };

  return {
    source,
    description,
    keys: () => loaded.keys,
    ids: () => loaded.keys.map(keyIdOf),
    oldest: () => loaded.keys[loaded.keys.length - 1]!,
    refresh(reason) {
      if (source.kind !== 'file') return;
      const t = now();
      if (reason === 'seal' && t - lastStat < STAT_EVERY_MS) return;
      lastStat = t;
      if (fileStamp(source.path) !== loaded.stamp) {
        reread();
        return;
      }
      if (reason === 'unknown_key' && t - lastForced >= FORCED_REREAD_EVERY_MS) {
        lastForced = t;
        reread();
      }
    },
    missingKeyHint(id) {
      if (source.kind === 'file') {
        return `restore the key file this database was sealed with (or add key ${id} back to it), or point ENCRYPTION_KEY_FILE at it; run "fb-token-keeper status" to see which database and key file are in use`;
      }
      return `this process's ${source.variable} lacks it. Set TOKEN_ENCRYPTION_KEYS to the keys this database was sealed with (the active one first, e.g. the value rotate-key printed) on every instance and restart them`;
    },
  };
}
