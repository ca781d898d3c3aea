/**
 * Start the Graph API emulator in a child process and talk to it: its HTTP controls
 * (`POST /__emulator/<op>`) and the bulk `seed` over IPC (see emulator-child.ts).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connectFakeGraph, type RemoteFakeGraph } from '../../src/fake-graph/index.js';
import type { SeededPage, SeedRequest } from './emulator-child.js';

export interface RemoteEmulator {
  url: string;
  pid: number;
  /** The emulator's controls over HTTP (`POST /__emulator/<op>`). */
  control: RemoteFakeGraph;
  /** Create `pages` Pages with valid long-lived user tokens and minted Page tokens. */
  /** `perLogin`: consecutive Pages sharing one login (one connection). */
  seed(pages: number, file: string, prefix?: string, perLogin?: number): Promise<SeededPage[]>;
  close(): Promise<void>;
}

const CHILD = fileURLToPath(new URL('./emulator-child.ts', import.meta.url));

type Message =
  | { type: 'ready'; url: string }
  | { type: 'seeded'; id: number; pages: number }
  | { type: 'error'; id: number; message: string };

export async function spawnEmulator(): Promise<RemoteEmulator> {
  const child: ChildProcess = fork(CHILD, [], {
    execArgv: [
      '--import',
      'tsx',
      ...(process.env.BENCH_EMULATOR_PROF
        ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.BENCH_EMULATOR_PROF]
        : []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<number, { resolve: (n: number) => void; reject: (e: Error) => void }>();
  let seq = 0;
  const ready = await new Promise<Extract<Message, { type: 'ready' }>>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
    child.on('message', (m: Message) => {
      if (m.type === 'ready') resolve(m);
      else if (m.type === 'seeded') waiting.get(m.id)?.resolve(m.pages);
      else waiting.get(m.id)?.reject(new Error(m.message));
    });
  });
  child.removeAllListeners('exit');
  return {
    url: ready.url,
    pid: child.pid ?? 0,
    control: connectFakeGraph(ready.url),
    async seed(pages, file, prefix = '9', perLogin = 1) {
      const id = ++seq;
      const req: SeedRequest = { type: 'seed', id, pages, file, prefix, perLogin };
      await new Promise<number>((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        child.send(req);
      });
      waiting.delete(id);
      return readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as SeededPage);
    },
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
