/**
 * The only reader of process.env. Every variable is parsed once, by a schema, into a frozen typed
 * object; a bad value fails at start with a message naming the variable and what is wrong.
 */
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { homedir, hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import type { KeySource } from './crypto/keys.js';
import { AppError } from './errors.js';

/** The data folder when DATA_DIR is unset: per user, the same from any working directory (cron, another project). */
export function defaultDataDir(env: Record<string, string | undefined>): string {
  const xdg = env.XDG_DATA_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.local', 'share');
  return join(base, 'fb-token-keeper');
}

/** The default database inside a data folder. */
export const DATABASE_FILE = 'fb-token-keeper.db';
export const KEY_FILE = 'encryption.key';

const positiveNumber = (name: string) =>
  z.coerce.number({ error: `${name} must be a number` }).positive(`${name} must be greater than 0`);
const integer = (name: string, min: number, max: number) =>
  z.coerce
    .number({ error: `${name} must be a whole number` })
    .int(`${name} must be a whole number`)
    .min(min, `${name} must be at least ${min}`)
    .max(max, `${name} must be at most ${max}`);
const url = (name: string) =>
  z
    .url({ error: `${name} must be a URL such as https://example.com` })
    .transform((s) => s.replace(/\/+$/, ''));
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());
const urlList = (name: string) =>
  z
    .string()
    .optional()
    .transform((s, ctx) => {
      const items = (s ?? '')
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
      for (const item of items) {
        if (!URL.canParse(item)) ctx.addIssue({ code: 'custom', message: `${name}: "${item}" is not a URL` });
      }
      return items;
    });

/** proxy-addr's names for address ranges, accepted in TRUST_PROXY beside addresses and CIDRs. */
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/** `addr` or `addr/prefix` with a prefix that fits the address family. */
function isAddressOrCidr(item: string): boolean {
  const [addr = '', prefix, ...rest] = item.split('/');
  const family = isIP(addr);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * TRUST_PROXY, as Fastify's `trustProxy` takes it: off (the default: forwarded headers are
 * ignored), `true` (trust every hop: only when nothing but the proxy can reach the port), a hop
 * count, or the proxies' addresses (IPs, CIDR ranges, `loopback`, `linklocal`, `uniquelocal`).
 */
const trustProxy = z
  .string()
  .optional()
  .transform((raw, ctx): TrustProxy => {
    const s = (raw ?? '').trim();
    if (s === '' || s === 'false') return false;
    if (s === 'true') return true;
    if (/^\d+$/.test(s)) return Number(s) === 0 ? false : Number(s);
    const items = s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
    for (const item of items) {
      if (!PROXY_RANGE_NAMES.includes(item) && !isAddressOrCidr(item)) {
        ctx.addIssue({
          code: 'custom',
          message: `TRUST_PROXY: "${item.slice(0, 60)}" is not an IP address, a CIDR range (such as 10.0.0.0/8) or one of ${PROXY_RANGE_NAMES.join(', ')}; TRUST_PROXY takes true, false, a hop count, or a comma-separated list of those`,
        });
      }
    }
    return items;
  });

/**
 * ALLOWED_HOSTS: more names this server answers to (beyond PUBLIC_URL's host, HOST, localhost and
 * IP addresses): `name`, `.example.com` (that domain and every subdomain) or `*` (no Host check).
 */
const hostList = z
  .string()
  .optional()
  .transform((raw, ctx) => {
    const items = (raw ?? '')
      .split(',')
      .map((x) => x.trim().toLowerCase().replace(/\.$/, ''))
      .filter(Boolean);
    for (const item of items) {
      if (
        item !== '*' &&
        !/^\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(item)
      ) {
        ctx.addIssue({
          code: 'custom',
          message: `ALLOWED_HOSTS: "${item.slice(0, 60)}" is not a host name (use names such as keeper.example.com or .example.com, without scheme or port, or * to allow every host)`,
        });
      }
    }
    return items;
  });

/** METRICS_PAGE_SERIES: per-Page series on /metrics for every Page, none, or at most N Pages. */
const pageSeries = z
  .string()
  .default('all')
  .transform((raw, ctx): number | 'all' => {
    const s = raw.trim().toLowerCase();
    if (s === 'all' || s === '') return 'all';
    if (s === 'none') return 0;
    if (/^\d{1,7}$/.test(s)) return Number(s);
    ctx.addIssue({
      code: 'custom',
      message: 'METRICS_PAGE_SERIES must be all, none, or a whole number of Pages (such as 100)',
    });
    return 'all';
  });

/** Variable name → schema. The README's configuration table documents the same list. */
const schema = z.object({
  DATA_DIR: optional(z.string()),
  DATABASE_URL: optional(
    z.string().refine((s) => /^(sqlite:|postgres(ql)?:\/\/)/.test(s), {
      error: 'DATABASE_URL must start with sqlite: (e.g. sqlite:data/fb-token-keeper.db) or postgres://',
    }),
  ),
  TOKEN_ENCRYPTION_KEY: optional(z.string()),
  TOKEN_ENCRYPTION_KEYS: optional(z.string()),
  ENCRYPTION_KEY_FILE: optional(z.string()),
  GRAPH_API_URL: url('GRAPH_API_URL').default('https://graph.facebook.com'),
  GRAPH_API_VERSION: z
    .string()
    .default('v26.0')
    .refine((s) => /^v\d+\.\d+$/.test(s), { error: 'GRAPH_API_VERSION must look like v26.0' }),
  GRAPH_TIMEOUT_MS: integer('GRAPH_TIMEOUT_MS', 100, 300_000).default(10_000),
  /** The share of an app's Facebook call budget a round may plan to use (docs/FACEBOOK.md#throttling). */
  GRAPH_USAGE_TARGET: z.coerce
    .number({ error: 'GRAPH_USAGE_TARGET must be a percentage such as 50' })
    .gt(0, 'GRAPH_USAGE_TARGET must be more than 0 (a percentage such as 50)')
    .max(100, 'GRAPH_USAGE_TARGET must be at most 100 (a percentage)')
    .default(50),
  /** auto: debug_token calls made at the same time go out as one Graph batch request; off: never. */
  GRAPH_BATCH: z.enum(['auto', 'off'], { error: 'GRAPH_BATCH must be auto or off' }).default('auto'),
  /**
   * auto: a scheduled check of a never-expiring Page token is a probe made with the Page token
   * (the Page's budget), with debug_token (the app's) at setup, after a rotation and daily;
   * debug_token: debug_token on every check (lifecycle/check-choice.ts).
   */
  GRAPH_CHECK: z
    .enum(['auto', 'debug_token'], { error: 'GRAPH_CHECK must be auto or debug_token' })
    .default('auto'),
  FACEBOOK_DIALOG_URL: url('FACEBOOK_DIALOG_URL').default('https://www.facebook.com'),
  // Instagram API with Instagram Login and the Threads API: their own hosts (docs/FACEBOOK.md#instagram-login-tokens, #threads-tokens).
  INSTAGRAM_API_URL: url('INSTAGRAM_API_URL').default('https://graph.instagram.com'),
  /** Where Instagram redeems a Login code (`POST /oauth/access_token`): not graph.instagram.com. */
  INSTAGRAM_OAUTH_URL: url('INSTAGRAM_OAUTH_URL').default('https://api.instagram.com'),
  INSTAGRAM_DIALOG_URL: url('INSTAGRAM_DIALOG_URL').default('https://www.instagram.com'),
  THREADS_API_URL: url('THREADS_API_URL').default('https://graph.threads.net'),
  THREADS_DIALOG_URL: url('THREADS_DIALOG_URL').default('https://threads.net'),
  PUBLIC_URL: url('PUBLIC_URL').default('http://localhost:5000'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: integer('PORT', 0, 65535).default(5000),
  CHECK_INTERVAL_HOURS: positiveNumber('CHECK_INTERVAL_HOURS').default(6),
  RENEWAL_THRESHOLD_DAYS: z.coerce
    .number({ error: 'RENEWAL_THRESHOLD_DAYS must be a number' })
    .min(0, 'RENEWAL_THRESHOLD_DAYS must be 0 or more')
    .max(365, 'RENEWAL_THRESHOLD_DAYS must be at most 365')
    .default(50),
  ALERT_DAYS_BEFORE: z
    .string()
    .default('14,7,3,1')
    .transform((s, ctx) => {
      const days = s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
        .map(Number);
      if (days.some((d) => !Number.isFinite(d) || d <= 0)) {
        ctx.addIssue({
          code: 'custom',
          message: 'ALERT_DAYS_BEFORE must be a comma-separated list of positive numbers, e.g. 14,7,3,1',
        });
      }
      return [...new Set(days)].sort((a, b) => b - a);
    }),
  /** How long Facebook calls must have failed in a row before `renewal_failed` alerts (docs/ALERTS.md). */
  ALERT_FAILING_AFTER_HOURS: positiveNumber('ALERT_FAILING_AFTER_HOURS').default(24),
  /**
   * After an expiring system-user token is refreshed, the replaced token is revoked this many hours
   * later (0: at the next look), once every Page has its token minted from the new one (README).
   */
  SOURCE_REVOKE_GRACE_HOURS: z.coerce
    .number({ error: 'SOURCE_REVOKE_GRACE_HOURS must be a number of hours' })
    .min(0, 'SOURCE_REVOKE_GRACE_HOURS must be 0 or more')
    .max(24 * 59, 'SOURCE_REVOKE_GRACE_HOURS must be less than the 60 days the new token lives')
    .default(24),
  WEBHOOK_URLS: urlList('WEBHOOK_URLS'),
  WEBHOOK_SECRET: optional(z.string().min(16, 'WEBHOOK_SECRET must be at least 16 characters')),
  SLACK_WEBHOOK_URL: optional(url('SLACK_WEBHOOK_URL')),
  SMTP_URL: optional(
    z
      .string()
      .refine((s) => /^smtps?:\/\//.test(s), { error: 'SMTP_URL must look like smtp://user:pass@host:587' }),
  ),
  ALERT_EMAIL_TO: optional(z.string().min(3)),
  ALERT_EMAIL_FROM: z.string().default('fb-token-keeper <fb-token-keeper@localhost>'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  LOG_FORMAT: z
    .enum(['json', 'pretty', 'auto'], { error: 'LOG_FORMAT must be json, pretty or auto' })
    .default('auto'),
  INSTANCE_ID: optional(z.string().min(1)),
  CHECK_CONCURRENCY: integer('CHECK_CONCURRENCY', 1, 1000).default(8),
  RECONNECT_LINK_TTL_HOURS: positiveNumber('RECONNECT_LINK_TTL_HOURS').default(24 * 7),
  TRUST_PROXY: trustProxy,
  ALLOWED_HOSTS: hostList,
  METRICS_TOKEN: optional(z.string().min(16, 'METRICS_TOKEN must be at least 16 characters')),
  METRICS_PAGE_SERIES: pageSeries,
});

/** Fastify's `trustProxy` option: see TRUST_PROXY above. */
export type TrustProxy = boolean | number | string[];

export type Env = z.input<typeof schema>;

export interface Config {
  /** Absolute. Where the default database and key file live (DATA_DIR, else the XDG data folder). */
  dataDir: string;
  databaseUrl: string;
  /** Where databaseUrl came from: the variable, or DATA_DIR's default. */
  databaseUrlFrom: 'DATABASE_URL' | 'DATA_DIR' | 'default';
  encryptionKey: string | undefined;
  /** Absolute. Used when neither TOKEN_ENCRYPTION_KEYS nor TOKEN_ENCRYPTION_KEY is set. */
  encryptionKeyFile: string;
  /** The keyring's source (crypto/keys.ts): one of the variables, or the key file. */
  keySource: KeySource;
  graphApiUrl: string;
  graphApiVersion: string;
  graphTimeoutMs: number;
  facebookDialogUrl: string;
  /** graph.instagram.com: the Instagram-Login token exchange, refresh and `/me`. */
  instagramApiUrl: string;
  /** api.instagram.com: redeems the Instagram Login dialog's code. */
  instagramOauthUrl: string;
  /** www.instagram.com: the Instagram Login dialog (`/oauth/authorize`), for reconnect links. */
  instagramDialogUrl: string;
  /** graph.threads.net: the Threads token exchange, refresh, code redemption and `/me`. */
  threadsApiUrl: string;
  /** threads.net: the Threads authorization window (`/oauth/authorize`), for reconnect links. */
  threadsDialogUrl: string;
  publicUrl: string;
  host: string;
  port: number;
  checkIntervalHours: number;
  /** GRAPH_USAGE_TARGET: percent of the app's call budget a round plans to use (0 < t ≤ 100). */
  graphUsageTarget: number;
  /** GRAPH_BATCH. */
  graphBatch: 'auto' | 'off';
  /** GRAPH_CHECK. */
  graphCheck: 'auto' | 'debug_token';
  renewalThresholdDays: number;
  alertDaysBefore: number[];
  alertFailingAfterHours: number;
  /** SOURCE_REVOKE_GRACE_HOURS. */
  sourceRevokeGraceHours: number;
  webhookUrls: string[];
  webhookSecret: string | undefined;
  slackWebhookUrl: string | undefined;
  smtpUrl: string | undefined;
  alertEmailTo: string | undefined;
  alertEmailFrom: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  logFormat: 'json' | 'pretty' | 'auto';
  instanceId: string;
  checkConcurrency: number;
  reconnectLinkTtlHours: number;
  /** Whom to believe about X-Forwarded-For/-Proto/-Host (Fastify's `trustProxy`). */
  trustProxy: TrustProxy;
  /** Host names answered besides PUBLIC_URL's, HOST, localhost and IP addresses (see http/hosts.ts). */
  allowedHosts: string[];
  /** When set, /metrics needs `Authorization: Bearer <this>`. */
  metricsToken: string | undefined;
  /** Per-Page series on /metrics: for every Page, or for at most this many (0 = aggregates only). */
  metricsPageSeries: number | 'all';
}

/** Parse an environment (default: process.env plus an optional ./.env) into a frozen Config. */
export function loadConfig(env: Record<string, string | undefined> = readProcessEnv()): Readonly<Config> {
  const result = schema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((i) => {
      const variable = String(i.path[0] ?? '');
      return i.message.includes(variable) ? i.message : `${variable}: ${i.message}`;
    });
    throw new AppError('config_invalid', `invalid configuration: ${problems.join('; ')}`, {
      details: { variables: result.error.issues.map((i) => String(i.path[0] ?? '')) },
    });
  }
  const e = result.data;
  if (e.TOKEN_ENCRYPTION_KEY !== undefined && e.TOKEN_ENCRYPTION_KEYS !== undefined) {
    throw new AppError(
      'config_invalid',
      'invalid configuration: set TOKEN_ENCRYPTION_KEYS (the keyring, active key first) or TOKEN_ENCRYPTION_KEY (one key), not both',
      { details: { variables: ['TOKEN_ENCRYPTION_KEY', 'TOKEN_ENCRYPTION_KEYS'] } },
    );
  }
  // Resolved once, here: a relative DATA_DIR or key file means the folder it named when the config was read.
  const dataDir = resolve(e.DATA_DIR ?? defaultDataDir(env));
  const encryptionKeyFile = resolve(e.ENCRYPTION_KEY_FILE ?? join(dataDir, KEY_FILE));
  const keySource: KeySource =
    e.TOKEN_ENCRYPTION_KEYS !== undefined
      ? { kind: 'env', variable: 'TOKEN_ENCRYPTION_KEYS', value: e.TOKEN_ENCRYPTION_KEYS }
      : e.TOKEN_ENCRYPTION_KEY !== undefined
        ? { kind: 'env', variable: 'TOKEN_ENCRYPTION_KEY', value: e.TOKEN_ENCRYPTION_KEY }
        : { kind: 'file', path: encryptionKeyFile };
  if (e.SMTP_URL && !e.ALERT_EMAIL_TO) {
    throw new AppError(
      'config_invalid',
      'invalid configuration: ALERT_EMAIL_TO is required when SMTP_URL is set',
    );
  }
  return Object.freeze({
    dataDir,
    databaseUrl: e.DATABASE_URL ?? `sqlite:${join(dataDir, DATABASE_FILE)}`,
    databaseUrlFrom:
      e.DATABASE_URL !== undefined ? 'DATABASE_URL' : e.DATA_DIR !== undefined ? 'DATA_DIR' : 'default',
    encryptionKey: e.TOKEN_ENCRYPTION_KEY,
    encryptionKeyFile,
    keySource: Object.freeze(keySource),
    graphApiUrl: e.GRAPH_API_URL,
    graphApiVersion: e.GRAPH_API_VERSION,
    graphTimeoutMs: e.GRAPH_TIMEOUT_MS,
    facebookDialogUrl: e.FACEBOOK_DIALOG_URL,
    instagramApiUrl: e.INSTAGRAM_API_URL,
    instagramOauthUrl: e.INSTAGRAM_OAUTH_URL,
    instagramDialogUrl: e.INSTAGRAM_DIALOG_URL,
    threadsApiUrl: e.THREADS_API_URL,
    threadsDialogUrl: e.THREADS_DIALOG_URL,
    publicUrl: e.PUBLIC_URL,
    host: e.HOST,
    port: e.PORT,
    checkIntervalHours: e.CHECK_INTERVAL_HOURS,
    graphUsageTarget: e.GRAPH_USAGE_TARGET,
    graphBatch: e.GRAPH_BATCH,
    graphCheck: e.GRAPH_CHECK,
    renewalThresholdDays: e.RENEWAL_THRESHOLD_DAYS,
    alertDaysBefore: Object.freeze(e.ALERT_DAYS_BEFORE) as number[],
    alertFailingAfterHours: e.ALERT_FAILING_AFTER_HOURS,
    sourceRevokeGraceHours: e.SOURCE_REVOKE_GRACE_HOURS,
    webhookUrls: Object.freeze(e.WEBHOOK_URLS) as string[],
    webhookSecret: e.WEBHOOK_SECRET,
    slackWebhookUrl: e.SLACK_WEBHOOK_URL,
    smtpUrl: e.SMTP_URL,
    alertEmailTo: e.ALERT_EMAIL_TO,
    alertEmailFrom: e.ALERT_EMAIL_FROM,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    instanceId: e.INSTANCE_ID ?? `${hostname()}:${process.pid}`,
    checkConcurrency: e.CHECK_CONCURRENCY,
    reconnectLinkTtlHours: e.RECONNECT_LINK_TTL_HOURS,
    trustProxy: Array.isArray(e.TRUST_PROXY) ? (Object.freeze(e.TRUST_PROXY) as string[]) : e.TRUST_PROXY,
    allowedHosts: Object.freeze(e.ALLOWED_HOSTS) as string[],
    metricsToken: e.METRICS_TOKEN,
    metricsPageSeries: e.METRICS_PAGE_SERIES,
  });
}

/** process.env, with values from ./.env filling in what the environment does not set. */
export function readProcessEnv(envFile = '.env'): Record<string, string | undefined> {
  if (existsSync(envFile)) {
    // process.loadEnvFile never overrides variables that are already set.
    process.loadEnvFile(envFile);
  }
  return process.env;
}

/** A database URL fit to show: the password of a postgres:// URL replaced by ***. */
export function displayDatabaseUrl(url: string): string {
  if (!/^postgres(ql)?:\/\//.test(url)) return url;
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable URL)';
  }
}

/** The names of every variable, for docs and `--help`. */
export const CONFIG_VARIABLES = Object.keys(schema.shape);
