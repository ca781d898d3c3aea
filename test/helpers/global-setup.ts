/**
 * Runs once before the test files. Tests that start the real CLI (`bin/fb-token-keeper.js`, which
 * runs the compiled `dist/`) need a build of the current sources, so compile first.
 */
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
