/**
 * No secret leaves through the HTTP API except where it must: a full workflow (setup, status,
 * renew, validate, history, checks, failures, bad requests) with every log line of the keeper, the
 * Graph client and the app captured, then every token, the app secret, the API keys and the
 * encryption key are searched for in the logs and in every response. Only the token:read route
 * returns the posting token.
 */
import { describe, expect, it } from 'vitest';
import { DAY } from '../../src/clock.js';
import { testBackends } from '../helpers/backends.js';
import { withApi } from './world.js';

describe.each(testBackends())('secrets on %s', (backend) => {
  it('a full workflow leaks no token, app secret or API key into logs or responses', async () => {
    await withApi(backend, async (w) => {
      const secrets = new Map<string, string>();
      const remember = async (pageId: string) => {
        const s = await w.store.getSecrets(pageId);
        if (!s) return;
        secrets.set(`posting token ${s.postingToken.slice(0, 6)}`, s.postingToken);
        if (s.sourceToken) secrets.set(`source token ${s.sourceToken.slice(0, 6)}`, s.sourceToken);
        secrets.set('app secret (stored)', s.appSecret);
      };
      secrets.set('app secret', w.fbApp.appSecret);
      secrets.set('app token', `${w.fbApp.appId}|${w.fbApp.appSecret}`);
      for (const [name, key] of Object.entries(w.keys)) {
        secrets.set(`api key ${name}`, key);
        secrets.set(`api key secret ${name}`, key.split('_').slice(2).join('_'));
      }
      if (w.config.encryptionKey) secrets.set('encryption key', w.config.encryptionKey);

      // Setup from a short-lived user token, as a person would paste it.
      const { userId, pageId } = w.newPage('Leaky Bakery');
      const short = w.userToken(userId, 'short');
      secrets.set('short-lived user token', short);
      const setup = await w.call('POST', '/api/token/setup', {
        body: { page_id: pageId, access_token: short, app_id: w.fbApp.appId, app_secret: w.fbApp.appSecret },
      });
      expect(setup.statusCode).toBe(201);
      await remember(pageId);

      await w.call('GET', '/api/token/status');
      await w.call('GET', `/api/pages/${pageId}`);
      await w.call('GET', '/api/pages');
      await w.call('POST', '/api/token/renew', { body: { force: true } });
      await remember(pageId);
      await w.call('POST', `/api/pages/${pageId}/renew`, { body: { force: true, dry_run: true } });
      const other = w.userToken(userId);
      secrets.set('long-lived user token', other);
      await w.call('POST', '/api/token/validate', { body: { access_token: other } });
      await w.call('POST', '/api/token/validate', { body: { page_id: pageId } });
      await w.call('POST', '/api/token/validate', {
        body: { access_token: other, app_id: w.fbApp.appId, app_secret: w.fbApp.appSecret },
      });
      await w.call('PATCH', `/api/pages/${pageId}`, { body: { renewal_threshold_days: 30 } });
      await w.call('POST', `/api/pages/${pageId}/check`);
      await w.call('GET', `/api/pages/${pageId}/history?limit=500`);

      // Failures: Facebook throttling and outages, bad input carrying secrets, wrong keys.
      w.graph.injectFault({ kind: 'throttle_app', times: 3 });
      await w.call('POST', `/api/pages/${pageId}/renew`, { body: { force: true } });
      w.graph.clearFaults();
      w.clock.advance(DAY);
      w.graph.injectFault({ kind: 'malformed_json', times: 3 });
      await w.call('POST', '/api/token/validate', { body: { access_token: other } });
      w.graph.clearFaults();
      await w.call('POST', '/api/token/setup', {
        payload: `{"access_token": "${other}", "app_secret": "${w.fbApp.appSecret}"`,
        headers: { 'content-type': 'application/json' },
      });
      await w.call('POST', '/api/token/setup', {
        body: {
          page_id: pageId,
          access_token: `${other} x`,
          app_id: w.fbApp.appId,
          app_secret: w.fbApp.appSecret,
        },
      });
      await w.call('POST', '/api/token/setup', {
        body: { page_id: pageId, access_token: other, app_id: w.fbApp.appId, app_secret: 'f'.repeat(32) },
      });
      await w.call('GET', `/api/token/status?access_token=${other}`);
      await w.call('GET', `/api/pages/${other}`);
      await w.call('GET', '/api/pages', { key: `${w.keys.admin}x` });
      await w.call('GET', `/api/pages/${pageId}/token`, { key: w.keys.admin });

      // The admin changes their password: the page needs a person; checks and status say so.
      w.graph.changePassword(userId);
      w.clock.advance(DAY);
      await w.keeper.runRound();
      await w.call('POST', `/api/pages/${pageId}/check`);
      await w.call('GET', '/api/token/status');
      await w.call('POST', '/api/token/validate');

      // Manual recovery: a new token through setup again.
      const recovery = w.userToken(userId);
      secrets.set('recovery token', recovery);
      expect(
        (
          await w.call('POST', '/api/token/setup', {
            body: {
              page_id: pageId,
              access_token: recovery,
              app_id: w.fbApp.appId,
              app_secret: w.fbApp.appSecret,
            },
          })
        ).statusCode,
      ).toBe(201);
      await remember(pageId);
      await w.call('GET', '/metrics', { key: null });
      await w.call('GET', '/openapi.json', { key: null });

      // The one place a token may appear.
      const tokenResponse = await w.call('GET', `/api/pages/${pageId}/token`, { key: w.keys.reader });
      expect(tokenResponse.statusCode).toBe(200);
      const current = (await w.store.getSecrets(pageId))!.postingToken;
      expect(tokenResponse.json().access_token).toBe(current);

      const logs = w.logs();
      expect(logs.length).toBeGreaterThan(1000);
      const others = w.responses.filter((r) => !(r.url === `/api/pages/${pageId}/token` && r.status === 200));
      expect(others.length).toBe(w.responses.length - 1);
      for (const [name, secret] of secrets) {
        expect(secret.length, name).toBeGreaterThan(10);
        expect(logs.includes(secret), `${name} in the log`).toBe(false);
        for (const r of others) {
          expect(
            r.text.includes(secret),
            `${name} in the response to ${r.method} ${r.url.slice(0, 60)}`,
          ).toBe(false);
        }
        if (secret !== current) {
          expect(tokenResponse.body.includes(secret), `${name} in the token response`).toBe(false);
        }
      }
      expect(secrets.size).toBeGreaterThanOrEqual(12);
    });
  });
});
