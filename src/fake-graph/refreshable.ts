/**
 * The emulator's model of the two Meta platforms whose long-lived tokens really can be refreshed:
 * the Instagram API with Instagram Login and the Threads API (docs/FACEBOOK.md#instagram-login-tokens,
 * docs/FACEBOOK.md#threads-tokens). They share one set of rules, so one model serves both; what
 * differs (names, token look, error bodies, the fields of `/me`) is a `PlatformRules` object in
 * instagram.ts and threads.ts.
 *
 * The shared rules, as Meta documents them:
 * - a Login code (one use, 1 hour) → a short-lived token (1 hour);
 * - short-lived → long-lived (`*_exchange_token`, authenticated by the app secret): 60 days,
 *   `expires_in` in the answer;
 * - refresh (`*_refresh_token`): only a long-lived token at least 24 hours old and not expired,
 *   with the platform's basic permission; the answer is valid for 60 days from the refresh; the
 *   token string may or may not change (a switch);
 * - expiry is final: an expired token is refused everywhere, a person must log in again;
 * - events on the person (checkpoint, password change, app removed) kill the tokens issued before.
 *
 * No HTTP here (platform-http.ts routes onto these methods); failures are `GraphFailure`s with the
 * platform's own bodies.
 */
import { randomBytes } from 'node:crypto';
import { type Clock, DAY, HOUR } from '../clock.js';
import { ControlError, type GraphFailure, randomId } from './state.js';

export const REFRESHABLE_PLATFORMS = ['instagram', 'threads'] as const;
export type RefreshablePlatform = (typeof REFRESHABLE_PLATFORMS)[number];

/** Short-lived tokens and Login codes: 1 hour. */
export const PLATFORM_SHORT_LIVED_MS = HOUR;
/** Long-lived and refreshed tokens: 60 days (`expires_in` 5184000). */
export const PLATFORM_LONG_LIVED_MS = 60 * DAY;
/** A token younger than this cannot be refreshed. */
export const REFRESH_MIN_AGE_MS = DAY;
export const PLATFORM_CODE_TTL_MS = HOUR;

/** Why a token stopped working before its expiry. */
export const PLATFORM_EVENTS = ['checkpoint', 'password_changed', 'app_removed', 'revoked'] as const;
export type PlatformEvent = (typeof PLATFORM_EVENTS)[number];

/** Why a request's token does not work: unknown, expired, or an event. */
export type DeadReason = 'unknown' | 'expired' | PlatformEvent;

export interface PlatformAppRecord {
  appId: string;
  appSecret: string;
  name: string;
  /**
   * The Facebook app id of the same Meta app: an app with the Threads use case has two app ids and
   * two secrets, and Threads takes only its own (https://developers.facebook.com/docs/threads/get-started).
   */
  facebookAppId: string | null;
}

export interface PlatformAccountRecord {
  /** The professional account / profile id (`user_id`). */
  id: string;
  username: string;
  name: string;
}

export interface PlatformTokenRecord {
  token: string;
  appId: string;
  accountId: string;
  lifetime: 'short' | 'long';
  issuedAt: number;
  expiresAt: number;
  scopes: string[];
  /** Issue order: events apply to tokens issued before them. */
  seq: number;
  revoked: PlatformEvent | null;
}

interface AccountEvent {
  seq: number;
  accountId: string;
  event: PlatformEvent;
  /** app_removed: only this app's tokens. */
  appId?: string;
}

interface PlatformCode {
  appId: string;
  redirectUri: string;
  accountId: string;
  scopes: string[];
  expiresAt: number;
  used: boolean;
}

/** What differs between Instagram Login and Threads. */
export interface PlatformRules {
  platform: RefreshablePlatform;
  /** For people: "Instagram", "Threads". */
  label: string;
  tokenPrefix: string;
  exchangeGrant: 'ig_exchange_token' | 'th_exchange_token';
  refreshGrant: 'ig_refresh_token' | 'th_refresh_token';
  /** Refresh needs this permission (instagram_business_basic, threads_basic). */
  basicScope: string;
  defaultScopes: readonly string[];
  /** The answer for a token that does not work (as `access_token` of a call). */
  deadToken(
    reason: DeadReason,
    ctx: { expiresAt: number | null; now: number; accountId: string | null },
  ): GraphFailure;
  /** The refresh refused for a token that is alive but younger than 24 hours. */
  tooYoung(): GraphFailure;
  /** The refresh refused for a short-lived token (exchange it first). */
  notRefreshable(): GraphFailure;
  /** Exchange refused: not a short-lived token. */
  notExchangeable(): GraphFailure;
  /** The refresh without the basic permission. */
  missingScope(): GraphFailure;
  /** A wrong app secret on exchange or code redemption. */
  badSecret(): GraphFailure;
  /** A client_id that is not an app of this platform; `facebook` when it is a Facebook app id. */
  badAppId(kind: 'unknown' | 'facebook'): GraphFailure;
  /** Code redemption failures. */
  badCode(why: 'invalid' | 'used' | 'expired' | 'redirect_uri'): GraphFailure;
  /** `/me` for an account, with the fields asked for. */
  me(account: PlatformAccountRecord, fields: readonly string[]): Record<string, unknown>;
}

export type PlatformTokenStatus = {
  valid: boolean;
  lifetime: 'short' | 'long' | null;
  issuedAt: number | null;
  expiresAt: number | null;
  reason: DeadReason | null;
};

export class RefreshableWorld {
  readonly apps = new Map<string, PlatformAppRecord>();
  readonly accounts = new Map<string, PlatformAccountRecord>();
  readonly tokens = new Map<string, PlatformTokenRecord>();
  private readonly events: AccountEvent[] = [];
  private readonly codes = new Map<string, PlatformCode>();
  private seq = 0;
  /**
   * Whether a refresh answers a new token string (true, as Meta's sample answers show) or the same
   * string with a new expiry (false; field reports, jsmrtn/craftagram#62). A keeper must store what
   * comes back either way.
   */
  refreshChangesToken = true;
  /** The account the Login dialog offers first. */
  dialogAccount: string | null = null;

  constructor(
    readonly rules: PlatformRules,
    private readonly clock: Clock,
    /** Facebook app ids, for the "that is a Facebook app id" refusal. */
    private readonly isFacebookApp: (appId: string) => boolean,
  ) {}

  // ---- world ---------------------------------------------------------------------------------

  createApp(
    o: { appId?: string; appSecret?: string; name?: string; facebookAppId?: string } = {},
  ): PlatformAppRecord {
    const app: PlatformAppRecord = {
      appId: o.appId ?? randomId(),
      appSecret: o.appSecret ?? randomBytes(16).toString('hex'),
      name: o.name ?? `Test ${this.rules.label} app`,
      facebookAppId: o.facebookAppId ?? null,
    };
    if (this.apps.has(app.appId)) throw new ControlError(`${this.rules.platform} app ${app.appId} exists`);
    this.apps.set(app.appId, app);
    return { ...app };
  }

  createAccount(o: { id?: string; username?: string; name?: string } = {}): PlatformAccountRecord {
    const id = o.id ?? randomId();
    const account = { id, username: o.username ?? `user_${id.slice(-6)}`, name: o.name ?? 'Test Account' };
    if (this.accounts.has(id)) throw new ControlError(`${this.rules.platform} account ${id} exists`);
    this.accounts.set(id, account);
    return { ...account };
  }

  /** A token as the App Dashboard or a login would hand it out (control API). */
  issueToken(o: {
    appId: string;
    accountId: string;
    lifetime: 'short' | 'long';
    scopes?: readonly string[];
  }): string {
    this.app(o.appId);
    this.account(o.accountId);
    return this.issue(o.appId, o.accountId, o.lifetime, o.scopes ?? this.rules.defaultScopes).token;
  }

  /** An event on the person: every token of the account issued before now stops working. */
  event(accountId: string, event: PlatformEvent, appId?: string): void {
    this.account(accountId);
    if (appId !== undefined) this.app(appId);
    this.events.push({ seq: ++this.seq, accountId, event, ...(appId === undefined ? {} : { appId }) });
  }

  /** One token, revoked (the person removed the app's access for this token only, or Meta killed it). */
  invalidateToken(token: string, event: PlatformEvent = 'revoked'): void {
    const rec = this.tokens.get(token);
    if (!rec) throw new ControlError(`unknown ${this.rules.platform} token`);
    rec.revoked = event;
  }

  tokenStatus(token: string): PlatformTokenStatus {
    const rec = this.tokens.get(token);
    if (!rec) return { valid: false, lifetime: null, issuedAt: null, expiresAt: null, reason: 'unknown' };
    const reason = this.deadReason(rec);
    return {
      valid: reason === null,
      lifetime: rec.lifetime,
      issuedAt: rec.issuedAt,
      expiresAt: rec.expiresAt,
      reason,
    };
  }

  // ---- token rules -------------------------------------------------------------------------------

  /** The token of a request, alive; else the platform's answer for a dead token. */
  authenticate(token: string | null): PlatformTokenRecord {
    const rec = token ? this.tokens.get(token) : undefined;
    const now = this.clock.now();
    if (!rec) throw this.rules.deadToken('unknown', { expiresAt: null, now, accountId: null });
    const reason = this.deadReason(rec);
    if (reason) {
      throw this.rules.deadToken(reason, { expiresAt: rec.expiresAt, now, accountId: rec.accountId });
    }
    return rec;
  }

  /** `GET /access_token?grant_type=*_exchange_token&client_secret&access_token=<short>`. */
  exchange(clientSecret: string | null, token: string | null): Record<string, unknown> {
    const rec = this.authenticate(token);
    if (this.app(rec.appId).appSecret !== clientSecret) throw this.rules.badSecret();
    if (rec.lifetime !== 'short') throw this.rules.notExchangeable();
    const fresh = this.issue(rec.appId, rec.accountId, 'long', rec.scopes);
    return this.tokenAnswer(fresh);
  }

  /** `GET /refresh_access_token?grant_type=*_refresh_token&access_token=<long-lived>`. */
  refresh(token: string | null): Record<string, unknown> {
    const rec = this.authenticate(token);
    if (rec.lifetime !== 'long') throw this.rules.notRefreshable();
    if (!rec.scopes.includes(this.rules.basicScope)) throw this.rules.missingScope();
    const now = this.clock.now();
    if (now - rec.issuedAt < REFRESH_MIN_AGE_MS) throw this.rules.tooYoung();
    if (this.refreshChangesToken) {
      return this.tokenAnswer(this.issue(rec.appId, rec.accountId, 'long', rec.scopes));
    }
    // The same string, 60 days from now (and the 24-hour minimum age counts from now).
    rec.issuedAt = now;
    rec.expiresAt = now + PLATFORM_LONG_LIVED_MS;
    return this.tokenAnswer(rec);
  }

  /** A client_id of this platform (not a Facebook app id). */
  clientApp(clientId: string | null): PlatformAppRecord {
    const app = clientId ? this.apps.get(clientId) : undefined;
    if (app) return app;
    throw this.rules.badAppId(clientId && this.isFacebookApp(clientId) ? 'facebook' : 'unknown');
  }

  /** `grant_type=client_credentials` (Threads: the app token `TH|app id|…`): checks the app id and secret. */
  appToken(clientId: string | null, clientSecret: string | null): Record<string, unknown> {
    const app = this.clientApp(clientId);
    if (app.appSecret !== clientSecret) throw this.rules.badSecret();
    return { access_token: `TH|${app.appId}|${randomBytes(12).toString('base64url')}`, token_type: 'bearer' };
  }

  /** The Login dialog's Continue: a one-time code for 1 hour. */
  createCode(appId: string, redirectUri: string, accountId: string, scopes: readonly string[]): string {
    this.app(appId);
    this.account(accountId);
    const code = `AQfake${randomBytes(24).toString('base64url')}`;
    this.codes.set(code, {
      appId,
      redirectUri,
      accountId,
      scopes: [...scopes],
      expiresAt: this.clock.now() + PLATFORM_CODE_TTL_MS,
      used: false,
    });
    return code;
  }

  /** `POST /oauth/access_token` with `grant_type=authorization_code` → a short-lived token. */
  redeemCode(q: URLSearchParams): PlatformTokenRecord {
    const app = this.clientApp(q.get('client_id'));
    if (app.appSecret !== q.get('client_secret')) throw this.rules.badSecret();
    const c = this.codes.get(q.get('code') ?? '');
    if (!c || c.appId !== app.appId) throw this.rules.badCode('invalid');
    if (c.used) throw this.rules.badCode('used');
    if (this.clock.now() >= c.expiresAt) throw this.rules.badCode('expired');
    if (c.redirectUri !== q.get('redirect_uri')) throw this.rules.badCode('redirect_uri');
    c.used = true;
    return this.issue(app.appId, c.accountId, 'short', c.scopes);
  }

  /** `/me`, with the token's account. */
  me(rec: PlatformTokenRecord, fields: readonly string[]): Record<string, unknown> {
    return this.rules.me(this.account(rec.accountId), fields);
  }

  /**
   * Threads' `debug_token`: the documented fields (`data_access_expires_at`, `expires_at`,
   * `issued_at`, `is_valid`, `scopes`, `type`, `user_id`). The caller's token must be alive and of
   * the same app; a dead input token answers `is_valid: false`.
   */
  debugToken(caller: PlatformTokenRecord, inputToken: string | null): { data: Record<string, unknown> } {
    const rec = inputToken ? this.tokens.get(inputToken) : undefined;
    if (!rec || rec.appId !== caller.appId) return { data: { is_valid: false, scopes: [] } };
    const secs = (ms: number) => Math.floor(ms / 1000);
    return {
      data: {
        type: 'USER',
        application: this.app(rec.appId).name,
        // Grants last 90 days.
        data_access_expires_at: secs(rec.issuedAt + 90 * DAY),
        expires_at: secs(rec.expiresAt),
        issued_at: secs(rec.issuedAt),
        is_valid: this.deadReason(rec) === null,
        scopes: rec.scopes,
        user_id: rec.accountId,
      },
    };
  }

  // ---- internals ---------------------------------------------------------------------------------

  private tokenAnswer(rec: PlatformTokenRecord): Record<string, unknown> {
    const now = this.clock.now();
    return {
      access_token: rec.token,
      token_type: 'bearer',
      expires_in: Math.max(0, Math.floor((rec.expiresAt - now) / 1000)),
    };
  }

  private issue(
    appId: string,
    accountId: string,
    lifetime: 'short' | 'long',
    scopes: readonly string[],
  ): PlatformTokenRecord {
    const now = this.clock.now();
    const rec: PlatformTokenRecord = {
      token: `${this.rules.tokenPrefix}${randomBytes(30).toString('base64url').replace(/[-_]/g, 'Z')}`,
      appId,
      accountId,
      lifetime,
      issuedAt: now,
      expiresAt: now + (lifetime === 'short' ? PLATFORM_SHORT_LIVED_MS : PLATFORM_LONG_LIVED_MS),
      scopes: [...scopes],
      seq: ++this.seq,
      revoked: null,
    };
    this.tokens.set(rec.token, rec);
    return rec;
  }

  private deadReason(rec: PlatformTokenRecord): DeadReason | null {
    if (rec.revoked) return rec.revoked;
    const ev = this.events.find(
      (e) =>
        e.accountId === rec.accountId && e.seq > rec.seq && (e.appId === undefined || e.appId === rec.appId),
    );
    if (ev) return ev.event;
    return this.clock.now() >= rec.expiresAt ? 'expired' : null;
  }

  app(appId: string): PlatformAppRecord {
    const a = this.apps.get(appId);
    if (!a) throw new ControlError(`unknown ${this.rules.platform} app ${appId}`);
    return a;
  }

  account(accountId: string): PlatformAccountRecord {
    const a = this.accounts.get(accountId);
    if (!a) throw new ControlError(`unknown ${this.rules.platform} account ${accountId}`);
    return a;
  }
}
