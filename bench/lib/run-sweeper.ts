/** Run one measured check round (sweeper.ts) in a child process and return its figures. */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { compileHarness } from './compile.js';
import type { SweepInput, SweepOutput } from './sweeper.js';

let compiled: string | undefined;

/** Runs under plain node on dist/ (see compile.ts); `execArgv` adds node flags such as --cpu-prof. */
export function runSweeper(
  input: SweepInput,
  options: { execArgv?: string[]; env?: Record<string, string> } = {},
): Promise<SweepOutput> {
  compiled ??= compileHarness(fileURLToPath(new URL('./sweeper.ts', import.meta.url)));
  const file = compiled;
  return new Promise((resolve, reject) => {
    const child = fork(file, [], {
      execArgv: options.execArgv ?? [],
      env: { ...process.env, ...options.env, BENCH_SWEEP: JSON.stringify(input) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: SweepOutput | undefined;
    child.on('message', (m: SweepOutput) => {
      result = m;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (result) resolve(result);
      else reject(new Error(`sweeper exited with ${code} before reporting`));
    });
  });
}
