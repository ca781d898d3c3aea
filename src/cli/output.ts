/**
 * Human output for the CLI: plain tables and sentences. `--json` prints the core's objects as they are.
 *
 * Text that Facebook supplies (a Page name, an error message) reaches a terminal only through
 * `terminalText`: a Page named `ESC[31m…`, with an OSC title sequence or a CR LF, could otherwise
 * recolour the terminal, retitle its window or forge table rows. JSON output stays exact (JSON
 * escapes control characters itself).
 */
import type { TestAlertResult } from '../alerts/test-alert.js';
import type {
  CheckReport,
  HistoryItem,
  PageStatus,
  WhatsAppAccountStatus,
  RenewResult,
  ValidateResult,
} from '../lifecycle/types.js';
import type { KeeperSources } from '../lifecycle/keeper.js';

// C0 controls (with TAB, CR, LF: a cell or a line must stay one cell, one line), DEL and C1 controls
// (U+0080–U+009F; U+009B is CSI and U+009D is OSC on terminals that honour 8-bit controls).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** `s` with every C0/C1 control character removed: safe to print to a terminal. */
export function terminalText(s: string): string {
  return s.replace(CONTROL, '');
}

/** Setup notes (they may quote Facebook's answer), one per line. */
export function notesText(notes: readonly string[]): string {
  return notes.map(terminalText).join('\n');
}

/** Columns padded to the widest cell; every cell goes through `terminalText`. */
export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const clean = rows.map((r) => r.map(terminalText));
  const widths = clean[0]!.map((_, i) => Math.max(...clean.map((r) => (r[i] ?? '').length)));
  return clean
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
  const rows = table([
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
  // Every page that is not healthy says why, and what to do, without a second command.
  const why = pages
    .filter((p) => p.state !== 'healthy')
    .map((p) => `  ${p.page_id} ${p.state} (${p.state_reason ?? '-'}): ${p.state_message ?? ''}`.trimEnd());
  return why.length === 0 ? rows : `${rows}\n\nNot healthy:\n${why.join('\n')}`;
}

/** WhatsApp Cloud API connections (no Page: the connection is the sender's account). */
export function whatsAppTable(accounts: WhatsAppAccountStatus[]): string {
  if (accounts.length === 0) return '';
  const rows = table([
    ['WHATSAPP', 'NAME', 'STATE', 'EXPIRES', 'LAST CHECK', 'NEXT CHECK'],
    ...accounts.map((a) => [
      a.id,
      a.name ?? '-',
      a.state,
      a.expires_at === null ? 'never' : `${a.expires_at} (${a.days_until_expiry ?? 0} days)`,
      short(a.last_checked_at),
      short(a.next_check_at),
    ]),
  ]);
  const why = accounts
    .filter((a) => a.state !== 'healthy')
    .map((a) =>
      `  ${a.id} ${a.state} (${a.state_reason ?? '-'}): ${terminalText(a.state_message ?? '')}`.trimEnd(),
    );
  return why.length === 0 ? rows : `${rows}\n\nNot healthy:\n${why.join('\n')}`;
}

export function statusDetail(s: PageStatus): string {
  const lines = [
    `Page ${s.page_id}${s.page_name ? ` (${terminalText(s.page_name)})` : ''}: ${s.state}`,
    s.state_message ? `  ${terminalText(s.state_message)}` : '',
    `  token:        ${s.token_type}, ${s.token_valid ? 'valid' : 'NOT valid'}, ${expiryText(s)}`,
    `  source token: ${s.source_token_type ? `${s.source_token_type}, ${s.source_valid ? 'valid' : 'not valid'}, ${s.source_expires_at ?? 'never expires'}` : 'none (self-healing not possible)'}`,
    `  scopes:       ${s.scopes.join(', ') || '-'}${s.missing_scopes.length ? `  (missing: ${s.missing_scopes.join(', ')})` : ''}`,
    `  auto-renew:   ${s.auto_renew ? 'on' : 'off'}; renew at ${s.renewal_threshold_days} days left; now: ${s.renewal_needed ? 'renewal needed' : 'nothing to do'} (${s.renewal_reason})`,
    `  last check:   ${s.last_checked_at ?? 'never'}; next: ${s.next_check_at ?? 'now'}; last renewal: ${s.last_renewed_at ?? 'never'}`,
    s.last_error ? `  last error:   ${s.last_error.code}: ${terminalText(s.last_error.message)}` : '',
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
  const lines = [
    `${r.dry_run ? 'Dry run: ' : ''}${r.dry_run ? r.results.length : r.checked} page(s) ${r.dry_run ? 'inspected' : 'checked'}, ${r.skipped} not checked.`,
  ];
  if (r.could_not_check.length > 0) {
    lines.push(
      `${r.could_not_check.length} page(s) could not be checked:`,
      ...r.could_not_check.map((x) => `  ${x.page_id}: ${terminalText(x.message)} (${x.code})`),
    );
  }
  if (r.results.length > 0) {
    lines.push(
      table([
        ['PAGE', 'ACTION', 'REASON', 'OUTCOME', 'STATE'],
        ...r.results.map((x) => [
          x.page_id,
          x.action,
          x.reason,
          x.outcome,
          x.state_before === x.state_after ? x.state_after : `${x.state_before} → ${x.state_after}`,
        ]),
      ]),
    );
  }
  if (r.not_checked.length > 0) {
    lines.push(
      '',
      'Not checked this run:',
      table([
        ['PAGE', 'WHY', 'STATE', 'NEXT DUE'],
        ...r.not_checked.map((x) => [
          x.page_id,
          x.reason.replaceAll('_', ' '),
          x.state,
          x.next_check_at ?? 'next run',
        ]),
      ]),
      'Check them now with `fb-token-keeper check --all` (or one with `--page-id ID`); throttled pages wait for Facebook.',
    );
  }
  if (r.needs_person.length > 0) {
    lines.push(
      '',
      `Needs a person: ${r.needs_person.join(', ')}. See \`fb-token-keeper status\` for the reason and the reconnect link.`,
    );
  }
  return lines.join('\n');
}

export function historyText(items: HistoryItem[]): string {
  if (items.length === 0) return 'No history yet.';
  return table([
    ['WHEN', 'EVENT', 'REASON', 'STATE', 'MESSAGE'],
    ...items.map((h) => [
      short(h.at),
      h.type,
      h.reason ?? '-',
      h.state_from === null && h.state_to === null ? '-' : `${h.state_from ?? '-'} → ${h.state_to ?? '-'}`,
      h.message ?? '',
    ]),
  ]);
}

export function testAlertText(results: TestAlertResult[]): string {
  return table([
    ['CHANNEL', 'TARGET', 'RESULT'],
    ...results.map((r) => [
      r.channel,
      r.target,
      r.delivered ? 'delivered' : `NOT delivered: ${r.error ?? 'unknown error'}`,
    ]),
  ]);
}

export function renewText(r: RenewResult): string {
  const expiry = r.expires_at ?? 'never';
  if (r.dry_run) return `Dry run for page ${r.page_id}: ${r.reason}. Token expires: ${expiry}.`;
  return r.renewed
    ? `Page ${r.page_id}: ${terminalText(r.message)} Expires: ${expiry} (was ${r.previous_expires_at ?? 'never'}).`
    : `Page ${r.page_id}: not renewed (${r.reason}). ${terminalText(r.message)}`;
}

export function validateText(v: ValidateResult): string {
  const lines = [
    `${v.valid ? 'Valid' : 'NOT valid'} ${v.type} token${v.app_id ? ` for app ${v.app_id}` : ''}${v.profile_id ? `, Page ${v.profile_id}` : ''}${v.user_id ? `, user ${v.user_id}` : ''}.`,
    `  expires: ${v.expires_at ?? 'never'}; data access until: ${v.data_access_expires_at ?? '-'}`,
    `  scopes:  ${v.scopes.join(', ') || '-'}${v.missing_scopes.length ? ` (missing: ${v.missing_scopes.join(', ')})` : ''}`,
  ];
  if (v.error) {
    lines.push(
      `  error:   ${terminalText(v.error.message)} (code ${v.error.code}${v.error.subcode ? `/${v.error.subcode}` : ''}, ${v.error.reason})`,
    );
  }
  return lines.join('\n');
}

function short(iso: string | null): string {
  return iso === null ? '-' : iso.slice(0, 16).replace('T', ' ');
}
