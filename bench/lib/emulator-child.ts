/**
 * The Graph API emulator in its own process, as Facebook is in production: its CPU time is not
 * charged to the keeper being measured. Started by `spawnEmulator()` (emulator.ts) over IPC.
 *
 * Besides the emulator's own HTTP controls (`POST /__emulator/<op>`), it answers one bulk IPC
 * message, `seed`: create N Pages, each with its own admin and long-lived user token, mint each
 * Page's token through the real Graph route, and write them to a JSON-lines file. Doing this
 * in-process avoids four control round trips per Page.
 */
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { Agent, request } from 'undici';
import { startFakeGraph } from '../../src/fake-graph/index.js';

export interface SeedRequest {
  type: 'seed';
  id: number;
  pages: number;
  file: string;
  /** Page id prefix, so several seedings in one emulator do not collide. */
  prefix: string;
  /** Pages per login: consecutive Pages share one admin and its user token (one connection). Default 1. */
  perLogin?: number;
}

export interface SeededPage {
  pageId: string;
  pageName: string;
  userId: string;
  appId: string;
  appSecret: string;
  postingToken: string;
  sourceToken: string;
  /** Epoch ms, as debug_token reports it (whole seconds). */
  sourceExpiresAt: number;
  dataAccessExpiresAt: number;
  /** What debug_token reports as the tokens' scopes. */
  scopes: string[];
}

/**
 * Pages per app. The emulator keeps a rolling one-hour window of call times per app for its usage
 * headers and scans it on every call, so one app with 100,000 Pages would make the emulator, not
 * the keeper, the bottleneck. The keeper's work per Page does not depend on how apps are shared.
 */
export const PAGES_PER_APP = 100;

const graph = await startFakeGraph({});
const apps: { appId: string; appSecret: string }[] = [];
function appFor(i: number): { appId: string; appSecret: string } {
  const k = Math.floor(i / PAGES_PER_APP);
  apps[k] ??= graph.createApp({ name: `Bench app ${k}` });
  return apps[k];
}

const proof = (token: string, secret: string) => createHmac('sha256', secret).update(token).digest('hex');
// The emulator's `Keep-Alive: timeout=2` minus undici's default 2 s margin would mean a new
// connection per request (see sweeper.ts).
const agent = new Agent({ keepAliveTimeoutThreshold: 1000 });
const getJson = async (url: string) => (await request(url, { dispatcher: agent })).body.json();

async function mintPageToken(pageId: string, userToken: string, appSecret: string): Promise<string> {
  const url = `${graph.url}/${graph.version}/${pageId}?fields=access_token,name&access_token=${encodeURIComponent(userToken)}&appsecret_proof=${proof(userToken, appSecret)}`;
  const body = (await getJson(url)) as { access_token?: string };
  if (!body.access_token) {
    throw new Error(`could not mint a Page token for ${pageId}: ${JSON.stringify(body)}`);
  }
  return body.access_token;
}

/** debug_token's answer for a token, as the keeper will see it. */
async function debugToken(token: string, app: { appId: string; appSecret: string }) {
  const appToken = `${app.appId}|${app.appSecret}`;
  const url = `${graph.url}/${graph.version}/debug_token?input_token=${encodeURIComponent(token)}&access_token=${encodeURIComponent(appToken)}&appsecret_proof=${proof(appToken, app.appSecret)}`;
  const body = (await getJson(url)) as { data?: { scopes?: string[]; data_access_expires_at?: number } };
  return {
    scopes: body.data?.scopes ?? [],
    dataAccessExpiresAt: (body.data?.data_access_expires_at ?? 0) * 1000,
  };
}

/** Login k of a seeding: its admin and long-lived user token (made once, synchronously). */
const logins = new Map<string, { user: { id: string }; sourceToken: string }>();
function loginFor(k: number, req: SeedRequest, app: { appId: string }) {
  const key = `${req.prefix}:${k}`;
  let login = logins.get(key);
  if (!login) {
    const user = graph.createUser({ name: `Admin ${k}` });
    login = {
      user,
      sourceToken: graph.issueUserToken({ appId: app.appId, userId: user.id, lifetime: 'long' }),
    };
    logins.set(key, login);
  }
  return login;
}

async function seedOne(i: number, req: SeedRequest, width: number): Promise<SeededPage> {
  const per = Math.max(1, req.perLogin ?? 1);
  const k = Math.floor(i / per);
  // A login's Pages are all in the app of its first Page.
  const app = appFor(k * per);
  const { user, sourceToken } = loginFor(k, req, app);
  const page = graph.createPage({
    id: `${req.prefix}${String(i).padStart(width, '0')}`,
    name: `Bench Page ${i}`,
  });
  graph.grantRole(user.id, page.id);
  const postingToken = await mintPageToken(page.id, sourceToken, app.appSecret);
  const status = graph.tokenStatus(sourceToken);
  if (!status.valid || status.expiresAt === null) {
    throw new Error('the emulator issued an unusable user token');
  }
  // Every token is issued alike: ask debug_token now and then for scopes and data access.
  const d = await (i % 500 === 0 ? debugToken(sourceToken, app) : Promise.resolve(template));
  template = d;
  return {
    pageId: page.id,
    pageName: page.name,
    userId: user.id,
    appId: app.appId,
    appSecret: app.appSecret,
    postingToken,
    sourceToken,
    sourceExpiresAt: Math.floor(status.expiresAt / 1000) * 1000,
    dataAccessExpiresAt: d.dataAccessExpiresAt,
    scopes: d.scopes,
  };
}

let template = { scopes: [] as string[], dataAccessExpiresAt: 0 };

async function seed(req: SeedRequest): Promise<number> {
  const width = String(req.pages).length;
  const lines = new Array<string>(req.pages);
  lines[0] = JSON.stringify(await seedOne(0, req, width));
  let next = 1;
  const worker = async () => {
    while (next < req.pages) {
      const i = next++;
      lines[i] = JSON.stringify(await seedOne(i, req, width));
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  const out = createWriteStream(req.file);
  for (const line of lines) {
    if (!out.write(`${line}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  graph.resetCalls();
  return req.pages;
}

process.on('message', (msg: SeedRequest) => {
  seed(msg).then(
    (n) => process.send?.({ type: 'seeded', id: msg.id, pages: n }),
    (e: unknown) =>
      process.send?.({ type: 'error', id: msg.id, message: e instanceof Error ? e.message : String(e) }),
  );
});
process.on('disconnect', () => {
  void graph.close().then(() => process.exit(0));
});
process.send?.({ type: 'ready', url: graph.url });
