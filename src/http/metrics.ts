/**
 * Prometheus metrics. Counters and histograms follow the core's events (`keeper.events`); the Page
 * gauges are computed from the store, so they are right on every instance even when another
 * instance did the work. A private registry per keeper: several apps in one process (tests) never
 * share counters.
 *
 * What a scrape costs must not grow with the number of scrapers: the Page gauges (one read of every
 * Page, and with 10,000 Pages several MB of text) are computed at most once per `maxAgeMs`
 * (default 5 s), by one refresh that concurrent scrapes share, and kept as rendered text. Counters
 * are rendered fresh on every scrape (a few dozen series).
 *
 * Names (all prefixed `fbtk_`):
 * - `checks_total{outcome}`                       pages processed (ok | failed | skipped)
 * - `renewals_total{outcome}`                     renewed | healed | not_extendable | failed
 * - `failures_total{code}`                        failed page checks/renewals by error code
 * - `graph_call_duration_seconds{endpoint}`       Graph API call latency (histogram)
 * - `graph_errors_total{endpoint,code}`           failed Graph calls by Facebook error code (or kind)
 * - `alert_deliveries_total{channel,outcome}`     delivered | failed | gave_up
 * - `last_check_round_timestamp_seconds`          end of the last scheduler round
 * - `last_successful_check_round_timestamp_seconds` end of the last round with no failed page
 * - `metrics_page_refreshes_total`                how often the Page gauges were read from the store
 * Aggregates, always exported:
 * - `pages`                                       managed pages
 * - `pages_by_state{state}`                       managed pages in each state (0 included)
 * - `soonest_page_token_expiry_timestamp_seconds` the soonest posting-token expiry (absent = none expires)
 * - `soonest_source_token_expiry_timestamp_seconds` the soonest source-token expiry (absent = none)
 * - `metrics_pages_with_series`                   Pages that have per-Page series (METRICS_PAGE_SERIES)
 * Per app (its call budget, lifecycle/pacing.ts):
 * - `app_usage_percent{app_id}`                   the last X-App-Usage (absent before the first header)
 * - `app_budget_calls_per_hour{app_id}`           estimated calls per hour the app may make
 * - `app_checks_calls_per_hour{app_id}`           calls per hour its Page checks need
 * - `app_achievable_check_interval_hours{app_id}` the interval its Pages can have inside GRAPH_USAGE_TARGET
 * - `app_call_budget_short{app_id}`               1 when its Pages do not fit in CHECK_INTERVAL_HOURS
 * Per Page (all Pages, none, or the N that need attention first, per METRICS_PAGE_SERIES):
 * - `page_token_expiry_timestamp_seconds{page_id,platform}` posting token expiry (absent = never expires)
 * - `page_token_days_left{page_id,platform}`      days until that expiry (absent = never expires)
 * - `page_source_token_expiry_timestamp_seconds{page_id,platform}` source token expiry (absent = none/never)
 * - `page_state{page_id,platform,state}`          1 for the page's state, 0 for the others
 *   (`platform`: facebook_page, instagram, threads, whatsapp: a WhatsApp connection, `page_id` its id)
 * - `http_requests_total{method,route,status}` and `http_request_duration_seconds{method,route}`
 * plus the process metrics of prom-client (`fbtk_process_*`, `fbtk_nodejs_*`).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { type Clock, DAY, HOUR } from '../clock.js';
import type { AppBudgetReport } from '../lifecycle/pacing.js';
import type { KeeperEventMap, TokenKeeper } from '../lifecycle/types.js';
import type { Store } from '../store/types.js';
import { type ManagedPage, PAGE_STATES } from '../types.js';

export interface Metrics {
  readonly registry: Registry;
  readonly contentType: string;
  /** The exposition text (UTF-8); the Page gauges are at most `maxAgeMs` old. */
  render(): Promise<Buffer>;
  observeRequest(info: { method: string; route: string; status: number; durationMs: number }): void;
  /** Stop listening to the keeper's events. */
  close(): void;
}

const PREFIX = 'fbtk_';

export const PAGE_GAUGES_MAX_AGE_MS = 5_000;

/** One gauge family in the text exposition format (HELP, TYPE, then its samples). */
function family(name: string, help: string, samples: readonly string[]): string {
  const head = `# HELP ${PREFIX}${name} ${help}\n# TYPE ${PREFIX}${name} gauge\n`;
  return samples.length === 0 ? head : `${head}${samples.join('\n')}\n`;
}

/** A label value as the exposition format needs it (backslash, double quote and newline escaped). */
function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export interface MetricsOptions {
  /** Per-Page series for every Page, or for at most this many (0: aggregates only). */
  pageSeries?: number | 'all';
  /** The Page gauges are recomputed at most this often, however many scrapers ask. */
  maxAgeMs?: number;
  /** Each app's call budget and pacing plan for these Pages (lifecycle/pacing.ts); absent: no budget series. */
  callBudget?: (pages: readonly ManagedPage[]) => Promise<AppBudgetReport[]>;
}

/** The budget series of one app each (see the list at the top). */
export function budgetFamilies(reports: readonly AppBudgetReport[]): string[] {
  const series = (name: string, value: (r: AppBudgetReport) => number | null) =>
    reports.flatMap((r) => {
      const v = value(r);
      return v === null || !Number.isFinite(v)
        ? []
        : [`${PREFIX}${name}{app_id="${labelValue(r.appId)}"} ${v}`];
    });
  return [
    family(
      'app_usage_percent',
      "The app's last X-App-Usage (highest of call_count, total_time, total_cputime), percent; absent before the first header.",
      series('app_usage_percent', (r) => r.usagePercent),
    ),
    family(
      'app_budget_calls_per_hour',
      'Calls per hour the app may make, estimated from X-App-Usage (a lower bound); absent while unknown.',
      series('app_budget_calls_per_hour', (r) => r.capacityPerHour),
    ),
    family(
      'app_checks_calls_per_hour',
      "Calls per hour the app's Page checks need to meet CHECK_INTERVAL_HOURS.",
      series('app_checks_calls_per_hour', (r) => Math.round(r.plan.neededCallsPerHour * 100) / 100),
    ),
    family(
      'app_achievable_check_interval_hours',
      "The check interval the app's Pages can have inside GRAPH_USAGE_TARGET of its budget; absent while unknown.",
      series('app_achievable_check_interval_hours', (r) =>
        r.plan.achievableIntervalMs === null
          ? null
          : Math.round((r.plan.achievableIntervalMs / HOUR) * 100) / 100,
      ),
    ),
    family(
      'app_call_budget_short',
      "1 when the app's Pages cannot all be checked within CHECK_INTERVAL_HOURS inside GRAPH_USAGE_TARGET of its budget.",
      series('app_call_budget_short', (r) => (r.plan.fits ? 0 : 1)),
    ),
  ];
}

/**
 * The Pages that get per-Page series when only `limit` may: those that need a person or a
 * renewal first (not healthy), then the soonest posting-token expiry, then by id (stable).
 */
export function pagesForSeries(list: readonly ManagedPage[], limit: number | 'all'): ManagedPage[] {
  if (limit === 'all' || list.length <= limit) return [...list];
  const expiry = (p: ManagedPage) => p.posting.expiresAt ?? Number.POSITIVE_INFINITY;
  return [...list]
    .sort(
      (a, b) =>
        Number(a.state === 'healthy') - Number(b.state === 'healthy') ||
        expiry(a) - expiry(b) ||
        a.pageId.localeCompare(b.pageId),
    )
    .slice(0, limit);
}

export function createMetrics(
  keeper: Pick<TokenKeeper, 'events'> & Partial<Pick<TokenKeeper, 'listWhatsAppAccounts'>>,
  store: Store,
  clock: Clock,
  options: MetricsOptions = {},
): Metrics {
  const pageSeries = options.pageSeries ?? 'all';
  const maxAgeMs = options.maxAgeMs ?? PAGE_GAUGES_MAX_AGE_MS;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: PREFIX });
  const r = [registry];

  const checks = new Counter({
    name: `${PREFIX}checks_total`,
    help: 'Pages processed by checks and renewals, by outcome.',
    labelNames: ['outcome'],
    registers: r,
  });
  const renewals = new Counter({
    name: `${PREFIX}renewals_total`,
    help: 'Renewal attempts by outcome.',
    labelNames: ['outcome'],
    registers: r,
  });
  const failures = new Counter({
    name: `${PREFIX}failures_total`,
    help: 'Failed page checks and renewals by error code.',
    labelNames: ['code'],
    registers: r,
  });
  const graphLatency = new Histogram({
    name: `${PREFIX}graph_call_duration_seconds`,
    help: 'Graph API call latency by endpoint.',
    labelNames: ['endpoint'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: r,
  });
  const graphErrors = new Counter({
    name: `${PREFIX}graph_errors_total`,
    help: 'Failed Graph API calls by endpoint and Facebook error code (or error kind).',
    labelNames: ['endpoint', 'code'],
    registers: r,
  });
  const alerts = new Counter({
    name: `${PREFIX}alert_deliveries_total`,
    help: 'Alert deliveries by channel and outcome.',
    labelNames: ['channel', 'outcome'],
    registers: r,
  });
  const lastRound = new Gauge({
    name: `${PREFIX}last_check_round_timestamp_seconds`,
    help: 'When the last check round finished (unix seconds).',
    registers: r,
  });
  const lastGoodRound = new Gauge({
    name: `${PREFIX}last_successful_check_round_timestamp_seconds`,
    help: 'When the last check round with no failed page finished (unix seconds).',
    registers: r,
  });
  const pageRefreshes = new Counter({
    name: `${PREFIX}metrics_page_refreshes_total`,
    help: 'How often the Page gauges were read from the store (at most once per few seconds).',
    registers: r,
  });
  const httpRequests = new Counter({
    name: `${PREFIX}http_requests_total`,
    help: 'HTTP requests by method, route and status.',
    labelNames: ['method', 'route', 'status'],
    registers: r,
  });
  const httpLatency = new Histogram({
    name: `${PREFIX}http_request_duration_seconds`,
    help: 'HTTP request duration by method and route.',
    labelNames: ['method', 'route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: r,
  });

  // Failure codes live on the page row; look them up after the event, and let a scrape wait for it.
  const pending = new Set<Promise<void>>();

  type Args<K extends keyof KeeperEventMap> = KeeperEventMap[K][0];
  const onProcessed = (e: Args<'page_processed'>) => {
    checks.inc({ outcome: e.outcome });
    if (e.outcome !== 'failed') return;
    const p: Promise<void> = store
      .getPage(e.pageId)
      .then((page) => failures.inc({ code: page?.lastError?.code ?? 'unknown' }))
      .catch(() => failures.inc({ code: 'unknown' }))
      .finally(() => pending.delete(p));
    pending.add(p);
  };
  const onRenewal = (e: Args<'renewal'>) => renewals.inc({ outcome: e.outcome });
  const onGraphCall = (e: Args<'graph_call'>) => {
    graphLatency.observe({ endpoint: e.endpoint }, e.durationMs / 1000);
    if (!e.ok) {
      graphErrors.inc({
        endpoint: e.endpoint,
        code: e.fbCode !== null ? String(e.fbCode) : (e.kind ?? 'unknown'),
      });
    }
  };
  const onRound = (e: Args<'check_round'>) => {
    lastRound.set(e.finishedAt / 1000);
    if (e.failed === 0) lastGoodRound.set(e.finishedAt / 1000);
  };
  const onAlert = (e: Args<'alert_delivery'>) => alerts.inc({ channel: e.channel, outcome: e.outcome });
  const events = keeper.events;
  events.on('page_processed', onProcessed);
  events.on('renewal', onRenewal);
  events.on('graph_call', onGraphCall);
  events.on('check_round', onRound);
  events.on('alert_delivery', onAlert);

  /**
   * The Page gauges as exposition text, written directly rather than through prom-client gauges:
   * with 10,000 Pages that is 90,000 series, which prom-client's label bookkeeping turns into
   * seconds of blocked event loop. Yields every few hundred Pages so requests keep being served.
   */
  async function renderPages(): Promise<string> {
    const list = await store.listPages();
    const now = clock.now();
    pageRefreshes.inc();
    const counts = new Map<string, number>(PAGE_STATES.map((st) => [st, 0]));
    let soonest = Number.POSITIVE_INFINITY;
    let soonestSource = Number.POSITIVE_INFINITY;
    for (const page of list) {
      counts.set(page.state, (counts.get(page.state) ?? 0) + 1);
      if (page.posting.expiresAt !== null) soonest = Math.min(soonest, page.posting.expiresAt);
      const se = page.source?.expiresAt;
      if (se !== null && se !== undefined) soonestSource = Math.min(soonestSource, se);
    }
    const selected = pagesForSeries(list, pageSeries);
    const budgets = options.callBudget ? await options.callBudget(list) : [];
    const out: string[] = [
      ...(options.callBudget ? budgetFamilies(budgets) : []),
      family('pages', 'Managed pages.', [`${PREFIX}pages ${list.length}`]),
      family(
        'pages_by_state',
        'Managed pages in each state.',
        [...counts].map(([st, n]) => `${PREFIX}pages_by_state{state="${st}"} ${n}`),
      ),
      family(
        'soonest_page_token_expiry_timestamp_seconds',
        'The soonest posting-token expiry of any Page (unix seconds); absent when none expires.',
        Number.isFinite(soonest)
          ? [`${PREFIX}soonest_page_token_expiry_timestamp_seconds ${soonest / 1000}`]
          : [],
      ),
      family(
        'soonest_source_token_expiry_timestamp_seconds',
        'The soonest source-token expiry of any Page (unix seconds); absent when none expires.',
        Number.isFinite(soonestSource)
          ? [`${PREFIX}soonest_source_token_expiry_timestamp_seconds ${soonestSource / 1000}`]
          : [],
      ),
      family('metrics_pages_with_series', 'Pages that have per-Page series here (METRICS_PAGE_SERIES).', [
        `${PREFIX}metrics_pages_with_series ${selected.length}`,
      ]),
    ];
    const expiry: string[] = [];
    const daysLeft: string[] = [];
    const sourceExpiry: string[] = [];
    const state: string[] = [];
    for (let i = 0; i < selected.length; i++) {
      if (i > 0 && i % 500 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const page = selected[i]!;
      // `platform` tells a Facebook Page from an Instagram account or a Threads profile.
      const id = `${labelValue(page.pageId)}",platform="${labelValue(page.platform)}`;
      if (page.posting.expiresAt !== null) {
        expiry.push(
          `${PREFIX}page_token_expiry_timestamp_seconds{page_id="${id}"} ${page.posting.expiresAt / 1000}`,
        );
        const days = Math.round(((page.posting.expiresAt - now) / DAY) * 1000) / 1000;
        daysLeft.push(`${PREFIX}page_token_days_left{page_id="${id}"} ${days}`);
      }
      const se = page.source?.expiresAt;
      if (se !== null && se !== undefined) {
        sourceExpiry.push(
          `${PREFIX}page_source_token_expiry_timestamp_seconds{page_id="${id}"} ${se / 1000}`,
        );
      }
      for (const st of PAGE_STATES) {
        state.push(`${PREFIX}page_state{page_id="${id}",state="${st}"} ${st === page.state ? 1 : 0}`);
      }
    }
    // WhatsApp Cloud API connections have no Page row: the same per-account series, platform="whatsapp".
    for (const a of (await keeper.listWhatsAppAccounts?.()) ?? []) {
      const id = `${labelValue(a.id)}",platform="whatsapp`;
      if (a.expires_at !== null) {
        const at = Date.parse(a.expires_at);
        expiry.push(`${PREFIX}page_token_expiry_timestamp_seconds{page_id="${id}"} ${at / 1000}`);
        daysLeft.push(
          `${PREFIX}page_token_days_left{page_id="${id}"} ${Math.round(((at - now) / DAY) * 1000) / 1000}`,
        );
      }
      for (const st of PAGE_STATES) {
        state.push(`${PREFIX}page_state{page_id="${id}",state="${st}"} ${st === a.state ? 1 : 0}`);
      }
    }
    out.push(
      family(
        'page_token_expiry_timestamp_seconds',
        'Posting token expiry (unix seconds); absent when it never expires.',
        expiry,
      ),
      family(
        'page_token_days_left',
        'Days until the posting token expires; absent when it never expires.',
        daysLeft,
      ),
      family(
        'page_source_token_expiry_timestamp_seconds',
        'Source token expiry (unix seconds); absent when there is none or it never expires.',
        sourceExpiry,
      ),
      family('page_state', 'The page state, one-hot: 1 for the current state.', state),
    );
    return out.join('');
  }

  // One refresh at a time, shared by every scrape that arrives meanwhile; kept for `maxAgeMs`.
  // Kept as bytes: encoding several MB on every scrape would be a cost per scraper again.
  let cached: { text: Buffer; at: number } | null = null;
  let refreshing: Promise<Buffer> | null = null;
  // The age counts from the end of a refresh, so a refresh slower than `maxAgeMs` is not run back to back.
  function pageText(): Promise<Buffer> {
    if (cached && clock.now() - cached.at < maxAgeMs) return Promise.resolve(cached.text);
    refreshing ??= (async () => {
      try {
        const text = Buffer.from(await renderPages(), 'utf8');
        cached = { text, at: clock.now() };
        return text;
      } finally {
        refreshing = null;
      }
    })();
    return refreshing;
  }

  return {
    registry,
    contentType: registry.contentType,
    async render() {
      await Promise.all([...pending]);
      const pagesText = await pageText();
      return Buffer.concat([Buffer.from(await registry.metrics(), 'utf8'), pagesText]);
    },
    observeRequest({ method, route, status, durationMs }) {
      httpRequests.inc({ method, route, status: String(status) });
      httpLatency.observe({ method, route }, durationMs / 1000);
    },
    close() {
      events.off('page_processed', onProcessed);
      events.off('renewal', onRenewal);
      events.off('graph_call', onGraphCall);
      events.off('check_round', onRound);
      events.off('alert_delivery', onAlert);
    },
  };
}
