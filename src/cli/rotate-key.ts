/**
 * rotate-key: keyring maintenance (crypto/keys.ts describes the keyring).
 *
 *   rotate-key              key file: add a new active key in front (the file is rewritten
 *                           atomically first, so running instances can open what is sealed next),
 *                           then re-seal every secret under it in one transaction.
 *                           TOKEN_ENCRYPTION_KEY(S): a process cannot see a new environment, so it
 *                           generates the key and prints exactly what to set, in which order.
 *   rotate-key --reseal     re-seal every secret under the active key (nothing else changes).
 *   rotate-key --retire ID  drop key ID from the ring; refuses while any secret is sealed with it.
 */
import { setTimeout as wait } from 'node:timers/promises';
import type { Config } from '../config.js';
import { displayDatabaseUrl } from '../config.js';
import { type Keyring, openKeyring } from '../crypto/keyring.js';
import { generateKey, writeKeyFile } from '../crypto/keys.js';
import { createSecretBox, keyIdOf } from '../crypto/secret-box.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { assertDatabaseExists, databaseNotFound } from '../lifecycle/keeper.js';
import { proveKeyring, summariseUsage } from '../lifecycle/key-check.js';
import { openStore } from '../store/database.js';
import type { Store } from '../store/types.js';

export interface RotateOptions {
  reseal?: boolean | undefined;
  retire?: string | undefined;
}

/** How many pages a refusal to retire names. */
const LISTED_PAGES = 10;
/** Running instances look at the key file at most this often before sealing (crypto/keyring.ts), plus a margin. */
const INSTANCES_SEE_FILE_MS = 1500;

export async function rotateKey(
  config: Config,
  logger: Logger,
  options: RotateOptions = {},
): Promise<string> {
  assertDatabaseExists(config);
  const keyring = openKeyring(config.keySource, { create: false });
  if (options.retire !== undefined) return retire(config, keyring, logger, options.retire);
  if (options.reseal === true) {
    return withStore(config, keyring, logger, async (store) => {
      const { resealed } = await store.resealAll();
      return `Re-sealed ${resealed} secret(s) under the active key ${keyring.ids()[0]!} (${keyring.description}).${await leftover(store, keyring.ids()[0]!)}`;
    });
  }
  const source = config.keySource;
  if (source.kind === 'env') {
    // Prove the current ring opens the store before telling anyone to build on it.
    await withStore(config, keyring, logger, () => Promise.resolve(''));
    const next = generateKey();
    const ring = keyring.keys().map((k) => k.toString('base64'));
    const [oldId] = keyring.ids();
    const newId = keyIdOf(next);
    return [
      `Generated key ${newId}. Nothing is re-sealed yet: a running process cannot see a new ${source.variable}, so the new key reaches every instance in steps.`,
      '',
      'Every instance and every command (cron jobs too) needs each value before you take the next step:',
      `  1. Set the new key as a previous key (the current one stays active), and restart:`,
      `       TOKEN_ENCRYPTION_KEYS=${[...ring, next.toString('base64')].join(',')}`,
      `  2. Once all run with it, make the new key active, and restart:`,
      `       TOKEN_ENCRYPTION_KEYS=${[next.toString('base64'), ...ring].join(',')}`,
      `  3. Re-seal every secret under ${newId} (with the value of step 2):`,
      '       fb-token-keeper rotate-key --reseal',
      `  4. Retire the old key (it refuses while anything is still sealed with it); it prints what to set then:`,
      `       fb-token-keeper rotate-key --retire ${oldId!}`,
      '',
      'Store the new key with your backups: a backup made from step 2 on cannot be opened without it.',
      ...(source.variable === 'TOKEN_ENCRYPTION_KEY'
        ? [
            'TOKEN_ENCRYPTION_KEYS replaces TOKEN_ENCRYPTION_KEY: unset TOKEN_ENCRYPTION_KEY where you set it.',
          ]
        : []),
    ].join('\n');
  }

  return withStore(config, keyring, logger, async (store) => {
    const previous = keyring.keys();
    const next = generateKey();
    const newId = keyIdOf(next);
    // The file first: from here on every instance that meets a secret sealed with the new key finds
    // it there (crypto/keyring.ts re-reads the file when an envelope names a key it lacks).
    writeKeyFile(
      source.path,
      [next, ...previous],
      `key ${newId} added by rotate-key on ${new Date().toISOString()}`,
    );
    const box = createSecretBox({ current: next, previous });
    const resealing = await openStore({ databaseUrl: config.databaseUrl, secretBox: box, create: false });
    let resealed: number;
    try {
      ({ resealed } = await resealing.resealAll());
      // An instance that sealed a renewal just before it noticed the new file sealed it with the
      // old key; once every instance has looked at the file, re-seal what they wrote.
      for (let i = 0; i < 3 && (await sealedWithOthers(resealing, newId)) > 0; i++) {
        await wait(INSTANCES_SEE_FILE_MS);
        await resealing.resealAll();
      }
    } finally {
      await resealing.close();
    }
    const oldIds = previous.map(keyIdOf);
    return [
      `Added key ${newId} (active) to ${keyring.description}; it still holds ${oldIds.join(', ')} (previous).`,
      `Re-sealed ${resealed} secret(s) under ${newId}.${await leftover(store, newId)}`,
      'Running instances read the key file again by themselves: nothing to restart (instances on other hosts need this same file).',
      `Backups made before now need the previous key: keep a copy of the old key file with them.`,
      `When nothing needs ${oldIds[0]!} any more: fb-token-keeper rotate-key --retire ${oldIds[0]!}`,
    ].join('\n');
  });
}

async function retire(config: Config, keyring: Keyring, logger: Logger, id: string): Promise<string> {
  const ids = keyring.ids();
  if (!ids.includes(id)) {
    throw new AppError(
      'encryption_key_not_in_ring',
      `key ${id} is not in ${keyring.description} (it holds ${ids.join(', ')})`,
      { details: { key_id: id, key_ids: ids } },
    );
  }
  if (ids[0] === id) {
    throw new AppError(
      'encryption_key_in_use',
      `key ${id} is the active key of ${keyring.description}: run fb-token-keeper rotate-key first, then retire it`,
      { details: { key_id: id } },
    );
  }
  return withStore(config, keyring, logger, async (store) => {
    const usage = summariseUsage(await store.sealedKeyUsage()).get(id);
    if (usage) {
      const pages = await store.pagesSealedWith(id, LISTED_PAGES);
      const where = pages.map((p) => `page ${p.pageId} (${p.fields.join(', ')})`).join(', ');
      throw new AppError(
        'encryption_key_in_use',
        `key ${id} still seals ${usage.secrets} secret(s) in ${displayDatabaseUrl(config.databaseUrl)}: ${where}${usage.secrets > pages.length ? ', …' : ''}. ` +
          `Run fb-token-keeper rotate-key --reseal to re-seal them under the active key ${ids[0]!}, then retire ${id}.`,
        { details: { key_id: id, secrets: usage.secrets, pages: pages.map((p) => p.pageId) } },
      );
    }
    const remaining = keyring.keys().filter((k) => keyIdOf(k) !== id);
    const source = config.keySource;
    if (source.kind === 'file') {
      writeKeyFile(source.path, remaining, `key ${id} retired on ${new Date().toISOString()}`);
      return [
        `Retired key ${id}: nothing in ${displayDatabaseUrl(config.databaseUrl)} is sealed with it, and ${keyring.description} now holds ${remaining.map(keyIdOf).join(', ')}.`,
        `Backups made while ${id} was active still need it: keep it with them.`,
      ].join('\n');
    }
    return [
      `Nothing in ${displayDatabaseUrl(config.databaseUrl)} is sealed with key ${id}. On every instance and every command, set`,
      `  TOKEN_ENCRYPTION_KEYS=${remaining.map((k) => k.toString('base64')).join(',')}`,
      'and restart them. Backups made while the old key was active still need it: keep it with them.',
    ].join('\n');
  });
}

/** Open the store with the ring (never creating anything), prove the ring opens it, run `fn`. */
async function withStore<T>(
  config: Config,
  keyring: Keyring,
  logger: Logger,
  fn: (store: Store) => Promise<T>,
): Promise<T> {
  let store: Store;
  try {
    store = await openStore({
      databaseUrl: config.databaseUrl,
      secretBox: createSecretBox(keyring),
      create: false,
    });
  } catch (err) {
    if (err instanceof AppError && err.code === 'database_not_found') throw databaseNotFound(config);
    throw err;
  }
  try {
    if ((await store.migrationStatus()).applied.length === 0) throw databaseNotFound(config);
    await store.migrate();
    await proveKeyring(store, await store.sealedKeyUsage(), logger, (id) => keyring.missingKeyHint(id));
    return await fn(store);
  } finally {
    await store.close();
  }
}

async function sealedWithOthers(store: Store, activeId: string): Promise<number> {
  let n = 0;
  for (const [keyId, u] of summariseUsage(await store.sealedKeyUsage())) {
    if (keyId !== activeId) n += u.secrets;
  }
  return n;
}

async function leftover(store: Store, activeId: string): Promise<string> {
  const n = await sealedWithOthers(store, activeId);
  return n === 0
    ? ' Nothing is sealed with another key.'
    : ` ${n} secret(s) are still sealed with another key (an instance wrote them meanwhile): run rotate-key --reseal again.`;
}
