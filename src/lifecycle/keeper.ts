/**
 * createTokenKeeper: the one core the CLI, the HTTP API, the scheduler and library users share.
 */
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { hkdfSync, randomUUID } from 'node:crypto';
import { type AlertDispatcher, createAlertDispatcher } from '../alerts/dispatcher.js';
import { planAlerts } from '../alerts/plan.js';
import { targetsFromConfig } from '../alerts/channels.js';
import { type Clock, DAY, HOUR, MINUTE, systemClock, systemTimers, type Timers, toIso } from '../clock.js';
import { type Config, DATABASE_FILE, displayDatabaseUrl, loadConfig } from '../config.js';
import { type Keyring, openKeyring } from '../crypto/keyring.js';
import { describeKeySource } from '../crypto/keys.js';
import { createSecretBox, type KeyProvider } from '../crypto/secret-box.js';
import { AppError } from '../errors.js';
import { CallBudget } from '../graph/budget.js';
import { MAX_BATCH_ITEMS } from '../graph/batch.js';
import { createGraphClient, type GraphClient } from '../graph/client.js';
import { reconnectUrl } from '../reconnect/links.js';
import { createLogger, type Logger } from '../logger.js';
import { openStore, parseDatabaseUrl } from '../store/database.js';
import { proveKeyring } from './key-check.js';
import type { NewAlert, Store } from '../store/types.js';
import { type Connection, type ManagedPage, needsPerson, type TokenInfo } from '../types.js';
import { classifyWhatsAppToken, isWhatsAppScope } from '../platforms/facebook/whatsapp.js';
import { cronDueBy, isDue, type Policy } from './decide.js';
import { createFacebookProvider } from '../platforms/facebook/provider.js';
import type { ChildAccount } from '../platforms/provider.js';
import { createInstagramProvider } from '../platforms/instagram/provider.js';
import { createThreadsProvider } from '../platforms/threads/provider.js';
import { isRefreshablePlatform } from './account-decide.js';
import { providerOf } from './account-job.js';
import { setupAccount } from './account-setup.js';
import {
  createWhatsAppWatch,
  isWhatsAppConnection,
  toWhatsAppStatus,
  whatsAppAccountUrl,
} from './whatsapp-account.js';
import { createEngine } from './engine.js';
import { newPageFrom, safeError } from './util.js';
import { createOnDemand, parseReport } from './on-demand.js';
import { checkSetupInput, prepareSetup, setupEvent } from './setup.js';
import { connectionIdOf } from '../store/connection-store.js';
import { type AppBudgetReport, budgetReports, createPacer } from './pacing.js';
import { createSnapshots } from './snapshots.js';
import { toHistoryItem, toStatus } from './status.js';
import { missingScopes, reauthReason } from './decide.js';
import { assertValidForApp, toTokenInfo } from '../platforms/facebook/inspect.js';
import { isRenewal, renewalMessage } from './outcome.js';
import type {
  CheckReport,
  ConnectionDetail,
  ConnectionView,
  ConnectResult,
  KeeperEventMap,
  PageStatus,
  ReconnectResult,
  RenewResult,
  SetupInput,
  TokenKeeper,
  ValidateResult,
} from './types.js';

export interface KeeperOptions {
  /** A parsed config; when absent, `env` (or process.env) is parsed. */
  config?: Config;
  env?: Record<string, string | undefined>;
  store?: Store;
  graph?: GraphClient;
  clock?: Clock;
  /** Waits on the injected clock (an on-demand call waiting for another instance's lease). */
  timers?: Timers;
  logger?: Logger;
  random?: () => number;
  /** Run migrations when opening the store (default true). */
  migrate?: boolean;
  /** Pace scheduled rounds against each app's call budget (default true; false for comparisons). */
  pacing?: boolean;
  /** How much of the budget's rate one round may spend at once, in ms of it (default a minute, the service's poll). */
  pacingBurstMs?: number;
  /**
   * May a missing database (SQLite file, or a PostgreSQL schema without tables) and a missing key
   * file be created? Default false: a keeper pointed at the wrong place fails naming the path,
   * instead of starting an empty database with a new key. `serve`, `migrate`, `setup` and `add` pass true.
   */
  create?: boolean;
}

/** Which database and key source a keeper uses, as `status` shows them (never a key or a password). */
export interface KeeperSources {
  database: string;
  /** DATABASE_URL, DATA_DIR, or the default data folder. */
  database_from: string;
  key_source: string;
  active_key_id: string;
  key_ids: string[];
}

export interface KeeperInternals extends TokenKeeper {
  readonly config: Config;
  readonly store: Store;
  readonly graph: GraphClient;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly policy: Policy;
  /** Secret used to sign reconnect links and OAuth state (derived from the encryption key). */
  readonly linkSecret: Buffer;
  /** Check the due pages once, as the scheduler does. */
  runRound(): Promise<void>;
  /** Each app's call budget as the usage headers show it, and whether its Pages fit (lifecycle/pacing.ts). */
  callBudget(pages?: readonly ManagedPage[]): Promise<AppBudgetReport[]>;
  /** The budget tracker the Graph client feeds. */
  readonly budget: CallBudget;
  sources(): KeeperSources;
  reconnectUrl(pageId: string): string;
}

/**
 * Open the configured database and keyring, creating either only when `options.create` allows,
 * then prove that the keyring opens what is stored (lifecycle/key-check.ts).
 */
async function openOwnStore(
  config: Config,
  clock: Clock,
  logger: Logger,
  options: KeeperOptions,
): Promise<{ store: Store; keyring: Keyring }> {
  const create = options.create === true;
  refuseToStrandOldData(config);
  let keyring: Keyring | undefined;
  const description = describeKeySource(config.keySource);
  // Migration 0004 re-seals the secrets it moves, so it may need the keys before start-up has
  // looked at what is stored: secrets exist then, so the key must too (never created here).
  const mustLoad = (): Keyring => {
    keyring ??= openKeyring(config.keySource, { create: false });
    return keyring;
  };
  // The keyring loads after the database has been looked at: a key file is only created for a
  // database that holds no secret yet (a new key for existing secrets would open nothing).
  const provider: KeyProvider = {
    keys: () => mustLoad().keys(),
    refresh: (reason) => keyring?.refresh(reason),
    description,
    missingKeyHint: (id) => mustLoad().missingKeyHint(id),
  };
  let store: Store;
  try {
    store = await openStore({
      databaseUrl: config.databaseUrl,
      secretBox: createSecretBox(provider),
      clock,
      create,
    });
  } catch (err) {
    if (err instanceof AppError && err.code === 'database_not_found') throw databaseNotFound(config);
    throw err;
  }
  try {
    if (!create && (await store.migrationStatus()).applied.length === 0) throw databaseNotFound(config);
    if (options.migrate !== false) await store.migrate();
    const usage = await store.sealedKeyUsage();
    try {
      keyring ??= openKeyring(config.keySource, { create: create && usage.length === 0 });
    } catch (err) {
      if (err instanceof AppError && err.code === 'encryption_key_missing' && usage.length > 0) {
        const secrets = usage.reduce((n, u) => n + u.count, 0);
        throw new AppError(
          'encryption_key_missing',
          `${err.message}. The database ${displayDatabaseUrl(config.databaseUrl)} holds ${secrets} sealed secret(s), so a new key would open none of them: nothing was created. Restore the key file you backed up with the database`,
          { details: err.details },
        );
      }
      throw err;
    }
    await proveKeyring(store, usage, logger, (id) => mustLoad().missingKeyHint(id));
    return { store, keyring };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** Where the old default (./data, relative to the working directory) kept its database. */
const LEGACY_DATABASE = `data/${DATABASE_FILE}`;

function legacyHint(config: Config): string {
  if (config.databaseUrlFrom !== 'default' || !existsSync(LEGACY_DATABASE)) return '';
  return ` A database exists in ${resolve('data')} (the default location before DATA_DIR): to keep using it, set DATA_DIR=${resolve('data')} (or move its files into ${config.dataDir}).`;
}

/**
 * Versions before DATA_DIR kept their data in ./data of the working directory. Starting with the
 * new default there would silently begin an empty database beside the old one: refuse, saying where
 * the old data is and how to point at it.
 */
export function refuseToStrandOldData(config: Config): void {
  const hint = legacyHint(config);
  if (hint === '') return;
  const target = parseDatabaseUrl(config.databaseUrl);
  if (target.dialect === 'sqlite' && existsSync(target.path)) return;
  throw new AppError(
    'database_not_found',
    `no database in the data folder ${config.dataDir}, and none was created.${hint}`,
    { details: { path: target.dialect === 'sqlite' ? target.path : null, legacy: resolve('data') } },
  );
}

/** Fail early, naming the path, when a SQLite database that must already exist does not. */
export function assertDatabaseExists(config: Config): void {
  refuseToStrandOldData(config);
  const target = parseDatabaseUrl(config.databaseUrl);
  if (target.dialect === 'sqlite' && target.path !== ':memory:' && !existsSync(target.path)) {
    throw databaseNotFound(config);
  }
}

export function databaseNotFound(config: Config): AppError {
  const target = parseDatabaseUrl(config.databaseUrl);
  const where =
    target.dialect === 'sqlite' ? target.path : `${displayDatabaseUrl(config.databaseUrl)} (no tables)`;
  const from =
    config.databaseUrlFrom === 'DATABASE_URL'
      ? 'from DATABASE_URL'
      : config.databaseUrlFrom === 'DATA_DIR'
        ? `from DATA_DIR=${config.dataDir}`
        : `the default; DATA_DIR is unset`;
  return new AppError(
    'database_not_found',
    `no fb-token-keeper database at ${where} (${from}); nothing was created. ` +
      'Point this command at your database: set DATA_DIR to the folder holding fb-token-keeper.db and encryption.key, ' +
      'or DATABASE_URL (and ENCRYPTION_KEY_FILE or TOKEN_ENCRYPTION_KEYS). "serve", "setup", "add" and "migrate" create a new one.' +
      legacyHint(config),
    { details: { database: where } },
  );
}

/** How many page ids a page_id_required error lists. */
const MAX_LISTED_IDS = 100;
const LEASE_TTL_MS = 2 * MINUTE;

export async function createTokenKeeper(options: KeeperOptions = {}): Promise<KeeperInternals> {
  const config = options.config ?? loadConfig(options.env);
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger({ level: config.logLevel, format: config.logFormat });
  const random = options.random ?? Math.random;
  const { store, keyring } = options.store
    ? { store: options.store, keyring: openKeyring(config.keySource, { create: true }) }
    : await openOwnStore(config, clock, logger, options);
  // Derived from the OLDEST key held, so that `rotate-key` (which adds a key in front) does not void
  // reconnect links already sent or sign everyone out of the dashboard; retiring that key does.
  const linkSecret = Buffer.from(
    hkdfSync('sha256', keyring.oldest(), Buffer.alloc(0), 'fb-token-keeper reconnect links', 32),
  );
  const events = new EventEmitter<KeeperEventMap>();
  // Each app's call budget, fed by the usage headers of every answer (graph/budget.ts), and the
  // pacer the rounds ask before each check (lifecycle/pacing.ts).
  const budget = new CallBudget(config.graphUsageTarget);
  const pacer = createPacer({
    budget,
    ...(options.pacingBurstMs === undefined ? {} : { burstMs: options.pacingBurstMs }),
  });
  const graph =
    options.graph ??
    createGraphClient({
      baseUrl: config.graphApiUrl,
      version: config.graphApiVersion,
      timeoutMs: config.graphTimeoutMs,
      clock,
      batch: config.graphBatch,
      // A round has up to 50 × CHECK_CONCURRENCY checks waiting with batching: C requests carry them.
      ...(config.graphBatch === 'auto' ? { maxInFlight: config.checkConcurrency } : {}),
      onCall: (info) => events.emit('graph_call', info),
      onUsage: (u) => {
        if (u.bucket !== 'app') return;
        const now = clock.now();
        budget.recordCalls(u.appId, u.calls, now);
        if (u.throttled) budget.observeThrottle(u.appId, now);
        else budget.observe(u.appId, u.usage, now);
      },
    });
  const policy: Policy = {
    renewalThresholdDays: config.renewalThresholdDays,
    checkIntervalMs: config.checkIntervalHours * HOUR,
  };
  const targets = targetsFromConfig(config);
  const linkFor = (pageId: string) => reconnectUrl(config, pageId, clock.now(), linkSecret);

  /**
   * A dead login is one problem, not one per Page: its `needs_reauth` is keyed on the login's token,
   * names every Page under it and carries one reconnect link (reconnecting re-mints every sibling).
   * The first Page to notice queues it; its siblings' repeats have the same key and are ignored.
   */
  async function perLogin(alert: NewAlert, page: ManagedPage): Promise<NewAlert> {
    if (
      alert.kind !== 'needs_reauth' ||
      page.connectionId === null ||
      !page.source ||
      page.source.isValid ||
      isRefreshablePlatform(page.platform)
    ) {
      return alert;
    }
    const pages = await store.listConnectionPages(page.connectionId);
    const names = pages.map((p) => (p.pageName ? `${p.pageName} (${p.pageId})` : p.pageId));
    return {
      ...alert,
      dedupeKey: `needs_reauth:connection:${page.connectionId}:${page.source.hash}`,
      payload: {
        ...alert.payload,
        connection_id: page.connectionId,
        page_ids: pages.map((p) => p.pageId),
        message: `The Facebook login behind ${pages.length} Page(s) stopped working (${typeof alert.payload.message === 'string' ? alert.payload.message : 'needs reauthorisation'}). Reconnect once to heal all of them: ${names.join(', ')}.`,
      },
    };
  }

  async function onPageChanged(before: ManagedPage | null, after: ManagedPage): Promise<void> {
    try {
      const alerts = planAlerts({
        before,
        after,
        now: clock.now(),
        alertDaysBefore: config.alertDaysBefore,
        // A WhatsApp system user has no Login dialog: its alerts point at its page on the dashboard.
        reconnectUrl:
          after.platform === 'whatsapp'
            ? whatsAppAccountUrl(config.publicUrl, after.pageId)
            : linkFor(after.pageId),
        failingAlertAfterMs: config.alertFailingAfterHours * HOUR,
      });
      for (const planned of alerts) {
        const alert = await perLogin(planned, after);
        // With no channel the alert goes nowhere; start-up, `status`, `check` and the dashboard say so.
        if (targets.length === 0) continue;
        const queued = await store.enqueueAlert(alert, targets);
        if (queued) {
          events.emit('alert_queued', { pageId: after.pageId, kind: alert.kind });
          await store.addEvents([
            {
              pageId: after.pageId,
              at: clock.now(),
              type: 'alert_queued',
              reason: alert.kind,
              stateFrom: null,
              stateTo: null,
              message: null,
              details: { dedupe_key: alert.dedupeKey, targets: targets.length },
            },
          ]);
        }
      }
    } catch (err) {
      // An alert that cannot be queued must never undo or block a renewal.
      logger.error({ pageId: after.pageId, err: safeError(err) }, 'alert planning failed');
    }
  }

  const provider = createFacebookProvider({
    graph,
    clock,
    dialogUrl: config.facebookDialogUrl,
    version: config.graphApiVersion,
  });
  // Instagram API with Instagram Login and the Threads API: their own hosts and dialogs.
  const providers = {
    instagram: createInstagramProvider({
      apiUrl: config.instagramApiUrl,
      oauthUrl: config.instagramOauthUrl,
      dialogUrl: config.instagramDialogUrl,
      clock,
      timeoutMs: config.graphTimeoutMs,
      onCall: (info) => events.emit('graph_call', info),
    }),
    threads: createThreadsProvider({
      apiUrl: config.threadsApiUrl,
      dialogUrl: config.threadsDialogUrl,
      clock,
      timeoutMs: config.graphTimeoutMs,
      onCall: (info) => events.emit('graph_call', info),
    }),
  };
  const accountDeps = { store, clock, policy, providers, onPageChanged };
  // WhatsApp connections have no Page to hang history and alerts on: the connection is the account.
  const watchWhatsApp = createWhatsAppWatch({ store, clock, policy, onPageChanged });
  async function whatsAppChanged(before: Connection | null, after: Connection): Promise<void> {
    // Like alert planning, this must never undo or block the work that was stored.
    await watchWhatsApp(before, after).catch((err: unknown) =>
      logger.error({ connectionId: after.id, err: safeError(err) }, 'WhatsApp history or alerts failed'),
    );
  }
  const engine = createEngine({
    store,
    provider,
    providers,
    clock,
    logger,
    policy,
    owner: `${config.instanceId}:${randomUUID().slice(0, 8)}`,
    leaseTtlMs: LEASE_TTL_MS,
    events,
    random,
    onPageChanged,
    onConnectionChanged: (before, after) => whatsAppChanged(before, after),
    sourceRevokeGraceMs: config.sourceRevokeGraceHours * HOUR,
    ...(options.pacing === false ? {} : { pacer }),
    checkChoice: config.graphCheck,
    checksPerRequest: graph.batching ? MAX_BATCH_ITEMS : 1,
  });

  // Alerts of an on-demand check are delivered within the reporter's call, by a dispatcher of its
  // own (made when first needed; rows are claimed, so it and `serve`'s never send one twice).
  let onDemandDispatcher: AlertDispatcher | null = null;
  const onDemand = createOnDemand({
    store,
    clock,
    timers: options.timers ?? systemTimers,
    logger,
    engine,
    events,
    reconnectUrl: linkFor,
    deliverAlerts: async () => {
      onDemandDispatcher ??= createAlertDispatcher({ store, config, clock, logger, events });
      await onDemandDispatcher.deliverDue();
    },
  });
  /** Per app: its Pages, what the usage headers say of its budget, and the pacing plan. */
  async function callBudget(pages?: readonly ManagedPage[]): Promise<AppBudgetReport[]> {
    return budgetReports(pages ?? (await store.listPages()), budget, {
      now: clock.now(),
      intervalMs: policy.checkIntervalMs,
      targetPercent: config.graphUsageTarget,
      probes: config.graphCheck === 'auto',
    });
  }

  async function resolvePageId(pageId: string | undefined): Promise<string> {
    if (pageId !== undefined) return pageId;
    // Only the ids, and only enough of them: this runs on every status call without page_id.
    const ids = await store.listPageIds(MAX_LISTED_IDS + 1);
    if (ids.length === 1) return ids[0]!;
    const count = ids.length > MAX_LISTED_IDS ? await store.countPages() : ids.length;
    throw new AppError(
      'page_id_required',
      count === 0
        ? 'no page is managed yet: set one up first'
        : `${count} pages are managed: say which one with page_id`,
      { details: { pages: ids.slice(0, MAX_LISTED_IDS), count } },
    );
  }

  /**
   * For validating a given token without page_id: any Page will do when every managed Page uses
   * one app with one stored secret, since only the app's credentials are borrowed. Otherwise
   * (several apps, or one app with secrets that differ) the caller must say which: page_id_required.
   */
  async function pageOfTheOnlyApp(): Promise<string> {
    const ids = await store.listPageIds(MAX_LISTED_IDS + 1);
    if (ids.length <= 1 || ids.length > MAX_LISTED_IDS) return resolvePageId(undefined);
    const pages = await store.listPages();
    const appIds = new Set(pages.map((p) => p.appId));
    if (appIds.size !== 1) return resolvePageId(undefined);
    const secrets = await Promise.all(pages.map(async (p) => (await store.getSecrets(p.pageId))?.appSecret));
    if (new Set(secrets).size !== 1) return resolvePageId(undefined);
    return pages[0]!.pageId;
  }

  async function mustGetPage(pageId: string): Promise<ManagedPage> {
    const page = await store.getPage(pageId);
    if (!page) {
      throw new AppError('page_not_found', `page ${pageId} is not managed here`, {
        details: { page_id: pageId },
      });
    }
    return page;
  }

  // What posting apps poll is answered from a snapshot while nothing has changed (snapshots.ts).
  const snapshot = createSnapshots(store, clock);
  function status(pageId?: string, opts: { historyLimit?: number } = {}): Promise<PageStatus> {
    return snapshot(`status:${pageId ?? ''}:${opts.historyLimit ?? 20}`, () => readStatus(pageId, opts));
  }

  async function readStatus(
    pageId: string | undefined,
    opts: { historyLimit?: number },
  ): Promise<PageStatus> {
    const page = await mustGetPage(await resolvePageId(pageId));
    const history =
      opts.historyLimit === 0 ? [] : await store.listEvents(page.pageId, { limit: opts.historyLimit ?? 20 });
    const issuedAt =
      isRefreshablePlatform(page.platform) && page.connectionId !== null
        ? ((await store.getConnection(page.connectionId))?.tokenIssuedAt ?? null)
        : null;
    return view(page, history, issuedAt);
  }

  /** `tokenIssuedAt`: an Instagram or Threads token's issue time (its connection's), for the 24-hour rule. */
  function view(
    page: ManagedPage,
    history: Awaited<ReturnType<Store['listEvents']>>,
    tokenIssuedAt: number | null = null,
  ): PageStatus {
    return toStatus(page, {
      tokenIssuedAt,
      now: clock.now(),
      policy,
      graphApiVersion: config.graphApiVersion,
      history,
      reconnectUrl: needsPerson(page.state) ? linkFor(page.pageId) : null,
    });
  }

  /**
   * One link serves the whole login: when the login comes back without the link's own Page
   * (unticked in the dialog, or the role is gone), its siblings still take the new login, and that
   * Page is named in the error that is returned to throw, never dropped silently.
   */
  async function reconnectSiblingsInstead(
    page: ManagedPage,
    accessToken: string,
    app: { appId: string; appSecret: string },
    err: unknown,
  ): Promise<unknown> {
    const notGiven = ['missing_permission', 'token_wrong_page', 'graph_permission_denied'];
    if (page.connectionId === null || !(err instanceof AppError) || !notGiven.includes(err.code)) return err;
    for (const sibling of await store.listConnectionPages(page.connectionId)) {
      if (sibling.pageId === page.pageId) continue;
      try {
        // The first sibling that takes the token re-mints the rest (storeSetup → remintSiblings).
        await storeSetup({ pageId: sibling.pageId, accessToken, ...app }, 'reconnected');
        break;
      } catch (e) {
        if (!(e instanceof AppError) || e.code === 'internal_error') throw e;
      }
    }
    const reconnected = (await store.listConnectionPages(page.connectionId))
      .filter((p) => p.pageId !== page.pageId && p.state === 'healthy')
      .map((p) => ({ page_id: p.pageId, name: p.pageName }));
    return new AppError(err.code, err.message, {
      details: { ...err.details, reconnected_pages: reconnected },
    });
  }

  /**
   * Set up one Page. When its source token is new to its login (user and app), the login takes it,
   * and every sibling Page is re-minted from it (a reconnect or a new token for one Page heals
   * them all); `siblingsDone` names Pages the caller sets up itself anyway.
   */
  async function storeSetup(
    input: SetupInput,
    type: 'setup' | 'reconnected',
    siblingsDone: ReadonlySet<string> = new Set(),
  ) {
    const prepared = await prepareSetup(graph, input, { now: () => clock.now(), policy, random });
    const previous = await store.getPage(input.pageId);
    const source = prepared.page.source;
    const loginId = source
      ? connectionIdOf('facebook', input.appId, source.userId ?? `page-${input.pageId}`)
      : null;
    const loginBefore = loginId ? await store.getConnection(loginId) : null;
    let page = engine.withState(prepared.page, clock.now());
    if (previous) {
      // Setting up again keeps the person's settings; everything about the tokens is replaced.
      page = engine.withState(
        {
          ...page,
          autoRenew: previous.autoRenew,
          renewalThresholdDays: previous.renewalThresholdDays,
          createdAt: previous.createdAt,
        },
        clock.now(),
      );
    }
    const events = [setupEvent(page, type, prepared.notes, previous)];
    if (previous && previous.posting.hash !== page.posting.hash) {
      events.push({
        pageId: page.pageId,
        at: clock.now(),
        type: 'token_rotated',
        reason: type,
        stateFrom: null,
        stateTo: null,
        message: 'The posting token changed: apps that cache it should fetch it again.',
        details: { previous_token_hash: previous.posting.hash, token_hash: page.posting.hash },
      });
    }
    const stored = await store.savePage(newPageFrom(page), prepared.secrets, events);
    await onPageChanged(previous, stored);
    logger.info(
      { pageId: stored.pageId, state: stored.state, tokenType: prepared.inputType, event: type },
      'page set up',
    );
    if (loginBefore && source && loginBefore.source.hash !== source.hash) {
      await remintSiblings(loginBefore.id, new Set([stored.pageId, ...siblingsDone]));
    }
    return { prepared, stored };
  }

  /** Re-mint every Page of a login from its new source token; one Page's failure is its own. */
  async function remintSiblings(connectionId: string, skip: ReadonlySet<string>): Promise<void> {
    for (const sibling of await store.listConnectionPages(connectionId)) {
      if (skip.has(sibling.pageId)) continue;
      await engine
        .processPage(sibling.pageId, { mode: 'renew', remint: true, connectionDone: true })
        .catch((err: unknown) =>
          logger.warn({ pageId: sibling.pageId, err: safeError(err) }, 'sibling re-mint failed'),
        );
    }
  }

  function connectionState(c: Connection): ConnectionView['state'] {
    const now = clock.now();
    if (!c.source.isValid || (c.source.expiresAt !== null && c.source.expiresAt <= now)) {
      return 'needs_reauth';
    }
    if (c.source.expiresAt !== null && c.extensionBlockedUntil !== null) return 'expiring';
    return 'healthy';
  }

  function connectionView(c: Connection, pageIds: string[]): ConnectionView {
    const state = connectionState(c);
    return {
      id: c.id,
      platform: c.platform,
      app_id: c.appId,
      user_id: c.userId,
      user_name: c.userName,
      state,
      source_token_type: c.source.type,
      source_valid: c.source.isValid,
      source_expires_at: toIso(c.source.expiresAt),
      data_access_expires_at: toIso(c.source.dataAccessExpiresAt),
      scopes: c.source.scopes,
      last_checked_at: toIso(c.lastCheckedAt),
      next_check_at: toIso(c.nextCheckAt),
      last_error: c.lastError && {
        code: c.lastError.code,
        message: c.lastError.message,
        at: toIso(c.lastError.at)!,
      },
      extension_blocked_until: toIso(c.extensionBlockedUntil),
      page_ids: pageIds,
      // A reconnect through any Page of the login gives the login its new token and re-mints every sibling.
      reconnect_url: state === 'healthy' || pageIds.length === 0 ? null : linkFor(pageIds[0]!),
    };
  }

  /**
   * A WhatsApp Cloud API system-user token, kept as a connection with no Page: the connection job
   * inspects it like any login's source token and refreshes it when it is a 60-day one.
   */
  async function connectWithoutPages(
    given: TokenInfo,
    token: string,
    app: { appId: string; appSecret: string },
  ): Promise<ConnectResult> {
    const userId = given.userId;
    if (userId === null) {
      throw new AppError('token_invalid', 'Facebook did not say which system user this token belongs to.');
    }
    const me = await graph.me(token, app).catch(() => null);
    const before = await store.getConnection(connectionIdOf('facebook', app.appId, userId));
    const connection = await store.saveConnection(
      {
        platform: 'facebook',
        appId: app.appId,
        userId,
        userName: me?.name ?? null,
        source: given,
        nextCheckAt: clock.now() + policy.checkIntervalMs,
      },
      { appSecret: app.appSecret, sourceToken: token },
    );
    const ids = (await store.listConnectionPages(connection.id)).map((p) => p.pageId);
    // A new token for a dead or expiring one: history, and `recovered` after the alerts it raised.
    await whatsAppChanged(before, connection);
    logger.info({ connectionId: connection.id, pages: ids.length, whatsapp: true }, 'connection set up');
    return { success: true, connection: connectionView(connection, ids), pages: [], not_set_up: [] };
  }

  async function whatsAppStatus(c: Connection) {
    // The last refresh, from its history (a WhatsApp connection has no Page row to keep it on).
    const renewed = (await store.listEvents(c.id, { limit: 50 })).find((e) => e.type === 'renewed');
    return toWhatsAppStatus(c, {
      now: clock.now(),
      policy,
      publicUrl: config.publicUrl,
      lastRenewedAt: renewed?.at ?? null,
    });
  }

  async function mustGetConnection(id: string): Promise<Connection> {
    const c = await store.getConnection(id);
    if (!c) {
      throw new AppError('connection_not_found', `connection ${id} is not managed here`, {
        details: { connection_id: id },
      });
    }
    return c;
  }

  /** Which siblings a reconnect re-minted, and which it left without a working token (and why). */
  function reconnectOutcome(
    siblings: readonly ManagedPage[],
    hashesBefore: ReadonlyMap<string, string>,
    children: readonly ChildAccount[] | null,
  ): Pick<ReconnectResult, 'reminted' | 'not_granted'> {
    const reminted: ReconnectResult['reminted'] = [];
    const notGranted: ReconnectResult['not_granted'] = [];
    for (const p of siblings) {
      const child = children?.find((c) => c.id === p.pageId);
      const label = p.pageName ? `"${p.pageName}" (${p.pageId})` : p.pageId;
      if (child && !child.granted) {
        notGranted.push({
          page_id: p.pageId,
          name: p.pageName,
          code: 'missing_permission',
          message: `Page ${label} was not ticked when access was given: reconnect and tick it in Facebook's Page list.`,
        });
      } else if (children !== null && !child) {
        notGranted.push({
          page_id: p.pageId,
          name: p.pageName,
          code: 'missing_permission',
          message: `The login has no role on Page ${label} any more: give it a role with a posting task, then reconnect.`,
        });
      } else if (hashesBefore.get(p.pageId) !== p.posting.hash && p.posting.isValid) {
        reminted.push({ page_id: p.pageId, name: p.pageName });
      } else if (!p.posting.isValid || needsPerson(p.state)) {
        notGranted.push({
          page_id: p.pageId,
          name: p.pageName,
          code: p.lastError?.code ?? p.stateReason ?? 'token_invalid',
          message: p.lastError?.message ?? p.stateMessage ?? `Page ${label} has no working token.`,
        });
      }
    }
    return { reminted, not_granted: notGranted };
  }

  /**
   * A reconnect that left Pages of the login without a token says so in one alert naming them (as
   * the dead login's alert named every Page), so that nobody believes the whole login is healed.
   */
  async function alertNotGranted(
    connectionId: string,
    page: ManagedPage,
    missing: ReconnectResult['not_granted'],
  ): Promise<void> {
    if (targets.length === 0) return;
    const now = clock.now();
    const ids = missing.map((m) => m.page_id);
    const dedupeKey = `needs_reauth:connection:${connectionId}:not_granted:${page.source?.hash ?? page.posting.hash}`;
    const alert: NewAlert = {
      pageId: ids[0]!,
      kind: 'needs_reauth',
      dedupeKey,
      createdAt: now,
      payload: {
        alert_id: dedupeKey,
        event: 'needs_reauth',
        severity: 'critical',
        page_id: ids[0]!,
        page_name: missing[0]!.name,
        state: 'needs_reauth',
        connection_id: connectionId,
        page_ids: ids,
        message: `The Facebook login was reconnected, but ${ids.length} of its Page(s) still have no working token: ${missing
          .map((m) => m.message)
          .join(' ')}`,
        deadline: null,
        days_left: null,
        reconnect_url: linkFor(page.pageId),
        occurred_at: new Date(now).toISOString(),
      },
    };
    if (await store.enqueueAlert(alert, targets)) {
      events.emit('alert_queued', { pageId: alert.pageId, kind: alert.kind });
    }
  }

  const keeper: KeeperInternals = {
    events,
    config,
    store,
    graph,
    clock,
    logger,
    policy,
    linkSecret,
    reconnectUrl: linkFor,

    async setup(input) {
      const { prepared, stored } = await storeSetup(input, 'setup');
      return {
        status: view(stored, await store.listEvents(stored.pageId, { limit: 20 })),
        notes: prepared.notes,
        input_token_type: prepared.inputType,
        input_token_lifetime: prepared.inputLifetime,
      };
    },

    status,

    async listPages() {
      const pages = await store.listPages();
      const issued = pages.some((p) => isRefreshablePlatform(p.platform))
        ? new Map((await store.listConnections()).map((c) => [c.id, c.tokenIssuedAt]))
        : null;
      return pages.map((p) =>
        view(p, [], p.connectionId === null ? null : (issued?.get(p.connectionId) ?? null)),
      );
    },

    async getPageToken(pageId, opts = {}) {
      // `after`: the Graph error the app's call got; check (and heal) now, answer a token that works.
      if (opts.after !== undefined) {
        return (await onDemand.refresh(pageId, parseReport(opts.after))).access_token;
      }
      const token = await snapshot(`token:${pageId}`, () => store.getPostingToken(pageId));
      if (token === null) {
        throw new AppError('page_not_found', `page ${pageId} is not managed here`, {
          details: { page_id: pageId },
        });
      }
      return token;
    },

    async refreshPageToken(pageId, reported) {
      return onDemand.refresh(pageId, parseReport(reported));
    },

    async check(opts = {}): Promise<CheckReport> {
      const dryRun = opts.dryRun === true;
      const now = clock.now();
      let outcomes;
      // A round from cron counts a page due a little later as due now (decide.ts `cronDueBy`).
      const dueBy = opts.all === true ? undefined : cronDueBy(now, policy);
      const couldNotCheck: CheckReport['could_not_check'] = [];
      if (opts.pageId !== undefined) {
        await mustGetPage(opts.pageId);
        outcomes = [await engine.processPage(opts.pageId, { mode: 'check', dryRun })];
      } else {
        outcomes = await engine.runRound({
          dryRun,
          all: opts.all === true,
          concurrency: config.checkConcurrency,
          ...(dueBy !== undefined ? { dueBy } : {}),
          onPageError: (pageId, err) => couldNotCheck.push({ page_id: pageId, ...safeError(err) }),
        });
      }
      const worked = outcomes.filter((o) => dryRun || o.outcome !== 'skipped');
      const results = worked.map((o) => ({
        page_id: o.pageId,
        action: o.decision.action,
        reason: o.decision.reason,
        outcome: o.outcome,
        state_before: o.before.state,
        state_after: o.after.state,
        message: o.message,
      }));
      // What this run did not check, and why: every managed page is accounted for.
      const skippedWhy = new Map(
        outcomes.filter((o) => !dryRun && o.outcome === 'skipped').map((o) => [o.pageId, o.decision.reason]),
      );
      const workedIds = new Set(worked.map((o) => o.pageId));
      // After the round, so the states are the ones it left (a dry run's are what it would leave).
      const others =
        opts.pageId !== undefined ? [] : (await store.listPages()).filter((p) => !workedIds.has(p.pageId));
      const notChecked = others.map((p) => ({
        page_id: p.pageId,
        reason: skippedWhy.get(p.pageId) ?? isDue(p, clock.now(), dueBy ?? clock.now()).reason,
        state: p.state,
        next_check_at: toIso(
          p.retryAt !== null && p.retryAt > (p.nextCheckAt ?? 0) ? p.retryAt : p.nextCheckAt,
        ),
      }));
      const needsPersonIds = [...worked.map((o) => o.after), ...others]
        .filter((p) => needsPerson(p.state))
        .map((p) => p.pageId);
      return {
        success: true,
        dry_run: dryRun,
        checked: dryRun ? 0 : results.length,
        skipped: notChecked.length,
        results,
        not_checked: notChecked,
        needs_person: needsPersonIds,
        could_not_check: couldNotCheck,
      };
    },

    async renew(pageId, opts = {}): Promise<RenewResult> {
      const id = await resolvePageId(pageId);
      await mustGetPage(id);
      const dryRun = opts.dryRun === true;
      const o = await engine.processPage(id, { mode: 'renew', force: opts.force === true, dryRun });
      const renewed = isRenewal(o.outcome);
      if (o.outcome === 'failed' && o.after.lastError) {
        const e = o.after.lastError;
        throw new AppError(e.code as AppError['code'], e.message, {
          details: {
            fb_code: e.fbCode,
            fb_subcode: e.fbSubcode,
            fbtrace_id: e.fbtraceId,
            state: o.after.state,
            ...(o.after.retryAt !== null
              ? { retry_after_seconds: Math.max(1, Math.ceil((o.after.retryAt - clock.now()) / 1000)) }
              : {}),
          },
        });
      }
      return {
        success: true,
        page_id: id,
        renewed,
        // The same words as the history event the engine wrote (lifecycle/outcome.ts).
        reason: dryRun
          ? o.decision.action === 'none'
            ? o.decision.reason
            : `would_${o.decision.action}`
          : renewed || o.outcome === 'not_extendable' || o.outcome === 'source_not_extendable'
            ? o.outcome
            : o.decision.reason,
        message:
          (dryRun
            ? null
            : renewalMessage(o.outcome, {
                expiresAt: o.after.posting.expiresAt,
                sourceExpiresAt: o.after.source?.expiresAt ?? null,
              })) ??
          o.after.stateMessage ??
          '',
        dry_run: dryRun,
        state: o.after.state,
        expires_at: toIso(o.after.posting.expiresAt),
        previous_expires_at: toIso(o.before.posting.expiresAt),
        token_changed: o.tokenChanged,
      };
    },

    async validate(input): Promise<ValidateResult> {
      let appId = input.appId;
      let appSecret = input.appSecret;
      let token = input.accessToken;
      if (appId === undefined || appSecret === undefined) {
        const id =
          input.pageId === undefined && token !== undefined && appId === undefined
            ? await pageOfTheOnlyApp()
            : await resolvePageId(input.pageId);
        const page = await mustGetPage(id);
        const secrets = await store.getSecrets(id);
        appId = page.appId;
        appSecret = secrets!.appSecret;
        token ??= secrets!.postingToken;
      }
      if (token === undefined) {
        throw new AppError('validation_failed', 'give access_token or page_id', {
          details: { fields: [{ field: 'access_token', message: 'required when page_id is absent' }] },
        });
      }
      const d = await graph.debugToken(token, { appId, appSecret });
      const info = toTokenInfo(token, d, clock.now());
      return {
        success: true,
        valid: info.isValid,
        type: info.type,
        app_id: info.appId,
        profile_id: info.profileId,
        user_id: info.userId,
        expires_at: toIso(info.expiresAt),
        data_access_expires_at: toIso(info.dataAccessExpiresAt),
        scopes: info.scopes,
        missing_scopes: missingScopes(info),
        error: info.error ? { ...info.error, reason: reauthReason(info.error.subcode).reason } : null,
      };
    },

    async updatePage(pageId, patch) {
      const before = await mustGetPage(pageId);
      let after: ManagedPage = {
        ...before,
        ...(patch.autoRenew !== undefined ? { autoRenew: patch.autoRenew } : {}),
        ...(patch.renewalThresholdDays !== undefined
          ? { renewalThresholdDays: patch.renewalThresholdDays }
          : {}),
        ...(patch.pageName !== undefined ? { pageName: patch.pageName } : {}),
      };
      // A person changing settings also clears a blocked path, so a resumed page is tried again.
      after = engine.withState(
        patch.autoRenew === true
          ? { ...after, extensionBlockedUntil: null, nextCheckAt: clock.now() }
          : after,
        clock.now(),
      );
      const stored = await store.updatePage(
        pageId,
        {
          autoRenew: after.autoRenew,
          renewalThresholdDays: after.renewalThresholdDays,
          pageName: after.pageName,
          state: after.state,
          stateReason: after.stateReason,
          stateMessage: after.stateMessage,
          extensionBlockedUntil: after.extensionBlockedUntil,
          nextCheckAt: after.nextCheckAt,
        },
        {
          events: [
            {
              pageId,
              at: clock.now(),
              type: 'settings_changed',
              reason: patch.autoRenew === false ? 'paused' : patch.autoRenew === true ? 'resumed' : 'updated',
              stateFrom: before.state,
              stateTo: after.state,
              message: null,
              details: { auto_renew: after.autoRenew, renewal_threshold_days: after.renewalThresholdDays },
            },
          ],
        },
      );
      await onPageChanged(before, stored);
      return view(stored, await store.listEvents(pageId, { limit: 20 }));
    },

    async deletePage(pageId) {
      await mustGetPage(pageId);
      await store.deletePage(pageId);
      logger.info({ pageId }, 'page deleted');
    },

    async history(pageId, opts = {}) {
      await mustGetPage(pageId);
      const events = await store.listEvents(pageId, {
        limit: opts.limit ?? 50,
        ...(opts.beforeId !== undefined ? { beforeId: opts.beforeId } : {}),
      });
      return events.map(toHistoryItem);
    },

    async connect(input): Promise<ConnectResult> {
      const platform = input.platform ?? 'facebook';
      if (isRefreshablePlatform(platform)) {
        if (input.pageIds !== undefined) {
          throw new AppError(
            'validation_failed',
            `page_ids is for Facebook logins: a ${platform} token reaches its one account`,
            {
              details: { fields: [{ field: 'page_ids', message: `not for platform ${platform}` }] },
            },
          );
        }
        // One account per token: the account is the connection's only posting identity.
        const stored = await setupAccount(accountDeps, { ...input, platform }, 'setup');
        const connection = await mustGetConnection(stored.connectionId ?? '');
        logger.info({ connectionId: connection.id, platform }, 'connection set up');
        return {
          success: true,
          connection: connectionView(connection, [stored.pageId]),
          pages: [view(stored, [])],
          not_set_up: [],
        };
      }
      if (platform !== 'facebook') {
        throw new AppError(
          'validation_failed',
          `platform ${platform} is not supported: use facebook, instagram or threads`,
          { details: { fields: [{ field: 'platform', message: 'must be facebook, instagram or threads' }] } },
        );
      }
      checkSetupInput({
        pageId: '1',
        accessToken: input.accessToken,
        appId: input.appId,
        appSecret: input.appSecret,
      });
      const app = { appId: input.appId, appSecret: input.appSecret };
      const given = await provider.inspect(input.accessToken, app);
      assertValidForApp(given, input.appId);
      if (given.type !== 'USER' && given.type !== 'SYSTEM_USER') {
        throw new AppError(
          'token_invalid',
          `A connection is a user or system-user token; this is a ${given.type} token (set up a Page token with setup/add).`,
          { details: { token_type: given.type } },
        );
      }
      // WhatsApp Cloud API tokens are judged before anything is exchanged or stored: the API Setup
      // panel's temporary token and a person's token are refused with how to make the right one.
      const whatsapp = classifyWhatsAppToken(given, clock.now());
      if (whatsapp.kind === 'refused') {
        throw new AppError(whatsapp.code, whatsapp.message, {
          details: { token_type: given.type, expires_at: toIso(given.expiresAt) },
        });
      }
      // A WhatsApp system-user token reaches WhatsApp Business Accounts, not Pages: without the
      // Page-listing permission there is no Page to ask for, and the login alone is kept alive.
      if (
        whatsapp.kind === 'system_user' &&
        input.pageIds === undefined &&
        !given.scopes.includes('pages_show_list')
      ) {
        return connectWithoutPages(given, input.accessToken, app);
      }
      // A short-lived user token is made long-lived once, here, not once per Page.
      const shortLived =
        given.type === 'USER' && given.expiresAt !== null && given.expiresAt - clock.now() <= DAY;
      const token = shortLived
        ? (await provider.exchangeShortLived(input.accessToken, app)).token
        : input.accessToken;
      const children = await provider.listChildren(token, app);
      const wanted = input.pageIds ?? children.filter((c) => c.canPost && c.granted).map((c) => c.id);
      const notSetUp: ConnectResult['not_set_up'] = [];
      const done = new Set<string>(wanted);
      const pages: PageStatus[] = [];
      for (const pageId of wanted) {
        try {
          const { stored } = await storeSetup({ pageId, accessToken: token, ...app }, 'setup', done);
          pages.push(view(stored, []));
        } catch (err) {
          if (!(err instanceof AppError) || err.code === 'internal_error') throw err;
          const child = children.find((c) => c.id === pageId);
          notSetUp.push({ page_id: pageId, name: child?.name ?? null, code: err.code, message: err.message });
        }
      }
      // Pages the login manages but cannot post to, or that were not ticked in the dialog: named, not dropped.
      if (input.pageIds === undefined) {
        for (const c of children.filter((c) => !c.canPost || !c.granted)) {
          notSetUp.push({
            page_id: c.id,
            name: c.name,
            code: 'missing_permission',
            message: c.granted
              ? `The login has no posting task on Page ${c.id} (it needs CREATE_CONTENT, MANAGE or MODERATE).`
              : `Page ${c.id} was not selected when the app was authorised: reconnect and tick it.`,
          });
        }
      }
      if (pages.length === 0 && whatsapp.kind === 'system_user' && wanted.length === 0) {
        return connectWithoutPages(given, token, app);
      }
      if (pages.length === 0) {
        throw new AppError(
          'token_wrong_page',
          wanted.length === 0
            ? 'This login cannot post to any Page: give it a role with a posting task on a Page, and tick the Page in the Login dialog.'
            : `None of the Pages could be set up: ${notSetUp.map((n) => `${n.page_id} (${n.code})`).join(', ')}.`,
          { details: { not_set_up: notSetUp } },
        );
      }
      const connectionId = (await store.getPage(pages[0]!.page_id))?.connectionId;
      let connection = await mustGetConnection(connectionId ?? '');
      if (connection.userName === null) {
        // Once per login, so the dashboard can say whose login it is ("Facebook login of Robin").
        const me = await graph.me(token, app).catch(() => null);
        if (me?.name) connection = await store.updateConnection(connection.id, { userName: me.name });
      }
      const ids = (await store.listConnectionPages(connection.id)).map((p) => p.pageId);
      logger.info({ connectionId: connection.id, pages: pages.length }, 'connection set up');
      return { success: true, connection: connectionView(connection, ids), pages, not_set_up: notSetUp };
    },

    async listConnections() {
      const [connections, pages] = await Promise.all([store.listConnections(), store.listPages()]);
      return connections.map((c) =>
        connectionView(
          c,
          pages.filter((p) => p.connectionId === c.id).map((p) => p.pageId),
        ),
      );
    },

    async getConnection(id): Promise<ConnectionDetail> {
      const c = await mustGetConnection(id);
      const pages = await store.listConnectionPages(id);
      const ids = new Set(pages.map((p) => p.pageId));
      let available: ConnectionDetail['available_to_add'] = null;
      let notGranted: ConnectionDetail['not_granted'] = null;
      const secrets = await store.getConnectionSecrets(id);
      if (secrets && c.source.isValid) {
        // One Graph call: the Pages this login could post to now, less the ones already kept.
        const children = await provider
          .listChildren(secrets.sourceToken, { appId: c.appId, appSecret: secrets.appSecret })
          .catch(() => null);
        available =
          children
            ?.filter((ch) => ch.canPost && ch.granted && !ids.has(ch.id))
            .map((ch) => ({ page_id: ch.id, name: ch.name })) ?? null;
        // The same answer, read for what the login cannot give: named, never silently dropped.
        if (children) {
          const listed = new Set(children.map((ch) => ch.id));
          notGranted = [
            ...children
              .filter((ch) => !ch.granted || !ch.canPost)
              .map((ch) => ({
                page_id: ch.id,
                name: ch.name,
                reason: ch.granted ? ('no_posting_task' as const) : ('not_selected' as const),
                managed: ids.has(ch.id),
              })),
            ...pages
              .filter((p) => !listed.has(p.pageId))
              .map((p) => ({
                page_id: p.pageId,
                name: p.pageName,
                reason: 'not_listed' as const,
                managed: true,
              })),
          ];
        }
      }
      return {
        success: true,
        ...connectionView(c, [...ids]),
        pages: pages.map((p) => view(p, [])),
        available_to_add: available,
        not_granted: notGranted,
      };
    },

    async getConnectionToken(id) {
      const c = await mustGetConnection(id);
      const pageIds = (await store.listConnectionPages(id)).map((p) => p.pageId);
      // Only a WhatsApp connection's own token is handed out: a Facebook login's token mints Page
      // tokens, and posting apps fetch those instead (its user token never leaves the keeper).
      const secrets = await store.getConnectionSecrets(id);
      if (pageIds.length > 0 || !c.source.scopes.some(isWhatsAppScope) || !secrets) {
        throw new AppError(
          'connection_not_found',
          `connection ${id} is not a WhatsApp connection: fetch its Pages' tokens instead`,
          { details: { connection_id: id } },
        );
      }
      return { accessToken: secrets.sourceToken, connection: connectionView(c, pageIds) };
    },

    async listWhatsAppAccounts() {
      const [connections, pages] = await Promise.all([store.listConnections(), store.listPages()]);
      const withPages = new Set(pages.map((p) => p.connectionId));
      const wa = connections.filter((c) => isWhatsAppConnection(c, withPages.has(c.id) ? 1 : 0));
      return Promise.all(wa.map((c) => whatsAppStatus(c)));
    },

    async getWhatsAppAccount(id) {
      const c = await store.getConnection(id);
      if (!c || !isWhatsAppConnection(c, (await store.listConnectionPages(id)).length)) {
        throw new AppError('account_not_found', `no whatsapp account ${id} is managed here`, {
          details: { platform: 'whatsapp', id },
        });
      }
      return whatsAppStatus(c);
    },

    async deleteConnection(id) {
      await mustGetConnection(id);
      const ids = (await store.deleteConnection(id)) ?? [];
      logger.info({ connectionId: id, pages: ids.length }, 'connection deleted');
      return ids;
    },

    reconnectDialogUrl(page, redirectUri, state) {
      if (!isRefreshablePlatform(page.platform)) return null;
      return providerOf(accountDeps, page.platform).loginUrl({ appId: page.appId, redirectUri, state });
    },

    async reconnect(pageId, code, redirectUri) {
      return (await keeper.reconnectLogin(pageId, code, redirectUri)).page;
    },

    async reconnectLogin(pageId, code, redirectUri): Promise<ReconnectResult> {
      const page = await mustGetPage(pageId);
      const secrets = await store.getSecrets(pageId);
      const app = { appId: page.appId, appSecret: secrets!.appSecret };
      if (isRefreshablePlatform(page.platform)) {
        // An Instagram or Threads account is its own login: nothing else to re-mint.
        const given = await providerOf(accountDeps, page.platform).exchangeCode(code, redirectUri, app);
        const stored = await setupAccount(
          accountDeps,
          { platform: page.platform, accessToken: given.token, ...app },
          'reconnected',
          { given, expectAccount: pageId },
        );
        const status = view(stored, await store.listEvents(pageId, { limit: 20 }));
        return {
          page: status,
          connection_id: stored.connectionId,
          reminted: [],
          not_granted: [],
          available_to_add: [],
        };
      }
      // The siblings' tokens before, to tell which ones the reconnect gave a new token.
      const hashes = new Map(
        page.connectionId === null
          ? []
          : (await store.listConnectionPages(page.connectionId)).map((p) => [p.pageId, p.posting.hash]),
      );
      const { accessToken } = await graph.exchangeCode(code, redirectUri, app);
      const { stored } = await storeSetup({ pageId, accessToken, ...app }, 'reconnected').catch(
        async (err: unknown) => {
          throw await reconnectSiblingsInstead(page, accessToken, app, err);
        },
      );
      const status = view(stored, await store.listEvents(pageId, { limit: 20 }));
      const connectionId = stored.connectionId;
      if (connectionId === null) {
        return { page: status, connection_id: null, reminted: [], not_granted: [], available_to_add: [] };
      }
      const siblings = (await store.listConnectionPages(connectionId)).filter((p) => p.pageId !== pageId);
      const source = await store.getConnectionSecrets(connectionId);
      // One Graph call: which Pages the person ticked this time, and which the login can newly post to.
      const children = source ? await provider.listChildren(source.sourceToken, app).catch(() => null) : null;
      const result = reconnectOutcome(siblings, hashes, children);
      const kept = new Set([pageId, ...siblings.map((p) => p.pageId)]);
      const available =
        children
          ?.filter((c) => c.canPost && c.granted && !kept.has(c.id))
          .map((c) => ({ page_id: c.id, name: c.name })) ?? null;
      if (result.not_granted.length > 0) await alertNotGranted(connectionId, stored, result.not_granted);
      logger.info(
        { connectionId, reminted: result.reminted.length, notGranted: result.not_granted.length },
        'login reconnected',
      );
      return { page: status, connection_id: connectionId, ...result, available_to_add: available };
    },

    sources() {
      return {
        database: displayDatabaseUrl(config.databaseUrl),
        database_from:
          config.databaseUrlFrom === 'DATABASE_URL'
            ? 'DATABASE_URL'
            : config.databaseUrlFrom === 'DATA_DIR'
              ? `DATA_DIR=${config.dataDir}`
              : `the default data folder ${config.dataDir} (DATA_DIR is unset)`,
        key_source: store.secretBox.source,
        active_key_id: store.secretBox.keyId,
        key_ids: [...store.secretBox.keyIds],
      };
    },

    budget,
    callBudget,

    async runRound() {
      // Paced: the next round (a poll later) takes what the budget held back. A cron `check` is not.
      await engine.runRound({ concurrency: config.checkConcurrency, collect: false, paced: true });
    },

    async close() {
      await onDemandDispatcher?.stop();
      if (!options.store) await store.close();
    },
  };
  return keeper;
}
