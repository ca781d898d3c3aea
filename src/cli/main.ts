/**
 * `fb-token-keeper <command>`: a thin front door over the core. Exit codes: 0 ok, 1 failure, 2 bad usage.
 */
import { Command, CommanderError, Option } from 'commander';
import { type Config, loadConfig, readProcessEnv } from '../config.js';
import { AppError } from '../errors.js';
import { createTokenKeeper, type KeeperInternals } from '../lifecycle/keeper.js';
import { NO_ALERT_CHANNEL, targetsFromConfig } from '../alerts/channels.js';
import { SCENARIOS } from '../lifecycle/scenarios.js';
import { needsPerson } from '../types.js';
import {
  checkText,
  historyText,
  notesText,
  renewText,
  sourcesText,
  statusDetail,
  statusTable,
  whatsAppTable,
  testAlertText,
  validateText,
} from './output.js';
import { registerApiKeyCommands } from './api-key-command.js';
import type { CliIo } from './io.js';
import { readSecretArgs } from './stdin.js';

const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

export async function runCli(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  const out = (s: string) => io.stdout.write(`${s}\n`);
  const json = (v: unknown) => io.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
  let config: Config | undefined;
  const getConfig = () => (config ??= loadConfig(io.env));
  async function cliLogger() {
    const { createLogger } = await import('../logger.js');
    // CLI commands log to stderr, quietly, so stdout stays clean for tables and --json.
    return createLogger({
      level: io.env.LOG_LEVEL ?? 'warn',
      format: 'json',
      destination: process.stderr,
    });
  }
  /**
   * The ACCESS_TOKEN and APP_SECRET arguments of `add` and `connect`: as given, else from
   * FB_ACCESS_TOKEN / FB_APP_SECRET; `-` reads the next line of stdin (prompting on stderr).
   */
  async function tokenAndSecret(token: string | undefined, secret: string | undefined) {
    const [accessToken = '', appSecret = ''] = await readSecretArgs(
      [token ?? io.env.FB_ACCESS_TOKEN, secret ?? io.env.FB_APP_SECRET],
      ['ACCESS_TOKEN (or FB_ACCESS_TOKEN)', 'APP_SECRET (or FB_APP_SECRET)'],
      io.stdin,
      { prompt: io.stderr },
    );
    return { accessToken, appSecret };
  }
  /**
   * A keeper for one command. Only the commands that set something up (`setup`, `add`; `serve` and
   * `migrate` open their own) pass `create`: any other command finding no database fails naming
   * the path it looked at, instead of creating an empty database and a new key there.
   */
  async function withKeeper<T>(
    fn: (k: KeeperInternals) => Promise<T>,
    options: { create?: boolean } = {},
  ): Promise<T> {
    const cfg = getConfig();
    const keeper = await createTokenKeeper({
      config: cfg,
      logger: await cliLogger(),
      create: options.create === true,
    });
    try {
      return await fn(keeper);
    } finally {
      await keeper.close();
    }
  }

  const program = new Command()
    .name('fb-token-keeper')
    .description(
      'Keeps a Facebook Page token alive: stores it encrypted, checks, renews, self-heals and alerts.',
    )
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError()
    .addHelpText(
      'after',
      `
Configuration comes from the environment (and ./.env): DATA_DIR (default ~/.local/share/fb-token-keeper),
DATABASE_URL, TOKEN_ENCRYPTION_KEYS / TOKEN_ENCRYPTION_KEY / ENCRYPTION_KEY_FILE, GRAPH_API_VERSION,
CHECK_INTERVAL_HOURS, RENEWAL_THRESHOLD_DAYS, ALERT_DAYS_BEFORE, WEBHOOK_URLS, ... (see README).

Examples:
  fb-token-keeper serve                                  # HTTP API + scheduler + dashboard on :5000
  fb-token-keeper setup                                  # guided set-up
  fb-token-keeper add 534295833110036 - 1173190721520267 -   # token and secret read from stdin
  fb-token-keeper status --json
  fb-token-keeper check                                  # from cron, like certbot renew`,
    );

  program
    .command('serve')
    .description('run the HTTP API, the scheduler and the dashboard')
    .action(async () => {
      const { runServe } = await import('../service.js');
      await runServe(getConfig(), io);
    });

  program
    .command('migrate')
    .description('apply database migrations (also done at start-up)')
    .option('--status', 'only show which migrations are applied')
    .action(async (o: { status?: boolean }) => {
      const { openStoreForMigrations } = await import('../service.js');
      const store = await openStoreForMigrations(getConfig());
      try {
        if (o.status) {
          const s = await store.migrationStatus();
          out(`applied: ${s.applied.join(', ') || '-'}\npending: ${s.pending.join(', ') || '-'}`);
        } else {
          const r = await store.migrate();
          out(r.applied.length ? `applied ${r.applied.join(', ')}` : 'database is up to date');
        }
      } finally {
        await store.close();
      }
    });

  program
    .command('add')
    .description(
      "set up a page non-interactively, in the seed's migration-script order ('-' reads a value from stdin)",
    )
    .argument('<PAGE_ID>')
    .argument('[ACCESS_TOKEN]', 'or env FB_ACCESS_TOKEN, or - for stdin')
    .argument('<APP_ID>')
    .argument('[APP_SECRET]', 'or env FB_APP_SECRET, or - for stdin')
    .option('--json', 'print JSON')
    .action(
      async (
        pageId: string,
        token: string | undefined,
        appId: string,
        secret: string | undefined,
        o: { json?: boolean },
      ) => {
        const { accessToken, appSecret } = await tokenAndSecret(token, secret);
        await withKeeper(
          async (k) => {
            const r = await k.setup({ pageId, accessToken, appId, appSecret });
            if (o.json) json(r);
            else out(`${notesText(r.notes)}\n\n${statusDetail(r.status)}\n\nRun the service with: npm start`);
          },
          { create: true },
        );
      },
    );

  program
    .command('connect')
    .description(
      "set up a login and its Pages together: every Page the token can post to, or those named with --page-id ('-' reads a value from stdin)",
    )
    .argument('[ACCESS_TOKEN]', 'a user or system-user token; or env FB_ACCESS_TOKEN, or - for stdin')
    .argument('<APP_ID>')
    .argument('[APP_SECRET]', 'or env FB_APP_SECRET, or - for stdin')
    .option(
      '--platform <platform>',
      'facebook, instagram (Instagram API with Instagram Login) or threads (use the Threads app id and secret)',
      'facebook',
    )
    .option('--page-id <id...>', 'only these Pages (repeat the option for several)')
    .option('--json', 'print JSON')
    .action(
      async (
        token: string | undefined,
        appId: string,
        secret: string | undefined,
        o: { json?: boolean; platform: string; pageId?: string[] },
      ) => {
        const { accessToken, appSecret } = await tokenAndSecret(token, secret);
        await withKeeper(
          async (k) => {
            const r = await k.connect({
              accessToken,
              appId,
              appSecret,
              platform: o.platform,
              ...(o.pageId ? { pageIds: o.pageId } : {}),
            });
            if (o.json) {
              json(r);
              return;
            }
            const kept = r.pages[0];
            if (r.connection.platform !== 'facebook' && kept) {
              out(
                [
                  `Connection ${r.connection.id}: ${r.connection.platform === 'instagram' ? 'Instagram account' : 'Threads profile'} ${kept.page_name ?? ''} (${kept.page_id}) ${kept.state}; its token is valid until ${kept.expires_at ?? 'an unknown time'} and is refreshed before then.`,
                  `Posting apps fetch it with GET /api/accounts/${r.connection.platform}/${kept.page_id}/token.`,
                  '',
                  'Run the service with: npm start',
                ].join('\n'),
              );
              return;
            }
            if (r.pages.length === 0 && r.connection.scopes.some((s) => s.startsWith('whatsapp_business_'))) {
              out(
                [
                  `Connection ${r.connection.id}: WhatsApp Cloud API system-user token (${r.connection.scopes.filter((s) => s.startsWith('whatsapp_business_')).join(', ')}), no Page needed; ${r.connection.source_expires_at === null ? 'it never expires and is checked every round' : `valid until ${r.connection.source_expires_at}, refreshed before then`}.`,
                  '',
                  'Run the service with: npm start',
                ].join('\n'),
              );
              return;
            }
            const lines = [
              `Connection ${r.connection.id}: ${r.pages.length} Page(s) kept from one ${r.connection.source_token_type === 'SYSTEM_USER' ? 'system-user' : 'user'} token, checked once per round and healed together.`,
              ...r.pages.map((p) => `  ${p.page_id}  ${p.page_name ?? ''}  ${p.state}`),
              ...(r.not_set_up.length > 0
                ? [
                    'Not set up:',
                    ...r.not_set_up.map((n) => `  ${n.page_id}  ${n.name ?? ''}  ${n.code}: ${n.message}`),
                  ]
                : []),
              '',
              'Run the service with: npm start',
            ];
            out(lines.join('\n'));
          },
          { create: true },
        );
      },
    );

  program
    .command('setup')
    .description(
      'guided set-up (asks for the ids, the secret and the token); with flags it runs without questions',
    )
    .option('--page-id <id>')
    .option('--app-id <id>')
    .option('--app-secret <secret>', "or env FB_APP_SECRET, or '-' for stdin")
    .option('--access-token <token>', "or env FB_ACCESS_TOKEN, or '-' for stdin")
    .option('--json', 'print JSON')
    .action(
      async (o: {
        pageId?: string;
        appId?: string;
        appSecret?: string;
        accessToken?: string;
        json?: boolean;
      }) => {
        const { runSetup } = await import('./setup-command.js');
        await runSetup(o, io, (fn) => withKeeper(fn, { create: true }));
      },
    );

  program
    .command('status')
    .description('show the state of the managed pages, and why each one that is not healthy is not')
    .option('--page-id <id>', 'one page, with its history')
    .option('--exit-status', 'exit 1 when any page needs a person (needs_reauth, expired, expiring)')
    .option('--json', 'print JSON')
    .action(async (o: { pageId?: string; json?: boolean; exitStatus?: boolean }) => {
      const channels = targetsFromConfig(getConfig());
      await withKeeper(async (k) => {
        const sources = k.sources();
        // A WhatsApp connection's id (facebook_<app>_<system user>) names that sender's account.
        if (o.pageId !== undefined && !/^\d+$/.test(o.pageId)) {
          const wa = await k.getWhatsAppAccount(o.pageId);
          if (o.json) json({ success: true, ...wa, ...sources });
          else out(`${whatsAppTable([wa])}\n\n${sourcesText(sources)}`);
          if (o.exitStatus && needsPerson(wa.state)) process.exitCode = EXIT_FAILURE;
          return;
        }
        const pages = o.pageId ? [await k.status(o.pageId)] : await k.listPages();
        const whatsapp = o.pageId ? [] : await k.listWhatsAppAccounts();
        if (o.json) {
          const alertChannels = channels.map((c) => ({ channel: c.channel, target: c.target }));
          json(
            o.pageId
              ? { ...pages[0], ...sources }
              : { success: true, ...sources, pages, whatsapp, alert_channels: alertChannels },
          );
        } else {
          const tables =
            pages.length === 0 && whatsapp.length > 0
              ? whatsAppTable(whatsapp)
              : [statusTable(pages), whatsAppTable(whatsapp)].filter(Boolean).join('\n\n');
          out(`${o.pageId ? statusDetail(pages[0]!) : tables}\n\n${sourcesText(sources)}`);
          if (channels.length === 0) out(`\nWarning: ${NO_ALERT_CHANNEL}`);
        }
        const states = [...pages.map((p) => p.state), ...whatsapp.map((a) => a.state)];
        if (o.exitStatus && states.some(needsPerson)) process.exitCode = EXIT_FAILURE;
      });
    });

  program
    .command('check')
    .description(
      'check the due pages once (and those due within a tenth of CHECK_INTERVAL_HOURS), renew what needs it and send alerts (for cron); exits 1 when a page needs a person',
    )
    .option('--dry-run', 'inspect and say what would happen; change nothing')
    .option('--all', 'check every page, not only the due ones')
    .option('--page-id <id>', 'check one page now')
    .option('--json', 'print JSON')
    .action(async (o: { dryRun?: boolean; all?: boolean; pageId?: string; json?: boolean }) => {
      if (targetsFromConfig(getConfig()).length === 0) io.stderr.write(`Warning: ${NO_ALERT_CHANNEL}\n`);
      await withKeeper(async (k) => {
        const r = await k.check({
          ...(o.pageId ? { pageId: o.pageId } : {}),
          dryRun: o.dryRun === true,
          all: o.all === true,
        });
        if (!o.dryRun) {
          const { deliverAlertsBeforeExit } = await import('../service.js');
          await deliverAlertsBeforeExit(k);
        }
        // WhatsApp connections have no Page in the report: the ones a person must act on, beside it.
        const whatsapp = o.pageId ? [] : (await k.listWhatsAppAccounts()).filter((a) => needsPerson(a.state));
        const waText =
          whatsapp.length > 0
            ? `\n\nWhatsApp connections that need a person:\n${whatsAppTable(whatsapp)}`
            : '';
        if (o.json) json(whatsapp.length > 0 ? { ...r, whatsapp_needs_person: whatsapp } : r);
        else out(`${checkText(r)}${waText}`);
        const stuck = r.needs_person.length > 0 || r.could_not_check.length > 0 || whatsapp.length > 0;
        if (stuck) process.exitCode = EXIT_FAILURE;
      });
    });

  program
    .command('alert-test')
    .description('send a test alert to every configured channel now and say, per channel, whether it arrived')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const cfg = getConfig();
      if (targetsFromConfig(cfg).length === 0) throw new AppError('no_alert_channel', NO_ALERT_CHANNEL);
      const { sendTestAlert } = await import('../alerts/test-alert.js');
      const results = await sendTestAlert(cfg, { now: () => Date.now() });
      if (o.json) json({ success: true, results });
      else out(testAlertText(results));
      if (results.some((r) => !r.delivered)) process.exitCode = EXIT_FAILURE;
    });

  program
    .command('renew')
    .description('renew a page token now')
    .option('--page-id <id>', 'needed when several pages are managed')
    .option('--force', 'renew even when not due')
    .option('--dry-run', 'say what would happen; change nothing')
    .option('--json', 'print JSON')
    .action(async (o: { pageId?: string; force?: boolean; dryRun?: boolean; json?: boolean }) => {
      await withKeeper(async (k) => {
        const r = await k.renew(o.pageId, { force: o.force === true, dryRun: o.dryRun === true });
        if (o.json) json(r);
        else out(renewText(r));
      });
    });

  program
    .command('validate')
    .description("ask Facebook about a token (default: the managed page's token); '-' reads it from stdin")
    .argument('[TOKEN]')
    .option('--page-id <id>', "use this page's app (and token, when TOKEN is not given)")
    .option('--app-id <id>')
    .option('--app-secret <secret>', "or env FB_APP_SECRET, or '-' for stdin")
    .option('--json', 'print JSON')
    .action(
      async (
        token: string | undefined,
        o: { pageId?: string; appId?: string; appSecret?: string; json?: boolean },
      ) => {
        const [accessToken, appSecret] = await readSecretArgs(
          [token, o.appSecret ?? (o.appId ? io.env.FB_APP_SECRET : undefined)],
          ['TOKEN', 'APP_SECRET'],
          io.stdin,
          { optional: true },
        );
        await withKeeper(async (k) => {
          const v = await k.validate({
            ...(accessToken ? { accessToken } : {}),
            ...(o.pageId ? { pageId: o.pageId } : {}),
            ...(o.appId ? { appId: o.appId } : {}),
            ...(appSecret ? { appSecret } : {}),
          });
          if (o.json) json(v);
          else out(validateText(v));
          if (!v.valid) process.exitCode = EXIT_FAILURE;
        });
      },
    );

  program
    .command('history')
    .description("show a page's history, newest first")
    .option('--page-id <id>', 'needed when several pages are managed')
    .option('--limit <n>', 'how many events', '50')
    .option('--json', 'print JSON')
    .action(async (o: { pageId?: string; limit: string; json?: boolean }) => {
      await withKeeper(async (k) => {
        // With one page managed, that page (the same rule as status and renew).
        const pageId = o.pageId ?? (await k.status(undefined, { historyLimit: 0 })).page_id;
        const items = await k.history(pageId, { limit: Number(o.limit) });
        if (o.json) json({ success: true, history: items });
        else out(historyText(items));
      });
    });

  registerApiKeyCommands(program, { out, json, withKeeper });

  program
    .command('rotate-key')
    .description(
      'add a new active encryption key and re-seal every stored secret under it (running instances pick it up)',
    )
    .option('--reseal', 'only re-seal every secret under the active key')
    .option(
      '--retire <KEY_ID>',
      'remove a previous key from the keyring; refused while anything is sealed with it',
    )
    .action(async (o: { reseal?: boolean; retire?: string }) => {
      if (o.reseal && o.retire !== undefined) {
        throw new AppError('validation_failed', 'give --reseal or --retire, not both');
      }
      const { rotateKey } = await import('./rotate-key.js');
      out(await rotateKey(getConfig(), await cliLogger(), { reseal: o.reseal, retire: o.retire }));
    });

  program
    .command('simulate')
    .description('run the real engine against the emulator on a virtual clock and print a summary')
    .option('--days <n>', 'how many days (default 365; 30 with --scenario agency)')
    .addOption(
      // The list comes from the simulator itself, so help never names a scenario that does not exist.
      new Option('--scenario <name>', 'what happens during the run').choices(SCENARIOS).default('default'),
    )
    .option('--pages <n>', 'how many pages (default 3; 50 with --scenario agency: 5 logins x 10)')
    .option('--post-every <minutes>', 'a posting app posts every N minutes and reports token errors')
    .option(
      '--app-users <n>',
      'budget the app for this many daily users (200 calls each per hour), as Facebook does',
    )
    .option('--no-pacing', 'do not pace the rounds against the budget (to compare)')
    .option('--instagram <n>', 'also keep N Instagram accounts (Instagram Login; refreshed tokens)', '0')
    .option('--threads <n>', 'also keep N Threads profiles (refreshed tokens)', '0')
    .addOption(
      new Option('--graph-check <how>', 'GRAPH_CHECK for the run (debug_token: to compare)')
        .choices(['auto', 'debug_token'])
        .default('auto'),
    )
    .option('--json', 'print JSON')
    .action(
      async (o: {
        days?: string;
        scenario: string;
        pages?: string;
        instagram: string;
        threads: string;
        postEvery?: string;
        appUsers?: string;
        pacing: boolean;
        graphCheck: 'auto' | 'debug_token';
        json?: boolean;
      }) => {
        const { runSimulation, simulationText } = await import('../lifecycle/simulate.js');
        // An agency's long-lived user tokens cannot be extended past their 60 days: a month shows
        // the password change without every login's own expiry in the way.
        const agency = o.scenario === 'agency';
        const r = await runSimulation({
          days: Number(o.days ?? (agency ? 30 : 365)),
          scenario: o.scenario,
          pages: Number(o.pages ?? (agency ? 50 : 3)),
          ...(o.postEvery !== undefined ? { postEveryMinutes: Number(o.postEvery) } : {}),
          ...(o.appUsers === undefined ? {} : { appUsers: Number(o.appUsers) }),
          pacing: o.pacing,
          instagram: Number(o.instagram),
          threads: Number(o.threads),
          graphCheck: o.graphCheck,
        });
        if (o.json) json(r);
        else out(simulationText(r));
      },
    );

  program
    .command('fake-graph')
    .description('run the Graph API emulator (for demos and tests)')
    .option('--port <n>', 'port', '5055')
    .option('--state <file>', 'keep the emulated world in this file across restarts')
    .action(async (o: { port: string; state?: string }) => {
      const { runFakeGraphCli } = await import('../fake-graph/index.js');
      await runFakeGraphCli(['--port', o.port, ...(o.state === undefined ? [] : ['--state', o.state])]);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (err instanceof AppError) {
      io.stderr.write(
        `error: ${err.message}${err.code === 'validation_failed' || err.code === 'page_id_required' ? '' : ` (${err.code})`}\n`,
      );
      return err.code === 'validation_failed' || err.code === 'page_id_required' ? EXIT_USAGE : EXIT_FAILURE;
    }
    io.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_FAILURE;
  }
}

function defaultIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: readProcessEnv() };
}
