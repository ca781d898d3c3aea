/**
 * The emulator's model of Facebook: apps, users, Pages, roles, tokens and their lifetimes, and the
 * events that invalidate tokens early. Behaviour follows GRAPH_API.md (section numbers in comments).
 */
import { randomBytes } from 'node:crypto';
import { type Clock, DAY, HOUR, MINUTE } from '../clock.js';

export type Kind = 'USER' | 'PAGE' | 'SYSTEM_USER';

export interface TokenRecord {
  token: string;
  kind: Kind;
  appId: string;
  /** The user (or system user) behind the token. */
  userId: string;
  /** For PAGE tokens: the Page. */
  pageId: string | null;
  lifetime: 'short' | 'long' | 'never';
  issuedAt: number;
  expiresAt: number | null;
  dataAccessExpiresAt: number;
  scopes: string[];
  /** Set by an explicit invalidation of this one token. */
  invalidSubcode: number | null;
  /** Issue order: invalidations apply to tokens issued before them, even within one clock tick. */
  seq: number;
}

export interface GraphFailure {
  code: number;
  subcode: number | null;
  message: string;
}

export const DEFAULT_SCOPES = ['pages_show_list', 'pages_read_engagement', 'pages_manage_posts', 'business_management', 'public_profile'];
/** §1.2: short-lived user tokens live about an hour; §1.2 sample: 60 days = 5184000 s. */
export const SHORT_LIVED_MS = HOUR;
export const LONG_LIVED_MS = 60 * DAY;
/** §1.6: data access expires 90 days after the user last used the app. */
export const DATA_ACCESS_MS = 90 * DAY;

const SUBCODE_MESSAGES: Record<number, string> = {
  458: 'Error validating access token: The user has not authorized application.',
  459: 'Error validating access token: You cannot access the app till you log in to www.facebook.com and follow the instructions given.',
  460: 'Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.',
  463: 'Error validating access token: Session has expired.',
  464: 'Error validating access token: Sessions for the user are not allowed because the user is not a confirmed user.',
  467: 'Error validating access token: The session is invalid because the user logged out.',
  492: 'Error validating access token: The user is not an admin, editor or moderator of the Page.',
};

export function randomId(): string {
  return String(100000000000000 + Math.floor(Math.random() * 899999999999999));
}

export function createState(clock: Clock) {
  const apps = new Map<string, { appId: string; appSecret: string; name: string }>();
  const users = new Map<string, { id: string; name: string }>();
  const pages = new Map<string, { id: string; name: string }>();
  const roles = new Set<string>();
  const systemUsers = new Map<string, { id: string; appId: string; pages: Set<string> }>();
  const tokens = new Map<string, TokenRecord>();
  /** userId → invalidation that applies to every token issued before `at` (§1.7). */
  const userInvalidations = new Map<string, { seq: number; subcode: number }>();
  /** `${userId}:${appId}` → app removed by the user (458). */
  const appRemovals = new Map<string, number>();
  const codes = new Map<string, { appId: string; redirectUri: string; userId: string; scopes: string[]; expiresAt: number }>();
  let exchangeExtends = false;
  let pageTokensInheritExpiry = false;

  let seq = 0;
  function issue(rec: Omit<TokenRecord, 'token' | 'issuedAt' | 'dataAccessExpiresAt' | 'invalidSubcode' | 'seq'>): string {
    const token = `EAAfake${rec.kind[0]}${randomBytes(24).toString('base64url')}`;
    tokens.set(token, { ...rec, token, issuedAt: clock.now(), dataAccessExpiresAt: clock.now() + DATA_ACCESS_MS, invalidSubcode: null, seq: ++seq });
    return token;
  }

  /** Why a token is not valid now, or null when it is. */
  function failure(rec: TokenRecord): GraphFailure | null {
    const fail = (subcode: number): GraphFailure => ({ code: 190, subcode, message: SUBCODE_MESSAGES[subcode] ?? 'Invalid OAuth access token.' });
    if (rec.invalidSubcode !== null) return fail(rec.invalidSubcode);
    const inv = userInvalidations.get(rec.userId);
    if (inv && rec.seq <= inv.seq) return fail(inv.subcode);
    const removedAt = appRemovals.get(`${rec.userId}:${rec.appId}`);
    if (removedAt !== undefined && rec.seq <= removedAt) return fail(458);
    if (rec.kind === 'PAGE' && rec.pageId && !systemUsers.has(rec.userId) && !roles.has(`${rec.userId}:${rec.pageId}`)) return fail(492);
    if (rec.expiresAt !== null && clock.now() >= rec.expiresAt) return fail(463);
    return null;
  }

  function newCode(appId: string, redirectUri: string, userId: string, scopes: string[]): string {
    const code = `AQfake${randomBytes(18).toString('base64url')}`;
    codes.set(code, { appId, redirectUri, userId, scopes, expiresAt: clock.now() + 10 * MINUTE });
    return code;
  }

  return {
    apps,
    users,
    pages,
    roles,
    systemUsers,
    tokens,
    codes,
    issue,
    failure,
    newCode,
    get exchangeExtends() {
      return exchangeExtends;
    },
    set exchangeExtends(v: boolean) {
      exchangeExtends = v;
    },
    get pageTokensInheritExpiry() {
      return pageTokensInheritExpiry;
    },
    set pageTokensInheritExpiry(v: boolean) {
      pageTokensInheritExpiry = v;
    },
    invalidateUser(userId: string, subcode: number) {
      userInvalidations.set(userId, { seq, subcode });
    },
    removeApp(userId: string, appId: string) {
      appRemovals.set(`${userId}:${appId}`, seq);
    },
  };
}

export type EmulatorState = ReturnType<typeof createState>;
