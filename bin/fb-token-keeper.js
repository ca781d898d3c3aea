#!/usr/bin/env node
// Runs the compiled CLI (dist/ is built by `npm ci` through the `prepare` script).
import '../dist/main.js';
