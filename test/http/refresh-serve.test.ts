/**
 * Heal on demand end to end: `serve` as a real process, the Graph emulator, a webhook receiver, and
 * the posting-app clients of docs/POSTING_APPS.md cut out of the guide and run as written (Node and
 * Python). Each scenario has a Page of its own, set up a minute "ago" (the seeding keeper runs on
 * a clock a minute behind), so no call falls inside the 10-second window of the setup's check.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock, MINUTE } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { type FakeGraph, startFakeGraph } from '../../src/fake-graph/index.js';
import { createApiKey } from '../../src/http/auth.js';
import { createTokenKeeper } from '../../src/lifecycle/keeper.js';
import { silentLogger } from '../../src/logger.js';
import { startWebhookReceiver, type WebhookReceiver } from '../alerts/receivers.js';
import { type ServeProcess, startServe } from '../reliability/helpers.js';

const GUIDE = readFileSync(resolve(import.meta.dirname, '../../docs/POSTING_APPS.md'), 'utf8');

/** The code of the fenced block between `<!-- NAME:start -->` and `<!-- NAME:end -->`. */
function snippet(name: string): string {
  const m = new RegExp(
    `<!-- ${name}:start -->\\s*\`\`\`\\w+\\n([\\s\\S]*?)\`\`\`\\s*<!-- ${name}:end -->`,
  ).exec(GUIDE);
  if (!m?.[1]) throw new Error(`docs/POSTING_APPS.md has no block marked ${name}`);
  return m[1];
}

interface SeededPage {
  pageId: string;
  userId: string;
  token: string;
}

let graph: FakeGraph;
let hook: WebhookReceiver;
let serve: ServeProcess;
let dir = '';
let reader = '';
let app: { appId: string; appSecret: string };
const pages: SeededPage[] = [];

/** Mint calls for a Page in the emulator's log: `GET /{version}/{page-id}` (fields=access_token). */
const mints = (pageId: string) =>
  graph.calls.filter((c) => c.method === 'GET' && c.path.endsWith(`/${pageId}`)).length;

async function refresh(pageId: string, body?: unknown) {
  const r = await fetch(`${serve.url}/api/pages/${pageId}/token/refresh`, {
    method: 'POST',
    headers: { authorization: `Bearer ${reader}`, 'content-type': 'application/json' },
    body: body === undefined ? '' : JSON.stringify(body),
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: r.status, json: (await r.json()) as Record<string, any> };
}

beforeAll(async () => {
  graph = await startFakeGraph();
  hook = await startWebhookReceiver();
  dir = mkdtempSync(join(tmpdir(), 'fbtk-refresh-'));
  const env = {
    DATABASE_URL: `sqlite:${join(dir, 'keeper.db')}`,
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    GRAPH_API_URL: graph.url,
    FACEBOOK_DIALOG_URL: graph.url,
    PUBLIC_URL: 'http://localhost:5000',
    WEBHOOK_URLS: hook.url,
  };
  app = graph.createApp({ name: 'Posting app' });
  const clock = createManualClock(Date.now() - MINUTE);
  const keeper = await createTokenKeeper({
    config: loadConfig(env),
    logger: silentLogger,
    clock,
    create: true,
  });
  try {
    for (let i = 0; i < 5; i++) {
      const user = graph.createUser({ name: `Admin ${i}` });
      const page = graph.createPage({ name: `Page ${i}` });
      graph.grantRole(user.id, page.id);
      const long = graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
      await keeper.setup({ pageId: page.id, accessToken: long, appId: app.appId, appSecret: app.appSecret });
      pages.push({ pageId: page.id, userId: user.id, token: await keeper.getPageToken(page.id) });
    }
    reader = (await createApiKey(keeper.store, { name: 'poster', scopes: ['token:read'], clock })).key;
  } finally {
    await keeper.close();
  }
  // The mints of the setups above are not the heals counted below.
  graph.resetCalls();
  serve = await startServe(env);
  await serve.waitReady();
}, 60_000);

afterAll(async () => {
  await serve?.kill('SIGTERM');
  await hook?.close();
  await graph?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('heal on demand against a real `serve`', () => {
  it('a dead Page token: one refresh call answers a new token the emulator says is valid', async () => {
    const { pageId, token } = pages[0]!;
    graph.invalidateToken(token);
    const r = await refresh(pageId, {
      code: 190,
      error_subcode: 467,
      fbtrace_id: 'Ax1',
      message: 'Session expired',
    });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json).toMatchObject({
      verdict: 'healed',
      token_changed: true,
      checked_now: true,
      state: 'healthy',
    });
    expect(r.json.access_token).not.toBe(token);
    expect(graph.tokenStatus(r.json.access_token).valid).toBe(true);
    expect(mints(pageId)).toBe(1);
  });

  it('20 concurrent calls: one heal (one mint in the emulator’s log), the same token for all', async () => {
    const { pageId, token } = pages[1]!;
    graph.invalidateToken(token);
    const answers = await Promise.all(Array.from({ length: 20 }, () => refresh(pageId, { code: 190 })));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(new Set(answers.map((a) => a.json.access_token)).size).toBe(1);
    expect(graph.tokenStatus(answers[0]!.json.access_token).valid).toBe(true);
    expect(mints(pageId)).toBe(1);
  });

  it('a dead login: needs_reauth, the reason, a reconnect link, and the alert delivered within the call', async () => {
    const { pageId, userId, token } = pages[2]!;
    graph.logout(userId);
    const before = hook.got.length;
    const r = await refresh(pageId, { code: 190, error_subcode: 467 });
    // Read right away: the alert must already be here, not after the dispatcher's next pass.
    const alerts = hook.got.slice(before).map((g) => g.body);
    expect(r.status).toBe(409);
    const e = r.json.error;
    expect(e).toMatchObject({
      code: 'needs_reauth',
      details: { state: 'needs_reauth', reason: 'logged_out' },
    });
    expect(e.message).toMatch(/logged out/);
    expect(e.details.reconnect_url).toMatch(/^http:\/\/localhost:5000\/connect\//);
    expect(JSON.stringify(r.json)).not.toContain(token);
    expect(alerts).toEqual([expect.objectContaining({ event: 'needs_reauth', page_id: pageId })]);
  });

  describe('the clients of docs/POSTING_APPS.md, as written', () => {
    const run = async (cmd: string, args: string[], pageId: string) => {
      const r = await promisify(execFile)(cmd, args, {
        cwd: dir,
        timeout: 30_000,
        env: {
          PATH: process.env.PATH ?? '',
          KEEPER_URL: serve.url,
          KEEPER_API_KEY: reader,
          PAGE_ID: pageId,
          APP_SECRET: app.appSecret,
          GRAPH_URL: `${graph.url}/${graph.version}`,
        },
      });
      return r.stdout.trim();
    };

    it('Node: posts, and after the token dies heals it through the keeper and posts again', async () => {
      const { pageId, token } = pages[3]!;
      writeFileSync(join(dir, 'post-to-page.mjs'), snippet('node-client'));
      writeFileSync(
        join(dir, 'run.mjs'),
        "import { postToPage } from './post-to-page.mjs';\nconsole.log(await postToPage(process.argv[2]));\n",
      );
      expect(await run(process.execPath, ['run.mjs', 'first post'], pageId)).toMatch(
        new RegExp(`^${pageId}_`),
      );
      graph.invalidateToken(token);
      expect(await run(process.execPath, ['run.mjs', 'after the token died'], pageId)).toMatch(
        new RegExp(`^${pageId}_`),
      );
      expect(graph.posts(pageId).map((p) => p.message)).toEqual(['first post', 'after the token died']);
      expect(mints(pageId)).toBe(1);
    });

    it('Python (requests): the same', async () => {
      const { pageId, token } = pages[4]!;
      writeFileSync(join(dir, 'post_to_page.py'), snippet('python-client'));
      const py = (message: string) =>
        run(
          'python3',
          ['-c', `import sys, post_to_page; print(post_to_page.post_to_page(sys.argv[1]))`, message],
          pageId,
        );
      expect(await py('first post')).toMatch(new RegExp(`^${pageId}_`));
      graph.invalidateToken(token);
      expect(await py('after the token died')).toMatch(new RegExp(`^${pageId}_`));
      expect(graph.posts(pageId).map((p) => p.message)).toEqual(['first post', 'after the token died']);
      expect(mints(pageId)).toBe(1);
    });
  });
});
