/**
 * The emulator's model of Facebook: apps, users, Pages and roles, system users, tokens with their
 * lifetimes, the events that invalidate tokens early, and Login-dialog codes. No HTTP here: the
 * routes in http.ts call these methods, which return response bodies or throw a `GraphFailure`
 * (Facebook's error envelope). Sections: docs/FACEBOOK.md.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { type Clock, DAY, HOUR, MINUTE } from '../clock.js';

export type TokenKind = 'USER' | 'PAGE' | 'SYSTEM_USER';

export interface AppRecord {
  appId: string;
  appSecret: string;
  name: string;
  /** Users in a developer role on the app (their user tokens may call debug_token, docs/FACEBOOK.md#debug_token). */
  developers: Set<string>;
  /**
   * The app's daily users, for its Platform rate limit ("200 * Number of Users" calls per rolling
   * hour, docs/EMULATOR.md "The call budget"). Absent or null: the budget is not modelled for this
   * app (usage reported, never throttled).
   */
  dailyUsers?: number | null;
}

export interface UserRecord {
  id: string;
  name: string;
}

export interface PageRecord {
  id: string;
  name: string;
  /** userId → tasks on the Page. */
  roles: Map<string, string[]>;
  posts: { id: string; message: string; at: number }[];
}

export interface SystemUserRecord {
  id: string;
  name: string;
  appId: string;
  pages: Set<string>;
}

export interface TokenRecord {
  token: string;
  kind: TokenKind;
  appId: string;
  /** The person behind USER tokens and Page tokens minted from them; null for system users. */
  userId: string | null;
  /** The system user behind SYSTEM_USER tokens and Page tokens minted from them. */
  systemUserId: string | null;
  pageId: string | null;
  lifetime: 'short' | 'long' | 'never';
  issuedAt: number;
  /** Epoch ms; null = never expires. */
  expiresAt: number | null;
  /** Epoch ms; null for system users (no person whose data access could lapse). */
  dataAccessExpiresAt: number | null;
  scopes: string[];
  /** The token this one was minted or exchanged from. */
  parent: string | null;
  /** Set by an explicit invalidation of this one token (and inherited by tokens minted from it). */
  revokedSubcode: number | null;
  /** Issue order: invalidation events apply to tokens issued before them, even within one clock tick. */
  seq: number;
}

/** A Facebook error envelope to send (docs/FACEBOOK.md#the-error-envelope). */
export class GraphFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly subcode: number | null = null,
    readonly type = 'OAuthException',
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }

  body(): { error: Record<string, unknown> } {
    return {
      error: {
        message: this.message,
        type: this.type,
        code: this.code,
        ...(this.subcode === null ? {} : { error_subcode: this.subcode }),
        ...this.extra,
        fbtrace_id: fbtraceId(),
      },
    };
  }
}

export function fbtraceId(): string {
  return `A${randomBytes(9).toString('base64url')}`;
}

/** Facebook's answer for an object the token cannot see (docs/FACEBOOK.md#sample-answers, S8 "Unsupported get request", subcode 33). */
export function noSuchObject(id: string, method: 'get' | 'post'): GraphFailure {
  return new GraphFailure(
    400,
    100,
    `Unsupported ${method} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
    33,
    'GraphMethodException',
  );
}

/** Misuse of the control API (unknown ids, wrong app): a 400 on `/__emulator/…`, never a Graph error. */
export class ControlError extends Error {}

/** Default scopes of issued user tokens: what the reconnect flow asks for, plus public_profile. */
export const DEFAULT_SCOPES: readonly string[] = [
  'pages_show_list',
  'pages_read_engagement',
  'pages_manage_posts',
  'business_management',
  'public_profile',
];
export const DEFAULT_TASKS: readonly string[] = [
  'ANALYZE',
  'ADVERTISE',
  'MODERATE',
  'CREATE_CONTENT',
  'MANAGE',
];
/**
 * The Page tasks that allow posting: "Your app user must be able to perform the CREATE_CONTENT,
 * MANAGE, and/or MODERATE tasks on the Page"
 * (https://developers.facebook.com/docs/pages-api/posts,
 * https://developers.facebook.com/docs/graph-api/reference/page/feed/).
 */
export const POSTING_TASKS: readonly string[] = ['CREATE_CONTENT', 'MANAGE', 'MODERATE'];
/**
 * Permissions whose data access does not expire after 90 days
 * (https://developers.facebook.com/docs/facebook-login/auth-vs-data).
 */
export const NON_EXPIRING_PERMISSIONS: readonly string[] = [
  'ads_read',
  'ads_management',
  'business_management',
  'configure_page_transactions',
  'pages_manage_ads',
  'pages_manage_cta',
  'pages_manage_instant_articles',
  'pages_manage_engagement',
  'pages_manage_metadata',
  'pages_manage_posts',
  'pages_messaging',
  'pages_read_engagement',
  'pages_read_user_content',
  'pages_show_list',
  'read_audience_network_insights',
  'read_insights',
];
/** docs/FACEBOOK.md#the-tokens, #short-lived-and-long-lived-user-tokens: short-lived user tokens live about an hour. */
export const SHORT_LIVED_MS = HOUR;
/** docs/FACEBOOK.md#short-lived-and-long-lived-user-tokens: long-lived = 60 days (`expires_in` 5184000 in the K8 fixture). */
export const LONG_LIVED_MS = 60 * DAY;
/** The WhatsApp API Setup panel's temporary token: "expires in less than 24 hours". */
export const WHATSAPP_TEMPORARY_MS = 23 * HOUR;
/** What a WhatsApp Cloud API token carries (docs/FACEBOOK.md#whatsapp-cloud-api-tokens). */
export const WHATSAPP_SCOPES = ['whatsapp_business_messaging', 'whatsapp_business_management'] as const;
/** docs/FACEBOOK.md#data-access-expires-after-90-days: data access expires 90 days after the user was last active. */
export const DATA_ACCESS_MS = 90 * DAY;
/** Login-dialog codes are valid for 10 minutes and one use. */
export const CODE_TTL_MS = 10 * MINUTE;
export const TOKEN_PREFIX = 'EAAfake';

/** Authentication subcodes with the messages Facebook sends (docs/FACEBOOK.md#codes-and-what-the-keeper-does, docs/FACEBOOK.md#what-goes-wrong-in-the-field, docs/FACEBOOK.md#sample-answers). */
const SUBCODE_MESSAGES: Record<
  number,
  (ctx: { userId: string | null; appId: string; pageId: string | null }) => string
> = {
  458: (c) =>
    `Error validating access token: User ${c.userId ?? 'unknown'} has not authorized application ${c.appId}.`,
  459: () =>
    'Error validating access token: You cannot access the app till you log in to www.facebook.com and follow the instructions given.',
  460: () =>
    'Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.',
  464: (c) =>
    `Error validating access token: Sessions for the user ${c.userId ?? 'unknown'} are not allowed because the user is not a confirmed user.`,
  467: () => 'Error validating access token: The session is invalid because the user logged out.',
  // docs/FACEBOOK.md#misread-errors: the person has not used the app for 90 days.
  493: () => "Error validating access token: The user hasn't engaged the app in longer than 90 days.",
  492: (c) =>
    `Error validating access token: The user ${c.userId ?? 'unknown'} does not have an appropriate role on the Page ${c.pageId ?? 'unknown'}.`,
};

/** A token revoked through `/oauth/revoke`: Facebook's generic "session has been invalidated". */
const REVOKED_SUBCODE = 466;

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** Facebook's date style in expiry messages: "Tuesday, 03-May-16 11:00:00 PDT" (here in UTC). */
function fbDate(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()]}, ${p(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${p(d.getUTCFullYear() % 100)} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} UTC`;
}

/** Numeric ids like Facebook's (15 digits). */
export function randomId(): string {
  return `${randomInt(1, 10)}${String(randomInt(0, 1e7)).padStart(7, '0')}${String(randomInt(0, 1e7)).padStart(7, '0')}`;
}

interface Invalidation {
  seq: number;
  userId: string;
  subcode: number;
  /** 458: only this app's tokens. */
  appId?: string;
  /** 492: only Page tokens for this Page. */
  pageId?: string;
}

interface LoginCode {
  appId: string;
  redirectUri: string;
  userId: string;
  scopes: string[];
  /** The Pages ticked in the dialog's Page picker (null: the picker did not apply). */
  pageIds: string[] | null;
  /** `auth_type=reauthorize`: the login renews expired data access. */
  reauthorize: boolean;
  expiresAt: number;
  used: boolean;
}

/**
 * What a user granted an app (one per user and app, as Facebook keeps it): the Pages selected in
 * the Login dialog's Page picker, and until when the app may access the user's data.
 */
export interface GrantRecord {
  /** null: every Page the user has a role on (tokens made through the control API). */
  pageIds: Set<string> | null;
  /** Epoch ms: 90 days after the user was last active in the app (docs/FACEBOOK.md#data-access-expires-after-90-days). */
  dataAccessExpiresAt: number;
}

export type TokenStatus = {
  valid: boolean;
  type: TokenKind | 'UNKNOWN';
  expiresAt: number | null;
  subcode: number | null;
};

export class FakeGraphState {
  readonly apps = new Map<string, AppRecord>();
  readonly users = new Map<string, UserRecord>();
  readonly pages = new Map<string, PageRecord>();
  readonly systemUsers = new Map<string, SystemUserRecord>();
  readonly tokens = new Map<string, TokenRecord>();
  private readonly invalidations: Invalidation[] = [];
  /**
   * Pages each user has a role on, kept beside `page.roles` so that listing a user's Pages (every
   * debug_token of a user token, every Page-token mint) does not scan every Page: with 100,000
   * Pages in a benchmark, that scan made the emulator, not the keeper, the bottleneck.
   */
  private readonly pagesByUser = new Map<string, Set<string>>();
  private readonly codes = new Map<string, LoginCode>();
  /** `${appId}:${userId}` → what the user granted the app. */
  readonly grants = new Map<string, GrantRecord>();
  private seq = 0;
  /** docs/FACEBOOK.md#re-exchanging-does-not-extend: false = re-exchanging a long-lived user token keeps its expiry (field reports); true = extends. */
  exchangeExtends = false;
  /**
   * Older docs and field reports (docs/FACEBOOK.md#page-tokens [S3][P1]): Page tokens expire with the user token they were
   * minted from. Off by default (current docs: no expiry); on, to test finite Page-token expiries.
   */
  pageTokensInheritExpiry = false;
  dialogUser: string | null = null;

  constructor(readonly clock: Clock) {}

  // ---- world ---------------------------------------------------------------------------------

  createApp(o: { appId?: string; appSecret?: string; name?: string } = {}): AppRecord {
    const app: AppRecord = {
      appId: o.appId ?? randomId(),
      appSecret: o.appSecret ?? randomBytes(16).toString('hex'),
      name: o.name ?? 'Test App',
      developers: new Set(),
    };
    if (this.apps.has(app.appId)) throw new ControlError(`app ${app.appId} exists`);
    this.apps.set(app.appId, app);
    return app;
  }

  createUser(o: { id?: string; name?: string } = {}): UserRecord {
    const user = { id: o.id ?? randomId(), name: o.name ?? 'Test User' };
    if (this.users.has(user.id)) throw new ControlError(`user ${user.id} exists`);
    this.users.set(user.id, user);
    return { ...user };
  }

  createPage(o: { id?: string; name?: string } = {}): { id: string; name: string } {
    const page: PageRecord = {
      id: o.id ?? randomId(),
      name: o.name ?? 'Test Page',
      roles: new Map(),
      posts: [],
    };
    if (this.pages.has(page.id)) throw new ControlError(`page ${page.id} exists`);
    this.pages.set(page.id, page);
    return { id: page.id, name: page.name };
  }

  grantRole(userId: string, pageId: string, tasks: readonly string[] = DEFAULT_TASKS): void {
    this.user(userId);
    this.page(pageId).roles.set(userId, [...tasks]);
    let pages = this.pagesByUser.get(userId);
    if (!pages) this.pagesByUser.set(userId, (pages = new Set()));
    pages.add(pageId);
  }

  /** docs/FACEBOOK.md#tokens-die-early: losing the Page role invalidates that user's Page tokens for the Page (190/492). */
  removeRole(userId: string, pageId: string): void {
    this.page(pageId).roles.delete(userId);
    this.pagesByUser.get(userId)?.delete(pageId);
    this.invalidations.push({ seq: ++this.seq, userId, subcode: 492, pageId });
  }

  /** docs/FACEBOOK.md#system-user-tokens: a system user of the app's Business Manager, with a role on some Pages. */
  createSystemUser(o: { appId: string; pages?: readonly string[]; name?: string }): {
    id: string;
    name: string;
  } {
    this.app(o.appId);
    for (const p of o.pages ?? []) this.page(p);
    const su = {
      id: randomId(),
      name: o.name ?? 'System User',
      appId: o.appId,
      pages: new Set(o.pages ?? []),
    };
    this.systemUsers.set(su.id, su);
    return { id: su.id, name: su.name };
  }

  /** Control API: the app's daily users (its call budget); null: not budgeted. */
  setAppUsers(appId: string, users: number | null): void {
    if (users !== null && (!Number.isInteger(users) || users < 1)) {
      throw new ControlError('users must be a whole number of at least 1, or null');
    }
    this.app(appId).dailyUsers = users;
  }

  // ---- grants --------------------------------------------------------------------------------

  /** The user's grant to the app, made on first use (every Page, 90 days of data access). */
  grant(appId: string, userId: string): GrantRecord {
    const key = `${appId}:${userId}`;
    let g = this.grants.get(key);
    if (!g) {
      g = { pageIds: null, dataAccessExpiresAt: this.clock.now() + DATA_ACCESS_MS };
      this.grants.set(key, g);
    }
    return g;
  }

  /** The Pages the user's last Login ticked for this app; null when the picker never ran. */
  selectedPages(appId: string, userId: string): string[] | null {
    const g = this.grants.get(`${appId}:${userId}`);
    return g?.pageIds ? [...g.pageIds] : null;
  }

  /** Control API: set the Pages a user granted an app, as if picked in the Login dialog. */
  selectPages(appId: string, userId: string, pageIds: readonly string[]): void {
    this.app(appId);
    this.user(userId);
    for (const p of pageIds) this.page(p);
    this.grant(appId, userId).pageIds = new Set(pageIds);
  }

  /** Control API: end (or move) the user's data access for the app, e.g. to now. */
  setDataAccessExpiry(appId: string, userId: string, at: number): void {
    this.app(appId);
    this.user(userId);
    this.grant(appId, userId).dataAccessExpiresAt = at;
  }

  /** Whether the user granted this app the Page (the picker); system users reach theirs. */
  granted(rec: TokenRecord, pageId: string): boolean {
    if (rec.kind !== 'USER' || rec.userId === null) return true;
    const ids = this.grants.get(`${rec.appId}:${rec.userId}`)?.pageIds;
    return !ids || ids.has(pageId);
  }

  /** A user's tasks on a Page ([] without a role); a system user's, in full. */
  tasksOf(rec: TokenRecord, page: PageRecord): string[] {
    if (rec.systemUserId !== null && rec.userId === null) {
      return this.systemUsers.get(rec.systemUserId)?.pages.has(page.id) ? [...DEFAULT_TASKS] : [];
    }
    return [...(page.roles.get(rec.userId ?? '') ?? [])];
  }

  /** Data access of a person's token: their grant's deadline (docs/FACEBOOK.md#data-access-expires-after-90-days); null for system users. */
  dataAccessOf(rec: TokenRecord): number | null {
    if (rec.userId === null) return null;
    return this.grants.get(`${rec.appId}:${rec.userId}`)?.dataAccessExpiresAt ?? rec.dataAccessExpiresAt;
  }

  /**
   * docs/FACEBOOK.md#data-access-expires-after-90-days: after data access expires the user is still authenticated but the app "can't access
   * their data", except through the permissions that do not expire, which include every `pages_*`
   * permission the keeper uses (https://developers.facebook.com/docs/facebook-login/auth-vs-data).
   * The emulator refuses reading the person's own fields (e.g. `/me?fields=name`) with a USER token.
   */
  requireDataAccess(rec: TokenRecord, permission: string): void {
    if (rec.kind !== 'USER' || NON_EXPIRING_PERMISSIONS.includes(permission)) return;
    const until = this.dataAccessOf(rec);
    if (until !== null && this.clock.now() >= until) {
      throw new GraphFailure(
        400,
        200,
        `(#200) Data access for this app has expired: the user must re-authorize the app (auth_type=reauthorize) before it can read their data again.`,
      );
    }
  }

  // ---- tokens --------------------------------------------------------------------------------

  private issue(
    rec: Omit<TokenRecord, 'token' | 'issuedAt' | 'seq' | 'revokedSubcode' | 'dataAccessExpiresAt'>,
  ): TokenRecord {
    const now = this.clock.now();
    const full: TokenRecord = {
      ...rec,
      token: `${TOKEN_PREFIX}${rec.kind[0]}${randomBytes(30).toString('base64url').replace(/[-_]/g, 'Z')}`,
      issuedAt: now,
      seq: ++this.seq,
      revokedSubcode: null,
      // docs/FACEBOOK.md#data-access-expires-after-90-days: a person's tokens share their grant's data access (90 days from last activity).
      dataAccessExpiresAt: rec.userId === null ? null : this.grant(rec.appId, rec.userId).dataAccessExpiresAt,
    };
    this.tokens.set(full.token, full);
    return full;
  }

  /** A person's own token of an app (a USER token made from no other), valid for `validMs`. */
  private issuePersonToken(
    o: { appId: string; userId: string; lifetime: 'short' | 'long'; scopes: readonly string[] },
    validMs: number,
  ): string {
    this.app(o.appId);
    this.user(o.userId);
    return this.issue({
      kind: 'USER',
      appId: o.appId,
      userId: o.userId,
      systemUserId: null,
      pageId: null,
      lifetime: o.lifetime,
      expiresAt: this.clock.now() + validMs,
      scopes: [...o.scopes],
      parent: null,
    }).token;
  }

  /** docs/FACEBOOK.md#the-tokens: short-lived (~1 h, from Login) or long-lived (60 days, after the exchange). */
  issueUserToken(o: {
    appId: string;
    userId: string;
    lifetime: 'short' | 'long';
    scopes?: readonly string[];
  }): string {
    return this.issuePersonToken(
      { ...o, scopes: o.scopes ?? DEFAULT_SCOPES },
      o.lifetime === 'short' ? SHORT_LIVED_MS : LONG_LIVED_MS,
    );
  }

  /**
   * docs/FACEBOOK.md#whatsapp-cloud-api-tokens: the temporary token on the App Dashboard's WhatsApp
   * "API Setup" panel — the developer's own user token with the WhatsApp permissions, expiring in
   * less than 24 hours (23 h here) and never renewed.
   */
  issueWhatsAppTemporaryToken(o: { appId: string; userId: string }): string {
    return this.issuePersonToken({ ...o, lifetime: 'short', scopes: WHATSAPP_SCOPES }, WHATSAPP_TEMPORARY_MS);
  }

  /** docs/FACEBOOK.md#system-user-tokens: non-expiring, or 60 days (`set_token_expires_in_60_days`). */
  issueSystemUserToken(o: {
    appId: string;
    systemUserId: string;
    expiring?: boolean;
    scopes?: readonly string[];
  }): string {
    const su = this.systemUsers.get(o.systemUserId);
    if (!su) throw new ControlError(`unknown system user ${o.systemUserId}`);
    if (su.appId !== o.appId) {
      throw new ControlError(`system user ${su.id} belongs to app ${su.appId}, not ${o.appId}`);
    }
    const expiring = o.expiring === true;
    return this.issue({
      kind: 'SYSTEM_USER',
      appId: o.appId,
      userId: null,
      systemUserId: su.id,
      pageId: null,
      lifetime: expiring ? 'long' : 'never',
      expiresAt: expiring ? this.clock.now() + LONG_LIVED_MS : null,
      scopes: [...(o.scopes ?? DEFAULT_SCOPES)],
      parent: null,
    }).token;
  }

  /** docs/FACEBOOK.md#tokens-die-early / docs/FACEBOOK.md#codes-and-what-the-keeper-does events on a person: every token issued before the event stops working. */
  changePassword(userId: string): void {
    this.userEvent(userId, 460);
  }
  logout(userId: string): void {
    this.userEvent(userId, 467);
  }
  checkpoint(userId: string): void {
    this.userEvent(userId, 459);
  }
  /** The person has not used the app for 90 days: their tokens fail with 190/493 (docs/FACEBOOK.md#misread-errors). */
  inactive90Days(userId: string): void {
    this.userEvent(userId, 493);
  }
  /** The user removed the app (de-authorisation): that app's tokens only. A new login re-authorises. */
  removeApp(userId: string, appId: string): void {
    this.user(userId);
    this.invalidations.push({ seq: ++this.seq, userId, subcode: 458, appId });
  }
  /** One token (and tokens minted from it) invalidated with any subcode, e.g. 464 or 467. */
  invalidateToken(token: string, subcode = 467): void {
    const rec = this.tokens.get(token);
    if (!rec) throw new ControlError('unknown token');
    rec.revokedSubcode = subcode;
  }

  /**
   * docs/FACEBOOK.md#rotating-an-expiring-system-user-token: `GET /oauth/revoke`. The caller (a
   * valid token of the same app) revokes `revokeToken`, which must belong to the app the client
   * id and secret name; the invalidation is immediate, and reaches the Page tokens minted from it.
   * A token that no longer works answers its own 190 (a second revoke is refused, not repeated).
   */
  revoke(app: AppRecord, caller: string, revokeToken: string | undefined): { success: string } {
    const { rec: callerRec, app: callerApp } = this.authenticate(caller);
    if (callerApp.appId !== app.appId || (callerRec !== null && callerRec.appId !== app.appId)) {
      throw new GraphFailure(400, 100, `(#100) The access token does not belong to application ${app.appId}`);
    }
    if (callerRec) this.requireValid(callerRec);
    if (!revokeToken) throw new GraphFailure(400, 100, '(#100) The parameter revoke_token is required');
    const rec = this.tokens.get(revokeToken);
    if (!rec) throw new GraphFailure(400, 190, 'Invalid OAuth access token - Cannot parse access token');
    if (rec.appId !== app.appId) {
      throw new GraphFailure(
        400,
        100,
        `(#100) The token to revoke does not belong to application ${app.appId}`,
      );
    }
    this.requireValid(rec);
    rec.revokedSubcode = REVOKED_SUBCODE;
    return { success: 'true' };
  }

  private userEvent(userId: string, subcode: number): void {
    this.user(userId);
    this.invalidations.push({ seq: ++this.seq, userId, subcode });
  }

  /** Why a token does not work now (a 190 failure with subcode), or null when it does. */
  failureOf(rec: TokenRecord): GraphFailure | null {
    const fail = (subcode: number) =>
      new GraphFailure(
        400,
        190,
        SUBCODE_MESSAGES[subcode]?.({ userId: rec.userId, appId: rec.appId, pageId: rec.pageId }) ??
          'Error validating access token: The session has been invalidated.',
        subcode,
      );
    // Explicit revocation of this token or of the token it came from.
    for (let r: TokenRecord | undefined = rec; r; r = r.parent ? this.tokens.get(r.parent) : undefined) {
      if (r.revokedSubcode !== null) return fail(r.revokedSubcode);
    }
    // Events on the person (system-user tokens survive them: docs/FACEBOOK.md#system-user-tokens "remain valid through changes in personal accounts").
    if (rec.userId !== null) {
      const ev = this.invalidations.find(
        (e) =>
          e.userId === rec.userId &&
          e.seq > rec.seq &&
          (e.appId === undefined || e.appId === rec.appId) &&
          (e.pageId === undefined || (rec.kind === 'PAGE' && rec.pageId === e.pageId)),
      );
      if (ev) return fail(ev.subcode);
    }
    // docs/FACEBOOK.md#short-lived-and-long-lived-user-tokens / docs/FACEBOOK.md#what-goes-wrong-in-the-field item 1: expired.
    const now = this.clock.now();
    if (rec.expiresAt !== null && now >= rec.expiresAt) {
      return new GraphFailure(
        400,
        190,
        `Error validating access token: Session has expired on ${fbDate(rec.expiresAt)}. The current time is ${fbDate(now)}.`,
        463,
      );
    }
    return null;
  }

  tokenStatus(token: string): TokenStatus {
    const rec = this.tokens.get(token);
    if (!rec) return { valid: false, type: 'UNKNOWN', expiresAt: null, subcode: null };
    const f = this.failureOf(rec);
    return { valid: f === null, type: rec.kind, expiresAt: rec.expiresAt, subcode: f?.subcode ?? null };
  }

  /**
   * Who an `access_token` is: an app (app token `id|secret`, docs/FACEBOOK.md#app-tokens) or a known token. Unknown tokens
   * get Facebook's 190 without subcode; a string that is not token-shaped is echoed back in the
   * message as Facebook does ("Malformed access token …"), which the client must scrub.
   */
  authenticate(accessToken: string): { app: AppRecord; rec: TokenRecord | null } {
    const bar = accessToken.indexOf('|');
    if (bar > 0) {
      const app = this.apps.get(accessToken.slice(0, bar));
      if (!app || app.appSecret !== accessToken.slice(bar + 1)) {
        throw new GraphFailure(400, 190, 'Invalid OAuth access token signature.');
      }
      return { app, rec: null };
    }
    const rec = this.tokens.get(accessToken);
    if (!rec) {
      if (!accessToken.startsWith('EAA')) {
        throw new GraphFailure(400, 190, `Malformed access token ${accessToken}`);
      }
      throw new GraphFailure(400, 190, 'Invalid OAuth access token - Cannot parse access token');
    }
    return { app: this.app(rec.appId), rec };
  }

  /** The token must be valid now; else its 190 failure. */
  requireValid(rec: TokenRecord): void {
    const f = this.failureOf(rec);
    if (f) throw f;
  }

  // ---- Graph operations ----------------------------------------------------------------------

  /**
   * docs/FACEBOOK.md#debug_token (https://developers.facebook.com/docs/graph-api/reference/debug_token): the full documented
   * shape; an invalid input token answers inside `data`. An app token answers `type: APP`
   * (https://developers.facebook.com/docs/facebook-login/guides/%20access-tokens/debugging). A
   * token of another app answers, inside `data`, "The App_id in the input_token did not match the
   * Viewing App" (Facebook's wording, reported by developers; the exact envelope is unverified).
   */
  debugToken(caller: AppRecord, inputToken: string | undefined): { data: Record<string, unknown> } {
    if (!inputToken) throw new GraphFailure(400, 100, '(#100) The parameter input_token is required');
    const bar = inputToken.indexOf('|');
    if (bar > 0) {
      const app = this.apps.get(inputToken.slice(0, bar));
      if (app && app.appSecret === inputToken.slice(bar + 1)) {
        if (app.appId !== caller.appId) return { data: this.viewingAppMismatch() };
        return {
          data: { app_id: app.appId, type: 'APP', application: app.name, is_valid: true, scopes: [] },
        };
      }
    }
    const rec = this.tokens.get(inputToken);
    if (!rec) {
      return {
        data: { error: { code: 190, message: 'Invalid OAuth access token.' }, is_valid: false, scopes: [] },
      };
    }
    // docs/FACEBOOK.md#debug_token: "The tokens must be from the same app."
    if (rec.appId !== caller.appId) return { data: this.viewingAppMismatch() };
    const f = this.failureOf(rec);
    const secs = (ms: number | null) => (ms === null ? 0 : Math.floor(ms / 1000));
    // granular_scopes: "If permission applies to all, targets will not be shown" (docs/FACEBOOK.md#debug_token); a user
    // token lists the Pages picked in the Login dialog, a Page token its Page.
    const targets = rec.kind === 'PAGE' ? [rec.pageId!] : this.reachablePages(rec).map((p) => p.id);
    const data: Record<string, unknown> = {
      app_id: rec.appId,
      type: rec.kind,
      application: caller.name,
      data_access_expires_at: secs(this.dataAccessOf(rec)),
      expires_at: secs(rec.expiresAt),
      is_valid: f === null,
      scopes: rec.scopes,
      granular_scopes: rec.scopes
        .filter((s) => s !== 'public_profile')
        .map((scope) =>
          scope.startsWith('pages_') && targets.length > 0 ? { scope, target_ids: targets } : { scope },
        ),
      user_id: rec.userId ?? rec.systemUserId,
    };
    // docs/FACEBOOK.md#short-lived-and-long-lived-user-tokens: issued_at only for long-lived tokens.
    if (rec.lifetime !== 'short') data.issued_at = secs(rec.issuedAt);
    // docs/FACEBOOK.md#debug_token: profile_id is the Page for Page tokens.
    if (rec.kind === 'PAGE') data.profile_id = rec.pageId;
    if (f) data.error = { code: f.code, message: f.message, subcode: f.subcode };
    return { data };
  }

  private viewingAppMismatch(): Record<string, unknown> {
    return {
      error: { code: 190, message: 'The App_id in the input_token did not match the Viewing App' },
      is_valid: false,
      scopes: [],
    };
  }

  /**
   * docs/FACEBOOK.md#debug_token: who may call debug_token: "An app access token or an app developer's user access token
   * for the app associated with the input_token". Anything else is Facebook's #100.
   */
  debugCaller(app: AppRecord, rec: TokenRecord | null): AppRecord {
    if (rec === null) return app;
    if (rec.kind === 'USER' && rec.userId !== null && app.developers.has(rec.userId)) {
      this.requireValid(rec);
      return app;
    }
    throw new GraphFailure(
      400,
      100,
      '(#100) You must provide an app access token, or a user access token that is an owner or developer of the app',
    );
  }

  /** `/oauth/access_token` authentication by client_id + client_secret. */
  clientApp(clientId: string | undefined, clientSecret: string | undefined): AppRecord {
    const app = clientId ? this.apps.get(clientId) : undefined;
    if (!app) throw new GraphFailure(400, 101, 'Error validating application. Invalid application ID.');
    // Facebook really answers a wrong secret with code 1 (php-graph-sdk#538).
    if (app.appSecret !== clientSecret) throw new GraphFailure(400, 1, 'Error validating client secret.');
    return app;
  }

  /**
   * docs/FACEBOOK.md#exchanging-for-a-long-lived-token, #re-exchanging-does-not-extend, #system-user-tokens: `grant_type=fb_exchange_token`.
   * - short-lived user token → new long-lived (60 days);
   * - long-lived user token → NEW string with the SAME expiry (or now+60 d with `exchangeExtends`);
   * - expired/invalidated → its 190 failure (docs/FACEBOOK.md#what-goes-wrong-in-the-field item 1: "You can not use an expired token");
   * - Page token → #100 (docs/FACEBOOK.md#what-this-means-for-a-token-keeper: never exchange a Page token);
   * - system-user token: with `set_token_expires_in_60_days=true` → 60 days from now (also for a
   *   non-expiring one: the downgrade of docs/FACEBOOK.md#what-this-means-for-a-token-keeper/[I21]); an expiring one without the flag → #100.
   */
  exchange(app: AppRecord, token: string | undefined, sixtyDays: boolean): Record<string, unknown> {
    if (!token) throw new GraphFailure(400, 100, 'Missing fb_exchange_token parameter');
    const { rec } = this.authenticate(token);
    if (!rec) throw new GraphFailure(400, 100, '(#100) fb_exchange_token must be a user access token');
    if (rec.appId !== app.appId) {
      throw new GraphFailure(400, 100, `(#100) The access token does not belong to application ${app.appId}`);
    }
    this.requireValid(rec);
    if (rec.kind === 'PAGE') {
      throw new GraphFailure(
        400,
        100,
        '(#100) A Page access token cannot be exchanged: fb_exchange_token must be a user access token',
      );
    }
    const now = this.clock.now();
    let expiresAt: number | null;
    if (rec.kind === 'SYSTEM_USER') {
      if (sixtyDays) expiresAt = now + LONG_LIVED_MS;
      else if (rec.expiresAt === null) expiresAt = null;
      else {
        throw new GraphFailure(
          400,
          100,
          '(#100) set_token_expires_in_60_days must be true to refresh an expiring system user access token',
        );
      }
    } else if (rec.lifetime === 'short' || this.exchangeExtends) {
      expiresAt = now + LONG_LIVED_MS;
    } else {
      expiresAt = rec.expiresAt;
    }
    const fresh = this.issue({
      kind: rec.kind,
      appId: rec.appId,
      userId: rec.userId,
      systemUserId: rec.systemUserId,
      pageId: null,
      lifetime: expiresAt === null ? 'never' : 'long',
      expiresAt,
      scopes: rec.scopes,
      parent: null,
    });
    const body: Record<string, unknown> = { access_token: fresh.token, token_type: 'bearer' };
    if (expiresAt !== null) body.expires_in = Math.max(0, Math.floor((expiresAt - now) / 1000));
    return body;
  }

  /** Pages a user or system-user token can act on. */
  reachablePages(rec: TokenRecord): PageRecord[] {
    const ids =
      rec.kind === 'SYSTEM_USER'
        ? this.systemUsers.get(rec.systemUserId ?? '')?.pages
        : rec.kind === 'USER'
          ? this.pagesByUser.get(rec.userId ?? '')
          : undefined;
    const pages: PageRecord[] = [];
    for (const id of ids ?? []) {
      const page = this.pages.get(id);
      if (page && this.granted(rec, id)) pages.push(page);
    }
    return pages;
  }

  /**
   * `/me/accounts`: every Page the user has a role on; the ones not ticked in the Login dialog's
   * Page picker come back without an `access_token` (field reports: postiz-app PRs #1679/#1719).
   */
  accountPages(rec: TokenRecord): { page: PageRecord; granted: boolean }[] {
    if (rec.kind !== 'USER') return this.reachablePages(rec).map((page) => ({ page, granted: true }));
    const out: { page: PageRecord; granted: boolean }[] = [];
    for (const id of this.pagesByUser.get(rec.userId ?? '') ?? []) {
      const page = this.pages.get(id);
      if (page) out.push({ page, granted: this.granted(rec, id) });
    }
    return out;
  }

  /** Whether a user or system-user token can act on this Page (without listing every Page). */
  private canReach(rec: TokenRecord, page: PageRecord): boolean {
    if (rec.kind === 'SYSTEM_USER') {
      return this.systemUsers.get(rec.systemUserId ?? '')?.pages.has(page.id) ?? false;
    }
    if (rec.kind === 'USER') return page.roles.has(rec.userId ?? '');
    return false;
  }

  /**
   * docs/FACEBOOK.md#page-tokens / docs/FACEBOOK.md#minting-the-page-token: a Page token for a Page the token's user (or system user) has a role on. From a
   * long-lived user token or a system user it never expires (`expires_at: 0`); from a short-lived
   * user token it inherits the 1-hour expiry and dies with it ([I22]).
   */
  mintPageToken(rec: TokenRecord, pageId: string): TokenRecord {
    const page = this.pages.get(pageId);
    if (!page || !this.canReach(rec, page)) throw noSuchObject(pageId, 'get');
    if (!this.granted(rec, pageId)) throw new ControlError(`page ${pageId} was not granted`);
    const never = rec.kind === 'SYSTEM_USER' || (rec.lifetime !== 'short' && !this.pageTokensInheritExpiry);
    return this.issue({
      kind: 'PAGE',
      appId: rec.appId,
      userId: rec.userId,
      systemUserId: rec.systemUserId,
      pageId,
      lifetime: never ? 'never' : rec.lifetime,
      expiresAt: never ? null : rec.expiresAt,
      scopes: rec.scopes,
      parent: rec.token,
    });
  }

  /** docs/FACEBOOK.md#who-a-token-belongs-to-me: `/me` is the person, the system user, or (with a Page token) the Page. */
  me(rec: TokenRecord, fields: readonly string[] = ['id', 'name']): { id: string; name?: string } {
    if (rec.kind === 'USER' && fields.some((f) => f !== 'id')) this.requireDataAccess(rec, 'public_profile');
    if (rec.kind === 'PAGE') return { id: rec.pageId!, name: this.page(rec.pageId!).name };
    if (rec.kind === 'SYSTEM_USER') {
      const su = this.systemUsers.get(rec.systemUserId ?? '');
      return { id: rec.systemUserId ?? '', name: su?.name ?? 'System User' };
    }
    return { id: rec.userId ?? '', name: this.users.get(rec.userId ?? '')?.name ?? '' };
  }

  /** docs/FACEBOOK.md#posting: `POST /{page-id}/feed` with a Page token carrying pages_manage_posts. Duplicate → 506. */
  post(rec: TokenRecord, pageId: string, message: string | undefined): { id: string } {
    const page = this.pages.get(pageId);
    if (!page) throw noSuchObject(pageId, 'post');
    if (rec.kind !== 'PAGE' || rec.pageId !== pageId || !rec.scopes.includes('pages_manage_posts')) {
      throw new GraphFailure(
        403,
        200,
        '(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts as an admin with sufficient administrative permission',
      );
    }
    // A Page token posts only while its person can perform CREATE_CONTENT, MANAGE or MODERATE on
    // the Page (https://developers.facebook.com/docs/pages-api/posts): an ANALYZE-only role mints
    // a Page token that debug_token calls valid, but every post is refused with #200.
    if (!this.tasksOf(rec, page).some((t) => POSTING_TASKS.includes(t))) {
      throw new GraphFailure(
        403,
        200,
        '(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts as an admin with sufficient administrative permission',
      );
    }
    if (!message) throw new GraphFailure(400, 100, '(#100) Missing message or attachment');
    if (page.posts.at(-1)?.message === message) {
      throw new GraphFailure(400, 506, '(#506) Duplicate status message');
    }
    const post = { id: `${pageId}_${randomId()}`, message, at: this.clock.now() };
    page.posts.push(post);
    return { id: post.id };
  }

  // ---- Login dialog codes ----------------------------------------------------------------------

  /** A one-time code bound to app + redirect_uri + user + granted scopes, valid 10 minutes. */
  createCode(
    appId: string,
    redirectUri: string,
    userId: string,
    scopes: readonly string[],
    login: { pageIds?: readonly string[] | null; reauthorize?: boolean } = {},
  ): string {
    this.user(userId);
    const code = `AQfake${randomBytes(24).toString('base64url')}`;
    this.codes.set(code, {
      appId,
      redirectUri,
      userId,
      scopes: [...scopes],
      pageIds: login.pageIds ? [...login.pageIds] : null,
      reauthorize: login.reauthorize === true,
      expiresAt: this.clock.now() + CODE_TTL_MS,
      used: false,
    });
    return code;
  }

  /** `/oauth/access_token?code=…`: one use, same app and redirect_uri, → a short-lived user token. */
  redeemCode(app: AppRecord, code: string, redirectUri: string | undefined): Record<string, unknown> {
    const c = this.codes.get(code);
    if (!c) throw new GraphFailure(400, 100, 'Invalid verification code format.');
    if (c.used) throw new GraphFailure(400, 100, 'This authorization code has been used.', 36009);
    if (this.clock.now() >= c.expiresAt) {
      throw new GraphFailure(400, 100, 'This authorization code has expired.', 36007);
    }
    if (c.appId !== app.appId) throw new GraphFailure(400, 100, 'Invalid verification code format.');
    if (c.redirectUri !== redirectUri) {
      throw new GraphFailure(
        400,
        100,
        'Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request',
        36008,
      );
    }
    c.used = true;
    const grant = this.grant(app.appId, c.userId);
    if (c.pageIds !== null) grant.pageIds = new Set(c.pageIds);
    // docs/FACEBOOK.md#data-access-expires-after-90-days (https://developers.facebook.com/docs/facebook-login/auth-vs-data): a login while data
    // access lasts renews its 90 days; once it has expired only a login with
    // `auth_type=reauthorize` restores it.
    const now = this.clock.now();
    if (now < grant.dataAccessExpiresAt || c.reauthorize) grant.dataAccessExpiresAt = now + DATA_ACCESS_MS;
    const token = this.issueUserToken({
      appId: app.appId,
      userId: c.userId,
      lifetime: 'short',
      scopes: c.scopes,
    });
    return { access_token: token, token_type: 'bearer', expires_in: SHORT_LIVED_MS / 1000 };
  }

  // ---- lookups -------------------------------------------------------------------------------

  app(appId: string): AppRecord {
    const a = this.apps.get(appId);
    if (!a) throw new ControlError(`unknown app ${appId}`);
    return a;
  }
  user(userId: string): UserRecord {
    const u = this.users.get(userId);
    if (!u) throw new ControlError(`unknown user ${userId}`);
    return u;
  }
  page(pageId: string): PageRecord {
    const p = this.pages.get(pageId);
    if (!p) throw new ControlError(`unknown page ${pageId}`);
    return p;
  }
}
