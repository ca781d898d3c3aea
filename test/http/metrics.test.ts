/**
 * /metrics in the Prometheus text format, parsed by a Prometheus text-format parser: counters follow
 * the keeper's events, per-page gauges come from the store at scrape time.
 */
import parsePrometheusTextFormat, { type PromFamily } from 'parse-prometheus-text-format';
import { describe, expect, it } from 'vitest';
import { DAY } from '../../src/clock.js';
import { PAGE_GAUGES_MAX_AGE_MS } from '../../src/http/metrics.js';
import { PAGE_STATES } from '../../src/types.js';
import { testBackends } from '../helpers/backends.js';
import { type ApiWorld, withApi } from './world.js';

let lastText = '';

async function scrape(w: ApiWorld): Promise<Map<string, PromFamily>> {
  const r = await w.call('GET', '/metrics', { key: null });
  expect(r.statusCode).toBe(200);
  expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  lastText = r.body;
  return new Map(parsePrometheusTextFormat(r.body).map((f) => [f.name, f]));
}

/**
 * The parser flattens histograms and drops their labels (it only knows unlabelled ones), so the
 * per-endpoint count of a labelled histogram is read from the `_count` line itself.
 */
function histogramCount(name: string, labels: string): number {
  const line = lastText.split('\n').find((l) => l.startsWith(`${name}_count{${labels}}`));
  return line === undefined ? Number.NaN : Number(line.split(' ').at(-1));
}

function value(
  families: Map<string, PromFamily>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const family = families.get(name);
  const sample = family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return sample?.value === undefined ? undefined : Number(sample.value);
}

function seriesFor(families: Map<string, PromFamily>, name: string, pageId: string) {
  return (families.get(name)?.metrics ?? []).filter((m) => m.labels?.page_id === pageId);
}

describe.each(testBackends())('/metrics on %s', (backend) => {
  it('per-page expiry, days left and one-hot state; counters of checks, renewals, failures and Graph calls', async () => {
    await withApi(backend, async (w) => {
      const never = await w.setupPage('Never expires');
      // A Page token that expires with its user token (older Facebook behaviour) has a finite expiry.
      w.graph.setPageTokensInheritExpiry(true);
      const finite = await w.setupPage('Expires');
      w.clock.advance(3 * DAY);

      let m = await scrape(w);
      expect(m.get('fbtk_pages')?.type).toBe('GAUGE');
      expect(value(m, 'fbtk_pages')).toBe(2);
      // Never expires: no expiry series at all (absent, not 0).
      expect(seriesFor(m, 'fbtk_page_token_expiry_timestamp_seconds', never.pageId)).toEqual([]);
      expect(seriesFor(m, 'fbtk_page_token_days_left', never.pageId)).toEqual([]);
      const status = (await w.call('GET', `/api/pages/${finite.pageId}`)).json();
      expect(status.expires_at).not.toBeNull();
      expect(value(m, 'fbtk_page_token_expiry_timestamp_seconds', { page_id: finite.pageId })).toBe(
        Date.parse(status.expires_at) / 1000,
      );
      const daysLeft = value(m, 'fbtk_page_token_days_left', { page_id: finite.pageId })!;
      expect(daysLeft).toBeCloseTo((Date.parse(status.expires_at) - w.clock.now()) / DAY, 2);
      expect(daysLeft).toBeGreaterThan(50);
      // The finite one inherited its user token's expiry: a real deadline, so `expiring`.
      for (const [page, state] of [
        [never, 'healthy'],
        [finite, 'expiring'],
      ] as const) {
        const states = seriesFor(m, 'fbtk_page_state', page.pageId);
        expect(states.map((s) => s.labels?.state).sort()).toEqual([...PAGE_STATES].sort());
        expect(states.filter((s) => s.value === '1').map((s) => s.labels?.state)).toEqual([state]);
      }
      const graphCalls = m.get('fbtk_graph_call_duration_seconds');
      expect(graphCalls?.type).toBe('HISTOGRAM');
      expect(graphCalls?.metrics[0]?.buckets).toHaveProperty('+Inf');
      expect(histogramCount('fbtk_graph_call_duration_seconds', 'endpoint="debug_token"')).toBeGreaterThan(0);

      // A renewal, a failed check (throttled by Facebook) and a scheduler round.
      expect(
        (await w.call('POST', `/api/pages/${never.pageId}/renew`, { body: { force: true } })).statusCode,
      ).toBe(200);
      w.graph.injectFault({ kind: 'throttle_app', times: 5 });
      expect((await w.call('POST', `/api/pages/${finite.pageId}/check`)).statusCode).toBe(200);
      w.graph.clearFaults();
      w.clock.advance(2 * DAY);
      await w.keeper.runRound();

      m = await scrape(w);
      expect(value(m, 'fbtk_renewals_total', { outcome: 'renewed' })).toBe(1);
      expect(value(m, 'fbtk_checks_total', { outcome: 'failed' })).toBeGreaterThanOrEqual(1);
      expect(value(m, 'fbtk_checks_total', { outcome: 'ok' })).toBeGreaterThanOrEqual(2);
      expect(value(m, 'fbtk_failures_total', { code: 'graph_rate_limited' })).toBe(1);
      // One or two throttled calls (the posting and source tokens may be inspected side by side).
      expect(
        value(m, 'fbtk_graph_errors_total', { endpoint: 'debug_token', code: '4' }),
      ).toBeGreaterThanOrEqual(1);
      expect(value(m, 'fbtk_last_check_round_timestamp_seconds')).toBe(w.clock.now() / 1000);
      expect(value(m, 'fbtk_last_successful_check_round_timestamp_seconds')).toBe(w.clock.now() / 1000);
      expect(
        value(m, 'fbtk_http_requests_total', {
          method: 'POST',
          route: '/api/pages/:page_id/renew',
          status: '200',
        }),
      ).toBe(1);
      expect(m.get('fbtk_process_cpu_user_seconds_total')).toBeDefined();

      // A deleted page's series disappear once the Page gauges are refreshed (at most 5 s later).
      await w.call('DELETE', `/api/pages/${finite.pageId}`);
      m = await scrape(w);
      expect(value(m, 'fbtk_pages')).toBe(2);
      w.clock.advance(PAGE_GAUGES_MAX_AGE_MS);
      m = await scrape(w);
      expect(seriesFor(m, 'fbtk_page_state', finite.pageId)).toEqual([]);
      expect(seriesFor(m, 'fbtk_page_token_expiry_timestamp_seconds', finite.pageId)).toEqual([]);
      expect(value(m, 'fbtk_pages')).toBe(1);
    });
  });

  it('healthz and readyz: readiness names the failing check and answers 503', async () => {
    let ok = true;
    await withApi(
      backend,
      async (w) => {
        expect((await w.call('GET', '/healthz', { key: null })).json()).toEqual({ ok: true });
        expect((await w.call('GET', '/readyz', { key: null })).json()).toEqual({
          ok: true,
          checks: { database: { ok: true }, scheduler: { ok: true } },
        });
        ok = false;
        const r = await w.call('GET', '/readyz', { key: null });
        expect(r.statusCode).toBe(503);
        expect(r.json()).toEqual({
          ok: false,
          checks: { database: { ok: true }, scheduler: { ok: false, message: 'no round finished recently' } },
        });
      },
      {
        app: {
          ready: async () => {
            await Promise.resolve();
            return {
              ok,
              checks: {
                database: { ok: true },
                scheduler: ok ? { ok: true } : { ok: false, message: 'no round finished recently' },
              },
            };
          },
        },
      },
    );
  });

  it('the default readiness checks the database and its migrations', async () => {
    await withApi(backend, async (w) => {
      expect((await w.call('GET', '/readyz', { key: null })).json()).toEqual({
        ok: true,
        checks: { database: { ok: true }, migrations: { ok: true } },
      });
      await w.store.close();
      const r = await w.call('GET', '/readyz', { key: null });
      expect(r.statusCode).toBe(503);
      expect(r.json()).toMatchObject({ ok: false, checks: { database: { ok: false } } });
    });
  });
});
