/**
 * Wiring for `serve`: the core, the scheduler, the alert dispatcher and the HTTP app, and the
 * process lifecycle (signals, graceful shutdown). Nothing here decides anything.
 */
import { NO_ALERT_CHANNEL, targetsFromConfig } from './alerts/channels.js';
import { createAlertDispatcher } from './alerts/dispatcher.js';
import { type BootstrapKeyIo, handOverBootstrapKey } from './bootstrap-key.js';
import { MINUTE, systemTimers, type Timers } from './clock.js';
import type { Config } from './config.js';
import { displayDatabaseUrl } from './config.js';
import { createSecretBox } from './crypto/secret-box.js';
import { buildApp } from './http/app.js';
import { ensureBootstrapKey } from './http/auth.js';
import { registerConnectRoutes } from './http/connect.js';
import { registerDashboard } from './dashboard/routes.js';
import { createMetrics } from './http/metrics.js';
import { startServer } from './http/server.js';
import { createTokenKeeper, type KeeperInternals, type KeeperOptions } from './lifecycle/keeper.js';
import type { BudgetWarning } from './lifecycle/pacing.js';
import { createScheduler } from './lifecycle/scheduler.js';
import { safeError } from './lifecycle/util.js';
import { AppError } from './errors.js';
import { applyServeHeapFlags } from './heap.js';
import { openStore } from './store/database.js';
import type { Store } from './store/types.js';

export interface ServiceOptions extends KeeperOptions {
  timers?: Timers;
  /** How often the scheduler looks for due pages (default: a minute, or the interval if shorter). */
  pollMs?: number;
}

export type Service = Awaited<ReturnType<typeof createService>>;

export async function createService(options: ServiceOptions = {}) {
  const keeper = await createTokenKeeper(options);
  const { config, store, clock, logger } = keeper;
  const timers = options.timers ?? systemTimers;
  const dispatcher = createAlertDispatcher({ store, config, clock, logger, events: keeper.events, timers });
  const scheduler = createScheduler({
    clock,
    timers,
    logger,
    pollMs: options.pollMs ?? Math.min(MINUTE, keeper.policy.checkIntervalMs),
    runRound: () => keeper.runRound(),
  });
  const metrics = createMetrics(keeper, store, clock, {
    pageSeries: config.metricsPageSeries,
    callBudget: (pages) => keeper.callBudget(pages),
  });
  const budgetWatch = watchCallBudget(keeper);

  async function ready() {
    const checks: Record<string, { ok: boolean; message?: string }> = {};
    try {
      await store.ping();
      checks.database = { ok: true };
      const m = await store.migrationStatus();
      checks.migrations =
        m.pending.length === 0 && m.unknown.length === 0
          ? { ok: true }
          : {
              ok: false,
              message: `pending: ${m.pending.join(',') || '-'}; unknown: ${m.unknown.join(',') || '-'}`,
            };
    } catch (err) {
      checks.database = { ok: false, message: safeError(err).message };
    }
    // A secret that cannot be opened means a Page nobody can post to, whatever its state says.
    const faults = store.secretBox.faults();
    const first = faults.values().next();
    checks.encryption_keys =
      first.done === true
        ? { ok: true }
        : { ok: false, message: `${faults.size} stored secret(s) cannot be opened: ${first.value.message}` };
    // Advisory: a budget too small for the Pages slows their checks but serves every token, so
    // it never fails readiness; its message says what is achievable (lifecycle/pacing.ts).
    checks.call_budget = budgetWatch.check();
    checks.scheduler = scheduler.isAlive()
      ? { ok: true }
      : { ok: false, message: scheduler.isRunning() ? 'no round finished recently' : 'not running' };
    return { ok: Object.values(checks).every((c) => c.ok), checks };
  }

  const app = await buildApp({
    config,
    keeper,
    store,
    clock,
    logger,
    metrics,
    ready,
    extraRoutes: async (a) => {
      await registerConnectRoutes(a, { config, keeper, store, clock, logger, linkSecret: keeper.linkSecret });
      await registerDashboard(a, { config, keeper, store, clock, logger });
    },
  });

  let stopping: Promise<void> | null = null;
  return {
    keeper,
    app,
    scheduler,
    dispatcher,
    metrics,
    ready,
    /** Listen, start the scheduler and the dispatcher. Returns the address. */
    async start(): Promise<string> {
      const address = await startServer(app, { host: config.host, port: config.port });
      scheduler.start();
      dispatcher.start();
      return address;
    },
    /** Stop taking work, let in-flight work finish (bounded), release leases, close the database. */
    stop(): Promise<void> {
      stopping ??= (async () => {
        budgetWatch.close();
        await scheduler.stop();
        await dispatcher.stop();
        await app.close();
        await keeper.close();
      })();
      return stopping;
    },
  };
}

/**
 * Says when an app's Pages cannot all be checked within CHECK_INTERVAL_HOURS inside
 * GRAPH_USAGE_TARGET of its call budget: after each round (the budget is known from the usage
 * headers of the first calls, so this is at start-up in practice) it logs each new shortfall once
 * with the achievable interval, and `/readyz` shows the last one in its `call_budget` check.
 */
function watchCallBudget(keeper: KeeperInternals) {
  let warnings: (BudgetWarning & { appId: string })[] = [];
  const said = new Set<string>();
  const onRound = () => {
    keeper
      .callBudget()
      .then((reports) => {
        warnings = reports.flatMap((r) => (r.plan.warning ? [{ ...r.plan.warning, appId: r.appId }] : []));
        const short = new Set(warnings.map((w) => w.appId));
        for (const appId of said) if (!short.has(appId)) said.delete(appId);
        for (const w of warnings) {
          // Once per shortfall: the estimate moves a little every round, the log need not.
          if (said.has(w.appId)) continue;
          said.add(w.appId);
          keeper.logger.warn({ appId: w.appId, warning: w }, w.message);
        }
      })
      .catch((err: unknown) =>
        keeper.logger.warn({ err: safeError(err) }, 'call budget could not be planned'),
      );
  };
  keeper.events.on('check_round', onRound);
  return {
    check(): { ok: boolean; message?: string } {
      return warnings.length === 0
        ? { ok: true }
        : { ok: true, message: warnings.map((w) => `app ${w.appId}: ${w.message}`).join(' ') };
    },
    close() {
      keeper.events.off('check_round', onRound);
    },
  };
}

/** `fb-token-keeper serve`: runs until SIGINT/SIGTERM. */
export async function runServe(config: Config, io: BootstrapKeyIo): Promise<void> {
  const heapFlags = applyServeHeapFlags();
  const service = await createService({ config, create: true });
  const { logger } = service.keeper;
  const key = await ensureBootstrapKey(service.keeper.store, service.keeper.clock);
  // To the terminal, or to a 0600 file whose path is logged: never into the log stream itself.
  if (key) handOverBootstrapKey(key, config, io, logger);
  if (targetsFromConfig(config).length === 0) logger.warn(NO_ALERT_CHANNEL);
  const address = await service.start();
  logger.info(
    {
      address,
      database: displayDatabaseUrl(config.databaseUrl),
      keySource: service.keeper.sources().key_source,
      activeKeyId: service.keeper.sources().active_key_id,
      graphApiVersion: config.graphApiVersion,
      // What serve set on V8 itself (src/heap.ts); [] when NODE_OPTIONS or node's flags size the heap.
      heapFlags,
    },
    'fb-token-keeper is running',
  );
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      const force = setTimeout(() => {
        logger.error('shutdown took too long; exiting');
        process.exit(1);
      }, 15_000);
      force.unref();
      void service.stop().then(() => {
        logger.info('stopped cleanly');
        resolve();
      });
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  });
}

/**
 * The store alone, for `migrate`: migrations never open a secret, so no key is read or created
 * (a box that refuses every use stands in for the keyring).
 */
export async function openStoreForMigrations(config: Config): Promise<Store> {
  const refuse = (): never => {
    throw new AppError('internal_error', 'migrations do not use encryption keys');
  };
  return openStore({
    databaseUrl: config.databaseUrl,
    create: true,
    secretBox: createSecretBox({
      keys: refuse,
      refresh: () => undefined,
      description: 'none (migrations only)',
      missingKeyHint: refuse,
    }),
  });
}

/** A one-shot `check` (cron) delivers its alerts, or leaves them durably queued, before it exits. */
export async function deliverAlertsBeforeExit(keeper: KeeperInternals): Promise<void> {
  const dispatcher = createAlertDispatcher({
    store: keeper.store,
    config: keeper.config,
    clock: keeper.clock,
    logger: keeper.logger,
    events: keeper.events,
    timers: systemTimers,
  });
  await dispatcher.drain({ maxWaitMs: 20_000 });
}
