/**
 * Reconnect end to end in a real browser (Debian's Chromium through playwright-core): the whole
 * service (`createService`: store, Graph client, keeper, scheduler, alert dispatcher, HTTP app with
 * the connect routes) listening on 127.0.0.1, the Graph API emulator and its Login dialog, and a
 * real webhook receiver. A person follows the link from the alert they received; the page goes from
 * `needs_reauth` to `healthy`. Declining a permission, cancelling, a tampered or stale state and an
 * expired link each end on a page that explains what happened, and change nothing.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock, createManualTimers, HOUR, MINUTE } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { type FakeGraph, startFakeGraph } from '../../src/fake-graph/index.js';
import { silentLogger } from '../../src/logger.js';
import { createService, type Service } from '../../src/service.js';
import { startWebhookReceiver, type WebhookReceiver } from '../alerts/receivers.js';

const SECRET = 'browser-test-webhook-secret';
const clock = createManualClock(Date.parse('2027-02-01T09:00:00Z'));

let graph: FakeGraph;
let hook: WebhookReceiver;
let service: Service;
let browser: Browser;
let dir: string;
let base: string;
let fbApp: { appId: string; appSecret: string };
/** Every URL the browser asked for. */
const requested: string[] = [];

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

beforeAll(async () => {
  graph = await startFakeGraph({ clock });
  hook = await startWebhookReceiver({ secret: SECRET, nowSec: () => Math.floor(clock.now() / 1000) });
  dir = mkdtempSync(join(tmpdir(), 'fbtk-connect-browser-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const config = loadConfig({
    DATABASE_URL: `sqlite:${join(dir, 'keeper.db')}`,
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    GRAPH_API_URL: graph.url,
    FACEBOOK_DIALOG_URL: graph.url,
    PUBLIC_URL: base,
    HOST: '127.0.0.1',
    PORT: String(port),
    WEBHOOK_URLS: hook.url,
    WEBHOOK_SECRET: SECRET,
    RECONNECT_LINK_TTL_HOURS: '24',
  });
  // Manual timers: the scheduler and the dispatcher loop only run when the test says so.
  service = await createService({
    config,
    clock,
    timers: createManualTimers(clock),
    logger: silentLogger,
    create: true,
    random: () => 0.5,
  });
  await service.start();
  fbApp = graph.createApp({ name: 'Kitten Poster' });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await service?.stop();
  await hook?.close();
  await graph?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A managed page whose admin just changed their Facebook password; returns the alert's link. */
async function brokenPage(name: string): Promise<{ pageId: string; userId: string; link: string }> {
  const user = graph.createUser({ name: `${name} admin` });
  const fbPage = graph.createPage({ name });
  graph.grantRole(user.id, fbPage.id);
  const token = graph.issueUserToken({ appId: fbApp.appId, userId: user.id, lifetime: 'long' });
  await service.keeper.setup({
    pageId: fbPage.id,
    accessToken: token,
    appId: fbApp.appId,
    appSecret: fbApp.appSecret,
  });
  // The person who will follow the link is logged in to Facebook as this admin.
  graph.setDialogUser(user.id);
  graph.changePassword(user.id);
  clock.advance(HOUR);
  await service.keeper.check({ pageId: fbPage.id });
  expect((await service.keeper.status(fbPage.id)).state).toBe('needs_reauth');
  return { pageId: fbPage.id, userId: user.id, link: await alertLink(fbPage.id, 'needs_reauth') };
}

/** Deliver the outbox and take the reconnect link from the webhook the receiver got. */
async function alertLink(pageId: string, event: string): Promise<string> {
  await service.dispatcher.deliverDue();
  const got = hook.got.filter((g) => g.body.page_id === pageId && g.body.event === event);
  expect(got.length).toBeGreaterThan(0);
  const last = got[got.length - 1]!;
  expect(last.verified).toBe(true);
  return String(last.body.reconnect_url);
}

async function newTab(): Promise<Page> {
  const context = await browser.newContext();
  context.on('request', (r) => requested.push(r.url()));
  return context.newPage();
}

/** Our pages' heading (without the icon), or the emulator dialog's. */
const heading = async (page: Page) => (await page.locator('h1').innerText()).replace(/^[✓✕!]\n/, '');

describe('reconnect in Chromium', () => {
  it('a page in needs_reauth becomes healthy by following the link from the alert', async () => {
    const { pageId, link } = await brokenPage('Kitten Page');
    expect(link.startsWith(`${base}/connect/${pageId}?exp=`)).toBe(true);
    const before = await service.keeper.getPageToken(pageId);

    const page = await newTab();
    await page.goto(link);
    // Facebook's Login dialog (the emulator's): log in to the app and continue.
    await expect.poll(() => page.url()).toContain(`${graph.url}/v26.0/dialog/oauth`);
    expect(await heading(page)).toMatch(/^Log in to Kitten Poster as /);
    for (const scope of ['pages_show_list', 'pages_read_engagement', 'pages_manage_posts']) {
      expect(await page.locator(`input[name="scope_${scope}"]`).isChecked()).toBe(true);
    }
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${base}/connect/callback?**`);
    expect(await heading(page)).toBe(`Page "Kitten Page" (${pageId}) is connected again`);
    const text = await page.locator('main').innerText();
    expect(text).toContain('Posting continues');
    expect(text).toContain('The new Page token does not expire.');

    const status = await service.keeper.status(pageId);
    expect(status.state).toBe('healthy');
    expect(status.history.some((h) => h.type === 'reconnected')).toBe(true);
    const after = await service.keeper.getPageToken(pageId);
    expect(after).not.toBe(before);
    expect(await page.content()).not.toContain(after);

    // The people who got the first alert hear that it is fixed, and that the token changed.
    await service.dispatcher.deliverDue();
    const events = hook.got.filter((g) => g.body.page_id === pageId).map((g) => g.body.event);
    expect(events).toEqual(['needs_reauth', 'recovered', 'token_rotated']);

    // Reloading the callback (a replay) is refused and changes nothing.
    await page.reload();
    expect(await heading(page)).toBe('This reconnect was already used');
    expect(await service.keeper.getPageToken(pageId)).toBe(after);
    await page.context().close();
  });

  it('declining pages_manage_posts ends on a page that explains it; nothing changes; Start again fixes it', async () => {
    const { pageId, link } = await brokenPage('Bakery');
    const before = await service.keeper.getPageToken(pageId);
    const page = await newTab();
    await page.goto(link);
    await page.locator('input[name="scope_pages_manage_posts"]').uncheck();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${base}/connect/callback?**`);
    expect(await heading(page)).toBe('A required permission was not granted');
    expect(await page.locator('main').innerText()).toContain('Nothing was changed.');
    expect((await service.keeper.status(pageId)).state).toBe('needs_reauth');
    expect(await service.keeper.getPageToken(pageId)).toBe(before);

    // "Start again" goes back through the dialog; with every permission kept, it works.
    await page.getByRole('link', { name: 'Start again' }).click();
    await expect.poll(() => page.url()).toContain('/dialog/oauth');
    expect(new URL(page.url()).searchParams.get('auth_type')).toBe('rerequest');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${base}/connect/callback?**`);
    expect(await heading(page)).toBe(`Page "Bakery" (${pageId}) is connected again`);
    expect((await service.keeper.status(pageId)).state).toBe('healthy');
    await page.context().close();
  });

  it('logging in as an account without a role on the Page explains it; nothing changes', async () => {
    const { pageId, link } = await brokenPage('Tea Room');
    const stranger = graph.createUser({ name: 'Someone Else' });
    const page = await newTab();
    await page.goto(link);
    await page.locator('select[name="user_id"]').selectOption(stranger.id);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${base}/connect/callback?**`);
    expect(await heading(page)).toBe('This Facebook account cannot manage the Page');
    expect(await page.locator('main').innerText()).toContain('has no role on Page "Tea Room"');
    expect((await service.keeper.status(pageId)).state).toBe('needs_reauth');
    await page.context().close();
  });

  it('Cancel in the dialog explains what happened; nothing changes', async () => {
    const { pageId, link } = await brokenPage('Flower Shop');
    const page = await newTab();
    await page.goto(link);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.waitForURL(`${base}/connect/callback?**`);
    expect(await heading(page)).toBe('Facebook Login was cancelled');
    expect((await service.keeper.status(pageId)).state).toBe('needs_reauth');
    await page.context().close();
  });

  it('a tampered state, a login that took too long and an expired link each get their page', async () => {
    const { pageId, link } = await brokenPage('Book Club');
    const page = await newTab();

    // Tampered state: change the state in the dialog's form before continuing.
    await page.goto(link);
    await page.locator('input[name="state"]').evaluate((el: HTMLInputElement) => {
      el.value = el.value.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    });
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${base}/connect/callback?**`);
    expect(await heading(page)).toBe('This reconnect request is not valid');
    expect(await page.locator('main').innerText()).toContain('Nothing was changed.');

    // Too slow: more than 15 minutes in the dialog.
    await page.goto(link);
    clock.advance(16 * MINUTE);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${base}/connect/callback?**`);
    expect(await heading(page)).toBe('This reconnect took too long');

    // An alert link older than RECONNECT_LINK_TTL_HOURS.
    clock.advance(25 * HOUR);
    const res = await page.goto(link);
    expect(res?.status()).toBe(410);
    expect(await heading(page)).toBe('This reconnect link has expired');

    // A link with its signature cut off.
    const cut = await page.goto(link.replace(/&sig=.*/, ''));
    expect(cut?.status()).toBe(400);
    expect(await heading(page)).toBe('This reconnect link is not valid');

    expect((await service.keeper.status(pageId)).state).toBe('needs_reauth');
    await page.context().close();
  });

  it('the browser only ever talked to this service and the (emulated) Facebook', () => {
    const hosts = new Set(requested.map((u) => new URL(u).host));
    expect([...hosts].sort()).toEqual([new URL(base).host, new URL(graph.url).host].sort());
  });
});
