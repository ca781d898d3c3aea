/**
 * End to end, as a user would: `serve` runs as a real process against the Graph emulator, and the
 * seed document's curl commands (seed/TOKEN_RENEWAL_SYSTEM.md) run as written, with only the
 * Authorization header added and the port of this test: setup, status, renew, validate, and the
 * "Manual Recovery" flow after the admin's password changed.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeGraph, startFakeGraph } from '../../src/fake-graph/index.js';

const PAGE_ID = '534295833110036';
const APP_ID = '1173190721520267';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Run one shell command (curl) and return its parsed JSON output and HTTP status. Asynchronous:
 * the emulator that `serve` calls lives in this process and must keep answering meanwhile.
 */
async function sh(command: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await promisify(execFile)('bash', ['-c', `${command} -s -w '\\n%{http_code}'`], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  const lines = r.stdout.trimEnd().split('\n');
  const status = Number(lines.pop());
  return { status, json: JSON.parse(lines.join('\n')) as Record<string, unknown> };
}

describe('the seed document’s curl commands against `serve`', () => {
  let graph: FakeGraph;
  let child: ChildProcess;
  let dir: string;
  let port: number;
  let key = '';
  let stdout = '';
  let userId: string;
  let appSecret: string;

  beforeAll(async () => {
    graph = await startFakeGraph();
    appSecret = graph.createApp({ appId: APP_ID, name: 'Seed app' }).appSecret;
    graph.createPage({ id: PAGE_ID, name: 'Seed Page' });
    userId = graph.createUser({ name: 'Page admin' }).id;
    graph.grantRole(userId, PAGE_ID);
    dir = mkdtempSync(join(tmpdir(), 'fbtk-seed-'));
    port = await freePort();
    child = spawn(process.execPath, ['bin/fb-token-keeper.js', 'serve'], {
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}`,
        ENCRYPTION_KEY_FILE: join(dir, 'encryption.key'),
        GRAPH_API_URL: graph.url,
        FACEBOOK_DIALOG_URL: graph.url,
        HOST: '127.0.0.1',
        PORT: String(port),
        PUBLIC_URL: `http://localhost:${port}`,
        LOG_FORMAT: 'json',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline || child.exitCode !== null) {
        throw new Error(`serve did not start:\n${stdout}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    // Not a terminal, so the key went to a 0600 file in the data folder, not into the output.
    key = readFileSync(join(dir, 'bootstrap-admin.key'), 'utf8').trim();
  }, 40_000);

  afterAll(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await graph.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serve writes the bootstrap admin key to a 0600 file and logs only its path, never the key', () => {
    expect(key).toMatch(/^ftk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(statSync(join(dir, 'bootstrap-admin.key')).mode & 0o777).toBe(0o600);
    // stdout and stderr together: the key is nowhere, not even its secret half.
    expect(stdout).not.toContain(key);
    expect(stdout).not.toContain(key.slice(-43));
    const logLines = stdout.split('\n').filter((l) => l.startsWith('{'));
    expect(logLines.length).toBeGreaterThan(0);
    const announced = logLines.map((l) => JSON.parse(l) as { file?: string }).find((l) => l.file);
    expect(announced?.file).toBe(join(dir, 'bootstrap-admin.key'));
  });

  it('setup, status, renew and validate, as the seed shows them', async () => {
    const auth = `-H "Authorization: Bearer ${key}"`;
    const token = graph.issueUserToken({ appId: APP_ID, userId, lifetime: 'long' });

    // "Set Up New Token"
    const setup = await sh(`curl -X POST http://localhost:${port}/api/token/setup ${auth} \\
     -H "Content-Type: application/json" \\
     -d '{
       "page_id": "${PAGE_ID}",
       "access_token": "${token}",
       "app_id": "${APP_ID}",
       "app_secret": "${appSecret}"
     }'`);
    expect(setup.status).toBe(201);
    expect(setup.json).toMatchObject({
      success: true,
      page_id: PAGE_ID,
      state: 'healthy',
      token_type: 'PAGE',
    });

    // "Check Token Status"
    const status = await sh(`curl http://localhost:${port}/api/token/status ${auth}`);
    expect(status.status).toBe(200);
    expect(status.json).toMatchObject({
      success: true,
      page_id: PAGE_ID,
      token_valid: true,
      auto_renew: true,
    });
    expect(Array.isArray(status.json.history)).toBe(true);

    // "Manual Token Renewal": POST with no body.
    const renew = await sh(`curl -X POST http://localhost:${port}/api/token/renew ${auth}`);
    expect(renew.status).toBe(200);
    expect(renew.json).toMatchObject({ success: true, renewed: false, reason: 'never_expires' });

    // "Validate Token"
    const validate = await sh(`curl -X POST http://localhost:${port}/api/token/validate ${auth} \\
     -H "Content-Type: application/json" \\
     -d '{
       "access_token": "${graph.issueUserToken({ appId: APP_ID, userId, lifetime: 'long' })}"
     }'`);
    expect(validate.status).toBe(200);
    expect(validate.json).toMatchObject({ success: true, valid: true, type: 'USER', app_id: APP_ID });

    // Without the key, the API says so.
    const anonymous = await sh(`curl http://localhost:${port}/api/token/status`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.json).toMatchObject({ success: false, error: { code: 'unauthorized' } });
  });

  it('"Manual Recovery": after a password change, a new token through setup brings the page back', async () => {
    const auth = `-H "Authorization: Bearer ${key}"`;
    graph.changePassword(userId);
    const check = await sh(`curl -X POST http://localhost:${port}/api/pages/${PAGE_ID}/check ${auth}`);
    expect(check.status).toBe(200);
    const broken = await sh(`curl http://localhost:${port}/api/token/status ${auth}`);
    expect(broken.json).toMatchObject({ state: 'needs_reauth', token_valid: false });
    expect(String(broken.json.state_message)).toMatch(/password/);

    // 1. "Get a new token from Facebook"  2. "Update via API" — the seed's command, verbatim but for the header and port.
    const newToken = graph.issueUserToken({ appId: APP_ID, userId, lifetime: 'long' });
    const recovered = await sh(`curl -X POST http://localhost:${port}/api/token/setup ${auth} \\
     -H "Content-Type: application/json" \\
     -d '{
       "page_id": "534295833110036",
       "access_token": "${newToken}",
       "app_id": "1173190721520267", 
       "app_secret": "${appSecret}"
     }'`);
    expect(recovered.status).toBe(201);
    expect(recovered.json).toMatchObject({ state: 'healthy', token_valid: true });
    const status = await sh(`curl http://localhost:${port}/api/token/status ${auth}`);
    expect(status.json).toMatchObject({ state: 'healthy', token_valid: true });
  });

  it('stops cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stdout).toMatch(/stopped cleanly/);
  }, 20_000);
});
