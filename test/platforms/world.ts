/**
 * An emulator on a manual clock with one Instagram-Login or Threads app and account, and the
 * platform's provider pointed at it (over real HTTP).
 */
import { createManualClock, type ManualClock } from '../../src/clock.js';
import { type FakeGraph, type RefreshablePlatform, startFakeGraph } from '../../src/fake-graph/index.js';
import type { GraphCallInfo } from '../../src/graph/client.js';
import { createInstagramProvider } from '../../src/platforms/instagram/provider.js';
import type { RefreshableProvider } from '../../src/platforms/refreshable-provider.js';
import { createThreadsProvider } from '../../src/platforms/threads/provider.js';

export const REFERENCE_TIME = Date.parse('2027-01-01T00:00:00Z');

export interface PlatformWorld {
  platform: RefreshablePlatform;
  clock: ManualClock;
  graph: FakeGraph;
  provider: RefreshableProvider;
  calls: GraphCallInfo[];
  app: { appId: string; appSecret: string };
  /** The Facebook app of the same Meta app (Threads: its other app id). */
  facebookApp: { appId: string; appSecret: string };
  account: { id: string; username: string };
  token(lifetime: 'short' | 'long', scopes?: string[]): string;
}

export function providerFor(
  platform: RefreshablePlatform,
  graph: FakeGraph,
  clock: ManualClock,
  calls: GraphCallInfo[] = [],
) {
  const onCall = (c: GraphCallInfo) => calls.push(c);
  return platform === 'instagram'
    ? createInstagramProvider({
        apiUrl: graph.instagramUrl,
        oauthUrl: graph.instagramUrl,
        dialogUrl: graph.instagramUrl,
        clock,
        onCall,
      })
    : createThreadsProvider({ apiUrl: graph.threadsUrl, dialogUrl: graph.threadsUrl, clock, onCall });
}

export async function withPlatform(
  platform: RefreshablePlatform,
  fn: (w: PlatformWorld) => Promise<void>,
): Promise<void> {
  const clock = createManualClock(REFERENCE_TIME);
  const graph = await startFakeGraph({ clock });
  const calls: GraphCallInfo[] = [];
  try {
    const fb = graph.createApp({ name: 'Poster (Facebook)' });
    const app = graph.createPlatformApp(platform, { name: 'Poster', facebookAppId: fb.appId });
    const account = graph.createPlatformAccount(platform, { username: 'ada.bakes', name: 'Ada’s Bakery' });
    graph.setPlatformDialogAccount(platform, account.id);
    await fn({
      platform,
      clock,
      graph,
      provider: providerFor(platform, graph, clock, calls),
      calls,
      app: { appId: app.appId, appSecret: app.appSecret },
      facebookApp: { appId: fb.appId, appSecret: fb.appSecret },
      account: { id: account.id, username: account.username },
      token: (lifetime, scopes) =>
        graph.issuePlatformToken(platform, {
          appId: app.appId,
          accountId: account.id,
          lifetime,
          ...(scopes ? { scopes } : {}),
        }),
    });
  } finally {
    await graph.close();
  }
}
