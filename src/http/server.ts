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

export const DEFAULT_GRACE_MS = 10_000;

const graceOf = new WeakMap<object, number>();

/**
 * Called by buildApp before the app is ready (hooks cannot be added later): when the app closes,
 * connections still open after the grace period are cut.
 */
export function installBoundedClose(app: FastifyInstance): void {
  let timer: NodeJS.Timeout | undefined;
  let closing = false;
  // A response finished while closing also closes its keep-alive connection, so the server does
  // not wait for the client's idle connection to time out.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('preClose', (done) => {
    closing = true;
    const graceMs = graceOf.get(app) ?? DEFAULT_GRACE_MS;
    timer = setTimeout(() => {
      app.log.warn({ graceMs }, 'in-flight requests did not finish in time; closing their connections');
      app.server.closeAllConnections();
    }, graceMs);
    timer.unref();
    done();
  });
  app.addHook('onClose', (_instance, done) => {
    clearTimeout(timer);
    done();
  });
}

export async function startServer(app: FastifyInstance, options: ServerOptions): Promise<string> {
  graceOf.set(app, options.graceMs ?? DEFAULT_GRACE_MS);
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
