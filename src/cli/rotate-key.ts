/**
 * rotate-key: re-seal every secret under a new key in one transaction. The new key is written to
 * `<key file>.new` BEFORE the database changes, so an interruption never leaves data sealed under a
 * key that exists nowhere; the key file is replaced only after the transaction commits.
 */
import { chmodSync, renameSync, writeFileSync } from 'node:fs';
import type { Config } from '../config.js';
import { generateKey, resolveEncryptionKey } from '../crypto/keys.js';
import { createSecretBox } from '../crypto/secret-box.js';
import { openStore } from '../store/database.js';

export async function rotateKey(config: Config): Promise<string> {
  const oldKey = resolveEncryptionKey({
    encryptionKey: config.encryptionKey,
    keyFile: config.encryptionKeyFile,
  });
  const newKey = generateKey();
  const fromEnv = config.encryptionKey !== undefined;
  const pendingFile = `${config.encryptionKeyFile}.new`;
  if (!fromEnv) {
    writeFileSync(pendingFile, `${newKey.toString('base64')}\n`, { mode: 0o600 });
    chmodSync(pendingFile, 0o600);
  }
  const store = await openStore({
    databaseUrl: config.databaseUrl,
    secretBox: createSecretBox({ current: newKey, previous: [oldKey] }),
  });
  let resealed: number;
  try {
    await store.migrate();
    ({ resealed } = await store.resealAll());
  } finally {
    await store.close();
  }
  if (fromEnv) {
    return `Re-sealed ${resealed} secret(s). Set TOKEN_ENCRYPTION_KEY to this new key before the next start (the old key no longer opens anything):\n${newKey.toString('base64')}`;
  }
  // rename() replaces the old key file atomically; the old key is not kept (it may be why you rotate).
  renameSync(pendingFile, config.encryptionKeyFile);
  return `Re-sealed ${resealed} secret(s) under a new key in ${config.encryptionKeyFile}. Backups made before now need the previous key.`;
}
