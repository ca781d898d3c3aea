/**
 * Setting up (and reconnecting) an Instagram-Login or Threads account: `connect --platform
 * instagram|threads`, `POST /api/connections` with `platform`, and the reconnect callback.
 *
 * A short-lived token is exchanged (`ig_exchange_token` / `th_exchange_token`) and its expiry is the
 * `expires_in` of the answer; a long-lived one is kept with the expiry the platform tells (the
 * provider, refreshable-provider.ts). Threads refuses a Facebook app id before anything else, with
 * a sentence naming the Threads app id (the provider's `checkApp`). The account is stored as a
 * `pages` row of its platform, with its connection (the token, its issue time for the 24-hour rule).
 */
import { toIso } from '../clock.js';
import { AppError } from '../errors.js';
import { nextRefreshAt } from '../platforms/decide.js';
import { PLATFORM_LABEL, type RefreshablePlatformName } from '../platforms/errors.js';
import type { RefreshedToken } from '../platforms/refreshable-provider.js';
import type { ManagedPage, NewEvent } from '../types.js';
import { deriveAccountState } from './account-decide.js';
import { providerOf } from './account-job.js';
import type { EngineDeps } from './deps.js';
import { newPageFrom } from './util.js';
import { checkSetupInput, NOTHING_YET } from './setup.js';

export interface AccountSetupInput {
  platform: RefreshablePlatformName;
  accessToken: string;
  appId: string;
  appSecret: string;
}

/**
 * Exchange (or take) the token, and store the account. `given`: a token already exchanged and
 * verified (the reconnect callback's code); `expectAccount`: the account it must belong to.
 */
export type AccountSetupDeps = Pick<EngineDeps, 'store' | 'clock' | 'policy' | 'providers' | 'onPageChanged'>;

export async function setupAccount(
  deps: AccountSetupDeps,
  input: AccountSetupInput,
  type: 'setup' | 'reconnected',
  options: { given?: RefreshedToken; expectAccount?: string } = {},
): Promise<ManagedPage> {
  const { store, clock, policy } = deps;
  const label = PLATFORM_LABEL[input.platform];
  if (!options.given) {
    checkSetupInput({
      pageId: '1',
      accessToken: input.accessToken,
      appId: input.appId,
      appSecret: input.appSecret,
    });
  }
  const provider = providerOf(deps, input.platform);
  const app = { appId: input.appId, appSecret: input.appSecret };
  const t = options.given ?? (await provider.exchangeShortLived(input.accessToken, app));
  const accountId = t.info.userId;
  if (accountId === null) throw new AppError('token_invalid', `${label} did not say whose token this is`);
  if (options.expectAccount !== undefined && accountId !== options.expectAccount) {
    throw new AppError(
      'token_wrong_page',
      `The ${label} login was for account ${accountId}, not ${options.expectAccount}: log in as the account to reconnect.`,
      { details: { account_id: accountId, page_id: options.expectAccount } },
    );
  }
  const [child] = await provider.listChildren(t.token, app);
  const previous = await store.getPage(accountId);
  if (previous && previous.platform !== input.platform) {
    throw new AppError(
      'page_exists',
      `Id ${accountId} is already managed as a ${previous.platform} account; delete it first to keep it as a ${label} account.`,
      { details: { page_id: accountId, platform: previous.platform } },
    );
  }
  const now = clock.now();
  const threshold = previous?.renewalThresholdDays ?? policy.renewalThresholdDays;
  const refreshAt = nextRefreshAt({ expiresAt: t.info.expiresAt, issuedAt: t.issuedAt }, threshold);
  const regular = now + policy.checkIntervalMs;
  const base: ManagedPage = {
    pageId: accountId,
    platform: input.platform,
    connectionId: null,
    pageName: child?.name ?? previous?.pageName ?? null,
    appId: input.appId,
    state: 'healthy',
    stateReason: null,
    stateMessage: null,
    posting: t.info,
    source: t.info,
    autoRenew: previous?.autoRenew ?? true,
    renewalThresholdDays: previous?.renewalThresholdDays ?? null,
    lastCheckedAt: now,
    // The first refresh is scheduled for when it is allowed and due (never before 24 hours of age).
    nextCheckAt: refreshAt !== null && refreshAt < regular ? Math.max(now, refreshAt) : regular,
    ...NOTHING_YET,
    leaseOwner: null,
    leaseExpiresAt: null,
    createdAt: previous?.createdAt ?? now,
    updatedAt: now,
  };
  const s = deriveAccountState(base, now, policy);
  const page = { ...base, state: s.state, stateReason: s.reason, stateMessage: s.message };
  const events: NewEvent[] = [
    {
      pageId: accountId,
      at: now,
      type,
      reason: previous ? 'replaced' : 'created',
      stateFrom: previous?.state ?? null,
      stateTo: page.state,
      message: `${label} account ${page.pageName ?? accountId}: the token is valid until ${toIso(t.info.expiresAt) ?? 'an unknown time'} and is refreshed from ${toIso(refreshAt) ?? 'never'}.`,
      details: {
        platform: input.platform,
        expires_at: toIso(t.info.expiresAt),
        issued_at: toIso(t.issuedAt),
        token_hash: t.info.hash,
        previous_token_hash: previous?.posting.hash ?? null,
      },
    },
  ];
  const stored = await store.savePage(
    newPageFrom(page),
    { appSecret: input.appSecret, postingToken: t.token, sourceToken: t.token },
    events,
  );
  await store.updateConnection(stored.connectionId!, {
    tokenIssuedAt: t.issuedAt,
    userName: page.pageName,
    nextCheckAt: page.nextCheckAt,
  });
  if (deps.onPageChanged) await deps.onPageChanged(previous, stored);
  return stored;
}
