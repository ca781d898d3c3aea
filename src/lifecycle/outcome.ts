/**
 * What one piece of work on a page came to: one type, and one place that words it, so the engine's
 * history event, the `renewal` event, `renew`'s answer and `check`'s summary can never disagree
 * (a forced renewal that Facebook did not extend once answered "renewed" while history said
 * `not_extendable`).
 */
import { toIso } from '../clock.js';
import type { Connection, ManagedPage } from '../types.js';
import type { Decision } from './decide.js';

export const OUTCOMES = [
  /** The posting token was replaced by one with a later expiry (or one that never expires). */
  'renewed',
  /** The posting token never expires; the source token it is re-minted from got a later expiry. */
  'source_renewed',
  /** The posting token was invalid; a new one was minted from the stored source token. */
  'healed',
  /** Facebook answered, but the posting token's expiry did not move: it stays as it was. */
  'not_extendable',
  /** Facebook answered, but the source token's expiry did not move (self-healing lapses then). */
  'source_not_extendable',
  /** Inspected; nothing needed doing. */
  'checked',
  /** A call failed; the page is retried with backoff (or needs a person, see its state). */
  'failed',
  /** Not worked on this time (not due, throttled, leased elsewhere, dry run). */
  'skipped',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Did the work leave a token with a fresh lifetime? (`renew`'s `renewed`.) */
export function isRenewal(outcome: Outcome): boolean {
  return outcome === 'renewed' || outcome === 'source_renewed' || outcome === 'healed';
}

/** Which token a renewal was about: the posting token, or the source it is minted from. */
export function renewedToken(outcome: Outcome): 'posting' | 'source' {
  return outcome === 'source_renewed' || outcome === 'source_not_extendable' ? 'source' : 'posting';
}

export interface OutcomeFacts {
  /** The posting token's expiry after the work (null = never). */
  expiresAt: number | null;
  /** The source token's expiry after the work (null = never or no source). */
  sourceExpiresAt: number | null;
}

/**
 * The sentence for a renewal outcome, used both in history and in `renew`'s answer.
 * Outcomes that are not renewals have no sentence of their own: the page's state message says it.
 */
export function renewalMessage(outcome: Outcome, facts: OutcomeFacts): string | null {
  const until = (ms: number | null) => (ms === null ? 'it does not expire' : `it expires at ${toIso(ms)}`);
  switch (outcome) {
    case 'renewed':
      return `The posting token was renewed; ${until(facts.expiresAt)}.`;
    case 'source_renewed':
      return `The source token was extended; ${until(facts.sourceExpiresAt)}, so self-healing stays available.`;
    case 'healed':
      return 'The posting token was invalid; a new Page token was minted from the stored source token.';
    case 'not_extendable':
      return `Facebook did not extend the token; ${until(facts.expiresAt)}, as before.`;
    case 'source_not_extendable':
      return facts.sourceExpiresAt === null
        ? 'Facebook did not extend the source token.'
        : `Facebook did not extend the source token; self-healing is available until ${toIso(facts.sourceExpiresAt)}.`;
    default:
      return null;
  }
}

/** What one piece of work on one Page came to (the one result type of page-job and round). */
export interface ProcessOutcome {
  pageId: string;
  before: ManagedPage;
  after: ManagedPage;
  decision: Decision;
  outcome: Outcome;
  tokenChanged: boolean;
  message: string | null;
}

/** What one look at a connection's source token came to (connection-job). */
export interface ConnectionOutcome {
  connectionId: string;
  before: Connection;
  after: Connection;
  /** `checked`, `source_renewed`, `source_not_extendable`, `failed` or `skipped`. */
  outcome: Extract<Outcome, 'checked' | 'source_renewed' | 'source_not_extendable' | 'failed' | 'skipped'>;
  /** Why (a reason code: `fresh`, `source_expires_soon`, `forced`, `leased`, `not_due`, an error code…). */
  reason: string;
  message: string | null;
}

/**
 * What a Page's work needs of the round's look at its login. A round keeps one per login until
 * its Pages are done; with a login per Page that is one per Page, so it keeps these few facts, not
 * the two connection snapshots (a round over 100,000 such Pages held 160 MB of them).
 * `after.source` is only kept for a dry run, which stored nothing its Pages could read instead.
 */
export interface ConnectionLook {
  outcome: ConnectionOutcome['outcome'];
  reason: string;
  message: string | null;
  after: Pick<Connection, 'nextCheckAt' | 'lastCheckedAt' | 'retiredRevokeAt'> & {
    source?: Connection['source'];
  };
}

/**
 * A look at a Facebook login that found its source fine. A Facebook Page's work reads nothing of
 * such a look but that it happened (page-job.ts: only a renewed or not-extendable source changes
 * what it does), so every such look is this one object: at a login per Page, a round's looks then
 * cost a map entry each. An Instagram or Threads account is its connection's token, and its work
 * words its outcome from the look (account-job.ts): those keep their own.
 */
const FACEBOOK_LOOKED_FINE: ConnectionLook = Object.freeze({
  outcome: 'checked',
  reason: 'checked',
  message: null,
  after: Object.freeze({ nextCheckAt: null, lastCheckedAt: null, retiredRevokeAt: null }),
});

export function connectionLook(look: ConnectionOutcome, dryRun: boolean): ConnectionLook {
  if (look.outcome === 'checked' && look.after.platform === 'facebook' && !dryRun) {
    return FACEBOOK_LOOKED_FINE;
  }
  const { nextCheckAt, lastCheckedAt, retiredRevokeAt, source } = look.after;
  return {
    outcome: look.outcome,
    reason: look.reason,
    message: look.message,
    after: dryRun
      ? { nextCheckAt, lastCheckedAt, retiredRevokeAt, source }
      : { nextCheckAt, lastCheckedAt, retiredRevokeAt },
  };
}
