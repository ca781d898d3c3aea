/**
 * `fb-token-keeper setup` as a person and as a script uses it: the compiled CLI in a real
 * pseudo-terminal (typing into the prompts), and with flags and stdin, against the emulator and a
 * temporary SQLite file.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY, HOUR } from '../../src/clock.js';
import { describeToken, fieldProblem } from '../../src/cli/setup-command.js';
import { type FakeGraph, startFakeGraph } from '../../src/fake-graph/index.js';
import { createTokenKeeper } from '../../src/lifecycle/keeper.js';
import type { ValidateResult } from '../../src/lifecycle/types.js';
import { silentLogger } from '../../src/logger.js';
import { KEY, openTerminal } from './terminal.js';

const ROOT = join(import.meta.dirname, '..', '..');
let graph: FakeGraph;
let dir: string;
let n = 0;

beforeAll(async () => {
  graph = await startFakeGraph();
  dir = mkdtempSync(join(tmpdir(), 'fbtk-setup-'));
});
afterAll(async () => {
  await graph.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh database per test; the same env for the terminal and for follow-up commands. */
function envFor(name: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    DATABASE_URL: `sqlite:${join(dir, `${name}-${++n}.db`)}`,
    ENCRYPTION_KEY_FILE: join(dir, `${name}-${n}.key`),
    GRAPH_API_URL: graph.url,
    INSTAGRAM_API_URL: graph.instagramUrl,
    INSTAGRAM_OAUTH_URL: graph.instagramUrl,
    INSTAGRAM_DIALOG_URL: graph.instagramUrl,
    THREADS_API_URL: graph.threadsUrl,
    THREADS_DIALOG_URL: graph.threadsUrl,
    PUBLIC_URL: 'http://keeper.test:5000',
    LOG_LEVEL: 'warn',
  };
}

function cli(args: string[], env: Record<string, string>, stdin = '') {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['bin/fb-token-keeper.js', ...args], { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += String(d)));
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.stdin.end(stdin);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Screen text with the boxes and line wrapping taken out, to match sentences. */
const flat = (s: string) => s.replace(/[│┌└◇◆╮╯╭╰├─]/g, ' ').replace(/\s+/g, ' ');

function facebookPage(name: string, lifetime: 'short' | 'long' = 'short') {
  const app = graph.createApp({ name: `${name} app` });
  const user = graph.createUser({ name: `${name} admin` });
  const page = graph.createPage({ name });
  graph.grantRole(user.id, page.id);
  return { app, user, page, token: graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime }) };
}

describe('add with - in a terminal', () => {
  it('prompts for each - value, echoes nothing of what is typed, ends each at Enter, and stores the Page', async () => {
    const fb = facebookPage('Hidden Bakery', 'long');
    const env = envFor('add-tty');
    const t = openTerminal(`node bin/fb-token-keeper.js add ${fb.page.id} - ${fb.app.appId} -`, {
      cwd: ROOT,
      env,
    });
    try {
      await t.waitFor(/ACCESS_TOKEN \(or FB_ACCESS_TOKEN\) \(typed hidden, Enter to end\): /);
      t.enter(fb.token);
      await t.waitFor(/APP_SECRET \(or FB_APP_SECRET\) \(typed hidden, Enter to end\): /);
      // A typo and its correction: backspace works without showing anything.
      t.type('x');
      t.type(KEY.backspace);
      t.enter(fb.app.appSecret);
      await t.waitFor(/Page \d+ \(Hidden Bakery\): healthy/);
      expect(await t.exit()).toBe(0);
    } finally {
      t.kill();
    }
    expect(t.raw()).not.toContain(fb.token);
    expect(t.raw()).not.toContain(fb.app.appSecret);
    expect(t.raw()).not.toContain('•');
    const status = await cli(['status', '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(fb.page.id);
  });

  it('from a pipe, - still reads one line per value and asks nothing', async () => {
    const fb = facebookPage('Piped Bakery', 'long');
    const env = envFor('add-pipe');
    const r = await cli(
      ['add', fb.page.id, '-', fb.app.appId, '-'],
      env,
      `${fb.token}\n${fb.app.appSecret}\n`,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('typed hidden');
    expect(r.stdout).toContain(`Page ${fb.page.id} (Piped Bakery): healthy`);
  });
});

describe('setup in a terminal', () => {
  it('asks, masks the secrets, says what the token is, offers the Pages it manages all ticked, sets them up as one login, and says how to run the service', async () => {
    const fb = facebookPage('Terminal Bakery');
    // The same person manages two more Pages: one they can post to, one they can only read.
    const second = graph.createPage({ name: 'Terminal Deli' });
    graph.grantRole(fb.user.id, second.id);
    const readOnly = graph.createPage({ name: 'Terminal Gallery' });
    graph.grantRole(fb.user.id, readOnly.id, ['ANALYZE']);
    const env = envFor('guided');
    const t = openTerminal('node bin/fb-token-keeper.js setup', { cwd: ROOT, env });
    try {
      // The first question; Facebook Pages is the answer already chosen.
      await t.waitFor(/◆ {2}What do you post to\?/);
      t.enter();
      // No Page id to give: the Pages come from the token.
      await t.waitFor(/◆ {2}Facebook App id/);
      // setup's own validation, as you type
      t.enter('12ab');
      await t.waitFor(/App id must be a numeric Facebook App id/);
      t.type(KEY.backspace.repeat(4));
      t.enter(fb.app.appId);
      await t.waitFor(/◆ {2}App secret \(typed hidden\)/);
      t.enter(fb.app.appSecret);
      await t.waitFor(/◆ {2}Access token \(typed hidden\)/);
      t.enter(fb.token);
      await t.waitFor(/Facebook says: a valid user token for app \d+/);
      const explained = flat(await t.waitFor(/◆ {2}Which Pages should I keep\?/));
      expect(explained).toMatch(/This is a short-lived user token: it lasts about \d+ minutes more\./);
      expect(explained).toMatch(/exchange it for a long-lived user token/);
      expect(explained).toContain('This login manages 3 Pages; 2 can be kept');
      expect(explained).toContain(
        `Not offered: • Terminal Gallery (${readOnly.id}): your role on it cannot post (it needs a task that creates content)`,
      );
      // Both Pages it can post to are offered, ticked; the read-only one is not offered.
      const offered = flat(await t.waitFor(new RegExp(`Terminal Deli \\(${second.id}\\)`)));
      expect(offered).toMatch(new RegExp(`◼ Terminal Bakery \\(${fb.page.id}\\)`));
      expect(offered).toMatch(new RegExp(`◼ Terminal Deli \\(${second.id}\\)`));
      expect(offered).not.toContain('Terminal Gallery');
      t.enter();
      const done = flat(await t.waitFor(/2 Pages are set up as one login\./));
      expect(done).toContain('Stored 2 Pages under one login (encrypted)');
      expect(done).toContain(`Terminal Bakery (${fb.page.id}): healthy.`);
      expect(done).toContain(`Terminal Deli (${second.id}): healthy.`);
      expect(done).toContain('one alert with one reconnect link heals every Page');
      expect(done).toContain('npm start');
      expect(done).toContain('http://keeper.test:5000');
      expect(await t.exit()).toBe(0);
      // Masked: neither secret ever reached the screen.
      expect(t.raw()).not.toContain(fb.app.appSecret);
      expect(t.raw()).not.toContain(fb.token);
      expect(t.screen()).toContain('••••••••');
    } finally {
      t.kill();
    }
    const status = JSON.parse((await cli(['status', '--json'], env)).stdout) as {
      pages: {
        page_id: string;
        state: string;
        token_type: string;
        expires_at: null;
        source_token_type: string;
      }[];
    };
    expect(status.pages.map((x) => x.page_id).sort()).toEqual([fb.page.id, second.id].sort());
    for (const x of status.pages) {
      expect(x).toMatchObject({
        state: 'healthy',
        token_type: 'PAGE',
        expires_at: null,
        source_token_type: 'USER',
      });
    }
    // One login keeps both (what the dashboard shows as one connection).
    const k = await createTokenKeeper({ env, logger: silentLogger });
    try {
      const logins = await k.listConnections();
      expect(logins).toHaveLength(1);
      expect(logins[0]!.page_ids.sort()).toEqual([fb.page.id, second.id].sort());
      expect(logins[0]!.user_name).toBe('Terminal Bakery admin');
    } finally {
      await k.close();
    }
  });

  it('a Page unticked in the list is not set up', async () => {
    const fb = facebookPage('Choosy Bakery', 'long');
    const second = graph.createPage({ name: 'Choosy Deli' });
    graph.grantRole(fb.user.id, second.id);
    const env = envFor('choose');
    const t = openTerminal(`node bin/fb-token-keeper.js setup --app-id ${fb.app.appId}`, {
      cwd: ROOT,
      env: { ...env, FB_APP_SECRET: fb.app.appSecret, FB_ACCESS_TOKEN: fb.token },
    });
    try {
      await t.waitFor(/◆ {2}Which Pages should I keep\?/);
      await t.waitFor(new RegExp(`Choosy Deli \\(${second.id}\\)`));
      // The cursor starts on the first Page: Space unticks it.
      t.type(' ');
      await t.waitFor(/◻/);
      t.enter();
      await t.waitFor(/1 Page is set up as one login\./);
      expect(await t.exit()).toBe(0);
    } finally {
      t.kill();
    }
    const status = JSON.parse((await cli(['status', '--json'], env)).stdout) as {
      pages: { page_id: string }[];
    };
    expect(status.pages.map((x) => x.page_id)).toEqual([second.id]);
  });

  it('when Facebook refuses the token, says why and lets you enter another; nothing is stored until one works', async () => {
    const fb = facebookPage('Retry Shop', 'long');
    // A token from before its user's password change: Facebook refuses it.
    const changed = graph.createUser({ name: 'Changed' });
    const beforeChange = graph.issueUserToken({ appId: fb.app.appId, userId: changed.id, lifetime: 'long' });
    graph.changePassword(changed.id);

    const env = envFor('retry');
    const t = openTerminal(
      `node bin/fb-token-keeper.js setup --page-id ${fb.page.id} --app-id ${fb.app.appId}`,
      { cwd: ROOT, env: { ...env, FB_APP_SECRET: fb.app.appSecret } },
    );
    try {
      // Page id, App id and secret came from flags and env: only the token is asked for.
      await t.waitFor(/◆ {2}Access token \(typed hidden\)/);
      t.enter(beforeChange);
      const refused = flat(await t.waitFor(/◆ {2}What now\?/));
      expect(refused).toContain('This token cannot be used');
      expect(refused).toMatch(/Facebook says this token is not valid: .*password.*\(password_changed\)/s);
      expect(refused).not.toMatch(/Facebook Page id|App secret \(typed/);
      t.enter(); // "Enter another token" is the suggestion
      await t.waitFor(/◆ {2}Access token \(typed hidden\)/);
      t.enter(fb.token);
      const explained = flat(await t.waitFor(/◆ {2}Set up Page \d+ with it\?/));
      expect(explained).toMatch(/This is a long-lived user token, valid until .* UTC \(\d+ days\)\./);
      t.enter();
      await t.waitFor(/Page \d+ is set up\./);
      expect(await t.exit()).toBe(0);
      for (const secret of [fb.app.appSecret, fb.token, beforeChange]) expect(t.raw()).not.toContain(secret);
    } finally {
      t.kill();
    }
    const status = JSON.parse((await cli(['status', '--json'], env)).stdout);
    expect(status.pages).toHaveLength(1);
    expect(status.pages[0]).toMatchObject({ page_id: fb.page.id, state: 'healthy' });
  });

  it('with every value given it asks nothing (and a refused token exits 1); answering No stores nothing', async () => {
    const fb = facebookPage('Stopped');
    const env = envFor('stop');
    const t = openTerminal(
      `node bin/fb-token-keeper.js setup --page-id ${fb.page.id} --app-id ${fb.app.appId}`,
      { cwd: ROOT, env: { ...env, FB_APP_SECRET: fb.app.appSecret, FB_ACCESS_TOKEN: 'EAAnot-a-real-token' } },
    );
    try {
      // Every value was given (FB_ACCESS_TOKEN too), so no questions: it runs non-interactively and fails.
      expect(await t.exit()).toBe(1);
      expect(t.screen()).toMatch(/error: .*not valid/);
    } finally {
      t.kill();
    }
    const t2 = openTerminal(
      `node bin/fb-token-keeper.js setup --page-id ${fb.page.id} --app-id ${fb.app.appId}`,
      { cwd: ROOT, env: { ...env, FB_APP_SECRET: fb.app.appSecret } },
    );
    try {
      await t2.waitFor(/◆ {2}Access token \(typed hidden\)/);
      t2.enter(fb.token);
      await t2.waitFor(/◆ {2}Set up Page \d+ with it\?/);
      t2.type('n');
      await t2.waitFor(/Setup cancelled; nothing was stored\./);
      expect(await t2.exit()).toBe(2);
    } finally {
      t2.kill();
    }
    expect(JSON.parse((await cli(['status', '--json'], env)).stdout).pages).toEqual([]);
  });
});

describe('setup in a terminal: Instagram (Instagram Login) and Threads', () => {
  for (const [platform, downs, name, kind] of [
    ['instagram', 1, 'Instagram', 'Instagram account'],
    ['threads', 2, 'Threads', 'Threads profile'],
  ] as const) {
    it(`${name}: asks the app id, secret and token, connects with ${platform}, says when it is refreshed`, async () => {
      const app = graph.createPlatformApp(platform, { name: `${name} poster` });
      const acc = graph.createPlatformAccount(platform, { username: `${platform}.tty` });
      const short = graph.issuePlatformToken(platform, {
        appId: app.appId,
        accountId: acc.id,
        lifetime: 'short',
      });
      const fbApp = graph.createApp({ name: 'Facebook app' });
      const env = envFor(`${platform}-tty`);
      const t = openTerminal('node bin/fb-token-keeper.js setup', { cwd: ROOT, env });
      try {
        await t.waitFor(/◆ {2}What do you post to\?/);
        t.type(KEY.down.repeat(downs));
        t.enter();
        const told = flat(await t.waitFor(new RegExp(`◆ {2}${name} app id`)));
        if (platform === 'instagram') {
          expect(told).toContain(
            'An Instagram account reached through a Facebook Page keeps using the Page token',
          );
        } else {
          expect(told).toContain('not the Facebook app id');
        }
        // Threads: the Facebook app id is refused in Threads' words, and can be entered again.
        t.enter(platform === 'threads' ? fbApp.appId : app.appId);
        await t.waitFor(new RegExp(`◆ {2}${name} app secret \\(typed hidden\\)`));
        t.enter(platform === 'threads' ? fbApp.appSecret : app.appSecret);
        await t.waitFor(new RegExp(`◆ {2}${name} access token \\(typed hidden\\)`));
        t.enter(short);
        if (platform === 'threads') {
          const refused = flat(await t.waitFor(/◆ {2}What now\?/));
          expect(refused).toMatch(/Threads refused this set-up; nothing was stored: .*Threads app/);
          // A refused app id: "Enter the App id and secret again" is the suggestion.
          await t.waitFor(/● Enter the App id and secret again/);
          t.enter();
          await t.waitFor(/◆ {2}Threads app id/);
          t.enter(app.appId);
          await t.waitFor(/◆ {2}Threads app secret \(typed hidden\)/);
          t.enter(app.appSecret);
        }
        const done = flat(await t.waitFor(new RegExp(`${kind} @${platform}\\.tty is set up\\.`)));
        expect(done).toContain(`Stored ${kind} @${platform}.tty (encrypted): healthy`);
        expect(done).toMatch(
          /It is refreshed when \d+ days or fewer are left, never before it is 24 hours old/,
        );
        expect(await t.exit()).toBe(0);
        for (const secret of [short, app.appSecret, fbApp.appSecret]) expect(t.raw()).not.toContain(secret);
      } finally {
        t.kill();
      }
      const status = JSON.parse((await cli(['status', '--json'], env)).stdout) as {
        pages: { page_id: string; platform: string; state: string }[];
      };
      expect(status.pages).toEqual([
        expect.objectContaining({ page_id: acc.id, platform, state: 'healthy' }),
      ]);
    });
  }
});

describe('setup for scripts', () => {
  it('runs without questions from flags, env and stdin; --json prints the result', async () => {
    const fb = facebookPage('Scripted');
    const env = envFor('flags');
    const r = await cli(
      [
        'setup',
        '--page-id',
        fb.page.id,
        '--app-id',
        fb.app.appId,
        '--app-secret',
        '-',
        '--access-token',
        '-',
      ],
      env,
      `${fb.app.appSecret}\n${fb.token}\n`,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/exchanged it for a long-lived one/);
    expect(r.stdout).toContain('npm start');
    expect(r.stdout + r.stderr).not.toContain(fb.token);
    expect(r.stdout + r.stderr).not.toContain(fb.app.appSecret);

    const fb2 = facebookPage('Scripted JSON', 'long');
    const j = await cli(['setup', '--page-id', fb2.page.id, '--app-id', fb2.app.appId, '--json'], {
      ...env,
      FB_APP_SECRET: fb2.app.appSecret,
      FB_ACCESS_TOKEN: fb2.token,
    });
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({
      input_token_type: 'USER',
      input_token_lifetime: 'long',
      status: { page_id: fb2.page.id, state: 'healthy' },
    });

    const missing = await cli(['setup', '--page-id', fb.page.id], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('needs --page-id, --app-id, --app-secret and --access-token');
  });
});

describe('setup words', () => {
  const now = Date.parse('2027-01-01T00:00:00Z');
  const base: ValidateResult = {
    success: true,
    valid: true,
    type: 'USER',
    app_id: '10',
    profile_id: null,
    user_id: '5',
    expires_at: null,
    data_access_expires_at: null,
    scopes: ['pages_manage_posts'],
    missing_scopes: [],
    error: null,
  };
  const at = (ms: number) => new Date(now + ms).toISOString();
  const say = (over: Partial<ValidateResult>) =>
    describeToken({ ...base, ...over }, { pageId: '20', appId: '10' }, now);

  it('uses setup’s own messages for each field', () => {
    expect(fieldProblem('pageId', '12ab')).toBe('Page id must be a numeric Facebook Page id');
    expect(fieldProblem('appId', '')).toBe('App id must be a numeric Facebook App id');
    expect(fieldProblem('appSecret', 'short')).toBe(
      'App secret must be the app secret from the App Dashboard',
    );
    expect(fieldProblem('accessToken', 'has space')).toBe('Access token must be a Facebook access token');
    expect(fieldProblem('pageId', ' 123 ')).toBeUndefined();
  });

  it('says what each kind of token is and whether it can be used', () => {
    expect(say({ expires_at: at(HOUR) }).lines[0]).toBe(
      'This is a short-lived user token: it lasts about 60 minutes more.',
    );
    expect(say({ expires_at: at(59 * DAY) }).lines[0]).toMatch(
      /^This is a long-lived user token, valid until 2027-03-01 00:00 UTC \(59 days\)\.$/,
    );
    expect(say({ type: 'SYSTEM_USER' }).lines[0]).toBe('This is a system-user token that does not expire.');
    expect(say({ type: 'PAGE', profile_id: '20' }).lines[0]).toMatch(/Page token that does not expire/);
    expect(say({ type: 'PAGE', profile_id: '20', expires_at: at(HOUR) }).lines[0]).toMatch(
      /cannot be extended/,
    );
    expect(say({ type: 'PAGE', profile_id: '21' })).toEqual({
      lines: ['This is a Page token for Page 21, not for Page 20.'],
      usable: false,
    });
    expect(say({ type: 'APP' }).usable).toBe(false);
    expect(say({ app_id: '11' }).usable).toBe(false);
    expect(
      say({
        valid: false,
        error: { code: 190, subcode: 460, message: 'password changed', reason: 'password_changed' },
      }),
    ).toEqual({
      lines: ['Facebook says this token is not valid: password changed (password_changed).'],
      usable: false,
    });
    const missing = say({ scopes: ['pages_show_list'], missing_scopes: ['pages_manage_posts'] });
    expect(missing.usable).toBe(false);
    expect(missing.lines.at(-1)).toMatch(/Missing: pages_manage_posts/);
  });
});
