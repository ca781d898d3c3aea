/**
 * keeper.reconnect: the code from Facebook Login becomes a long-lived token, a new Page token is
 * minted and verified, and the page resumes; a failing step changes nothing.
 */
import { describe, expect, it } from 'vitest';
import { HOUR } from '../../src/clock.js';
import { AppError } from '../../src/errors.js';
import { testBackends } from '../helpers/backends.js';
import { type KeeperWorld, withKeeper } from '../helpers/keeper.js';

const REDIRECT = 'http://localhost:5000/connect/callback';

/** Drive the emulator's Login dialog over plain HTTP: returns the `code` it redirects with. */
async function login(w: KeeperWorld, userId: string, scopes: string[], decline: string[] = []): Promise<URL> {
  const form = new URLSearchParams({
    client_id: w.app.appId,
    redirect_uri: REDIRECT,
    state: 's1',
    scope: scopes.join(','),
    response_type: 'code',
    user_id: userId,
    action: 'continue',
  });
  for (const s of scopes) if (!decline.includes(s)) form.set(`scope_${s}`, 'on');
  const res = await fetch(`${w.graph.url}/v26.0/dialog/oauth/confirm`, {
    method: 'POST',
    body: form,
    redirect: 'manual',
  });
  expect(res.status).toBe(302);
  return new URL(res.headers.get('location')!);
}

describe.each(testBackends())('reconnect on %s', (backend) => {
  it('a page in needs_reauth becomes healthy with a fresh token; a declined permission changes nothing', async () => {
    await withKeeper(backend, async (w) => {
      const { userId, pageId } = w.newPage();
      const long = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'long' });
      await w.keeper.setup({ pageId, accessToken: long, appId: w.app.appId, appSecret: w.app.appSecret });
      w.graph.changePassword(userId);
      w.clock.advance(7 * HOUR);
      await w.keeper.runRound();
      expect((await w.keeper.status(pageId)).state).toBe('needs_reauth');
      const dead = await w.keeper.getPageToken(pageId);

      const scopes = ['pages_show_list', 'pages_read_engagement', 'pages_manage_posts'];
      const declined = await login(w, userId, scopes, ['pages_manage_posts']);
      await expect(
        w.keeper.reconnect(pageId, declined.searchParams.get('code')!, REDIRECT),
      ).rejects.toSatisfy((e: unknown) => e instanceof AppError && e.code === 'missing_permission');
      expect(await w.keeper.getPageToken(pageId)).toBe(dead);

      const ok = await login(w, userId, scopes);
      const s = await w.keeper.reconnect(pageId, ok.searchParams.get('code')!, REDIRECT);
      expect(s.state).toBe('healthy');
      expect(s.history[0]?.type === 'reconnected' || s.history.some((h) => h.type === 'reconnected')).toBe(
        true,
      );
      const fresh = await w.keeper.getPageToken(pageId);
      expect(fresh).not.toBe(dead);
      expect(w.graph.tokenStatus(fresh).valid).toBe(true);
      // A code works once.
      await expect(w.keeper.reconnect(pageId, ok.searchParams.get('code')!, REDIRECT)).rejects.toBeInstanceOf(
        AppError,
      );
    });
  });
});
