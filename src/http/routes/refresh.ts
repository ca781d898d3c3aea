/**
 * `POST /api/pages/{page_id}/token/refresh`: a posting app whose call failed with a token error
 * asks for a token that works. The logic (coalescing, the 10-second window, the lease, throttling,
 * history, alerts) is the core's: lifecycle/on-demand.ts.
 */
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import type { TokenKeeper } from '../../lifecycle/types.js';
import { refuseOtherPages } from '../auth.js';
import { errorResponses, SECURITY, TOKEN_READ } from '../route-kit.js';
import { pageParams, tokenRefreshBody, tokenRefreshResult } from '../schemas.js';

export const refreshRoutes: FastifyPluginCallbackZod<{ keeper: TokenKeeper }> = (app, { keeper }, done) => {
  app.post(
    '/api/pages/:page_id/token/refresh',
    {
      config: { scopes: TOKEN_READ },
      schema: {
        tags: ['pages'],
        summary: 'A call with the token failed: check it now, heal it, answer a token that works',
        description:
          'For a posting app whose Graph call came back with an error (190 above all). The body (optional) is the Graph `error` object it got: `{code, error_subcode, fbtrace_id, message}`; it goes into history as `checked_on_demand`, never a token. The keeper checks the Page now under its lease (`debug_token`), re-mints the posting token from the stored login when it died, and answers with the token to use: the same one with `verdict: token_valid` (the error was not the token’s), or a new one with `verdict: healed`. When only a person can help, 409 `needs_reauth` with `details.state`, `details.reason` and `details.reconnect_url` (the alert goes out within the call). Many concurrent calls cause one check; a Page is checked at most once per 10 seconds (calls inside the window reuse that check, `checked_now: false`); while Facebook throttles the app, 429 `graph_rate_limited` with Retry-After, and nothing is called. Needs `token:read`; a key limited to named Pages gets 403 for any other Page.',
        security: SECURITY,
        params: pageParams,
        body: tokenRefreshBody,
        response: {
          200: tokenRefreshResult,
          ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 429, 502, 503),
        },
      },
    },
    async (request, reply) => {
      const pageId = request.params.page_id;
      // Before any lookup, so a limited key cannot even learn which other Pages exist.
      if (request.apiKey) refuseOtherPages(request.apiKey, pageId);
      const result = await keeper.refreshPageToken(pageId, request.body ?? null);
      void reply.header('cache-control', 'no-store');
      return result;
    },
  );
  done();
};
