/** Printing figures side by side, and the machine they were measured on. */
import { execSync } from 'node:child_process';
import { cpus, freemem, totalmem } from 'node:os';
import { parseArgs } from 'node:util';

export function machine(): string {
  const sh = (cmd: string) => {
    try {
      return execSync(cmd, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '?';
    }
  };
  const gb = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;
  return [
    `node ${process.version}, nproc ${sh('nproc')}, ${cpus()[0]?.model ?? '?'}`,
    `memory ${gb(totalmem())} total, ${gb(freemem())} free`,
    `sqlite (better-sqlite3), ${sh("psql -h 127.0.0.1 -U postgres -Atc 'show server_version' 2>/dev/null") || 'PostgreSQL ?'}`,
  ].join('; ');
}

/** A plain-text table: header row, then rows; numbers right-aligned. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (/^[-\d.,×%]+$/.test(c) && i > 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join(
    '\n',
  );
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export function numberList(s: string): number[] {
  return s
    .split(',')
    .map((x) => Number(x.trim()))
    .filter((x) => Number.isFinite(x));
}

export function backends(s: string): ('sqlite' | 'postgres')[] {
  if (s === 'both') return ['sqlite', 'postgres'];
  if (s === 'sqlite' || s === 'postgres') return [s];
  throw new Error(`--backend must be sqlite, postgres or both (got ${s})`);
}

export { parseArgs };
