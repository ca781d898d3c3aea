/**
 * WhatsApp Cloud API tokens, judged from what Facebook's debug_token says (pure; docs/FACEBOOK.md#whatsapp-cloud-api-tokens).
 *
 * A business that sends WhatsApp messages itself uses a **system-user** token with the
 * `whatsapp_business_*` permissions (https://developers.facebook.com/docs/whatsapp/access-tokens):
 * it reaches WhatsApp Business Accounts, not Pages, so a connection needs no Page. It is kept
 * alive like any system-user token: never-expiring, or refreshed every 60 days.
 *
 * The token on the App Dashboard's "API Setup" panel is temporary — it "expires in less than 24
 * hours" — and is the root of people regenerating a token every day (shridarpatil/frappe_whatsapp#148).
 * Keeping it is impossible, so it is refused with the way to make the right one.
 */
import { DAY } from '../../clock.js';
import type { ErrorCode } from '../../errors.js';
import type { TokenType } from '../../types.js';

/** The WhatsApp Business permissions (whatsapp_business_messaging, whatsapp_business_management, …). */
export const WHATSAPP_SCOPE_PREFIX = 'whatsapp_business_';

/** What this check needs from debug_token (src/graph/client.ts DebugTokenInfo has it all). */
export interface WhatsAppTokenFacts {
  type: TokenType;
  scopes: readonly string[];
  /** Epoch ms; null = never expires. */
  expiresAt: number | null;
}

export const HOW_TO_MAKE_A_SYSTEM_USER_TOKEN =
  'In Meta Business Suite open Business settings → Users → System users, add a system user (Admin), assign it your app and your WhatsApp Business Account (full control), then Generate new token for the app with the whatsapp_business_messaging and whatsapp_business_management permissions, and give the keeper that token.';

export type WhatsAppVerdict =
  /** Not a WhatsApp token: the usual Facebook rules apply. */
  | { kind: 'not_whatsapp' }
  | {
      kind: 'system_user';
      scopes: string[];
      /** never: a non-expiring system-user token; refresh: a 60-day one, refreshed like any system-user token. */
      renewal: 'never' | 'refresh';
    }
  | {
      kind: 'refused';
      code: Extract<ErrorCode, 'whatsapp_temporary_token' | 'whatsapp_system_user_required'>;
      message: string;
    };

export function isWhatsAppScope(scope: string): boolean {
  return scope.startsWith(WHATSAPP_SCOPE_PREFIX);
}

/** Pure: is this a WhatsApp Cloud API token the keeper can keep, and how? */
export function classifyWhatsAppToken(facts: WhatsAppTokenFacts, now: number): WhatsAppVerdict {
  const scopes = facts.scopes.filter(isWhatsAppScope);
  if (scopes.length === 0) return { kind: 'not_whatsapp' };
  if (facts.expiresAt !== null && facts.expiresAt - now < DAY) {
    return {
      kind: 'refused',
      code: 'whatsapp_temporary_token',
      message: `This is the temporary WhatsApp token from the App Dashboard's API Setup panel: it expires in less than a day and cannot be renewed, so the keeper cannot keep it. ${HOW_TO_MAKE_A_SYSTEM_USER_TOKEN}`,
    };
  }
  if (facts.type !== 'SYSTEM_USER') {
    return {
      kind: 'refused',
      code: 'whatsapp_system_user_required',
      message: `This WhatsApp token belongs to a person (${facts.type === 'USER' ? 'a user token' : `type ${facts.type}`}), and a person's token cannot be kept alive for the WhatsApp Cloud API: use a system-user token. ${HOW_TO_MAKE_A_SYSTEM_USER_TOKEN}`,
    };
  }
  return { kind: 'system_user', scopes, renewal: facts.expiresAt === null ? 'never' : 'refresh' };
}
