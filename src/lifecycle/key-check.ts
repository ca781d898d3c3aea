/**
 * Proof at start-up that the keyring opens the store: the key ids the stored envelopes name are
 * read in SQL (crypto/secret-box envelopes carry them), and one secret per key id is opened. Cost:
 * one grouped scan of the pages table and one decryption per key id, whatever the number of Pages.
 */
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { SealedKeyUsage, Store } from '../store/types.js';

export interface KeyringProof {
  /** Key ids in use, with how many secrets each seals. */
  inUse: { keyId: string; secrets: number }[];
}

export function summariseUsage(
  usage: SealedKeyUsage[],
): Map<string, { secrets: number; samplePageId: string }> {
  const byKey = new Map<string, { secrets: number; samplePageId: string }>();
  for (const u of usage) {
    const seen = byKey.get(u.keyId);
    byKey.set(u.keyId, {
      secrets: (seen?.secrets ?? 0) + u.count,
      samplePageId: seen && seen.samplePageId < u.samplePageId ? seen.samplePageId : u.samplePageId,
    });
  }
  return byKey;
}

/**
 * Throws `encryption_key_unknown` naming the key source and what to do when any stored secret is
 * sealed with a key the keyring does not hold. A secret that fails authentication (altered in the
 * database) does not stop the start: it is logged, and readiness reports it until it opens.
 */
export async function proveKeyring(
  store: Store,
  usage: SealedKeyUsage[],
  logger: Logger,
  hint: (keyId: string) => string,
): Promise<KeyringProof> {
  const byKey = summariseUsage(usage);
  const missing: { keyId: string; secrets: number }[] = [];
  for (const [keyId, u] of byKey) {
    try {
      await store.getSecrets(u.samplePageId);
    } catch (err) {
      if (err instanceof AppError && err.code === 'encryption_key_unknown') {
        missing.push({ keyId, secrets: u.secrets });
      } else if (err instanceof AppError && err.code === 'decryption_failed') {
        logger.error(
          { pageId: u.samplePageId, err: { code: err.code, message: err.message } },
          'a stored secret does not open',
        );
      } else {
        throw err;
      }
    }
  }
  if (missing.length > 0) {
    const box = store.secretBox;
    const what = missing.map((m) => `${m.secrets} secret(s) sealed with key ${m.keyId}`).join(', ');
    throw new AppError(
      'encryption_key_unknown',
      `the keyring does not open this database: it holds ${what}, and ${box.source} holds only ${box.keyIds.join(', ')}. ` +
        `Was the database restored without its key, or is ${box.source} set to another key? To fix: ${hint(missing[0]!.keyId)}`,
      {
        details: {
          key_source: box.source,
          missing_key_ids: missing.map((m) => m.keyId),
          loaded_key_ids: box.keyIds,
        },
      },
    );
  }
  return { inUse: [...byKey].map(([keyId, u]) => ({ keyId, secrets: u.secrets })) };
}
