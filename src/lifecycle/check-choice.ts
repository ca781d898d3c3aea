/**
 * "Spend the cheapest bucket": what a check of a Page calls (docs/BENCHMARKS.md "Call budget",
 * docs/FACEBOOK.md#throttling).
 *
 * `debug_token` is made with the app token, so it counts against the app's budget (200 × daily
 * users per rolling hour — small for a keeper's own app), and it is the only call that tells a
 * token's expiry, data-access expiry and scopes. A never-expiring Page token needs none of those
 * between inspections: only "does it still work?". `GET /me?fields=id` made with the Page token
 * itself answers that (a dead token answers 190 with its subcode) and counts against the Page's
 * own budget (4800 calls per hour and engaged user), not the app's.
 *
 * So the full inspection (`debug_token`) is kept for when its answers matter: the first check
 * after setup, after a rotation (the stored facts are of the old token), when the token expires
 * (its expiry drives renewal), when the Page is not healthy, and at a slower cadence
 * (`FULL_INSPECTION_EVERY_MS`) to catch a scope or data-access change the probe cannot see.
 * Every other check is the probe. Pure: the engine (or the round that replaces it) asks, then calls.
 */
import { DAY } from '../clock.js';

export type CheckChoice =
  | {
      kind: 'debug_token';
      /** `asked`: a person's check or renewal, or a platform without a probe — always in full. */
      reason: 'never_inspected' | 'rotated' | 'expiring_token' | 'not_healthy' | 'cadence' | 'asked';
    }
  | { kind: 'page_probe'; reason: 'never_expiring_page_token' };

export const FULL_CHECK: CheckChoice = { kind: 'debug_token', reason: 'asked' };

/** How often a never-expiring Page token gets a full `debug_token` inspection anyway. */
export const FULL_INSPECTION_EVERY_MS = DAY;

export interface CheckChoiceInput {
  state: string;
  posting: {
    type: string;
    isValid: boolean;
    /** null: never expires. */
    expiresAt: number | null;
    /** When debug_token last described the token; null: never. */
    checkedAt: number | null;
  };
  /** When the posting token was last replaced; null: never. */
  lastRenewedAt: number | null;
}

export function chooseCheck(
  page: CheckChoiceInput,
  now: number,
  fullEveryMs: number = FULL_INSPECTION_EVERY_MS,
): CheckChoice {
  const inspectedAt = page.posting.checkedAt;
  if (inspectedAt === null) return { kind: 'debug_token', reason: 'never_inspected' };
  if (page.lastRenewedAt !== null && page.lastRenewedAt > inspectedAt) {
    return { kind: 'debug_token', reason: 'rotated' };
  }
  if (page.posting.type !== 'PAGE' || page.posting.expiresAt !== null) {
    return { kind: 'debug_token', reason: 'expiring_token' };
  }
  if (page.state !== 'healthy' || !page.posting.isValid) {
    return { kind: 'debug_token', reason: 'not_healthy' };
  }
  if (now - inspectedAt >= fullEveryMs) return { kind: 'debug_token', reason: 'cadence' };
  return { kind: 'page_probe', reason: 'never_expiring_page_token' };
}

/**
 * Calls a check makes against the app's budget, by choice: debug_token of the posting token and
 * of the source token (when there is one), or the probe: none (the Page token's `/me` counts
 * against the Page; the source token waits for the next full inspection — it matters only for
 * healing, which the daily inspection still watches).
 */
export function appCallsOf(choice: CheckChoice, hasSource: boolean): number {
  if (choice.kind === 'debug_token') return hasSource ? 2 : 1;
  return 0;
}
