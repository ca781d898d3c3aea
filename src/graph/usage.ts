/**
 * Rate-limit usage headers (docs/FACEBOOK.md#throttling), parsed on every response.
 *
 * - `X-App-Usage` (Platform limits; app or user token): `{call_count, total_cputime, total_time}` in %.
 * - `X-Business-Use-Case-Usage` (BUC; Page or system-user token): `{ "<object id>": [{type, call_count,
 *   total_cputime, total_time, estimated_time_to_regain_access (MINUTES)}] }`.
 * - `X-Page-Usage`: same three keys as X-App-Usage.
 *
 * A missing header means "no data", not 0 % (docs/FACEBOOK.md#throttling). A header that does not parse is treated the same way:
 * usage headers are advisory and must never make a call fail.
 */
import { z } from 'zod';
import { HOUR, MINUTE } from '../clock.js';

export interface UsageNumbers {
  call_count: number;
  total_cputime: number;
  total_time: number;
}

export interface BusinessUsageEntry extends UsageNumbers {
  type: string;
  /** Minutes until calls stop being throttled (0 = not throttled). */
  estimated_time_to_regain_access: number;
}

export interface GraphUsage {
  app?: UsageNumbers;
  business?: Record<string, BusinessUsageEntry[]>;
  page?: UsageNumbers;
  /** Highest percentage seen in any header (0 when no header was sent). */
  maxPercent: number;
  /**
   * How long to stop calling, from the headers alone: the largest `estimated_time_to_regain_access`,
   * else a default when some usage is at 100 % (1 h for X-App-Usage, a rolling one-hour window;
   * 5 min for Page/BUC usage); null when the headers do not say we are throttled.
   */
  retryAfterMs: number | null;
}

/** Headers as undici returns them, a WHATWG `Headers`, or a plain object. */
export type HeaderSource = Headers | Record<string, string | string[] | undefined> | null | undefined;

/** Default waits when a header is at 100 % but gives no time to regain access. */
export const APP_THROTTLE_DEFAULT_MS = HOUR;
export const PAGE_THROTTLE_DEFAULT_MS = 5 * MINUTE;

const percent = z.union([z.number(), z.string()]).transform(Number).pipe(z.number()).catch(0);
const numbersSchema = z.object({ call_count: percent, total_cputime: percent, total_time: percent });
const bucEntrySchema = numbersSchema.extend({
  type: z.string().catch('unknown'),
  estimated_time_to_regain_access: percent,
});
const bucSchema = z.record(z.string(), z.array(bucEntrySchema));

export function headerValue(headers: HeaderSource, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  if (key === undefined) return undefined;
  const v = record[key];
  return Array.isArray(v) ? v.join(',') : v;
}

function parseJson<T>(raw: string | undefined, schema: z.ZodType<T>): T | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  try {
    const r = schema.safeParse(JSON.parse(raw));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

const maxOf = (n: UsageNumbers): number => Math.max(n.call_count, n.total_cputime, n.total_time);

/** Pure: headers in, usage out. Never throws. */
export function parseUsageHeaders(headers: HeaderSource): GraphUsage {
  const app = parseJson(headerValue(headers, 'x-app-usage'), numbersSchema);
  const page = parseJson(headerValue(headers, 'x-page-usage'), numbersSchema);
  const business = parseJson(headerValue(headers, 'x-business-use-case-usage'), bucSchema);

  let maxPercent = 0;
  let retryAfterMs: number | null = null;
  const wait = (ms: number) => {
    retryAfterMs = Math.max(retryAfterMs ?? 0, ms);
  };
  if (app) {
    maxPercent = Math.max(maxPercent, maxOf(app));
    if (maxOf(app) >= 100) wait(APP_THROTTLE_DEFAULT_MS);
  }
  if (page) {
    maxPercent = Math.max(maxPercent, maxOf(page));
    if (maxOf(page) >= 100) wait(PAGE_THROTTLE_DEFAULT_MS);
  }
  for (const entries of Object.values(business ?? {})) {
    for (const e of entries) {
      maxPercent = Math.max(maxPercent, maxOf(e));
      if (e.estimated_time_to_regain_access > 0) wait(e.estimated_time_to_regain_access * MINUTE);
      else if (maxOf(e) >= 100) wait(PAGE_THROTTLE_DEFAULT_MS);
    }
  }
  return {
    ...(app ? { app } : {}),
    ...(business ? { business } : {}),
    ...(page ? { page } : {}),
    maxPercent,
    retryAfterMs,
  };
}

/**
 * Which budget an answer's headers speak of: `app` (X-App-Usage: Platform limits, app and user
 * tokens), `page` (only X-Page-Usage / X-Business-Use-Case-Usage: the Page's limit, Page and
 * system-user tokens), or `unknown` (no header: Facebook sends none while usage is about 0 %).
 */
export function usageBucket(usage: GraphUsage): 'app' | 'page' | 'unknown' {
  if (usage.app) return 'app';
  if (usage.page || usage.business) return 'page';
  return 'unknown';
}

/** A batch item's `headers: [{name, value}]` (https://developers.facebook.com/docs/graph-api/batch-requests) as a header record. */
export function batchItemHeaders(list: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(list)) return out;
  for (const h of list as { name?: unknown; value?: unknown }[]) {
    if (typeof h?.name === 'string' && typeof h.value === 'string') out[h.name.toLowerCase()] = h.value;
  }
  return out;
}
