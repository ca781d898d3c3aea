/**
 * Hostile input: thousands of malformed, oversized and nonsensical requests at a live `serve`
 * process (real TCP), generated from a seed. 0 responses may be 5xx, the process must stay up and
 * answer, and the database must be exactly as before (pages, history, API keys, alert outbox).
 *
 * Phases: (1) with a valid admin key, so validation and parsing paths are reached; (2) with no key,
 * bad keys and the dashboard/reconnect routes (this locks 127.0.0.1 out of /api — a 429 is a
 * correct answer); (3) raw bytes that are not HTTP at all. A final legitimate request comes from
 * another loopback address (127.0.0.2), which the lockout does not cover.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Agent, request } from 'undici';
import { describe, expect, it } from 'vitest';
import { startFakeGraph } from '../../src/fake-graph/index.js';
import { prng, SEED, scale, seedPages, startServe } from './helpers.js';

const REQUESTS = scale(3000, 30_000);
const CONCURRENCY = 16;

interface Req {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

function snapshot(file: string): string {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    return JSON.stringify({
      pages: db.prepare('select * from pages order by page_id').all(),
      events: db.prepare('select count(*) as n, max(id) as last from events').get(),
      keys: db
        .prepare('select id, name, key_hash, scopes, created_at, revoked_at from api_keys order by id')
        .all(),
      alerts: db.prepare('select count(*) as n from alert_deliveries').get(),
    });
  } finally {
    db.close();
  }
}

/** A generator of hostile requests; `pick` draws from the seeded source. */
function generator(random: () => number, ids: { pages: string[]; admin: string; reader: string }) {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const int = (n: number) => Math.floor(random() * n);
  const junk = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
  const pageIds = [
    ...ids.pages,
    "1' OR '1'='1",
    '../../etc/passwd',
    '%00',
    'x'.repeat(300),
    '😀',
    '-1',
    '1e308',
    '',
    '%zz',
    '<script>alert(1)</script>',
  ];
  const enc = (s: string) => (random() < 0.5 ? encodeURIComponent(s) : s);
  const jsonBodies = (): string | Buffer =>
    pick<() => string | Buffer>([
      () => '{',
      () => '{"page_id":',
      () => '{"page_id": "1", }',
      () => 'null',
      () => '[]',
      () => '"string"',
      () => '12345678901234567890',
      () => 'true',
      () => '{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}',
      () => JSON.stringify({ page_id: { $ne: null }, force: 'yes', dry_run: [1] }),
      () => JSON.stringify({ page_id: 123, access_token: ['a'], app_id: {}, app_secret: null }),
      () =>
        JSON.stringify({
          page_id: ids.pages[0],
          access_token: 'x'.repeat(5000),
          app_id: '1',
          app_secret: '2',
        }),
      () => JSON.stringify({ auto_renew: 'maybe', renewal_threshold_days: -5 }),
      () => '{"renewal_threshold_days": 1e309}',
      () => JSON.stringify({ renewal_threshold_days: 'NaN', extra: 'field' }),
      () => nested(int(20000) + 100),
      () => `{"a":${nested(5000)}}`,
      () => junk(int(2000) + 1),
      () => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"page_id":"1"}')]),
      () => Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]), // invalid UTF-8 inside a key
      () => '{"page_id":"\u0000\uffff\ud800"}',
      () => 'a'.repeat(17 * 1024),
      () => `{"page_id":"${'9'.repeat(20_000)}"}`,
    ])();
  const mustFailBody = (): string | Buffer =>
    pick<() => string | Buffer>([
      () => '{',
      () => '{"page_id":',
      () => '{"force": true, }',
      () => `{${junk(int(200) + 1).toString('latin1')}`,
      () => `{"force": true}${'x'.repeat(17 * 1024)}`,
      () => `[${'{'.repeat(int(100) + 1)}`,
    ])();
  const contentTypes = [
    'application/json',
    'application/json; charset=utf-16',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/xml',
    'application/json\u0000',
    '',
  ];
  // Only requests that must fail: real page ids never get a valid body on a mutating route.
  const withKey = (): Req => {
    const auth = { authorization: `Bearer ${pick([ids.admin, ids.admin, ids.reader])}` };
    const id = enc(pick(pageIds));
    const route = pick([
      { method: 'POST', path: '/api/token/setup' },
      { method: 'POST', path: '/api/token/renew' },
      { method: 'POST', path: '/api/token/validate' },
      { method: 'POST', path: `/api/pages/${id}/renew` },
      { method: 'POST', path: `/api/pages/${id}/check` },
      { method: 'PATCH', path: `/api/pages/${id}` },
      { method: 'GET', path: `/api/pages/${id}?limit=${pick(['-1', 'abc', '1e9', '', '[]'])}` },
      {
        method: 'GET',
        path: `/api/pages/${id}/history?limit=${pick(['-5', 'x', '99999999999'])}&before_id=${pick(['a', '-1', '1.5'])}`,
      },
      { method: 'GET', path: `/api/token/status?page_id=${id}&page_id=${id}` },
      { method: 'GET', path: `/api/token/status?page_id[]=${id}` },
      {
        method: pick(['PUT', 'DELETE', 'TRACE', 'FOO', 'PROPFIND']),
        path: pick(['/api/token/status', '/api/pages', `/api/token/renew`]),
      },
      { method: 'DELETE', path: `/api/pages/${enc(pick(pageIds.slice(ids.pages.length)))}` },
    ]);
    const mutating = route.method === 'POST' || route.method === 'PATCH';
    // On a real page, a request the server may rightly accept (a check with an ignored body, say)
    // is not hostile: real pages only get bodies that cannot be valid JSON, or are too large.
    const realPage = ids.pages.some((p) => route.path.includes(p));
    const body = !mutating ? undefined : realPage ? mustFailBody() : jsonBodies();
    const headers: Record<string, string> = { ...auth };
    if (body !== undefined) headers['content-type'] = pick(contentTypes.slice(0, 4));
    return { ...route, headers, ...(body !== undefined ? { body } : {}) };
  };
  const withoutKey = (): Req => {
    const id = enc(pick(pageIds));
    return pick<() => Req>([
      () => ({
        method: 'GET',
        path: '/api/token/status',
        headers: {
          authorization: pick([
            'Bearer',
            'Bearer ',
            'Basic dXNlcjpwYXNz',
            `Bearer ${'A'.repeat(10_000)}`,
            `Bearer ftk_${'0'.repeat(16)}_${'x'.repeat(43)}`,
            'Bearer ftk_\u00e9',
            `bearer ${ids.admin}x`,
          ]),
        },
      }),
      () => ({
        method: 'GET',
        path: `/api/pages/${id}/token`,
        headers: { authorization: `Bearer ${ids.admin}` },
      }),
      () => ({ method: 'GET', path: `/${'a/'.repeat(int(3000))}` }),
      () => ({ method: 'GET', path: `/api/pages/${'%'.repeat(int(50) + 1)}` }),
      () => ({
        method: 'GET',
        path: `/connect/${id}?exp=${pick(['0', 'x', '9'.repeat(40)])}&sig=${pick(['', 'abc', 'x'.repeat(500)])}`,
      }),
      () => ({
        method: 'GET',
        path: `/connect/callback?code=${pick(['', 'x', 'A'.repeat(3000)])}&state=${pick(['', 'garbage', '.'.repeat(100)])}`,
      }),
      () => ({
        method: 'GET',
        path: `/connect/callback?error=access_denied&error_description=${encodeURIComponent('<b>x</b>')}`,
      }),
      () => ({
        method: 'POST',
        path: '/sign-in',
        headers: { 'content-type': pick(contentTypes) },
        body: pick([`key=${'x'.repeat(int(20_000))}`, 'key', '%%%', junk(500).toString('latin1')]),
      }),
      () => ({
        method: 'POST',
        path: `/pages/${id}/${pick(['renew', 'check', 'delete', 'pause', 'x'.repeat(300)])}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `csrf=${pick(['', 'bad'])}`,
      }),
      () => ({
        method: 'POST',
        path: '/pages/new',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: `fbtk_session=${pick(['', 'x', 'a.b.c', '%'.repeat(100)])}`,
        },
        body: 'page_id=1&access_token=2',
      }),
      () => ({
        method: 'GET',
        path: `/pages/${id}?before=${pick(['-1', 'x', '1e99'])}`,
        headers: { cookie: pick(['fbtk_session=garbage', '=; =;', 'a'.repeat(8000)]) },
      }),
      () => ({ method: 'GET', path: `/healthz?${'x=1&'.repeat(int(2000))}` }),
      () => ({
        method: 'POST',
        path: '/metrics',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      }),
      () => ({ method: 'GET', path: '/docs/../../../../etc/passwd' }),
      () => ({ method: 'GET', path: `/docs/static/${enc('../'.repeat(5))}package.json` }),
      () => ({
        method: 'OPTIONS',
        path: '/api/token/setup',
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
      }),
      () => ({
        method: 'GET',
        path: '/',
        headers: {
          host: pick(['', 'evil.example', 'a'.repeat(300)]),
          'x-forwarded-proto': 'gopher',
          'x-forwarded-for': '1.2.3.4, 5.6.7.8',
        },
      }),
      () => ({
        method: 'POST',
        path: '/api/token/setup',
        headers: { 'content-type': 'application/json', 'content-length': '10000000' },
        body: 'x'.repeat(100),
      }),
    ])();
  };
  return { withKey, withoutKey, int, junk, pick };
}

describe('hostile input at a live server (sqlite)', () => {
  it(`${REQUESTS} malformed and oversized requests: no 5xx, nothing changed`, {
    timeout: scale(120_000, 900_000),
  }, async () => {
    const random = prng(SEED + 23);
    console.log(`hostile input: seed ${SEED}, ${REQUESTS} requests`);
    const dir = mkdtempSync(join(tmpdir(), 'fbtk-hostile-'));
    const graph = await startFakeGraph({});
    const file = join(dir, 'keeper.db');
    const env = {
      DATABASE_URL: `sqlite:${file}`,
      TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      GRAPH_API_URL: graph.url,
      FACEBOOK_DIALOG_URL: graph.url,
    };
    let serve: Awaited<ReturnType<typeof startServe>> | undefined;
    const agent = new Agent({
      connections: CONCURRENCY,
      keepAliveTimeout: 2000,
      headersTimeout: 15_000,
      bodyTimeout: 15_000,
    });
    try {
      // Two managed pages (so page_id is required) and two keys, set up through the library.
      const seeded = await seedPages(env, graph, 2, { admin: ['admin'], reader: ['token:read'] });
      const pages = seeded.pageIds;
      const admin = seeded.keys.admin!;
      const reader = seeded.keys.reader!;

      serve = await startServe(env);
      await serve.waitReady();
      const url = serve.url;
      const before = snapshot(file);
      const graphCallsBefore = graph.countCalls();
      const gen = generator(random, { pages, admin, reader });

      const statuses = new Map<number, number>();
      const fiveHundreds: string[] = [];
      let noAnswer = 0;
      const send = async (r: Req) => {
        try {
          const res = await request(`${url}${r.path}`, {
            method: r.method as 'GET',
            headers: r.headers ?? {},
            ...(r.body !== undefined ? { body: r.body } : {}),
            dispatcher: agent,
          });
          const text = await res.body.text();
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
          if (res.statusCode >= 500) {
            fiveHundreds.push(
              `${r.method} ${r.path.slice(0, 120)} → ${res.statusCode} ${text.slice(0, 200)}`,
            );
          }
        } catch {
          // The server may close a connection on garbage (e.g. a body far over the limit): no answer is not a 5xx.
          noAnswer++;
        }
      };
      const run = async (n: number, make: () => Req) => {
        let next = 0;
        await Promise.all(
          Array.from({ length: CONCURRENCY }, async () => {
            while (next < n) {
              next++;
              await send(make());
            }
          }),
        );
      };
      // Phase 1: valid keys, hostile bodies, parameters and methods.
      await run(Math.floor(REQUESTS * 0.6), gen.withKey);
      // Phase 2: no key, bad keys, dashboard, reconnect, odd headers.
      await run(Math.floor(REQUESTS * 0.35), gen.withoutKey);
      // Phase 3: bytes that are not HTTP, and HTTP that breaks the rules, over raw TCP.
      const raw = [
        () => gen.junk(gen.int(4000) + 1),
        () => Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello'),
        () =>
          Buffer.from(
            'POST /api/token/setup HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n',
          ),
        () => Buffer.from(`GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`),
        () => Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`),
        () => Buffer.from('GET / HTTP/9.9\r\n\r\n'),
        () => Buffer.from('\r\n\r\n\r\n'),
        () => Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\n'), // never finished
        () =>
          Buffer.from(
            'POST /api/token/renew HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n',
          ),
      ];
      const rawCount = Math.max(50, Math.floor(REQUESTS * 0.05));
      let rawNext = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (rawNext < rawCount) {
            rawNext++;
            const bytes = gen.pick(raw)();
            const reply = await new Promise<string>((resolveReply) => {
              const s = connect(Number(new URL(url).port), '127.0.0.1');
              let got = '';
              const done = () => resolveReply(got);
              s.on('data', (d: Buffer) => (got += d.toString('latin1')));
              s.on('error', done);
              s.on('close', done);
              s.setTimeout(1500, () => s.destroy());
              s.write(bytes, () => s.end());
            });
            const m = /^HTTP\/1\.[01] (\d{3})/.exec(reply);
            if (m) {
              const code = Number(m[1]);
              statuses.set(code, (statuses.get(code) ?? 0) + 1);
              if (code >= 500) fiveHundreds.push(`raw → ${reply.slice(0, 200)}`);
            } else {
              noAnswer++;
            }
          }
        }),
      );

      const summary = [...statuses]
        .sort((a, b) => a[0] - b[0])
        .map(([s, n]) => `${s}×${n}`)
        .join(' ');
      console.log(
        `hostile input: ${[...statuses.values()].reduce((a, b) => a + b, 0)} answers (${summary}), ${noAnswer} connections closed without an answer`,
      );
      expect(fiveHundreds).toEqual([]);

      // The process is up and answers correctly; a legitimate client elsewhere is not locked out.
      expect(serve.alive(), serve.output().slice(-2000)).toBe(true);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      const legit = await new Promise<{ status: number; body: string }>((resolveGet, reject) => {
        const req = httpGet(
          `${url}/api/pages`,
          { headers: { authorization: `Bearer ${admin}` }, localAddress: '127.0.0.2' },
          (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString('utf8')));
            res.on('end', () => resolveGet({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
      });
      expect(legit.status, legit.body).toBe(200);
      // Nothing changed: not a page, an event, a key or an alert; and no Graph call was made.
      const after = snapshot(file);
      if (after !== before) {
        const a = JSON.parse(before) as Record<string, unknown>;
        const b = JSON.parse(after) as Record<string, unknown>;
        for (const k of Object.keys(a)) {
          if (JSON.stringify(a[k]) === JSON.stringify(b[k])) continue;
          const rowsA = (Array.isArray(a[k]) ? a[k] : [a[k]]) as Record<string, unknown>[];
          const rowsB = (Array.isArray(b[k]) ? b[k] : [b[k]]) as Record<string, unknown>[];
          rowsA.forEach((row, i) => {
            for (const col of Object.keys(row)) {
              if (JSON.stringify(row[col]) !== JSON.stringify(rowsB[i]?.[col])) {
                console.log(
                  `changed ${k}[${i}].${col}: ${JSON.stringify(row[col])} → ${JSON.stringify(rowsB[i]?.[col])}`,
                );
              }
            }
          });
        }
      }
      expect(after).toBe(before);
      expect(graph.countCalls()).toBe(graphCallsBefore);
      expect(serve.output()).not.toMatch(/"level":(50|60)/);
    } finally {
      await agent.close();
      await serve?.kill('SIGKILL');
      await graph.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
