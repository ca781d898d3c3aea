/**
 * Setup accepts any kind of token a user pastes and does the right thing:
 * short-lived user token → exchange for long-lived → mint the Page token; long-lived user or
 * system-user token → mint; Page token → keep (warn when it expires: we cannot extend it).
 * The posting token is verified before anything is stored; a token that cannot work is refused.
 */
import { DAY, toIso } from '../clock.js';
import { AppError } from '../errors.js';
import type { DebugTokenInfo, GraphClient } from '../graph/client.js';
import { GraphError } from '../graph/errors.js';
import type { ManagedPage, NewEvent, PageSecrets, TokenInfo } from '../types.js';
import { firstCheckAt, type Policy } from './decide.js';
import {
  assertGrantedForPage,
  assertPostingTasks,
  assertPostingToken,
  assertValidForApp,
  toTokenInfo,
} from '../platforms/facebook/inspect.js';
import type { SetupInput, SetupResult } from './types.js';

export interface PreparedSetup {
  page: ManagedPage;
  secrets: PageSecrets;
  notes: string[];
  inputType: SetupResult['input_token_type'];
  inputLifetime: SetupResult['input_token_lifetime'];
}

const ID = /^\d{1,32}$/;

export function checkSetupInput(input: SetupInput): void {
  const problems: { field: string; message: string }[] = [];
  if (!ID.test(input.pageId)) {
    problems.push({ field: 'page_id', message: 'must be a numeric Facebook Page id' });
  }
  if (!ID.test(input.appId)) problems.push({ field: 'app_id', message: 'must be a numeric Facebook App id' });
  if (!/^\S{8,4096}$/.test(input.accessToken)) {
    problems.push({ field: 'access_token', message: 'must be a Facebook access token' });
  }
  if (!/^\S{8,512}$/.test(input.appSecret)) {
    problems.push({ field: 'app_secret', message: 'must be the app secret from the App Dashboard' });
  }
  if (problems.length > 0) {
    throw new AppError(
      'validation_failed',
      `invalid setup input: ${problems.map((p) => `${p.field} ${p.message}`).join('; ')}`,
      {
        details: { fields: problems },
      },
    );
  }
}

/** Inspect, exchange and mint as needed, and verify; returns what to store. Stores nothing. */
/** A page just set up has not been renewed, has not failed, and is not blocked or waiting. */
export const NOTHING_YET = {
  lastRenewedAt: null,
  failureCount: 0,
  retryAt: null,
  extensionBlockedUntil: null,
  sourceExtensionBlockedUntil: null,
  lastError: null,
} as const satisfies Partial<ManagedPage>;

export async function prepareSetup(
  graph: GraphClient,
  input: SetupInput,
  ctx: { now: () => number; policy: Policy; random: () => number },
): Promise<PreparedSetup> {
  checkSetupInput(input);
  const app = { appId: input.appId, appSecret: input.appSecret };
  /** What debug_token said, by token (granular_scopes are checked, not stored). */
  const raw = new Map<string, DebugTokenInfo>();
  const inspect = async (token: string): Promise<TokenInfo> => {
    const d = await graph.debugToken(token, app);
    raw.set(token, d);
    return toTokenInfo(token, d, ctx.now());
  };
  const notes: string[] = [];

  const given = await inspect(input.accessToken);
  assertValidForApp(given, input.appId);
  const now = ctx.now();
  const lifetime: SetupResult['input_token_lifetime'] =
    given.expiresAt === null ? 'never' : given.expiresAt - now <= DAY ? 'short' : 'long';

  let postingToken: string;
  let pageName: string | null = null;
  let sourceToken: string | null = null;
  let source: TokenInfo | null = null;

  if (given.type === 'USER' || given.type === 'SYSTEM_USER') {
    let userToken = input.accessToken;
    source = given;
    if (given.type === 'USER' && lifetime === 'short') {
      userToken = (await graph.exchangeToken(input.accessToken, app)).accessToken;
      source = await inspect(userToken);
      notes.push(
        `This was a short-lived user token; I exchanged it for a long-lived one (valid until ${toIso(source.expiresAt) ?? 'never'}).`,
      );
    } else if (given.type === 'USER') {
      notes.push(`This is a long-lived user token, valid until ${toIso(given.expiresAt) ?? 'never'}.`);
    } else {
      notes.push(
        `This is a system-user token${given.expiresAt === null ? ' that does not expire' : `, valid until ${toIso(given.expiresAt)}`}.`,
      );
    }
    sourceToken = userToken;
    const minted = await mintForPage(graph, input.pageId, userToken, app);
    const granted = raw.get(userToken);
    if (granted) assertGrantedForPage(granted, input.pageId);
    postingToken = minted.accessToken;
    pageName = minted.name;
    assertPostingTasks(minted.tasks, input.pageId);
  } else if (given.type === 'PAGE') {
    postingToken = input.accessToken;
  } else {
    throw new AppError(
      'token_invalid',
      `A ${given.type} token cannot post to a Page: give a user, system-user or Page token.`,
      {
        details: { token_type: given.type },
      },
    );
  }

  const posting = postingToken === input.accessToken ? given : await inspect(postingToken);
  assertPostingToken(posting, { appId: input.appId, pageId: input.pageId });
  if (posting.expiresAt === null) {
    notes.push(
      source
        ? `I minted a Page token that does not expire${source.expiresAt === null ? '' : `; self-healing is available until ${toIso(source.expiresAt)}`}.`
        : 'This Page token does not expire.',
    );
  } else {
    notes.push(
      source
        ? `Warning: the Page token Facebook minted expires at ${toIso(posting.expiresAt)}, together with the ${source.type === 'SYSTEM_USER' ? 'system-user' : 'user'} token it was minted from${source.type === 'USER' ? ', and Facebook does not extend long-lived user tokens' : ''}. Reconnect the Page before then.`
        : `Warning: this Page token expires at ${toIso(posting.expiresAt)} and cannot be extended. Set up again with a user or system-user token (I will mint one that does not expire), or reconnect, before then.`,
    );
  }
  if (pageName === null) pageName = (await graph.me(postingToken, app).catch(() => null))?.name ?? null;

  const page: ManagedPage = {
    pageId: input.pageId,
    platform: 'facebook_page',
    connectionId: null,
    pageName,
    appId: input.appId,
    state: 'healthy',
    stateReason: null,
    stateMessage: null,
    posting,
    source,
    autoRenew: true,
    renewalThresholdDays: null,
    lastCheckedAt: now,
    nextCheckAt: null,
    ...NOTHING_YET,
    leaseOwner: null,
    leaseExpiresAt: null,
    createdAt: now,
    updatedAt: now,
  };
  // Due now when the tokens already need work (e.g. a source token inside the renewal threshold).
  page.nextCheckAt = firstCheckAt(page, now, ctx.policy, ctx.random);
  return {
    page,
    secrets: { appSecret: input.appSecret, postingToken, sourceToken },
    notes,
    inputType: given.type,
    inputLifetime: lifetime,
  };
}

/**
 * `/{page-id}?fields=access_token` first; when the user cannot reach the Page that way, look for it
 * in `/me/accounts` so the refusal can say clearly that the user has no role on the Page.
 */
async function mintForPage(
  graph: GraphClient,
  pageId: string,
  userToken: string,
  app: { appId: string; appSecret: string },
) {
  let minted: { id: string; name: string; accessToken: string } | null = null;
  try {
    minted = await graph.getPageToken(pageId, userToken, app);
  } catch (err) {
    if (!(err instanceof GraphError) || (err.kind !== 'invalid_request' && err.kind !== 'permission')) {
      throw err;
    }
  }
  // `/me/accounts` lists the user's tasks on each Page (and Pages without a token, when they were
  // not ticked in the Login dialog), so a refusal can name its cause.
  const accounts = await graph.listPageAccounts(userToken, app);
  const found = accounts.find((a) => a.id === pageId);
  if (minted) return { ...minted, tasks: found?.tasks ?? null };
  if (found?.accessToken) {
    return { id: found.id, name: found.name, accessToken: found.accessToken, tasks: found.tasks };
  }
  if (found) {
    throw new AppError(
      'missing_permission',
      `Facebook gave no Page token for Page ${pageId}: the Page was not selected when the app was authorised (Facebook's Login dialog asks which Pages to share, and reuses the last choice). Reconnect and tick this Page.`,
      { details: { page_id: pageId, reason: 'page_not_selected', tasks: found.tasks } },
    );
  }
  throw new AppError(
    'token_wrong_page',
    `The Facebook user behind this token has no role on Page ${pageId} (or did not grant pages_show_list), so no Page token can be minted.`,
    { details: { page_id: pageId, pages_available: accounts.map((a) => a.id) } },
  );
}

export function setupEvent(
  page: ManagedPage,
  type: 'setup' | 'reconnected',
  notes: string[],
  previous: ManagedPage | null,
): NewEvent {
  return {
    pageId: page.pageId,
    at: page.updatedAt,
    type,
    reason: previous ? 'replaced' : 'created',
    stateFrom: previous?.state ?? null,
    stateTo: page.state,
    message: notes.join(' '),
    details: {
      token_type: page.posting.type,
      expires_at: toIso(page.posting.expiresAt),
      source_token_type: page.source?.type ?? null,
      source_expires_at: toIso(page.source?.expiresAt),
      token_hash: page.posting.hash,
      previous_token_hash: previous?.posting.hash ?? null,
    },
  };
}
