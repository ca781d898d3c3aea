/**
 * The real CLI as a user runs it: `node bin/fb-token-keeper.js …` in a child process, against a
 * temporary SQLite file and the emulator.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeGraph, startFakeGraph } from '../../src/fake-graph/index.js';

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
