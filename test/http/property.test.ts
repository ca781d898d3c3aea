/**
 * Property: whatever a client sends — any method, path, query, body, content type and key — the
 * answer is never a 5xx, errors always come in the envelope, and a rejected request (4xx) leaves
 * the database exactly as it was (every row of pages, events, api_keys and the alert tables).
 */
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../helpers/backends.js';
import { withApi } from './world.js';

const TEMPLATES = [
  '/api/token/status',
  '/api/token/renew',
  '/api/token/setup',
  '/api/token/validate',
  '/api/pages',
  '/api/pages/{id}',
  '/api/pages/{id}/renew',
  '/api/pages/{id}/check',
  '/api/pages/{id}/history',
  '/api/pages/{id}/token',
  '/api/pages/{id}/token/refresh',
  '/healthz',
  '/readyz',
  '/openapi.json',
];

const FIELDS = [
  'page_id',
  'access_token',
  'app_id',
  'app_secret',
  'force',
  'dry_run',
  'auto_renew',
  'renewal_threshold_days',
  'limit',
  'before_id',
  'code',
  'error_subcode',
  'fbtrace_id',
  'message',
];

const nasty = fc.constantFrom(
  '',
  ' ',
  '0',
  '-1',
  '1e3',
  '1.5',
  '0x1f',
  'null',
  'true',
  '[]',
  '{}',
  '%00',
  '..',
  'é',
  '9'.repeat(40),
  '1'.repeat(300),
  '__proto__',
  'constructor',
);
const scalar = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  nasty,
  fc.stringMatching(/^[0-9]{1,20}$/),
);
const fieldValue = fc.oneof(
  scalar,
  fc.array(scalar, { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), scalar, { maxKeys: 3 }),
);

function requestArb(pageId: string) {
  const id = fc.oneof(
    fc.constant(pageId),
    fc.stringMatching(/^[0-9]{1,20}$/),
    fc.string({ maxLength: 20 }).map(encodeURIComponent),
    nasty.map(encodeURIComponent),
    fc.constantFrom('%zz', '%E0%A4%A', 'a/b', '%2F'),
  );
  const path = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.tuple(fc.constantFrom(...TEMPLATES), id).map(([t, i]) => t.replace('{id}', i)),
    },
    { weight: 1, arbitrary: fc.webPath({ size: 'small' }).map((p) => (p.startsWith('/') ? p : `/${p}`)) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom(...TEMPLATES), fc.constantFrom('/', '//', '/x', '.json', '%20'))
        .map(([t, s]) => t.replace('{id}', pageId) + s),
    },
  );
  const query = fc.oneof(
    fc.constant(''),
    fc
      .dictionary(
        fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 8 })),
        fc.oneof(fc.string({ maxLength: 20 }), nasty),
        { maxKeys: 3 },
      )
      .map((d) => new URLSearchParams(d).toString()),
    fc.string({ maxLength: 30 }).map((s) => encodeURI(s)),
    fc.constantFrom('page_id=1&page_id=2', 'limit=5&limit=6', 'page_id', '=', '&&', 'limit=1e2'),
  );
  const jsonBody = fc.oneof(
    fc.dictionary(fc.constantFrom(...FIELDS), fieldValue, { maxKeys: 5 }),
    fc.record(
      { page_id: fc.constant(pageId), force: fc.boolean(), dry_run: fc.constant(true) },
      { requiredKeys: [] },
    ),
    fc.jsonValue({ maxDepth: 3 }),
  );
  const body = fc.oneof(
    fc.constant<undefined>(undefined),
    jsonBody.map((b) => JSON.stringify(b)),
    fc.string({ maxLength: 60 }),
    fc.constantFrom(
      '{',
      '{"a":',
      '[',
      'null',
      '""',
      '{"__proto__":{"x":1}}',
      '{"constructor":{"prototype":{}}}',
      '\u0000',
      'x'.repeat(20_000),
    ),
  );
  return fc.record({
    method: fc.constantFrom('GET', 'POST', 'PATCH', 'DELETE', 'PUT', 'OPTIONS', 'HEAD'),
    path,
    query,
    body,
    contentType: fc.constantFrom(
      undefined,
      'application/json',
      'application/json; charset=utf-8',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
      'application/jsonx',
      '',
    ),
    key: fc.constantFrom('admin', 'reader', 'both', 'none', 'bad', 'malformed'),
  });
}

describe.each(testBackends())('random requests on %s', (backend) => {
  it('never a 5xx; errors in the envelope; rejected requests change nothing', async () => {
    await withApi(
      backend,
      async (w) => {
        const { pageId } = await w.setupPage();
        const keys: Record<string, string | null> = {
          admin: `Bearer ${w.keys.admin}`,
          reader: `Bearer ${w.keys.reader}`,
          both: `Bearer ${w.keys.both}`,
          none: null,
          bad: `Bearer ftk_${'0'.repeat(16)}_${'x'.repeat(43)}`,
          malformed: 'Token abc',
        };
        let rejected = 0;
        let accepted = 0;
        await fc.assert(
          fc.asyncProperty(requestArb(pageId), async (req) => {
            const headers: Record<string, string> = {};
            const auth = keys[req.key];
            if (auth) headers.authorization = auth;
            if (req.contentType !== undefined) headers['content-type'] = req.contentType;
            const url = req.query ? `${req.path}?${req.query}` : req.path;
            const inject: InjectOptions = { method: req.method, url, headers };
            if (req.body !== undefined && req.method !== 'GET' && req.method !== 'HEAD') {
              inject.payload = req.body;
            }
            const before = await w.dump();
            const r = await w.app.inject(inject);
            expect(
              r.statusCode,
              `${req.method} ${url} → ${r.statusCode} ${r.body.slice(0, 300)}`,
            ).toBeLessThan(500);
            if (r.statusCode >= 400) {
              rejected++;
              if (req.method !== 'HEAD') {
                const body = r.json<{ success: unknown; error: { code: unknown; message: unknown } }>();
                expect(body.success).toBe(false);
                expect(typeof body.error.code).toBe('string');
                expect(typeof body.error.message).toBe('string');
              }
              expect(await w.dump(), `${req.method} ${url} changed the database`).toBe(before);
            } else {
              accepted++;
            }
          }),
          { numRuns: 200 },
        );
        // The generator reaches both sides. About one request in twenty gets through (a random seed
        // each run; 4 of 200 was seen): at least 3 still catches a generator that never does.
        expect(rejected).toBeGreaterThan(50);
        expect(accepted).toBeGreaterThanOrEqual(3);
      },
      { app: { authFailureLimit: { max: 1_000_000 } }, logLevel: 'warn' },
    );
  }, 120_000);
});
