/**
 * The API benchmark's server process: the real app (`buildApp`, as `serve` builds it, JSON access
 * log at LOG_LEVEL=info written to /dev/null) and a bare Fastify app whose one route returns the
 * same status body as a constant, both in this one process, on two ports.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { pino } from 'pino';
import { systemClock } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { createSecretBox } from '../../src/crypto/secret-box.js';
import { buildApp } from '../../src/http/app.js';
import { createApiKey } from '../../src/http/auth.js';
import { startServer } from '../../src/http/server.js';
import { createTokenKeeper } from '../../src/lifecycle/keeper.js';
import { createLogger } from '../../src/logger.js';
import { openStore } from '../../src/store/database.js';
import type { NewEvent } from '../../src/types.js';
import { pageFor } from './seed.js';

const dir = mkdtempSync(join(tmpdir(), 'fbtk-api-bench-'));
const keyBytes = randomBytes(32);
const databaseUrl = `sqlite:${join(dir, 'api.db')}`;
const store = await openStore({ databaseUrl, secretBox: createSecretBox({ current: keyBytes }) });
await store.migrate();

// One managed Page with 20 history events, as after a few weeks of checks. `status` only reads the
// database (it never calls Graph), so the tokens need not be live.
const now = Date.now();
const appId = '100000000000001';
const page = pageFor(
  {
    pageId: '200000000000001',
    pageName: 'Bench Page',
    userId: '300000000000001',
    appId,
    appSecret: randomBytes(16).toString('hex'),
    postingToken: `EAAfakeP${randomBytes(24).toString('base64url')}`,
    sourceToken: `EAAfakeU${randomBytes(24).toString('base64url')}`,
    sourceExpiresAt: Math.floor((now + 55 * 86_400_000) / 1000) * 1000,
    dataAccessExpiresAt: Math.floor((now + 90 * 86_400_000) / 1000) * 1000,
    scopes: [
      'pages_show_list',
      'pages_read_engagement',
      'pages_manage_posts',
      'business_management',
      'public_profile',
    ],
  },
  now,
  now + 6 * 3_600_000,
);
const events: NewEvent[] = Array.from({ length: 20 }, (_, i) => ({
  pageId: page.pageId,
  at: now - (20 - i) * 3_600_000,
  type: i === 0 ? 'setup' : 'check',
  reason: i === 0 ? 'setup' : 'never_expires',
  stateFrom: null,
  stateTo: null,
  message: null,
  details: { posting: { valid: true, type: 'PAGE', expires_at: null } },
}));
await store.savePage(
  page,
  {
    appSecret: randomBytes(16).toString('hex'),
    postingToken: 'EAAfakePposting',
    sourceToken: 'EAAfakeUsource',
  },
  events,
);

const config = loadConfig({
  DATABASE_URL: databaseUrl,
  TOKEN_ENCRYPTION_KEY: keyBytes.toString('base64'),
  GRAPH_API_URL: 'http://127.0.0.1:9',
  LOG_LEVEL: 'info',
  LOG_FORMAT: 'json',
  PORT: '0',
});
const logger = createLogger({
  level: 'info',
  format: 'json',
  destination: pino.destination({ dest: '/dev/null', sync: false }) as unknown as NodeJS.WritableStream,
});
const keeper = await createTokenKeeper({ config, store, logger });
const app = await buildApp({ config, keeper, store, clock: systemClock, logger });
const { key } = await createApiKey(store, { name: 'bench', scopes: ['admin'], clock: systemClock });
// What a posting app holds: a token:read key (an admin key does not read tokens).
const { key: tokenKey } = await createApiKey(store, {
  name: 'bench posting app',
  scopes: ['token:read'],
  clock: systemClock,
});
const appUrl = await startServer(app, { host: '127.0.0.1', port: 0 });

// The bare routes return exactly the bytes the status and token routes return, as constants.
async function sampleOf(url: string, apiKey: string): Promise<string> {
  const r = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${apiKey}` } });
  if (r.statusCode !== 200) throw new Error(`${url} answered ${r.statusCode}: ${r.body}`);
  return r.body;
}
const statusBody = await sampleOf('/api/token/status', key);
const tokenPath = `/api/pages/${page.pageId}/token`;
const tokenBody = await sampleOf(tokenPath, tokenKey);
const bare = Fastify();
const statusConstant = JSON.parse(statusBody) as unknown;
const tokenConstant = JSON.parse(tokenBody) as unknown;
bare.get('/bare', () => statusConstant);
bare.get('/bare-token', () => tokenConstant);
const bareUrl = await bare.listen({ host: '127.0.0.1', port: 0 });

process.send?.({
  appUrl,
  bareUrl,
  key,
  tokenKey,
  tokenPath,
  bytes: statusBody.length,
  tokenBytes: tokenBody.length,
});
process.on('disconnect', () => {
  void Promise.all([app.close(), bare.close()]).then(() => process.exit(0));
});
