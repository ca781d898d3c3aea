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
  });

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
