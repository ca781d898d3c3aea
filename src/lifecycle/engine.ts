/**
 * The renewal engine, put together: a job per connection (connection-job.ts: look at a login's
 * source token once, extend it, re-mint its Pages after a rotation), a job per Page (page-job.ts:
 * inspect its posting token, heal or renew it from its connection), and the round that streams
 * connections, then Pages (round.ts). One outcome type for all of it (outcome.ts). What they are
 * given is deps.ts; shared helpers are util.ts: the parts import those, never this file.
 */
import { createConnectionJob } from './connection-job.js';
import type { EngineDeps } from './deps.js';
import { createPageJob } from './page-job.js';
import { createRound } from './round.js';

export type { ProcessOutcome } from './outcome.js';
export type { EngineDeps, Mode, ProcessOptions } from './deps.js';
export { allOrWorstError, newPageFrom, pool, safeError } from './util.js';

export function createEngine(deps: EngineDeps) {
  const connections = createConnectionJob(deps);
  const pages = createPageJob(deps, connections);
  // After a rotation the connection job re-mints every Page through the page job. A Page whose
  // own work is under way in this process (it asked for the look that rotated) re-mints itself
  // when that look comes back (page-job.ts), so it is not waited for here.
  connections.useRemint(async (pageId) => {
    if (pages.busy(pageId)) return;
    await pages.processPage(pageId, { mode: 'renew', remint: true, connectionDone: true });
  });
  const round = createRound(deps, connections, pages);
  return {
    processPage: pages.processPage,
    processConnection: connections.run,
    runRound: round.runRound,
    withState: pages.withState,
    busy: pages.busy,
    /** appId → time before which no call is made for that app (read by lifecycle/on-demand.ts). */
    appThrottledUntil: pages.appThrottledUntil,
  };
}

export type Engine = ReturnType<typeof createEngine>;
