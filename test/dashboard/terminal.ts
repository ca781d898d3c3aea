/**
 * A real pseudo-terminal for CLI tests: `script` (util-linux) runs the command on a new pty, we
 * type into it and read what a person would see. The pty gets a size first (`stty`), because with
 * no terminal of our own `script` would give it 0 columns.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';

// eslint-disable-next-line no-control-regex -- terminal escape sequences are the point
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Za-z0-9]|\r/g;

export interface Terminal {
  /** Everything shown so far, without escape sequences. */
  screen(): string;
  /** Everything written to the pty, escapes included. */
  raw(): string;
  /** Wait until `pattern` appears after the previous match; returns the text up to it. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  type(text: string): void;
  /** Type a line and press Enter. */
  enter(text?: string): void;
  exit(): Promise<number>;
  kill(): void;
}

export const KEY = { enter: '\r', backspace: '\x7f', down: '\x1b[B', up: '\x1b[A', ctrlC: '\x03' };

export function openTerminal(
  command: string,
  options: { cwd: string; env: Record<string, string> },
): Terminal {
  const child: ChildProcessWithoutNullStreams = spawn(
    'script',
    ['-qfec', `stty cols 110 rows 50 && exec ${command}`, '/dev/null'],
    {
      cwd: options.cwd,
      env: { TERM: 'xterm-256color', ...options.env },
    },
  );
  let out = '';
  let pos = 0;
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  const screen = () => out.replace(ANSI, '');
  return {
    screen,
    raw: () => out,
    async waitFor(pattern, timeoutMs = 15_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const text = screen();
        const m = pattern.exec(text.slice(pos));
        if (m) {
          const upTo = text.slice(pos, pos + m.index + m[0].length);
          pos += m.index + m[0].length;
          return upTo;
        }
        if (Date.now() > until || child.exitCode !== null) {
          throw new Error(
            `terminal: ${pattern} did not appear${child.exitCode !== null ? ` (exited ${child.exitCode})` : ''}; screen:\n${text}`,
          );
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    type(text) {
      child.stdin.write(text);
    },
    enter(text = '') {
      child.stdin.write(`${text}${KEY.enter}`);
    },
    exit: () => exited,
    kill() {
      child.kill('SIGKILL');
    },
  };
}
