/**
 * The Login dialog driven with plain HTTP like a browser would: read the form, submit it, follow
 * the code into `/oauth/access_token` with the real client.
 */
import { describe, expect, it } from 'vitest';
import { HOUR, MINUTE } from '../../src/clock.js';
import { graphError, REFERENCE_TIME, withGraph } from '../graph/world.js';

const REDIRECT = 'https://keeper.example/connect/callback?flow=abc';

interface Form {
  action: string;
  fields: [string, string][];
  checkboxes: string[];
  users: string[];
  html: string;
}

function parseForm(html: string): Form {
  const attr = (tag: string, name: string) => new RegExp(`${name}="([^"]*)"`).exec(tag)?.[1];
  const unescape = (s: string) =>
    s
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&');
  const inputs = html.match(/<input [^>]*>/g) ?? [];
  return {
    action: unescape(attr(/<form [^>]*>/.exec(html)![0], 'action')!),
    fields: inputs
      .filter((i) => i.includes('type="hidden"'))
      .map((i) => [attr(i, 'name')!, unescape(attr(i, 'value')!)]),
    checkboxes: inputs
      .filter((i) => i.includes('type="checkbox"') && i.includes(' checked'))
      .map((i) => attr(i, 'name')!),
    users: [...html.matchAll(/<option value="([^"]*)"/g)].map((m) => m[1]!),
    html,
  };
}

/** Open the dialog, untick `decline`, pick `userId` (default: the first offered), press `action`. */
async function login(
  base: string,
  params: Record<string, string>,
  opts: { decline?: string[]; untickPages?: string[]; userId?: string; action?: 'continue' | 'cancel' } = {},
): Promise<{ location: URL; form: Form }> {
  const page = await fetch(
    `${base}/v26.0/dialog/oauth?${new URLSearchParams({ response_type: 'code', ...params }).toString()}`,
  );
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toMatch(/text\/html/);
  const form = parseForm(await page.text());
  const body = new URLSearchParams(form.fields);
  body.set('user_id', opts.userId ?? form.users[0]!);
  for (const box of form.checkboxes) {
    if (opts.decline?.some((d) => box === `scope_${d}`)) continue;
    if (opts.untickPages?.some((p) => box === `page_${p}`)) continue;
    body.set(box, 'on');
  }
  body.set('action', opts.action ?? 'continue');
  const res = await fetch(new URL(form.action, base), { method: 'POST', body, redirect: 'manual' });
  expect(res.status).toBe(302);
  return { location: new URL(res.headers.get('location')!), form };
}

const SCOPES = 'pages_show_list,pages_read_engagement,pages_manage_posts,business_management';

describe('fake-graph Login dialog', () => {
  it('shows "Log in to <app> as <user>", the users (dialog user first) and one ticked box per permission', async () => {
    await withGraph(async ({ graph, app }) => {
      const first = graph.createUser({ name: 'First' });
      const chosen = graph.createUser({ name: 'Chosen <b>& Co</b>' });
      graph.setDialogUser(chosen.id);
      const page = await fetch(
        `${graph.url}/v26.0/dialog/oauth?client_id=${app.appId}&redirect_uri=${encodeURIComponent(REDIRECT)}&state=xyz&scope=${SCOPES}&response_type=code`,
      );
      const form = parseForm(await page.text());
      expect(form.html).toContain('Log in to Test app as Chosen &lt;b&gt;&amp; Co&lt;/b&gt;');
      expect(form.html).not.toContain('<b>&');
      expect(form.users).toEqual([chosen.id, first.id]);
      expect(form.checkboxes).toEqual(SCOPES.split(',').map((s) => `scope_${s}`));
      expect(form.html).toMatch(/<button[^>]*value="continue"[^>]*>Continue<\/button>/);
      expect(form.html).toMatch(/<button[^>]*value="cancel"[^>]*>Cancel<\/button>/);
      expect(Object.fromEntries(form.fields)).toMatchObject({
        client_id: app.appId,
        redirect_uri: REDIRECT,
        state: 'xyz',
      });
    });
  });

  it('Continue → redirect_uri?code&state; the code gives a short-lived user token once', async () => {
    await withGraph(async ({ graph, client, app, newPage, clock }) => {
      const { userId } = newPage();
      graph.setDialogUser(userId);
      const { location } = await login(graph.url, {
        client_id: app.appId,
        redirect_uri: REDIRECT,
        state: 'st-1',
        scope: SCOPES,
      });
      expect(`${location.origin}${location.pathname}`).toBe('https://keeper.example/connect/callback');
      expect(location.searchParams.get('flow')).toBe('abc');
      expect(location.searchParams.get('state')).toBe('st-1');
      const code = location.searchParams.get('code')!;
      expect(code).toMatch(/^AQfake/);

      const token = await client.exchangeCode(code, REDIRECT, app);
      expect(token).toMatchObject({ expiresIn: 3600, expiresAt: clock.now() + HOUR });
      const d = await client.debugToken(token.accessToken, app);
      expect(d).toMatchObject({ isValid: true, type: 'USER', userId, issuedAt: null });
      expect(d.scopes).toEqual(SCOPES.split(','));
      // One use only.
      expect(await graphError(client.exchangeCode(code, REDIRECT, app))).toMatchObject({
        kind: 'invalid_request',
        fbCode: 100,
        fbSubcode: 36009,
      });
      // The short-lived token exchanges for a long-lived one as usual.
      expect((await client.exchangeToken(token.accessToken, app)).expiresIn).toBe(5184000);
    });
  });

  it('an unticked permission is declined: the token does not carry it', async () => {
    await withGraph(async ({ graph, client, app, newPage }) => {
      const { userId } = newPage();
      const { location } = await login(
        graph.url,
        { client_id: app.appId, redirect_uri: REDIRECT, state: 's', scope: SCOPES },
        { userId, decline: ['pages_manage_posts'] },
      );
      const token = await client.exchangeCode(location.searchParams.get('code')!, REDIRECT, app);
      const d = await client.debugToken(token.accessToken, app);
      expect(d.scopes).toEqual(['pages_show_list', 'pages_read_engagement', 'business_management']);
      expect(d.granularScopes.map((s) => s.scope)).not.toContain('pages_manage_posts');
    });
  });

  it('Cancel → redirect_uri?error=access_denied&error_reason=user_denied&state', async () => {
    await withGraph(async ({ graph, app, newPage }) => {
      newPage();
      const { location } = await login(
        graph.url,
        { client_id: app.appId, redirect_uri: REDIRECT, state: 'st-2', scope: SCOPES },
        { action: 'cancel' },
      );
      expect(Object.fromEntries(location.searchParams)).toEqual({
        flow: 'abc',
        error: 'access_denied',
        error_code: '200',
        error_description: 'Permissions error',
        error_reason: 'user_denied',
        state: 'st-2',
      });
      expect(location.toString()).toContain('error_description=Permissions+error');
    });
  });

  it('the code is bound to app, redirect_uri and 10 minutes; a new login works after an invalidation', async () => {
    await withGraph(async ({ graph, client, app, newPage, clock }) => {
      const { userId, pageId } = newPage();
      const old = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
      graph.removeApp(userId, app.appId);
      const code = async () =>
        (
          await login(
            graph.url,
            { client_id: app.appId, redirect_uri: REDIRECT, state: 's', scope: SCOPES },
            { userId },
          )
        ).location.searchParams.get('code')!;

      expect(
        await graphError(client.exchangeCode(await code(), 'https://elsewhere.example/cb', app)),
      ).toMatchObject({ fbCode: 100, fbSubcode: 36008 });
      const other = graph.createApp();
      expect(
        (
          await graphError(
            client.exchangeCode(await code(), REDIRECT, { appId: other.appId, appSecret: other.appSecret }),
          )
        ).fbCode,
      ).toBe(100);
      expect(
        (
          await graphError(
            client.exchangeCode(await code(), REDIRECT, { appId: app.appId, appSecret: 'wrong' }),
          )
        ).code,
      ).toBe('app_credentials_invalid');
      expect((await graphError(client.exchangeCode('AQfakeNeverIssued', REDIRECT, app))).message).toMatch(
        /Invalid verification code format/,
      );
      const late = await code();
      clock.advance(10 * MINUTE);
      expect(await graphError(client.exchangeCode(late, REDIRECT, app))).toMatchObject({ fbSubcode: 36007 });

      // The user re-authorised the app by logging in: new tokens work, the old one stays dead.
      const fresh = await client.exchangeCode(await code(), REDIRECT, app);
      expect(graph.tokenStatus(old)).toMatchObject({ valid: false, subcode: 458 });
      expect((await client.getPageToken(pageId, fresh.accessToken, app)).id).toBe(pageId);
      expect(clock.now()).toBe(REFERENCE_TIME + 10 * MINUTE);
    });
  });

  it('Page picker: first login asks; later logins reuse the selection unless auth_type=rerequest; unticked Pages get no token', async () => {
    await withGraph(async ({ graph, client, app }) => {
      const user = graph.createUser({ name: 'Two pages' });
      const a = graph.createPage({ name: 'A' });
      const b = graph.createPage({ name: 'B' });
      graph.grantRole(user.id, a.id);
      graph.grantRole(user.id, b.id);
      graph.setDialogUser(user.id);
      const params = { client_id: app.appId, redirect_uri: REDIRECT, state: 's', scope: SCOPES };
      const tokenOf = async (location: URL) =>
        (await client.exchangeCode(location.searchParams.get('code')!, REDIRECT, app)).accessToken;

      // First login: one ticked box per Page; B is unticked.
      const first = await login(graph.url, params, { decline: [], untickPages: [b.id] });
      expect(first.form.checkboxes).toEqual(expect.arrayContaining([`page_${a.id}`, `page_${b.id}`]));
      const t1 = await tokenOf(first.location);
      const accounts = await client.listPageAccounts(t1, app);
      expect(accounts.find((p) => p.id === a.id)?.accessToken).toMatch(/^EAAfake/);
      expect(accounts.find((p) => p.id === b.id)?.accessToken).toBeNull();

      // Second login: no picker, the previous selection stays (B still without a token).
      const second = await login(graph.url, params);
      expect(second.form.checkboxes.some((c) => c.startsWith('page_'))).toBe(false);
      expect(second.form.html).toMatch(/as selected before \(1\)/);
      const t2 = await tokenOf(second.location);
      expect((await client.listPageAccounts(t2, app)).find((p) => p.id === b.id)?.accessToken).toBeNull();

      // auth_type=rerequest reopens the picker; ticking B grants it.
      const third = await login(graph.url, { ...params, auth_type: 'rerequest' });
      expect(third.form.checkboxes).toContain(`page_${b.id}`);
      const t3 = await tokenOf(third.location);
      expect((await client.listPageAccounts(t3, app)).find((p) => p.id === b.id)?.accessToken).toMatch(
        /^EAAfake/,
      );
    });
  });

  it('data access: once expired, a login renews it only with auth_type=reauthorize', async () => {
    await withGraph(async ({ graph, client, app, newPage, clock }) => {
      const { userId } = newPage();
      graph.setDialogUser(userId);
      const params = { client_id: app.appId, redirect_uri: REDIRECT, state: 's', scope: SCOPES };
      const dataAccess = async (location: URL) => {
        const t = (await client.exchangeCode(location.searchParams.get('code')!, REDIRECT, app)).accessToken;
        return (await client.debugToken(t, app)).dataAccessExpiresAt;
      };
      graph.setDataAccessExpiry(app.appId, userId, clock.now() + MINUTE);
      clock.advance(2 * MINUTE);
      const ended = clock.now() - MINUTE;
      expect(await dataAccess((await login(graph.url, params)).location)).toBe(ended);
      expect(
        await dataAccess((await login(graph.url, { ...params, auth_type: 'reauthorize' })).location),
      ).toBe(clock.now() + 90 * 24 * 60 * MINUTE);
    });
  });

  it('bad requests get an HTML error page, not a redirect', async () => {
    await withGraph(async ({ graph, app, newPage }) => {
      newPage();
      const open = (q: string) => fetch(`${graph.url}/v26.0/dialog/oauth?${q}`, { redirect: 'manual' });
      const unknownApp = await open(`client_id=999&redirect_uri=${encodeURIComponent(REDIRECT)}`);
      expect(unknownApp.status).toBe(400);
      expect(await unknownApp.text()).toMatch(/Invalid App ID/);
      expect((await open(`client_id=${app.appId}&redirect_uri=javascript:alert(1)`)).status).toBe(400);
      expect(
        (
          await open(
            `client_id=${app.appId}&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=token`,
          )
        ).status,
      ).toBe(400);
      const confirm = await fetch(`${graph.url}/v26.0/dialog/oauth/confirm`, {
        method: 'POST',
        body: new URLSearchParams({
          client_id: app.appId,
          redirect_uri: REDIRECT,
          user_id: 'nobody',
          action: 'continue',
        }),
        redirect: 'manual',
      });
      expect(confirm.status).toBe(400);
    });
  });
});
