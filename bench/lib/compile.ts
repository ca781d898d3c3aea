/**
 * Measured processes run the way production does: plain `node` on the compiled `dist/` (what
 * `node bin/fb-token-keeper.js serve` runs), not under tsx, whose loader thread and on-the-fly
 * transpiling would add their own memory and CPU to the figures.
 *
 * `buildDist()` compiles src/ with the project's own build; `compileHarness(file)` transpiles one
 * bench harness file with TypeScript and points its `../../src/…` imports at `dist/…`. The output
 * goes under node_modules/.cache so that package imports (undici, pg…) still resolve.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const OUT = join(ROOT, 'node_modules/.cache/fbtk-bench');
let built = false;

/** `tsc -p tsconfig.build.json` once per bench run (type errors are reported, not fatal, as in test/helpers/global-setup.ts). */
export function buildDist(): void {
  if (built || process.env.BENCH_SKIP_BUILD === '1') return;
  const r = spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')],
    {
      encoding: 'utf8',
      cwd: ROOT,
    },
  );
  if (r.status !== 0) {
    process.stderr.write(
      `(tsc reported problems; dist/ was still emitted)\n${r.stdout.split('\n').slice(0, 5).join('\n')}\n`,
    );
  }
  built = true;
}

/** Transpile a harness file (e.g. bench/lib/sweeper.ts) to an .mjs that imports dist/ instead of src/. */
export function compileHarness(file: string): string {
  buildDist();
  const source = readFileSync(file, 'utf8');
  const out = ts.transpileModule(source, {
    fileName: file,
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2023,
      verbatimModuleSyntax: true,
    },
  }).outputText;
  const dist = pathToFileURL(join(ROOT, 'dist')).href;
  const rewritten = out.replace(/(['"])\.\.\/\.\.\/src\//g, `$1${dist}/`);
  if (/['"]\.\.?\//.test(rewritten)) {
    throw new Error(`${file}: only ../../src/ imports are supported in a compiled harness`);
  }
  mkdirSync(OUT, { recursive: true });
  const target = join(OUT, basename(file).replace(/\.ts$/, '.mjs'));
  writeFileSync(target, rewritten);
  return target;
}
