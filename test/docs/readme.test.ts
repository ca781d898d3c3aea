/**
 * The README cannot rot: the commands of "Try it in five minutes" are cut out of README.md and run
 * by bash, exactly as written, against real processes (fake-graph, a webhook receiver and `serve`,
 * on free ports instead of the README's 5055/5099/5000). The one step a person does in a browser —
 * Continue in the Login dialog — is done here over HTTP, then the README's last command runs. The
 * quick start's `npm start` is run too (in an empty folder, as `serve` with the defaults); its
 * `npm test` is what CI runs, so it is not run again from inside the tests.
 *
 * `npx fb-token-keeper` finds this checkout the way the README tells a clone to: `npm link`, here
 * into a private npm prefix so the machine's global folder is left alone.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerDialog } from '../connect/flow.js';
import { freePort, pollUntil } from '../reliability/helpers.js';

const ROOT = resolve(import.meta.dirname, '../..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The shell code of the ```sh block between `<!-- NAME:start -->` and `<!-- NAME:end -->`. */
function block(name: string): string {
  const m = new RegExp(
    `<!-- ${name}:start -->\\s*\`\`\`sh\\n([\\s\\S]*?)\`\`\`\\s*<!-- ${name}:end -->`,
  ).exec(README);
  if (!m?.[1]) throw new Error(`README.md has no \`\`\`sh block marked ${name}`);
  return m[1];
}

let work = '';
let prefix = '';
const groups: ChildProcess[] = [];
let ports = { graph: 0, hooks: 0, keeper: 0 };

/**
 * bash running `script` in `cwd`, in its own process group (background jobs included). The README's
 * loops wait without end for what a person would see come up; past `timeoutMs` the group is killed
 * and the error carries what was printed and the tail of the demo's logs, so a hang says why.
 */
function bash(
  script: string,
  cwd: string,
  timeoutMs = 150_000,
): Promise<{ code: number | null; out: string }> {
  const child = spawn('bash', ['-c', script], {
    cwd,
    env: {
      PATH: `${join(prefix, 'bin')}:${process.env.PATH ?? ''}`,
      HOME: process.env.HOME ?? work,
      npm_config_prefix: prefix,
      npm_config_update_notifier: 'false',
      LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  groups.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
  return new Promise((resolveRun, reject) => {
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      const tail = (file: string) => {
        try {
          return readFileSync(join(cwd, file), 'utf8').slice(-3000);
        } catch {
          return '(none)';
        }
      };
      reject(
        new Error(
          `bash did not finish in ${String(timeoutMs / 1000)} s; it printed:\n${out}\n--- demo/serve.log:\n${tail('demo/serve.log')}\n--- demo/alerts.log:\n${tail('demo/alerts.log')}`,
        ),
      );
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolveRun({ code, out });
    });
  });
}

/** The README's ports, swapped for free ones. */
const onFreePorts = (s: string) =>
  s
    .replaceAll('5055', String(ports.graph))
    .replaceAll('5099', String(ports.hooks))
    .replaceAll('5000', String(ports.keeper));

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'fbtk-readme-'));
  prefix = join(work, 'npm-prefix');
  mkdirSync(prefix);
  // `npm link` from the clone (scripts skipped: dist/ is built by the test run's global setup).
  execFileSync('npm', ['link', '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd: ROOT,
    env: { ...process.env, npm_config_prefix: prefix },
    stdio: 'ignore',
  });
  ports = { graph: await freePort(), hooks: await freePort(), keeper: await freePort() };
}, 120_000);

/** Whether any process of the group led by `pid` is still alive. */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

afterAll(async () => {
  for (const c of groups) {
    try {
      if (c.pid !== undefined) process.kill(-c.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  // A `serve` shutting down still writes its log and database into the folders being removed:
  // wait for the groups to end first (a loaded CI run once saw ENOTEMPTY).
  const deadline = Date.now() + 15_000;
  while (groups.some((c) => c.pid !== undefined && groupAlive(c.pid)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  if (work) rmSync(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
}, 30_000);

describe('README', () => {
  it('"Try it in five minutes" runs as written: add a Page, password change, alert, reconnect, healthy', async () => {
    const demo = join(work, 'try-it');
    mkdirSync(demo);
    // The README's block, then what the test needs to carry on: the variables, and the Page's status as JSON.
    const first = await bash(
      `${onFreePorts(block('try-it'))}
declare -p APP_ID APP_SECRET ADMIN PAGE_ID USER_TOKEN > demo/vars.sh; export -p >> demo/vars.sh
npx fb-token-keeper status --page-id "$PAGE_ID" --json > demo/status.json
`,
      demo,
    );
    const out = first.out;
    const world = JSON.parse(readFileSync(join(demo, 'demo/world.json'), 'utf8')) as { page: { id: string } };
    // Step 4: the Page was added and is healthy, with a Page token that never expires.
    expect(out).toMatch(new RegExp(`${world.page.id}.*healthy`));
    // Step 5: the password change made it needs_reauth, with the reason in words and a link.
    expect(out).toContain(`Page ${world.page.id} (Demo Page): needs_reauth`);
    expect(out).toMatch(/password/i);
    expect(out).toMatch(/reconnect: +http:\/\/127\.0\.0\.1:\d+\/connect\//);
    // The alert reached the webhook receiver.
    const alerts = readFileSync(join(demo, 'demo/alerts.log'), 'utf8');
    expect(alerts).toContain('needs_reauth');
    expect(alerts).toContain(world.page.id);
    // Nothing secret in what the keeper printed or logged.
    const vars = readFileSync(join(demo, 'demo/vars.sh'), 'utf8');
    const secret = /APP_SECRET="([^"]+)"/.exec(vars)?.[1] ?? '';
    const userToken = /USER_TOKEN="([^"]+)"/.exec(vars)?.[1] ?? '';
    expect(secret.length).toBeGreaterThan(8);
    const keeperLog = readFileSync(join(demo, 'demo/serve.log'), 'utf8');
    for (const text of [out, alerts, keeperLog]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(userToken);
    }

    // What a person does in the browser: open the link, press Continue in the Login dialog.
    const status = JSON.parse(readFileSync(join(demo, 'demo/status.json'), 'utf8')) as {
      reconnect_url: string;
    };
    const opened = await fetch(status.reconnect_url, { redirect: 'manual' });
    expect(opened.status).toBe(302);
    const cookie = (opened.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const callback = await answerDialog(opened.headers.get('location') ?? '');
    const done = await fetch(callback, { headers: { cookie }, redirect: 'manual' });
    expect(done.status, await done.clone().text()).toBe(200);

    // The README's command after the reconnect.
    const after = await bash(`source demo/vars.sh\n${onFreePorts(block('try-it-after-reconnect'))}`, demo);
    expect(after.out).toContain(`Page ${world.page.id} (Demo Page): healthy`);
    expect(after.out).toContain('reconnected');
  }, 300_000);

  it('quick start: `npm start` serves with nothing set up, its data in ~/.local/share/fb-token-keeper, key file mode 0600', async () => {
    const start = /^npm ci && (npm start)\b/m.exec(README)?.[1];
    expect(start).toBe('npm start');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: { start: string };
    };
    // The start script, run from an empty folder with only the port changed.
    const folder = join(work, 'quick-start');
    mkdirSync(folder);
    const port = await freePort();
    // A home of its own: the default data folder is $HOME/.local/share/fb-token-keeper (DATA_DIR).
    const home = join(work, 'quick-start-home');
    mkdirSync(home);
    const run = bash(
      `unset XDG_DATA_HOME DATA_DIR DATABASE_URL ENCRYPTION_KEY_FILE TOKEN_ENCRYPTION_KEY TOKEN_ENCRYPTION_KEYS; HOME=${home} PORT=${String(port)} ${pkg.scripts.start.replace('bin/', `${ROOT}/bin/`)}`,
      folder,
    );
    const data = join(home, '.local/share/fb-token-keeper');
    await pollUntil(
      'npm start to answer /readyz',
      async () => {
        const r = await fetch(`http://127.0.0.1:${String(port)}/readyz`);
        await r.arrayBuffer();
        return r.status === 200;
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    expect(statSync(join(data, 'encryption.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(data, 'fb-token-keeper.db')).isFile()).toBe(true);
    const child = groups.at(-1);
    if (child?.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
    const { out } = await run;
    // Not a terminal: the admin API key is in a 0600 file beside the database, and only its path is logged.
    const keyFile = join(data, 'bootstrap-admin.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const key = readFileSync(keyFile, 'utf8').trim();
    expect(key).toMatch(/^ftk_[0-9a-f]{16}_\S{43}$/);
    expect(out).toContain('bootstrap-admin.key');
    expect(out).not.toContain(key);
  }, 120_000);
});
