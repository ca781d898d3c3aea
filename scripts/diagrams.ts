/**
 * The README's pictures, written from the code's own lists so they cannot drift: the Page states
 * come from `PAGE_STATES` and the permissions of the reconnect flow from `LOGIN_SCOPES`
 * (src/types.ts). The transitions are listed here, typed by `PageState`: renaming a state breaks
 * the build, and adding one without drawing it fails `test/docs/docs.test.ts`.
 *
 *   npm run diagrams          rewrite the blocks in README.md
 *   npm run diagrams -- --check   exit 1 when README.md differs from what the code says
 *
 * Each picture lives in README.md between `<!-- diagram:NAME -->` and `<!-- /diagram:NAME -->`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { LOGIN_SCOPES, PAGE_STATES, type PageState } from '../src/types.js';

export interface Transition {
  from: PageState | 'start';
  to: PageState;
  when: string;
}

/** What moves a Page between states (src/lifecycle/decide.ts derives the state; the engine acts). */
export const TRANSITIONS: readonly Transition[] = [
  { from: 'start', to: 'healthy', when: 'set up (token checked, Page token minted and verified)' },
  { from: 'healthy', to: 'healthy', when: 'Page token invalidated, source still valid, re-minted (self-heal)' },
  { from: 'healthy', to: 'renewal_due', when: 'finite expiry within RENEWAL_THRESHOLD_DAYS' },
  { from: 'renewal_due', to: 'renewing', when: 'a check takes the lease' },
  { from: 'renewing', to: 'healthy', when: 'exchanged, minted, verified, swapped' },
  { from: 'renewing', to: 'expiring', when: 'Facebook did not move the expiry' },
  { from: 'renewing', to: 'failing', when: 'transient Graph error or throttling' },
  { from: 'failing', to: 'healthy', when: 'a retry succeeds (backoff)' },
  { from: 'healthy', to: 'expiring', when: 'finite expiry that cannot be extended' },
  { from: 'healthy', to: 'needs_reauth', when: 'invalidated and no valid source (password, logout, role, app removed)' },
  { from: 'expiring', to: 'expired', when: 'expires_at passed' },
  { from: 'expiring', to: 'healthy', when: 'reconnect' },
  { from: 'needs_reauth', to: 'healthy', when: 'reconnect' },
  { from: 'expired', to: 'healthy', when: 'reconnect' },
  { from: 'healthy', to: 'paused', when: 'auto_renew off' },
  { from: 'paused', to: 'healthy', when: 'auto_renew on' },
];

export function stateDiagram(): string {
  const lines = ['```mermaid', 'stateDiagram-v2', '  direction LR'];
  for (const s of PAGE_STATES) lines.push(`  state "${s}" as ${s}`);
  for (const t of TRANSITIONS) {
    lines.push(`  ${t.from === 'start' ? '[*]' : t.from} --> ${t.to} : ${t.when}`);
  }
  lines.push('```');
  return lines.join('\n');
}

export function reconnectDiagram(): string {
  return [
    '```mermaid',
    'sequenceDiagram',
    '  participant K as fb-token-keeper',
    '  participant P as a Page admin (browser)',
    '  participant F as Facebook Login and Graph API',
    '  K->>P: alert (webhook, Slack, e-mail) with a signed link PUBLIC_URL/connect/PAGE_ID?exp&sig',
    '  P->>K: opens the link',
    '  K->>P: 302 to FACEBOOK_DIALOG_URL/VERSION/dialog/oauth (state bound to the Page and this browser)',
    `  P->>F: logs in, grants ${LOGIN_SCOPES.join(', ')}`,
    '  F->>K: 302 to PUBLIC_URL/connect/callback?code&state',
    '  K->>F: code → user token → long-lived user token → Page token',
    '  K->>F: debug_token: valid, same app, right Page, pages_manage_posts',
    '  K->>K: store encrypted, state healthy, token_rotated alert',
    '  K->>P: "Reconnected" page',
    '```',
  ].join('\n');
}

const BLOCKS: Record<string, () => string> = { 'page-states': stateDiagram, reconnect: reconnectDiagram };

/** README text with every diagram block replaced by what the code says. */
export function withDiagrams(readme: string): string {
  let out = readme;
  for (const [name, make] of Object.entries(BLOCKS)) {
    const open = `<!-- diagram:${name} -->`;
    const close = `<!-- /diagram:${name} -->`;
    const a = out.indexOf(open);
    const b = out.indexOf(close);
    if (a < 0 || b < a) throw new Error(`README.md has no ${open} … ${close} block`);
    out = `${out.slice(0, a + open.length)}\n${make()}\n${out.slice(b)}`;
  }
  return out;
}

export const README = resolve(import.meta.dirname, '../README.md');

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const now = readFileSync(README, 'utf8');
  const want = withDiagrams(now);
  if (process.argv.includes('--check')) {
    if (now !== want) {
      process.stderr.write('README.md diagrams differ from the code: run `npm run diagrams`\n');
      process.exitCode = 1;
    }
  } else if (now !== want) {
    writeFileSync(README, want);
    process.stdout.write('README.md diagrams rewritten\n');
  }
}
