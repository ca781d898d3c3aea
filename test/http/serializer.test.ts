/**
 * The compiled response serialisers (src/http/serializer.ts) write what zod wrote, and only that:
 * a field outside the schema (a token added by mistake) never leaves; a missing required field is
 * still an error; a schema outside the plain subset keeps zod. Every route test through
 * `withApi` also compares the two on each real answer (`checkResponses`).
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createSerializerCompiler, plainSchema } from '../../src/http/serializer.js';
import { pageStatus, tokenResponse } from '../../src/http/schemas.js';
import type { PageStatus } from '../../src/lifecycle/types.js';

const compile = (schema: z.ZodType, check = false) =>
  createSerializerCompiler({ check })({ schema, method: 'GET', url: '/x', httpStatus: '200' });

const zodWrites = (schema: z.ZodType, data: unknown) => JSON.stringify(z.encode(schema, data));

const STATUS: PageStatus = {
  success: true,
  page_id: '123',
  page_name: 'Bakery "Ünïcode" \u2028',
  platform: 'facebook',
  app_id: '456',
  state: 'needs_reauth',
  state_reason: 'password_changed',
  state_message: 'a person must reconnect',
  token_valid: false,
  token_type: 'PAGE',
  expires_at: null,
  days_until_expiry: 12.5,
  data_access_expires_at: '2027-01-01T00:00:00.000Z',
  source_token_type: null,
  source_expires_at: null,
  source_valid: null,
  self_healing_until: null,
  scopes: ['pages_manage_posts'],
  missing_scopes: [],
  last_checked_at: '2026-12-01T00:00:00.000Z',
  next_check_at: null,
  last_renewed_at: null,
  auto_renew: true,
  renewal_needed: false,
  renewal_reason: 'never_expires',
  renewal_threshold_days: 7,
  graph_api_version: 'v23.0',
  last_error: {
    code: 'graph_token_invalid',
    message: 'Error validating access token',
    fb_code: 190,
    fb_subcode: 460,
    fbtrace_id: null,
    at: '2026-12-01T00:00:00.000Z',
  },
  reconnect_url: 'https://keeper.example/reconnect/abc',
  history: [
    {
      id: 9,
      at: '2026-12-01T00:00:00.000Z',
      type: 'check',
      reason: null,
      state_from: 'healthy',
      state_to: null,
      message: null,
      details: { posting: { valid: true, expires_at: null, list: [1, 'a', null] }, n: 0.1 },
    },
  ],
};

describe('compiled response serialisers', () => {
  it('write the same JSON as zod for a status with every kind of field, null and not', () => {
    const write = compile(pageStatus);
    expect(JSON.parse(write(STATUS))).toEqual(JSON.parse(zodWrites(pageStatus, STATUS)));
    const clean = { ...STATUS, last_error: null, reconnect_url: null, history: [], days_until_expiry: null };
    expect(JSON.parse(write(clean))).toEqual(JSON.parse(zodWrites(pageStatus, clean)));
    // `check` compares both on every call and passes them through when they agree.
    expect(JSON.parse(compile(pageStatus, true)(STATUS))).toEqual(STATUS);
  });

  it('never write a field the schema does not name, at the top or nested', () => {
    const leaky = {
      ...STATUS,
      access_token: 'EAAleaked',
      last_error: { ...STATUS.last_error, sourceToken: 'EAAleaked2' },
      history: [{ ...STATUS.history[0], token: 'EAAleaked3' }],
    };
    const text = compile(pageStatus)(leaky);
    expect(text).not.toContain('EAAleaked');
    expect(JSON.parse(text)).toEqual(STATUS);
    // The token answer writes its token, and nothing else that is not in its schema.
    const answer = {
      success: true,
      page_id: '1',
      access_token: 'EAAposting',
      token_type: 'PAGE',
      token_valid: true,
      expires_at: null,
      state: 'healthy',
    };
    const written = compile(tokenResponse)({ ...answer, appSecret: 'leaked' });
    expect(JSON.parse(written)).toEqual(answer);
  });

  it('refuse a body that lacks a required field, as zod did', () => {
    const { state: _state, ...noState } = STATUS;
    expect(() => compile(pageStatus)(noState)).toThrow(/state/);
  });

  it('keep zod for a schema outside the plain subset (a union), and it still checks', () => {
    const union = z.object({ v: z.union([z.object({ a: z.string() }), z.object({ b: z.number() })]) });
    expect(plainSchema(z.toJSONSchema(union, { io: 'output' }))).toBeNull();
    const write = compile(union);
    expect(write({ v: { b: 3 }, extra: 'x' })).toBe('{"v":{"b":3}}');
    expect(() => write({ v: true })).toThrow();
    // A plain schema is compiled; an integer is written as given (never truncated).
    expect(plainSchema(z.toJSONSchema(z.object({ n: z.number().int() }), { io: 'output' }))).toEqual({
      type: 'object',
      properties: { n: { type: 'number' } },
      required: ['n'],
    });
  });
});
