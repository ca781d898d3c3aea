/**
 * `setup`: guided in a terminal (secrets masked, validated live against Facebook, says what kind of
 * token it got and what will happen), or non-interactive when every value comes from flags/env/stdin.
 */
import * as p from '@clack/prompts';
import { AppError } from '../errors.js';
import type { KeeperInternals } from '../lifecycle/keeper.js';
import type { CliIo } from './main.js';
import { statusDetail } from './output.js';
import { readSecretArgs } from './stdin.js';

interface SetupFlags {
  pageId?: string;
  appId?: string;
  appSecret?: string;
  accessToken?: string;
  json?: boolean;
}

type WithKeeper = <T>(fn: (k: KeeperInternals) => Promise<T>) => Promise<T>;

const ID = /^\d{1,32}$/;

export async function runSetup(flags: SetupFlags, io: CliIo, withKeeper: WithKeeper): Promise<void> {
  const secretFromEnv = { appSecret: flags.appSecret ?? io.env.FB_APP_SECRET, accessToken: flags.accessToken ?? io.env.FB_ACCESS_TOKEN };
  const complete = flags.pageId && flags.appId && secretFromEnv.appSecret && secretFromEnv.accessToken;
  if (complete || !io.stdin.isTTY) {
    if (!flags.pageId || !flags.appId) {
      throw new AppError('validation_failed', 'setup without a terminal needs --page-id, --app-id, --app-secret and --access-token');
    }
    const [appSecret, accessToken] = await readSecretArgs(
      [secretFromEnv.appSecret, secretFromEnv.accessToken],
      ['--app-secret (or FB_APP_SECRET)', '--access-token (or FB_ACCESS_TOKEN)'],
      io.stdin,
    );
    await withKeeper(async (k) => {
      const r = await k.setup({ pageId: flags.pageId!, appId: flags.appId!, appSecret: appSecret!, accessToken: accessToken! });
      io.stdout.write(flags.json ? `${JSON.stringify(r, null, 2)}\n` : `${r.notes.join('\n')}\n\n${statusDetail(r.status)}\n`);
    });
    return;
  }
  await interactive(flags, io, withKeeper);
}

async function interactive(flags: SetupFlags, io: CliIo, withKeeper: WithKeeper): Promise<void> {
  const opts = { input: io.stdin as NodeJS.ReadStream, output: io.stdout as NodeJS.WriteStream };
  p.intro('fb-token-keeper setup', opts);
  p.note(
    'You need: the Page id, your Facebook App id and secret (App Dashboard → Settings → Basic),\nand an access token from Graph API Explorer or Business Manager (user, system-user or Page token).',
    'What this asks for',
    opts,
  );
  const ask = async (message: string, validate: (v: string) => string | undefined, secret = false, initial?: string) => {
    const v = secret
      ? await p.password({ message, validate: (x) => validate(x ?? ''), mask: '•', ...opts })
      : await p.text({ message, validate: (x) => validate(x ?? ''), ...(initial ? { initialValue: initial } : {}), ...opts });
    if (p.isCancel(v)) {
      p.cancel('Setup cancelled; nothing was stored.', opts);
      throw new AppError('validation_failed', 'setup cancelled');
    }
    return v.trim();
  };
  const pageId = await ask('Facebook Page id', (v) => (ID.test(v.trim()) ? undefined : 'A Page id is a number, e.g. 534295833110036'), false, flags.pageId);
  const appId = await ask('Facebook App id', (v) => (ID.test(v.trim()) ? undefined : 'An App id is a number, e.g. 1173190721520267'), false, flags.appId);
  const appSecret = flags.appSecret ?? (await ask('App secret (hidden)', (v) => (v.trim().length >= 8 ? undefined : 'That is too short for an app secret'), true));
  const accessToken = flags.accessToken ?? (await ask('Access token (hidden)', (v) => (v.trim().length >= 8 ? undefined : 'Paste the whole token'), true));

  const spin = p.spinner({ ...opts });
  spin.start('Checking the token with Facebook');
  await withKeeper(async (k) => {
    try {
      const r = await k.setup({ pageId, appId, appSecret, accessToken });
      spin.stop(`Page ${r.status.page_name ?? pageId} is set up: ${r.status.state}`);
      p.note(r.notes.join('\n'), 'What I did', opts);
      p.outro(`Stored (encrypted). Run the service with: npm start   (or: node bin/fb-token-keeper.js serve)`, opts);
    } catch (err) {
      spin.stop('Facebook refused this set-up; nothing was stored.', 1);
      throw err;
    }
  });
}
