/** Small shared pieces of route definitions: scopes, the security requirement, error responses. */
import type { ApiKeyScope } from '../types.js';
import { errorBody } from './schemas.js';

export const ADMIN: readonly ApiKeyScope[] = ['admin'];
export const TOKEN_READ: readonly ApiKeyScope[] = ['token:read'];
export const SECURITY = [{ bearerAuth: [] }];

const DESCRIPTIONS: Record<number, string> = {
  400: 'Bad input (`validation_failed`, `page_id_required`)',
  401: 'No API key, or an invalid or revoked one (`unauthorized`)',
  403: 'The API key lacks the scope (`forbidden`)',
  404: 'Unknown page, connection or account (`page_not_found`, `connection_not_found`, `account_not_found`)',
  409: 'Conflict (`renewal_in_progress`, `page_exists`, `needs_reauth`: a person must reconnect the Page)',
  413: 'Body larger than the limit (`payload_too_large`)',
  415: 'Body is not JSON (`unsupported_media_type`)',
  422: 'Facebook refused the token (`token_invalid`, `token_wrong_app`, `token_wrong_page`, `missing_permission`, `graph_token_invalid`, …)',
  429: 'Too many invalid API keys from this address (`rate_limited`), or Facebook throttling (`graph_rate_limited`)',
  502: 'Facebook unavailable or answering nonsense (`graph_unavailable`, `graph_bad_response`)',
  503: 'Facebook failing for now: retry after the Retry-After header (`graph_unavailable`, …)',
};

/** Error responses for the OpenAPI document (the error handler sends them; they are not serialised here). */
export function errorResponses<S extends number>(...statuses: S[]): Record<S, typeof errorBody> {
  return Object.fromEntries(
    statuses.map((s) => [s, errorBody.describe(DESCRIPTIONS[s] ?? 'Error')]),
  ) as Record<S, typeof errorBody>;
}
