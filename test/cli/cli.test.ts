/**
 * The real CLI as a user runs it: `node bin/fb-token-keeper.js …` in a child process, against a
 * temporary SQLite file and the emulator.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookTargetId } from '../../src/alerts/channels.js';
import { type FakeGraph, startFakeGraph } from '../../src/fake-graph/index.js';
import { refusedUrl, startWebhookReceiver } from '../alerts/receivers.js';

let graph: FakeGraph;
let dir: string;

beforeAll(async () => {
  graph = await startFakeGraph();
  dir = mkdtempSync(join(tmpdir(), 'fbtk-cli-'));
});
afterAll(async () => {
  await graph.close();
  rmSync(dir, { recursive: true, force: true });
});

function cli(args: string[], options: { stdin?: string; env?: Record<string, string> } = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['bin/fb-token-keeper.js', ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: `sqlite:${join(dir, 'db', 'keeper.db')}`,
        ENCRYPTION_KEY_FILE: join(dir, 'db', 'encryption.key'),
        GRAPH_API_URL: graph.url,
        LOG_LEVEL: 'warn',
        ...options.env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += String(d)));
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.stdin.end(options.stdin ?? '');
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('CLI', () => {
  it('add (seed order, secrets from stdin) → status → check → renew → validate, with a key file made 0600', async () => {
    const app = graph.createApp({ name: 'CLI app' });
    const user = graph.createUser({ name: 'Admin' });
    const page = graph.createPage({ name: 'CLI Page' });
    graph.grantRole(user.id, page.id);
    const token = graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'short' });

    const add = await cli(['add', page.id, '-', app.appId, '-'], { stdin: `${token}\n${app.appSecret}\n` });
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    expect(add.stdout).toMatch(/minted a Page token that does not expire/);
    expect(statSync(join(dir, 'db', 'encryption.key')).mode & 0o777).toBe(0o600);
    // The database holds names, ids and history in the clear: only its owner may read it.
    expect(statSync(join(dir, 'db')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'db', 'keeper.db')).mode & 0o777).toBe(0o600);

    const status = await cli(['status', '--json']);
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.stdout);
    expect(parsed.pages[0]).toMatchObject({
      page_id: page.id,
      state: 'healthy',
      token_type: 'PAGE',
      expires_at: null,
    });

    const table = await cli(['status']);
    expect(table.stdout).toMatch(/CLI Page\s+healthy\s+never expires/);

    const check = await cli(['check', '--all', '--json']);
    expect(JSON.parse(check.stdout)).toMatchObject({ checked: 1 });

    const renew = await cli(['renew', '--force', '--json']);
    expect(JSON.parse(renew.stdout)).toMatchObject({ renewed: true, page_id: page.id });

    const valid = await cli(['validate', '--json']);
    expect(JSON.parse(valid.stdout)).toMatchObject({ valid: true, type: 'PAGE', profile_id: page.id });

    // Nothing the CLI printed or stored carries the token or the secret in clear.
    for (const out of [add, status, table, check, renew, valid]) {
      expect(out.stdout + out.stderr).not.toContain(token);
      expect(out.stdout + out.stderr).not.toContain(app.appSecret);
    }
    const db = readFileSync(join(dir, 'db', 'keeper.db'));
    expect(db.includes(Buffer.from(app.appSecret))).toBe(false);
  }, 120_000); // six CLI processes: over 30 s when the machine is busy

  it('a Page name with terminal escapes, an OSC title and CR LF cannot repaint the terminal or forge rows; --json stays exact', async () => {
    const hostile = 'Evil\u001b[31m RED\u001b]0;pwned\u0007\r\n999  healthy  never expires\u009b2J';
    const app = graph.createApp({ name: 'Hostile app' });
    const user = graph.createUser({ name: 'Admin' });
    const page = graph.createPage({ name: hostile });
    graph.grantRole(user.id, page.id);
    const token = graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
    const own = {
      DATABASE_URL: `sqlite:${join(dir, 'hostile', 'keeper.db')}`,
      ENCRYPTION_KEY_FILE: join(dir, 'hostile', 'encryption.key'),
    };
    const add = await cli(['add', page.id, '-', app.appId, '-'], {
      stdin: `${token}\n${app.appSecret}\n`,
      env: own,
    });
    expect(add.code).toBe(0);
    // Any C0 control but the newlines we print ourselves, DEL, or C1 control.
    // eslint-disable-next-line no-control-regex -- looking for control characters is the point
    const control = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
    const outputs = [add.stdout];
    for (const args of [['status'], ['status', '--page-id', page.id], ['history', '--page-id', page.id]]) {
      const r = await cli(args, { env: own });
      expect(r.code, args.join(' ')).toBe(0);
      outputs.push(r.stdout);
    }
    for (const out of outputs) expect(out).not.toMatch(control);
    // One Page, so the table is a header and exactly one row: no forged "999 healthy" row.
    // (The table ends at the first blank line; the database and key source, and warnings, follow it.)
    const table = outputs[1]!.split('\n\n')[0]!.trimEnd().split('\n');
    expect(table).toHaveLength(2);
    expect(table[1]).toContain('Evil[31m RED]0;pwned999  healthy  never expires2J');
    expect(outputs[2]).toContain(
      `Page ${page.id} (Evil[31m RED]0;pwned999  healthy  never expires2J): healthy`,
    );

    const json = await cli(['status', '--json'], { env: own });
    expect(JSON.parse(json.stdout).pages[0].page_name).toBe(hostile);
  }, 120_000); // seven CLI processes on a shared, busy machine

  it('bad usage exits 2 with a message; a refused token exits 1 and stores nothing', async () => {
    const usage = await cli(['renew', '--bogus']);
    expect(usage.code).toBe(2);
    const missing = await cli(['add', '123']);
    expect(missing.code).toBe(2);
    const app = graph.createApp({ name: 'x' });
    const bad = await cli(['add', '999', 'EAAnotatoken123', app.appId, app.appSecret]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/error:/);
  });

  it('a bad environment variable fails at start, naming it', async () => {
    const r = await cli(['status'], { env: { CHECK_INTERVAL_HOURS: 'often' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('CHECK_INTERVAL_HOURS');
  });
});

describe('CLI: alert-test, status --exit-status, history with one Page', () => {
  /** Each test its own database, so the Pages of the other tests do not count. */
  const own = (name: string) => ({
    DATABASE_URL: `sqlite:${join(dir, name, 'keeper.db')}`,
    ENCRYPTION_KEY_FILE: join(dir, name, 'encryption.key'),
  });

  function facebookPage(name: string) {
    const app = graph.createApp({ name: `${name} app` });
    const user = graph.createUser({ name: `${name} admin` });
    const page = graph.createPage({ name });
    graph.grantRole(user.id, page.id);
    const token = graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' });
    return { app, user, page, token };
  }

  it('alert-test: delivered to a live receiver (exit 0); a dead one is not delivered (exit 1); no secret in the output', async () => {
    const webhookSecret = 'cli-alert-test-secret-0123';
    const receiver = await startWebhookReceiver({ secret: webhookSecret });
    const dead = await refusedUrl();
    try {
      const arrived = receiver.next();
      const ok = await cli(['alert-test'], {
        env: { WEBHOOK_URLS: receiver.url, WEBHOOK_SECRET: webhookSecret },
      });
      expect(ok.code, ok.stderr).toBe(0);
      const got = await arrived;
      expect(got.verified).toBe(true);
      expect(got.body).toMatchObject({ event: 'test' });
      expect(ok.stdout).toContain(webhookTargetId(receiver.url));
      expect(ok.stdout).toMatch(/webhook\s+\S+\s+delivered/);

      const bad = await cli(['alert-test', '--json'], {
        env: { WEBHOOK_URLS: `${receiver.url},${dead}`, WEBHOOK_SECRET: webhookSecret },
      });
      expect(bad.code).toBe(1);
      const results = (JSON.parse(bad.stdout) as { results: { target: string; delivered: boolean }[] })
        .results;
      expect(results).toEqual([
        expect.objectContaining({ target: webhookTargetId(receiver.url), delivered: true }),
        expect.objectContaining({ target: webhookTargetId(dead), delivered: false }),
      ]);
      const text = await cli(['alert-test'], { env: { WEBHOOK_URLS: dead, WEBHOOK_SECRET: webhookSecret } });
      expect(text.code).toBe(1);
      expect(text.stdout).toContain('NOT delivered');
      for (const r of [ok, bad, text]) {
        const all = r.stdout + r.stderr;
        // The receiver's URL carries ?token=receiver-secret; neither it nor the signing secret shows.
        expect(all).not.toContain('receiver-secret');
        expect(all).not.toContain(webhookSecret);
        expect(all).not.toContain(receiver.url);
        expect(all).not.toContain(dead);
      }
      expect(receiver.got).toHaveLength(2);
    } finally {
      await receiver.close();
    }
  });

  it('status --exit-status exits 0 while every Page is fine and 1 once one is needs_reauth; plain status exits 0', async () => {
    const env = own('exit-status');
    const fb = facebookPage('Exit Status Page');
    const add = await cli(['add', fb.page.id, '-', fb.app.appId, '-'], {
      env,
      stdin: `${fb.token}\n${fb.app.appSecret}\n`,
    });
    expect(add.code, add.stderr).toBe(0);
    expect((await cli(['status', '--exit-status'], { env })).code).toBe(0);

    // The admin changes their password: the Page token and the source die; check finds it.
    graph.changePassword(fb.user.id);
    const check = await cli(['check', '--all'], { env });
    expect(check.code).toBe(1);
    const after = await cli(['status', '--exit-status'], { env });
    expect(after.code, after.stderr).toBe(1);
    expect(after.stdout).toContain('needs_reauth');
    expect((await cli(['status'], { env })).code).toBe(0);
  });

  it('history needs no --page-id with one Page, and asks for it (exit 2) with two', async () => {
    const env = own('history-one');
    const one = facebookPage('History Page');
    await cli(['add', one.page.id, '-', one.app.appId, '-'], {
      env,
      stdin: `${one.token}\n${one.app.appSecret}\n`,
    });
    const h = await cli(['history'], { env });
    expect(h.code, h.stderr).toBe(0);
    expect(h.stdout).toMatch(/\bsetup\b/);
    const json = await cli(['history', '--json'], { env });
    expect(json.code).toBe(0);
    const items = (JSON.parse(json.stdout) as { history: { type: string; message: string | null }[] })
      .history;
    expect(items.map((e) => e.type)).toContain('setup');

    const two = facebookPage('History Page Two');
    await cli(['add', two.page.id, '-', two.app.appId, '-'], {
      env,
      stdin: `${two.token}\n${two.app.appSecret}\n`,
    });
    const ambiguous = await cli(['history'], { env });
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toContain('page_id');
  });

  it('connect --platform instagram|threads keeps the account; status --json shows its platform; Threads refuses the Facebook app id', async () => {
    const env = {
      DATABASE_URL: `sqlite:${join(dir, 'platforms', 'keeper.db')}`,
      ENCRYPTION_KEY_FILE: join(dir, 'platforms', 'encryption.key'),
      INSTAGRAM_API_URL: graph.instagramUrl,
      INSTAGRAM_OAUTH_URL: graph.instagramUrl,
      THREADS_API_URL: graph.threadsUrl,
    };
    const fb = graph.createApp({ name: 'Meta app' });
    for (const platform of ['instagram', 'threads'] as const) {
      const app = graph.createPlatformApp(platform, { name: 'Meta app', facebookAppId: fb.appId });
      const acc = graph.createPlatformAccount(platform, { username: `cli.${platform}` });
      const short = graph.issuePlatformToken(platform, {
        appId: app.appId,
        accountId: acc.id,
        lifetime: 'short',
      });
      if (platform === 'threads') {
        const refused = await cli(['connect', '--platform', 'threads', '-', fb.appId, '-'], {
          env,
          stdin: `${short}\n${fb.appSecret}\n`,
        });
        expect(refused.code).toBe(1);
        expect(refused.stderr).toContain('Threads App ID');
        expect(refused.stderr).not.toContain(short);
      }
      const r = await cli(['connect', '--platform', platform, '-', app.appId, '-'], {
        env,
        stdin: `${short}\n${app.appSecret}\n`,
      });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`cli.${platform}`);
      expect(r.stdout).toContain(`/api/accounts/${platform}/${acc.id}/token`);
      expect(r.stdout).not.toContain(short);
    }
    const status = await cli(['status', '--json'], { env });
    expect(status.code).toBe(0);
    const rows = JSON.parse(status.stdout).pages as { platform: string; state: string }[];
    expect(rows.map((p) => [p.platform, p.state]).sort()).toEqual([
      ['instagram', 'healthy'],
      ['threads', 'healthy'],
    ]);
  });

  it('connect with a WhatsApp system-user token keeps it with no Page; the API Setup temporary token is refused with the steps', async () => {
    const env = {
      DATABASE_URL: `sqlite:${join(dir, 'whatsapp', 'keeper.db')}`,
      ENCRYPTION_KEY_FILE: join(dir, 'whatsapp', 'encryption.key'),
    };
    const app = graph.createApp({ name: 'WhatsApp app' });
    const person = graph.createUser({ name: 'Developer' });
    const temporary = graph.issueWhatsAppTemporaryToken({ appId: app.appId, userId: person.id });
    const refused = await cli(['connect', '-', app.appId, '-'], {
      env,
      stdin: `${temporary}\n${app.appSecret}\n`,
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('System users');
    expect(refused.stderr).not.toContain(temporary);

    const su = graph.createSystemUser({ appId: app.appId, pages: [] });
    const token = graph.issueSystemUserToken({
      appId: app.appId,
      systemUserId: su.id,
      scopes: ['whatsapp_business_messaging', 'whatsapp_business_management'],
    });
    const r = await cli(['connect', '-', app.appId, '-'], { env, stdin: `${token}\n${app.appSecret}\n` });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('WhatsApp Cloud API system-user token');
    expect(r.stdout).toContain('never expires');
    expect(r.stdout).not.toContain(token);

    // status and status --json show it as a WhatsApp account, with its state and expiry.
    const id = `facebook_${app.appId}_${su.id}`;
    const json = await cli(['status', '--json'], { env });
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout).whatsapp).toEqual([
      expect.objectContaining({
        platform: 'whatsapp',
        id,
        state: 'healthy',
        expires_at: null,
        token_valid: true,
      }),
    ]);
    const table = await cli(['status'], { env });
    expect(table.stdout).toMatch(new RegExp(`WHATSAPP[\\s\\S]*${id}\\s+\\S.*healthy\\s+never`));
    const one = await cli(['status', '--page-id', id, '--json'], { env });
    expect(JSON.parse(one.stdout)).toMatchObject({
      platform: 'whatsapp',
      id,
      renewal_reason: 'never_expires',
    });
    expect(json.stdout + table.stdout + one.stdout).not.toContain(token);

    // Killed at Facebook: `check` says what to do and exits 1 (for cron), and so does status --exit-status.
    graph.invalidateToken(token);
    const check = await cli(['check', '--all'], { env });
    expect(check.code, check.stderr).toBe(1);
    expect(check.stdout).toContain(id);
    expect(check.stdout).toMatch(/needs_reauth.*Generate new token/);
    expect((await cli(['status', '--exit-status'], { env })).code).toBe(1);
    expect(check.stdout).not.toContain(token);
  });
});
