/** Resource routes: `/api/pages…`. */
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import type { PageSettingsPatch, TokenKeeper } from '../../lifecycle/types.js';
import { refuseOtherPages } from '../auth.js';
import { ADMIN, errorResponses, SECURITY, TOKEN_READ } from '../route-kit.js';
import {
  checkReport,
  deleteResult,
  historyList,
  historyQuery,
  pageCheckBody,
  pageList,
  pageParams,
  pageRenewBody,
  pageStatus,
  patchPageBody,
  renewResult,
  tokenResponse,
} from '../schemas.js';

const DEFAULT_HISTORY_LIMIT = 50;

export const pageRoutes: FastifyPluginCallbackZod<{ keeper: TokenKeeper }> = (app, { keeper }, done) => {
  app.get(
    '/api/pages',
    {
      config: { scopes: ADMIN },
      schema: {
        tags: ['pages'],
        summary: 'Every managed page',
        security: SECURITY,
        response: { 200: pageList, ...errorResponses(401, 403, 429) },
      },
    },
    async () => ({ success: true as const, pages: await keeper.listPages() }),
  );

  app.get(
    '/api/pages/:page_id',
    {
      config: { scopes: ADMIN },
      schema: {
        tags: ['pages'],
        summary: 'One page’s status (the same object as /api/token/status)',
        security: SECURITY,
        params: pageParams,
        response: { 200: pageStatus, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) => keeper.status(request.params.page_id),
  );

  app.patch(
    '/api/pages/:page_id',
    {
      config: { scopes: ADMIN },
      schema: {
        tags: ['pages'],
        summary: 'Change a page’s settings: pause/resume, renewal threshold',
        security: SECURITY,
        params: pageParams,
        body: patchPageBody,
        response: { 200: pageStatus, ...errorResponses(400, 401, 403, 404, 413, 415, 429) },
      },
    },
    async (request) => {
      const b = request.body;
      const patch: PageSettingsPatch = {};
      if (b.auto_renew !== undefined) patch.autoRenew = b.auto_renew;
      if (b.renewal_threshold_days !== undefined) patch.renewalThresholdDays = b.renewal_threshold_days;
      return keeper.updatePage(request.params.page_id, patch);
    },
  );

  app.delete(
    '/api/pages/:page_id',
    {
      config: { scopes: ADMIN },
      schema: {
        tags: ['pages'],
        summary: 'Stop managing a page and delete its stored tokens',
        security: SECURITY,
        params: pageParams,
        response: { 200: deleteResult, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      await keeper.deletePage(request.params.page_id);
      return { success: true as const, page_id: request.params.page_id, deleted: true as const };
    },
  );

  app.post(
    '/api/pages/:page_id/renew',
    {
      config: { scopes: ADMIN },
      schema: {
        tags: ['pages'],
        summary: 'Renew this page now (when due, or always with force)',
        security: SECURITY,
        params: pageParams,
        body: pageRenewBody,
        response: { 200: renewResult, ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 429, 502) },
      },
    },
    async (request) => {
      const b = request.body ?? {};
      return keeper.renew(request.params.page_id, { force: b.force === true, dryRun: b.dry_run === true });
    },
  );

  app.post(
    '/api/pages/:page_id/check',
    {
      config: { scopes: ADMIN },
      schema: {
        tags: ['pages'],
        summary: 'Check this page now, as the scheduler does',
        security: SECURITY,
        params: pageParams,
        body: pageCheckBody,
        response: { 200: checkReport, ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429) },
      },
    },
    async (request) =>
      keeper.check({ pageId: request.params.page_id, dryRun: request.body?.dry_run === true }),
  );

  app.get(
    '/api/pages/:page_id/history',
    {
      config: { scopes: ADMIN },
      schema: {
        tags: ['pages'],
        summary: 'The page’s events, newest first (never a token)',
        security: SECURITY,
        params: pageParams,
        querystring: historyQuery,
        response: { 200: historyList, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? DEFAULT_HISTORY_LIMIT;
      const beforeId = request.query.before_id;
      const history = await keeper.history(
        request.params.page_id,
        beforeId === undefined ? { limit } : { limit, beforeId },
      );
      const last = history.at(-1);
      return {
        success: true as const,
        page_id: request.params.page_id,
        history,
        next_before_id: history.length === limit && last ? last.id : null,
      };
    },
  );

  app.get(
    '/api/pages/:page_id/token',
    {
      config: { scopes: TOKEN_READ },
      schema: {
        tags: ['pages'],
        summary: 'The decrypted posting token — only for keys with the token:read scope',
        description:
          'How a posting app gets its token. Needs a key with the `token:read` scope: an `admin` key alone is refused (403), so a leaked dashboard key cannot read tokens. A key limited to named Pages (`api-key create --page-id`) gets 403 for any other Page, before the Page is even looked up. Fetch it again when it stops working or after a `token_rotated` event; do not cache it forever. A token stored by this instance is the next answer; one stored by another instance on the same database is answered within a second.',
        security: SECURITY,
        params: pageParams,
        response: { 200: tokenResponse, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request, reply) => {
      const pageId = request.params.page_id;
      // Before any lookup, so a limited key cannot even learn which other Pages exist.
      if (request.apiKey) refuseOtherPages(request.apiKey, pageId);
      const status = await keeper.status(pageId, { historyLimit: 0 });
      const token = await keeper.getPageToken(pageId);
      void reply.header('cache-control', 'no-store');
      return {
        success: true as const,
        page_id: pageId,
        access_token: token,
        token_type: status.token_type,
        token_valid: status.token_valid,
        expires_at: status.expires_at,
        state: status.state,
      };
    },
  );
  done();
};
