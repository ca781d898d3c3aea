/**
 * The control API over HTTP (`POST /__emulator/<op>`), its client, and the `fake-graph` CLI
 * running in another process, driven from this one.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { createManualClock, DAY } from '../../src/clock.js';
import {
  CONTROL_OPS,
  connectFakeGraph,
  type FakeGraph,
  runFakeGraphCli,
  startFakeGraph,
} from '../../src/fake-graph/index.js';
import { createGraphClient } from '../../src/graph/client.js';
import { graphError, REFERENCE_TIME } from '../graph/world.js';

const started: FakeGraph[] = [];
afterEach(async () => {
  for (const g of started.splice(0)) await g.close();
});

async function raw(url: string, op: string, body: unknown) {
  const res = await fetch(`${url}/__emulator/${op}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: res.status,
    body: (await res.json()) as { result?: unknown; error?: { message: string } },
  };
}

describe('fake-graph control API over HTTP', () => {
  it('the same operations as the methods, with named JSON bodies or positional arrays', async () => {
    const clock = createManualClock(REFERENCE_TIME);
    const g = await startFakeGraph({ clock });
    started.push(g);
    const app = (await raw(g.url, 'createApp', { appId: '1234567890', appSecret: 'sekrit', name: 'Remote' }))
      .body.result;
    expect(app).toEqual({ appId: '1234567890', appSecret: 'sekrit', name: 'Remote' });
    const user = (await raw(g.url, 'createUser', { name: 'Remote user' })).body.result as { id: string };
    const page = (await raw(g.url, 'createPage', {})).body.result as { id: string };
    expect((await raw(g.url, 'grantRole', [user.id, page.id])).status).toBe(200);
    const token = (
      await raw(g.url, 'issueUserToken', { appId: '1234567890', userId: user.id, lifetime: 'long' })
    ).body.result as string;
    expect((await raw(g.url, 'tokenStatus', { token })).body.result).toMatchObject({
      valid: true,
      type: 'USER',
    });
    expect(g.tokenStatus(token).valid).toBe(true);
    await raw(g.url, 'changePassword', [user.id]);
    expect((await raw(g.url, 'tokenStatus', [token])).body.result).toMatchObject({
      valid: false,
      subcode: 460,
    });
    expect((await raw(g.url, 'advanceClock', { ms: DAY })).body.result).toBe(REFERENCE_TIME + DAY);
    expect((await raw(g.url, 'now', {})).body.result).toBe(REFERENCE_TIME + DAY);
    // Control calls are not Graph calls.
    expect(g.countCalls()).toBe(0);
    expect(CONTROL_OPS).toEqual(
      expect.arrayContaining([
        'injectFault',
        'setDialogUser',
        'setExchangeExtends',
        'removeApp',
        'checkpoint',
        'logout',
        'removeRole',
      ]),
    );
  });

  it('clear 4xx errors: unknown op, bad JSON, bad arguments, unknown ids', async () => {
    const g = await startFakeGraph();
    started.push(g);
    expect(await raw(g.url, 'launchRockets', {})).toMatchObject({
      status: 404,
      body: { error: { message: expect.stringMatching(/unknown control operation/) } },
    });
    expect(await raw(g.url, 'createApp', '{nope')).toMatchObject({
      status: 400,
      body: { error: { message: 'body is not JSON' } },
    });
    expect(
      await raw(g.url, 'issueUserToken', { appId: 'x', userId: 'y', lifetime: 'forever' }),
    ).toMatchObject({
      status: 400,
      body: { error: { message: expect.stringMatching(/invalid issueUserToken arguments: lifetime/) } },
    });
    expect(await raw(g.url, 'changePassword', { userId: 'nobody' })).toMatchObject({
      status: 400,
      body: { error: { message: 'unknown user nobody' } },
    });
    // The system clock cannot be moved.
    expect((await raw(g.url, 'advanceClock', { ms: 1 })).status).toBe(400);
  });

  it('connectFakeGraph drives faults (Infinity included), switches and the call record', async () => {
    const clock = createManualClock(REFERENCE_TIME);
    const g = await startFakeGraph({ clock });
    started.push(g);
    const remote = connectFakeGraph(g.url);
    const app = await remote.createApp({ name: 'Remote' });
    const user = await remote.createUser({ name: 'U' });
    const page = await remote.createPage({ name: 'P' });
    await remote.grantRole(user.id, page.id);
    const token = await remote.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
    const client = createGraphClient({ baseUrl: g.url, version: g.version, clock });

    await remote.injectFault({ path: '/me', kind: 'transient_code_2', times: Number.POSITIVE_INFINITY });
    for (let i = 0; i < 3; i++) expect((await graphError(client.me(token, app))).fbCode).toBe(2);
    await remote.clearFaults();
    expect(await client.me(token, app)).toEqual({ id: user.id, name: 'U' });

    await remote.setExchangeExtends(true);
    clock.advance(DAY);
    expect((await client.exchangeToken(token, app)).expiresAt).toBe(clock.now() + 60 * DAY);
    expect(await remote.countCalls('/me')).toBe(4);
    const calls = await remote.calls();
    expect(calls.at(-1)).toMatchObject({ path: '/v26.0/oauth/access_token', status: 200, proof: 'none' });
    await remote.resetCalls();
    expect(await remote.countCalls()).toBe(0);

    const su = await remote.createSystemUser({ appId: app.appId, pages: [page.id] });
    const suToken = await remote.issueSystemUserToken({ appId: app.appId, systemUserId: su.id });
    expect((await client.debugToken(suToken, app)).type).toBe('SYSTEM_USER');
    await remote.removeRole(user.id, page.id);
    await remote.setLatency(0);
    await expect(remote.setDialogUser('nobody')).rejects.toThrow(
      /fake-graph setDialogUser: unknown user nobody/,
    );
  });

  describe('fake-graph CLI', () => {
    let child: ChildProcess | null = null;
    afterEach(async () => {
      if (child && child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      child = null;
    });

    it('runFakeGraphCli prints a seeded app, user, Page, system user and working tokens as JSON', async () => {
      let out = '';
      const g = await runFakeGraphCli(['--port', '0'], { stdout: { write: (s: string) => (out += s) } });
      started.push(g);
      const seeded = JSON.parse(out);
      expect(seeded).toMatchObject({
        url: g.url,
        version: 'v26.0',
        graph_api_url: g.url,
        facebook_dialog_url: g.url,
        page: { name: 'Demo Page' },
      });
      const app = { appId: seeded.app.app_id, appSecret: seeded.app.app_secret };
      const client = createGraphClient({ baseUrl: g.url, version: 'v26.0', clock: g.clock });
      expect(await client.debugToken(seeded.tokens.long_lived_user, app)).toMatchObject({
        isValid: true,
        type: 'USER',
      });
      expect(await client.debugToken(seeded.tokens.short_lived_user, app)).toMatchObject({
        isValid: true,
        type: 'USER',
      });
      expect(await client.debugToken(seeded.tokens.system_user, app)).toMatchObject({
        isValid: true,
        type: 'SYSTEM_USER',
        expiresAt: null,
      });
      expect((await client.getPageToken(seeded.page.id, seeded.tokens.long_lived_user, app)).id).toBe(
        seeded.page.id,
      );
      await expect(runFakeGraphCli(['--port', 'x'], { stdout: { write: () => true } })).rejects.toThrow(
        /--port/,
      );
    });

    it('in another process: controlled over HTTP, used by the real client, stopped by SIGTERM', async () => {
      child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          '-e',
          "import('./src/fake-graph/index.ts').then((m) => m.runFakeGraphCli(['--port', '0']))",
        ],
        { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      const deadline = Date.now() + 20_000;
      while (!out.trimEnd().endsWith('}') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const seeded = JSON.parse(out);
      const remote = connectFakeGraph(seeded.url);
      const app = { appId: seeded.app.app_id, appSecret: seeded.app.app_secret };
      const client = createGraphClient({
        baseUrl: seeded.url,
        version: seeded.version,
        clock: { now: () => Date.now() },
      });
      const page = await client.getPageToken(seeded.page.id, seeded.tokens.long_lived_user, app);
      expect(await remote.tokenStatus(page.accessToken)).toMatchObject({
        valid: true,
        type: 'PAGE',
        expiresAt: null,
      });
      await remote.changePassword(seeded.user.id);
      expect(await graphError(client.postToFeed(seeded.page.id, page.accessToken, 'x', app))).toMatchObject({
        kind: 'needs_reauth',
        fbSubcode: 460,
      });
      await expect(remote.advanceClock(1)).rejects.toThrow(/system clock/);
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code).toBe(0);
    });
  });
});
