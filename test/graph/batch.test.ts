/**
 * GRAPH_BATCH=auto against the emulator over real HTTP: debug_token calls made at the same time go
 * as one batch request, each item read like a single answer (invalid tokens, dead tokens,
 * throttles), a refused call type falls back to single calls, and the usage headers feed the
 * budget (each item one call against the app; a Page-token probe against the Page).
 */
import { describe, expect, it } from 'vitest';
import type { UsageReport } from '../../src/graph/client.js';
import { GraphError } from '../../src/graph/errors.js';
import { startGraphGate } from '../helpers/gate.js';
import { withGraph } from './world.js';

const roundTrips = (graph: { calls: readonly { batch?: true }[] }) =>
  graph.calls.filter((c) => c.batch !== true).length;

describe('graph client: batching (GRAPH_BATCH=auto)', () => {
  it('simultaneous debug_token calls of one app go as one batch request with the same answers', async () => {
    await withGraph(async ({ graph, app, newPage, client2, client }) => {
      const tokens = Array.from({ length: 30 }, () => {
        const { userId } = newPage();
        return graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
      });
      const batched = client2({ batch: 'auto' });
      graph.resetCalls();
      const answers = await Promise.all([...tokens, 'not-a-token'].map((t) => batched.debugToken(t, app)));
      expect(roundTrips(graph)).toBe(1);
      expect(graph.countCalls('/debug_token')).toBe(31);
      expect(answers.slice(0, 30).every((a) => a.isValid && a.type === 'USER')).toBe(true);
      expect(answers[30]).toMatchObject({ isValid: false });
      // Same answers as single calls.
      expect(await client.debugToken(tokens[0]!, app)).toEqual(answers[0]);
      // A call alone is a single call, not a batch of one.
      graph.resetCalls();
      await batched.debugToken(tokens[1]!, app);
      expect(graph.calls.map((c) => c.path)).toEqual(['/v26.0/debug_token']);
    });
  });

  it('more than 50 at once: batches of 50', async () => {
    await withGraph(async ({ graph, app, newPage, client2 }) => {
      const { userId } = newPage();
      const token = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
      const batched = client2({ batch: 'auto' });
      graph.resetCalls();
      await Promise.all(Array.from({ length: 120 }, () => batched.debugToken(token, app)));
      expect(roundTrips(graph)).toBe(3);
    });
  });

  it('a throttled item is the answer of that call (no retry alone); a transient item too', async () => {
    await withGraph(async ({ graph, app, newPage, client2 }) => {
      const { userId } = newPage();
      const token = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
      const batched = client2({ batch: 'auto' });
      graph.injectFault({ kind: 'throttle_custom_613', path: '/debug_token' });
      graph.resetCalls();
      const [a, b] = await Promise.allSettled([
        batched.debugToken(token, app),
        batched.debugToken(token, app),
      ]);
      expect(a.status).toBe('rejected');
      expect((a as PromiseRejectedResult).reason).toBeInstanceOf(GraphError);
      expect(((a as PromiseRejectedResult).reason as GraphError).kind).toBe('throttled');
      expect(b.status).toBe('fulfilled');
      expect(graph.countCalls('/debug_token')).toBe(2);
    });
  });

  it('Facebook refusing debug_token in a batch: each call is made alone, and from then on always alone', async () => {
    await withGraph(async ({ graph, app, newPage, client2 }) => {
      const { userId } = newPage();
      const token = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
      const batched = client2({ batch: 'auto' });
      graph.refuseInBatch('/debug_token', true);
      graph.resetCalls();
      const first = await Promise.all([batched.debugToken(token, app), batched.debugToken(token, app)]);
      expect(first.every((d) => d.isValid)).toBe(true);
      // One refused batch (2 items), then 2 single calls.
      expect(roundTrips(graph)).toBe(3);
      graph.resetCalls();
      await Promise.all([batched.debugToken(token, app), batched.debugToken(token, app)]);
      expect(graph.calls.filter((c) => c.batch === true)).toHaveLength(0);
      expect(roundTrips(graph)).toBe(2);
    });
  });

  it('usage reports: each batch item one call against the app, the request itself none; a Page-token probe against the Page', async () => {
    const reports: UsageReport[] = [];
    await withGraph(async ({ graph, app, newPage, client2 }) => {
      const { userId, pageId } = newPage();
      const long = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
      const c = client2({ batch: 'auto', onUsage: (u) => reports.push(u) });
      const page = await c.getPageToken(pageId, long, app);
      reports.length = 0;
      graph.setAppUsers(app.appId, 1);
      await Promise.all([c.debugToken(long, app), c.debugToken(page.accessToken, app)]);
      expect(reports.map((r) => [r.bucket, r.calls])).toEqual([
        ['app', 0],
        ['app', 1],
        ['app', 1],
      ]);
      expect(reports.at(-1)!.usage.app).toMatchObject({ call_count: 1 });
      reports.length = 0;
      expect(await c.probePageToken(page.accessToken, app)).toEqual({ id: pageId });
      expect(reports).toEqual([expect.objectContaining({ bucket: 'page', calls: 1, throttled: false })]);
      expect(reports[0]!.usage.page).toBeDefined();
      expect(reports[0]!.usage.app).toBeUndefined();
    });
  });

  it('simultaneous Page-token probes go as one batch, each item with its own token; a dead one answers as alone', async () => {
    const reports: UsageReport[] = [];
    await withGraph(async ({ graph, app, newPage, client2 }) => {
      const c = client2({ batch: 'auto', onUsage: (u) => reports.push(u) });
      const pages: { pageId: string; token: string }[] = [];
      for (let i = 0; i < 5; i++) {
        const { userId, pageId } = newPage();
        const long = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
        pages.push({ pageId, token: (await c.getPageToken(pageId, long, app)).accessToken });
      }
      graph.invalidateToken(pages[4]!.token);
      graph.resetCalls();
      reports.length = 0;
      const answers = await Promise.allSettled(pages.map((p) => c.probePageToken(p.token, app)));
      expect(roundTrips(graph)).toBe(1);
      // Each probe answered as its own Page: the item carried that Page's token, not the app's.
      expect(answers.slice(0, 4).map((a) => (a as PromiseFulfilledResult<{ id: string }>).value.id)).toEqual(
        pages.slice(0, 4).map((p) => p.pageId),
      );
      expect(answers[4]!.status).toBe('rejected');
      expect(((answers[4] as PromiseRejectedResult).reason as GraphError).kind).toBe('needs_reauth');
      // Against each Page's budget, not the app's; the batch request itself counts for nothing.
      expect(reports.filter((r) => r.calls > 0).every((r) => r.bucket === 'page')).toBe(true);
      expect(reports.filter((r) => r.calls > 0)).toHaveLength(5);
      // No token in what the emulator recorded of the calls (paths and parameter names only).
      expect(JSON.stringify(graph.calls)).not.toContain(pages[0]!.token);
    });
  });

  it('GRAPH_BATCH=off (the default of a bare client): never a batch', async () => {
    await withGraph(async ({ graph, app, newPage, client }) => {
      const { userId } = newPage();
      const token = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
      graph.resetCalls();
      await Promise.all([client.debugToken(token, app), client.debugToken(token, app)]);
      expect(roundTrips(graph)).toBe(2);
      expect(graph.calls.filter((c) => c.batch === true)).toHaveLength(0);
    });
  });
});

describe('graph client: when a batch goes (GRAPH_BATCH=auto, maxInFlight)', () => {
  it('calls made while a request of their kind is in flight wait for it and go as one batch; 50 go at once', async () => {
    await withGraph(async ({ graph, app, newPage, client2 }) => {
      const gate = await startGraphGate(graph.url);
      try {
        const { userId } = newPage();
        const token = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
        const batched = client2({ batch: 'auto', baseUrl: gate.url, maxInFlight: 8 });
        graph.resetCalls();
        gate.hold();
        // Alone: nothing else is in flight, so it goes at once, as a single call.
        const first = batched.debugToken(token, app);
        await gate.nextHeld();
        // 60 more while it is out, 10 in each of 6 turns of the event loop (workers reaching their
        // call at different moments): they wait for it, and the first 50 go at once as a full batch.
        const rest: Promise<unknown>[] = [];
        for (let turn = 0; turn < 6; turn++) {
          rest.push(...Array.from({ length: 10 }, () => batched.debugToken(token, app)));
          await new Promise((r) => setImmediate(r));
        }
        gate.release();
        const answers = (await Promise.all([first, ...rest])) as { isValid: boolean }[];
        expect(answers.every((a) => a.isValid)).toBe(true);
        expect(graph.countCalls('/debug_token')).toBe(61);
        // The single call, the full batch, and the 10 that waited: three round trips (not one per turn).
        expect(roundTrips(graph)).toBe(3);
        expect(graph.calls.filter((c) => c.batch !== true).map((c) => c.method)).toEqual([
          'GET',
          'POST',
          'POST',
        ]);
      } finally {
        await gate.close();
      }
    });
  });

  it('maxInFlight bounds the HTTP requests in flight, single calls and batches alike', async () => {
    await withGraph(async ({ graph, app, newPage, client2 }) => {
      const gate = await startGraphGate(graph.url);
      try {
        const { userId, pageId } = newPage();
        const token = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
        const c = client2({ batch: 'auto', baseUrl: gate.url, maxInFlight: 2 });
        const pageToken = (await c.getPageToken(pageId, token, app)).accessToken;
        graph.resetCalls();
        gate.hold();
        // Calls of kinds that are never batched, then 120 debug_token and probes.
        const all = [
          c.me(token, app),
          c.me(token, app),
          c.me(token, app),
          ...Array.from({ length: 120 }, () => c.debugToken(token, app)),
          ...Array.from({ length: 10 }, () => c.probePageToken(pageToken, app)),
        ];
        // Let them through one at a time, looking each time at how many reached Facebook's door.
        let most = 0;
        let done = false;
        const settled = Promise.allSettled(all).then((r) => {
          done = true;
          return r;
        });
        while (!done) {
          if (gate.heldCount() === 0) {
            await Promise.race([gate.nextHeld(), settled]);
            continue;
          }
          // Time for any request beyond the bound to arrive too.
          for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
          most = Math.max(most, gate.heldCount());
          gate.releaseOne();
        }
        const results = await settled;
        expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
        expect(most).toBe(2);
        expect(graph.countCalls('/debug_token')).toBe(120);
        // 3 single me calls + debug_token in batches (at least 3 of 50) + probes in batch(es).
        expect(roundTrips(graph)).toBeLessThanOrEqual(3 + 4 + 2);
      } finally {
        await gate.close();
      }
    });
  });

  it('Facebook refusing the call type with maxInFlight: each call alone, still within the bound', async () => {
    await withGraph(async ({ graph, app, newPage, client2 }) => {
      const { userId } = newPage();
      const token = graph.issueUserToken({ appId: app.appId, userId, lifetime: 'long' });
      const batched = client2({ batch: 'auto', maxInFlight: 2 });
      graph.refuseInBatch('/debug_token', true);
      graph.resetCalls();
      const first = await Promise.all(Array.from({ length: 5 }, () => batched.debugToken(token, app)));
      expect(first.every((d) => d.isValid)).toBe(true);
      // One refused batch (5 items), then 5 single calls.
      expect(roundTrips(graph)).toBe(6);
      graph.resetCalls();
      await Promise.all(Array.from({ length: 5 }, () => batched.debugToken(token, app)));
      expect(graph.calls.filter((c) => c.batch === true)).toHaveLength(0);
      expect(roundTrips(graph)).toBe(5);
    });
  });
});
