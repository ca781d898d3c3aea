/** WhatsApp Cloud API tokens from what debug_token says (src/platforms/facebook/whatsapp.ts). */
import { describe, expect, it } from 'vitest';
import { DAY, HOUR } from '../../src/clock.js';
import { classifyWhatsAppToken, type WhatsAppTokenFacts } from '../../src/platforms/facebook/whatsapp.js';

const NOW = Date.parse('2027-01-01T00:00:00Z');
const WA = ['whatsapp_business_messaging', 'whatsapp_business_management'];

describe('classifyWhatsAppToken', () => {
  it.each<[string, WhatsAppTokenFacts, ReturnType<typeof classifyWhatsAppToken>['kind'], string | null]>([
    [
      'a non-expiring system-user token: kept, never renewed',
      { type: 'SYSTEM_USER', scopes: WA, expiresAt: null },
      'system_user',
      null,
    ],
    [
      'a 60-day system-user token: kept and refreshed',
      { type: 'SYSTEM_USER', scopes: [...WA, 'business_management'], expiresAt: NOW + 60 * DAY },
      'system_user',
      null,
    ],
    [
      'the API Setup token (a user token, under 24 h): refused',
      { type: 'USER', scopes: WA, expiresAt: NOW + 23 * HOUR },
      'refused',
      'whatsapp_temporary_token',
    ],
    [
      'a system-user token expiring within the day: refused as temporary',
      { type: 'SYSTEM_USER', scopes: WA, expiresAt: NOW + HOUR },
      'refused',
      'whatsapp_temporary_token',
    ],
    [
      'a long-lived user token with WhatsApp scopes: a system user is needed',
      { type: 'USER', scopes: WA, expiresAt: NOW + 60 * DAY },
      'refused',
      'whatsapp_system_user_required',
    ],
    [
      'a Page admin token without WhatsApp scopes: not WhatsApp',
      { type: 'USER', scopes: ['pages_manage_posts'], expiresAt: NOW + HOUR },
      'not_whatsapp',
      null,
    ],
  ])('%s', (_what, facts, kind, code) => {
    const v = classifyWhatsAppToken(facts, NOW);
    expect(v.kind).toBe(kind);
    if (v.kind === 'refused') {
      expect(v.code).toBe(code);
      // The sentence says how to make the right token.
      expect(v.message).toMatch(/System users/);
      expect(v.message).toMatch(/Generate new token/);
      expect(v.message).toMatch(/whatsapp_business_messaging/);
    }
  });

  it('a system-user token needs no Page: only the WhatsApp scopes are reported', () => {
    expect(
      classifyWhatsAppToken({ type: 'SYSTEM_USER', scopes: [...WA, 'public_profile'], expiresAt: null }, NOW),
    ).toEqual({
      kind: 'system_user',
      scopes: WA,
      renewal: 'never',
    });
  });
});
