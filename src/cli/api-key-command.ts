/**
 * `api-key create|list|revoke`. A key can be limited to named Pages (`--page-id`, token:read only)
 * and given an expiry (`--expires-in 90d` or `--expires-at 2027-06-30`); `list` shows all of it.
 */
import { type Command, Option } from 'commander';
import { DAY, HOUR } from '../clock.js';
import { AppError } from '../errors.js';
import type { KeeperInternals } from '../lifecycle/keeper.js';
import type { ApiKey } from '../types.js';
import { table } from './output.js';

interface ApiKeyCommandIo {
  out(s: string): void;
  json(v: unknown): void;
  withKeeper<T>(fn: (k: KeeperInternals) => Promise<T>): Promise<T>;
}

const DURATION = /^(\d{1,5})([hdw])$/;
const UNIT_MS = { h: HOUR, d: DAY, w: 7 * DAY } as const;

/**
 * The expiry, in epoch ms, from `--expires-in` (`12h`, `90d`, `8w`) or `--expires-at` (an ISO 8601
 * date or time); null when neither is given. Pure, so the CLI's arithmetic is tested without a clock.
 */
export function expiryFromOptions(o: { expiresIn?: string; expiresAt?: string }, now: number): number | null {
  const invalid = (field: string, message: string) =>
    new AppError('validation_failed', message, { details: { fields: [{ field, message }] } });
  if (o.expiresIn !== undefined && o.expiresAt !== undefined) {
    throw invalid('expires_in', 'give --expires-in or --expires-at, not both');
  }
  if (o.expiresIn !== undefined) {
    const m = DURATION.exec(o.expiresIn.trim());
    if (!m || Number(m[1]) === 0) {
      throw invalid('expires_in', '--expires-in must be a number and a unit: h, d or w (e.g. 90d)');
    }
    return now + Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  }
  if (o.expiresAt !== undefined) {
    const at = /^\d{4}-\d{2}-\d{2}(T.+)?$/.test(o.expiresAt.trim())
      ? Date.parse(o.expiresAt.trim())
      : Number.NaN;
    if (Number.isNaN(at)) {
      throw invalid(
        'expires_at',
        '--expires-at must be an ISO 8601 date or time (e.g. 2027-06-30 or 2027-06-30T12:00Z)',
      );
    }
    return at;
  }
  return null;
}

export function apiKeyTable(keys: readonly ApiKey[], now: number): string {
  if (keys.length === 0) return 'No API keys. Create one with: fb-token-keeper api-key create';
  return table([
    ['ID', 'NAME', 'SCOPES', 'PAGES', 'CREATED', 'LAST USED', 'EXPIRES', 'STATUS'],
    ...keys.map((x) => [
      x.id,
      x.name,
      x.scopes.join(','),
      x.pageIds === null ? (x.scopes.includes('token:read') ? 'all' : '-') : x.pageIds.join(','),
      short(x.createdAt),
      short(x.lastUsedAt),
      x.expiresAt === null ? 'never' : short(x.expiresAt),
      x.revokedAt !== null
        ? `revoked ${short(x.revokedAt)}`
        : x.expiresAt !== null && x.expiresAt <= now
          ? 'expired'
          : 'active',
    ]),
  ]);
}

export function registerApiKeyCommands(program: Command, io: ApiKeyCommandIo): void {
  const apiKey = program.command('api-key').description('manage API keys for the HTTP API');
  apiKey
    .command('create')
    .description('create a key; it is shown once')
    .option('--name <name>', 'a label', 'cli')
    .addOption(
      new Option('--scope <scope...>', 'admin and/or token:read')
        .choices(['admin', 'token:read'])
        .default(['admin']),
    )
    .option(
      '--page-id <id...>',
      'token:read only: the key reads only these Pages’ tokens (repeat for several; default: every Page)',
    )
    .option('--expires-in <duration>', 'the key stops working after this long: 12h, 90d, 8w')
    .option('--expires-at <time>', 'the key stops working at this ISO 8601 date or time')
    .option('--json', 'print JSON')
    .action(
      async (o: {
        name: string;
        scope: ('admin' | 'token:read')[];
        pageId?: string[];
        expiresIn?: string;
        expiresAt?: string;
        json?: boolean;
      }) => {
        const { createApiKey } = await import('../http/auth.js');
        await io.withKeeper(async (k) => {
          const created = await createApiKey(k.store, {
            name: o.name,
            scopes: o.scope,
            pageIds: o.pageId,
            expiresAt: expiryFromOptions(o, k.clock.now()),
            clock: k.clock,
          });
          if (o.json) {
            io.json({ success: true, key: created.key, apiKey: created.apiKey });
            return;
          }
          const limits = [
            created.apiKey.pageIds
              ? `It reads only the tokens of Page(s) ${created.apiKey.pageIds.join(', ')}.`
              : '',
            created.apiKey.expiresAt ? `It expires at ${iso(created.apiKey.expiresAt)}.` : '',
          ].filter(Boolean);
          io.out(
            `${created.key}\n\nThis is the only time the key is shown. Use it as: Authorization: Bearer <key>${limits.length > 0 ? `\n${limits.join(' ')}` : ''}`,
          );
        });
      },
    );
  apiKey
    .command('list')
    .description('every key: scopes, Pages, last use, expiry (never the key itself)')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      await io.withKeeper(async (k) => {
        const keys = await k.store.listApiKeys();
        // As stored (epoch ms), the shape `list --json` always had, now with pageIds and expiresAt.
        if (o.json) io.json({ success: true, keys });
        else io.out(apiKeyTable(keys, k.clock.now()));
      });
    });
  apiKey
    .command('revoke')
    .argument('<ID>')
    .action(async (id: string) => {
      await io.withKeeper(async (k) => {
        const ok = await k.store.revokeApiKey(id, k.clock.now());
        if (!ok) throw new AppError('not_found', `no active API key with id ${id}`);
        io.out(`revoked ${id}`);
      });
    });
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function short(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
}
