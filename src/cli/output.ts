/** Human output for the CLI: plain tables and sentences. `--json` prints the core's objects as they are. */
import type { CheckReport, PageStatus, RenewResult, ValidateResult } from '../lifecycle/types.js';
import type { KeeperSources } from '../lifecycle/keeper.js';

export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function expiryText(s: Pick<PageStatus, 'expires_at' | 'days_until_expiry'>): string {
  return s.expires_at === null
    ? 'never expires'
    : `${s.expires_at.slice(0, 16).replace('T', ' ')} (${s.days_until_expiry} d)`;
}

export function statusTable(pages: PageStatus[]): string {
  if (pages.length === 0) {
    return 'No pages are managed yet. Add one with `fb-token-keeper setup` or `fb-token-keeper add`.';
  }
  return table([
    ['PAGE', 'NAME', 'STATE', 'EXPIRES', 'AUTO', 'LAST CHECK', 'NEXT CHECK'],
    ...pages.map((p) => [
      p.page_id,
      p.page_name ?? '-',
      p.state,
      expiryText(p),
      p.auto_renew ? 'on' : 'off',
      short(p.last_checked_at),
      short(p.next_check_at),
    ]),
  ]);
}

export function statusDetail(s: PageStatus): string {
  const lines = [
    `Page ${s.page_id}${s.page_name ? ` (${s.page_name})` : ''}: ${s.state}`,
    s.state_message ? `  ${s.state_message}` : '',
    `  token:        ${s.token_type}, ${s.token_valid ? 'valid' : 'NOT valid'}, ${expiryText(s)}`,
    `  source token: ${s.source_token_type ? `${s.source_token_type}, ${s.source_valid ? 'valid' : 'not valid'}, ${s.source_expires_at ?? 'never expires'}` : 'none (self-healing not possible)'}`,
    `  scopes:       ${s.scopes.join(', ') || '-'}${s.missing_scopes.length ? `  (missing: ${s.missing_scopes.join(', ')})` : ''}`,
    `  auto-renew:   ${s.auto_renew ? 'on' : 'off'}; renew at ${s.renewal_threshold_days} days left; now: ${s.renewal_needed ? 'renewal needed' : 'nothing to do'} (${s.renewal_reason})`,
    `  last check:   ${s.last_checked_at ?? 'never'}; next: ${s.next_check_at ?? 'now'}; last renewal: ${s.last_renewed_at ?? 'never'}`,
    s.last_error ? `  last error:   ${s.last_error.code}: ${s.last_error.message}` : '',
    s.reconnect_url ? `  reconnect:    ${s.reconnect_url}` : '',
  ].filter(Boolean);
  if (s.history.length > 0) {
    lines.push(
      '',
      table([
        ['WHEN', 'EVENT', 'REASON', 'MESSAGE'],
        ...s.history.map((h) => [short(h.at), h.type, h.reason ?? '', h.message ?? '']),
      ]),
    );
  }
  return lines.join('\n');
}

/** Which database and key source a command used. */
export function sourcesText(s: KeeperSources): string {
  const previous = s.key_ids.length - 1;
  return [
    `database:   ${s.database} (${s.database_from})`,
    `key source: ${s.key_source} (active key ${s.active_key_id}${previous > 0 ? `, ${previous} previous: ${s.key_ids.slice(1).join(', ')}` : ''})`,
  ].join('\n');
}

export function checkText(r: CheckReport): string {
  const head = `${r.dry_run ? 'Dry run: ' : ''}${r.checked} page(s) checked, ${r.skipped} not due.`;
  const failed =
    r.could_not_check.length === 0
      ? ''
      : `\n${r.could_not_check.length} page(s) could not be checked:\n${r.could_not_check
          .map((x) => `  ${x.page_id}: ${x.message} (${x.code})`)
          .join('\n')}`;
  if (r.results.length === 0) return `${head}${failed}`;
  return `${head}${failed}\n${table([
    ['PAGE', 'ACTION', 'REASON', 'STATE'],
    ...r.results.map((x) => [
      x.page_id,
      x.action,
      x.reason,
      x.state_before === x.state_after ? x.state_after : `${x.state_before} → ${x.state_after}`,
    ]),
  ])}`;
}

export function renewText(r: RenewResult): string {
  const expiry = r.expires_at ?? 'never';
  if (r.dry_run) return `Dry run for page ${r.page_id}: ${r.reason}. Token expires: ${expiry}.`;
  return r.renewed
    ? `Page ${r.page_id}: ${r.message} Expires: ${expiry} (was ${r.previous_expires_at ?? 'never'}).`
    : `Page ${r.page_id}: not renewed (${r.reason}). ${r.message}`;
}

export function validateText(v: ValidateResult): string {
  const lines = [
    `${v.valid ? 'Valid' : 'NOT valid'} ${v.type} token${v.app_id ? ` for app ${v.app_id}` : ''}${v.profile_id ? `, Page ${v.profile_id}` : ''}${v.user_id ? `, user ${v.user_id}` : ''}.`,
    `  expires: ${v.expires_at ?? 'never'}; data access until: ${v.data_access_expires_at ?? '-'}`,
    `  scopes:  ${v.scopes.join(', ') || '-'}${v.missing_scopes.length ? ` (missing: ${v.missing_scopes.join(', ')})` : ''}`,
  ];
  if (v.error) {
    lines.push(
      `  error:   ${v.error.message} (code ${v.error.code}${v.error.subcode ? `/${v.error.subcode}` : ''}, ${v.error.reason})`,
    );
  }
  return lines.join('\n');
}

function short(iso: string | null): string {
  return iso === null ? '-' : iso.slice(0, 16).replace('T', ' ');
}
