/**
 * Request and response schemas of the HTTP API (zod 4). They validate every body, query and path
 * parameter, serialise every response (unknown keys are stripped on the way out, so a field added
 * to a core object by mistake cannot leak), and produce the OpenAPI document.
 *
 * Unknown fields in bodies and query strings are rejected (400 `validation_failed` naming the
 * field), never silently ignored: a typo such as `{"forse": true}` must not quietly do nothing.
 */
import { z } from 'zod';
import type {
  CheckReport,
  HistoryItem,
  PageStatus,
  RenewResult,
  SetupResult,
  ValidateResult,
} from '../lifecycle/types.js';
import type { TokenRefreshResult } from '../lifecycle/on-demand.js';
import { PAGE_STATES } from '../types.js';
import { OUTCOMES } from '../lifecycle/outcome.js';

// --- building blocks --------------------------------------------------------------------------

/**
 * Facebook ids are decimal strings that can exceed 2^53, so they are accepted as strings only:
 * a JSON number would already have lost digits before we see it.
 */
export const facebookId = (what: string) =>
  z
    .string({
      error: (iss) =>
        iss.input === undefined
          ? `${what} is required`
          : `${what} must be a string of digits (put it in quotes)`,
    })
    .regex(/^[0-9]{1,32}$/, `${what} must be a string of 1 to 32 digits`);

/** A token or secret: one line of printable characters, no spaces. Never echoed in messages. */
const secretString = (what: string, max: number) =>
  z
    .string({
      error: (iss) => (iss.input === undefined ? `${what} is required` : `${what} must be a string`),
    })
    .min(1, `${what} must not be empty`)
    .max(max, `${what} must be at most ${max} characters`)
    .regex(/^[\x21-\x7e]+$/, `${what} must not contain spaces or control characters`);

const bool = (what: string) => z.boolean({ error: `${what} must be true or false` });

const isoTime = z.string().describe('ISO 8601 time');
const isoOrNever = isoTime.nullable().describe('ISO 8601 time; null = never');
const tokenType = z.enum(['USER', 'PAGE', 'SYSTEM_USER', 'APP', 'UNKNOWN']);
const pageState = z.enum(PAGE_STATES);

// --- requests ---------------------------------------------------------------------------------
// Optional bodies are `nullish`: Fastify hands a missing body to the validator as null, and the
// seed's `POST /api/token/renew` is sent with no body at all.
// ---------------------------------------------------------------------------------

export const pageParams = z.strictObject({ page_id: facebookId('page_id') });

export const statusQuery = z.strictObject({
  page_id: facebookId('page_id').optional().describe('May be left out while exactly one page is managed.'),
});

export const renewBody = z
  .strictObject({
    page_id: facebookId('page_id').optional().describe('May be left out while exactly one page is managed.'),
    force: bool('force').optional().describe('Renew even when the token is not due.'),
    dry_run: bool('dry_run').optional().describe('Say what would happen; change nothing.'),
  })
  .nullish();

export const pageRenewBody = z
  .strictObject({
    force: bool('force').optional(),
    dry_run: bool('dry_run').optional(),
  })
  .nullish();

export const pageCheckBody = z.strictObject({ dry_run: bool('dry_run').optional() }).nullish();

export const setupBody = z.strictObject({
  page_id: facebookId('page_id'),
  access_token: secretString('access_token', 4096).describe(
    'Any kind of token: short- or long-lived user token, system-user token, or Page token.',
  ),
  app_id: facebookId('app_id'),
  app_secret: secretString('app_secret', 256),
});

export const validateBody = z
  .strictObject({
    access_token: secretString('access_token', 4096)
      .optional()
      .describe('Left out: the stored posting token of page_id.'),
    page_id: facebookId('page_id')
      .optional()
      .describe('Whose app inspects the token; may be left out while one page is managed.'),
    app_id: facebookId('app_id')
      .optional()
      .describe('Inspect with this app instead of a managed page’s (give app_secret too).'),
    app_secret: secretString('app_secret', 256).optional(),
  })
  .refine((b) => (b.app_id === undefined) === (b.app_secret === undefined), {
    error: 'app_id and app_secret go together: give both or neither',
    path: ['app_secret'],
  })
  .nullish();

export const patchPageBody = z
  .strictObject({
    auto_renew: bool('auto_renew').optional().describe('false pauses the page (state `paused`).'),
    renewal_threshold_days: z
      .number({ error: 'renewal_threshold_days must be a number of days, or null for the default' })
      .min(0, 'renewal_threshold_days must be 0 or more')
      .max(365, 'renewal_threshold_days must be at most 365')
      .nullable()
      .optional()
      .describe('Per-page override of RENEWAL_THRESHOLD_DAYS; null returns to the default.'),
  })
  .refine((b) => b.auto_renew !== undefined || b.renewal_threshold_days !== undefined, {
    error: 'nothing to change: give auto_renew and/or renewal_threshold_days',
  });

const intParam = (what: string, min: number, max: number) =>
  z.coerce
    .number({ error: `${what} must be a whole number` })
    .int(`${what} must be a whole number`)
    .min(min, `${what} must be at least ${min}`)
    .max(max, `${what} must be at most ${max}`);

export const historyQuery = z.strictObject({
  limit: intParam('limit', 1, 500).optional().describe('How many events (default 50, newest first).'),
  before_id: intParam('before_id', 1, Number.MAX_SAFE_INTEGER)
    .optional()
    .describe('Only events older than this id (paging).'),
});

// --- responses --------------------------------------------------------------------------------

export const historyItem = z.object({
  id: z.number().int(),
  at: isoTime,
  type: z.string(),
  reason: z.string().nullable(),
  state_from: pageState.nullable(),
  state_to: pageState.nullable(),
  message: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
});

export const pageStatus = z.object({
  success: z.literal(true),
  page_id: z.string(),
  page_name: z.string().nullable(),
  platform: z.string(),
  app_id: z.string(),
  state: pageState,
  state_reason: z.string().nullable(),
  state_message: z.string().nullable(),
  token_valid: z.boolean(),
  token_type: tokenType,
  expires_at: isoOrNever,
  days_until_expiry: z.number().nullable().describe('null = never expires'),
  data_access_expires_at: isoOrNever,
  source_token_type: tokenType.nullable(),
  source_expires_at: isoOrNever,
  source_valid: z.boolean().nullable(),
  self_healing_until: isoOrNever,
  scopes: z.array(z.string()),
  missing_scopes: z.array(z.string()),
  last_checked_at: isoOrNever,
  next_check_at: isoOrNever,
  last_renewed_at: isoOrNever,
  auto_renew: z.boolean(),
  renewal_needed: z.boolean(),
  renewal_reason: z.string(),
  renewal_threshold_days: z.number(),
  graph_api_version: z.string(),
  last_error: z
    .object({
      code: z.string(),
      message: z.string(),
      fb_code: z.number().nullable(),
      fb_subcode: z.number().nullable(),
      fbtrace_id: z.string().nullable(),
      at: isoTime,
    })
    .nullable(),
  reconnect_url: z.string().nullable(),
  history: z.array(historyItem),
});

export const setupResponse = pageStatus.extend({
  notes: z.array(z.string()).describe('What kind of token was given and what will happen.'),
  input_token_type: tokenType,
  input_token_lifetime: z.enum(['short', 'long', 'never', 'unknown']),
});

export const pageList = z.object({ success: z.literal(true), pages: z.array(pageStatus) });

export const renewResult = z.object({
  success: z.literal(true),
  page_id: z.string(),
  renewed: z.boolean(),
  reason: z.string(),
  message: z.string(),
  dry_run: z.boolean(),
  state: pageState,
  expires_at: isoOrNever,
  previous_expires_at: isoOrNever,
  token_changed: z.boolean(),
});

export const checkReport = z.object({
  success: z.literal(true),
  dry_run: z.boolean(),
  checked: z.number().int(),
  skipped: z.number().int(),
  results: z.array(
    z.object({
      page_id: z.string(),
      action: z.string(),
      reason: z.string(),
      outcome: z.enum(OUTCOMES),
      state_before: pageState,
      state_after: pageState,
      message: z.string().nullable(),
    }),
  ),
  not_checked: z.array(
    z.object({
      page_id: z.string(),
      reason: z.string(),
      state: pageState,
      next_check_at: isoOrNever,
    }),
  ),
  needs_person: z.array(z.string()),
  could_not_check: z
    .array(z.object({ page_id: z.string(), code: z.string(), message: z.string() }))
    .describe('Pages the round could not work on at all (e.g. their secrets do not open), with why.'),
});

export const validateResult = z.object({
  success: z.literal(true),
  valid: z.boolean(),
  type: tokenType,
  app_id: z.string().nullable(),
  profile_id: z.string().nullable(),
  user_id: z.string().nullable(),
  expires_at: isoOrNever,
  data_access_expires_at: isoOrNever,
  scopes: z.array(z.string()),
  missing_scopes: z.array(z.string()),
  error: z
    .object({ code: z.number(), subcode: z.number().nullable(), message: z.string(), reason: z.string() })
    .nullable(),
});

export const historyList = z.object({
  success: z.literal(true),
  page_id: z.string(),
  history: z.array(historyItem),
  next_before_id: z
    .number()
    .int()
    .nullable()
    .describe('Pass as before_id for the next page; null = no more.'),
});

export const deleteResult = z.object({
  success: z.literal(true),
  page_id: z.string(),
  deleted: z.literal(true),
});

export const tokenResponse = z.object({
  success: z.literal(true),
  page_id: z.string(),
  access_token: z
    .string()
    .describe('The decrypted posting token (a Page token). Fetch it again after `token_rotated`.'),
  token_type: tokenType,
  token_valid: z.boolean(),
  expires_at: isoOrNever,
  state: pageState,
});

export const errorBody = z
  .object({
    success: z.literal(false),
    error: z.looseObject({
      code: z.string().describe('Stable snake_case code (README: error codes).'),
      message: z.string(),
      fb_code: z.number().nullable().optional(),
      fb_subcode: z.number().nullable().optional(),
      fbtrace_id: z.string().nullable().optional(),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .describe('Error envelope');

export const healthBody = z.object({ ok: z.literal(true) });
export const readyBody = z.object({
  ok: z.boolean(),
  checks: z.record(z.string(), z.object({ ok: z.boolean(), message: z.string().optional() })),
});

// --- the schemas must describe exactly what the core returns ----------------------------------

type Equal<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
export type SchemaChecks = [
  Assert<Equal<z.infer<typeof pageStatus>, PageStatus>>,
  Assert<Equal<z.infer<typeof historyItem>, HistoryItem>>,
  Assert<Equal<z.infer<typeof renewResult>, RenewResult>>,
  Assert<Equal<z.infer<typeof checkReport>, CheckReport>>,
  Assert<Equal<z.infer<typeof validateResult>, ValidateResult>>,
  Assert<Equal<Omit<z.infer<typeof setupResponse>, keyof PageStatus>, Omit<SetupResult, 'status'>>>,
];

// --- heal on demand (lifecycle/on-demand.ts) ------------------------------------------------

const graphInt = (what: string) =>
  z.number({ error: `${what} must be a number` }).int(`${what} must be an integer`);

/** The Graph error the posting app got: Facebook's `error` object (its `type` is accepted too). */
export const tokenRefreshBody = z
  .strictObject({
    code: graphInt('code').nullish().describe('`error.code`, e.g. 190'),
    error_subcode: graphInt('error_subcode').nullish().describe('`error.error_subcode`, e.g. 460'),
    fbtrace_id: z
      .string({ error: 'fbtrace_id must be a string' })
      .max(100, 'fbtrace_id must be at most 100 characters')
      .nullish(),
    message: z
      .string({ error: 'message must be a string' })
      .max(2000, 'message must be at most 2000 characters')
      .nullish(),
    type: z
      .string({ error: 'type must be a string' })
      .max(100, 'type must be at most 100 characters')
      .nullish(),
  })
  .nullish();

export const tokenRefreshResult = z.object({
  success: z.literal(true),
  page_id: z.string(),
  access_token: z
    .string()
    .describe('The current valid posting token: the same one, or a new one after a heal.'),
  verdict: z
    .enum(['token_valid', 'healed', 'renewed'])
    .describe(
      '`token_valid`: the token is fine, so the error was not the token’s; `healed`: a new token was minted.',
    ),
  token_changed: z.boolean(),
  checked_now: z
    .boolean()
    .describe('false: answered from a check less than 10 seconds old, without calling Facebook.'),
  checked_at: isoTime.nullable(),
  recheck_after: isoTime,
  message: z.string(),
  state: pageState,
  token_type: tokenType,
  expires_at: isoOrNever,
});

/** Like the checks above, for the refresh route's answer. */
export type TokenRefreshSchemaCheck = Assert<Equal<z.infer<typeof tokenRefreshResult>, TokenRefreshResult>>;
// --- connections ------------------------------------------------------------------------------

export const connectionParams = z.strictObject({
  id: z
    .string()
    .regex(
      /^[a-z]+_[0-9A-Za-z-]{1,64}_[0-9A-Za-z-]{1,64}$/,
      'id must be a connection id (from GET /api/connections)',
    ),
});

export const connectBody = z.strictObject({
  access_token: secretString('access_token', 4096).describe(
    'A user token (short- or long-lived) or a system-user token: the login whose Pages are kept.',
  ),
  app_id: facebookId('app_id'),
  app_secret: secretString('app_secret', 256),
  platform: z
    .enum(['facebook', 'instagram', 'threads'], { error: 'platform must be facebook, instagram or threads' })
    .optional()
    .describe(
      'facebook (default): a user or system-user token and its Pages. instagram: an Instagram-Login token (Instagram API with Instagram Login) with its Instagram app id and secret. threads: a Threads token with the Threads app id and secret. A short-lived token is exchanged.',
    ),
  page_ids: z
    .array(facebookId('page_ids[]'))
    .min(1, 'page_ids must name at least one Page (leave it out for every Page)')
    .max(1000)
    .optional()
    .describe('Without: every Page the token manages with a posting task.'),
});

export const connectionView = z.object({
  id: z.string(),
  platform: z.string(),
  app_id: z.string(),
  user_id: z.string(),
  user_name: z.string().nullable(),
  state: z.enum(['healthy', 'expiring', 'needs_reauth']),
  source_token_type: tokenType,
  source_valid: z.boolean(),
  source_expires_at: isoOrNever,
  data_access_expires_at: isoOrNever,
  scopes: z.array(z.string()),
  last_checked_at: isoTime.nullable(),
  next_check_at: isoTime.nullable(),
  last_error: z.object({ code: z.string(), message: z.string(), at: isoTime }).nullable(),
  extension_blocked_until: isoTime
    .nullable()
    .describe(
      'Extending the login’s token was found not to move its expiry: not tried again before this time (null: not blocked).',
    ),
  page_ids: z.array(z.string()),
  reconnect_url: z.string().nullable(),
});

export const connectionList = z.object({ success: z.literal(true), connections: z.array(connectionView) });

export const connectionDetail = connectionView.extend({
  success: z.literal(true),
  pages: z.array(pageStatus),
  available_to_add: z
    .array(z.object({ page_id: z.string(), name: z.string().nullable() }))
    .nullable()
    .describe('Pages this login can post to that are not kept yet; null when Facebook could not be asked.'),
  not_granted: z
    .array(
      z.object({
        page_id: z.string(),
        name: z.string().nullable(),
        reason: z.enum(['not_selected', 'no_posting_task', 'not_listed']),
        managed: z.boolean(),
      }),
    )
    .nullable()
    .describe(
      'Pages the login cannot be kept from, with why: not_selected (not ticked in the Login dialog: reconnect and tick it), no_posting_task (the person has no CREATE_CONTENT, MANAGE or MODERATE task on it), not_listed (a kept Page Facebook no longer lists for this login). null when Facebook could not be asked.',
    ),
});

export const connectResult = z.object({
  success: z.literal(true),
  connection: connectionView,
  pages: z.array(pageStatus),
  not_set_up: z.array(
    z.object({ page_id: z.string(), name: z.string().nullable(), code: z.string(), message: z.string() }),
  ),
});

export const connectionDeleted = z.object({
  success: z.literal(true),
  id: z.string(),
  deleted: z.literal(true),
  page_ids: z.array(z.string()),
});

// --- /api/accounts: every posting identity (Facebook Pages, Instagram accounts, Threads profiles) ---

/** `facebook` is accepted for `facebook_page` (the platform name status rows carry). */
export const accountParams = z
  .strictObject({
    platform: z
      .enum(['facebook_page', 'facebook', 'instagram', 'threads', 'whatsapp'], {
        error: 'platform must be facebook_page (or facebook), instagram, threads or whatsapp',
      })
      .describe(
        '`facebook_page` (alias `facebook`), `instagram`, `threads` or `whatsapp`: as `platform` in GET /api/accounts.',
      ),
    id: z
      .string()
      .regex(
        /^([0-9]{1,32}|[a-z]+_[0-9A-Za-z-]{1,64}_[0-9A-Za-z-]{1,64})$/,
        'id must be the id from GET /api/accounts',
      )
      .describe(
        'The Page id, Instagram account id or Threads profile id (digits), or a WhatsApp connection’s id (`facebook_<app id>_<system user id>`).',
      ),
  })
  .superRefine((p, ctx) => {
    // Each platform's ids have their own shape: a mismatch is a bad request, not a lookup.
    const digits = /^[0-9]+$/.test(p.id);
    if (p.platform === 'whatsapp' ? digits : !digits) {
      ctx.addIssue({
        code: 'custom',
        path: ['id'],
        message:
          p.platform === 'whatsapp'
            ? 'a whatsapp id is the connection id from GET /api/accounts (facebook_<app id>_<system user id>)'
            : `a ${p.platform} id must be a string of 1 to 32 digits`,
      });
    }
  });

export const accountView = z.object({
  platform: z.enum(['facebook_page', 'instagram', 'threads', 'whatsapp']),
  id: z.string(),
  name: z.string().nullable(),
  state: pageState,
  state_message: z.string().nullable(),
  token_valid: z.boolean(),
  expires_at: isoOrNever,
  last_checked_at: isoOrNever,
  last_renewed_at: isoOrNever,
  /** Where a posting app fetches the token (`token:read`). */
  token_url: z.string(),
});

export const accountList = z.object({ success: z.literal(true), accounts: z.array(accountView) });

export const accountToken = z.object({
  success: z.literal(true),
  platform: z.enum(['facebook_page', 'instagram', 'threads', 'whatsapp']),
  id: z.string(),
  access_token: z
    .string()
    .describe(
      'The decrypted posting token: a Page token, the Instagram-Login or Threads token itself, or the WhatsApp system-user token (the last three change at each refresh while the old string keeps working for a while: fetch it per post or daily, and when a call with it fails).',
    ),
  token_valid: z.boolean(),
  expires_at: isoOrNever,
  state: pageState,
});

export const accountTokenRefreshResult = tokenRefreshResult.extend({
  platform: z.enum(['facebook_page', 'instagram', 'threads']),
});

/** `GET /api/connections/{id}/token`: a WhatsApp connection's current system-user token. */
export const connectionToken = z.object({
  success: z.literal(true),
  id: z.string(),
  access_token: z
    .string()
    .describe(
      'The decrypted WhatsApp system-user token. A 60-day one changes when the keeper refreshes it (the old string stops working SOURCE_REVOKE_GRACE_HOURS later): fetch it again daily or when a call with it fails.',
    ),
  token_valid: z.boolean(),
  expires_at: isoOrNever,
  scopes: z.array(z.string()),
});
