/**
 * Complete, realistic values of the domain types for tests of pure code (decisions, alert plans):
 * every field set, so a test states only what matters to it. Store tests have their own builders
 * of what the store takes (test/store/fixtures/pages.ts).
 */
import { NOTHING_YET } from '../../src/lifecycle/setup.js';
import type { ManagedPage, TokenInfo } from '../../src/types.js';

/** A valid, never-expiring Page token as debug_token describes it at `now`. */
export function tokenInfo(now: number, overrides: Partial<TokenInfo> = {}): TokenInfo {
  return {
    type: 'PAGE',
    isValid: true,
    expiresAt: null,
    dataAccessExpiresAt: null,
    scopes: ['pages_manage_posts', 'pages_read_engagement', 'pages_show_list'],
    userId: '1',
    profileId: '100',
    appId: '200',
    checkedAt: now,
    hash: 'abc',
    error: null,
    ...overrides,
  };
}

/** A healthy managed Page with a never-expiring posting token and no source token, at `now`. */
export function managedPage(now: number, overrides: Partial<ManagedPage> = {}): ManagedPage {
  return {
    pageId: '100',
    platform: 'facebook_page',
    connectionId: null,
    pageName: 'P',
    appId: '200',
    state: 'healthy',
    stateReason: null,
    stateMessage: null,
    posting: tokenInfo(now),
    source: null,
    autoRenew: true,
    renewalThresholdDays: null,
    lastCheckedAt: null,
    nextCheckAt: null,
    ...NOTHING_YET,
    leaseOwner: null,
    leaseExpiresAt: null,
    createdAt: now,
    updatedAt: now,
    ...overrides,
  };
}
