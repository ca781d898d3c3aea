/**
 * The posting app of `simulate --post-every N`: it behaves as docs/POSTING_APPS.md tells one to.
 * It holds each Page's token, posts every N minutes (real posts to the emulator, with a Graph
 * client of its own, so its calls are not counted as the keeper's), and on a 190 reports the
 * error (`refreshPageToken`, the refresh route's core) and retries once with the token it gets.
 * A Page answered with `needs_reauth` is not posted to again: a person must reconnect it.
 */
import { AppError } from '../errors.js';
import type { AppCredentials, GraphClient } from '../graph/client.js';
import { GraphError } from '../graph/errors.js';
import type { TokenKeeper } from './types.js';

export interface PostingAppReport {
  every_minutes: number;
  posts: number;
  failed_posts: number;
  /** Refresh calls made after a 190, and what they answered. */
  refreshes: number;
  healed_on_demand: number;
  /** Pages the app stopped posting to after `needs_reauth` (a person must reconnect them). */
  stopped: string[];
}

export function createSimPoster(deps: {
  keeper: Pick<TokenKeeper, 'getPageToken' | 'refreshPageToken'>;
  graph: GraphClient;
  app: AppCredentials;
  everyMinutes: number;
}) {
  const tokens = new Map<string, string>();
  const stopped = new Set<string>();
  const report: PostingAppReport = {
    every_minutes: deps.everyMinutes,
    posts: 0,
    failed_posts: 0,
    refreshes: 0,
    healed_on_demand: 0,
    stopped: [],
  };

  async function post(pageId: string, token: string): Promise<GraphError | null> {
    try {
      await deps.graph.postToFeed(pageId, token, `post ${report.posts}`, deps.app);
      return null;
    } catch (err) {
      if (err instanceof GraphError) return err;
      throw err;
    }
  }

  async function postTo(pageId: string): Promise<void> {
    if (stopped.has(pageId)) return;
    report.posts++;
    let token = tokens.get(pageId) ?? (await deps.keeper.getPageToken(pageId));
    tokens.set(pageId, token);
    let failed = await post(pageId, token);
    if (failed?.fbCode === 190) {
      report.refreshes++;
      try {
        const r = await deps.keeper.refreshPageToken(pageId, {
          code: failed.fbCode,
          error_subcode: failed.fbSubcode,
          fbtrace_id: failed.fbtraceId,
          message: failed.message,
        });
        if (r.verdict === 'healed') report.healed_on_demand++;
        token = r.access_token;
        tokens.set(pageId, token);
        failed = await post(pageId, token);
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        if (err.code === 'needs_reauth') stopped.add(pageId);
      }
    }
    if (failed) report.failed_posts++;
  }

  return {
    /** One round of posts: every Page the app still posts to. */
    async postAll(pageIds: readonly string[]): Promise<void> {
      for (const id of pageIds) await postTo(id);
    },
    report(): PostingAppReport {
      return { ...report, stopped: [...stopped] };
    },
  };
}
