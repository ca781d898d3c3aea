/**
 * Pure units: error classification by body (docs/FACEBOOK.md#errors), human messages per subcode, usage
 * header parsing (docs/FACEBOOK.md#throttling), URL redaction and secret scrubbing.
 */
import { describe, expect, it } from 'vitest';
import { DAY, HOUR, MINUTE } from '../../src/clock.js';
import {
  classifyGraphError,
  GraphError,
  type GraphErrorKind,
  kindForPage,
  kindOf,
  reauthHumanMessage,
} from '../../src/graph/errors.js';
import { redactUrl, safeCause, scrubSecrets } from '../../src/graph/redact.js';
import { parseUsageHeaders } from '../../src/graph/usage.js';

/** Facebook's words (gitroomhq/postiz-app PR #1912). */
const IMPERSONATING =
  "(#190) Any of the pages_read_engagement, pages_manage_metadata, pages_read_user_content, pages_manage_ads, pages_show_list or pages_messaging permission(s) must be granted before impersonating a user's page.";

const body = (code: number, extra: Record<string, unknown> = {}) => ({
  error: { message: `(#${code}) something`, type: 'OAuthException', code, fbtrace_id: 'AbC123', ...extra },
});

describe('classifyGraphError', () => {
  const table: [string, unknown, number, GraphErrorKind, string][] = [
    ['code 1', body(1), 500, 'transient', 'graph_unavailable'],
    ['code 2', body(2), 500, 'transient', 'graph_unavailable'],
    [
      'code 2 under HTTP 401 with is_transient [I10]',
      body(2, { is_transient: true }),
      401,
      'transient',
      'graph_unavailable',
    ],
    [
      'is_transient alone (unknown code)',
      body(1200, { is_transient: true }),
      401,
      'transient',
      'graph_unavailable',
    ],
    [
      'code 4 with is_transient is throttling, not a quick retry',
      body(4, { is_transient: true }),
      403,
      'throttled',
      'graph_rate_limited',
    ],
    ['code 17', body(17), 400, 'throttled', 'graph_rate_limited'],
    ['code 32', body(32), 400, 'throttled', 'graph_rate_limited'],
    ['code 341', body(341), 400, 'throttled', 'graph_rate_limited'],
    ['code 613', body(613), 400, 'throttled', 'graph_rate_limited'],
    ['code 80001', body(80001), 400, 'throttled', 'graph_rate_limited'],
    ['code 80004', body(80004), 400, 'throttled', 'graph_rate_limited'],
    ['code 190', body(190), 400, 'needs_reauth', 'graph_token_invalid'],
    ['code 190/460', body(190, { error_subcode: 460 }), 400, 'needs_reauth', 'graph_token_invalid'],
    ['code 102', body(102), 400, 'needs_reauth', 'graph_token_invalid'],
    ['code 10', body(10), 400, 'permission', 'graph_permission_denied'],
    ['code 200', body(200), 403, 'permission', 'graph_permission_denied'],
    ['code 283', body(283), 400, 'permission', 'graph_permission_denied'],
    ['code 299', body(299), 400, 'permission', 'graph_permission_denied'],
    ['code 3', body(3), 400, 'permission', 'graph_permission_denied'],
    ['code 100', body(100), 400, 'invalid_request', 'graph_invalid_request'],
    // Alone, 100/33 is "no such object for you" (a person without a role); see kindForPage.
    [
      'code 100/33 (GraphMethodException)',
      body(100, { error_subcode: 33, type: 'GraphMethodException' }),
      400,
      'invalid_request',
      'graph_invalid_request',
    ],
    [
      'code 100/other subcode',
      body(100, { error_subcode: 2018001 }),
      400,
      'invalid_request',
      'graph_invalid_request',
    ],
    [
      'code 190 "must be granted before impersonating a user\'s page" is a Page permission, not a dead login',
      body(190, { message: IMPERSONATING }),
      400,
      'permission',
      'missing_permission',
    ],
    [
      'the same words with a subcode',
      body(190, { message: IMPERSONATING, error_subcode: 2069032 }),
      400,
      'permission',
      'missing_permission',
    ],
    [
      'code 190/459 (checkpoint)',
      body(190, { error_subcode: 459 }),
      400,
      'needs_reauth',
      'graph_token_invalid',
    ],
    [
      'code 190/493 (90 days without use)',
      body(190, { error_subcode: 493 }),
      400,
      'needs_reauth',
      'graph_token_invalid',
    ],
    ['code 506 (duplicate post)', body(506), 400, 'invalid_request', 'graph_invalid_request'],
    ['code 190 under HTTP 200', body(190), 200, 'needs_reauth', 'graph_token_invalid'],
    ['a body as text', JSON.stringify(body(2)), 500, 'transient', 'graph_unavailable'],
    ['a string code', { error: { message: 'x', code: '190' } }, 400, 'needs_reauth', 'graph_token_invalid'],
    ['5xx with no body', '', 503, 'transient', 'graph_unavailable'],
    ['5xx with null', null, 500, 'transient', 'graph_unavailable'],
    ['an HTML page', '<!DOCTYPE html><html><body>502</body></html>', 502, 'transient', 'graph_bad_response'],
    ['invalid JSON', '{"error": {"code": 19', 400, 'transient', 'graph_bad_response'],
    ['JSON without an error object', { ok: false }, 400, 'transient', 'graph_bad_response'],
    ['an error object without a code', { error: { message: 'x' } }, 400, 'transient', 'graph_bad_response'],
    ['4xx with an empty body', '', 404, 'transient', 'graph_bad_response'],
  ];
  it.each(table)('%s', (_name, b, status, kind, code) => {
    const e = classifyGraphError(b, status, {}, { endpoint: 'debug_token' });
    expect(e).toBeInstanceOf(GraphError);
    expect(e.kind).toBe(kind);
    expect(e.code).toBe(code);
    expect(e.message).toMatch(/^Facebook debug_token/);
  });

  it('keeps code, subcode, fbtrace_id, type and the HTTP status; the status alone never decides', () => {
    const e = classifyGraphError(body(190, { error_subcode: 463 }), 401, {});
    expect(e).toMatchObject({
      fbCode: 190,
      fbSubcode: 463,
      fbtraceId: 'AbC123',
      fbType: 'OAuthException',
      fbHttpStatus: 401,
    });
    expect(e.details).toMatchObject({
      fb_code: 190,
      fb_subcode: 463,
      fbtrace_id: 'AbC123',
      kind: 'needs_reauth',
    });
    expect(classifyGraphError(body(100), 500, {}).kind).toBe('invalid_request');
    expect(classifyGraphError(body(2), 200, {}).kind).toBe('transient');
  });

  it('a wrong client secret (code 1, "Error validating client secret.") is permanent, not transient', () => {
    const e = classifyGraphError(
      { error: { message: 'Error validating client secret.', type: 'OAuthException', code: 1 } },
      400,
      {},
    );
    expect(e.kind).toBe('invalid_request');
    expect(kindOf(1, null, false, 'An unknown error has occurred.')).toBe('transient');
  });

  it('throttled: the wait comes from the usage headers, else a default by code', () => {
    const buc = {
      'x-business-use-case-usage': JSON.stringify({
        1: [
          {
            type: 'pages',
            call_count: 100,
            total_cputime: 1,
            total_time: 1,
            estimated_time_to_regain_access: 19,
          },
        ],
      }),
    };
    expect(classifyGraphError(body(80001), 400, buc).retryAfterMs).toBe(19 * MINUTE);
    expect(
      classifyGraphError(body(4), 403, {
        'x-app-usage': '{"call_count":100,"total_cputime":5,"total_time":5}',
      }).retryAfterMs,
    ).toBe(HOUR);
    expect(
      classifyGraphError(body(32), 400, {
        'X-Page-Usage': '{"call_count":100,"total_cputime":5,"total_time":5}',
      }).retryAfterMs,
    ).toBe(5 * MINUTE);
    expect(classifyGraphError(body(4), 403, {}).retryAfterMs).toBe(HOUR);
    expect(classifyGraphError(body(341), 400, {}).retryAfterMs).toBe(HOUR);
    expect(classifyGraphError(body(17), 400, {}).retryAfterMs).toBe(5 * MINUTE);
    expect(classifyGraphError(body(80001), 400, new Headers()).retryAfterMs).toBe(5 * MINUTE);
    // docs/FACEBOOK.md#codes-and-what-the-keeper-does: 368 (policy block) is a long pause.
    expect(classifyGraphError(body(368), 400, {}).retryAfterMs).toBe(DAY);
    // Other kinds carry no wait.
    expect(classifyGraphError(body(2), 500, buc).retryAfterMs).toBe(0);
  });

  it('needs_reauth carries one sentence per subcode; other kinds none', () => {
    const msgs = new Map<number | null, RegExp>([
      [458, /removed this app/],
      [459, /checkpoint: log in to facebook\.com and complete the security check/],
      [460, /changed their Facebook password/],
      [463, /expired/],
      [464, /not confirmed/],
      [467, /logged out/],
      [492, /no longer has a role on the Page/],
      [493, /has not used the app for 90 days/],
      [null, /no longer accepts this token/],
    ]);
    for (const [subcode, re] of msgs) {
      expect(reauthHumanMessage(subcode)).toMatch(re);
      const e = classifyGraphError(body(190, subcode === null ? {} : { error_subcode: subcode }), 400, {});
      expect(e.humanMessage).toMatch(re);
    }
    expect(new Set([...msgs.keys()].map(reauthHumanMessage)).size).toBe(msgs.size);
    expect(classifyGraphError(body(2), 500, {}).humanMessage).toBeNull();
  });

  it('100/33 on a Page whose Page token debug_token calls valid is transient (Meta incidents); otherwise the code decides', () => {
    const e = classifyGraphError(body(100, { error_subcode: 33, type: 'GraphMethodException' }), 400, {});
    const cases: [GraphError, boolean, GraphErrorKind][] = [
      [e, true, 'transient'],
      [e, false, 'invalid_request'],
      [classifyGraphError(body(100), 400, {}), true, 'invalid_request'],
      [classifyGraphError(body(100, { error_subcode: 34 }), 400, {}), true, 'invalid_request'],
      [classifyGraphError(body(190, { error_subcode: 460 }), 400, {}), true, 'needs_reauth'],
      [classifyGraphError(body(4), 403, {}), true, 'throttled'],
    ];
    for (const [err, valid, kind] of cases) expect(kindForPage(err, valid)).toBe(kind);
  });

  it('the Page-permission 190 says which Page permission problem it is and keeps Facebook’s words; no human reauth sentence', () => {
    const e = classifyGraphError(body(190, { message: IMPERSONATING }), 400, {}, { endpoint: '{page-id}' });
    expect(e.message).toMatch(/a Page permission is missing for this Page \(the login itself still works\)/);
    expect(e.message).toContain('must be granted before impersonating');
    expect(e.humanMessage).toBeNull();
    expect(e.details).toMatchObject({ kind: 'permission', fb_code: 190 });
    // Another 190 message stays a dead token.
    expect(classifyGraphError(body(190, { message: 'Error validating access token' }), 400, {}).kind).toBe(
      'needs_reauth',
    );
  });

  it('scrubs a token echoed in Facebook’s message and the call’s known secrets', () => {
    const token = 'EAAfakeUabcdefghijklmnopqrstuvwxyz0123456789';
    const e = classifyGraphError(
      { error: { message: `Malformed access token ${token}`, code: 190 } },
      400,
      {},
      { secrets: ['s3cr3t-value'] },
    );
    expect(e.message).not.toContain(token);
    expect(e.message).toContain('[REDACTED]');
    const e2 = classifyGraphError(
      { error: { message: 'bad s3cr3t-value here', code: 100 } },
      400,
      {},
      { secrets: ['s3cr3t-value'] },
    );
    expect(e2.message).toBe('Facebook: bad [REDACTED] here (#100, HTTP 400)');
  });
});

describe('parseUsageHeaders', () => {
  it('reads the three headers (any case), the max percentage and the BUC time to regain access', () => {
    const u = parseUsageHeaders({
      'X-App-Usage': '{"call_count":28,"total_time":25,"total_cputime":25}',
      'x-page-usage': JSON.stringify({ call_count: 85, total_cputime: 56, total_time: 60 }),
      'x-business-use-case-usage': JSON.stringify({
        '10153848260347724': [
          {
            type: 'pages',
            call_count: 97,
            total_cputime: 23,
            total_time: 23,
            estimated_time_to_regain_access: 0,
          },
        ],
        other: [
          {
            type: 'ads_management',
            call_count: 100,
            total_cputime: 25,
            total_time: 25,
            estimated_time_to_regain_access: 19,
            ads_api_access_tier: 'standard_access',
          },
        ],
      }),
    });
    expect(u.app).toEqual({ call_count: 28, total_cputime: 25, total_time: 25 });
    expect(u.page).toEqual({ call_count: 85, total_cputime: 56, total_time: 60 });
    expect(u.business?.['10153848260347724']?.[0]).toMatchObject({
      type: 'pages',
      call_count: 97,
      estimated_time_to_regain_access: 0,
    });
    expect(u.maxPercent).toBe(100);
    expect(u.retryAfterMs).toBe(19 * MINUTE);
  });

  it('a missing or broken header is "no data", never an error', () => {
    expect(parseUsageHeaders({})).toEqual({ maxPercent: 0, retryAfterMs: null });
    expect(parseUsageHeaders(undefined)).toEqual({ maxPercent: 0, retryAfterMs: null });
    expect(parseUsageHeaders({ 'x-app-usage': 'not json', 'x-page-usage': '[1,2]' })).toEqual({
      maxPercent: 0,
      retryAfterMs: null,
    });
    const h = new Headers({ 'x-app-usage': '{"call_count":"12","total_cputime":3,"total_time":4}' });
    expect(parseUsageHeaders(h)).toMatchObject({
      app: { call_count: 12 },
      maxPercent: 12,
      retryAfterMs: null,
    });
  });

  it('100 % without a time to regain access: 1 h for the app, 5 min for Page/BUC', () => {
    expect(
      parseUsageHeaders({ 'x-app-usage': '{"call_count":100,"total_cputime":1,"total_time":1}' })
        .retryAfterMs,
    ).toBe(HOUR);
    expect(
      parseUsageHeaders({ 'x-page-usage': '{"call_count":1,"total_cputime":100,"total_time":1}' })
        .retryAfterMs,
    ).toBe(5 * MINUTE);
    expect(
      parseUsageHeaders({ 'x-app-usage': '{"call_count":99,"total_cputime":1,"total_time":1}' }).retryAfterMs,
    ).toBeNull();
  });
});

describe('redactUrl and scrubSecrets', () => {
  it('replaces every secret query value and keeps the rest', () => {
    const url =
      'https://graph.facebook.com/v26.0/oauth/access_token?grant_type=fb_exchange_token&client_id=123&client_secret=SEC&fb_exchange_token=EAAx&appsecret_proof=abc&access_token=EAAy&input_token=EAAz&code=AQc&redirect_uri=https%3A%2F%2Fx';
    const r = redactUrl(url);
    for (const secret of ['SEC', 'EAAx', 'EAAy', 'EAAz', 'abc', 'AQc']) expect(r).not.toContain(`=${secret}`);
    expect(r).toContain('grant_type=fb_exchange_token');
    expect(r).toContain('client_id=123');
    expect(r).toContain('redirect_uri=https%3A%2F%2Fx');
    expect(r).toContain('client_secret=[REDACTED]');
    expect(redactUrl(new URL('http://h/p?Access_Token=T#frag'))).toBe(
      'http://h/p?Access_Token=[REDACTED]#frag',
    );
    expect(redactUrl('/v26.0/me?access_token=T&fields=id')).toBe(
      '/v26.0/me?access_token=[REDACTED]&fields=id',
    );
    expect(redactUrl('no query here')).toBe('no query here');
    // error_code is not `code`.
    expect(redactUrl('http://h/cb?error_code=200&code=X')).toBe('http://h/cb?error_code=200&code=[REDACTED]');
  });

  it('scrubs known secrets, URLs, name=value pairs and token shapes from free text', () => {
    const text =
      'GET http://127.0.0.1:1/v26.0/me?access_token=abc&fields=id failed; client_secret=hunter2; token EAAfakeU1234567890abcdef; app 123456789012345|0123456789abcdef; proof ' +
      'a'.repeat(64);
    const out = scrubSecrets(text, ['hunter2']);
    for (const s of ['abc&', 'hunter2', 'EAAfakeU1234567890abcdef', '0123456789abcdef', 'a'.repeat(64)]) {
      expect(out).not.toContain(s);
    }
    expect(out).toContain('fields=id');
  });

  it('safeCause keeps the name and errno code, drops everything else', () => {
    const inner = Object.assign(
      new Error('connect ECONNREFUSED http://h/x?access_token=EAAsecretsecretsecret'),
      {
        code: 'ECONNREFUSED',
        cause: new Error('deep EAAsecretsecretsecret'),
        url: 'http://h/x?access_token=EAAsecretsecretsecret',
      },
    );
    const c = safeCause(inner, ['EAAsecretsecretsecret']);
    expect(c.message).toMatch(/^ECONNREFUSED: connect ECONNREFUSED/);
    expect(JSON.stringify({ m: c.message, s: c.stack, c: c.cause })).not.toContain('EAAsecret');
    expect(c.cause).toBeUndefined();
  });
});
