/**
 * Each Graph failure, driven through the emulator, reaches the client as a stable code and status
 * with Facebook's `fb_code`, `fb_subcode` and `fbtrace_id` — on setup, renew and validate.
 */
import { describe, expect, it } from 'vitest';
import { DAY } from '../../src/clock.js';
import type { FaultKind } from '../../src/fake-graph/index.js';
import { testBackends } from '../helpers/backends.js';
import { type ApiWorld, withApi } from './world.js';

interface Expectation {
  status: number;
  code: string;
  fbCode: number | null;
  /** Seconds in Retry-After (throttling on setup/validate, from the usage headers or defaults). */
  retryAfter?: string;
}

const FAULTS: [FaultKind, Expectation][] = [
  ['throttle_app', { status: 429, code: 'graph_rate_limited', fbCode: 4, retryAfter: '3600' }],
  ['throttle_page', { status: 429, code: 'graph_rate_limited', fbCode: 32, retryAfter: '300' }],
  // Business-use-case limits (80001…) apply to Page and system-user tokens; the keeper's app-token
  // calls (debug_token) meet them as the app-level #4 instead (docs/EMULATOR.md).
  ['throttle_buc', { status: 429, code: 'graph_rate_limited', fbCode: 4, retryAfter: '3600' }],
  ['http_500', { status: 502, code: 'graph_unavailable', fbCode: null }],
  ['transient_code_1', { status: 502, code: 'graph_unavailable', fbCode: 1 }],
  ['transient_code_2', { status: 502, code: 'graph_unavailable', fbCode: 2 }],
  ['is_transient', { status: 502, code: 'graph_unavailable', fbCode: 1200 }],
  ['timeout', { status: 502, code: 'graph_unavailable', fbCode: null }],
  ['html', { status: 502, code: 'graph_bad_response', fbCode: null }],
  ['malformed_json', { status: 502, code: 'graph_bad_response', fbCode: null }],
  ['wrong_shape', { status: 502, code: 'graph_bad_response', fbCode: null }],
];

function expectGraphError(
  r: { statusCode: number; headers: Record<string, unknown>; body: string; json(): unknown },
  e: Expectation,
  retryAfter: boolean,
) {
  expect(r.statusCode, r.body).toBe(e.status);
  const body = r.json() as { success: boolean; error: Record<string, unknown> };
  expect(body.success).toBe(false);
  expect(body.error.code).toBe(e.code);
  expect(body.error.fb_code).toBe(e.fbCode);
  expect(body.error).toHaveProperty('fb_subcode', null);
  expect(body.error).toHaveProperty('fbtrace_id');
  if (e.fbCode !== null) expect(body.error.fbtrace_id).toMatch(/^A/);
  expect(String(body.error.message)).toMatch(/Facebook/);
  if (retryAfter && e.retryAfter) expect(r.headers['retry-after']).toBe(e.retryAfter);
}

async function pageWithToken(w: ApiWorld) {
  const r = await w.setupPage();
  // Move past the setup's own throttling bookkeeping.
  w.clock.advance(DAY);
  return r;
}

describe.each(testBackends())('Graph failures over HTTP on %s', (backend) => {
  it.each(FAULTS)('%s → its code on setup, renew and validate', async (kind, e) => {
    await withApi(
      backend,
      async (w) => {
        const { pageId, userId } = await pageWithToken(w);
        const before = await w.dump();
        w.graph.injectFault({ kind, times: 50 });
        const setup = await w.call('POST', '/api/token/setup', {
          body: {
            page_id: pageId,
            access_token: w.userToken(userId),
            app_id: w.fbApp.appId,
            app_secret: w.fbApp.appSecret,
          },
        });
        expectGraphError(setup, e, true);
        // A refused setup stores nothing.
        expect(await w.dump()).toBe(before);

        w.graph.clearFaults();
        w.graph.injectFault({ kind, times: 50 });
        expectGraphError(await w.call('POST', '/api/token/validate', { body: { page_id: pageId } }), e, true);

        w.graph.clearFaults();
        w.clock.advance(DAY);
        w.graph.injectFault({ kind, times: 50 });
        const renew = await w.call('POST', `/api/pages/${pageId}/renew`, { body: { force: true } });
        expectGraphError(renew, e, false);
        // The failure is on the page for everyone to see; the old token still works.
        const status = (await w.call('GET', `/api/pages/${pageId}`)).json();
        expect(status.last_error).toMatchObject({ code: e.code, fb_code: e.fbCode });
        expect(w.graph.tokenStatus(await w.keeper.getPageToken(pageId)).valid).toBe(true);
      },
      { env: { GRAPH_TIMEOUT_MS: '300' } },
    );
  });

  it('tokens Facebook refuses: invalidated, foreign app, no Page role, missing permission, wrong app secret', async () => {
    await withApi(backend, async (w) => {
      const before = await w.dump();
      const setup = (pageId: string, token: string, appSecret = w.fbApp.appSecret) =>
        w.call('POST', '/api/token/setup', {
          body: { page_id: pageId, access_token: token, app_id: w.fbApp.appId, app_secret: appSecret },
        });

      const a = w.newPage();
      const dead = w.userToken(a.userId);
      w.graph.changePassword(a.userId);
      const invalid = await setup(a.pageId, dead);
      expect(invalid.statusCode).toBe(422);
      expect(invalid.json().error).toMatchObject({ code: 'token_invalid', fb_code: 190, fb_subcode: 460 });
      expect(invalid.json().error.message).toMatch(/password/);

      const b = w.newPage();
      const stranger = w.graph.createUser({ name: 'Stranger' });
      const noRole = await setup(b.pageId, w.userToken(stranger.id));
      expect(noRole.statusCode).toBe(422);
      expect(noRole.json().error.code).toBe('token_wrong_page');

      const c = w.newPage();
      const narrow = w.graph.issueUserToken({
        appId: w.fbApp.appId,
        userId: c.userId,
        lifetime: 'long',
        scopes: ['pages_show_list'],
      });
      const missing = await setup(c.pageId, narrow);
      expect(missing.statusCode).toBe(422);
      expect(missing.json().error).toMatchObject({
        code: 'missing_permission',
        details: { missing_scopes: ['pages_manage_posts'] },
      });

      const d = w.newPage();
      const wrongSecret = await setup(d.pageId, w.userToken(d.userId), 'f'.repeat(32));
      expect(wrongSecret.statusCode).toBe(422);
      expect(wrongSecret.json().error).toMatchObject({ code: 'app_credentials_invalid' });
      expect(wrongSecret.json().error.message).toMatch(/app secret/i);
      expect(wrongSecret.json().error.fbtrace_id).toMatch(/^A/);

      const other = w.graph.createApp({ name: 'Other app' });
      const foreign = await setup(
        d.pageId,
        w.graph.issueUserToken({ appId: other.appId, userId: d.userId, lifetime: 'long' }),
      );
      expect(foreign.statusCode).toBe(422);
      expect(foreign.json().error.code).toBe('token_wrong_app');

      expect(await w.dump()).toBe(before);
    });
  });

  it('a page whose admin changed their password: renew says so, status shows needs_reauth with a reconnect link', async () => {
    await withApi(backend, async (w) => {
      const { pageId, userId } = await w.setupPage();
      w.graph.changePassword(userId);
      const renew = await w.call('POST', `/api/pages/${pageId}/renew`, { body: { force: true } });
      expect(renew.statusCode, renew.body).toBe(200);
      expect(renew.json()).toMatchObject({ renewed: false, state: 'needs_reauth' });
      expect(renew.json().message).toMatch(/password/);
      const status = (await w.call('GET', '/api/token/status')).json();
      expect(status).toMatchObject({
        state: 'needs_reauth',
        state_reason: 'password_changed',
        token_valid: false,
      });
      expect(status.reconnect_url).toMatch(/\/connect\//);
      const validate = (await w.call('POST', '/api/token/validate')).json();
      expect(validate).toMatchObject({
        valid: false,
        error: { code: 190, subcode: 460, reason: 'password_changed' },
      });
    });
  });
});
