/** Connection routes: `/api/connections…` (a login and the Pages under it). */
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import type { TokenKeeper } from '../../lifecycle/types.js';
import { ADMIN, errorResponses, SECURITY, TOKEN_READ } from '../route-kit.js';
import { AppError } from '../../errors.js';
import {
  connectBody,
  connectionDeleted,
  connectionDetail,
  connectionList,
  connectionParams,
  connectResult,
  connectionToken,
} from '../schemas.js';

export const connectionRoutes: FastifyPluginCallbackZod<{ keeper: TokenKeeper }> = (
  app,
  { keeper },
  done,
) => {
  app.post(
    '/api/connections',
    {
      config: { scopes: ADMIN },
      schema: {
        tags: ['connections'],
        summary: 'Set up a login and its Pages together',
        description:
          'A connection is one Facebook login (a user or system-user token) for one app, with the Pages it manages under it. Give the token once: every Page it can post to (or the ones in page_ids) is set up under one connection, checked once per round and healed together. Pages the login manages but cannot post to, or that were not ticked in the Login dialog, come back in not_set_up with why (never dropped silently). A short-lived user token is made long-lived once, for all the Pages.',
        security: SECURITY,
        body: connectBody,
        response: { 201: connectResult, ...errorResponses(400, 401, 403, 413, 415, 422, 429, 502) },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const result = await keeper.connect({
        accessToken: b.access_token,
        appId: b.app_id,
        appSecret: b.app_secret,
        ...(b.platform !== undefined ? { platform: b.platform } : {}),
        ...(b.page_ids !== undefined ? { pageIds: b.page_ids } : {}),
      });
      return reply.code(201).send(result);
    },
  );

  app.get(
    '/api/connections',
    {
      config: { scopes: ADMIN },
      schema: {
        tags: ['connections'],
        summary: 'Every login kept, with its Pages’ ids',
        description:
          'Each login with its token’s facts (type, expiry or never, data-access expiry, last check, extension blocked) and state: healthy; expiring (Facebook will not extend it any further: reconnect before it expires); needs_reauth (Facebook no longer accepts it, e.g. after a password change: reconnect_url is one link that heals every Page under it). Pages set up from a bare Page token have no connection.',
        security: SECURITY,
        response: { 200: connectionList, ...errorResponses(401, 403, 429) },
      },
    },
    async () => ({ success: true as const, connections: await keeper.listConnections() }),
  );

  app.get(
    '/api/connections/:id',
    {
      config: { scopes: ADMIN },
      schema: {
        tags: ['connections'],
        summary: 'One login: its source token’s facts, its Pages, and Pages available to add',
        description:
          'The login, the status of each of its Pages, and — asked from Facebook now, one call — available_to_add (Pages it can post to that are not kept yet) and not_granted (Pages it has a role on but cannot be kept from it: not ticked in the Login dialog, no posting task, or no longer listed). Both are null when Facebook cannot be asked (e.g. the login is dead).',
        security: SECURITY,
        params: connectionParams,
        response: { 200: connectionDetail, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) => keeper.getConnection(request.params.id),
  );

  app.get(
    '/api/connections/:id/token',
    {
      config: { scopes: TOKEN_READ },
      schema: {
        tags: ['connections'],
        summary: 'The current token of a WhatsApp Cloud API connection (token:read)',
        description:
          'A WhatsApp connection (a system-user token with whatsapp_business_* permissions, kept with no Page) has no Page token to fetch: its sender uses this token itself. A 60-day token changes when it is refreshed; fetch it again daily or when a call with it fails. Any other connection answers 404 (its Pages’ tokens are at /api/accounts). The same token is at GET /api/accounts/whatsapp/{id}/token. A token:read key limited to named accounts gets 403 unless this connection’s id is one of them.',
        security: SECURITY,
        params: connectionParams,
        response: { 200: connectionToken, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request, reply) => {
      const key = request.apiKey;
      if (key && key.pageIds !== null && !key.pageIds.includes(request.params.id)) {
        // Such a key was given for named accounts; this WhatsApp connection is none of them.
        throw new AppError('forbidden', 'this API key may only read the tokens of its named Pages', {
          details: { key_page_ids: key.pageIds },
        });
      }
      const { accessToken, connection } = await keeper.getConnectionToken(request.params.id);
      void reply.header('cache-control', 'no-store');
      return {
        success: true as const,
        id: connection.id,
        access_token: accessToken,
        token_valid: connection.source_valid,
        expires_at: connection.source_expires_at,
        scopes: connection.scopes,
      };
    },
  );

  app.delete(
    '/api/connections/:id',
    {
      config: { scopes: ADMIN },
      schema: {
        tags: ['connections'],
        summary: 'Stop keeping a login and every Page under it',
        description:
          'Deletes the login’s stored token and every Page under it (their tokens and history); page_ids names them. Nothing is revoked at Facebook.',
        security: SECURITY,
        params: connectionParams,
        response: { 200: connectionDeleted, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) => ({
      success: true as const,
      id: request.params.id,
      deleted: true as const,
      page_ids: await keeper.deleteConnection(request.params.id),
    }),
  );

  done();
};
