/**
 * The seed document's four endpoints, with its exact paths and bodies (`seed/TOKEN_RENEWAL_SYSTEM.md`).
 * `POST /api/token/renew` also works with no body at all, as the seed's example sends it.
 */
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import type { TokenKeeper } from '../../lifecycle/types.js';
import { ADMIN, errorResponses, SECURITY } from '../route-kit.js';
import {
  pageStatus,
  renewBody,
  renewResult,
  setupBody,
  setupResponse,
  statusQuery,
  validateBody,
  validateResult,
} from '../schemas.js';

export const tokenRoutes: FastifyPluginCallbackZod<{ keeper: TokenKeeper }> = (app, { keeper }, done) => {
  app.get(
    '/api/token/status',
    {
      config: { scopes: ADMIN },
      schema: {
        tags: ['seed'],
        summary: 'Token status, expiry, renewal need and recent history',
        description:
          '`page_id` may be left out while exactly one page is managed (else 400 `page_id_required`).',
        security: SECURITY,
        querystring: statusQuery,
        response: { 200: pageStatus, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) => keeper.status(request.query.page_id),
  );

  app.post(
    '/api/token/renew',
    {
      config: { scopes: ADMIN },
      schema: {
        tags: ['seed'],
        summary: 'Renew now (when due, or always with force)',
        description:
          'Renews when the token is due; `force` renews anyway; `dry_run` only says what would happen. A token that never expires is not "renewed": the reason says `never_expires`. Graph failures answer with their code and `fb_code`/`fb_subcode`/`fbtrace_id`.',
        security: SECURITY,
        body: renewBody,
        response: { 200: renewResult, ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 429, 502) },
      },
    },
    async (request) => {
      const body = request.body ?? {};
      return keeper.renew(body.page_id, { force: body.force === true, dryRun: body.dry_run === true });
    },
  );

  app.post(
    '/api/token/setup',
    {
      config: { scopes: ADMIN },
      schema: {
        tags: ['seed'],
        summary: 'Set up (or replace) a Page from any kind of token',
        description:
          'Accepts a short- or long-lived user token, a system-user token or a Page token; exchanges and mints as needed, verifies the posting token (valid, same app, this Page, `pages_manage_posts`) and only then stores it. A token that cannot work is refused with a clear reason and nothing is stored.',
        security: SECURITY,
        body: setupBody,
        response: { 201: setupResponse, ...errorResponses(400, 401, 403, 409, 413, 415, 422, 429, 502) },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const r = await keeper.setup({
        pageId: b.page_id,
        accessToken: b.access_token,
        appId: b.app_id,
        appSecret: b.app_secret,
      });
      void reply.code(201);
      return {
        ...r.status,
        notes: r.notes,
        input_token_type: r.input_token_type,
        input_token_lifetime: r.input_token_lifetime,
      };
    },
  );

  app.post(
    '/api/token/validate',
    {
      config: { scopes: ADMIN },
      schema: {
        tags: ['seed'],
        summary: 'What Facebook says about a token (debug_token)',
        description:
          'Inspects `access_token` (or, when left out, the stored posting token of `page_id`) with the app of `page_id` (or the only managed page; or, with `access_token`, the app every managed page uses; or `app_id` + `app_secret`; several apps answer 400 `page_id_required`). An invalid token is a 200 with `valid: false` and `error`.',
        security: SECURITY,
        body: validateBody,
        response: { 200: validateResult, ...errorResponses(400, 401, 403, 404, 413, 415, 422, 429, 502) },
      },
    },
    async (request) => {
      const b = request.body ?? {};
      return keeper.validate({
        ...(b.access_token !== undefined ? { accessToken: b.access_token } : {}),
        ...(b.page_id !== undefined ? { pageId: b.page_id } : {}),
        ...(b.app_id !== undefined ? { appId: b.app_id } : {}),
        ...(b.app_secret !== undefined ? { appSecret: b.app_secret } : {}),
      });
    },
  );
  done();
};
