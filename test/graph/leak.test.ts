/**
 * No thrown error — message, stack, JSON, cause, inspected form — and no onCall report ever
 * contains a token, a secret, an app token, an appsecret_proof or an OAuth code, whatever the path:
 * success, each fault, invalid tokens (including Facebook's echo of a malformed token), wrong
 * secrets, wrong version, timeout, nothing listening.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../src/clock.js';
import { FAULT_KINDS, startFakeGraph } from '../../src/fake-graph/index.js';
import {
  appsecretProof,
  createGraphClient,
  type GraphCallInfo,
  type GraphClient,
} from '../../src/graph/client.js';
import { REFERENCE_TIME } from './world.js';

const APP_SECRET = 'leak-app-secret-0123456789abcdef';
const WRONG_SECRET = 'leak-wrong-secret-fedcba9876543210';
const MALFORMED = 'LEAK-not-a-token-0123456789';
const BAD_CODE = 'AQleak-code-0123456789abcdef';

function allText(e: unknown): string {
  const parts: string[] = [inspect(e, { depth: 20, showHidden: true, getters: true })];
  if (e instanceof Error) {
    parts.push(e.message, e.stack ?? '', JSON.stringify(e), String(e));
    let c: unknown = e.cause;
    for (let i = 0; c !== undefined && i < 10; i++) {
      parts.push(
        inspect(c, { depth: 20, showHidden: true }),
        c instanceof Error ? `${c.message}\n${c.stack ?? ''}` : JSON.stringify(c),
      );
      c = c instanceof Error ? c.cause : undefined;
    }
  }
  return parts.join('\n');
}

describe('no secret in errors or call reports', () => {
  it('every client method, through success and every failure path', async () => {
    const clock = createManualClock(REFERENCE_TIME);
    const graph = await startFakeGraph({ clock });
    const reports: GraphCallInfo[] = [];
    const errors: unknown[] = [];
    try {
      const app = graph.createApp({ appSecret: APP_SECRET, name: 'Leak app' });
      const good = { appId: app.appId, appSecret: APP_SECRET };
      const wrong = { appId: app.appId, appSecret: WRONG_SECRET };
      const user = graph.createUser();
      const page = graph.createPage();
      graph.grantRole(user.id, page.id);
      const short = graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'short' });
      const long = graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
      const dead = graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
      graph.invalidateToken(dead, 460);
      const client = createGraphClient({
        baseUrl: graph.url,
        version: graph.version,
        clock,
        timeoutMs: 200,
        onCall: (c) => reports.push(c),
      });
      const pageToken = (await client.getPageToken(page.id, long, good)).accessToken;

      // A real Login code, so exchangeCode also has a success path.
      const form = new URLSearchParams({
        client_id: app.appId,
        redirect_uri: 'http://localhost/cb',
        state: 's',
        scope: 'pages_show_list',
        user_id: user.id,
        action: 'continue',
        scope_pages_show_list: 'on',
      });
      const login = await fetch(`${graph.url}/${graph.version}/dialog/oauth/confirm`, {
        method: 'POST',
        body: form,
        redirect: 'manual',
      });
      const goodCode = new URL(login.headers.get('location')!).searchParams.get('code')!;

      const secrets = new Set<string>([
        APP_SECRET,
        WRONG_SECRET,
        MALFORMED,
        BAD_CODE,
        goodCode,
        short,
        long,
        dead,
        pageToken,
      ]);
      const produced: string[] = [];
      for (const t of [short, long, dead, pageToken, MALFORMED]) {
        for (const s of [APP_SECRET, WRONG_SECRET]) secrets.add(appsecretProof(t, s));
      }
      for (const s of [APP_SECRET, WRONG_SECRET]) {
        secrets.add(`${app.appId}|${s}`);
        secrets.add(appsecretProof(`${app.appId}|${s}`, s));
      }

      const methods = (
        c: GraphClient,
        a: { appId: string; appSecret: string },
        token: string,
        code: string,
      ) => [
        () => c.debugToken(token, a),
        () => c.exchangeToken(token, a),
        () => c.exchangeToken(token, a, { systemUser60Days: true }),
        () => c.getPageToken(page.id, token, a),
        () => c.listPageAccounts(token, a),
        () => c.me(token, a),
        () => c.exchangeCode(code, 'http://localhost/cb', a),
        () => c.postToFeed(page.id, token, 'leak test', a),
      ];
      const run = async (fns: (() => Promise<unknown>)[]) => {
        for (const fn of fns) {
          try {
            const r = await fn();
            // Successful results carry new tokens; remember them as secrets too.
            for (const v of JSON.stringify(r).match(/EAAfake[A-Za-z0-9]+/g) ?? []) produced.push(v);
          } catch (e: unknown) {
            errors.push(e);
          }
        }
      };

      // Success paths (and the natural failures of each method with this token).
      await run(methods(client, good, long, goodCode));
      await run(methods(client, good, pageToken, BAD_CODE));
      // Invalid, malformed (echoed by Facebook), wrong secret.
      await run(methods(client, good, dead, BAD_CODE));
      await run(methods(client, good, MALFORMED, BAD_CODE));
      await run(methods(client, wrong, long, BAD_CODE));
      // Every fault on every method.
      for (const kind of FAULT_KINDS) {
        graph.injectFault({ kind, times: Number.POSITIVE_INFINITY });
        await run(methods(client, good, long, BAD_CODE));
        graph.clearFaults();
      }
      // Wrong version, nothing listening.
      await run(
        methods(createGraphClient({ baseUrl: graph.url, version: 'v1.0', clock }), good, long, BAD_CODE),
      );
      await run(
        methods(
          createGraphClient({ baseUrl: 'http://127.0.0.1:9', version: 'v26.0', clock }),
          good,
          long,
          BAD_CODE,
        ),
      );
      // Expired.
      clock.advance(365 * 24 * 3600 * 1000);
      await run(methods(client, good, short, BAD_CODE));

      for (const p of produced) secrets.add(p);
      expect(errors.length).toBeGreaterThan(100);
      const kinds = new Set(errors.map((e) => (e as { kind?: string }).kind));
      expect([...kinds].sort()).toEqual([
        'invalid_request',
        'needs_reauth',
        'permission',
        'throttled',
        'transient',
      ]);
      for (const e of errors) {
        const text = allText(e);
        for (const s of secrets) {
          if (text.includes(s)) throw new Error(`a secret leaked into an error: ${inspect(e)}`);
        }
      }
      const reportText = JSON.stringify(reports);
      for (const s of secrets) expect(reportText.includes(s)).toBe(false);
      // The emulator's record holds parameter names, never values.
      const recorded = JSON.stringify(graph.calls);
      for (const s of secrets) expect(recorded.includes(s)).toBe(false);
    } finally {
      await graph.close();
    }
  });
});
