import { createHash } from 'node:crypto';

/** Short, non-reversible fingerprint of a token: enough to tell two tokens apart in history. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 12);
}
