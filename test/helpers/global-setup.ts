/**
 * Runs once before the test files. Tests that start the real CLI (`bin/fb-token-keeper.js`, which
 * runs the compiled `dist/`) need a build of the current sources, so compile first. Type errors are
 * reported by `npm run typecheck`; tsc still emits, so a type error does not stop unrelated tests.
 */
import { spawnSync } from 'node:child_process';

export default function setup(): void {
  const r = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    process.stderr.write(`tsc build reported problems (tests that spawn the CLI may fail):\n${r.stdout}`);
  }
}
