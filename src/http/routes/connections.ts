/** Connection routes: `/api/connections…` (a login and the Pages under it). */
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import type { TokenKeeper } from '../../lifecycle/types.js';
import { ADMIN, errorResponses, SECURITY } from '../route-kit.js';
import {
  connectBody,
  connectionDeleted,
  connectionDetail,
  connectionList,
  connectionParams,
  connectResult,
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
          'Give one user or system-user token: every Page it can post to (or the ones in page_ids) is set up under one connection, checked once per round and healed together.',
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
        security: SECURITY,
        params: connectionParams,
        response: { 200: connectionDetail, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) => keeper.getConnection(request.params.id),
  );

  app.delete(
    '/api/connections/:id',
    {
      config: { scopes: ADMIN },
      schema: {
        tags: ['connections'],
        summary: 'Stop keeping a login and every Page under it',
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
