/** Words for people: state badges and their explanations, dates, durations. Pure functions. */
import { DAY, HOUR, MINUTE } from '../clock.js';
import type { PageStatus } from '../lifecycle/types.js';
import type { PageState } from '../types.js';

export type Tone = 'good' | 'warn' | 'bad' | 'muted';

export const STATE_LABEL: Record<PageState, string> = {
  healthy: 'healthy',
  renewal_due: 'renewal due',
  renewing: 'renewing',
  failing: 'failing',
  expiring: 'expiring',
  needs_reauth: 'needs reconnect',
  expired: 'expired',
  paused: 'paused',
};

export const STATE_TONE: Record<PageState, Tone> = {
  healthy: 'good',
  renewal_due: 'warn',
  renewing: 'warn',
  failing: 'warn',
  expiring: 'bad',
  needs_reauth: 'bad',
  expired: 'bad',
  paused: 'muted',
};

/** One sentence on what the state means for posting, and what (if anything) a person must do. */
export function explainState(
  s: Pick<PageStatus, 'state' | 'expires_at' | 'renewal_threshold_days' | 'next_check_at'>,
  now: number,
): string {
  switch (s.state) {
    case 'healthy':
      return s.expires_at === null
        ? 'Posting works. The token does not expire; it is still checked regularly in case Facebook invalidates it.'
        : `Posting works. The token will be renewed automatically when ${s.renewal_threshold_days} days or fewer are left.`;
    case 'renewal_due':
      return `Posting works. The token is within ${s.renewal_threshold_days} days of expiry and will be renewed at the next check${s.next_check_at ? ` (${relative(Date.parse(s.next_check_at), now)})` : ''}.`;
    case 'renewing':
      return 'Posting works. A renewal is in progress right now.';
    case 'failing':
      return 'Posting still works, but Facebook is not answering properly. The keeper retries with backoff; nothing to do yet.';
    case 'expiring':
      return `Facebook will not extend this token. Posting stops when it expires${s.expires_at ? ` (${relative(Date.parse(s.expires_at), now)})` : ''} unless someone reconnects the Page.`;
    case 'needs_reauth':
      return 'Posting is broken: Facebook no longer accepts the token. Someone with a role on the Page must reconnect it.';
    case 'expired':
      return 'Posting is broken: the token has expired. Someone with a role on the Page must reconnect it.';
    case 'paused':
      return 'Automatic renewal is off for this Page. The token is not renewed or healed until you resume.';
  }
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** `12 Mar 2027, 14:05 UTC`. UTC so that every viewer and every log line agree. */
export function formatDate(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()] ?? ''} ${d.getUTCFullYear()}, ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
}

/** The core's messages carry ISO 8601 times (`2027-01-27T08:09:22.000Z`); people read `27 Jan 2027, 08:09 UTC`. */
export function readableTimes(text: string): string {
  return text.replace(/\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?Z\b/g, (iso) => {
    const ms = Date.parse(iso);
    return Number.isFinite(ms) ? formatDate(ms) : iso;
  });
}

/** `12 Mar` (or `12 Mar 2027` when `withYear`). */
export function formatDay(ms: number, withYear = false): string {
  const d = new Date(ms);
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()] ?? ''}${withYear ? ` ${d.getUTCFullYear()}` : ''}`;
}

export function formatDuration(ms: number): string {
  const a = Math.abs(ms);
  if (a < MINUTE) return 'less than a minute';
  if (a < HOUR) return plural(Math.round(a / MINUTE), 'minute');
  if (a < 2 * DAY) return plural(Math.round(a / HOUR), 'hour');
  return plural(Math.round(a / DAY), 'day');
}

/** `in 3 hours`, `5 days ago`, `just now`. */
export function relative(ms: number, now: number): string {
  const diff = ms - now;
  if (Math.abs(diff) < MINUTE) return 'just now';
  return diff > 0 ? `in ${formatDuration(diff)}` : `${formatDuration(diff)} ago`;
}

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** `never expires`, `expired`, `12 days left`, `5 hours left`. */
export function daysLeftText(s: Pick<PageStatus, 'expires_at'>, now: number): string {
  if (s.expires_at === null) return 'never expires';
  const left = Date.parse(s.expires_at) - now;
  if (left <= 0) return 'expired';
  if (left < 2 * DAY) return `${formatDuration(left)} left`;
  return `${Math.floor(left / DAY)} days left`;
}

/** Event types of the history, in words. Unknown types show as they are. */
export const EVENT_LABEL: Record<string, string> = {
  setup: 'set up',
  reconnected: 'reconnected',
  check: 'checked',
  renewed: 'renewed',
  healed: 'self-healed',
  renewal_failed: 'renewal failed',
  state_changed: 'state changed',
  token_rotated: 'token changed',
  source_not_extendable: 'source not extendable',
  settings_changed: 'settings changed',
  alert_queued: 'alert sent',
  checked_on_demand: 'checked on request',
};

export type EventTone = 'good' | 'bad' | 'info';

const BAD_STATES = new Set<string>(['needs_reauth', 'expired', 'expiring', 'failing']);

/** Colour class of an event on the chart and in the table. */
export function eventTone(e: { type: string; reason: string | null; state_to: string | null }): EventTone {
  if (e.type === 'setup' || e.type === 'reconnected' || e.type === 'renewed' || e.type === 'healed') {
    return e.reason === 'not_extendable' ? 'bad' : 'good';
  }
  if (e.type === 'renewal_failed') return 'bad';
  if (e.type === 'state_changed') {
    return e.state_to !== null && BAD_STATES.has(e.state_to)
      ? 'bad'
      : e.state_to === 'healthy'
        ? 'good'
        : 'info';
  }
  if (
    e.type === 'check' &&
    e.reason !== null &&
    /error|invalid|throttl|failed|changed|removed|logged_out|checkpoint|no_page_role/.test(e.reason)
  ) {
    return 'bad';
  }
  return 'info';
}
