/**
 * The metrics benchmark's server process: the real app (`buildApp`, as `serve` builds it) over a
 * SQLite database holding `--pages` Pages saved straight through `Store.savePage` (a third with a
 * finite posting-token expiry, so every per-Page gauge family has series), an admin key, a
 * `token:read` key, and `METRICS_TOKEN` set so that scrapes are authenticated where that exists.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { DAY, systemClock } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { createSecretBox } from '../../src/crypto/secret-box.js';
import { buildApp } from '../../src/http/app.js';
import { createApiKey } from '../../src/http/auth.js';
import { startServer } from '../../src/http/server.js';
import { createTokenKeeper } from '../../src/lifecycle/keeper.js';
import { createLogger } from '../../src/logger.js';
import { openStore } from '../../src/store/database.js';
import { pageFor } from './seed.js';

const pages = Number(process.argv[2] ?? 10_000);
const metricsToken = process.argv[3] ?? '';
const dir = mkdtempSync(join(tmpdir(), 'fbtk-metrics-bench-'));
const keyBytes = randomBytes(32);
const databaseUrl = `sqlite:${join(dir, 'metrics.db')}`;
const store = await openStore({ databaseUrl, secretBox: createSecretBox({ current: keyBytes }) });
await store.migrate();

const now = Date.now();
const t0 = performance.now();
for (let i = 0; i < pages; i++) {
  const id = String(200_000_000_000_000 + i);
  const page = pageFor(
    {
      pageId: id,
      pageName: `Bench Page ${i}`,
      userId: String(300_000_000_000_000 + i),
      appId: '100000000000001',
      appSecret: 'bench-app-secret',
      postingToken: `EAAfakeP${i}`,
      sourceToken: `EAAfakeU${i}`,
      sourceExpiresAt: Math.floor((now + (20 + (i % 40)) * DAY) / 1000) * 1000,
      dataAccessExpiresAt: Math.floor((now + 90 * DAY) / 1000) * 1000,
      scopes: ['pages_show_list', 'pages_manage_posts'],
    },
    now,
    now + 6 * 3_600_000,
  );
  if (i % 3 === 0) page.posting.expiresAt = Math.floor((now + (10 + (i % 50)) * DAY) / 1000) * 1000;
  await store.savePage(page, {
    appSecret: 'bench-app-secret',
    postingToken: `EAAfakeP${i}`,
    sourceToken: `EAAfakeU${i}`,
  });
}
const seedSeconds = (performance.now() - t0) / 1000;

const config = loadConfig({
  DATABASE_URL: databaseUrl,
  TOKEN_ENCRYPTION_KEY: keyBytes.toString('base64'),
  GRAPH_API_URL: 'http://127.0.0.1:9',
  LOG_LEVEL: 'info',
  LOG_FORMAT: 'json',
  PORT: '0',
  METRICS_TOKEN: metricsToken,
  ...(process.env.METRICS_PAGE_SERIES ? { METRICS_PAGE_SERIES: process.env.METRICS_PAGE_SERIES } : {}),
});
const logger = createLogger({
  level: 'info',
  format: 'json',
  destination: pino.destination({ dest: '/dev/null', sync: false }) as unknown as NodeJS.WritableStream,
});
const keeper = await createTokenKeeper({ config, store, logger });
const app = await buildApp({ config, keeper, store, clock: systemClock, logger });
const reader = await createApiKey(store, { name: 'poster', scopes: ['token:read'], clock: systemClock });
const appUrl = await startServer(app, { host: '127.0.0.1', port: 0 });

process.send?.({ appUrl, readerKey: reader.key, pageId: String(200_000_000_000_000), seedSeconds });
process.on('disconnect', () => {
  void app.close().then(async () => {
    await keeper.close();
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
});
