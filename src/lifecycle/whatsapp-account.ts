/**
 * A WhatsApp Cloud API connection as a posting identity: a system-user token with the
 * `whatsapp_business_*` permissions, kept with no Page (keeper.ts connectWithoutPages). Its sender
 * posts with the connection's own token, so the connection *is* the account: platform `whatsapp`,
 * id the connection's id (`GET /api/accounts`, `status`, `GET /api/accounts/whatsapp/{id}/token`).
 *
 * The connection job keeps the token (look, refresh, revoke after the grace); this file says what
 * a person needs to know about it (pure), as the Page rules do for Pages:
 * - `deriveWhatsAppState`: expired, needs_reauth (Facebook refused it), failing (looks keep
 *   failing), expiring (a refresh was refused and is not retried), renewal_due, healthy.
 * - `whatsAppAsPage`: the same facts in the shape the alert plan reads, so a dead or expiring
 *   WhatsApp token alerts at the ALERT_DAYS_BEFORE thresholds like any other kept token, and
 *   `recovered` follows a new token.
 *
 * `createWhatsAppWatch` (the effects, at the end) writes its history and hands the alert plan
 * what changed.
 *
 * A system user has no Login dialog: the way back is a new token from Business Settings given to
 * `connect` again (same system user and app: the same connection id). Every sentence says so.
 */
import { type Clock, DAY, toIso } from '../clock.js';
import { isWhatsAppScope } from '../platforms/facebook/whatsapp.js';
import type { Store } from '../store/types.js';
import { type Connection, type ManagedPage, type NewEvent, needsPerson, type PageState } from '../types.js';
import { type DerivedState, daysLeft, type Policy } from './decide.js';
import type { WhatsAppAccountStatus } from './types.js';
import { pageEvents } from './util.js';

/** What a person does when a WhatsApp token is dead or will expire (there is no Login dialog). */
export const WHATSAPP_NEW_TOKEN_STEPS =
  'In Meta Business Suite open Business settings → Users → System users, choose the system user, Generate new token for the same app with whatsapp_business_messaging and whatsapp_business_management, then give it to the keeper: `fb-token-keeper connect NEW_TOKEN APP_ID APP_SECRET` (or POST /api/connections). A token of the same system user and app replaces this one under the same connection id.';

/** A connection kept for the WhatsApp Cloud API: a Facebook system-user token with no Page under it. */
export function isWhatsAppConnection(c: Pick<Connection, 'platform' | 'source'>, pageCount: number): boolean {
  return c.platform === 'facebook' && pageCount === 0 && c.source.scopes.some(isWhatsAppScope);
}

/** Where a person looks after a WhatsApp alert: the connection's page on the dashboard. */
export function whatsAppAccountUrl(publicUrl: string, id: string): string {
  return `${publicUrl}/connections/${encodeURIComponent(id)}`;
}

export function deriveWhatsAppState(c: Connection, now: number, policy: Policy): DerivedState {
  const s = c.source;
  const until = toIso(s.expiresAt);
  if (s.expiresAt !== null && s.expiresAt <= now) {
    return {
      state: 'expired',
      reason: 'expired',
      message: `The WhatsApp system-user token expired at ${until}: messages cannot be sent until it is replaced. ${WHATSAPP_NEW_TOKEN_STEPS}`,
    };
  }
  if (!s.isValid) {
    const why = s.error?.message ? ` (${s.error.message.replace(/\.$/, '')})` : '';
    return {
      state: 'needs_reauth',
      reason: s.error?.subcode === 458 ? 'app_removed' : 'token_invalid',
      message: `Facebook no longer accepts the WhatsApp system-user token${why}: it was revoked, or the system user or its access to the app was removed. ${WHATSAPP_NEW_TOKEN_STEPS}`,
    };
  }
  if (c.failureCount > 0 && c.lastError !== null) {
    return {
      state: 'failing',
      reason: c.lastError.code,
      message: `Checking the WhatsApp system-user token keeps failing (${c.lastError.message}); still retrying${until ? `. It expires at ${until}` : ''}.`,
    };
  }
  if (s.expiresAt !== null && c.extensionBlockedUntil !== null) {
    const why = c.lastError ? ` (${c.lastError.message.replace(/\.$/, '')})` : '';
    return {
      state: 'expiring',
      reason: 'not_extendable',
      message: `Facebook refused to refresh the WhatsApp system-user token${why} and the keeper does not try again: it expires at ${until}. Before then: ${WHATSAPP_NEW_TOKEN_STEPS}`,
    };
  }
  if (s.expiresAt !== null) {
    return s.expiresAt - now <= policy.renewalThresholdDays * DAY
      ? {
          state: 'renewal_due',
          reason: 'expires_soon',
          message: `The WhatsApp system-user token expires at ${until}; a refresh is due.`,
        }
      : {
          state: 'healthy',
          reason: 'fresh',
          message: `The WhatsApp system-user token is valid until ${until} and is refreshed before then.`,
        };
  }
  return {
    state: 'healthy',
    reason: 'never_expires',
    message: 'The WhatsApp system-user token never expires; it is checked every round.',
  };
}

/**
 * The connection in the shape the alert plan and the status rows read (never stored): its token
 * is the posting token, and there is no source behind it.
 */
export function whatsAppAsPage(
  c: Connection,
  now: number,
  policy: Policy,
  lastRenewedAt: number | null = null,
): ManagedPage {
  const s = deriveWhatsAppState(c, now, policy);
  return {
    pageId: c.id,
    platform: 'whatsapp',
    connectionId: c.id,
    pageName: c.userName,
    appId: c.appId,
    state: s.state,
    stateReason: s.reason,
    stateMessage: s.message,
    posting: c.source,
    source: null,
    autoRenew: true,
    renewalThresholdDays: null,
    lastCheckedAt: c.lastCheckedAt,
    nextCheckAt: c.nextCheckAt,
    lastRenewedAt,
    failureCount: c.failureCount,
    retryAt: c.retryAt,
    extensionBlockedUntil: c.extensionBlockedUntil,
    sourceExtensionBlockedUntil: null,
    lastError: c.lastError,
    leaseOwner: null,
    leaseExpiresAt: null,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
  };
}

/** Is a refresh due for it now, and why (or why not): the status rows' renewal_needed / renewal_reason. */
export function whatsAppRenewal(
  c: Connection,
  state: PageState,
  now: number,
  policy: Policy,
): { needed: boolean; reason: string } {
  const s = c.source;
  if (s.expiresAt === null) return { needed: false, reason: 'never_expires' };
  if (s.expiresAt <= now) return { needed: false, reason: 'expired' };
  if (!s.isValid) return { needed: false, reason: 'token_invalid' };
  if (state === 'expiring') return { needed: false, reason: 'not_extendable' };
  return s.expiresAt - now <= policy.renewalThresholdDays * DAY
    ? { needed: true, reason: 'expires_soon' }
    : { needed: false, reason: 'fresh' };
}

/** The status row `GET /api/accounts` and `status` show (pure). */
export function toWhatsAppStatus(
  c: Connection,
  o: { now: number; policy: Policy; publicUrl: string; lastRenewedAt: number | null },
): WhatsAppAccountStatus {
  const page = whatsAppAsPage(c, o.now, o.policy, o.lastRenewedAt);
  const renewal = whatsAppRenewal(c, page.state, o.now, o.policy);
  const s = c.source;
  return {
    platform: 'whatsapp',
    id: c.id,
    name: c.userName,
    app_id: c.appId,
    state: page.state,
    state_reason: page.stateReason,
    state_message: page.stateMessage,
    token_valid: s.isValid && (s.expiresAt === null || s.expiresAt > o.now),
    token_type: s.type,
    expires_at: toIso(s.expiresAt),
    days_until_expiry: daysLeft(s.expiresAt, o.now),
    scopes: [...s.scopes],
    last_checked_at: toIso(c.lastCheckedAt),
    next_check_at: toIso(c.nextCheckAt),
    last_renewed_at: toIso(o.lastRenewedAt),
    renewal_needed: renewal.needed,
    renewal_reason: renewal.reason,
    renewal_threshold_days: o.policy.renewalThresholdDays,
    last_error: c.lastError && {
      code: c.lastError.code,
      message: c.lastError.message,
      at: toIso(c.lastError.at)!,
    },
    reconnect_url: needsPerson(page.state) ? whatsAppAccountUrl(o.publicUrl, c.id) : null,
  };
}

// --- effects: history and alerts after a stored change ------------------------------------------

export interface WhatsAppWatchDeps {
  store: Pick<Store, 'addEvents' | 'listConnectionPages'>;
  clock: Clock;
  policy: Policy;
  /** The keeper's alert planning (plan.ts through the outbox), as for any page. */
  onPageChanged: (before: ManagedPage | null, after: ManagedPage) => Promise<void>;
}

/**
 * After the connection job (or `connect` with a new token) stored a change to a WhatsApp
 * connection: its history (`state_changed`, `renewed`) under the connection's id, and the alerts
 * its state calls for. A connection with Pages under it is not a WhatsApp account: nothing here.
 */
export function createWhatsAppWatch(deps: WhatsAppWatchDeps) {
  const { store, clock, policy } = deps;
  const pageEvent = pageEvents(clock);
  return async function whatsAppChanged(before: Connection | null, after: Connection): Promise<void> {
    // Most connections are Facebook logins without WhatsApp scopes: no query for those.
    const scoped = (c: Connection | null) =>
      c !== null && c.platform === 'facebook' && c.source.scopes.some(isWhatsAppScope);
    if (!scoped(after) && !scoped(before)) return;
    const pages = await store.listConnectionPages(after.id);
    if (
      !isWhatsAppConnection(after, pages.length) &&
      !(before && isWhatsAppConnection(before, pages.length))
    ) {
      return;
    }
    const now = clock.now();
    const a = whatsAppAsPage(after, now, policy);
    const b = before ? whatsAppAsPage(before, now, policy) : null;
    const events: NewEvent[] = [];
    const event = (type: NewEvent['type'], reason: string, extra: Partial<NewEvent>): NewEvent =>
      pageEvent(a, type, reason, {
        at: now,
        details: { platform: 'whatsapp', connection_id: after.id },
        ...extra,
      });
    if (b && b.posting.hash !== a.posting.hash && a.posting.isValid) {
      const routine = b.posting.isValid && b.state !== 'expired';
      events.push(
        event('renewed', routine ? 'threshold_reached' : 'replaced', {
          message: `The WhatsApp system-user token was ${routine ? 'refreshed' : 'replaced'}; it ${
            a.posting.expiresAt === null ? 'never expires' : `expires at ${toIso(a.posting.expiresAt)}`
          }. Senders fetch it again (GET /api/accounts/whatsapp/${after.id}/token).`,
          details: {
            platform: 'whatsapp',
            connection_id: after.id,
            token: 'source',
            token_changed: true,
            previous_expires_at: toIso(b.posting.expiresAt),
            expires_at: toIso(a.posting.expiresAt),
            token_hash: a.posting.hash,
          },
        }),
      );
    }
    if (b === null) {
      events.push(event('setup', 'created', { stateTo: a.state, message: a.stateMessage }));
    } else if (b.state !== a.state) {
      events.push(
        event('state_changed', a.stateReason ?? a.state, {
          stateFrom: b.state,
          stateTo: a.state,
          message: a.stateMessage,
        }),
      );
    }
    if (events.length > 0) await store.addEvents(events);
    await deps.onPageChanged(b, a);
  };
}
