#!/usr/bin/env node
// Runs the compiled CLI (dist/ is built by `npm ci` through the `prepare` script).
import { runCli } from '../dist/cli/main.js';

process.exitCode = await runCli(process.argv.slice(2));
