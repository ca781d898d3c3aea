/**
 * The TokenProvider of a platform whose long-lived token is refreshed (Instagram API with
 * Instagram Login, Threads API; docs/FACEBOOK.md#instagram-login-tokens, #threads-tokens). One
 * account per token: the source token is the posting token (`mintChild` returns it), `extend` is
 * the platform's refresh. The two providers differ only in their client (instagram/, threads/).
 *
 * Rules kept here, whatever the engine does:
 * - the expiry is the platform's (`expires_in`, or Threads' `debug_token`), never a fixed number;
 * - a token younger than 24 hours is never sent to refresh (refresh_too_early, decide.ts);
 * - a refreshed token is verified (alive, same account) before it is returned, and whatever string
 *   comes back is returned (it may or may not have changed);
 * - a refusal is told apart from a dead token by looking at the token again, because neither
 *   platform documents its refusal bodies.
 */
import { type Clock, DAY } from '../clock.js';
import { AppError } from '../errors.js';
import type { AppCredentials } from '../graph/client.js';
import { GraphError } from '../graph/errors.js';
import { tokenHash } from '../crypto/token-hash.js';
import type { TokenInfo } from '../types.js';
import { earliestRefreshAt, REFRESH_MIN_AGE_MS } from './decide.js';
import { PLATFORM_LABEL, type RefreshablePlatformName } from './errors.js';
import type { ChildAccount, InspectedToken, LoginUrlOptions, TokenProvider } from './provider.js';

/** A token answer: the string and the expiry the platform gave it. */
export interface PlatformToken {
  accessToken: string;
  /** Seconds, as sent (`expires_in`). */
  expiresIn: number;
  /** clock.now() + expires_in. */
  expiresAt: number;
}

/** What one look at a live token tells (a dead token throws the platform's GraphError). */
export interface TokenLook {
  userId: string;
  username: string | null;
  /** Threads' debug_token tells; Instagram has no debug_token: null. */
  expiresAt: number | null;
  issuedAt: number | null;
  scopes: string[];
}

/** TokenInfo plus when the token was issued or last refreshed (for `earliestRefreshAt`). */
export type RefreshableTokenInfo = TokenInfo & { issuedAt: number | null };
export type RefreshedToken = InspectedToken & { info: RefreshableTokenInfo; issuedAt: number };

export interface RefreshableSpec {
  platform: RefreshablePlatformName;
  clock: Clock;
  /** Does `inspect` report the expiry? (Instagram: no, there is no debug_token.) */
  inspectKnowsExpiry: boolean;
  look(token: string, app: AppCredentials): Promise<TokenLook>;
  exchange(shortLived: string, app: AppCredentials): Promise<PlatformToken>;
  refresh(longLived: string, app: AppCredentials): Promise<PlatformToken>;
  /** The dialog's code → a short-lived token. */
  redeemCode(code: string, redirectUri: string, app: AppCredentials): Promise<string>;
  /** Refuse app credentials that cannot be this platform's (Threads: a Facebook app id). */
  checkApp?(app: AppCredentials): Promise<void>;
  loginUrl(options: LoginUrlOptions): string;
}

export interface RefreshableProvider extends TokenProvider {
  readonly platform: RefreshablePlatformName;
  readonly inspectKnowsExpiry: boolean;
  inspect(token: string, app: AppCredentials): Promise<RefreshableTokenInfo>;
  /** `source.issuedAt`, when given, guards the 24-hour minimum age before any call. */
  extend(source: InspectedToken & { issuedAt?: number | null }, app: AppCredentials): Promise<RefreshedToken>;
  exchangeShortLived(token: string, app: AppCredentials): Promise<RefreshedToken>;
  exchangeCode(code: string, redirectUri: string, app: AppCredentials): Promise<RefreshedToken>;
}

/**
 * "Long-lived tokens are valid for 60 days" (both platforms' references). Used only where the
 * platform sent no `expires_in` to read: a long-lived Instagram token younger than 24 hours.
 */
const DOCUMENTED_LIFETIME_MS = 60 * DAY;

/** A refusal that is not about the token's life (not dead, not the app, not the network). */
function isRefusal(e: unknown): e is GraphError {
  return (
    e instanceof GraphError &&
    (e.kind === 'invalid_request' || e.kind === 'permission') &&
    e.code !== 'app_credentials_invalid' &&
    e.code !== 'threads_app_id_required'
  );
}

export function createRefreshableProvider(spec: RefreshableSpec): RefreshableProvider {
  const label = PLATFORM_LABEL[spec.platform];
  const now = () => spec.clock.now();

  const infoOf = (
    token: string,
    app: AppCredentials,
    look: TokenLook,
    expiresAt: number | null,
    issuedAt: number | null,
  ): RefreshableTokenInfo => ({
    type: 'USER',
    isValid: true,
    expiresAt,
    dataAccessExpiresAt: null,
    scopes: [...look.scopes],
    userId: look.userId,
    profileId: look.userId,
    appId: app.appId,
    checkedAt: now(),
    hash: tokenHash(token),
    error: null,
    issuedAt,
  });

  /** Look at a token the platform just gave, and keep the expiry it sent with it. */
  async function verified(
    t: PlatformToken,
    app: AppCredentials,
    expectUser: string | null,
  ): Promise<RefreshedToken> {
    const look = await spec.look(t.accessToken, app);
    if (expectUser !== null && look.userId !== expectUser) {
      throw new AppError(
        'token_invalid',
        `${label} answered the refresh with a token of another account (${look.userId}, not ${expectUser}): the old token is kept`,
      );
    }
    const issuedAt = now();
    return { token: t.accessToken, info: infoOf(t.accessToken, app, look, t.expiresAt, issuedAt), issuedAt };
  }

  async function refreshVerified(
    token: string,
    app: AppCredentials,
    expectUser: string | null,
  ): Promise<RefreshedToken> {
    try {
      return await verified(await spec.refresh(token, app), app, expectUser);
    } catch (e: unknown) {
      if (!isRefusal(e)) throw e;
      // Refused: dead (the look throws the platform's needs_reauth) or alive and refused.
      await spec.look(token, app);
      throw new AppError(
        'refresh_refused',
        `${label} refused to refresh a token that still works (${e.message}); ${label} refreshes only long-lived tokens at least 24 hours old: the keeper tries again later`,
        { cause: e, details: { fb_code: e.fbCode, fb_subcode: e.fbSubcode } },
      );
    }
  }

  const provider: RefreshableProvider = {
    platform: spec.platform,
    inspectKnowsExpiry: spec.inspectKnowsExpiry,

    async inspect(token, app) {
      try {
        const look = await spec.look(token, app);
        return infoOf(token, app, look, look.expiresAt, look.issuedAt);
      } catch (e: unknown) {
        if (!(e instanceof GraphError) || e.kind !== 'needs_reauth') throw e;
        return {
          type: 'USER',
          isValid: false,
          expiresAt: null,
          dataAccessExpiresAt: null,
          scopes: [],
          userId: null,
          profileId: null,
          appId: app.appId,
          checkedAt: now(),
          hash: tokenHash(token),
          error: { code: e.fbCode ?? 190, subcode: e.fbSubcode, message: e.humanMessage ?? e.message },
          issuedAt: null,
        };
      }
    },

    async extend(source, app) {
      const issuedAt = source.issuedAt ?? null;
      if (issuedAt !== null && now() < earliestRefreshAt(issuedAt)) {
        throw new AppError(
          'refresh_too_early',
          `${label} refreshes a token only once it is 24 hours old; this one may be refreshed from ${new Date(earliestRefreshAt(issuedAt)).toISOString()}`,
          { details: { earliest_refresh_at: new Date(earliestRefreshAt(issuedAt)).toISOString() } },
        );
      }
      return refreshVerified(source.token, app, source.info.userId);
    },

    async exchangeShortLived(token, app) {
      await spec.checkApp?.(app);
      try {
        return await verified(await spec.exchange(token, app), app, null);
      } catch (e: unknown) {
        if (!isRefusal(e)) throw e;
      }
      // Not exchangeable: a long-lived token was given (the App Dashboard hands those out). Keep it
      // with the expiry the platform tells (Threads' debug_token)…
      const look = await spec.look(token, app);
      if (look.expiresAt !== null) {
        return {
          token,
          info: infoOf(token, app, look, look.expiresAt, look.issuedAt ?? now()),
          issuedAt: look.issuedAt ?? now(),
        };
      }
      // …or, where nothing tells the expiry (Instagram), refresh it now to learn it from `expires_in`.
      try {
        return await refreshVerified(token, app, look.userId);
      } catch (e: unknown) {
        if (!(e instanceof AppError) || e.code !== 'refresh_refused') throw e;
        // Alive but refused: issued within the last 24 hours, so its 60 days end no earlier than
        // 59 days from now. The lower bound only makes the keeper refresh early, never late.
        const issuedAt = now();
        const expiresAt = issuedAt + DOCUMENTED_LIFETIME_MS - REFRESH_MIN_AGE_MS;
        return { token, info: infoOf(token, app, look, expiresAt, issuedAt), issuedAt };
      }
    },

    async listChildren(source, app): Promise<ChildAccount[]> {
      const look = await spec.look(source, app);
      return [{ id: look.userId, name: look.username, canPost: true, granted: true }];
    },

    async mintChild(childId, source, app) {
      const look = await spec.look(source, app);
      if (look.userId !== childId) {
        throw new AppError(
          'token_wrong_page',
          `This ${label} token belongs to account ${look.userId}, not ${childId}: a ${label} token reaches only its own account.`,
          { details: { account_id: look.userId } },
        );
      }
      return {
        token: source,
        info: infoOf(source, app, look, look.expiresAt, look.issuedAt),
        name: look.username,
      };
    },

    loginUrl: (options) => spec.loginUrl(options),

    async exchangeCode(code, redirectUri, app) {
      await spec.checkApp?.(app);
      const short = await spec.redeemCode(code, redirectUri, app);
      return verified(await spec.exchange(short, app), app, null);
    },
  };
  return provider;
}
