/** Open operational routes: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`. */
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import type { Store } from '../../store/types.js';
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

export const opsRoutes: FastifyPluginCallbackZod<{ ready: ReadyCheck; metrics: Metrics }> = (
  app,
  { ready, metrics },
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
        produces: ['text/plain'],
      },
    },
    async (_request, reply) => {
      const text = await metrics.render();
      return reply.header('cache-control', 'no-store').type(metrics.contentType).send(text);
    },
  );

  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
  done();
};
