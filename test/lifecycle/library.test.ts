/**
 * The library exactly as a posting app uses it: import the package by name (the compiled build),
 * create a keeper from environment-style config, set up, read the token, post with it.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { startFakeGraph } from '../../src/fake-graph/index.js';
// The posting app's own Graph client: the library hands out no internals (tests import them by path).
import { createGraphClient } from '../../src/graph/client.js';

describe('library', () => {
  it('a posting app: createTokenKeeper → setup → getPageToken → post → status → close', async () => {
    // Import by package name, as an app that installed fb-token-keeper would.
    const { createTokenKeeper } = await import('fb-token-keeper');
    const graph = await startFakeGraph();
    const dir = mkdtempSync(join(tmpdir(), 'fbtk-lib-'));
    try {
      const app = graph.createApp({ name: 'Poster' });
      const user = graph.createUser({ name: 'Admin' });
      const page = graph.createPage({ name: 'Lib Page' });
      graph.grantRole(user.id, page.id);
      const keeper = await createTokenKeeper({
        env: {
          DATABASE_URL: `sqlite:${join(dir, 'keeper.db')}`,
          TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
          GRAPH_API_URL: graph.url,
          LOG_LEVEL: 'silent',
        },
        create: true,
      });
      const userToken = graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
      await keeper.setup({
        pageId: page.id,
        accessToken: userToken,
        appId: app.appId,
        appSecret: app.appSecret,
      });

      const token = await keeper.getPageToken(page.id);
      // Only the TokenKeeper methods: no store, Graph client, config or reconnect-link secret.
      for (const internal of ['store', 'graph', 'config', 'linkSecret', 'policy', 'budget', 'runRound']) {
        expect(internal in keeper).toBe(false);
      }
      expect(Object.isFrozen(keeper)).toBe(true);
      // @ts-expect-error the public type has no store either
      expect(keeper.store).toBeUndefined();
      const poster = createGraphClient({ baseUrl: graph.url, version: 'v26.0', clock: systemClock });
      const posted = await poster.postToFeed(page.id, token, 'Hello from the library test', app);
      expect(posted.id).toMatch(new RegExp(`^${page.id}_`));

      const status = await keeper.status();
      expect(status).toMatchObject({
        success: true,
        page_id: page.id,
        state: 'healthy',
        token_valid: true,
        expires_at: null,
      });
      expect((await keeper.check({ all: true })).checked).toBe(1);
      expect((await keeper.renew(page.id)).renewed).toBe(false);
      await keeper.close();
    } finally {
      await graph.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a second project reaches the same data through DATA_DIR; pointed at nothing, it creates nothing', async () => {
    const { createTokenKeeper } = await import('fb-token-keeper');
    const graph = await startFakeGraph();
    const dir = mkdtempSync(join(tmpdir(), 'fbtk-lib-'));
    try {
      const app = graph.createApp({ name: 'Poster' });
      const user = graph.createUser({ name: 'Admin' });
      const page = graph.createPage({ name: 'Shared Page' });
      graph.grantRole(user.id, page.id);
      const env = { DATA_DIR: join(dir, 'data'), GRAPH_API_URL: graph.url, LOG_LEVEL: 'silent' };
      const first = await createTokenKeeper({ env, create: true });
      const userToken = graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
      await first.setup({
        pageId: page.id,
        accessToken: userToken,
        appId: app.appId,
        appSecret: app.appSecret,
      });
      const token = await first.getPageToken(page.id);
      await first.close();

      const second = await createTokenKeeper({ env });
      expect(await second.getPageToken(page.id)).toBe(token);
      await second.close();

      const elsewhere = join(dir, 'nowhere');
      await expect(createTokenKeeper({ env: { ...env, DATA_DIR: elsewhere } })).rejects.toMatchObject({
        code: 'database_not_found',
        message: expect.stringContaining(join(elsewhere, 'fb-token-keeper.db')),
      });
      expect(existsSync(elsewhere)).toBe(false);
    } finally {
      await graph.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('heal on demand in-process: getPageToken(id, { after: graphError }) answers a re-minted token', async () => {
    const { createTokenKeeper, createManualClock, AppError } = await import('fb-token-keeper');
    const graph = await startFakeGraph();
    const dir = mkdtempSync(join(tmpdir(), 'fbtk-lib-'));
    try {
      const app = graph.createApp({ name: 'Poster' });
      const user = graph.createUser({ name: 'Admin' });
      const page = graph.createPage({ name: 'Lib Page' });
      graph.grantRole(user.id, page.id);
      const clock = createManualClock(Date.now());
      const keeper = await createTokenKeeper({
        env: {
          DATABASE_URL: `sqlite:${join(dir, 'keeper.db')}`,
          TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
          GRAPH_API_URL: graph.url,
          LOG_LEVEL: 'silent',
        },
        clock,
        create: true,
      });
      const userToken = graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
      await keeper.setup({
        pageId: page.id,
        accessToken: userToken,
        appId: app.appId,
        appSecret: app.appSecret,
      });
      const token = await keeper.getPageToken(page.id);
      graph.invalidateToken(token);
      const poster = createGraphClient({ baseUrl: graph.url, version: 'v26.0', clock });
      const failed = await poster.postToFeed(page.id, token, 'x', app).catch((e: unknown) => e);
      const err = failed as {
        fbCode: number;
        fbSubcode: number | null;
        fbtraceId: string | null;
        message: string;
      };
      expect(err.fbCode).toBe(190);
      // Past the 10-second window of the setup's own check.
      clock.advance(11_000);
      const fresh = await keeper.getPageToken(page.id, {
        after: {
          code: err.fbCode,
          error_subcode: err.fbSubcode,
          fbtrace_id: err.fbtraceId,
          message: err.message,
        },
      });
      expect(fresh).not.toBe(token);
      expect(graph.tokenStatus(fresh).valid).toBe(true);
      await expect(keeper.getPageToken(page.id, { after: 'nope' as never })).rejects.toBeInstanceOf(AppError);
      await keeper.close();
    } finally {
      await graph.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
