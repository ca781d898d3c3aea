/**
 * Operational routes without an API key: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`.
 * `/metrics` needs `Authorization: Bearer <METRICS_TOKEN>` when that is set.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { AppError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Store } from '../../store/types.js';
import { type FailureLimiter, refuseRepeated } from '../auth.js';
import { loggableError } from '../error-handler.js';
import type { Metrics } from '../metrics.js';
import { healthBody, readyBody } from '../schemas.js';

export interface ReadyReport {
  ok: boolean;
  checks: Record<string, { ok: boolean; message?: string }>;
}

export type ReadyCheck = () => Promise<ReadyReport>;

/** Without a `ready` from the caller: the database answers and its migrations are current. */
export function defaultReady(store: Store): ReadyCheck {
  return async () => {
    const checks: ReadyReport['checks'] = {};
    try {
      await store.ping();
      checks.database = { ok: true };
      const m = await store.migrationStatus();
      checks.migrations =
        m.pending.length === 0 && m.unknown.length === 0
          ? { ok: true }
          : {
              ok: false,
              message: `pending: ${m.pending.join(',') || '-'}; unknown: ${m.unknown.join(',') || '-'}`,
            };
    } catch {
      checks.database = { ok: false, message: 'the database cannot be reached' };
    }
    return { ok: Object.values(checks).every((c) => c.ok), checks };
  };
}

/** Constant time whatever the lengths: both sides are hashed first. */
function sameSecret(presented: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

export interface OpsOptions {
  ready: ReadyCheck;
  metrics: Metrics;
  /** When set, /metrics needs it as a Bearer token. */
  metricsToken: string | undefined;
  /** Wrong metrics tokens are counted like wrong API keys (per client). */
  limiter: FailureLimiter;
  logger: Logger;
}

export const opsRoutes: FastifyPluginCallbackZod<OpsOptions> = (
  app,
  { ready, metrics, metricsToken, limiter, logger },
  done,
) => {
  app.get(
    '/healthz',
    { schema: { tags: ['operations'], summary: 'The process is up', response: { 200: healthBody } } },
    () => ({ ok: true as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Ready to serve: database reachable, migrations current, scheduler alive',
        description: '503 names the failing check in `checks`.',
        response: { 200: readyBody, 503: readyBody },
      },
    },
    async (request, reply) => {
      let report: ReadyReport;
      try {
        report = await ready();
      } catch (err) {
        request.log.error({ fault: loggableError(err) }, 'readiness check threw');
        report = { ok: false, checks: { ready: { ok: false, message: 'the readiness check failed' } } };
      }
      void reply.header('cache-control', 'no-store').code(report.ok ? 200 : 503);
      return report;
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics (text exposition format)',
        description:
          'Open, unless METRICS_TOKEN is set: then `Authorization: Bearer <METRICS_TOKEN>` is needed (401 `unauthorized` without it). Gauges are at most a few seconds old.',
        produces: ['text/plain'],
      },
    },
    async (request, reply) => {
      if (metricsToken !== undefined) {
        const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(request.headers.authorization ?? '');
        if (!m || !sameSecret(m[1]!, metricsToken)) {
          if (m) {
            refuseRepeated(limiter, logger, { count: `${request.ip} metrics`, keyId: undefined }, request.ip);
          }
          void reply.header('www-authenticate', m ? 'Bearer error="invalid_token"' : 'Bearer');
          throw new AppError('unauthorized', '/metrics needs "Authorization: Bearer <METRICS_TOKEN>"');
        }
      }
      const text = await metrics.render();
      return reply.header('cache-control', 'no-store').type(metrics.contentType).send(text);
    },
  );

  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
  done();
};
