/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core) against a real
 * `serve` process (`node bin/fb-token-keeper.js serve`, the compiled dist/) and the Graph API
 * emulator running in this process. A person's path: a wrong key is refused; sign in with the key
 * `serve` printed; add a page through the form; see it healthy; Facebook invalidates it (password
 * change), "Check now" shows needs_reauth and why; renew; pause and resume; sign out. A form post
 * without the CSRF token, or from another site, is refused. Every request stays on the service.
 *
 * The README's pictures are taken here: written to docs/images/ when UPDATE_SCREENSHOTS=1 (so an
 * ordinary test run leaves the tree clean), to a temporary directory otherwise.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeGraph, startFakeGraph } from '../../src/fake-graph/index.js';
import { offsetClock, seedDemoHistory } from './demo-history.js';

const ROOT = join(import.meta.dirname, '..', '..');
const SHOTS =
  process.env.UPDATE_SCREENSHOTS === '1'
    ? join(ROOT, 'docs', 'images')
    : mkdtempSync(join(tmpdir(), 'fbtk-shots-'));

let graph: FakeGraph;
let dir: string;
let serve: ChildProcess;
let serveOut = '';
let base: string;
let adminKey: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let demoPages: string[];
/** Every URL the browser asked for, from any page of the context. */
const requested: string[] = [];
/** The page added through the form, and its Facebook admin. */
const added = { pageId: '', userId: '' };
/** The login (connection) set up over the API. */
let loginId = '';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

async function until<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`${what} did not happen; serve said:\n${serveOut}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function shot(name: string, p: Page = page): Promise<void> {
  const file = join(SHOTS, name);
  await p.screenshot({ path: file, fullPage: true });
  expect(statSync(file).size).toBeGreaterThan(10_000);
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  const clock = offsetClock();
  graph = await startFakeGraph({ clock });
  dir = mkdtempSync(join(tmpdir(), 'fbtk-browser-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const env = {
    DATABASE_URL: `sqlite:${join(dir, 'db')}`,
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    GRAPH_API_URL: graph.url,
    FACEBOOK_DIALOG_URL: graph.url,
    PUBLIC_URL: base,
  };
  demoPages = (await seedDemoHistory(graph, clock, env)).pageIds;

  serve = spawn(process.execPath, ['bin/fb-token-keeper.js', 'serve'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env, PORT: String(port), LOG_LEVEL: 'warn' },
  });
  serve.stdout?.on('data', (d: Buffer) => (serveOut += d.toString('utf8')));
  serve.stderr?.on('data', (d: Buffer) => (serveOut += d.toString('utf8')));
  await until('serve listening', async () =>
    (await fetch(`${base}/healthz`).catch(() => null))?.ok ? true : undefined,
  );
  // Not a terminal: serve wrote the key to a 0600 file in the data folder instead of its output.
  adminKey = readFileSync(join(dir, 'bootstrap-admin.key'), 'utf8').trim();

  browser = await launchChromium();
  context = await browser.newContext({
    viewport: { width: 1200, height: 800 },
    locale: 'en-GB',
    timezoneId: 'UTC',
  });
  context.on('request', (r) => requested.push(r.url()));
  page = await context.newPage();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  if (process.env.UPDATE_SCREENSHOTS !== '1') rmSync(SHOTS, { recursive: true, force: true });
  if (serve && serve.exitCode === null) {
    serve.kill('SIGTERM');
    await new Promise((resolve) => serve.once('exit', resolve));
  }
  await graph?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const badge = (p: Page = page) => p.locator('h1 + .badge, .headline .badge').first();

describe('dashboard in a browser, against `serve`', () => {
  it('refuses a wrong key', async () => {
    const r = await page.goto(base);
    expect(r?.status()).toBe(200);
    await page.getByLabel('API key').fill('ftk_0123456789abcdef_wrongwrongwrongwrongwrongwrongwrongwrongwro');
    const [response] = await Promise.all([
      page.waitForResponse(`${base}/sign-in`),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    expect(response.status()).toBe(401);
    await expect
      .poll(() => page.locator('#signin-error').textContent())
      .toBe('That API key is not valid, or it was revoked.');
    expect((await context.cookies()).map((c) => c.name)).not.toContain('ftk_session');
  });

  it('signs in with the key `serve` printed, into an httpOnly, SameSite=Strict session', async () => {
    await page.getByLabel('API key').fill(adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Managed pages' }).waitFor();
    const session = (await context.cookies()).find((c) => c.name === 'ftk_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(await page.locator('tr[data-page-id]').count()).toBe(demoPages.length);
  });

  it('adds a page through the form and shows it healthy', async () => {
    const app = graph.createApp({ name: 'Corner app' });
    const user = graph.createUser({ name: 'Alex (Page admin)' });
    const fbPage = graph.createPage({ name: 'Corner Bakery' });
    graph.grantRole(user.id, fbPage.id);
    const token = graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'short' });
    Object.assign(added, { pageId: fbPage.id, userId: user.id });

    await page.getByRole('link', { name: 'Add a page' }).first().click();
    await page.getByRole('heading', { name: 'Add a page' }).waitFor();
    // setup's own validation message, next to the field
    await page.getByLabel('Page id').fill('my-page');
    await page.getByLabel('App id').fill(app.appId);
    await page.getByLabel('App secret').fill(app.appSecret);
    await page.getByLabel('Access token').fill(token);
    await page.getByRole('button', { name: 'Check and add' }).click();
    await expect
      .poll(() => page.locator('#page_id-error').textContent())
      .toBe('Page id must be a numeric Facebook Page id');
    expect(await page.getByLabel('App secret').inputValue()).toBe('');
    expect(await page.content()).not.toContain(app.appSecret);

    await page.getByLabel('Page id').fill(fbPage.id);
    await page.getByLabel('App secret').fill(app.appSecret);
    await page.getByLabel('Access token').fill(token);
    await page.getByRole('button', { name: 'Check and add' }).click();
    await page.waitForURL(`${base}/pages/${fbPage.id}`);
    expect(await page.locator('.flash:not(#no-alert-channel)').textContent()).toMatch(
      /^Corner Bakery was added and is healthy\. This was a short-lived user token; I exchanged it for a long-lived one/,
    );
    expect(await badge().getAttribute('data-state')).toBe('healthy');
    expect(await page.locator('main').textContent()).toContain('never expires');
    const html = await page.content();
    expect(html).not.toContain(token);
    expect(html).not.toContain(app.appSecret);
  });

  it('lists every page healthy (screenshot: dashboard-pages.png)', async () => {
    await page.goto(base);
    const states = await page
      .locator('tr[data-page-id] .badge')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
    expect(states).toEqual(['healthy', 'healthy', 'healthy']);
    expect(await page.locator('main').textContent()).toContain('Corner Bakery');
    await shot('dashboard-pages.png');
  });

  it('shows a page’s timeline and history (screenshot: dashboard-page.png)', async () => {
    await page.getByRole('link', { name: 'Harbour Café' }).click();
    await page.getByRole('heading', { name: 'Timeline' }).waitFor();
    const chart = page.locator('svg.chart');
    expect(await chart.getAttribute('role')).toBe('img');
    // Renewals of the system-user token, a self-heal and a Facebook outage are all on it.
    expect(await chart.locator('.c-ev-good').count()).toBeGreaterThan(5);
    expect(await chart.locator('.c-ev-bad').count()).toBeGreaterThan(0);
    expect(await chart.locator('path.c-src').first().getAttribute('d')).toMatch(/^M/);
    const history = (await page.locator('table.history').textContent()) ?? '';
    expect(history).toContain('self-healed');
    expect(history).toContain('renewed');
    // A marker links to its row.
    const marker = chart.locator('a').last();
    const href = await marker.getAttribute('href');
    expect(href).toMatch(/^#event-\d+$/);
    expect(await page.locator(href!).count()).toBe(1);
    await shot('dashboard-page.png');
  });

  it('check now after a password change shows needs_reauth with its explanation (screenshot: dashboard-needs-reauth.png)', async () => {
    await page.goto(`${base}/pages/${added.pageId}`);
    graph.changePassword(added.userId);
    await page.getByRole('button', { name: 'Check now' }).click();
    await page.waitForURL(`${base}/pages/${added.pageId}`);
    expect(await badge().getAttribute('data-state')).toBe('needs_reauth');
    expect(await badge().textContent()).toBe('needs reconnect');
    expect(await page.locator('#state-message').textContent()).toBe(
      'The admin changed their Facebook password: reconnect the Page.',
    );
    expect(await page.locator('.flash-error:not(#no-alert-channel)').textContent()).toContain(
      'Checked with Facebook: healthy → needs reconnect.',
    );
    expect(await page.locator('p.explain').textContent()).toContain(
      'Someone with a role on the Page must reconnect it.',
    );
    const reconnect = page.getByRole('link', { name: 'Reconnect with Facebook' });
    expect(await reconnect.getAttribute('href')).toMatch(new RegExp(`^${base}/connect/`));
    expect(await reconnect.getAttribute('class')).toContain('primary');
    await shot('dashboard-needs-reauth.png');
    await page.goto(base);
    expect(await page.locator(`tr[data-page-id="${added.pageId}"] .badge`).getAttribute('data-state')).toBe(
      'needs_reauth',
    );
    expect(await page.locator('.summary').textContent()).toContain('1 needs attention');
  });

  it('renew now: refused in words for the broken page, done for a healthy one', async () => {
    await page.goto(`${base}/pages/${added.pageId}`);
    await page.getByRole('button', { name: 'Renew now' }).click();
    await page.waitForURL(`${base}/pages/${added.pageId}`);
    expect(await page.locator('.flash-error:not(#no-alert-channel)').textContent()).toContain(
      'Not renewed: The admin changed their Facebook password',
    );

    const books = demoPages.find((id) => id !== demoPages[0])!;
    await page.goto(`${base}/pages/${books}`);
    const before = await page.locator('table.history tbody tr').count();
    await page.getByRole('button', { name: 'Renew now' }).click();
    await page.waitForURL(`${base}/pages/${books}`);
    expect(await page.locator('.flash-ok').textContent()).toContain('The posting token was renewed');
    expect(await page.locator('table.history tbody tr').count()).toBeGreaterThan(before);
  });

  it('pauses and resumes auto-renew', async () => {
    await page.getByRole('button', { name: 'Pause auto-renew' }).click();
    await page.getByRole('button', { name: 'Resume auto-renew' }).waitFor();
    expect(await badge().getAttribute('data-state')).toBe('paused');
    expect(await page.locator('.flash:not(#no-alert-channel)').textContent()).toContain(
      'Auto-renew is paused',
    );
    await page.getByRole('button', { name: 'Resume auto-renew' }).click();
    await page.getByRole('button', { name: 'Pause auto-renew' }).waitFor();
    expect(await badge().getAttribute('data-state')).toBe('healthy');
  });

  it('a login’s view: set up once, a password change, one reconnect heals its Pages; a Page not ticked is named (screenshot: dashboard-connection.png)', async () => {
    const app = graph.createApp({ name: 'Agency app' });
    const robin = graph.createUser({ name: 'Robin (agency)' });
    const shops = ['Bakery North', 'Bakery South', 'Bakery East'].map((name) => graph.createPage({ name }));
    for (const s of shops) graph.grantRole(robin.id, s.id);
    const token = graph.issueUserToken({ appId: app.appId, userId: robin.id, lifetime: 'long' });
    // Set up as one login over the API, as the README shows.
    const created = await fetch(`${base}/api/connections`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ access_token: token, app_id: app.appId, app_secret: app.appSecret }),
    });
    expect(created.status).toBe(201);
    const connectionId = ((await created.json()) as { connection: { id: string } }).connection.id;
    loginId = connectionId;

    // The list: the three Pages under their login, which links to its view.
    await page.goto(base);
    const group = page.locator(`section.group[data-connection-id="${connectionId}"]`);
    expect(await group.locator('tr[data-page-id]').count()).toBe(3);
    expect(await group.locator('p.small').textContent()).toContain(
      `Your Facebook login for app ${app.appId} manages these 3 Pages.`,
    );
    await group.getByRole('link', { name: 'Facebook login of Robin (agency)' }).click();
    await page.waitForURL(`${base}/connections/${connectionId}`);
    expect(await badge().getAttribute('data-state')).toBe('healthy');
    expect(await page.locator('#login-expires').textContent()).toMatch(/\(in (59|60) days\)/);
    expect(await page.locator('#login-extension').textContent()).toBe('not blocked');
    expect(await page.locator('table.pages tr[data-page-id] .badge').count()).toBe(3);

    // Robin changes their Facebook password: a check of one Page finds the login dead.
    graph.changePassword(robin.id);
    await page.getByRole('link', { name: 'Bakery North' }).click();
    await page.getByRole('button', { name: 'Check now' }).click();
    await page.waitForURL(`${base}/pages/${shops[0]!.id}`);
    expect(await badge().getAttribute('data-state')).toBe('needs_reauth');
    await page.locator('#page-login a').click();
    await page.waitForURL(`${base}/connections/${connectionId}`);
    expect(await badge().getAttribute('data-state')).toBe('needs_reauth');
    expect(await page.locator('#login-explain').textContent()).toContain(
      'Reconnect once: every Page below is healed together.',
    );
    const reconnect = page.getByRole('link', { name: 'Reconnect with Facebook' });
    expect(await reconnect.count()).toBe(1);
    expect(await reconnect.getAttribute('class')).toContain('primary');
    await shot('dashboard-connection.png');

    // One reconnect: the Login dialog asks again which Pages to share; Robin unticks one of them
    // (not the one the link goes through: that case is in test/dashboard/connections.test.ts).
    const through = /\/connect\/(\d+)\?/.exec((await reconnect.getAttribute('href')) ?? '')![1]!;
    const [kept, dropped] = shops.filter((s) => s.id !== through) as [(typeof shops)[0], (typeof shops)[0]];
    graph.setDialogUser(robin.id);
    await reconnect.click();
    await page.getByRole('heading', { name: 'Log in to Agency app as Robin (agency)' }).waitFor();
    await page.getByLabel(`${dropped.name} (${dropped.id})`).uncheck();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL((u) => u.href.startsWith(`${base}/connect/callback`));
    const done = (await page.locator('main').textContent()) ?? '';
    expect(done).toContain('is connected again');
    expect(done).toContain(`The other Pages of this login got a new token too: "${kept.name}" (${kept.id}).`);
    expect(done).toContain(`Not connected: Page "${dropped.name}" (${dropped.id}) was not ticked`);

    // Back on the login: working again, two Pages healed, the unticked one named with what to do.
    await page.goto(`${base}/connections/${connectionId}`);
    expect(await badge().getAttribute('data-state')).toBe('healthy');
    for (const id of [through, kept.id]) {
      expect(
        await page.locator(`table.pages tr[data-page-id="${id}"] .badge`).getAttribute('data-state'),
      ).toBe('healthy');
    }
    expect(await page.locator(`#not-granted li[data-page-id="${dropped.id}"]`).textContent()).toContain(
      'not ticked when the app was authorised in Facebook Login. Reconnect and tick it',
    );
    const html = await page.content();
    expect(html).not.toContain(token);
    expect(html).not.toContain(app.appSecret);
  });

  it('refuses a form post without the CSRF token, and one from another site', async () => {
    const target = `${base}/pages/${demoPages[0]}/pause`;
    // Same browser, same session cookie, no token.
    const r = await page.request.post(target, { form: { nothing: 'here' } });
    expect(r.status()).toBe(403);
    expect(await r.text()).toContain('security token is missing or wrong');
    const wrong = await page.request.post(target, { form: { _csrf: 'forged' } });
    expect(wrong.status()).toBe(403);
    // Another site's page auto-posting a form here: the SameSite=Strict cookie stays home.
    const evil = await context.newPage();
    await evil.setContent(
      `<form id="f" method="post" action="${target}"><input name="_csrf" value="guess"></form>`,
    );
    const [resp] = await Promise.all([
      evil.waitForResponse(target),
      evil.evaluate(() => (document.getElementById('f') as HTMLFormElement).submit()),
    ]);
    expect(resp.status()).toBe(403);
    expect(await evil.textContent('main')).toContain('You are not signed in');
    await evil.close();
    await page.goto(`${base}/pages/${demoPages[0]}`);
    expect(await badge().getAttribute('data-state')).not.toBe('paused');
  });

  it('works at phone width (screenshot: dashboard-phone.png)', async () => {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
      storageState: await context.storageState(),
      locale: 'en-GB',
      timezoneId: 'UTC',
    });
    phone.on('request', (r) => requested.push(r.url()));
    const p = await phone.newPage();
    for (const url of [
      base,
      `${base}/pages/${demoPages[0]}`,
      `${base}/pages/new`,
      `${base}/pages/${added.pageId}`,
      `${base}/connections/${loginId}`,
    ]) {
      await p.goto(url);
      const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, url).toBeLessThanOrEqual(0);
    }
    await p.goto(base);
    await shot('dashboard-phone.png', p);
    await phone.close();
  });

  it('loads fast, from the service alone', async () => {
    const start = requested.length;
    await page.goto(`${base}/pages/${demoPages[0]}`);
    const timing = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
      const resources = performance.getEntriesByType('resource') as PerformanceResourceTiming[];
      return {
        ms: nav.duration,
        bytes: nav.encodedBodySize + resources.reduce((n, r) => n + r.encodedBodySize, 0),
        resources: resources.length,
      };
    });
    expect(timing.ms).toBeLessThan(1500);
    // the stylesheet and the icon (the tab icon and the header logo are one file)
    expect(timing.resources).toBeLessThanOrEqual(3);
    expect(timing.bytes).toBeLessThan(120_000);
    expect(requested.length).toBeGreaterThan(start);
    // Nothing but the service, and Facebook's Login dialog the reconnect button leads to.
    const foreign = requested.filter(
      (u) =>
        !u.startsWith(`${base}/`) &&
        !u.startsWith('about:') &&
        !u.startsWith('data:') &&
        !/^\/v\d+\.\d+\/dialog\/oauth(\/confirm)?(\?|$)/.test(
          u.startsWith(graph.url) ? u.slice(graph.url.length) : u,
        ),
    );
    expect(requested.some((u) => u.startsWith(`${graph.url}/`))).toBe(true);
    expect(foreign).toEqual([]);
  });

  it('signs out; the old session no longer works', async () => {
    const old = (await context.cookies()).find((c) => c.name === 'ftk_session')!.value;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.locator('.flash:not(#no-alert-channel)').textContent()).toBe('You are signed out.');
    expect((await context.cookies()).map((c) => c.name)).not.toContain('ftk_session');
    await page.goto(`${base}/pages/${demoPages[0]}`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    const replay = await fetch(base, { headers: { cookie: `ftk_session=${old}` } });
    expect(await replay.text()).toContain('<h1>Sign in</h1>');
  });
});
