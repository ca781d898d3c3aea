/**
 * zod schemas for the Graph responses we read (docs/FACEBOOK.md#the-calls-the-keeper-makes, #sample-answers). Lenient where Facebook is
 * known to vary (ids as numbers in old samples, `expires` vs `expires_in`), strict on what we rely on.
 */
import { z } from 'zod';

/** Ids are strings, but older samples (docs/FACEBOOK.md#sample-answers, S6) show them as numbers. */
const id = z.union([z.string().min(1), z.number()]).transform(String);
/** Unix seconds; some proxies/SDKs stringify them. */
const seconds = z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]);

/** docs/FACEBOOK.md#debug_token. The invalid-token form is a 200 with `is_valid:false` and `error` inside `data`. */
export const debugTokenSchema = z.object({
  data: z.object({
    app_id: id.optional(),
    type: z.string().optional(),
    application: z.string().optional(),
    data_access_expires_at: seconds.optional(),
    expires_at: seconds.optional(),
    issued_at: seconds.optional(),
    is_valid: z.boolean(),
    scopes: z.array(z.string()).optional(),
    granular_scopes: z.array(z.object({ scope: z.string(), target_ids: z.array(id).optional() })).optional(),
    user_id: id.optional(),
    profile_id: id.optional(),
    // Note the key is `subcode` here, not `error_subcode` (docs/FACEBOOK.md#debug_token).
    error: z
      .object({
        code: z.number().int(),
        message: z.string().optional(),
        subcode: z.number().int().optional(),
      })
      .optional(),
  }),
});

/** docs/FACEBOOK.md#exchanging-for-a-long-lived-token: `expires_in` since v2.3, `expires` before it, and sometimes neither. */
export const accessTokenSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: seconds.optional(),
  expires: seconds.optional(),
});

/** docs/FACEBOOK.md#rotating-an-expiring-system-user-token: `{"success":"true"}` (a string in Meta's sample). */
export const revokeSchema = z.object({ success: z.union([z.literal('true'), z.literal(true)]) });

/** docs/FACEBOOK.md#minting-the-page-token option 2. `access_token` is checked by the caller: its absence means "no role", not a bad shape. */
export const pageSchema = z.object({
  id,
  name: z.string().optional(),
  access_token: z.string().min(1).optional(),
});

/** docs/FACEBOOK.md#minting-the-page-token option 1, with cursor paging. */
export const accountsSchema = z.object({
  data: z.array(
    z.object({
      id,
      name: z.string().optional(),
      access_token: z.string().min(1).optional(),
      tasks: z.array(z.string()).optional(),
    }),
  ),
  paging: z
    .object({
      next: z.string().optional(),
      cursors: z.object({ before: z.string().optional(), after: z.string().optional() }).optional(),
    })
    .optional(),
});

/** docs/FACEBOOK.md#who-a-token-belongs-to-me. */
export const meSchema = z.object({ id, name: z.string().optional() });

/** docs/FACEBOOK.md#posting: `{"id": "page_post_id"}`. */
export const postSchema = z.object({ id });

/**
 * A batch answer (https://developers.facebook.com/docs/graph-api/batch-requests): one entry per
 * item, `{code, headers:[{name,value}], body:"<JSON text>"}`, or null for an item Facebook did not run.
 */
export const batchAnswerSchema = z.array(
  z
    .object({
      code: z.number(),
      headers: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
      body: z.string().nullable().optional(),
    })
    .nullable(),
);
