/**
 * The terminal a command talks to: its streams and environment (the process's own, or a test's).
 * Apart from main.ts so that the commands it runs (setup-command.ts) need not import main.ts back.
 */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: Record<string, string | undefined>;
}
