/**
 * Prometheus metrics. Counters and histograms follow the core's events (`keeper.events`); per-page
 * gauges are computed from the store at scrape time, so they are right on every instance even when
 * another instance did the work. A private registry per keeper: several apps in one process (tests)
 * never share counters.
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
 * - `pages`                                       managed pages
 * - `page_token_expiry_timestamp_seconds{page_id}` posting token expiry (absent = never expires)
 * - `page_token_days_left{page_id}`               days until that expiry (absent = never expires)
 * - `page_source_token_expiry_timestamp_seconds{page_id}` source token expiry (absent = none/never)
 * - `page_state{page_id,state}`                   1 for the page's state, 0 for the others
 * - `http_requests_total{method,route,status}` and `http_request_duration_seconds{method,route}`
 * plus the process metrics of prom-client (`fbtk_process_*`, `fbtk_nodejs_*`).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { type Clock, DAY } from '../clock.js';
import type { KeeperEventMap, TokenKeeper } from '../lifecycle/types.js';
import type { Store } from '../store/types.js';
import { PAGE_STATES } from '../types.js';

export interface Metrics {
  readonly registry: Registry;
  readonly contentType: string;
  /** The exposition text, with the per-page gauges freshly read from the store. */
  render(): Promise<string>;
  observeRequest(info: { method: string; route: string; status: number; durationMs: number }): void;
  /** Stop listening to the keeper's events. */
  close(): void;
}

const PREFIX = 'fbtk_';

export function createMetrics(keeper: Pick<TokenKeeper, 'events'>, store: Store, clock: Clock): Metrics {
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
  const pages = new Gauge({ name: `${PREFIX}pages`, help: 'Managed pages.', registers: r });
  const expiry = new Gauge({
    name: `${PREFIX}page_token_expiry_timestamp_seconds`,
    help: 'Posting token expiry (unix seconds); absent when it never expires.',
    labelNames: ['page_id'],
    registers: r,
  });
  const daysLeft = new Gauge({
    name: `${PREFIX}page_token_days_left`,
    help: 'Days until the posting token expires; absent when it never expires.',
    labelNames: ['page_id'],
    registers: r,
  });
  const sourceExpiry = new Gauge({
    name: `${PREFIX}page_source_token_expiry_timestamp_seconds`,
    help: 'Source token expiry (unix seconds); absent when there is none or it never expires.',
    labelNames: ['page_id'],
    registers: r,
  });
  const state = new Gauge({
    name: `${PREFIX}page_state`,
    help: 'The page state, one-hot: 1 for the current state.',
    labelNames: ['page_id', 'state'],
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

  async function refreshPages(): Promise<void> {
    const list = await store.listPages();
    const now = clock.now();
    for (const g of [expiry, daysLeft, sourceExpiry, state]) g.reset();
    pages.set(list.length);
    for (const page of list) {
      const labels = { page_id: page.pageId };
      if (page.posting.expiresAt !== null) {
        expiry.set(labels, page.posting.expiresAt / 1000);
        daysLeft.set(labels, Math.round(((page.posting.expiresAt - now) / DAY) * 1000) / 1000);
      }
      if (page.source?.expiresAt !== null && page.source?.expiresAt !== undefined) {
        sourceExpiry.set(labels, page.source.expiresAt / 1000);
      }
      for (const s of PAGE_STATES) state.set({ page_id: page.pageId, state: s }, s === page.state ? 1 : 0);
    }
  }

  return {
    registry,
    contentType: registry.contentType,
    async render() {
      await Promise.all([...pending]);
      await refreshPages();
      return registry.metrics();
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
