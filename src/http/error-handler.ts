/**
 * One place turns anything thrown while serving a request into the public error envelope
 * `{ success: false, error: { code, message, details?, fb_code?, fb_subcode?, fbtrace_id? } }`.
 *
 * - Schema failures → 400 `validation_failed` with `details.fields: [{ field, in, message }]`.
 * - AppError → its status and stable code; Graph failures also carry `fb_code`, `fb_subcode` and
 *   `fbtrace_id` (read duck-typed from the error or its details).
 * - Fastify's own request errors (bad JSON, too large, wrong content type, bad URL) → 4xx with a
 *   fixed message: their messages can quote the request (Node's JSON.parse error quotes the body,
 *   which may be a token), so they are never passed through.
 * - Anything else is a server fault: 500 `internal_error` with a generic message, logged with
 *   token-like strings scrubbed. Never a stack trace in a response.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { AppError, type ErrorCode, httpStatusOf } from '../errors.js';
import type { Logger } from '../logger.js';
import { isDatabaseUnavailable } from '../store/database.js';

export interface FieldProblem {
  field: string;
  in: 'body' | 'query' | 'path' | 'headers';
  message: string;
}

export interface ErrorEnvelope {
  success: false;
  error: {
    code: string;
    message: string;
    fb_code?: number | null;
    fb_subcode?: number | null;
    fbtrace_id?: string | null;
    details?: Record<string, unknown>;
  };
}

export interface ErrorResponse {
  status: number;
  body: ErrorEnvelope;
  headers?: Record<string, string>;
}

export function envelope(
  code: string,
  message: string,
  extra: Partial<ErrorEnvelope['error']> = {},
): ErrorEnvelope {
  return { success: false, error: { code, message, ...extra } };
}

/** Long runs of token alphabet (access tokens, secrets, API keys, hashes) are replaced before logging. */
export function scrub(text: string): string {
  return text.replace(/[A-Za-z0-9_\-|]{24,}/g, '[scrubbed]');
}

/** A loggable summary of a server fault: name, code, scrubbed message and stack. */
export function loggableError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { type: typeof err };
  const code = (err as { code?: unknown }).code;
  // A response that does not match its schema: say which fields, never their values.
  const issues = (err.cause as { issues?: { path?: unknown[]; message?: string }[] } | undefined)?.issues;
  return {
    name: err.name,
    ...(typeof code === 'string' ? { code } : {}),
    ...(Array.isArray(issues)
      ? { issues: issues.map((i) => `${(i.path ?? []).join('.')}: ${i.message ?? ''}`) }
      : {}),
    message: scrub(err.message),
    ...(err.stack ? { stack: scrub(err.stack) } : {}),
  };
}

const LOCATION: Record<string, FieldProblem['in']> = {
  body: 'body',
  querystring: 'query',
  params: 'path',
  headers: 'headers',
};

/** A field name from a client is echoed back, but never a long one (it could be anything). */
function fieldName(path: string): string {
  return path.length > 64 ? `${path.slice(0, 61)}...` : path;
}

function validationProblems(err: FastifyError & { validation: unknown[] }): FieldProblem[] {
  const where = LOCATION[err.validationContext ?? 'body'] ?? 'body';
  const problems: FieldProblem[] = [];
  for (const raw of err.validation) {
    const v = raw as {
      keyword?: string;
      instancePath?: string;
      message?: string;
      params?: Record<string, unknown>;
    };
    const path = (v.instancePath ?? '').replace(/^\//, '').split('/').filter(Boolean).join('.');
    if (v.keyword === 'unrecognized_keys' && Array.isArray(v.params?.keys)) {
      for (const key of v.params.keys) {
        const field = path ? `${path}.${String(key)}` : String(key);
        problems.push({ field: fieldName(field), in: where, message: 'unknown field' });
      }
      continue;
    }
    if (!path && v.keyword === 'invalid_type') {
      problems.push({
        field: where,
        in: where,
        message:
          where === 'body' ? 'the body must be a JSON object' : `the ${where} parameters are malformed`,
      });
      continue;
    }
    problems.push({ field: fieldName(path || where), in: where, message: v.message ?? 'invalid value' });
  }
  return problems;
}

function summary(problems: FieldProblem[]): string {
  const parts = problems.map((p) => (p.message.startsWith(p.field) ? p.message : `${p.field}: ${p.message}`));
  return `invalid request: ${parts.join('; ')}`;
}

/** Graph errors (src/graph/errors.ts) carry these as properties; the core also puts them in details. */
function graphFields(err: AppError): Partial<ErrorEnvelope['error']> {
  const props = err as unknown as Record<string, unknown>;
  const details = err.details ?? {};
  const pick = (prop: string, detail: string): unknown => props[prop] ?? details[detail];
  const fbCode = pick('fbCode', 'fb_code');
  const fbSubcode = pick('fbSubcode', 'fb_subcode');
  const fbtraceId = pick('fbtraceId', 'fbtrace_id');
  const isGraph = err.code.startsWith('graph_') || fbCode !== undefined || fbtraceId !== undefined;
  if (!isGraph) return {};
  return {
    fb_code: typeof fbCode === 'number' ? fbCode : null,
    fb_subcode: typeof fbSubcode === 'number' ? fbSubcode : null,
    fbtrace_id: typeof fbtraceId === 'string' ? fbtraceId : null,
  };
}

function retryAfterHeader(err: AppError): Record<string, string> | undefined {
  const props = err as unknown as Record<string, unknown>;
  const ms = props.retryAfterMs ?? err.details?.retry_after_ms;
  const seconds = props.retryAfterSeconds ?? err.details?.retry_after_seconds;
  const value = typeof seconds === 'number' ? seconds : typeof ms === 'number' ? ms / 1000 : undefined;
  return value !== undefined && Number.isFinite(value) && value > 0
    ? { 'retry-after': String(Math.ceil(value)) }
    : undefined;
}

const GRAPH_DETAIL_KEYS = new Set(['fb_code', 'fb_subcode', 'fbtrace_id']);

function fromAppError(err: AppError): ErrorResponse {
  const status = Number.isInteger(err.status) && err.status >= 400 && err.status <= 599 ? err.status : 500;
  // The fb_* fields move up into the error object; the rest of the details stay.
  const details = Object.fromEntries(
    Object.entries(err.details ?? {}).filter(([k]) => !GRAPH_DETAIL_KEYS.has(k)),
  );
  const body = envelope(err.code, err.message, {
    ...graphFields(err),
    ...(Object.keys(details).length > 0 ? { details } : {}),
  });
  const headers = status === 429 || status === 503 ? retryAfterHeader(err) : undefined;
  return headers ? { status, body, headers } : { status, body };
}

/** Fastify's own request errors, by code, with fixed messages. */
const FASTIFY_ERRORS: Record<string, { code: ErrorCode; message: string; field?: 'body' | 'path' }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'payload_too_large', message: 'the request body is too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    code: 'unsupported_media_type',
    message: 'unsupported Content-Type: send JSON with Content-Type: application/json',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    code: 'validation_failed',
    message: 'Content-Length does not match the body',
    field: 'body',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    code: 'validation_failed',
    message: 'the body is empty but Content-Type says JSON',
    field: 'body',
  },
  FST_ERR_CTP_INVALID_JSON_BODY: {
    code: 'validation_failed',
    message: 'the request body is not valid JSON',
    field: 'body',
  },
  FST_ERR_BAD_URL: { code: 'validation_failed', message: 'the URL is malformed', field: 'path' },
};

/** Map anything thrown to a status and envelope. Returns `fault: true` for real server faults. */
export function toErrorResponse(err: unknown): ErrorResponse & { fault: boolean } {
  if (hasZodFastifySchemaValidationErrors(err)) {
    const fields = validationProblems(err);
    return {
      status: 400,
      body: envelope('validation_failed', summary(fields), { details: { fields } }),
      fault: false,
    };
  }
  if (err instanceof AppError) {
    const r = fromAppError(err);
    return { ...r, fault: r.status >= 500 && r.body.error.code === 'internal_error' };
  }
  if (isFastifyRequestError(err)) {
    const known = FASTIFY_ERRORS[err.code ?? ''];
    if (known) {
      const field = known.field;
      const body = envelope(
        known.code,
        known.message,
        field ? { details: { fields: [{ field, in: field, message: known.message }] } } : {},
      );
      return { status: httpStatusOf(known.code), body, fault: false };
    }
    if (err instanceof SyntaxError || /JSON|prototype/i.test(err.message)) {
      // The JSON parser's own message quotes the body: never pass it on.
      const message = 'the request body is not valid JSON';
      return {
        status: 400,
        body: envelope('validation_failed', message, {
          details: { fields: [{ field: 'body', in: 'body', message }] },
        }),
        fault: false,
      };
    }
    const status = err.statusCode ?? 400;
    const code: ErrorCode =
      status === 404
        ? 'not_found'
        : status === 405
          ? 'method_not_allowed'
          : status === 413
            ? 'payload_too_large'
            : status === 415
              ? 'unsupported_media_type'
              : status === 429
                ? 'rate_limited'
                : 'validation_failed';
    return {
      status: httpStatusOf(code),
      body: envelope(code, 'the request could not be read'),
      fault: false,
    };
  }
  if (isDatabaseUnavailable(err)) {
    // The database is down or failing, not our code: say so, and when to try again. The driver's
    // message may name hosts or roles, so it goes to the log only.
    return {
      status: 503,
      body: envelope('database_unavailable', 'the database is unavailable; try again shortly'),
      headers: { 'retry-after': '5' },
      fault: false,
    };
  }
  return {
    status: 500,
    body: envelope(
      'internal_error',
      'internal error: the request could not be completed; see the server log',
    ),
    fault: true,
  };
}

/** An error Fastify raised about the request itself (4xx), as opposed to a fault of ours. */
function isFastifyRequestError(err: unknown): err is FastifyError {
  if (!(err instanceof Error)) return false;
  const status = (err as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' && status >= 400 && status < 500;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The error code sent, for the access log. */
    errorCode?: string;
  }
}

export function createErrorHandler(logger: Logger) {
  return function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply) {
    const r = toErrorResponse(err);
    request.errorCode = r.body.error.code;
    if (r.fault || r.status >= 500) {
      logger.error(
        {
          method: request.method,
          route: request.routeOptions.url ?? null,
          status: r.status,
          fault: loggableError(err),
        },
        'request failed',
      );
    }
    if (r.headers) void reply.headers(r.headers);
    // Sent as a ready string: the route's response schemas never apply to the error envelope.
    return reply.code(r.status).type('application/json; charset=utf-8').send(JSON.stringify(r.body));
  };
}

/**
 * 404 for unknown routes; 405 (with `Allow`) when the path exists under another method. The
 * route table is recorded through the `onRoute` hook (see `createRouteTable`).
 */
export function createNotFoundHandler(routes: RouteTable) {
  return function notFoundHandler(request: FastifyRequest, reply: FastifyReply) {
    const path = request.url.split('?')[0] ?? '/';
    const allowed = routes.methodsFor(path);
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      request.errorCode = 'method_not_allowed';
      return reply
        .code(405)
        .header('allow', allowed.join(', '))
        .type('application/json; charset=utf-8')
        .send(
          JSON.stringify(
            envelope(
              'method_not_allowed',
              `${request.method} is not allowed here; use ${allowed.join(', ')}`,
              { details: { allow: allowed } },
            ),
          ),
        );
    }
    request.errorCode = 'not_found';
    return reply
      .code(404)
      .type('application/json; charset=utf-8')
      .send(
        JSON.stringify(
          envelope(
            'not_found',
            `no route ${request.method} ${path.length > 200 ? `${path.slice(0, 200)}...` : path}`,
          ),
        ),
      );
  };
}

export interface RouteTable {
  add(method: string | string[], url: string): void;
  methodsFor(path: string): string[];
}

export function createRouteTable(): RouteTable {
  const routes: { pattern: RegExp; methods: Set<string> }[] = [];
  const byUrl = new Map<string, { pattern: RegExp; methods: Set<string> }>();
  return {
    add(method, url) {
      let entry = byUrl.get(url);
      if (!entry) {
        const source = url
          .split('/')
          .map((seg) =>
            seg.startsWith(':') ? '[^/]+' : seg === '*' ? '.*' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
          )
          .join('/');
        entry = { pattern: new RegExp(`^${source}/?$`), methods: new Set() };
        byUrl.set(url, entry);
        routes.push(entry);
      }
      for (const m of Array.isArray(method) ? method : [method]) entry.methods.add(m.toUpperCase());
    },
    methodsFor(path) {
      const methods = new Set<string>();
      for (const r of routes) if (r.pattern.test(path)) for (const m of r.methods) methods.add(m);
      return [...methods].sort();
    },
  };
}
