/**
 * The HTTP exchange and the reading of an answer that the Graph client (client.ts) and the
 * Instagram-Login and Threads caller (platforms/http.ts) share: one request with a timeout, the
 * form body for a POST, a network failure or timeout as a transient GraphError that names the
 * host and the variable it comes from, and a body that does not fit its zod schema as
 * `graph_bad_response`. What an error answer means stays each caller's own (errors.ts,
 * platforms/errors.ts). Nothing here puts a URL's query (tokens, secrets) into a message.
 */
import { request } from 'undici';
import type { z } from 'zod';
import { GraphError } from './errors.js';
import { safeCause } from './redact.js';

/** An HTTP answer before it is read as a Graph answer (a whole response, or one batch item). */
export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export interface WireRequest {
  /** Who answers, for messages: `Facebook`, `Instagram`, `Threads`. */
  label: string;
  /** Secret-free label of the call. */
  endpoint: string;
  method: 'GET' | 'POST';
  /** The URL without its query. */
  where: string;
  /** The parameters: the query of a GET, the form body of a POST. */
  params: Record<string, string>;
  timeoutMs: number;
  /** The variable that names the host, and its value, for a network error (e.g. GRAPH_API_URL). */
  variable: string;
  base: string;
  /** Values to scrub from the cause. */
  secrets: string[];
}

/** Sends one request; a network failure or timeout is returned as a transient GraphError. */
export async function sendRequest(r: WireRequest): Promise<RawAnswer | GraphError> {
  const query = new URLSearchParams(r.params).toString();
  const url = r.method === 'GET' ? `${r.where}?${query}` : r.where;
  const signal = AbortSignal.timeout(r.timeoutMs);
  try {
    const res = await request(url, {
      method: r.method,
      signal,
      headers: {
        accept: 'application/json',
        ...(r.method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(r.method === 'POST' ? { body: query } : {}),
    });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  } catch (e: unknown) {
    // The undici error is replaced by a safe stand-in: it may reference the request (and the URL).
    return new GraphError({
      kind: 'transient',
      endpoint: r.endpoint,
      // The URL without its query (which carries tokens), and where it comes from.
      message: signal.aborted
        ? `${r.label} ${r.endpoint} did not answer within ${r.timeoutMs} ms (${r.where}; ${r.variable}=${r.base})`
        : `could not reach ${r.label} for ${r.endpoint} at ${r.where} (network error): check ${r.variable} (now ${r.base}) and the network`,
      cause: safeCause(e, r.secrets),
      secrets: r.secrets,
    });
  }
}

/** The body as JSON; `ok: false` when it is not JSON. */
export function parseJson(text: string): { ok: true; json: unknown } | { ok: false } {
  try {
    return { ok: true, json: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/** A successful answer read with its schema; one that does not fit is `graph_bad_response`. */
export function readShape<T>(
  schema: z.ZodType<T>,
  json: unknown,
  at: { label: string; endpoint: string; status: number; secrets: string[] },
): { ok: true; data: T } | { ok: false; error: GraphError } {
  const parsed = schema.safeParse(json);
  if (parsed.success) return { ok: true, data: parsed.data };
  // Only the paths of the problems: zod messages could quote the received values.
  const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(root)'))]
    .slice(0, 5)
    .join(', ');
  return {
    ok: false,
    error: new GraphError({
      kind: 'transient',
      code: 'graph_bad_response',
      endpoint: at.endpoint,
      fbHttpStatus: at.status,
      message: `${at.label} ${at.endpoint} answered with an unexpected shape (missing or invalid: ${fields})`,
      secrets: at.secrets,
    }),
  };
}
