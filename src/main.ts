/** Process entry: the only place that touches process.argv and the exit code. */
import { runCli } from './cli/main.js';

process.exitCode = await runCli(process.argv.slice(2));
