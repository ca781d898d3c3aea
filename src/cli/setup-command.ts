/**
 * `setup`: guided in a terminal, or non-interactive for scripts.
 *
 * Guided (stdin is a terminal and a value is missing): first "What do you post to?" (Facebook Pages,
 * Instagram with Instagram Login, Threads; not asked when `--page-id`, FB_APP_SECRET or
 * FB_ACCESS_TOKEN already says Facebook). Instagram and Threads ask that platform's app id, secret
 * and token and `connect` with the platform. For Facebook it asks for the App id, the app secret and the
 * token (the last two masked; and the Page id first when `--page-id` names one Page), checks each
 * value with setup's own rules as it is typed, asks Facebook about the token (`debug_token`) and
 * says in words what kind of token it is and what will happen to it. A user or system-user token
 * with no `--page-id`: the Pages it manages are offered as a multi-select (every Page it can post
 * to ticked), and the chosen ones are set up together as one login (`connect`); Pages it cannot
 * post to are named with why. A Page token sets up its own Page. Then it says what it did, and
 * prints how to run the service. When Facebook refuses something the person can
 * enter another token, re-enter the app id and secret, or stop; nothing is stored until setup
 * succeeds.
 *
 * Non-interactive (every value given, `--json`, or no terminal): values from flags, `FB_APP_SECRET`
 * / `FB_ACCESS_TOKEN`, or `-` for the next line of stdin (secrets on a command line end up in shell
 * history). Prints setup's notes and the status, or the JSON result with `--json`.
 */
import { Readable, Writable } from 'node:stream';
import * as p from '@clack/prompts';
import { DAY } from '../clock.js';
import { AppError } from '../errors.js';
import type { KeeperInternals } from '../lifecycle/keeper.js';
import { POSTING_TASKS } from '../platforms/facebook/inspect.js';
import { checkSetupInput } from '../lifecycle/setup.js';
import type { ConnectResult, SetupInput, SetupResult, ValidateResult } from '../lifecycle/types.js';
import type { CliIo } from './io.js';
import { notesText, statusDetail, terminalText } from './output.js';
import { readSecretArgs } from './stdin.js';

export interface SetupFlags {
  pageId?: string;
  appId?: string;
  appSecret?: string;
  accessToken?: string;
  json?: boolean;
}

type WithKeeper = <T>(fn: (k: KeeperInternals) => Promise<T>) => Promise<T>;

const LABEL: Record<keyof SetupInput, string> = {
  pageId: 'Page id',
  appId: 'App id',
  appSecret: 'App secret',
  accessToken: 'Access token',
};

/** A valid input, to check one field at a time with setup's own rules (and its own words). */
const VALID_SAMPLE: SetupInput = {
  pageId: '1',
  appId: '1',
  appSecret: 'x'.repeat(8),
  accessToken: 'x'.repeat(8),
};

/** Setup's message for one field (e.g. "Page id must be a numeric Facebook Page id"), or undefined when valid. */
export function fieldProblem(field: keyof SetupInput, value: string): string | undefined {
  try {
    checkSetupInput({ ...VALID_SAMPLE, [field]: value.trim() });
    return undefined;
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    const first = (err.details?.fields as { message?: unknown }[] | undefined)?.[0];
    return typeof first?.message === 'string' ? `${LABEL[field]} ${first.message}` : err.message;
  }
}

/** How to run the service once a page is stored. */
export function nextSteps(publicUrl: string): string {
  return [
    'Run the service:  npm start   (or: node bin/fb-token-keeper.js serve)',
    `Then open ${publicUrl} and sign in with an API key (the first start prints one).`,
    'Check from cron instead, if you prefer:  node bin/fb-token-keeper.js check',
  ].join('\n');
}

export async function runSetup(flags: SetupFlags, io: CliIo, withKeeper: WithKeeper): Promise<void> {
  const appSecret = flags.appSecret ?? io.env.FB_APP_SECRET;
  const accessToken = flags.accessToken ?? io.env.FB_ACCESS_TOKEN;
  const complete = Boolean(flags.pageId && flags.appId && appSecret && accessToken);
  if (complete || flags.json === true || !io.stdin.isTTY) {
    await nonInteractive(
      { ...flags, ...(appSecret ? { appSecret } : {}), ...(accessToken ? { accessToken } : {}) },
      io,
      withKeeper,
    );
    return;
  }
  await interactive(
    {
      ...flags,
      ...(appSecret && appSecret !== '-' ? { appSecret } : {}),
      ...(accessToken && accessToken !== '-' ? { accessToken } : {}),
    },
    io,
    withKeeper,
  );
}

async function nonInteractive(flags: SetupFlags, io: CliIo, withKeeper: WithKeeper): Promise<void> {
  if (!flags.pageId || !flags.appId) {
    throw new AppError(
      'validation_failed',
      'setup without a terminal needs --page-id, --app-id, --app-secret and --access-token',
    );
  }
  const [appSecret = '', accessToken = ''] = await readSecretArgs(
    [flags.appSecret, flags.accessToken],
    ['--app-secret (or FB_APP_SECRET)', '--access-token (or FB_ACCESS_TOKEN)'],
    io.stdin,
  );
  await withKeeper(async (k) => {
    const r = await k.setup({ pageId: flags.pageId!, appId: flags.appId!, appSecret, accessToken });
    io.stdout.write(
      flags.json
        ? `${JSON.stringify(r, null, 2)}\n`
        : `${notesText(r.notes)}\n\n${statusDetail(r.status)}\n\n${nextSteps(k.config.publicUrl)}\n`,
    );
  });
}

// --- guided ------------------------------------------------------------------------------------

function date(iso: string): string {
  return iso.slice(0, 16).replace('T', ' ') + ' UTC';
}

function inWords(ms: number): string {
  if (ms < 2 * 3600_000) return `${Math.max(1, Math.round(ms / 60_000))} minutes`;
  if (ms < 2 * DAY) return `${Math.round(ms / 3600_000)} hours`;
  return `${Math.round(ms / DAY)} days`;
}

/**
 * What Facebook said about the token, and what setup will do with it, for a person. Returns the
 * sentences and whether setup can work with this token at all.
 */
export function describeToken(
  v: ValidateResult,
  input: Pick<SetupInput, 'appId'> & { pageId?: string | undefined },
  now: number,
): { lines: string[]; usable: boolean } {
  if (!v.valid) {
    return {
      lines: [
        `Facebook says this token is not valid: ${v.error?.message ?? 'no reason given'}${v.error ? ` (${v.error.reason})` : ''}.`,
      ],
      usable: false,
    };
  }
  if (v.app_id !== null && v.app_id !== input.appId) {
    return {
      lines: [
        `This token belongs to app ${v.app_id}, not to app ${input.appId}. Use a token made with app ${input.appId}, or give that app's id and secret.`,
      ],
      usable: false,
    };
  }
  const left = v.expires_at === null ? null : Date.parse(v.expires_at) - now;
  const lines: string[] = [];
  switch (v.type) {
    case 'USER':
      if (left !== null && left <= DAY) {
        lines.push(
          `This is a short-lived user token: it lasts about ${inWords(left)} more.`,
          'I will exchange it for a long-lived user token (about 60 days), then mint a Page token from that: a Page token minted this way does not expire.',
          'The long-lived user token is kept (encrypted), so a Page token Facebook invalidates can be re-minted without you.',
        );
      } else {
        lines.push(
          left === null
            ? 'This is a user token that does not expire.'
            : `This is a long-lived user token, valid until ${date(v.expires_at!)} (${inWords(left)}).`,
          'I will mint a Page token from it: a Page token minted this way does not expire.',
          `The user token is kept (encrypted) so a lost Page token can be re-minted${left === null ? '' : ` until ${date(v.expires_at!)}`}.`,
        );
      }
      break;
    case 'SYSTEM_USER':
      lines.push(
        left === null
          ? 'This is a system-user token that does not expire.'
          : `This is a system-user token valid until ${date(v.expires_at!)}.`,
        'I will mint a Page token from it: it does not expire, and it can be re-minted from the system-user token whenever needed.',
      );
      break;
    case 'PAGE':
      if (v.profile_id !== null && input.pageId !== undefined && v.profile_id !== input.pageId) {
        return {
          lines: [`This is a Page token for Page ${v.profile_id}, not for Page ${input.pageId}.`],
          usable: false,
        };
      }
      lines.push(
        left === null
          ? 'This is a Page token that does not expire. I will keep it as it is. (With no user token to mint from, a Page token Facebook invalidates needs you to reconnect.)'
          : `This is a Page token that expires ${date(v.expires_at!)} and cannot be extended. Better: give a user token instead, and I will mint one that does not expire.`,
      );
      break;
    default:
      return {
        lines: [
          `This is ${v.type === 'APP' ? 'an app' : 'an unknown kind of'} token: it cannot post to a Page. Give a user, system-user or Page token.`,
        ],
        usable: false,
      };
  }
  lines.push(`Permissions: ${v.scopes.length > 0 ? v.scopes.join(', ') : 'none'}.`);
  if (v.missing_scopes.length > 0) {
    lines.push(
      `Missing: ${v.missing_scopes.join(', ')}. Posting needs ${v.missing_scopes.length > 1 ? 'them' : 'it'}: make a new token that grants ${v.missing_scopes.length > 1 ? 'them' : 'it'}.`,
    );
    return { lines, usable: false };
  }
  return { lines, usable: true };
}

type Retry = 'token' | 'app' | 'stop';
type PromptIo = { input?: Readable; output?: Writable };

type Credentials = Pick<SetupInput, 'appId' | 'appSecret' | 'accessToken'>;
/** One prompt per credential, in each flow's own words and rules. */
type CredentialPrompts = Record<keyof Credentials, () => Promise<string>>;

/** Each credential as given (when valid), else asked for, in this order. */
async function askCredentials(
  ask: CredentialPrompts,
  given: { [K in keyof Credentials]?: string | undefined },
): Promise<Credentials> {
  return {
    appId: given.appId ?? (await ask.appId()),
    appSecret: given.appSecret ?? (await ask.appSecret()),
    accessToken: given.accessToken ?? (await ask.accessToken()),
  };
}

/**
 * Tries until something is stored: after each refusal the person chooses (whatNow) to enter
 * another token, the app id and secret again, or to stop.
 */
async function untilStored<C extends Credentials>(
  input: C,
  ask: CredentialPrompts,
  tryOnce: (input: C) => Promise<Retry | null>,
  stop: () => never,
): Promise<void> {
  for (;;) {
    const retry = await tryOnce(input);
    if (retry === null) return;
    if (retry === 'stop') stop();
    if (retry === 'app') {
      input.appId = await ask.appId();
      input.appSecret = await ask.appSecret();
    } else {
      input.accessToken = await ask.accessToken();
    }
  }
}

async function interactive(flags: SetupFlags, io: CliIo, withKeeper: WithKeeper): Promise<void> {
  // Real streams in practice (process.stdin/stdout, or a test's); clack falls back to the process's own.
  const opts: PromptIo = {
    ...(io.stdin instanceof Readable ? { input: io.stdin } : {}),
    ...(io.stdout instanceof Writable ? { output: io.stdout } : {}),
  };
  const stop = (): never => {
    p.cancel('Setup cancelled; nothing was stored.', opts);
    throw new AppError('validation_failed', 'setup cancelled');
  };
  const ask = async (field: keyof SetupInput, message: string, secret: boolean): Promise<string> => {
    const validate = (x: string | undefined) => fieldProblem(field, x ?? '');
    const v = secret
      ? await p.password({ message, validate, mask: '•', ...opts })
      : await p.text({ message, validate, ...opts });
    if (p.isCancel(v)) return stop();
    return v.trim();
  };
  const given = (field: keyof SetupInput, v: string | undefined) =>
    v !== undefined && fieldProblem(field, v) === undefined ? v.trim() : undefined;

  // Without --page-id the Page comes from the token: the Pages a login manages are offered to
  // choose from, and a Page token names its own Page.
  const onePage = flags.pageId !== undefined;
  p.intro('fb-token-keeper setup', opts);
  // The first question, unless a Facebook value was already given (`--page-id`, FB_APP_SECRET,
  // FB_ACCESS_TOKEN): those keep the Facebook flow exactly as it was.
  const facebookGiven = onePage || io.env.FB_APP_SECRET !== undefined || io.env.FB_ACCESS_TOKEN !== undefined;
  if (!facebookGiven) {
    const platform = await p.select<'facebook' | AccountPlatform>({
      message: 'What do you post to?',
      initialValue: 'facebook',
      options: [
        { value: 'facebook', label: 'Facebook Pages', hint: 'also an Instagram account linked to a Page' },
        { value: 'instagram', label: 'Instagram (Instagram Login)' },
        { value: 'threads', label: 'Threads' },
      ],
      ...opts,
    });
    if (p.isCancel(platform)) return stop();
    if (platform !== 'facebook') {
      await accountSetup(platform, flags, withKeeper, opts, stop);
      return;
    }
  }
  p.note(
    [
      'You need:',
      '• your Facebook App id and app secret (App Dashboard → Settings → Basic);',
      '• an access token: a user token from Graph API Explorer (short- or long-lived),',
      '  a system-user token from Business Manager, or a Page token.',
      onePage
        ? '• the Page id (the Page’s About section, or Meta Business Suite).'
        : 'With a user or system-user token you then tick the Pages to keep, from the ones it manages.',
      'Secrets are typed hidden and stored encrypted. Nothing is stored until Facebook accepts it.',
    ].join('\n'),
    'What this asks for',
    opts,
  );
  // A --page-id that is not valid is asked for again (not dropped for the list of Pages).
  const pageId = onePage
    ? (given('pageId', flags.pageId) ?? (await ask('pageId', 'Facebook Page id', false)))
    : undefined;
  const prompts: CredentialPrompts = {
    appId: () => ask('appId', 'Facebook App id', false),
    appSecret: () => ask('appSecret', 'App secret (typed hidden)', true),
    accessToken: () => ask('accessToken', 'Access token (typed hidden)', true),
  };
  // No Page id: a login, whose Pages are chosen from (or a Page token, for its own Page).
  const input = {
    ...(pageId !== undefined ? { pageId } : {}),
    ...(await askCredentials(prompts, {
      appId: given('appId', flags.appId),
      appSecret: given('appSecret', flags.appSecret),
      accessToken: given('accessToken', flags.accessToken),
    })),
  };
  await withKeeper((k) => untilStored(input, prompts, (i) => attempt(k, i, opts), stop));
}

/**
 * One try: inspect, explain, choose the Pages (a login with no Page id) or confirm, set up. Null
 * when stored; otherwise what to re-enter.
 */
async function attempt(
  k: KeeperInternals,
  input: Omit<SetupInput, 'pageId'> & { pageId?: string },
  opts: PromptIo,
): Promise<Retry | null> {
  const spin = p.spinner({ ...opts });
  spin.start('Asking Facebook about this token');
  let v: ValidateResult;
  try {
    v = await k.validate({ accessToken: input.accessToken, appId: input.appId, appSecret: input.appSecret });
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    spin.error(`Facebook refused the request: ${err.message}`);
    return whatNow(
      err.code === 'graph_invalid_request' || err.code === 'graph_permission_denied' ? 'app' : 'token',
      opts,
    );
  }
  const described = describeToken(v, input, k.clock.now());
  if (!described.usable) {
    spin.error('This token cannot be used');
    p.log.warn(notesText(described.lines), opts);
    return whatNow(v.app_id !== null && v.app_id !== input.appId ? 'app' : 'token', opts);
  }
  spin.stop(
    `Facebook says: a valid ${v.type === 'SYSTEM_USER' ? 'system-user' : v.type.toLowerCase()} token for app ${v.app_id ?? input.appId}`,
  );
  p.note(notesText(described.lines), 'What this token is and what will happen', opts);
  if (input.pageId === undefined && (v.type === 'USER' || v.type === 'SYSTEM_USER')) {
    return choosePages(k, input, opts);
  }
  // A Page token without --page-id is for its own Page.
  const pageId = input.pageId ?? v.profile_id;
  if (pageId === null) {
    p.log.warn('Facebook did not say which Page this token is for: give the Page id with --page-id.', opts);
    return 'stop';
  }
  const one: SetupInput = { ...input, pageId };
  const go = await p.confirm({
    message: `Set up Page ${one.pageId} with it?`,
    initialValue: true,
    ...opts,
  });
  if (p.isCancel(go) || !go) return 'stop';

  const work = p.spinner({ ...opts });
  work.start('Exchanging, minting and verifying with Facebook');
  let r: SetupResult;
  try {
    r = await k.setup(one);
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    work.error(`Facebook refused this set-up; nothing was stored: ${err.message}`);
    return whatNow('token', opts);
  }
  work.stop(`Stored Page ${terminalText(r.status.page_name ?? one.pageId)} (encrypted): ${r.status.state}`);
  p.note(notesText(r.notes), 'What I did', opts);
  p.note(nextSteps(k.config.publicUrl), 'Next', opts);
  p.outro(`Page ${one.pageId} is set up.`, opts);
  return null;
}

/** Why a Page the login manages is not offered (or null when it can be kept). */
export function notOffered(account: { accessToken: string | null; tasks: readonly string[] }): string | null {
  if (account.accessToken === null) {
    return 'not ticked when the app was authorised in Facebook Login: log in again and tick it';
  }
  if (!account.tasks.some((t) => (POSTING_TASKS as readonly string[]).includes(t))) {
    return 'your role on it cannot post (it needs a task that creates content)';
  }
  return null;
}

/**
 * A login's Pages as a multi-select, every Page it can post to ticked, then set up together as
 * one connection: checked once, renewed once and reconnected once for all of them.
 */
async function choosePages(
  k: KeeperInternals,
  input: Omit<SetupInput, 'pageId'>,
  opts: PromptIo,
): Promise<Retry | null> {
  const app = { appId: input.appId, appSecret: input.appSecret };
  const list = p.spinner({ ...opts });
  list.start('Asking Facebook which Pages this login manages');
  let accounts;
  try {
    accounts = await k.graph.listPageAccounts(input.accessToken, app);
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    list.error(`Facebook refused the request: ${err.message}`);
    return whatNow('token', opts);
  }
  const offered = accounts.filter((a) => notOffered(a) === null);
  const others = accounts.filter((a) => notOffered(a) !== null);
  const name = (a: { id: string; name: string }) => `${terminalText(a.name || 'Unnamed page')} (${a.id})`;
  list.stop(
    `This login manages ${accounts.length} Page${accounts.length === 1 ? '' : 's'}; ${offered.length} can be kept`,
  );
  if (others.length > 0) {
    p.log.warn(
      ['Not offered:', ...others.map((a) => `• ${name(a)}: ${notOffered(a) ?? ''}`)].join('\n'),
      opts,
    );
  }
  if (offered.length === 0) {
    p.log.warn(
      'This login cannot post to any Page: give it a role with a posting task on a Page, and tick the Page in the Login dialog.',
      opts,
    );
    return whatNow('token', opts);
  }
  const chosen = await p.multiselect<string>({
    message: 'Which Pages should I keep? (Space ticks or unticks, Enter confirms)',
    options: offered.map((a) => ({ value: a.id, label: name(a) })),
    initialValues: offered.map((a) => a.id),
    required: true,
    ...opts,
  });
  if (p.isCancel(chosen)) return 'stop';

  const work = p.spinner({ ...opts });
  work.start(`Setting up ${chosen.length} Page${chosen.length === 1 ? '' : 's'} as one login with Facebook`);
  let r: ConnectResult;
  try {
    r = await k.connect({ ...input, pageIds: chosen });
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    work.error(`Facebook refused this set-up; nothing was stored: ${err.message}`);
    return whatNow('token', opts);
  }
  work.stop(`Stored ${r.pages.length} Page${r.pages.length === 1 ? '' : 's'} under one login (encrypted)`);
  p.note(
    notesText([
      ...r.pages.map((s) => `${terminalText(s.page_name ?? s.page_id)} (${s.page_id}): ${s.state}.`),
      ...r.not_set_up.map(
        (n) => `Not set up: ${terminalText(n.name ?? n.page_id)} (${n.page_id}): ${n.message}`,
      ),
      `The login is checked once for all of them; if it stops working (a password change, say), one alert with one reconnect link heals every Page.`,
    ]),
    'What I did',
    opts,
  );
  p.note(nextSteps(k.config.publicUrl), 'Next', opts);
  p.outro(`${r.pages.length} Page${r.pages.length === 1 ? ' is' : 's are'} set up as one login.`, opts);
  return null;
}

async function whatNow(suggest: Exclude<Retry, 'stop'>, opts: PromptIo): Promise<Retry> {
  const choice = await p.select<Retry>({
    message: 'What now?',
    initialValue: suggest,
    options: [
      { value: 'token', label: 'Enter another token' },
      { value: 'app', label: 'Enter the App id and secret again' },
      { value: 'stop', label: 'Stop (nothing is stored)' },
    ],
    ...opts,
  });
  return p.isCancel(choice) ? 'stop' : choice;
}

// --- Instagram (Instagram Login) and Threads ---------------------------------------------------

type AccountPlatform = 'instagram' | 'threads';
const ACCOUNT_NAME: Record<AccountPlatform, string> = { instagram: 'Instagram', threads: 'Threads' };

/** The app id of an Instagram or Threads app: digits (setup's other rules check the rest). */
export function accountAppIdProblem(platform: AccountPlatform, value: string): string | undefined {
  return /^\d{1,32}$/.test(value.trim())
    ? undefined
    : `App id must be the numeric ${platform === 'threads' ? 'Threads' : 'Instagram'} app id`;
}

/**
 * An Instagram account (Instagram Login) or a Threads profile: the app id, its secret and a token,
 * then `connect` with the platform (a short-lived token is exchanged; the expiry is what the
 * platform says). Nothing is stored until the platform accepts it.
 */
async function accountSetup(
  platform: AccountPlatform,
  flags: SetupFlags,
  withKeeper: WithKeeper,
  opts: PromptIo,
  stop: () => never,
): Promise<void> {
  const name = ACCOUNT_NAME[platform];
  p.note(
    (platform === 'instagram'
      ? [
          'You need:',
          '• the Instagram app id and app secret (App Dashboard → Instagram → API setup with Instagram login);',
          '• an Instagram User access token (from that page’s token generator, or the Instagram login).',
          'An Instagram account reached through a Facebook Page keeps using the Page token:',
          'for that, choose Facebook Pages instead.',
        ]
      : [
          'You need:',
          '• the Threads app id and Threads app secret (App Dashboard → Use cases → Access the Threads API → Settings):',
          '  not the Facebook app id, which Threads refuses;',
          '• a Threads User access token (from the Threads login, or the token generator).',
        ]
    )
      .concat([
        'A short-lived token is exchanged for a 60-day one, which is refreshed before it expires.',
        'Secrets are typed hidden and stored encrypted. Nothing is stored until it is accepted.',
      ])
      .join('\n'),
    'What this asks for',
    opts,
  );
  const text = async (message: string, validate: (x: string) => string | undefined) => {
    const v = await p.text({ message, validate: (x) => validate(x ?? ''), ...opts });
    if (p.isCancel(v)) return stop();
    return v.trim();
  };
  const hidden = async (field: 'appSecret' | 'accessToken', message: string) => {
    const v = await p.password({
      message,
      validate: (x) => fieldProblem(field, x ?? ''),
      mask: '•',
      ...opts,
    });
    if (p.isCancel(v)) return stop();
    return v.trim();
  };
  const prompts: CredentialPrompts = {
    appId: () => text(`${name} app id`, (x) => accountAppIdProblem(platform, x)),
    appSecret: () => hidden('appSecret', `${name} app secret (typed hidden)`),
    accessToken: () => hidden('accessToken', `${name} access token (typed hidden)`),
  };
  const appIdGiven =
    flags.appId !== undefined && accountAppIdProblem(platform, flags.appId) === undefined
      ? flags.appId.trim()
      : undefined;
  // The secret and the token are always typed here: FB_APP_SECRET / FB_ACCESS_TOKEN are Facebook's.
  const input = { platform, ...(await askCredentials(prompts, { appId: appIdGiven })) };
  await withKeeper((k) =>
    untilStored(
      input,
      prompts,
      async (account) => {
        const work = p.spinner({ ...opts });
        work.start(`Exchanging and verifying the token with ${name}`);
        let r: ConnectResult;
        try {
          r = await k.connect(account);
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          work.error(`${name} refused this set-up; nothing was stored: ${err.message}`);
          return whatNow(err.code === 'token_invalid' ? 'token' : 'app', opts);
        }
        const a = r.pages[0];
        const who = `${platform === 'threads' ? 'Threads profile' : 'Instagram account'} ${terminalText(a?.page_name ? `@${a.page_name}` : (a?.page_id ?? r.connection.user_id))}`;
        work.stop(`Stored ${who} (encrypted): ${a?.state ?? r.connection.state}`);
        p.note(
          notesText([
            a?.expires_at
              ? `The token is valid until ${date(a.expires_at)}.`
              : `${name} did not say when the token expires.`,
            `It is refreshed when ${a?.renewal_threshold_days ?? k.config.renewalThresholdDays} days or fewer are left, never before it is 24 hours old; if refreshing keeps failing, alerts come before it expires, with a link to log in to ${name} again.`,
          ]),
          'What I did',
          opts,
        );
        p.note(nextSteps(k.config.publicUrl), 'Next', opts);
        p.outro(`${who} is set up.`, opts);
        return null;
      },
      stop,
    ),
  );
}
