/**
 * The Graph client against the emulator over real HTTP, on a manual clock shared by both.
 */
import { createManualClock, type ManualClock } from '../../src/clock.js';
import { type FakeGraph, type FakeGraphOptions, startFakeGraph } from '../../src/fake-graph/index.js';
import {
  createGraphClient,
  type GraphCallInfo,
  type GraphClient,
  type GraphClientOptions,
} from '../../src/graph/client.js';
import { GraphError } from '../../src/graph/errors.js';

export const REFERENCE_TIME = Date.parse('2027-01-01T00:00:00Z');

export interface GraphWorld {
  clock: ManualClock;
  graph: FakeGraph;
  client: GraphClient;
  calls: GraphCallInfo[];
  app: { appId: string; appSecret: string };
  /** A user with a role on a new Page. */
  newPage: (name?: string) => { userId: string; pageId: string };
  client2: (options?: Partial<GraphClientOptions>) => GraphClient;
}

export async function withGraph(
  fn: (w: GraphWorld) => Promise<void>,
  options: { emulator?: FakeGraphOptions; client?: Partial<GraphClientOptions> } = {},
): Promise<void> {
  const clock = createManualClock(REFERENCE_TIME);
  const graph = await startFakeGraph({ clock, ...options.emulator });
  const calls: GraphCallInfo[] = [];
  const make = (extra: Partial<GraphClientOptions> = {}) =>
    createGraphClient({
      baseUrl: graph.url,
      version: graph.version,
      clock,
      onCall: (c) => calls.push(c),
      ...options.client,
      ...extra,
    });
  try {
    const app = graph.createApp({ name: 'Test app' });
    await fn({
      clock,
      graph,
      client: make(),
      calls,
      app: { appId: app.appId, appSecret: app.appSecret },
      newPage: (name = 'Test Page') => {
        const user = graph.createUser({ name: 'Admin' });
        const page = graph.createPage({ name });
        graph.grantRole(user.id, page.id);
        return { userId: user.id, pageId: page.id };
      },
      client2: make,
    });
  } finally {
    await graph.close();
  }
}

/** The GraphError a promise rejects with (fails the test when it resolves or throws something else). */
export async function graphError(p: Promise<unknown>): Promise<GraphError> {
  try {
    await p;
  } catch (e: unknown) {
    if (e instanceof GraphError) return e;
    throw new Error(
      `expected a GraphError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
      { cause: e },
    );
  }
  throw new Error('expected a GraphError, but the call succeeded');
}
