/**
 * `/api/accounts`: every posting identity the keeper holds a token for — Facebook Pages
 * (`facebook_page`), Instagram accounts connected with Instagram Login (`instagram`), Threads
 * profiles (`threads`) and WhatsApp Cloud API connections (`whatsapp`, id = the connection's id) —
 * and one way to fetch the current token for each, whatever the platform. An account is looked up
 * by platform and id together: an id kept on another platform is `account_not_found` here.
 * The Page and connection routes stay; these are the same rows seen by platform.
 */
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { AppError } from '../../errors.js';
import type { PageStatus, TokenKeeper, WhatsAppAccountStatus } from '../../lifecycle/types.js';
import { refuseOtherPages } from '../auth.js';
import { errorResponses, SECURITY, TOKEN_READ } from '../route-kit.js';
import {
  accountList,
  accountParams,
  accountToken,
  accountTokenRefreshResult,
  tokenRefreshBody,
} from '../schemas.js';

type AccountPlatform = 'facebook_page' | 'instagram' | 'threads' | 'whatsapp';

const canonical = (p: string): AccountPlatform =>
  p === 'facebook' ? 'facebook_page' : (p as AccountPlatform);

/** Path segment of an account's routes: `facebook` for a Page (the alias reads better in a URL). */
const segment = (p: string) => (p === 'facebook_page' ? 'facebook' : p);

export const accountRoutes: FastifyPluginCallbackZod<{ keeper: TokenKeeper }> = (app, { keeper }, done) => {
  /** The account's status, or 404 when no account of that platform has this id. */
  async function account(platform: AccountPlatform, id: string, historyLimit = 0): Promise<PageStatus> {
    const status = await keeper.status(id, { historyLimit }).catch((e: unknown) => {
      if (e instanceof AppError && e.code === 'page_not_found') throw notFound(platform, id);
      throw e;
    });
    if (status.platform !== platform) throw notFound(platform, id);
    return status;
  }

  async function whatsApp(id: string): Promise<WhatsAppAccountStatus> {
    return keeper.getWhatsAppAccount(id);
  }

  app.get(
    '/api/accounts',
    {
      config: { scopes: [...TOKEN_READ, 'admin'] },
      schema: {
        tags: ['accounts'],
        summary:
          'Every posting identity: Facebook Pages, Instagram accounts, Threads profiles, WhatsApp senders',
        description:
          '`platform` is `facebook_page`, `instagram` (Instagram API with Instagram Login; an Instagram account reached through a Facebook Page posts with that Page’s token and is listed as its Page), `threads` or `whatsapp` (a WhatsApp Cloud API system-user token kept with no Page; `id` is the connection’s id). Each row says where its token is fetched (`token_url`). A `token:read` key limited to named accounts sees only those.',
        security: SECURITY,
        response: { 200: accountList, ...errorResponses(401, 403, 429) },
      },
    },
    async (request) => {
      const key = request.apiKey;
      const [pages, whatsapp] = await Promise.all([keeper.listPages(), keeper.listWhatsAppAccounts()]);
      const allowed = (id: string) => !key?.pageIds || key.pageIds.includes(id);
      return {
        success: true as const,
        accounts: [
          ...pages
            .filter((p) => allowed(p.page_id))
            .map((p) => ({
              platform: p.platform as AccountPlatform,
              id: p.page_id,
              name: p.page_name,
              state: p.state,
              state_message: p.state_message,
              token_valid: p.token_valid,
              expires_at: p.expires_at,
              last_checked_at: p.last_checked_at,
              last_renewed_at: p.last_renewed_at,
              token_url: `/api/accounts/${segment(p.platform)}/${p.page_id}/token`,
            })),
          ...whatsapp
            .filter((a) => allowed(a.id))
            .map((a) => ({
              platform: 'whatsapp' as const,
              id: a.id,
              name: a.name,
              state: a.state,
              state_message: a.state_message,
              token_valid: a.token_valid,
              expires_at: a.expires_at,
              last_checked_at: a.last_checked_at,
              last_renewed_at: a.last_renewed_at,
              token_url: `/api/accounts/whatsapp/${a.id}/token`,
            })),
        ],
      };
    },
  );

  app.get(
    '/api/accounts/:platform/:id/token',
    {
      config: { scopes: TOKEN_READ },
      schema: {
        tags: ['accounts'],
        summary: 'The current posting token of one account, on any platform (token:read)',
        description:
          'The same for every platform: a Facebook Page’s Page token, or the Instagram-Login or Threads token the keeper refreshes (its string may change at a refresh: fetch it again after `token_rotated`, or when a call with it fails). Needs `token:read`; a key limited to named accounts gets 403 for any other, before the account is looked up.',
        security: SECURITY,
        params: accountParams,
        response: { 200: accountToken, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request, reply) => {
      const platform = canonical(request.params.platform);
      const { id } = request.params;
      if (request.apiKey) refuseOtherPages(request.apiKey, id);
      void reply.header('cache-control', 'no-store');
      if (platform === 'whatsapp') {
        const wa = await whatsApp(id);
        const { accessToken } = await keeper.getConnectionToken(id);
        return {
          success: true as const,
          platform,
          id,
          access_token: accessToken,
          token_valid: wa.token_valid,
          expires_at: wa.expires_at,
          state: wa.state,
        };
      }
      const status = await account(platform, id);
      const token = await keeper.getPageToken(id);
      void reply.header('cache-control', 'no-store');
      return {
        success: true as const,
        platform,
        id,
        access_token: token,
        token_valid: status.token_valid,
        expires_at: status.expires_at,
        state: status.state,
      };
    },
  );

  app.post(
    '/api/accounts/:platform/:id/token/refresh',
    {
      config: { scopes: TOKEN_READ },
      schema: {
        tags: ['accounts'],
        summary: 'A call with the token failed: check it now and answer a token that works',
        description:
          'As `POST /api/pages/{page_id}/token/refresh`, for any platform. An Instagram or Threads token is looked at now (Instagram `/me`, Threads `debug_token`; Threads answers a dead token with code 100, which counts as dead), refreshed when due, and answered; when only a person can help (expired, checkpoint, access removed), 409 `needs_reauth` with the reconnect link through the platform’s own dialog.',
        security: SECURITY,
        params: accountParams,
        body: tokenRefreshBody,
        response: {
          200: accountTokenRefreshResult,
          ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 429, 502, 503),
        },
      },
    },
    async (request, reply) => {
      const platform = canonical(request.params.platform);
      const { id } = request.params;
      if (request.apiKey) refuseOtherPages(request.apiKey, id);
      if (platform === 'whatsapp') {
        await whatsApp(id);
        throw new AppError(
          'validation_failed',
          'a WhatsApp system-user token is checked every round and cannot be refreshed on request: fetch it again with GET /api/accounts/whatsapp/{id}/token, and see its state in GET /api/accounts',
          { details: { fields: [{ field: 'platform', message: 'not for whatsapp' }] } },
        );
      }
      await account(platform, id);
      const result = await keeper.refreshPageToken(id, request.body ?? null);
      void reply.header('cache-control', 'no-store');
      return { ...result, platform };
    },
  );
  done();
};

function notFound(platform: AccountPlatform, id: string): AppError {
  return new AppError('account_not_found', `no ${platform} account ${id} is managed here`, {
    details: { platform, id },
  });
}
