/**
 * Listening and closing. `buildApp` never listens; `startServer` does, and makes `app.close()`
 * bounded: on close Fastify stops accepting connections, answers 503 to requests that still arrive
 * on open keep-alive connections, and waits for in-flight requests; after `graceMs` the remaining
 * connections are cut so shutdown cannot hang. The caller then stops the scheduler, releases
 * leases and closes the database (see `service.ts`).
 */
import type { FastifyInstance } from 'fastify';

export interface ServerOptions {
  host: string;
  port: number;
  /** How long `app.close()` lets in-flight requests finish before cutting connections (default 10 s). */
  graceMs?: number;
}

export async function startServer(app: FastifyInstance, options: ServerOptions): Promise<string> {
  const graceMs = options.graceMs ?? 10_000;
  app.addHook('preClose', (done) => {
    const timer = setTimeout(() => {
      app.log.warn({ graceMs }, 'in-flight requests did not finish in time; closing their connections');
      app.server.closeAllConnections();
    }, graceMs);
    timer.unref();
    app.addHook('onClose', (_instance, next) => {
      clearTimeout(timer);
      next();
    });
    done();
  });
  return app.listen({ host: options.host, port: options.port });
}

/** `app.close()`, bounded: resolves after at most `timeoutMs` even if a hook hangs. */
export async function stopServer(app: FastifyInstance, timeoutMs = 15_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    app.close(),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    }),
  ]);
  if (timer) clearTimeout(timer);
}
