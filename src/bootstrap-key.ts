/**
 * The first admin key `serve` creates has to reach the operator without entering the log stream:
 * stdout carries the JSON logs, and under systemd or in a container stdout and stderr both end up
 * in journald or the container log, where anyone who can read logs could sign in.
 *
 * - stderr is a terminal (someone is watching): the key is printed there, once.
 * - otherwise: it is written to `bootstrap-admin.key` (mode 0600) in the data folder, and only that
 *   path is logged. The operator reads it once, then deletes the file.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { parseDatabaseUrl } from './store/database.js';

export const BOOTSTRAP_KEY_FILE = 'bootstrap-admin.key';

export interface BootstrapKeyIo {
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** The data folder: beside the SQLite file, else beside the key file (PostgreSQL). */
export function dataFolder(config: Pick<Config, 'databaseUrl' | 'encryptionKeyFile'>): string {
  const target = parseDatabaseUrl(config.databaseUrl);
  return target.dialect === 'sqlite' && target.path !== ':memory:'
    ? dirname(target.path)
    : dirname(config.encryptionKeyFile);
}

/** Hand the new key over (see the header). Throws when neither a terminal nor the file is there. */
export function handOverBootstrapKey(
  key: string,
  config: Pick<Config, 'databaseUrl' | 'encryptionKeyFile'>,
  io: BootstrapKeyIo,
  logger: Logger,
): void {
  const usage = 'Use it as "Authorization: Bearer <key>" and to sign in to the dashboard.';
  if (io.stderr.isTTY === true) {
    io.stderr.write(
      `\nNo API key existed, so an admin key was created. It is shown only this once:\n\n  ${key}\n\n${usage}\n\n`,
    );
    return;
  }
  const folder = dataFolder(config);
  const file = join(folder, BOOTSTRAP_KEY_FILE);
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  chmodSync(file, 0o600); // `mode` applies only when the file is new
  logger.warn(
    { file },
    `no API key existed, so an admin key was created and written to ${file} (mode 0600, not logged). ${usage} Read it, then delete the file.`,
  );
}
