/**
 * Secrets on the command line end up in shell history: `-` reads them from stdin instead. From a
 * pipe, one line per `-`, in order. From a terminal, a prompt per `-` with the typing hidden (no
 * echo, not even a mask) and Enter ending each value, so a person is never left staring at a
 * silent cursor, a secret never shows on screen, and nobody needs to know about Ctrl-D.
 */
import { AppError } from '../errors.js';

/** stdin as the CLI sees it: a terminal has `isTTY` and `setRawMode` (node:tty ReadStream). */
export type CliStdin = NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };

export async function readStdinLines(stdin: NodeJS.ReadableStream): Promise<string[]> {
  let data = '';
  for await (const chunk of stdin) data += String(chunk);
  return data
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
}

const ENTER = new Set(['\r', '\n']);
const ERASE = new Set(['\x7f', '\b']);
/** Ctrl-C and Ctrl-D: stop, and store nothing. */
const CANCEL = new Set(['\x03', '\x04']);

/**
 * One hidden answer per prompt, read in raw mode (the terminal echoes nothing; we echo nothing).
 * Typed-ahead or pasted text after an Enter carries over to the next prompt.
 */
export function readHiddenLines(
  stdin: CliStdin,
  prompt: NodeJS.WritableStream,
  questions: string[],
): Promise<string[]> {
  const answers: string[] = [];
  let current = '';
  return new Promise((resolve, reject) => {
    const finish = (err?: AppError) => {
      stdin.removeListener('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      if (err) reject(err);
      else resolve(answers);
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of String(chunk)) {
        if (ENTER.has(ch)) {
          prompt.write('\n');
          answers.push(current.trim());
          current = '';
          if (answers.length === questions.length) return finish();
          prompt.write(`${questions[answers.length]!}: `);
        } else if (CANCEL.has(ch)) {
          prompt.write('\n');
          return finish(new AppError('validation_failed', 'cancelled; nothing was stored'));
        } else if (ERASE.has(ch)) {
          current = current.slice(0, -1);
        } else if (ch >= ' ') {
          current += ch;
        }
      }
      return undefined;
    };
    stdin.setRawMode?.(true);
    stdin.on('data', onData);
    stdin.resume();
    prompt.write(`${questions[0]!}: `);
  });
}

/**
 * Resolve values that may be `-` (next line of stdin, in order; asked for, hidden, when stdin is a
 * terminal and `prompt` is given). Missing values are a usage error naming what is missing, unless
 * `optional`.
 */
export async function readSecretArgs(
  values: (string | undefined)[],
  names: string[],
  stdin: CliStdin,
  options: { optional?: boolean; prompt?: NodeJS.WritableStream } = {},
): Promise<string[]> {
  const asked = names.filter((_, i) => values[i] === '-');
  const terminal =
    stdin.isTTY === true && typeof stdin.setRawMode === 'function' && options.prompt !== undefined;
  const lines =
    asked.length === 0
      ? []
      : terminal
        ? await readHiddenLines(
            stdin,
            options.prompt!,
            asked.map((n) => `${n} (typed hidden, Enter to end)`),
          )
        : await readStdinLines(stdin);
  let next = 0;
  return values.map((v, i) => {
    if (v === '-') {
      const line = lines[next++];
      if (line === undefined || line === '') {
        throw new AppError(
          'validation_failed',
          `${names[i]}: expected a value ${terminal ? 'to be typed' : 'on stdin'}`,
        );
      }
      return line;
    }
    if (v === undefined || v === '') {
      if (options.optional) return '';
      throw new AppError('validation_failed', `${names[i]} is required`);
    }
    return v;
  });
}
