/** Secrets on the command line end up in shell history: `-` reads them from stdin instead. */
import { AppError } from '../errors.js';

export async function readStdinLines(stdin: NodeJS.ReadableStream): Promise<string[]> {
  let data = '';
  for await (const chunk of stdin) data += String(chunk);
  return data
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
}

/**
 * Resolve values that may be `-` (next line of stdin, in order). Missing values are a usage error
 * naming what is missing, unless `optional`.
 */
export async function readSecretArgs(
  values: (string | undefined)[],
  names: string[],
  stdin: NodeJS.ReadableStream,
  options: { optional?: boolean } = {},
): Promise<string[]> {
  const lines = values.includes('-') ? await readStdinLines(stdin) : [];
  let next = 0;
  return values.map((v, i) => {
    if (v === '-') {
      const line = lines[next++];
      if (line === undefined) {
        throw new AppError('validation_failed', `${names[i]}: expected a value on stdin`);
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
