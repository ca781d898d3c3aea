/**
 * The emulator's world kept across restarts (`stateFile`, `fake-graph --state FILE`): what a token
 * was (valid, invalidated by a password change, its expiry), roles and posts come back after a
 * restart; a file that is not a state file is refused with a clear message.
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeGraph, runFakeGraphCli, startFakeGraph } from '../../src/fake-graph/index.js';
import { systemClock } from '../../src/clock.js';
import { createGraphClient } from '../../src/graph/client.js';

const open: FakeGraph[] = [];
afterEach(async () => {
  for (const g of open.splice(0)) await g.close();
});
const dir = () => mkdtempSync(join(tmpdir(), 'fbtk-fg-state-'));

describe('fake-graph state file', () => {
  it('a restart keeps apps, users, Pages, roles, tokens and the events that invalidated them', async () => {
    const file = join(dir(), 'nested', 'world.json');
    const g1 = await startFakeGraph({ stateFile: file });
    const app = g1.createApp({ name: 'Kept app' });
    const admin = g1.createUser({ name: 'Admin' });
    const other = g1.createUser({ name: 'Other' });
    const page = g1.createPage({ name: 'Kept Page' });
    g1.grantRole(admin.id, page.id);
    g1.grantRole(other.id, page.id);
    const killed = g1.issueUserToken({ appId: app.appId, userId: admin.id, lifetime: 'long' });
    const kept = g1.issueUserToken({ appId: app.appId, userId: other.id, lifetime: 'long' });
    g1.changePassword(admin.id);
    const before = { killed: g1.tokenStatus(killed), kept: g1.tokenStatus(kept) };
    expect(before.killed).toMatchObject({ valid: false, subcode: 460 });
    expect(before.kept.valid).toBe(true);
    await g1.close();
    // Secrets of the emulated world: owner-only.
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const g2 = await startFakeGraph({ stateFile: file });
    open.push(g2);
    expect(g2.persistence?.restored).toBe(true);
    expect(g2.tokenStatus(killed)).toEqual(before.killed);
    expect(g2.tokenStatus(kept)).toEqual(before.kept);
    // The restored world answers real Graph calls: the surviving token still mints a Page token.
    const graph = createGraphClient({ baseUrl: g2.url, version: g2.version, clock: systemClock });
    const minted = await graph.getPageToken(page.id, kept, app);
    expect(g2.tokenStatus(minted.accessToken)).toMatchObject({ valid: true, type: 'PAGE' });
    // A token issued after the restart is not hit by the old password change.
    const fresh = g2.issueUserToken({ appId: app.appId, userId: admin.id, lifetime: 'long' });
    expect(g2.tokenStatus(fresh).valid).toBe(true);
    expect(fresh).not.toBe(killed);
  });

  it('changes made over HTTP are saved without a clean shutdown', async () => {
    const file = join(dir(), 'world.json');
    const g1 = await startFakeGraph({ stateFile: file });
    open.push(g1);
    const res = await fetch(`${g1.url}/__emulator/createUser`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: '100000000000042', name: 'Over HTTP' }),
    });
    expect(res.status).toBe(200);
    // The save is coalesced (tens of ms); read the file until it has the user, without a fixed sleep.
    await expect
      .poll(() => {
        try {
          return readFileSync(file, 'utf8').includes('100000000000042');
        } catch {
          return false;
        }
      })
      .toBe(true);
  });

  it('fake-graph --state prints the same ids and tokens after a restart, and they still work', async () => {
    const file = join(dir(), 'demo.json');
    let first = '';
    const g1 = await runFakeGraphCli(['--port', '0', '--state', file], {
      stdout: { write: (s: string) => (first += s) },
    });
    const seeded = JSON.parse(first) as { page: { id: string }; tokens: { long_lived_user: string } };
    await g1.close();
    let second = '';
    const g2 = await runFakeGraphCli(['--port', '0', '--state', file], {
      stdout: { write: (s: string) => (second += s) },
    });
    open.push(g2);
    const again = JSON.parse(second) as typeof seeded & { restored_from: string; url: string };
    expect(again.page.id).toBe(seeded.page.id);
    expect(again.tokens).toEqual(seeded.tokens);
    expect(again.restored_from).toBe(file);
    expect(again.url).toBe(g2.url);
    expect(g2.tokenStatus(seeded.tokens.long_lived_user).valid).toBe(true);
  });

  it('a file that is not a state file stops the start with a message naming it', async () => {
    const file = join(dir(), 'notes.json');
    writeFileSync(file, '{"hello": "world"}');
    await expect(startFakeGraph({ stateFile: file })).rejects.toThrow(
      `${file} is not a fake-graph state file`,
    );
    writeFileSync(file, 'not json');
    await expect(startFakeGraph({ stateFile: file })).rejects.toThrow(/not JSON/);
    // Refused, not overwritten.
    expect(readFileSync(file, 'utf8')).toBe('not json');
  });
});
