/**
 * The seam between the renewal engine and a Meta platform. A **connection** is one source
 * credential (a Facebook user or system-user token, an Instagram-Login token, a Threads token) for
 * one app; the engine keeps connections alive and hands out the posting tokens of the accounts
 * under them. Everything platform-specific — which endpoint tells whether a token lives, whether
 * and how it can be extended, how a child token is minted, the Login dialog — sits behind this one
 * interface, so a platform adds a provider instead of branches all over the engine.
 *
 * Facebook: the source is a user/system-user token; its children are Pages, each with its own
 * minted Page token. Instagram Login and Threads: the source token is also the posting token of
 * its one account (`mintChild` returns the source itself), and `extend` is the platform's refresh.
 */
import type { AppCredentials } from '../graph/client.js';
import type { AccountPlatform, ConnectionPlatform, TokenInfo } from '../types.js';

// The platform lists are facts every layer uses (status rows, the store): src/types.ts holds them.
export { ACCOUNT_PLATFORMS, CONNECTION_PLATFORMS } from '../types.js';
export type { AccountPlatform, ConnectionPlatform } from '../types.js';

export function accountPlatformOf(platform: ConnectionPlatform): AccountPlatform {
  return platform === 'facebook' ? 'facebook_page' : platform;
}

/** A posting identity a source token can reach (a Page; the IG account or Threads profile itself). */
export interface ChildAccount {
  id: string;
  name: string | null;
  /**
   * Can the source post as this account? (Facebook: a posting task, CREATE_CONTENT, on the Page.
   * A Page that was not ticked in the Login dialog's Page picker comes back with `granted: false`.)
   */
  canPost: boolean;
  granted: boolean;
}

/** A token together with what the platform said about it. */
export interface InspectedToken {
  token: string;
  info: TokenInfo;
}

export interface LoginUrlOptions {
  appId: string;
  redirectUri: string;
  /** Signed OAuth state (see the reconnect links). */
  state: string;
  /** Ask for the account selection again (Facebook: `auth_type=rerequest`). */
  rerequest?: boolean;
}

export interface TokenProvider {
  readonly platform: ConnectionPlatform;
  /**
   * Look at a token once: validity, type, expiry, scopes, owner. An invalid token is a normal
   * result (`isValid: false` with the platform's reason in `error`), not an exception; an
   * exception means the platform could not answer (transient, throttled) or refused the app.
   */
  inspect(token: string, app: AppCredentials): Promise<TokenInfo>;
  /**
   * Give the source a longer life: Facebook's exchange for an expiring system-user token,
   * Instagram's `ig_refresh_token`, Threads' `th_refresh_token`. The result is verified before it
   * is returned. `null` when this token cannot be extended on this platform (a Facebook user
   * token: re-exchanging keeps its expiry, docs/FACEBOOK.md#re-exchanging-does-not-extend).
   */
  extend(source: InspectedToken, app: AppCredentials): Promise<InspectedToken | null>;
  /**
   * Invalidate a source token this connection no longer uses (`caller`: the one it uses now), once
   * the grace period after an extension is over. Absent where the platform has no such call (a
   * refreshed token simply replaces the old one there).
   */
  revokeSource?(token: string, caller: string, app: AppCredentials): Promise<void>;
  /** Turn a short-lived token given at set-up into the long-lived one that is kept. */
  exchangeShortLived(token: string, app: AppCredentials): Promise<InspectedToken>;
  /** The accounts the source can reach, for set-up, reconnect results and "available to add". */
  listChildren(source: string, app: AppCredentials): Promise<ChildAccount[]>;
  /** A verified posting token for one child account. */
  mintChild(
    childId: string,
    source: string,
    app: AppCredentials,
  ): Promise<InspectedToken & { name: string | null }>;
  /** The platform's own authorization dialog, for a reconnect link. */
  loginUrl(options: LoginUrlOptions): string;
  /**
   * The cheapest "does this posting token still work?" (lifecycle/check-choice.ts), made with the
   * posting token itself so that it counts against the account's budget, not the app's. `true`:
   * it answers as `childId`; `false`: it did not (refused as dead, or another account) — look
   * closer with `inspect`. Throws when the platform could not answer (transient, throttled).
   * Absent: every check is an `inspect`.
   */
  probe?(token: string, childId: string, app: AppCredentials): Promise<boolean>;
  /** The dialog's `code` → the long-lived source token (verified). */
  exchangeCode(code: string, redirectUri: string, app: AppCredentials): Promise<InspectedToken>;
}

/** The platform of the connection an account's token belongs to (the inverse of accountPlatformOf). */
export function connectionPlatformOf(platform: AccountPlatform): ConnectionPlatform {
  // A WhatsApp Cloud API account is a Facebook system-user connection kept with no Page.
  return platform === 'facebook_page' || platform === 'whatsapp' ? 'facebook' : platform;
}
