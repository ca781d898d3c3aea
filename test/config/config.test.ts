import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CONFIG_VARIABLES, displayDatabaseUrl, loadConfig } from '../../src/config.js';
import { AppError } from '../../src/errors.js';

function configError(env: Record<string, string>): AppError {
  try {
    loadConfig(env);
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error('expected loadConfig to fail');
}

describe('config', () => {
  it('has the documented defaults (README configuration table)', () => {
    const c = loadConfig({ HOME: '/home/ann' });
    expect(c).toMatchObject({
      dataDir: '/home/ann/.local/share/fb-token-keeper',
      databaseUrl: 'sqlite:/home/ann/.local/share/fb-token-keeper/fb-token-keeper.db',
      databaseUrlFrom: 'default',
      encryptionKeyFile: '/home/ann/.local/share/fb-token-keeper/encryption.key',
      keySource: { kind: 'file', path: '/home/ann/.local/share/fb-token-keeper/encryption.key' },
      encryptionKey: undefined,
      graphApiUrl: 'https://graph.facebook.com',
      graphApiVersion: 'v26.0',
      facebookDialogUrl: 'https://www.facebook.com',
      publicUrl: 'http://localhost:5000',
      host: '127.0.0.1',
      port: 5000,
      checkIntervalHours: 6,
      renewalThresholdDays: 50,
      alertDaysBefore: [14, 7, 3, 1],
      webhookUrls: [],
      logLevel: 'info',
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('finds the data folder from any working directory: XDG_DATA_HOME, DATA_DIR (made absolute), explicit paths win', () => {
    expect(loadConfig({ HOME: '/home/ann', XDG_DATA_HOME: '/xdg' }).dataDir).toBe('/xdg/fb-token-keeper');
    // A relative XDG_DATA_HOME is invalid by the XDG spec and ignored.
    expect(loadConfig({ HOME: '/home/ann', XDG_DATA_HOME: 'rel' }).dataDir).toBe(
      '/home/ann/.local/share/fb-token-keeper',
    );
    const d = loadConfig({ DATA_DIR: 'keeper-data' });
    expect(d.dataDir).toBe(resolve('keeper-data'));
    expect(d.databaseUrl).toBe(`sqlite:${resolve('keeper-data', 'fb-token-keeper.db')}`);
    expect(d.databaseUrlFrom).toBe('DATA_DIR');
    expect(d.encryptionKeyFile).toBe(resolve('keeper-data', 'encryption.key'));
    const x = loadConfig({
      DATA_DIR: '/srv/k',
      DATABASE_URL: 'sqlite:data/x.db',
      ENCRYPTION_KEY_FILE: '/etc/k.key',
    });
    // A relative sqlite: URL keeps meaning "relative to the working directory".
    expect(x.databaseUrl).toBe('sqlite:data/x.db');
    expect(x.databaseUrlFrom).toBe('DATABASE_URL');
    expect(x.keySource).toEqual({ kind: 'file', path: '/etc/k.key' });
  });

  it('takes the keyring from TOKEN_ENCRYPTION_KEYS or TOKEN_ENCRYPTION_KEY, never both', () => {
    expect(loadConfig({ TOKEN_ENCRYPTION_KEYS: 'a,b' }).keySource).toEqual({
      kind: 'env',
      variable: 'TOKEN_ENCRYPTION_KEYS',
      value: 'a,b',
    });
    expect(loadConfig({ TOKEN_ENCRYPTION_KEY: 'a' }).keySource).toMatchObject({
      variable: 'TOKEN_ENCRYPTION_KEY',
    });
    const e = configError({ TOKEN_ENCRYPTION_KEY: 'secret-one', TOKEN_ENCRYPTION_KEYS: 'secret-two' });
    expect(e.message).toContain('TOKEN_ENCRYPTION_KEYS');
    expect(e.message).not.toContain('secret-');
  });

  it('shows a PostgreSQL URL without its password', () => {
    expect(displayDatabaseUrl('postgres://u:hunter2@db:5432/k')).toBe('postgres://u:***@db:5432/k');
    expect(displayDatabaseUrl('sqlite:/x.db')).toBe('sqlite:/x.db');
  });

  it('parses values', () => {
    const c = loadConfig({
      DATABASE_URL: 'postgres://u@localhost/db',
      PORT: '8080',
      CHECK_INTERVAL_HOURS: '1.5',
      ALERT_DAYS_BEFORE: '1, 30,7',
      WEBHOOK_URLS: 'https://a.example/x, https://b.example/y',
      PUBLIC_URL: 'https://keeper.example.com/',
    });
    expect(c.port).toBe(8080);
    expect(c.checkIntervalHours).toBe(1.5);
    expect(c.alertDaysBefore).toEqual([30, 7, 1]);
    expect(c.webhookUrls).toEqual(['https://a.example/x', 'https://b.example/y']);
    expect(c.publicUrl).toBe('https://keeper.example.com');
  });

  const bad: [string, Record<string, string>][] = [
    ['DATABASE_URL', { DATABASE_URL: 'mysql://x' }],
    ['PORT', { PORT: 'eighty' }],
    ['PORT', { PORT: '70000' }],
    ['CHECK_INTERVAL_HOURS', { CHECK_INTERVAL_HOURS: '0' }],
    ['RENEWAL_THRESHOLD_DAYS', { RENEWAL_THRESHOLD_DAYS: '-1' }],
    ['ALERT_DAYS_BEFORE', { ALERT_DAYS_BEFORE: '14,soon' }],
    ['GRAPH_API_VERSION', { GRAPH_API_VERSION: '26' }],
    ['GRAPH_API_URL', { GRAPH_API_URL: 'not a url' }],
    ['PUBLIC_URL', { PUBLIC_URL: 'localhost' }],
    ['WEBHOOK_URLS', { WEBHOOK_URLS: 'https://ok.example, nope' }],
    ['WEBHOOK_SECRET', { WEBHOOK_SECRET: 'short' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['SMTP_URL', { SMTP_URL: 'mail.example.com' }],
    ['INSTAGRAM_API_URL', { INSTAGRAM_API_URL: 'graph.instagram.com' }],
    ['INSTAGRAM_OAUTH_URL', { INSTAGRAM_OAUTH_URL: 'api instagram' }],
    ['INSTAGRAM_DIALOG_URL', { INSTAGRAM_DIALOG_URL: 'www.instagram.com' }],
    ['THREADS_API_URL', { THREADS_API_URL: 'nope' }],
    ['THREADS_DIALOG_URL', { THREADS_DIALOG_URL: 'threads.net/oauth' }],
    ['ALERT_EMAIL_TO', { SMTP_URL: 'smtp://mail.example.com:25' }],
  ];
  it.each(bad)('a bad %s fails with a message naming it', (variable, env) => {
    const e = configError(env);
    expect(e.code).toBe('config_invalid');
    expect(e.message).toContain(variable);
  });

  it('never echoes a secret value in its error', () => {
    const e = configError({ WEBHOOK_SECRET: 'tiny-secret' });
    expect(e.message).not.toContain('tiny-secret');
  });

  it('lists every documented variable', () => {
    for (const v of [
      'DATABASE_URL',
      'TOKEN_ENCRYPTION_KEY',
      'TOKEN_ENCRYPTION_KEYS',
      'ENCRYPTION_KEY_FILE',
      'DATA_DIR',
      'GRAPH_API_URL',
      'GRAPH_API_VERSION',
      'FACEBOOK_DIALOG_URL',
      'PUBLIC_URL',
      'HOST',
      'PORT',
      'CHECK_INTERVAL_HOURS',
      'RENEWAL_THRESHOLD_DAYS',
      'ALERT_DAYS_BEFORE',
      'WEBHOOK_URLS',
      'WEBHOOK_SECRET',
      'SLACK_WEBHOOK_URL',
      'SMTP_URL',
      'ALERT_EMAIL_TO',
      'LOG_LEVEL',
    ]) {
      expect(CONFIG_VARIABLES).toContain(v);
    }
  });

  it('TRUST_PROXY: off by default; true/false, a hop count, or addresses, CIDRs and range names', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: '0' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: ' 127.0.0.1, 10.0.0.0/8 ,::1,fd00::/8,loopback' }).trustProxy).toEqual([
      '127.0.0.1',
      '10.0.0.0/8',
      '::1',
      'fd00::/8',
      'loopback',
    ]);
    for (const bad of ['yes', '10.0.0.0/33', '::1/129', '1.2.3', 'example.com', '10.0.0.1/8/8']) {
      const e = configError({ TRUST_PROXY: bad });
      expect(e.message, bad).toContain('TRUST_PROXY');
      expect(e.message, bad).toContain(`"${bad}"`);
      expect(e.details).toEqual({ variables: ['TRUST_PROXY'] });
    }
  });

  it('ALLOWED_HOSTS, METRICS_TOKEN and METRICS_PAGE_SERIES', () => {
    const c = loadConfig({
      ALLOWED_HOSTS: 'Keeper.Internal., .example.com,*',
      METRICS_TOKEN: 'a-metrics-token-of-some-length',
      METRICS_PAGE_SERIES: '100',
    });
    expect(c.allowedHosts).toEqual(['keeper.internal', '.example.com', '*']);
    expect(c.metricsToken).toBe('a-metrics-token-of-some-length');
    expect(c.metricsPageSeries).toBe(100);
    expect(loadConfig({}).metricsPageSeries).toBe('all');
    expect(loadConfig({ METRICS_PAGE_SERIES: 'none' }).metricsPageSeries).toBe(0);
    expect(configError({ ALLOWED_HOSTS: 'https://keeper.example.com' }).message).toContain('ALLOWED_HOSTS');
    expect(configError({ ALLOWED_HOSTS: 'keeper.example.com:443' }).message).toContain(
      'without scheme or port',
    );
    expect(configError({ METRICS_TOKEN: 'short' }).message).toContain('METRICS_TOKEN must be at least 16');
    expect(configError({ METRICS_PAGE_SERIES: 'some' }).message).toContain('METRICS_PAGE_SERIES must be');
  });

  it('Instagram Login and Threads hosts: the real ones by default, the emulator’s path prefixes when set', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      instagramApiUrl: 'https://graph.instagram.com',
      instagramOauthUrl: 'https://api.instagram.com',
      instagramDialogUrl: 'https://www.instagram.com',
      threadsApiUrl: 'https://graph.threads.net',
      threadsDialogUrl: 'https://threads.net',
    });
    const e = loadConfig({
      INSTAGRAM_API_URL: 'http://127.0.0.1:5055/instagram/',
      INSTAGRAM_OAUTH_URL: 'http://127.0.0.1:5055/instagram',
      INSTAGRAM_DIALOG_URL: 'http://127.0.0.1:5055/instagram//',
      THREADS_API_URL: 'http://127.0.0.1:5055/threads',
      THREADS_DIALOG_URL: 'http://127.0.0.1:5055/threads/',
    });
    // A trailing slash is dropped, so paths can be appended.
    expect(e.instagramApiUrl).toBe('http://127.0.0.1:5055/instagram');
    expect(e.instagramDialogUrl).toBe('http://127.0.0.1:5055/instagram');
    expect(e.threadsDialogUrl).toBe('http://127.0.0.1:5055/threads');
    for (const v of [
      'INSTAGRAM_API_URL',
      'INSTAGRAM_OAUTH_URL',
      'INSTAGRAM_DIALOG_URL',
      'THREADS_API_URL',
      'THREADS_DIALOG_URL',
    ]) {
      expect(CONFIG_VARIABLES).toContain(v);
      expect(readFileSync('README.md', 'utf8')).toContain(`| \`${v}\` |`);
      expect(readFileSync('.env.example', 'utf8')).toContain(`${v}=`);
    }
  });

  it('GRAPH_USAGE_TARGET (a percentage, default 50) and GRAPH_BATCH (auto|off, default auto)', () => {
    expect(loadConfig({})).toMatchObject({ graphUsageTarget: 50, graphBatch: 'auto' });
    expect(loadConfig({ GRAPH_USAGE_TARGET: '80', GRAPH_BATCH: 'off' })).toMatchObject({
      graphUsageTarget: 80,
      graphBatch: 'off',
    });
    expect(loadConfig({ GRAPH_USAGE_TARGET: '12.5' }).graphUsageTarget).toBe(12.5);
    expect(configError({ GRAPH_USAGE_TARGET: '0' }).message).toContain(
      'GRAPH_USAGE_TARGET must be more than 0',
    );
    expect(configError({ GRAPH_USAGE_TARGET: '150' }).message).toContain(
      'GRAPH_USAGE_TARGET must be at most 100',
    );
    expect(configError({ GRAPH_USAGE_TARGET: 'half' }).message).toContain(
      'GRAPH_USAGE_TARGET must be a percentage',
    );
    expect(configError({ GRAPH_BATCH: 'on' }).message).toContain('GRAPH_BATCH must be auto or off');
    expect(CONFIG_VARIABLES).toEqual(expect.arrayContaining(['GRAPH_USAGE_TARGET', 'GRAPH_BATCH']));
  });
});
