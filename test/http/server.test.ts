/** Listening for real, and closing gracefully: in-flight requests finish, within a bound. */
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { startServer } from '../../src/http/server.js';
import { withApi } from './world.js';

function slowRoutes(gate: { release?: () => void; started?: () => void }) {
  return (app: FastifyInstance) => {
    app.get('/test/slow', async () => {
      gate.started?.();
      await new Promise<void>((resolve) => {
        gate.release = resolve;
      });
      return { ok: true };
    });
  };
}

describe('server', () => {
  it('listens, answers over real HTTP, and on close lets an in-flight request finish', async () => {
    const gate: { release?: () => void; started?: () => void } = {};
    await withApi(
      'sqlite',
      async (w) => {
        const address = await startServer(w.app, { host: '127.0.0.1', port: 0, graceMs: 5000 });
        expect(address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        const health = await fetch(`${address}/healthz`);
        expect(await health.json()).toEqual({ ok: true });
        const pages = await fetch(`${address}/api/pages`, {
          headers: { authorization: `Bearer ${w.keys.admin}` },
        });
        expect(pages.status).toBe(200);

        const started = new Promise<void>((resolve) => {
          gate.started = resolve;
        });
        const inFlight = fetch(`${address}/test/slow`);
        await started;
        let closed = false;
        const closing = w.app.close().then(() => {
          closed = true;
        });
        await new Promise((r) => setTimeout(r, 100));
        expect(closed).toBe(false);
        // No new work while closing: refused, or 503 on a connection that was still open.
        const late = await fetch(`${address}/healthz`).then(
          (r) => r.status,
          () => 'refused',
        );
        expect([503, 'refused']).toContain(late);
        gate.release!();
        const res = await inFlight;
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({ ok: true });
        // Closed promptly once the last request is answered (not after a keep-alive timeout).
        const t0 = Date.now();
        await closing;
        expect(closed).toBe(true);
        expect(Date.now() - t0).toBeLessThan(1000);
      },
      { app: { extraRoutes: slowRoutes(gate) } },
    );
  });

  it('close is bounded: a request that never finishes is cut after graceMs', async () => {
    const gate: { release?: () => void; started?: () => void } = {};
    await withApi(
      'sqlite',
      async (w) => {
        const address = await startServer(w.app, { host: '127.0.0.1', port: 0, graceMs: 300 });
        const started = new Promise<void>((resolve) => {
          gate.started = resolve;
        });
        const hanging = fetch(`${address}/test/slow`).then(
          () => 'answered',
          () => 'cut',
        );
        await started;
        const t0 = Date.now();
        await w.app.close();
        const took = Date.now() - t0;
        expect(took).toBeGreaterThanOrEqual(250);
        expect(took).toBeLessThan(5000);
        expect(await hanging).toBe('cut');
        gate.release!();
      },
      { app: { extraRoutes: slowRoutes(gate) } },
    );
  });
});
