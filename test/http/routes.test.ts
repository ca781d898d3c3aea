/**
 * Every documented route through `app.inject`, on every backend: success, 401, 403 and each
 * bad-input case (which must change nothing). Real keeper, real store, real emulator over HTTP.
 */
import { describe, expect, it } from 'vitest';
import { testBackends } from '../helpers/backends.js';
import { type ApiWorld, withApi } from './world.js';

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
interface RouteCase {
  method: Method;
  url: string;
  scope: 'admin' | 'token:read';
  body?: unknown;
}

const PAGE = '1234567890';
/** Every /api route with a valid-looking request (auth is checked before anything else). */
export const API_ROUTES: RouteCase[] = [
  { method: 'GET', url: '/api/token/status', scope: 'admin' },
  { method: 'POST', url: '/api/token/renew', scope: 'admin', body: {} },
  {
    method: 'POST',
    url: '/api/token/setup',
    scope: 'admin',
    body: { page_id: PAGE, access_token: 'EAAtoken', app_id: '1', app_secret: 'secret' },
  },
  { method: 'POST', url: '/api/token/validate', scope: 'admin', body: {} },
  { method: 'GET', url: '/api/pages', scope: 'admin' },
  { method: 'GET', url: `/api/pages/${PAGE}`, scope: 'admin' },
  { method: 'PATCH', url: `/api/pages/${PAGE}`, scope: 'admin', body: { auto_renew: false } },
  { method: 'DELETE', url: `/api/pages/${PAGE}`, scope: 'admin' },
  { method: 'POST', url: `/api/pages/${PAGE}/renew`, scope: 'admin', body: {} },
  { method: 'POST', url: `/api/pages/${PAGE}/check`, scope: 'admin', body: {} },
  { method: 'GET', url: `/api/pages/${PAGE}/history`, scope: 'admin' },
  { method: 'GET', url: `/api/pages/${PAGE}/token`, scope: 'token:read' },
];

function expectError(r: { statusCode: number; json(): unknown }, status: number, code: string) {
  expect(r.statusCode, JSON.stringify(r.json())).toBe(status);
  const body = r.json() as { success: boolean; error: { code: string; message: string } };
  expect(body.success).toBe(false);
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(0);
  return body;
}

function fieldsOf(r: { json(): unknown }): string[] {
  const body = r.json() as { error: { details?: { fields?: { field: string }[] } } };
  return (body.error.details?.fields ?? []).map((f) => f.field);
}

describe.each(testBackends())('HTTP routes on %s', (backend) => {
  it('the seed routes: setup → 201 with the status, status, renew, validate', async () => {
    await withApi(backend, async (w) => {
      const { userId, pageId } = w.newPage('Bakery');
      const token = w.userToken(userId, 'short');
      const setup = await w.call('POST', '/api/token/setup', {
        body: { page_id: pageId, access_token: token, app_id: w.fbApp.appId, app_secret: w.fbApp.appSecret },
      });
      expect(setup.statusCode, setup.body).toBe(201);
      const s = setup.json();
      expect(s).toMatchObject({
        success: true,
        page_id: pageId,
        page_name: 'Bakery',
        state: 'healthy',
        token_valid: true,
        token_type: 'PAGE',
        expires_at: null,
        input_token_type: 'USER',
        input_token_lifetime: 'short',
      });
      expect(s.notes.length).toBeGreaterThan(0);
      expect(s.history.length).toBeGreaterThan(0);

      // The seed's fields are all there.
      const status = await w.call('GET', '/api/token/status');
      expect(status.statusCode).toBe(200);
      for (const field of [
        'success',
        'page_id',
        'page_name',
        'state',
        'token_valid',
        'token_type',
        'expires_at',
        'days_until_expiry',
        'data_access_expires_at',
        'source_token_type',
        'source_expires_at',
        'scopes',
        'missing_scopes',
        'last_checked_at',
        'last_renewed_at',
        'auto_renew',
        'renewal_needed',
        'renewal_reason',
        'renewal_threshold_days',
        'graph_api_version',
        'history',
      ]) {
        expect(status.json(), field).toHaveProperty(field);
      }
      expect(status.json()).toMatchObject({
        page_id: pageId,
        days_until_expiry: null,
        renewal_needed: false,
        graph_api_version: 'v26.0',
      });
      expect((await w.call('GET', `/api/token/status?page_id=${pageId}`)).json().page_id).toBe(pageId);

      // The seed sends renew with no body at all; an empty JSON body is the same.
      const renew = await w.call('POST', '/api/token/renew');
      expect(renew.statusCode, renew.body).toBe(200);
      expect(renew.json()).toMatchObject({
        success: true,
        page_id: pageId,
        renewed: false,
        dry_run: false,
        expires_at: null,
        previous_expires_at: null,
      });
      const empty = await w.call('POST', '/api/token/renew', {
        payload: '',
        headers: { 'content-type': 'application/json' },
      });
      expect(empty.statusCode, empty.body).toBe(200);
      const dry = await w.call('POST', '/api/token/renew', {
        body: { page_id: pageId, force: true, dry_run: true },
      });
      expect(dry.json()).toMatchObject({ renewed: false, dry_run: true, token_changed: false });
      const forced = await w.call('POST', '/api/token/renew', { body: { page_id: pageId, force: true } });
      expect(forced.statusCode, forced.body).toBe(200);
      expect(forced.json()).toMatchObject({ renewed: true, token_changed: true, state: 'healthy' });

      const validate = await w.call('POST', '/api/token/validate', {
        body: { access_token: w.userToken(userId) },
      });
      expect(validate.statusCode, validate.body).toBe(200);
      expect(validate.json()).toMatchObject({
        success: true,
        valid: true,
        type: 'USER',
        app_id: w.fbApp.appId,
        user_id: userId,
        error: null,
      });
      // No body: the stored posting token of the only page.
      const stored = await w.call('POST', '/api/token/validate');
      expect(stored.json()).toMatchObject({
        valid: true,
        type: 'PAGE',
        profile_id: pageId,
        missing_scopes: [],
      });
      // A token Facebook says is invalid is a 200 with valid:false and the reason.
      const dead = w.userToken(userId);
      w.graph.invalidateToken(dead, 460);
      const invalid = await w.call('POST', '/api/token/validate', {
        body: { access_token: dead, page_id: pageId },
      });
      expect(invalid.statusCode, invalid.body).toBe(200);
      expect(invalid.json()).toMatchObject({ valid: false, error: { code: 190, subcode: 460 } });
      // With an app of its own, no page needed.
      const own = await w.call('POST', '/api/token/validate', {
        body: { access_token: w.userToken(userId), app_id: w.fbApp.appId, app_secret: w.fbApp.appSecret },
      });
      expect(own.json()).toMatchObject({ valid: true });
    });
  });

  it('the resource routes: list, get, patch, history with paging, check, renew, token, delete', async () => {
    await withApi(backend, async (w) => {
      const a = await w.setupPage('A');
      const b = await w.setupPage('B');

      const list = await w.call('GET', '/api/pages');
      expect(list.statusCode).toBe(200);
      expect(
        list
          .json()
          .pages.map((p: { page_id: string }) => p.page_id)
          .sort(),
      ).toEqual([a.pageId, b.pageId].sort());

      expect((await w.call('GET', `/api/pages/${a.pageId}`)).json()).toMatchObject({
        page_id: a.pageId,
        page_name: 'A',
      });

      const paused = await w.call('PATCH', `/api/pages/${a.pageId}`, { body: { auto_renew: false } });
      expect(paused.statusCode, paused.body).toBe(200);
      expect(paused.json()).toMatchObject({ auto_renew: false, state: 'paused' });
      const threshold = await w.call('PATCH', `/api/pages/${a.pageId}`, {
        body: { auto_renew: true, renewal_threshold_days: 10 },
      });
      expect(threshold.json()).toMatchObject({
        auto_renew: true,
        renewal_threshold_days: 10,
        state: 'healthy',
      });
      const reset = await w.call('PATCH', `/api/pages/${a.pageId}`, {
        body: { renewal_threshold_days: null },
      });
      expect(reset.json()).toMatchObject({ renewal_threshold_days: 50 });

      const check = await w.call('POST', `/api/pages/${a.pageId}/check`);
      expect(check.statusCode, check.body).toBe(200);
      expect(check.json()).toMatchObject({
        success: true,
        dry_run: false,
        checked: 1,
        results: [{ page_id: a.pageId }],
      });
      const dryCheck = await w.call('POST', `/api/pages/${a.pageId}/check`, { body: { dry_run: true } });
      expect(dryCheck.json()).toMatchObject({ dry_run: true });

      const renew = await w.call('POST', `/api/pages/${a.pageId}/renew`, { body: { force: true } });
      expect(renew.statusCode, renew.body).toBe(200);
      expect(renew.json()).toMatchObject({ page_id: a.pageId, renewed: true });

      const history = await w.call('GET', `/api/pages/${a.pageId}/history`);
      expect(history.statusCode).toBe(200);
      const items = history.json().history as { id: number; type: string }[];
      expect(items.map((e) => e.type)).toEqual(
        expect.arrayContaining(['setup', 'settings_changed', 'renewed']),
      );
      expect(items.map((e) => e.id)).toEqual([...items.map((e) => e.id)].sort((x, y) => y - x));
      const page1 = (await w.call('GET', `/api/pages/${a.pageId}/history?limit=2`)).json();
      expect(page1.history).toHaveLength(2);
      expect(page1.next_before_id).toBe(page1.history[1].id);
      const page2 = (
        await w.call('GET', `/api/pages/${a.pageId}/history?limit=2&before_id=${page1.next_before_id}`)
      ).json();
      expect(page2.history[0].id).toBeLessThan(page1.next_before_id);

      const token = await w.call('GET', `/api/pages/${a.pageId}/token`, { key: w.keys.reader });
      expect(token.statusCode, token.body).toBe(200);
      expect(token.headers['cache-control']).toBe('no-store');
      expect(token.json()).toMatchObject({
        success: true,
        page_id: a.pageId,
        access_token: await w.keeper.getPageToken(a.pageId),
        token_type: 'PAGE',
        token_valid: true,
        expires_at: null,
        state: 'healthy',
      });
      expect(w.graph.tokenStatus(token.json().access_token).valid).toBe(true);
      expect((await w.call('GET', `/api/pages/${a.pageId}/token`, { key: w.keys.both })).statusCode).toBe(
        200,
      );

      // Two pages: the seed routes need page_id now.
      const ambiguous = await w.call('GET', '/api/token/status');
      expectError(ambiguous, 400, 'page_id_required');

      const del = await w.call('DELETE', `/api/pages/${b.pageId}`);
      expect(del.statusCode).toBe(200);
      expect(del.json()).toEqual({ success: true, page_id: b.pageId, deleted: true });
      expectError(await w.call('GET', `/api/pages/${b.pageId}`), 404, 'page_not_found');
      expect((await w.call('GET', '/api/token/status')).json().page_id).toBe(a.pageId);
    });
  });

  it('validate with an explicit access_token and several Pages: the app they all use; page_id_required when they use several', async () => {
    await withApi(backend, async (w) => {
      const a = await w.setupPage('A');
      await w.setupPage('B');
      const shared = await w.call('POST', '/api/token/validate', {
        body: { access_token: w.userToken(a.userId) },
      });
      expect(shared.statusCode, shared.body).toBe(200);
      expect(shared.json()).toMatchObject({
        valid: true,
        type: 'USER',
        app_id: w.fbApp.appId,
        user_id: a.userId,
      });
      // Without a token there is still no telling whose stored token to inspect.
      expectError(await w.call('POST', '/api/token/validate'), 400, 'page_id_required');

      const other = w.graph.createApp({ name: 'Other app' });
      const { userId, pageId } = w.newPage('C');
      const setup = await w.call('POST', '/api/token/setup', {
        body: {
          page_id: pageId,
          access_token: w.graph.issueUserToken({ appId: other.appId, userId, lifetime: 'long' }),
          app_id: other.appId,
          app_secret: other.appSecret,
        },
      });
      expect(setup.statusCode, setup.body).toBe(201);
      const ambiguous = await w.call('POST', '/api/token/validate', {
        body: { access_token: w.userToken(a.userId) },
      });
      expectError(ambiguous, 400, 'page_id_required');
    });
  });

  it('unknown pages: 404 page_not_found on every page route; no page at all: page_id_required', async () => {
    await withApi(backend, async (w) => {
      expectError(await w.call('GET', '/api/token/status'), 400, 'page_id_required');
      expectError(await w.call('POST', '/api/token/renew'), 400, 'page_id_required');
      expectError(await w.call('GET', '/api/token/status?page_id=999'), 404, 'page_not_found');
      expectError(
        await w.call('POST', '/api/token/renew', { body: { page_id: '999' } }),
        404,
        'page_not_found',
      );
      for (const r of API_ROUTES.filter((x) => x.url.includes(PAGE))) {
        const res = await w.call(r.method, r.url, {
          key: w.keys.both,
          ...(r.body !== undefined ? { body: r.body } : {}),
        });
        expectError(res, 404, 'page_not_found');
      }
      expect((await w.call('GET', '/api/pages')).json()).toEqual({ success: true, pages: [] });
    });
  });

  it('401 without a key, with a malformed, unknown or revoked key; 403 for the wrong scope', async () => {
    await withApi(backend, async (w) => {
      const revoked = w.keys.both;
      await w.store.revokeApiKey(revoked.split('_')[1]!, w.clock.now());
      const before = await w.dump();
      const wrongSecret = `${w.keys.admin.slice(0, -4)}AAAA`;
      for (const r of API_ROUTES) {
        const opts = r.body !== undefined ? { body: r.body } : {};
        const none = expectError(await w.call(r.method, r.url, { key: null, ...opts }), 401, 'unauthorized');
        expect(none.error.message).toMatch(/Authorization: Bearer/);
        expectError(await w.call(r.method, r.url, { key: 'not-a-key', ...opts }), 401, 'unauthorized');
        expectError(await w.call(r.method, r.url, { key: wrongSecret, ...opts }), 401, 'unauthorized');
        expectError(await w.call(r.method, r.url, { key: revoked, ...opts }), 401, 'unauthorized');
        expectError(
          await w.call(r.method, r.url, {
            key: null,
            headers: { authorization: `Basic ${w.keys.admin}` },
            ...opts,
          }),
          401,
          'unauthorized',
        );
        const other = r.scope === 'admin' ? w.keys.reader : w.keys.admin;
        const forbidden = expectError(
          await w.call(r.method, r.url, { key: other, ...opts }),
          403,
          'forbidden',
        );
        expect(forbidden.error.message).toContain(r.scope);
        // Many failures above: start afresh so the lockout does not hide the next route's answers.
        w.clock.advance(60 * 60 * 1000);
      }
      const missing = await w.call('GET', '/api/pages', { key: null });
      expect(missing.headers['www-authenticate']).toBe('Bearer');
      // Nothing changed, not even a key's last_used_at.
      expect(await w.dump()).toBe(before);
    });
  });

  describe('bad input → 400 validation_failed naming the field, and nothing changes', () => {
    const cases: {
      name: string;
      method: Method;
      url: (p: string) => string;
      body?: unknown;
      payload?: string;
      headers?: Record<string, string>;
      field: string;
      status?: number;
      code?: string;
    }[] = [
      {
        name: 'status: page_id not digits',
        method: 'GET',
        url: () => '/api/token/status?page_id=abc',
        field: 'page_id',
      },
      {
        name: 'status: page_id empty',
        method: 'GET',
        url: () => '/api/token/status?page_id=',
        field: 'page_id',
      },
      {
        name: 'status: page_id too long',
        method: 'GET',
        url: () => `/api/token/status?page_id=${'1'.repeat(40)}`,
        field: 'page_id',
      },
      {
        name: 'status: unknown query field',
        method: 'GET',
        url: () => '/api/token/status?verbose=1',
        field: 'verbose',
      },
      {
        name: 'renew: force not boolean',
        method: 'POST',
        url: () => '/api/token/renew',
        body: { force: 'yes' },
        field: 'force',
      },
      {
        name: 'renew: dry_run not boolean',
        method: 'POST',
        url: () => '/api/token/renew',
        body: { dry_run: 1 },
        field: 'dry_run',
      },
      {
        name: 'renew: page_id as a number',
        method: 'POST',
        url: () => '/api/token/renew',
        body: { page_id: 534295833110036 },
        field: 'page_id',
      },
      {
        name: 'renew: unknown field',
        method: 'POST',
        url: () => '/api/token/renew',
        body: { forse: true },
        field: 'forse',
      },
      {
        name: 'renew: body is an array',
        method: 'POST',
        url: () => '/api/token/renew',
        body: [1, 2],
        field: 'body',
      },
      {
        name: 'renew: body is a string',
        method: 'POST',
        url: () => '/api/token/renew',
        payload: '"renew"',
        headers: { 'content-type': 'application/json' },
        field: 'body',
      },
      {
        name: 'renew: invalid JSON',
        method: 'POST',
        url: () => '/api/token/renew',
        payload: '{"force": tru',
        headers: { 'content-type': 'application/json' },
        field: 'body',
      },
      { name: 'setup: no body', method: 'POST', url: () => '/api/token/setup', field: 'body' },
      {
        name: 'setup: page_id missing',
        method: 'POST',
        url: () => '/api/token/setup',
        body: { access_token: 'EAAx', app_id: '1', app_secret: 's' },
        field: 'page_id',
      },
      {
        name: 'setup: access_token missing',
        method: 'POST',
        url: () => '/api/token/setup',
        body: { page_id: '1', app_id: '1', app_secret: 's' },
        field: 'access_token',
      },
      {
        name: 'setup: app_id missing',
        method: 'POST',
        url: () => '/api/token/setup',
        body: { page_id: '1', access_token: 'EAAx', app_secret: 's' },
        field: 'app_id',
      },
      {
        name: 'setup: app_secret missing',
        method: 'POST',
        url: () => '/api/token/setup',
        body: { page_id: '1', access_token: 'EAAx', app_id: '1' },
        field: 'app_secret',
      },
      {
        name: 'setup: page_id not digits',
        method: 'POST',
        url: () => '/api/token/setup',
        body: { page_id: 'my-page', access_token: 'EAAx', app_id: '1', app_secret: 's' },
        field: 'page_id',
      },
      {
        name: 'setup: app_id not digits',
        method: 'POST',
        url: () => '/api/token/setup',
        body: { page_id: '1', access_token: 'EAAx', app_id: 'app', app_secret: 's' },
        field: 'app_id',
      },
      {
        name: 'setup: empty access_token',
        method: 'POST',
        url: () => '/api/token/setup',
        body: { page_id: '1', access_token: '', app_id: '1', app_secret: 's' },
        field: 'access_token',
      },
      {
        name: 'setup: access_token with a space',
        method: 'POST',
        url: () => '/api/token/setup',
        body: { page_id: '1', access_token: 'EAA x', app_id: '1', app_secret: 's' },
        field: 'access_token',
      },
      {
        name: 'setup: access_token too long',
        method: 'POST',
        url: () => '/api/token/setup',
        body: { page_id: '1', access_token: 'E'.repeat(5000), app_id: '1', app_secret: 's' },
        field: 'access_token',
      },
      {
        name: 'setup: unknown field',
        method: 'POST',
        url: () => '/api/token/setup',
        body: { page_id: '1', access_token: 'EAAx', app_id: '1', app_secret: 's', admin: true },
        field: 'admin',
      },
      {
        name: 'validate: access_token not a string',
        method: 'POST',
        url: () => '/api/token/validate',
        body: { access_token: 42 },
        field: 'access_token',
      },
      {
        name: 'validate: app_id without app_secret',
        method: 'POST',
        url: () => '/api/token/validate',
        body: { access_token: 'EAAx', app_id: '1' },
        field: 'app_secret',
      },
      { name: 'page: id not digits', method: 'GET', url: () => '/api/pages/abc', field: 'page_id' },
      {
        name: 'patch: empty body object',
        method: 'PATCH',
        url: (p) => `/api/pages/${p}`,
        body: {},
        field: 'body',
      },
      { name: 'patch: no body', method: 'PATCH', url: (p) => `/api/pages/${p}`, field: 'body' },
      {
        name: 'patch: auto_renew not boolean',
        method: 'PATCH',
        url: (p) => `/api/pages/${p}`,
        body: { auto_renew: 'no' },
        field: 'auto_renew',
      },
      {
        name: 'patch: threshold negative',
        method: 'PATCH',
        url: (p) => `/api/pages/${p}`,
        body: { renewal_threshold_days: -1 },
        field: 'renewal_threshold_days',
      },
      {
        name: 'patch: threshold too big',
        method: 'PATCH',
        url: (p) => `/api/pages/${p}`,
        body: { renewal_threshold_days: 400 },
        field: 'renewal_threshold_days',
      },
      {
        name: 'patch: threshold a string',
        method: 'PATCH',
        url: (p) => `/api/pages/${p}`,
        body: { renewal_threshold_days: '10' },
        field: 'renewal_threshold_days',
      },
      {
        name: 'patch: unknown field',
        method: 'PATCH',
        url: (p) => `/api/pages/${p}`,
        body: { state: 'healthy' },
        field: 'state',
      },
      {
        name: 'patch: id not digits',
        method: 'PATCH',
        url: () => '/api/pages/12a',
        body: { auto_renew: true },
        field: 'page_id',
      },
      { name: 'delete: id not digits', method: 'DELETE', url: () => '/api/pages/-1', field: 'page_id' },
      {
        name: 'page renew: force not boolean',
        method: 'POST',
        url: (p) => `/api/pages/${p}/renew`,
        body: { force: 'true' },
        field: 'force',
      },
      {
        name: 'page renew: page_id in body is unknown here',
        method: 'POST',
        url: (p) => `/api/pages/${p}/renew`,
        body: { page_id: '1' },
        field: 'page_id',
      },
      {
        name: 'page check: dry_run not boolean',
        method: 'POST',
        url: (p) => `/api/pages/${p}/check`,
        body: { dry_run: 'yes' },
        field: 'dry_run',
      },
      {
        name: 'history: limit 0',
        method: 'GET',
        url: (p) => `/api/pages/${p}/history?limit=0`,
        field: 'limit',
      },
      {
        name: 'history: limit too big',
        method: 'GET',
        url: (p) => `/api/pages/${p}/history?limit=501`,
        field: 'limit',
      },
      {
        name: 'history: limit not a number',
        method: 'GET',
        url: (p) => `/api/pages/${p}/history?limit=ten`,
        field: 'limit',
      },
      {
        name: 'history: limit fractional',
        method: 'GET',
        url: (p) => `/api/pages/${p}/history?limit=1.5`,
        field: 'limit',
      },
      {
        name: 'history: before_id negative',
        method: 'GET',
        url: (p) => `/api/pages/${p}/history?before_id=-3`,
        field: 'before_id',
      },
      {
        name: 'history: unknown query field',
        method: 'GET',
        url: (p) => `/api/pages/${p}/history?offset=3`,
        field: 'offset',
      },
      { name: 'token: id not digits', method: 'GET', url: () => '/api/pages/x/token', field: 'page_id' },
    ];

    it.each(cases)('$name', async (c) => {
      await withApi(backend, async (w: ApiWorld) => {
        const { pageId } = await w.setupPage();
        const before = await w.dump();
        const key = c.url(pageId).endsWith('/token') ? w.keys.reader : w.keys.admin;
        const r = await w.call(c.method, c.url(pageId), {
          key,
          ...(c.body !== undefined ? { body: c.body } : {}),
          ...(c.payload !== undefined ? { payload: c.payload } : {}),
          ...(c.headers ? { headers: c.headers } : {}),
        });
        expectError(r, c.status ?? 400, c.code ?? 'validation_failed');
        expect(fieldsOf(r)).toContain(c.field);
        expect(await w.dump()).toBe(before);
      });
    });
  });
});
