/**
 * Heal on demand (lifecycle/on-demand.ts), on SQLite and PostgreSQL: the real engine, store and
 * Graph client against the emulator, a manual clock and manual timers (nothing sleeps).
 */
import { describe, expect, it } from 'vitest';
import { HOUR, SECOND } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { AppError } from '../../src/errors.js';
import { createTokenKeeper } from '../../src/lifecycle/keeper.js';
import { LEASE_POLL_MS, summariseReport } from '../../src/lifecycle/on-demand.js';
import { silentLogger } from '../../src/logger.js';
import { startWebhookReceiver } from '../alerts/receivers.js';
import { testBackends } from '../helpers/backends.js';
import { startGraphGate } from '../helpers/gate.js';
import { type KeeperWorld, testEnv, withKeeper } from '../helpers/keeper.js';

const REPORT = {
  code: 190,
  error_subcode: 460,
  fbtrace_id: 'AbC123xyz',
  message:
    'Error validating access token: The session has been invalidated because the user changed their password.',
};

/** A Page set up from a long-lived user token: its Page token never expires and can be re-minted. */
async function healablePage(w: KeeperWorld) {
  const { userId, pageId } = w.newPage('Bakery');
  const long = w.graph.issueUserToken({ appId: w.app.appId, userId, lifetime: 'long' });
  await w.keeper.setup({ pageId, accessToken: long, appId: w.app.appId, appSecret: w.app.appSecret });
  return { userId, pageId, token: await w.keeper.getPageToken(pageId) };
}

/** Mint calls: `GET /{version}/{page-id}` (fields=access_token). */
function mints(w: KeeperWorld, pageId: string): number {
  return w.graph.calls.filter((c) => c.method === 'GET' && c.path.endsWith(`/${pageId}`)).length;
}

async function rejection(p: Promise<unknown>): Promise<AppError> {
  const e = await p.then(
    () => new Error('expected a rejection'),
    (err: unknown) => err,
  );
  if (!(e instanceof AppError)) throw e;
  return e;
}

async function onDemandEvents(w: KeeperWorld, pageId: string) {
  return (await w.keeper.history(pageId, { limit: 100 })).filter((e) => e.type === 'checked_on_demand');
}

/**
 * Let pending I/O callbacks run until `cond` holds (no clock moves, no sleeping). Bounded by wall
 * time, not by turns: on a loaded machine PostgreSQL's answers can take more than 5,000 turns.
 */
async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  if (!cond()) throw new Error('condition never held');
}

describe.each(testBackends())('heal on demand on %s', (backend) => {
  it('a dead Page token with a live login: one call answers a new token the emulator says is valid', async () => {
    await withKeeper(backend, async (w) => {
      const { pageId, token } = await healablePage(w);
      w.graph.invalidateToken(token);
      expect(w.graph.tokenStatus(token).valid).toBe(false);
      w.clock.advance(HOUR);

      const r = await w.keeper.refreshPageToken(pageId, REPORT);
      expect(r).toMatchObject({
        verdict: 'healed',
        token_changed: true,
        checked_now: true,
        state: 'healthy',
      });
      expect(r.access_token).not.toBe(token);
      expect(w.graph.tokenStatus(r.access_token).valid).toBe(true);
      expect(await w.keeper.getPageToken(pageId)).toBe(r.access_token);

      const history = await w.keeper.history(pageId, { limit: 50 });
      expect(history.map((e) => e.type)).toEqual(expect.arrayContaining(['healed', 'token_rotated']));
      const [ev] = await onDemandEvents(w, pageId);
      expect(ev).toMatchObject({ reason: 'healed', state_to: 'healthy' });
      expect(ev!.details.reported).toEqual({ ...REPORT, type: null });
      expect(JSON.stringify(history)).not.toContain(token);
      expect(JSON.stringify(history)).not.toContain(r.access_token);
    });
  });

  it('a valid token: the same token, "not the token’s"; inside 10 s no Facebook call; after, a new check', async () => {
    await withKeeper(backend, async (w) => {
      const { pageId, token } = await healablePage(w);
      w.clock.advance(HOUR);
      const first = await w.keeper.refreshPageToken(pageId, { code: 100, message: 'Invalid parameter' });
      expect(first).toMatchObject({
        access_token: token,
        verdict: 'token_valid',
        token_changed: false,
        checked_now: true,
      });
      expect(first.message).toMatch(/not caused by the token/);

      w.graph.resetCalls();
      w.clock.advance(9 * SECOND);
      const again = await w.keeper.refreshPageToken(pageId, REPORT);
      expect(again).toMatchObject({ access_token: token, verdict: 'token_valid', checked_now: false });
      expect(w.graph.calls).toHaveLength(0);
      expect(await onDemandEvents(w, pageId)).toHaveLength(1);

      w.clock.advance(2 * SECOND);
      const later = await w.keeper.refreshPageToken(pageId, null);
      expect(later.checked_now).toBe(true);
      expect(w.graph.countCalls('/debug_token')).toBeGreaterThan(0);
    });
  });

  it('20 concurrent calls: one check, one heal, the same new token for all', async () => {
    await withKeeper(backend, async (w) => {
      const { pageId, token } = await healablePage(w);
      w.graph.invalidateToken(token);
      w.clock.advance(HOUR);
      w.graph.resetCalls();
      const results = await Promise.all(
        Array.from({ length: 20 }, () => w.keeper.refreshPageToken(pageId, REPORT)),
      );
      expect(new Set(results.map((r) => r.access_token)).size).toBe(1);
      expect(results[0]!.verdict).toBe('healed');
      expect(mints(w, pageId)).toBe(1);
      const events = await onDemandEvents(w, pageId);
      expect(events).toHaveLength(1);
      expect(events[0]!.details.coalesced_calls).toBe(20);
    });
  });

  it('a dead login: needs_reauth with the reason and a reconnect link, the alert delivered within the call', async () => {
    const hook = await startWebhookReceiver();
    try {
      await withKeeper(
        backend,
        async (w) => {
          const { userId, pageId } = await healablePage(w);
          w.graph.changePassword(userId);
          w.clock.advance(HOUR);
          expect(hook.got).toHaveLength(0);
          const e = await rejection(w.keeper.refreshPageToken(pageId, REPORT));
          expect(e.code).toBe('needs_reauth');
          expect(e.status).toBe(409);
          expect(e.message).toMatch(/changed their Facebook password/);
          expect(e.details).toMatchObject({ state: 'needs_reauth', reason: 'password_changed' });
          expect(String(e.details?.reconnect_url)).toMatch(/\/connect\//);
          // Delivered before the call answered, not at the dispatcher's next pass.
          expect(hook.got.map((g) => g.body.event)).toEqual(['needs_reauth']);

          // Inside the window: the same answer, no Facebook call, no second alert.
          w.graph.resetCalls();
          const again = await rejection(w.keeper.refreshPageToken(pageId, REPORT));
          expect(again.code).toBe('needs_reauth');
          expect(w.graph.calls).toHaveLength(0);
          // The library form says the same.
          const lib = await rejection(w.keeper.getPageToken(pageId, { after: { error: REPORT } }));
          expect(lib.code).toBe('needs_reauth');
          expect(hook.got).toHaveLength(1);
        },
        { env: { WEBHOOK_URLS: hook.url } },
      );
    } finally {
      await hook.close();
    }
  });

  it('while Facebook throttles the app: 429 with retry-after, and no call until it ends', async () => {
    await withKeeper(backend, async (w) => {
      const { pageId } = await healablePage(w);
      w.clock.advance(HOUR);
      w.graph.injectFault({ kind: 'throttle_app', path: '/debug_token', times: 1 });
      const e = await rejection(w.keeper.refreshPageToken(pageId, REPORT));
      expect(e.code).toBe('graph_rate_limited');
      expect(e.details?.retry_after_seconds).toEqual(expect.any(Number));
      w.graph.resetCalls();
      w.clock.advance(30 * SECOND);
      const again = await rejection(w.keeper.refreshPageToken(pageId, REPORT));
      expect(again.code).toBe('graph_rate_limited');
      expect(Number(again.details?.retry_after_seconds)).toBeGreaterThan(0);
      expect(w.graph.calls).toHaveLength(0);
    });
  });

  it('another instance holds the lease: the call waits for it and reuses its heal (one mint in all)', async () => {
    await withKeeper(backend, async (w) => {
      const { pageId, token } = await healablePage(w);
      const gate = await startGraphGate(w.graph.url);
      // Instance B reaches Facebook through the gate; A (w.keeper) directly.
      const b = await createTokenKeeper({
        config: loadConfig(testEnv(gate.url)),
        store: w.store,
        clock: w.clock,
        timers: w.timers,
        logger: silentLogger,
      });
      try {
        w.graph.invalidateToken(token);
        w.clock.advance(HOUR);
        w.graph.resetCalls();
        gate.hold();
        const fromB = b.refreshPageToken(pageId, REPORT);
        await gate.nextHeld(); // B holds the lease and is waiting for Facebook
        const fromA = w.keeper.refreshPageToken(pageId, REPORT);
        await until(() => w.timers.pending() > 0); // A found the lease taken and waits on the timers
        expect(w.graph.calls).toHaveLength(0);
        gate.release();
        const rb = await fromB;
        expect(rb.verdict).toBe('healed');
        w.timers.advance(LEASE_POLL_MS);
        const ra = await fromA;
        expect(ra).toMatchObject({ access_token: rb.access_token, verdict: 'healed', checked_now: false });
        expect(mints(w, pageId)).toBe(1);
        expect(await onDemandEvents(w, pageId)).toHaveLength(1);
      } finally {
        gate.release();
        await b.close();
        await gate.close();
      }
    });
  });

  it('the reporter’s message is trimmed and scrubbed of anything token-like; bad input is refused', async () => {
    await withKeeper(backend, async (w) => {
      const { pageId, token } = await healablePage(w);
      w.clock.advance(HOUR);
      await w.keeper.refreshPageToken(pageId, {
        code: 190,
        message: `Malformed access token ${token}   and EAAfakeTOKENfakeTOKEN123 ${'x'.repeat(1000)}`,
      });
      const [ev] = await onDemandEvents(w, pageId);
      const reported = ev!.details.reported as { message: string };
      expect(reported.message.length).toBeLessThanOrEqual(300);
      expect(reported.message).not.toContain(token);
      expect(reported.message).not.toContain('EAAfakeTOKEN');
      expect(JSON.stringify(ev)).not.toContain(token);

      for (const bad of ['190', [190], { code: 'x' }, { code: 1.5 }, { message: 5 }]) {
        const e = await rejection(w.keeper.refreshPageToken(pageId, bad));
        expect(e.code).toBe('validation_failed');
      }
      expect(await onDemandEvents(w, pageId)).toHaveLength(1);
    });
  });
});

describe('summariseReport', () => {
  it('keeps numbers and short strings, scrubs known secrets and token shapes', () => {
    expect(summariseReport(null)).toBeNull();
    expect(
      summariseReport(
        { code: 190, error_subcode: 463, message: ' secret-app-secret\n expired ', fbtrace_id: 'A1' },
        ['secret-app-secret'],
      ),
    ).toEqual({ code: 190, error_subcode: 463, fbtrace_id: 'A1', type: null, message: '[REDACTED] expired' });
  });
});
