/**
 * The one HTTP path to the Instagram-Login and Threads hosts: a timeout on every call, JSON
 * validated by a zod schema (a changed answer is a clear `graph_bad_response`, never a crash),
 * every failure classified on the platform's own terms (errors.ts), and nothing thrown that
 * carries a token or a secret (the URL's query is never put into a message).
 */
import type { z } from 'zod';
import type { GraphCallInfo } from '../graph/client.js';
import { GraphError } from '../graph/errors.js';
import { parseJson, readShape, sendRequest } from '../graph/wire.js';
import { classifyPlatformError, PLATFORM_LABEL, type RefreshablePlatformName } from './errors.js';

export interface PlatformCallerOptions {
  platform: RefreshablePlatformName;
  /** Per call. Default 10 000. */
  timeoutMs?: number;
  onCall?: (info: GraphCallInfo) => void;
}

export interface PlatformCall<T> {
  /** Secret-free label, e.g. `me`, `refresh_access_token`. */
  endpoint: string;
  /** Base URL (e.g. INSTAGRAM_API_URL) and path. */
  base: string;
  path: string;
  method?: 'GET' | 'POST';
  params: Record<string, string>;
  /** Values to scrub from any message (tokens, secrets, codes). */
  secrets: readonly string[];
  schema: z.ZodType<T>;
  /** The call is authenticated by the token being looked at (see errors.ts). */
  tokenCall: boolean;
  /** Which variable names the base, for a network error (e.g. INSTAGRAM_API_URL). */
  variable: string;
}

export type PlatformCaller = <T>(spec: PlatformCall<T>) => Promise<T>;

export function createPlatformCaller(options: PlatformCallerOptions): PlatformCaller {
  const label = PLATFORM_LABEL[options.platform];
  const timeoutMs = options.timeoutMs ?? 10_000;
  return async function call<T>(spec: PlatformCall<T>): Promise<T> {
    const secrets = [...spec.secrets];
    const started = performance.now();
    const fail = (err: GraphError): never => {
      options.onCall?.({
        endpoint: spec.endpoint,
        durationMs: performance.now() - started,
        ok: false,
        fbCode: err.fbCode,
        kind: err.kind,
      });
      throw err;
    };
    const raw = await sendRequest({
      label,
      endpoint: spec.endpoint,
      method: spec.method ?? 'GET',
      where: `${spec.base}${spec.path}`,
      params: spec.params,
      timeoutMs,
      variable: spec.variable,
      base: spec.base,
      secrets,
    });
    if (raw instanceof GraphError) return fail(raw);
    const { status, headers, text } = raw;
    const body = parseJson(text);
    const json = body.ok ? body.json : undefined;
    const hasError =
      body.ok && typeof json === 'object' && json !== null && ('error' in json || 'error_message' in json);
    if (status < 200 || status >= 300 || !body.ok || hasError) {
      return fail(
        classifyPlatformError(options.platform, body.ok ? json : text, status, headers, {
          endpoint: spec.endpoint,
          secrets,
          tokenCall: spec.tokenCall,
        }),
      );
    }
    const parsed = readShape(spec.schema, json, { label, endpoint: spec.endpoint, status, secrets });
    if (!parsed.ok) return fail(parsed.error);
    options.onCall?.({
      endpoint: spec.endpoint,
      durationMs: performance.now() - started,
      ok: true,
      fbCode: null,
      kind: null,
    });
    return parsed.data;
  };
}
