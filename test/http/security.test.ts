/**
 * The attacks of the security review, replayed against real `serve` processes over real TCP (one
 * test per finding; each failed on the code before the fix):
 * 1. ten wrong keys from one address stopped the valid `token:read` key and the dashboard sign-in
 *    for 5 minutes, and behind a proxy every client shared that address;
 * 2. /metrics was open and every scrape read every Page;
 * 3. with an https PUBLIC_URL, the session cookie lost `Secure` when Host was not exactly its host;
 * 4. any Host was answered, so a DNS-rebinding page could read the open routes.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeGraph, startFakeGraph } from '../../src/fake-graph/index.js';
import { type ServeProcess, seedPages, startServe } from '../reliability/helpers.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP/1.1 request with exactly these headers (fetch would not let us choose `Host`). */
function send(
  base: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: options.method ?? 'GET',
        headers: {
          ...(options.body !== undefined
            ? {
                'content-type': 'application/x-www-form-urlencoded',
                'content-length': String(Buffer.byteLength(options.body)),
              }
            : {}),
          ...options.headers,
        },
        agent: false,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const cookies = (a: Answer): string[] => {
  const h = a.headers['set-cookie'];
  return Array.isArray(h) ? h : h === undefined ? [] : [h];
};
const cookieValue = (a: Answer, name: string) =>
  cookies(a)
    .find((c) => c.startsWith(`${name}=`))
    ?.split(';')[0]
    ?.slice(name.length + 1);
const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
const WRONG_KEY = `ftk_${'0'.repeat(16)}_${'x'.repeat(43)}`;

/** The sign-in form: its cookie and CSRF token. */
async function signInForm(base: string, headers: Record<string, string> = {}) {
  const page = await send(base, '/', { headers });
  return { nonce: cookieValue(page, 'ftk_signin') ?? '', csrf: csrfOf(page.body), page };
}

function signIn(
  base: string,
  form: { nonce: string; csrf: string },
  apiKey: string,
  headers: Record<string, string> = {},
) {
  return send(base, '/sign-in', {
    method: 'POST',
    headers: { cookie: `ftk_signin=${form.nonce}`, ...headers },
    body: new URLSearchParams({ _csrf: form.csrf, api_key: apiKey }).toString(),
  });
}

let graph: FakeGraph;
const dirs: string[] = [];
const serves: ServeProcess[] = [];

/** A fresh SQLite database with `pages` Pages and an admin and a `token:read` key, then `serve`. */
async function serveWith(extra: Record<string, string>, pages = 1) {
  const dir = mkdtempSync(join(tmpdir(), 'fbtk-security-'));
  dirs.push(dir);
  const env = {
    DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}`,
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    GRAPH_API_URL: graph.url,
    FACEBOOK_DIALOG_URL: graph.url,
    ...extra,
  };
  const seeded = await seedPages(env, graph, pages, { admin: ['admin'], poster: ['token:read'] });
  const serve = await startServe(env);
  serves.push(serve);
  await serve.waitReady();
  return { ...seeded, serve, url: serve.url, port: new URL(serve.url).port };
}

beforeAll(async () => {
  graph = await startFakeGraph();
});

afterAll(async () => {
  await Promise.all(serves.map((s) => s.kill()));
  await graph.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('finding 1: failed keys never lock out a valid key', () => {
  it('ten wrong keys from one address, then the posting app’s token:read key and the dashboard sign-in still pass', async () => {
    const { url, pageIds, keys } = await serveWith({});
    // The guesser sends X-Forwarded-For to look like many clients: without TRUST_PROXY it is ignored.
    for (let i = 0; i < 10; i++) {
      const r = await send(url, '/api/pages', {
        headers: { authorization: `Bearer ${WRONG_KEY}`, 'x-forwarded-for': `198.51.100.${i}` },
      });
      expect(r.status).toBe(401);
    }
    const paused = await send(url, '/api/pages', { headers: { authorization: `Bearer ${WRONG_KEY}` } });
    expect(paused.status).toBe(429);
    expect(JSON.parse(paused.body)).toMatchObject({ error: { code: 'rate_limited' } });
    expect(Number(paused.headers['retry-after'])).toBeGreaterThan(0);

    const token = await send(url, `/api/pages/${pageIds[0]!}/token`, {
      headers: { authorization: `Bearer ${keys.poster!}` },
    });
    expect(token.status, token.body).toBe(200);
    expect(JSON.parse(token.body)).toMatchObject({ success: true, page_id: pageIds[0] });

    // The dashboard sign-in, from the same address: ten wrong keys, then the admin key.
    const form = await signInForm(url);
    for (let i = 0; i < 10; i++) expect((await signIn(url, form, `wrong-${i}`)).status).toBe(401);
    expect((await signIn(url, form, 'wrong-again')).status).toBe(429);
    const signedIn = await signIn(url, form, keys.admin!);
    expect(signedIn.status, signedIn.body.slice(0, 300)).toBe(303);
    expect(cookieValue(signedIn, 'ftk_session')).toBeTruthy();
  });

  it('behind a proxy named by TRUST_PROXY, one client’s failures do not pause another’s', async () => {
    const { url } = await serveWith({ TRUST_PROXY: '127.0.0.1' });
    const as = (client: string) => ({
      authorization: `Bearer ${WRONG_KEY}`,
      'x-forwarded-for': client,
    });
    for (let i = 0; i < 10; i++) {
      expect((await send(url, '/api/pages', { headers: as('203.0.113.7') })).status).toBe(401);
    }
    expect((await send(url, '/api/pages', { headers: as('203.0.113.7') })).status).toBe(429);
    // Another client behind the same proxy (same socket address) is counted on its own.
    expect((await send(url, '/api/pages', { headers: as('203.0.113.8') })).status).toBe(401);
  });
});

describe('finding 2: /metrics costs one refresh however many scrape, and can need a token', () => {
  it('unauthenticated scrapes get 401 and no Page id; 40 parallel scrapes share one read of the Pages', async () => {
    const metricsToken = randomBytes(24).toString('base64url');
    const { url, pageIds } = await serveWith({ METRICS_TOKEN: metricsToken, METRICS_PAGE_SERIES: '2' }, 3);

    const open = await Promise.all(Array.from({ length: 40 }, () => send(url, '/metrics')));
    for (const r of open) {
      expect(r.status).toBe(401);
      for (const id of pageIds) expect(r.body).not.toContain(id);
    }
    expect(open[0]!.headers['www-authenticate']).toBe('Bearer');
    const wrong = await send(url, '/metrics', { headers: { authorization: 'Bearer not-the-token' } });
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.body)).toMatchObject({ error: { code: 'unauthorized' } });

    const auth = { authorization: `Bearer ${metricsToken}` };
    const refreshes = (text: string) =>
      Number(/^fbtk_metrics_page_refreshes_total (\d+)$/m.exec(text)?.[1] ?? Number.NaN);
    const first = await send(url, '/metrics', { headers: auth });
    expect(first.status).toBe(200);
    const before = refreshes(first.body);
    expect(before).toBeGreaterThanOrEqual(1);
    const scrapes = await Promise.all(
      Array.from({ length: 40 }, () => send(url, '/metrics', { headers: auth })),
    );
    const after = Math.max(...scrapes.map((r) => refreshes(r.body)));
    // Within the 5-second cache the 40 scrapes read nothing; if it expired meanwhile, they share one read.
    expect(after - before).toBeLessThanOrEqual(1);

    // Aggregates always; per-Page series for at most METRICS_PAGE_SERIES Pages.
    const text = first.body;
    expect(text).toMatch(/^fbtk_pages 3$/m);
    expect(text).toMatch(/^fbtk_pages_by_state\{state="healthy"\} 3$/m);
    expect(text).toMatch(/^fbtk_metrics_pages_with_series 2$/m);
    expect(pageIds.filter((id) => text.includes(`page_id="${id}"`))).toHaveLength(2);
  });
});

describe('finding 3: Secure cookies whenever PUBLIC_URL is https', () => {
  it('whatever Host the proxy sends (127.0.0.1:PORT, upper case, :443), every cookie is Secure', async () => {
    const { url, port, keys } = await serveWith({ PUBLIC_URL: 'https://keeper.example.test' });
    for (const host of [`127.0.0.1:${port}`, 'KEEPER.EXAMPLE.TEST', 'keeper.example.test:443']) {
      const form = await signInForm(url, { host });
      expect(form.page.status).toBe(200);
      expect(cookies(form.page).length).toBeGreaterThan(0);
      for (const c of cookies(form.page)) expect(c).toMatch(/; Secure/);
      const signedIn = await signIn(url, form, keys.admin!, { host });
      expect(signedIn.status).toBe(303);
      const session = cookies(signedIn).find((c) => c.startsWith('ftk_session='));
      expect(session).toMatch(/; Secure/);
    }
  });

  it('X-Forwarded-Proto counts only from a proxy TRUST_PROXY names', async () => {
    const trusted = await serveWith({ TRUST_PROXY: 'loopback' });
    const viaProxy = await signInForm(trusted.url, { 'x-forwarded-proto': 'https' });
    expect(cookies(viaProxy.page)[0]).toMatch(/; Secure/);
    const plain = await signInForm(trusted.url);
    expect(cookies(plain.page)[0]).not.toMatch(/; Secure/);

    const untrusted = await serveWith({});
    const spoofed = await signInForm(untrusted.url, { 'x-forwarded-proto': 'https' });
    expect(cookies(spoofed.page)[0]).not.toMatch(/; Secure/);
  });
});

describe('finding 4: Host check against DNS rebinding', () => {
  it('a rebinding name gets 421 host_not_allowed on every route but /healthz; our names still work', async () => {
    const { url, port, keys } = await serveWith({ ALLOWED_HOSTS: 'keeper.internal,.corp.example' });
    const evil = { host: `rebind.attacker.example:${port}` };
    for (const path of [
      '/metrics',
      '/api/pages',
      '/',
      '/docs',
      '/connect/start',
      '/openapi.json',
      '/readyz',
    ]) {
      const r = await send(url, path, { headers: evil });
      expect(r.status, path).toBe(421);
      expect(r.body, path).toContain('ALLOWED_HOSTS');
      expect(r.body, path).not.toContain('fbtk_pages');
    }
    const api = await send(url, '/api/pages', {
      headers: { ...evil, authorization: `Bearer ${keys.admin!}` },
    });
    expect(api.status).toBe(421);
    expect(JSON.parse(api.body)).toMatchObject({ success: false, error: { code: 'host_not_allowed' } });
    expect(JSON.parse(api.body).error.message).toMatch(/ALLOWED_HOSTS/);
    expect((await send(url, '/healthz', { headers: evil })).status).toBe(200);

    for (const host of [
      `localhost:${port}`,
      `127.0.0.1:${port}`,
      `[::1]:${port}`,
      'keeper.internal',
      `a.corp.example:${port}`,
      'corp.example',
    ]) {
      expect((await send(url, '/metrics', { headers: { host } })).status, host).toBe(200);
    }
    for (const host of ['keeper.internal.attacker.example', 'xcorp.example']) {
      expect((await send(url, '/metrics', { headers: { host } })).status, host).toBe(421);
    }
  });
});
