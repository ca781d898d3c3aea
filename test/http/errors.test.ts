/**
 * The error envelope for everything that is not a route's own answer: unknown routes, wrong
 * methods, content types, body size, broken JSON, server faults (500 with nothing leaked).
 */
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { BODY_LIMIT } from '../../src/http/app.js';
import { testBackends } from '../helpers/backends.js';
import { withApi } from './world.js';

const SECRET_LOOKING = 'EAAGm0PX4ZCpsBAKZCsecretSECRETsecret1234567890abcdef';

/** Routes added the way the reconnect and dashboard routes are: through `extraRoutes`. */
function faultyRoutes(app: FastifyInstance) {
  app.get('/test/crash', () => {
    throw new Error(`database said no for token ${SECRET_LOOKING}`);
  });
  app.get('/test/reject', async () => {
    await Promise.resolve();
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- the point: something that is not an Error
    throw 'a string, not an error';
  });
  app.get('/test/app-error', () => {
    throw new AppError('renewal_in_progress', 'another renewal of this page is running');
  });
  app.get('/test/graph-error', () => {
    const err = new AppError('graph_rate_limited', 'Facebook is throttling this app', {
      details: { retry_after_seconds: 120 },
    });
    Object.assign(err, { fbCode: 4, fbSubcode: null, fbtraceId: 'AbCdEf' });
    throw err;
  });
}

function expectEnvelope(
  r: { statusCode: number; headers: Record<string, unknown>; json(): unknown },
  status: number,
  code: string,
) {
  expect(r.statusCode).toBe(status);
  expect(String(r.headers['content-type'])).toMatch(/^application\/json/);
  const body = r.json() as { success: boolean; error: { code: string; message: string } };
  expect(body).toMatchObject({ success: false, error: { code } });
  return body;
}

describe.each(testBackends())('HTTP errors on %s', (backend) => {
  it('unknown route → 404 not_found; wrong method → 405 with Allow', async () => {
    await withApi(backend, async (w) => {
      expectEnvelope(await w.call('GET', '/api/nothing'), 404, 'not_found');
      expectEnvelope(await w.call('GET', '/nothing', { key: null }), 404, 'not_found');
      const wrong = await w.call('DELETE', '/api/token/status');
      expectEnvelope(wrong, 405, 'method_not_allowed');
      expect(wrong.headers.allow).toBe('GET, HEAD');
      const put = await w.call('PUT', '/api/pages/123');
      expectEnvelope(put, 405, 'method_not_allowed');
      expect(put.headers.allow).toBe('DELETE, GET, HEAD, PATCH');
      expect((await w.call('GET', '/api/token/renew')).headers.allow).toBe('POST');
    });
  });

  it('bodies: only JSON (415), at most BODY_LIMIT bytes (413), broken JSON is a 400 that does not quote the body', async () => {
    await withApi(backend, async (w) => {
      const before = await w.dump();
      const text = await w.call('POST', '/api/token/setup', {
        payload: 'page_id=1',
        headers: { 'content-type': 'text/plain' },
      });
      expectEnvelope(text, 415, 'unsupported_media_type');
      // What `curl -d '{…}'` sends when the Content-Type header is forgotten.
      const form = await w.call('POST', '/api/token/setup', {
        payload: '{"page_id":"1"}',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(expectEnvelope(form, 415, 'unsupported_media_type').error.message).toMatch(/application\/json/);
      const big = await w.call('POST', '/api/token/setup', {
        body: { page_id: '1', access_token: 'E'.repeat(BODY_LIMIT), app_id: '1', app_secret: 's' },
      });
      expectEnvelope(big, 413, 'payload_too_large');
      const broken = await w.call('POST', '/api/token/setup', {
        payload: `{"access_token": "${SECRET_LOOKING}`,
        headers: { 'content-type': 'application/json' },
      });
      expectEnvelope(broken, 400, 'validation_failed');
      expect(broken.body).not.toContain(SECRET_LOOKING);
      const poisoned = await w.call('POST', '/api/token/renew', {
        payload: '{"__proto__": {"force": true}}',
        headers: { 'content-type': 'application/json' },
      });
      expectEnvelope(poisoned, 400, 'validation_failed');
      const charset = await w.call('POST', '/api/token/renew', {
        payload: '{"dry_run": true}',
        headers: { 'content-type': 'application/json; charset=utf-8' },
      });
      expectEnvelope(charset, 400, 'page_id_required');
      const badUrl = await w.call('GET', '/api/pages/%E0%A4%A');
      expectEnvelope(badUrl, 400, 'validation_failed');
      expect(await w.dump()).toBe(before);
    });
  });

  it('a server fault → 500 internal_error with a generic message; logged without the secret; AppErrors keep their status', async () => {
    await withApi(
      backend,
      async (w) => {
        const crash = await w.call('GET', '/test/crash', { key: null });
        const body = expectEnvelope(crash, 500, 'internal_error');
        expect(crash.body).not.toContain('database said no');
        expect(crash.body).not.toMatch(/at .*\.(ts|js):\d+/);
        expect(body.error.message).toMatch(/internal error/);
        expect(w.logs()).toContain('database said no for token [scrubbed]');
        expect(w.logs()).not.toContain(SECRET_LOOKING);

        expectEnvelope(await w.call('GET', '/test/reject', { key: null }), 500, 'internal_error');
        expectEnvelope(await w.call('GET', '/test/app-error', { key: null }), 409, 'renewal_in_progress');

        const graph = await w.call('GET', '/test/graph-error', { key: null });
        expectEnvelope(graph, 429, 'graph_rate_limited');
        expect(graph.json().error).toEqual({
          code: 'graph_rate_limited',
          message: 'Facebook is throttling this app',
          fb_code: 4,
          fb_subcode: null,
          fbtrace_id: 'AbCdEf',
          details: { retry_after_seconds: 120 },
        });
        expect(graph.headers['retry-after']).toBe('120');
      },
      { app: { extraRoutes: faultyRoutes } },
    );
  });

  it('every response says nosniff; /api responses are not cached', async () => {
    await withApi(backend, async (w) => {
      const r = await w.call('GET', '/api/pages');
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      expect(r.headers['cache-control']).toBe('no-store');
      expect((await w.call('GET', '/healthz', { key: null })).headers['x-content-type-options']).toBe(
        'nosniff',
      );
    });
  });

  it('the access log has method, route, status and key id, never a header, body or query', async () => {
    await withApi(backend, async (w) => {
      await w.call('GET', '/api/token/status?page_id=98765432101234', {
        headers: { cookie: 'session=abc123cookie' },
      });
      await w.call('POST', '/api/token/validate', { body: { access_token: SECRET_LOOKING } });
      const lines = w
        .logs()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.msg === 'request');
      expect(lines[0]).toMatchObject({
        method: 'GET',
        route: '/api/token/status',
        status: 404,
        error: 'page_not_found',
      });
      expect(lines[0]!.keyId).toMatch(/^[0-9a-f]{16}$/);
      expect(lines[1]).toMatchObject({ method: 'POST', route: '/api/token/validate' });
      const text = w.logs();
      for (const s of [
        '98765432101234',
        'abc123cookie',
        SECRET_LOOKING,
        w.keys.admin,
        // The key's secret part (base64url: it may itself hold '_').
        w.keys.admin.split('_').slice(2).join('_'),
      ]) {
        expect(text).not.toContain(s);
      }
    });
  });
});
