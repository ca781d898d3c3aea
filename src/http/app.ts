/**
 * buildApp(deps): the HTTP API as a Fastify instance. It never listens (tests use `app.inject()`,
 * `server.ts` listens). Order: parsers and plugins → hooks → routes → error and not-found handlers.
 *
 * Request handling rules that hold for every route:
 * - only JSON bodies (`application/json`), at most `BODY_LIMIT` bytes; an empty JSON body counts as
 *   no body (so `curl -X POST -H 'Content-Type: application/json' …/renew` works);
 * - every body, query and path parameter is validated by a zod schema (`schemas.ts`); responses are
 *   written by serialisers compiled from the same schemas (`serializer.ts`): no other field leaves;
 * - every route but `/healthz` answers only for this server's host names (`hosts.ts`, against DNS
 *   rebinding); forwarded headers count only from proxies TRUST_PROXY names;
 * - `/api` routes need an API key with the route's scope (`auth.ts`);
 * - errors leave through `error-handler.ts` as `{ success: false, error: { code, message, … } }`;
 * - the access log has method, route pattern, status, duration and key id: never a header, a body
 *   or a query string.
 */
import { readFileSync } from 'node:fs';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyReply, LogController } from 'fastify';
import { jsonSchemaTransform, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Clock } from '../clock.js';
import type { Config, TrustProxy } from '../config.js';
import type { TokenKeeper } from '../lifecycle/types.js';
import type { Logger } from '../logger.js';
import { AppError } from '../errors.js';
import type { Store } from '../store/types.js';
import {
  createAuthHooks,
  createFailureLimiter,
  DEFAULT_FAILURE_LIMIT,
  type FailureLimitOptions,
} from './auth.js';
import {
  createErrorHandler,
  createNotFoundHandler,
  createRouteTable,
  scrub,
  toErrorResponse,
} from './error-handler.js';
import { hostPolicy, isAllowedHost } from './hosts.js';
import { createMetrics, type Metrics } from './metrics.js';
import { markOptionalBodies } from './openapi.js';
import { createSerializerCompiler } from './serializer.js';
import { installBoundedClose } from './server.js';
import { defaultReady, opsRoutes, type ReadyCheck } from './routes/ops.js';
import { accountRoutes } from './routes/accounts.js';
import { connectionRoutes } from './routes/connections.js';
import { pageRoutes } from './routes/pages.js';
import { refreshRoutes } from './routes/refresh.js';
import { tokenRoutes } from './routes/token.js';

/** Largest accepted request body. The biggest legitimate one (setup) is well under 8 KiB. */
export const BODY_LIMIT = 16 * 1024;

export interface AppDeps {
  config: Config;
  keeper: TokenKeeper;
  store: Store;
  clock: Clock;
  logger: Logger;
  /** Readiness; default: the database answers and its migrations are current. */
  ready?: ReadyCheck;
  /** Default: a private `createMetrics(keeper, store, clock)`, closed with the app. */
  metrics?: Metrics;
  /** More routes (reconnect, dashboard), registered in their own encapsulated context. */
  extraRoutes?: (app: FastifyInstance) => Promise<void> | void;
  /** Lockout after repeated invalid API keys from one address. */
  authFailureLimit?: Partial<FailureLimitOptions>;
  /**
   * Tests: write every response body with zod as well and fail on any difference from the
   * compiled serialiser (`serializer.ts`). Off in `serve`: it is the cost the compiler removes.
   */
  checkResponses?: boolean;
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/**
 * Off by default: X-Forwarded-For/-Proto/-Host are then ignored, so a client can neither pick its
 * own address (for the failure counts) nor claim HTTPS. Fastify 5 itself no longer takes a hop
 * count (it cannot tell a proxy from a direct client), so a count becomes proxy-addr's classic
 * rule, "trust the nearest n hops": right only when nothing but that proxy chain reaches the port.
 */
function trustProxyOption(t: TrustProxy): boolean | string[] | ((address: string, hop: number) => boolean) {
  return typeof t === 'number' ? (_address, hop) => hop < t : t;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { keeper, store, clock, logger } = deps;
  const fastify = Fastify({
    loggerInstance: logger,
    trustProxy: trustProxyOption(deps.config.trustProxy),
    // Fastify's own request lines log the URL with its query string; ours (below) do not.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    frameworkErrors: (err, _request, reply) => {
      const r = toErrorResponse(err);
      void (reply as FastifyReply)
        .code(r.status)
        .type('application/json; charset=utf-8')
        .send(JSON.stringify(r.body));
    },
  });
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(createSerializerCompiler({ check: deps.checkResponses === true }));

  const routes = createRouteTable();
  app.addHook('onRoute', (r) => routes.add(r.method, r.url));

  // --- parsers: JSON only; an empty JSON body is no body ----------------------------------------
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit: BODY_LIMIT },
    (request, body, done) => {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      if (text.trim() === '') {
        done(null, undefined);
        return;
      }
      void parseJson(request, text, done);
    },
  );

  // --- plugins ---------------------------------------------------------------------------------
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'fb-token-keeper',
        version: packageVersion(),
        description:
          'Keeps a Facebook Page’s Graph API token alive. Every `/api` route needs `Authorization: Bearer <api key>`; errors are `{success:false, error:{code, message, details?}}` with a stable `code`.',
      },
      tags: [
        { name: 'seed', description: 'The seed document’s endpoints, paths and bodies unchanged' },
        { name: 'pages', description: 'Managed pages as resources' },
        { name: 'operations', description: 'Health, readiness, metrics (no API key)' },
        {
          name: 'accounts',
          description:
            'Every posting identity (Facebook Pages, Instagram accounts, Threads profiles) and its token',
        },
      ],
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description: 'An API key: `ftk_<id>_<secret>` (fb-token-keeper api-key create)',
          },
        },
      },
    },
    transform: jsonSchemaTransform,
    transformObject: (doc) =>
      markOptionalBodies('openapiObject' in doc ? doc.openapiObject : doc.swaggerObject),
  });
  // Served from the package's own files: no CDN, no external validator.
  await app.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    uiConfig: { validatorUrl: null },
    staticCSP: true,
  });

  // --- hooks -----------------------------------------------------------------------------------
  const metrics =
    deps.metrics ?? createMetrics(keeper, store, clock, { pageSeries: deps.config.metricsPageSeries });
  if (!deps.metrics) app.addHook('onClose', () => metrics.close());
  installBoundedClose(fastify as unknown as FastifyInstance);

  const limiter = createFailureLimiter(clock, { ...DEFAULT_FAILURE_LIMIT, ...deps.authFailureLimit });
  const auth = createAuthHooks({ store, clock, logger, limiter });
  const hosts = hostPolicy(deps.config);
  // Callback hooks, not async ones: each async hook is a promise and a microtask on every request.
  app.addHook('onRequest', (request, reply, done) => {
    // /healthz stays open to any Host: container and load-balancer probes send all sorts.
    if (request.routeOptions.url !== '/healthz' && !isAllowedHost(hosts, request.hostname)) {
      done(
        new AppError(
          'host_not_allowed',
          `this server does not answer for the host "${request.hostname.slice(0, 100)}"; use the address in PUBLIC_URL, or add the name to ALLOWED_HOSTS`,
        ),
      );
      return;
    }
    void reply.header('x-content-type-options', 'nosniff');
    if (request.url.startsWith('/api/')) void reply.header('cache-control', 'no-store');
    done();
  });
  app.addHook('onRequest', auth.onRequest);
  app.addHook('onSend', auth.onSend);
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const ms = reply.elapsedTime;
    metrics.observeRequest({ method: request.method, route, status: reply.statusCode, durationMs: ms });
    const quiet = route === '/healthz' || route === '/readyz' || route === '/metrics';
    const path =
      request.routeOptions.url === undefined
        ? scrub((request.url.split('?')[0] ?? '').slice(0, 200))
        : undefined;
    request.log[quiet && reply.statusCode < 400 ? 'debug' : 'info'](
      {
        method: request.method,
        route,
        ...(path !== undefined ? { path } : {}),
        status: reply.statusCode,
        ms: Math.round(ms * 10) / 10,
        ...(request.apiKey ? { keyId: request.apiKey.id } : {}),
        ...(request.errorCode ? { error: request.errorCode } : {}),
      },
      'request',
    );
    done();
  });

  // --- routes (queued: they load at ready(), after the handlers below are set) ----------------
  void app.register(opsRoutes, {
    ready: deps.ready ?? defaultReady(store),
    metrics,
    metricsToken: deps.config.metricsToken,
    limiter,
    logger,
  });
  void app.register(tokenRoutes, { keeper });
  void app.register(pageRoutes, { keeper });
  void app.register(refreshRoutes, { keeper });
  void app.register(connectionRoutes, { keeper });
  void app.register(accountRoutes, { keeper });
  const extra = deps.extraRoutes;
  if (extra) void app.register(async (child) => extra(child as unknown as FastifyInstance));

  // --- error and not-found handlers ------------------------------------------------------------
  app.setErrorHandler(createErrorHandler(logger));
  app.setNotFoundHandler(createNotFoundHandler(routes));

  await app.ready();
  // The pino Logger type is richer than FastifyBaseLogger; callers only need the base instance type.
  return fastify as unknown as FastifyInstance;
}
