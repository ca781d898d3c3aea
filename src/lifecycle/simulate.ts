/**
 * `simulate --days N`: the real engine, scheduler and store (a temporary SQLite file) against the
 * Graph API emulator, on a virtual clock. Used by people to see what the keeper would do, and by
 * tests to prove a year of operation in seconds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createManualClock, createManualTimers, DAY, MINUTE } from '../clock.js';
import { generateKey } from '../crypto/keys.js';
import { createGraphClient } from '../graph/client.js';
import { startFakeGraph } from '../fake-graph/index.js';
import { silentLogger } from '../logger.js';
import type { PageState } from '../types.js';
import { canMintFromSource } from './decide.js';
import { createTokenKeeper } from './keeper.js';
import { mulberry32 } from '../random.js';
import { SCENARIOS, type Scenario } from './scenarios.js';
import { createScheduler } from './scheduler.js';
import { type AgencySummary, reconnectThroughDialog, setUpAgency } from './sim-agency.js';
import { createSimPoster, type PostingAppReport } from './sim-poster.js';

export { SCENARIOS, type Scenario };
export type { AgencySummary };

/** `--scenario agency`: how many logins share the Pages. */
export const AGENCY_LOGINS = 5;

export interface SimulationOptions {
  days: number;
  scenario: string;
  pages: number;
  /** Minutes between scheduler wake-ups (and samples of token validity). */
  stepMinutes?: number;
  seed?: number;
  /**
   * A posting app that posts to every Page every N minutes and, on a 190, reports it to the keeper
   * and retries once (docs/POSTING_APPS.md). Off when absent.
   */
  postEveryMinutes?: number;
  /**
   * Budget the app as Facebook does, for this many daily users (200 calls per user per rolling
   * hour, throttled at 100 %; docs/EMULATOR.md "The call budget"). The Pages are set up first by
   * another keeper, then the run starts an hour later with a keeper that knows nothing of the
   * budget yet (as after a restart). Up to 10,000 Pages in this mode.
   */
  appUsers?: number;
  /** Pace the rounds against the budget (default true); false shows what pacing saves. */
  pacing?: boolean;
  /** Instagram accounts connected with Instagram Login (refreshed tokens; default 0). */
  instagram?: number;
  /** Threads profiles (refreshed tokens; default 0). */
  threads?: number;
  /** GRAPH_CHECK (default `auto`); `debug_token` shows what the Page-token probe saves. */
  graphCheck?: 'auto' | 'debug_token';
}

/** One Instagram account or Threads profile over the run: how its refreshes went. */
export interface AccountSummary {
  platform: 'instagram' | 'threads';
  refreshes: number;
  /** The youngest a token was when it was refreshed, in hours (never under 24). */
  min_age_hours_at_refresh: number | null;
  /** Days left on the token at each refresh: the least and the most (RENEWAL_THRESHOLD_DAYS or just under). */
  min_days_left_at_refresh: number | null;
  max_days_left_at_refresh: number | null;
}

/** What the budget did during a run with `appUsers`. */
export interface BudgetSummary {
  app_users: number;
  pacing: boolean;
  usage_target_percent: number;
  /** Answers refused as throttled (#4, #17, #32, #613, #80001). */
  throttled_answers: number;
  /** The plan after the first hour of the run (once the usage headers gave the budget). */
  check_interval_hours: number;
  achievable_interval_hours: number | null;
  needed_calls_per_hour: number;
  allowed_calls_per_hour: number | null;
  warning: string | null;
  /** The longest time any Page went without a check, from the start of the run, in hours. */
  max_hours_between_checks: number;
  /** Highest X-App-Usage call_count seen by the emulator at a step. */
  max_usage_percent: number;
}

export interface SimulationReport {
  scenario: Scenario;
  days: number;
  pages: number;
  checks: number;
  renewals: number;
  heals: number;
  failures: number;
  graph_calls: number;
  graph_calls_per_page_check: number;
  /** Renewal attempts by kind: `posting_renewed`, `source_renewed`, `posting_not_extendable`, `source_not_extendable`, `healed`, `failed`. */
  renewals_by_kind: Record<string, number>;
  minutes_without_valid_token: Record<string, number>;
  alerts_raised: number;
  /** Alerts queued, by event (`renewal_failed`, `recovered`, `needs_reauth`, ...). */
  alerts_by_kind: Record<string, number>;
  final_states: Record<string, PageState>;
  /** For scenarios with an invalidation event: minutes from the event until the page showed it. */
  detection_minutes: Record<string, number | null>;
  reasons: Record<string, string | null>;
  /** With `postEveryMinutes`: what the posting app did (null without one). */
  posting_app: PostingAppReport | null;
  /** Only with `appUsers`. */
  budget?: BudgetSummary;
  /** Only with `--scenario agency`. */
  agency?: AgencySummary;
  /** Instagram accounts and Threads profiles (`--instagram N`, `--threads N`), by id. */
  accounts: Record<string, AccountSummary>;
  /** 365 / (60 − RENEWAL_THRESHOLD_DAYS) over the run's days: the refreshes an account should need. */
  expected_refreshes_per_account: number | null;
}

export async function runSimulation(options: SimulationOptions): Promise<SimulationReport> {
  if (!(SCENARIOS as readonly string[]).includes(options.scenario)) {
    throw new Error(`unknown scenario "${options.scenario}"; choose one of ${SCENARIOS.join(', ')}`);
  }
  if (!Number.isInteger(options.days) || options.days < 1 || options.days > 3650) {
    throw new Error('--days must be a whole number from 1 to 3650');
  }
  const budgeted = options.appUsers !== undefined;
  const maxPages = budgeted ? 10_000 : 1000;
  const accountCounts = { instagram: options.instagram ?? 0, threads: options.threads ?? 0 };
  for (const [name, n] of Object.entries(accountCounts)) {
    if (!Number.isInteger(n) || n < 0 || n > 100) {
      throw new Error(`--${name} must be a whole number from 0 to 100`);
    }
  }
  const someAccounts = accountCounts.instagram + accountCounts.threads > 0;
  if (
    !Number.isInteger(options.pages) ||
    options.pages < (someAccounts ? 0 : 1) ||
    options.pages > maxPages
  ) {
    throw new Error(
      `--pages must be a whole number from 1 to ${maxPages}${budgeted ? '' : ' (10000 with --app-users)'}`,
    );
  }
  if (budgeted && (!Number.isInteger(options.appUsers) || options.appUsers! < 1)) {
    throw new Error('--app-users must be a whole number of at least 1');
  }
  const postEvery = options.postEveryMinutes;
  if (postEvery !== undefined && (!Number.isInteger(postEvery) || postEvery < 1 || postEvery > 1440)) {
    throw new Error('--post-every must be a whole number of minutes from 1 to 1440');
  }
  const scenario = options.scenario as Scenario;
  // The loop moves at least as often as the posting app posts.
  const step = Math.min(options.stepMinutes ?? 30, postEvery ?? Number.POSITIVE_INFINITY) * MINUTE;
  const random = mulberry32(options.seed ?? 42);
  const clock = createManualClock('2027-01-01T00:00:00Z');
  const timers = createManualTimers(clock);
  // Its own stream, so fault injection is repeatable for a seed too.
  const graph = await startFakeGraph({ clock, random: mulberry32((options.seed ?? 42) + 1) });
  const dir = mkdtempSync(join(tmpdir(), 'fbtk-sim-'));
  const env = {
    DATABASE_URL: `sqlite:${join(dir, 'sim.db')}`,
    TOKEN_ENCRYPTION_KEY: generateKey().toString('base64'),
    GRAPH_API_URL: graph.url,
    INSTAGRAM_API_URL: graph.instagramUrl,
    INSTAGRAM_OAUTH_URL: graph.instagramUrl,
    INSTAGRAM_DIALOG_URL: graph.instagramUrl,
    THREADS_API_URL: graph.threadsUrl,
    THREADS_DIALOG_URL: graph.threadsUrl,
    // Alerts are queued (and counted) but not sent anywhere.
    WEBHOOK_URLS: 'http://127.0.0.1:9/simulated',
    GRAPH_CHECK: options.graphCheck ?? 'auto',
  };
  const keeper = await createTokenKeeper({
    env,
    clock,
    timers,
    logger: silentLogger,
    random,
    create: true,
    pacing: options.pacing !== false,
    // A round every step may spend a step's worth of the budget.
    pacingBurstMs: step,
  });
  // With a budget, the Pages are set up by another keeper before the run (see appUsers).
  const setupKeeper = budgeted
    ? await createTokenKeeper({ env, clock, logger: silentLogger, random, create: true })
    : keeper;
  let start = clock.now();
  try {
    let graphCalls = 0;
    let checks = 0;
    let renewals = 0;
    let heals = 0;
    let failures = 0;
    // Graph calls, not HTTP round trips: a batch request (GRAPH_BATCH=auto) is heard beside each of
    // its items, which Facebook counts one by one; the envelope itself is not a call.
    keeper.events.on('graph_call', (c) => {
      if (!c.endpoint.startsWith('batch(')) graphCalls++;
    });
    // Tokens are re-read only for pages the engine touched: sampling stays cheap over a year.
    const touched = new Set<string>();
    keeper.events.on('page_processed', (e) => {
      touched.add(e.pageId);
      if (e.outcome !== 'skipped') checks++;
      if (e.outcome === 'failed') failures++;
    });
    const renewalsByKind: Record<string, number> = {};
    const alertsByKind: Record<string, number> = {};
    keeper.events.on('renewal', (e) => {
      if (e.outcome === 'renewed') renewals++;
      if (e.outcome === 'healed') heals++;
      const kind = e.outcome === 'healed' || e.outcome === 'failed' ? e.outcome : `${e.token}_${e.outcome}`;
      renewalsByKind[kind] = (renewalsByKind[kind] ?? 0) + 1;
    });
    keeper.events.on('alert_queued', (e) => {
      alertsByKind[e.kind] = (alertsByKind[e.kind] ?? 0) + 1;
    });

    const app = graph.createApp({ name: 'Simulated app' });
    const ids: string[] = [];
    const users: string[] = [];
    const agency =
      scenario === 'agency'
        ? await setUpAgency(setupKeeper, graph, app, Math.min(AGENCY_LOGINS, options.pages), options.pages)
        : null;
    if (agency) {
      ids.push(...agency.ids);
      // users[i] is Page i's admin, as below.
      for (const id of agency.ids) users.push(agency.users[agency.loginOf.get(id)!]!);
      // Calls per Page check are the checks' own: the set-up calls are left out.
      graphCalls = 0;
    }
    for (let i = 0; i < (agency ? 0 : options.pages); i++) {
      const user = graph.createUser({ name: `Admin ${i}` });
      const page = graph.createPage({ name: `Page ${i}` });
      graph.grantRole(user.id, page.id);
      let token: string;
      if (scenario === 'page-token') {
        const long = graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
        token = (await setupKeeper.graph.getPageToken(page.id, long, app)).accessToken;
      } else if (i % 3 === 2) {
        const su = graph.createSystemUser({ appId: app.appId, pages: [page.id] });
        token = graph.issueSystemUserToken({ appId: app.appId, systemUserId: su.id, expiring: i % 2 === 0 });
      } else {
        token = graph.issueUserToken({
          appId: app.appId,
          userId: user.id,
          lifetime: i % 3 === 0 ? 'short' : 'long',
        });
      }
      await setupKeeper.setup({
        pageId: page.id,
        accessToken: token,
        appId: app.appId,
        appSecret: app.appSecret,
      });
      ids.push(page.id);
      users.push(user.id);
    }
    // Instagram accounts and Threads profiles: each set up from a short-lived token (exchanged).
    const accounts = new Map<
      string,
      { platform: 'instagram' | 'threads'; expiresAt: number; refreshedAt: number }
    >();
    const accountSummaries: Record<string, AccountSummary> = {};
    const pendingExpiry = new Set<string>();
    for (const platform of ['instagram', 'threads'] as const) {
      if (accountCounts[platform] === 0) continue;
      const fb = graph.createApp({ name: `Simulated ${platform} (Facebook)` });
      const papp = graph.createPlatformApp(platform, {
        name: `Simulated ${platform}`,
        facebookAppId: fb.appId,
      });
      for (let i = 0; i < accountCounts[platform]; i++) {
        const acc = graph.createPlatformAccount(platform, { username: `${platform}.${i}` });
        const short = graph.issuePlatformToken(platform, {
          appId: papp.appId,
          accountId: acc.id,
          lifetime: 'short',
        });
        const r = await setupKeeper.connect({
          platform,
          accessToken: short,
          appId: papp.appId,
          appSecret: papp.appSecret,
        });
        const kept = r.pages[0]!;
        accounts.set(kept.page_id, {
          platform,
          expiresAt: Date.parse(kept.expires_at!),
          refreshedAt: clock.now(),
        });
        accountSummaries[kept.page_id] = {
          platform,
          refreshes: 0,
          min_age_hours_at_refresh: null,
          min_days_left_at_refresh: null,
          max_days_left_at_refresh: null,
        };
      }
    }
    keeper.events.on('renewal', (e) => {
      const a = accounts.get(e.pageId);
      const sum = accountSummaries[e.pageId];
      if (!a || !sum || e.outcome !== 'renewed') return;
      const now = clock.now();
      const age = Math.round(((now - a.refreshedAt) / (60 * MINUTE)) * 100) / 100;
      const left = Math.round(((a.expiresAt - now) / DAY) * 100) / 100;
      sum.refreshes++;
      sum.min_age_hours_at_refresh = Math.min(sum.min_age_hours_at_refresh ?? age, age);
      sum.min_days_left_at_refresh = Math.min(sum.min_days_left_at_refresh ?? left, left);
      sum.max_days_left_at_refresh = Math.max(sum.max_days_left_at_refresh ?? left, left);
      a.refreshedAt = now;
      // The new expiry is read after the round (the event comes before the row is read back).
      pendingExpiry.add(e.pageId);
    });
    if (budgeted) {
      await setupKeeper.close();
      // Six hours later every setup call has left the rolling windows and every Page is due (as
      // after downtime); from now on the app has
      // `appUsers` daily users.
      clock.advance(6 * 60 * MINUTE + MINUTE);
      graph.setAppUsers(app.appId, options.appUsers!);
      graph.resetUsage();
      graph.resetCalls();
      start = clock.now();
    }
    const lastCheck = new Map<string, number>(ids.map((id) => [id, start]));
    let maxGap = 0;
    let maxUsage = 0;
    keeper.events.on('page_processed', (e) => {
      if (e.outcome === 'skipped') return;
      const now = clock.now();
      maxGap = Math.max(maxGap, now - (lastCheck.get(e.pageId) ?? start));
      lastCheck.set(e.pageId, now);
    });

    const poster =
      postEvery === undefined
        ? null
        : createSimPoster({
            keeper,
            // Its own client: the posting app's calls are not the keeper's Graph calls.
            graph: createGraphClient({ baseUrl: graph.url, version: keeper.config.graphApiVersion, clock }),
            app,
            everyMinutes: postEvery,
          });
    let lastPost = Number.NEGATIVE_INFINITY;

    const scheduler = createScheduler({
      clock,
      timers,
      logger: silentLogger,
      pollMs: step,
      runRound: () => keeper.runRound(),
    });
    const eventDay = Math.min(100, Math.max(1, Math.floor(options.days / 2)));
    const eventAt = start + eventDay * DAY;
    let eventDone = false;
    let plan: Awaited<ReturnType<typeof keeper.callBudget>>[number]['plan'] | null = null;
    const invalidMinutes: Record<string, number> = Object.fromEntries(
      [...ids, ...accounts.keys()].map((id) => [id, 0]),
    );
    const watched = scenario === 'password-change' || scenario === 'role-removed' || scenario === 'agency';
    // agency: the Pages of the first login (the admin who changes their password), the others.
    const affected = agency ? ids.filter((id) => agency.loginOf.get(id) === 0) : [];
    const noticed = new Set<string>();
    const bystander = (pageId: string) => agency !== null && agency.loginOf.get(pageId) !== 0;
    let reauthAlerts = 0;
    let reconnectAt: number | null = null;
    let reconnects = 0;
    if (agency) {
      keeper.events.on('page_processed', (e) => {
        if (bystander(e.pageId) && e.stateAfter !== 'healthy') noticed.add(e.pageId);
      });
      keeper.events.on('alert_queued', (e) => {
        if (bystander(e.pageId)) noticed.add(e.pageId);
        if (e.kind !== 'needs_reauth') return;
        reauthAlerts++;
        // The person reads the alert and reconnects an hour later.
        reconnectAt ??= clock.now() + 60 * MINUTE;
      });
    }
    const detected: Record<string, number | null> = watched ? { [ids[0]!]: null } : {};
    const tokens = new Map<string, string>();

    if (scenario === 'faults') {
      graph.injectFault({ kind: 'transient_code_2', probability: 0.3, times: Number.POSITIVE_INFINITY });
    }
    scheduler.start();
    await scheduler.trigger();
    const end = start + options.days * DAY;
    while (clock.now() < end) {
      if (!eventDone && clock.now() >= eventAt) {
        eventDone = true;
        if (scenario === 'password-change') {
          graph.changePassword(users[0]!);
          // A password change also kills the Page tokens of the Pages the person co-administers
          // (docs/FACEBOOK.md#tokens-die-early), while those Pages' own logins live on: the first
          // other Page whose stored login can still mint loses its token, and can be healed.
          for (const id of ids.slice(1)) {
            const page = await keeper.store.getPage(id);
            if (page && canMintFromSource(page, clock.now())) {
              graph.invalidateToken(await keeper.getPageToken(id), 460);
              break;
            }
          }
        }
        if (scenario === 'role-removed') graph.removeRole(users[0]!, ids[0]!);
        if (scenario === 'agency') graph.changePassword(users[0]!);
      }
      if (reconnectAt !== null && reconnects === 0 && clock.now() >= reconnectAt) {
        await reconnectThroughDialog(keeper, graph, affected[0]!, users[0]!);
        reconnects++;
        for (const id of affected) touched.add(id);
      }
      if (scenario === 'throttling') {
        // A throttling burst of two hours every ten days.
        const day = Math.floor((clock.now() - start) / DAY);
        if (day % 10 === 5 && (clock.now() - start) % DAY < step) {
          graph.injectFault({ kind: 'throttle_app', times: 20 });
        }
      }
      timers.advance(step);
      await scheduler.trigger();
      if (budgeted) {
        maxUsage = Math.max(maxUsage, graph.appUsage(app.appId).call_count);
        if (plan === null && clock.now() - start >= 60 * MINUTE) {
          plan = (await keeper.callBudget())[0]?.plan ?? null;
        }
      }
      // Sampling every Page's token each step is the cost of the validity figures: skipped past 1,000 Pages.
      if (ids.length > 1000) {
        touched.clear();
        continue;
      }
      for (const id of ids) {
        if (touched.has(id) || !tokens.has(id)) tokens.set(id, await keeper.getPageToken(id));
        if (!graph.tokenStatus(tokens.get(id)!).valid) invalidMinutes[id]! += step / MINUTE;
      }
      for (const [id, a] of accounts) {
        if (touched.has(id) || !tokens.has(id)) tokens.set(id, await keeper.getPageToken(id));
        if (pendingExpiry.delete(id)) {
          a.expiresAt = (await keeper.store.getPage(id))?.posting.expiresAt ?? a.expiresAt;
        }
        if (!graph.platformTokenStatus(a.platform, tokens.get(id)!).valid) {
          invalidMinutes[id]! += step / MINUTE;
        }
      }
      if (watched && eventDone && detected[ids[0]!] === null && touched.has(ids[0]!)) {
        const page = await keeper.store.getPage(ids[0]!);
        if (page?.state === 'needs_reauth') detected[ids[0]!] = Math.round((clock.now() - eventAt) / MINUTE);
      }
      touched.clear();
      if (poster && clock.now() - lastPost >= (postEvery ?? 0) * MINUTE) {
        lastPost = clock.now();
        // After the sample: a token that died since the last post counts until the post finds out.
        await poster.postAll(ids);
      }
    }
    await scheduler.stop();
    const now = clock.now();
    for (const t of lastCheck.values()) maxGap = Math.max(maxGap, now - t);
    const THROTTLES = [4, 17, 32, 613, 80001];
    const budget: BudgetSummary | undefined = budgeted
      ? {
          app_users: options.appUsers!,
          pacing: options.pacing !== false,
          usage_target_percent: keeper.config.graphUsageTarget,
          throttled_answers: graph.calls.filter((c) => c.fbCode !== null && THROTTLES.includes(c.fbCode))
            .length,
          check_interval_hours: keeper.config.checkIntervalHours,
          achievable_interval_hours:
            plan?.achievableIntervalMs == null
              ? null
              : Math.round((plan.achievableIntervalMs / (60 * MINUTE)) * 100) / 100,
          needed_calls_per_hour: Math.round(plan?.neededCallsPerHour ?? 0),
          allowed_calls_per_hour:
            plan?.allowedCallsPerHour == null ? null : Math.round(plan.allowedCallsPerHour),
          warning: plan?.warning?.message ?? null,
          max_hours_between_checks: Math.round((maxGap / (60 * MINUTE)) * 100) / 100,
          max_usage_percent: maxUsage,
        }
      : undefined;
    const finalStates: Record<string, PageState> = {};
    const reasons: Record<string, string | null> = {};
    for (const id of [...ids, ...accounts.keys()]) {
      const page = (await keeper.store.getPage(id))!;
      finalStates[id] = page.state;
      reasons[id] = page.stateReason;
    }
    const alerts = await keeper.store.alertCounts();
    if (agency) {
      for (const id of ids) if (bystander(id) && invalidMinutes[id]! > 0) noticed.add(id);
    }
    const agencySummary: AgencySummary | undefined = agency
      ? {
          logins: agency.users.length,
          pages_per_login: Math.ceil(ids.length / agency.users.length),
          affected_pages: affected,
          needs_reauth_alerts: reauthAlerts,
          reconnects,
          healed_by_reconnect: affected.filter((id) => finalStates[id] === 'healthy').length,
          others_that_noticed: [...noticed].sort(),
        }
      : undefined;
    return {
      scenario,
      days: options.days,
      pages: options.pages,
      checks,
      renewals,
      heals,
      failures,
      graph_calls: graphCalls,
      graph_calls_per_page_check: checks === 0 ? 0 : Math.round((graphCalls / checks) * 100) / 100,
      renewals_by_kind: renewalsByKind,
      minutes_without_valid_token: invalidMinutes,
      alerts_raised: alerts.pending + alerts.delivered + alerts.failed,
      alerts_by_kind: alertsByKind,
      final_states: finalStates,
      detection_minutes: detected,
      reasons,
      posting_app: poster?.report() ?? null,
      ...(budget ? { budget } : {}),
      ...(agencySummary ? { agency: agencySummary } : {}),
      accounts: accountSummaries,
      expected_refreshes_per_account:
        accounts.size === 0
          ? null
          : Math.round((options.days / (60 - Math.min(59, keeper.config.renewalThresholdDays))) * 100) / 100,
    };
  } finally {
    await keeper.close();
    await graph.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function byKind(counts: Record<string, number>): string {
  const parts = Object.entries(counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k} ${n}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

export function simulationText(r: SimulationReport): string {
  const lines = [
    `Simulated ${r.days} days, scenario "${r.scenario}", ${r.pages} page(s):`,
    `  checks: ${r.checks}   renewals: ${r.renewals}   heals: ${r.heals}   failed checks: ${r.failures}`,
    `  renewal attempts by kind: ${byKind(r.renewals_by_kind)}`,
    `  Graph calls: ${r.graph_calls} (${r.graph_calls_per_page_check} per page check)   alerts raised: ${r.alerts_raised}`,
    `  alerts by kind: ${byKind(r.alerts_by_kind)}`,
    '',
    '  PAGE                 FINAL STATE     REASON               MINUTES WITHOUT A VALID TOKEN',
  ];
  for (const [id, state] of Object.entries(r.final_states)) {
    lines.push(
      `  ${id.padEnd(20)} ${state.padEnd(15)} ${(r.reasons[id] ?? '-').padEnd(20)} ${r.minutes_without_valid_token[id] ?? 0}`,
    );
  }
  const b = r.budget;
  if (b) {
    lines.splice(
      5,
      0,
      `  call budget: ${b.app_users} daily user(s) = ${200 * b.app_users} calls/hour; pacing ${b.pacing ? 'on' : 'off'}, GRAPH_USAGE_TARGET ${b.usage_target_percent} %`,
      `  plan: ${b.needed_calls_per_hour} calls/hour needed, ${b.allowed_calls_per_hour ?? '?'} allowed; achievable interval ${b.achievable_interval_hours ?? '?'} h (CHECK_INTERVAL_HOURS ${b.check_interval_hours})`,
      ...(b.warning ? [`  warning: ${b.warning}`] : []),
      `  throttled answers: ${b.throttled_answers}   longest time without a check: ${b.max_hours_between_checks} h   peak usage: ${b.max_usage_percent} %`,
    );
    if (r.pages > 1000) lines.push('  (token validity not sampled past 1,000 Pages)');
  }
  const a = r.agency;
  if (a) {
    lines.splice(
      5,
      0,
      `  agency: ${a.logins} logins x ${a.pages_per_login} Pages; one admin changed their password`,
      `  needs_reauth alerts: ${a.needs_reauth_alerts}   reconnects: ${a.reconnects}   Pages healed by it: ${a.healed_by_reconnect} of ${a.affected_pages.length}   other Pages that noticed: ${a.others_that_noticed.length}`,
    );
  }
  const accounts = Object.entries(r.accounts);
  if (accounts.length > 0) {
    lines.push(
      '',
      `  ACCOUNT              PLATFORM   REFRESHES (expected ≈ ${r.expected_refreshes_per_account})  YOUNGEST AT REFRESH  DAYS LEFT AT REFRESH`,
    );
    for (const [id, a] of accounts) {
      lines.push(
        `  ${id.padEnd(20)} ${a.platform.padEnd(10)} ${String(a.refreshes).padEnd(29)} ${`${a.min_age_hours_at_refresh ?? '-'} h`.padEnd(20)} ${a.min_days_left_at_refresh ?? '-'}…${a.max_days_left_at_refresh ?? '-'}`,
      );
    }
  }
  for (const [id, m] of Object.entries(r.detection_minutes)) {
    lines.push(`  page ${id} showed the invalidation after ${m === null ? 'never' : `${m} minutes`}`);
  }
  const p = r.posting_app;
  lines.push(
    p === null
      ? '  no posting app (with --post-every N, one posts every N minutes and reports token errors)'
      : `  posting app, every ${p.every_minutes} minutes: ${p.posts} posts, ${p.failed_posts} failed, ${p.refreshes} token refresh calls (${p.healed_on_demand} healed at once)${p.stopped.length > 0 ? `; stopped posting to ${p.stopped.join(', ')} (needs a person)` : ''}`,
  );
  return lines.join('\n');
}
