/**
 * Usage headers (GRAPH_API.md §4): X-App-Usage, X-Page-Usage and X-Business-Use-Case-Usage are
 * parsed on every response, so throttling is seen coming and the wait is taken from Facebook.
 */
export interface UsageFigures {
  call_count?: number;
  total_cputime?: number;
  total_time?: number;
  estimated_time_to_regain_access?: number;
}

export interface Usage {
  app: UsageFigures | null;
  page: UsageFigures | null;
  business: Record<string, UsageFigures[]> | null;
  /** Highest percentage in any header. */
  maxPercent: number;
  /** When Facebook says how long until access returns (BUC minutes), or a usage is at 100 %. */
  retryAfterMs: number | null;
}

type HeaderGetter = (name: string) => string | null | undefined;

function parseJson(value: string | null | undefined): unknown {
  if (!value) return null;
  try {
    return JSON.parse(value);
  } catch {
    return null;
  }
}

function figures(v: unknown): UsageFigures | null {
  if (!v || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  const out: UsageFigures = {};
  for (const k of ['call_count', 'total_cputime', 'total_time', 'estimated_time_to_regain_access'] as const) {
    if (typeof o[k] === 'number') out[k] = o[k];
  }
  return out;
}

const pct = (f: UsageFigures | null) => (f ? Math.max(f.call_count ?? 0, f.total_cputime ?? 0, f.total_time ?? 0) : 0);

export function parseUsage(get: HeaderGetter): Usage | null {
  const app = figures(parseJson(get('x-app-usage')));
  const page = figures(parseJson(get('x-page-usage')));
  const bucRaw = parseJson(get('x-business-use-case-usage'));
  let business: Record<string, UsageFigures[]> | null = null;
  if (bucRaw && typeof bucRaw === 'object') {
    business = {};
    for (const [id, list] of Object.entries(bucRaw as Record<string, unknown>)) {
      business[id] = Array.isArray(list) ? list.map(figures).filter((x): x is UsageFigures => x !== null) : [];
    }
  }
  if (!app && !page && !business) return null;
  const all = [app, page, ...Object.values(business ?? {}).flat()];
  const maxPercent = Math.max(...all.map(pct));
  const regainMinutes = Math.max(0, ...all.map((f) => f?.estimated_time_to_regain_access ?? 0));
  let retryAfterMs: number | null = null;
  if (regainMinutes > 0) retryAfterMs = regainMinutes * 60_000;
  else if (maxPercent >= 100) retryAfterMs = 60 * 60_000;
  return { app, page, business, maxPercent, retryAfterMs };
}
