/**
 * What a running emulator offers in-process (`FakeGraph`, from `startFakeGraph` in index.ts): the
 * control API (control.ts) drives the same interface over HTTP, so it lives apart from both.
 */
import type { Clock } from '../clock.js';
import type { FaultSpec, RecordedCall } from './http.js';
import type { StatePersistence } from './persist.js';
import type {
  PlatformAccountRecord,
  PlatformEvent,
  PlatformTokenStatus,
  RefreshablePlatform,
} from './refreshable.js';
import type { TokenStatus } from './state.js';

export interface FakeGraph {
  /** Base URL, e.g. `http://127.0.0.1:41234` (GRAPH_API_URL and FACEBOOK_DIALOG_URL). */
  readonly url: string;
  readonly version: string;
  readonly clock: Clock;
  /** Set when started with `stateFile`. */
  readonly persistence: StatePersistence | null;
  close(): Promise<void>;

  createApp(o?: { appId?: string; appSecret?: string; name?: string }): {
    appId: string;
    appSecret: string;
    name: string;
  };
  createUser(o?: { id?: string; name?: string }): { id: string; name: string };
  createPage(o?: { id?: string; name?: string }): { id: string; name: string };
  grantRole(userId: string, pageId: string, tasks?: readonly string[]): void;
  /** The user's Page tokens for the Page stop working (190/492). */
  removeRole(userId: string, pageId: string): void;
  issueUserToken(o: {
    appId: string;
    userId: string;
    lifetime: 'short' | 'long';
    scopes?: readonly string[];
  }): string;
  createSystemUser(o: { appId: string; pages: readonly string[]; name?: string }): {
    id: string;
    name: string;
  };
  issueSystemUserToken(o: {
    appId: string;
    systemUserId: string;
    expiring?: boolean;
    scopes?: readonly string[];
  }): string;
  /** The WhatsApp API Setup panel's temporary token (a user token, less than a day). */
  issueWhatsAppTemporaryToken(o: { appId: string; userId: string }): string;
  /** 190/460 on all the user's tokens and the Page tokens minted from them. */
  changePassword(userId: string): void;
  /** 190/467. */
  logout(userId: string): void;
  /** 190/458 on the user's tokens for that app. */
  removeApp(userId: string, appId: string): void;
  /** 190/459. */
  checkpoint(userId: string): void;
  /** 190/493: the person has not used the app for 90 days. */
  inactive90Days(userId: string): void;
  /** One token (and tokens minted from it), with any subcode (default 467). */
  invalidateToken(token: string, subcode?: number): void;
  /** false (default): re-exchanging a long-lived user token keeps its expiry; true: now + 60 days. */
  setExchangeExtends(value: boolean): void;
  /** true: Page tokens expire with the user token they were minted from (older docs, docs/FACEBOOK.md#page-tokens). Default false. */
  setPageTokensInheritExpiry(value: boolean): void;
  /** The user the Login dialog offers first. */
  setDialogUser(userId: string): void;
  /** The user is a developer of the app: their user token may call debug_token for it (docs/FACEBOOK.md#debug_token). */
  addDeveloper(appId: string, userId: string): void;
  /** The Pages the user granted the app, as if ticked in the Login dialog's Page picker. */
  selectPages(appId: string, userId: string, pageIds: readonly string[]): void;
  /** Move the end of the user's data access for the app (epoch ms), e.g. to now (docs/FACEBOOK.md#data-access-expires-after-90-days). */
  setDataAccessExpiry(appId: string, userId: string, at: number): void;
  /** "Does the emulator say this token is valid?" */
  tokenStatus(token: string): TokenStatus;
  /** The posts made on a Page, oldest first. */
  posts(pageId: string): { id: string; message: string; at: number }[];

  /**
   * The app's daily users: its Platform budget becomes 200 × users calls per rolling hour, reported
   * in X-App-Usage and throttled at 100 % (docs/EMULATOR.md "The call budget"); null: not budgeted.
   */
  setAppUsers(appId: string, users: number | null): void;
  /** A per-user limit on the app's user-token calls (#17), calls per rolling hour; null: none. */
  setUserLimit(appId: string, callsPerHour: number | null): void;
  /** A custom limit (#613) on the app's calls to paths containing `path`; null removes it. */
  setCustomLimit(appId: string, path: string, callsPerHour: number | null): void;
  /** Batch items whose path contains `path` are refused with #100 (true) or served again (false). */
  refuseInBatch(path: string, refuse: boolean): void;
  /** The app's usage over the rolling hour: percentages, calls, capacity (200 × users). */
  appUsage(appId: string): {
    call_count: number;
    total_time: number;
    total_cputime: number;
    calls: number;
    capacity: number;
    budgeted: boolean;
  };
  /** Forget every rolling usage window. */
  resetUsage(): void;

  injectFault(f: FaultSpec): void;
  clearFaults(): void;
  /** Real delay before each Graph answer (benchmarks). */
  setLatency(ms: number): void;
  /** Every request (not the control API): method, pathname, parameter names, status, proof. */
  readonly calls: readonly RecordedCall[];
  /** Requests whose pathname contains `path` (all when absent). */
  countCalls(path?: string): number;
  resetCalls(): void;
  /** Moves the emulator's clock when it is a ManualClock (for control from another process). */
  advanceClock(ms: number): number;

  // ---- Instagram Login and Threads (served under `${url}/instagram` and `${url}/threads`) ----
  /** `${url}/instagram`: INSTAGRAM_API_URL, INSTAGRAM_OAUTH_URL and INSTAGRAM_DIALOG_URL. */
  readonly instagramUrl: string;
  /** `${url}/threads`: THREADS_API_URL and THREADS_DIALOG_URL. */
  readonly threadsUrl: string;
  /** An Instagram or Threads app (its own app id and secret; `facebookAppId`: the same Meta app's Facebook id). */
  createPlatformApp(
    platform: RefreshablePlatform,
    o?: { appId?: string; appSecret?: string; name?: string; facebookAppId?: string },
  ): { appId: string; appSecret: string; name: string; facebookAppId: string | null };
  /** An Instagram professional account or a Threads profile. */
  createPlatformAccount(
    platform: RefreshablePlatform,
    o?: { id?: string; username?: string; name?: string },
  ): PlatformAccountRecord;
  /** A short-lived (1 hour) or long-lived (60 days) token, issued now. */
  issuePlatformToken(
    platform: RefreshablePlatform,
    o: { appId: string; accountId: string; lifetime: 'short' | 'long'; scopes?: readonly string[] },
  ): string;
  /** Kills the account's tokens issued before now (for `app_removed`, only that app's). */
  platformEvent(platform: RefreshablePlatform, accountId: string, event: PlatformEvent, appId?: string): void;
  invalidatePlatformToken(platform: RefreshablePlatform, token: string, event?: PlatformEvent): void;
  platformTokenStatus(platform: RefreshablePlatform, token: string): PlatformTokenStatus;
  /** true (default): a refresh answers a new token string; false: the same string with a new expiry. */
  setRefreshChangesToken(platform: RefreshablePlatform, value: boolean): void;
  /** The account the platform's Login dialog offers first. */
  setPlatformDialogAccount(platform: RefreshablePlatform, accountId: string): void;
}
