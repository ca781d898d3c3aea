/** Instagram-Login and Threads answers → GraphError kinds, on each platform's terms (src/platforms/errors.ts). */
import { describe, expect, it } from 'vitest';
import { classifyPlatformError, type RefreshablePlatformName } from '../../src/platforms/errors.js';

const envelope = (e: Record<string, unknown>) => ({
  error: { type: 'OAuthException', fbtrace_id: 'Atrace', ...e },
});
const ctx = (tokenCall = true) => ({ endpoint: 'me', secrets: ['SECRET-TOKEN'], tokenCall });

describe('classifyPlatformError', () => {
  it.each<[string, RefreshablePlatformName, unknown, number, boolean, string, string, RegExp | null]>([
    // [what, platform, body, status, tokenCall, kind, code, humanMessage]
    [
      'Threads: a dead token answers 100 "does not exist"',
      'threads',
      envelope({ code: 100, message: 'The requested resource does not exist' }),
      400,
      true,
      'needs_reauth',
      'graph_token_invalid',
      /Threads no longer accepts/,
    ],
    [
      'Threads: the same 100 on a call not made with the token is a bad request',
      'threads',
      envelope({ code: 100, message: 'The requested resource does not exist' }),
      400,
      false,
      'invalid_request',
      'graph_invalid_request',
      null,
    ],
    [
      'Threads: a Facebook app id (4476002)',
      'threads',
      envelope({ code: 100, message: 'No app ID was provided in the request.', error_code: 4476002 }),
      400,
      false,
      'invalid_request',
      'threads_app_id_required',
      null,
    ],
    [
      'Instagram: a checkpoint (190/490) means log in on Instagram',
      'instagram',
      envelope({
        code: 190,
        error_subcode: 490,
        message: 'Error validating access token: The user is enrolled in a blocking, logged-in checkpoint',
      }),
      400,
      true,
      'needs_reauth',
      'graph_token_invalid',
      /log in on Instagram/,
    ],
    [
      'Threads: a checkpoint is Instagram’s',
      'threads',
      envelope({ code: 190, error_subcode: 490, message: 'checkpoint' }),
      400,
      true,
      'needs_reauth',
      'graph_token_invalid',
      /log in on Instagram/,
    ],
    [
      'Instagram: expired (190/463)',
      'instagram',
      envelope({
        code: 190,
        error_subcode: 463,
        message: 'Error validating access token: Session has expired on …',
      }),
      400,
      true,
      'needs_reauth',
      'graph_token_invalid',
      /expired and can no longer be refreshed/,
    ],
    [
      'Instagram: the code endpoint’s flat shape',
      'instagram',
      { error_type: 'OAuthException', code: 400, error_message: 'This authorization code has been used' },
      400,
      false,
      'invalid_request',
      'graph_invalid_request',
      null,
    ],
    [
      'Instagram: a wrong client secret in the flat shape',
      'instagram',
      { error_type: 'OAuthException', code: 400, error_message: 'Invalid client secret' },
      400,
      false,
      'invalid_request',
      'app_credentials_invalid',
      null,
    ],
    [
      'both: a throttle is a throttle',
      'threads',
      envelope({ code: 4, message: '(#4) Application request limit reached', is_transient: true }),
      403,
      true,
      'throttled',
      'graph_rate_limited',
      null,
    ],
    [
      'both: a wrong secret (code 1 "Error validating client secret.")',
      'instagram',
      envelope({ code: 1, message: 'Error validating client secret.' }),
      400,
      true,
      'invalid_request',
      'app_credentials_invalid',
      null,
    ],
    [
      'both: transient code 2',
      'instagram',
      envelope({ code: 2, message: 'An unexpected error has occurred.' }),
      500,
      true,
      'transient',
      'graph_unavailable',
      null,
    ],
    [
      'both: an HTML page',
      'threads',
      '<!DOCTYPE html><html><body>502</body></html>',
      502,
      true,
      'transient',
      'graph_bad_response',
      null,
    ],
  ])('%s', (_what, platform, body, status, tokenCall, kind, code, human) => {
    const e = classifyPlatformError(platform, body, status, undefined, ctx(tokenCall));
    expect(e.kind).toBe(kind);
    expect(e.code).toBe(code);
    if (human) expect(e.humanMessage).toMatch(human);
    else if (kind !== 'needs_reauth') expect(e.humanMessage).toBeNull();
    // The platform's own name, never Facebook's, and no secret.
    expect(e.message).toMatch(platform === 'instagram' ? /^Instagram / : /^Threads /);
    expect(e.message).not.toMatch(/Facebook(?! app id)/);
    expect(e.message).not.toContain('SECRET-TOKEN');
  });
});
