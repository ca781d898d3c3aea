/**
 * The one HTTP path to the Instagram-Login and Threads hosts: a timeout on every call, JSON
 * validated by a zod schema (a changed answer is a clear `graph_bad_response`, never a crash),
 * every failure classified on the platform's own terms (errors.ts), and nothing thrown that
 * carries a token or a secret (the URL's query is never put into a message).
 */
import { request } from 'undici';
import type { z } from 'zod';
import type { GraphCallInfo } from '../graph/client.js';
import { GraphError } from '../graph/errors.js';
import { safeCause } from '../graph/redact.js';
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
    const method = spec.method ?? 'GET';
    const query = new URLSearchParams(spec.params).toString();
    const where = `${spec.base}${spec.path}`;
    const url = method === 'GET' ? `${where}?${query}` : where;
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
    const signal = AbortSignal.timeout(timeoutMs);
    let status: number;
    let headers: Record<string, string | string[] | undefined>;
    let text: string;
    try {
      const res = await request(url, {
        method,
        signal,
        headers: {
          accept: 'application/json',
          ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        ...(method === 'POST' ? { body: query } : {}),
      });
      status = res.statusCode;
      headers = res.headers;
      text = await res.body.text();
    } catch (e: unknown) {
      return fail(
        new GraphError({
          kind: 'transient',
          endpoint: spec.endpoint,
          message: signal.aborted
            ? `${label} ${spec.endpoint} did not answer within ${timeoutMs} ms (${where}; ${spec.variable}=${spec.base})`
            : `could not reach ${label} for ${spec.endpoint} at ${where} (network error): check ${spec.variable} (now ${spec.base}) and the network`,
          cause: safeCause(e, secrets),
          secrets,
        }),
      );
    }
    let json: unknown;
    let parsedJson = true;
    try {
      json = JSON.parse(text);
    } catch {
      parsedJson = false;
    }
    const hasError =
      parsedJson && typeof json === 'object' && json !== null && ('error' in json || 'error_message' in json);
    if (status < 200 || status >= 300 || !parsedJson || hasError) {
      return fail(
        classifyPlatformError(options.platform, parsedJson ? json : text, status, headers, {
          endpoint: spec.endpoint,
          secrets,
          tokenCall: spec.tokenCall,
        }),
      );
    }
    const parsed = spec.schema.safeParse(json);
    if (!parsed.success) {
      const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(root)'))]
        .slice(0, 5)
        .join(', ');
      return fail(
        new GraphError({
          kind: 'transient',
          code: 'graph_bad_response',
          endpoint: spec.endpoint,
          fbHttpStatus: status,
          message: `${label} ${spec.endpoint} answered with an unexpected shape (missing or invalid: ${fields})`,
          secrets,
        }),
      );
    }
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
