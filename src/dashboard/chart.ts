/**
 * The page view's timeline: an inline SVG, made on the server from the page's history, so the
 * dashboard needs no chart library and no script.
 *
 * What it draws, over time (x):
 * - the posting token's days left until expiry (y) as a solid line: it falls one day per day and
 *   jumps up at each renewal; a token that never expires runs along the "never expires" band at
 *   the top; where the line meets 0 the token expired;
 * - the same for the source token (dashed), when there is one: how long self-healing lasts;
 * - after "now", where the lines are heading (faint), so the next expiry is visible;
 * - the renewal threshold (renewals start below it), shaded periods when posting was broken or at
 *   risk, and one marker per history event (a link to its row in the history table).
 *
 * The data come from what the history already records (expiry in `setup`, `renewed`, `healed`
 * and `check` events; states in `state_to`), plus the current status at "now".
 */
import { DAY, HOUR } from '../clock.js';
import type { HistoryItem, PageStatus } from '../lifecycle/types.js';
import { EVENT_LABEL, eventTone, formatDate, formatDay, readableTimes, STATE_LABEL } from './format.js';
import { type Html, html } from './html.js';

const W = 720;
const LEFT = 46;
const RIGHT = 12;
const NEVER_Y = 22;
const TOP = 46; // y of the highest finite value
const BASE = 176; // y of 0 days left
const LANE = 206; // event markers
const H = 226;

/** Posting expiry at a moment: ISO string, `null` (never expires) or unknown. */
export type Expiry = number | null;
export interface Sample {
  at: number;
  expiry: Expiry;
}

function iso(v: unknown): Expiry | undefined {
  if (v === null) return null;
  if (typeof v !== 'string') return undefined;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : undefined;
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/** The posting token's expiry as recorded by an event, when the event records it. */
export function postingExpiryOf(e: HistoryItem): Expiry | undefined {
  const d = e.details;
  if (
    (e.type === 'setup' || e.type === 'reconnected' || e.type === 'renewed' || e.type === 'healed') &&
    'expires_at' in d
  ) {
    return iso(d.expires_at);
  }
  if (e.type === 'check') return iso(obj(d.posting)?.expires_at);
  return undefined;
}

/** The source token's expiry as recorded by an event; `undefined` also when there is no source token. */
export function sourceExpiryOf(e: HistoryItem): Expiry | undefined {
  const d = e.details;
  if (e.type === 'setup' || e.type === 'reconnected') {
    return d.source_token_type === null ? undefined : iso(d.source_expires_at);
  }
  if (e.type === 'renewed' || e.type === 'source_not_extendable') {
    return 'source_expires_at' in d ? iso(d.source_expires_at) : undefined;
  }
  if (e.type === 'check') return iso(obj(d.source)?.expires_at);
  return undefined;
}

/** The expiry over time as recorded by the events (consecutive repeats dropped), then `current` at `now`. */
export function expirySamples(
  events: HistoryItem[],
  pick: (e: HistoryItem) => Expiry | undefined,
  current: Expiry | undefined,
  now: number,
): Sample[] {
  const out: Sample[] = [];
  for (const e of events) {
    const expiry = pick(e);
    if (expiry === undefined) continue;
    const at = Date.parse(e.at);
    if (out.length > 0 && out[out.length - 1]!.expiry === expiry) continue;
    out.push({ at, expiry });
  }
  if (current !== undefined && (out.length === 0 || out[out.length - 1]!.expiry !== current)) {
    out.push({ at: now, expiry: current });
  }
  return out;
}

const TICK_STEPS = [
  HOUR,
  3 * HOUR,
  6 * HOUR,
  12 * HOUR,
  DAY,
  2 * DAY,
  7 * DAY,
  14 * DAY,
  30 * DAY,
  61 * DAY,
  91 * DAY,
  182 * DAY,
  365 * DAY,
];

export interface ChartInput {
  status: Pick<
    PageStatus,
    'page_id' | 'expires_at' | 'source_expires_at' | 'source_token_type' | 'renewal_threshold_days' | 'state'
  >;
  /** Any order; newest first is fine. */
  history: HistoryItem[];
  now: number;
}

export function timelineChart(input: ChartInput): Html {
  const { status, now } = input;
  const events = [...input.history].sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || a.id - b.id);
  const posting = expirySamples(events, postingExpiryOf, iso(status.expires_at), now);
  const source =
    status.source_token_type === null
      ? []
      : expirySamples(events, sourceExpiryOf, iso(status.source_expires_at), now);

  // --- time window -------------------------------------------------------------------------
  const first = Math.min(now, ...events.map((e) => Date.parse(e.at)), ...posting.map((s) => s.at));
  const past = Math.max(now - first, HOUR);
  let end = Math.max(now + past * 0.25, first + 2 * DAY);
  const current = iso(status.expires_at);
  // Show the coming expiry when it is near enough to read; for a young page, also when self-healing
  // (the source token) ends, since there is little past to show yet.
  const ahead = [current, past < 14 * DAY ? iso(status.source_expires_at) : undefined];
  for (const t of ahead) {
    if (typeof t === 'number' && t > now && t - now < 120 * DAY) end = Math.max(end, t + (t - first) * 0.04);
  }
  const start = first - (end - first) * 0.02;
  const x = (t: number) => LEFT + ((t - start) / (end - start)) * (W - LEFT - RIGHT);

  // --- value scale: days left --------------------------------------------------------------
  const daysAt = (expiry: number, t: number) => Math.max(0, (expiry - t) / DAY);
  let maxDays = status.renewal_threshold_days;
  for (const s of [...posting, ...source]) {
    if (s.expiry !== null) maxDays = Math.max(maxDays, daysAt(s.expiry, s.at));
  }
  const gridStep = maxDays <= 14 ? 2 : maxDays <= 70 ? 10 : maxDays <= 150 ? 25 : 50;
  const yMax = Math.max(gridStep, Math.ceil(maxDays / gridStep) * gridStep);
  const y = (days: number) => BASE - (Math.min(days, yMax) / yMax) * (BASE - TOP);
  const hasFinite = [...posting, ...source].some((s) => s.expiry !== null);

  // --- lines -------------------------------------------------------------------------------
  /** Path of a step series between `from` and `to` (pixel coordinates), with jumps drawn vertically. */
  const linePath = (series: Sample[], from: number, to: number): string => {
    const parts: string[] = [];
    for (let i = 0; i < series.length; i++) {
      const s = series[i]!;
      const a = Math.max(s.at, from);
      const b = Math.min(series[i + 1]?.at ?? to, to);
      if (b <= a) continue;
      const cmd = parts.length === 0 ? 'M' : 'L';
      if (s.expiry === null) {
        parts.push(`${cmd}${r(x(a))},${NEVER_Y}`, `L${r(x(b))},${NEVER_Y}`);
      } else if (s.expiry < b) {
        const e = Math.max(a, s.expiry);
        parts.push(
          `${cmd}${r(x(a))},${r(y(daysAt(s.expiry, a)))}`,
          `L${r(x(e))},${BASE}`,
          `L${r(x(b))},${BASE}`,
        );
      } else {
        parts.push(
          `${cmd}${r(x(a))},${r(y(daysAt(s.expiry, a)))}`,
          `L${r(x(b))},${r(y(daysAt(s.expiry, b)))}`,
        );
      }
    }
    return parts.join(' ');
  };

  // --- state shading -----------------------------------------------------------------------
  const states: { at: number; state: string }[] = [];
  for (const e of events) if (e.state_to !== null) states.push({ at: Date.parse(e.at), state: e.state_to });
  states.push({ at: now, state: status.state });
  const shades: Html[] = [];
  for (let i = 0; i < states.length; i++) {
    const s = states[i]!;
    const tone =
      s.state === 'needs_reauth' || s.state === 'expired'
        ? 'bad'
        : s.state === 'expiring' || s.state === 'failing'
          ? 'warn'
          : s.state === 'paused'
            ? 'muted'
            : null;
    // The current state lasts until something changes: shade it on to the end of the chart.
    const b = i + 1 < states.length ? states[i + 1]!.at : end;
    if (!tone || b <= s.at) continue;
    const label = STATE_LABEL[s.state as keyof typeof STATE_LABEL] ?? s.state;
    shades.push(
      html`<rect class="c-shade c-shade-${tone}" x="${r(x(s.at))}" y="${NEVER_Y - 10}" width="${r(Math.max(2, x(b) - x(s.at)))}" height="${BASE - NEVER_Y + 10}"><title>${label}: ${formatDate(s.at)} – ${formatDate(b)}</title></rect>`,
    );
  }

  // --- axes ----------------------------------------------------------------------------------
  const span = end - start;
  const step = TICK_STEPS.find((s) => span / s <= 7) ?? 365 * DAY;
  const withYear = new Date(start).getUTCFullYear() !== new Date(end).getUTCFullYear();
  const xTicks: Html[] = [];
  for (let t = Math.ceil(start / Math.min(step, DAY)) * Math.min(step, DAY); t <= end; t += step) {
    const label =
      step < DAY
        ? `${new Date(t).toISOString().slice(11, 16)}${new Date(t).getUTCHours() === 0 ? ` ${formatDay(t)}` : ''}`
        : formatDay(t, withYear);
    // Labels near the edges are anchored inwards so they are not cut off.
    const anchor = x(t) > W - RIGHT - 30 ? 'end' : x(t) < LEFT + 20 ? 'start' : 'middle';
    xTicks.push(
      html`<line class="c-grid" x1="${r(x(t))}" x2="${r(x(t))}" y1="${TOP - 6}" y2="${BASE}"/><text class="c-tick" x="${r(x(t))}" y="${BASE + 15}" text-anchor="${anchor}">${label}</text>`,
    );
  }
  const yTicks: Html[] = [];
  if (hasFinite) {
    for (let d = 0; d <= yMax; d += gridStep) {
      yTicks.push(
        html`<line class="c-grid" x1="${LEFT}" x2="${W - RIGHT}" y1="${r(y(d))}" y2="${r(y(d))}"/><text class="c-tick" x="${LEFT - 6}" y="${r(y(d) + 4)}" text-anchor="end">${d} d</text>`,
      );
    }
  }

  const eventMarks = events.map((e) => {
    const t = Date.parse(e.at);
    const label = EVENT_LABEL[e.type] ?? e.type;
    const change =
      e.state_from !== null && e.state_to !== null && e.state_from !== e.state_to
        ? ` (${e.state_from} → ${e.state_to})`
        : '';
    return html`<a href="#event-${e.id}"><circle class="c-ev c-ev-${eventTone(e)}" cx="${r(x(t))}" cy="${LANE}" r="5"/><title>${formatDate(t)}: ${label}${change}${e.message ? ` – ${readableTimes(e.message)}` : ''}</title></a>`;
  });

  const nowX = r(x(now));
  const threshold = status.renewal_threshold_days;
  const summary = describe(status, events.length, start, end, now);
  const titleId = `chart-title-${status.page_id}`;
  const descId = `chart-desc-${status.page_id}`;
  const expiryLabel =
    typeof current === 'number' && current > now && current <= end
      ? html`<line class="c-exp" x1="${r(x(current))}" x2="${r(x(current))}" y1="${BASE - 8}" y2="${BASE + 4}"/><text class="c-note" x="${r(Math.min(x(current), W - RIGHT - 2))}" y="${BASE - 12}" text-anchor="end">expires ${formatDay(current)}</text>`
      : null;

  return html`<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="${titleId} ${descId}" xmlns="http://www.w3.org/2000/svg">
<title id="${titleId}">Token timeline</title>
<desc id="${descId}">${summary}</desc>
${shades}
<text class="c-tick c-never" x="${LEFT - 6}" y="${NEVER_Y + 4}" text-anchor="end">never</text>
<line class="c-grid" x1="${LEFT}" x2="${W - RIGHT}" y1="${NEVER_Y}" y2="${NEVER_Y}"/>
${yTicks}
${xTicks}
<line class="c-axis" x1="${LEFT}" x2="${W - RIGHT}" y1="${BASE}" y2="${BASE}"/>
${hasFinite && threshold > 0 && threshold <= yMax ? html`<line class="c-thr" x1="${LEFT}" x2="${W - RIGHT}" y1="${r(y(threshold))}" y2="${r(y(threshold))}"/><text class="c-note" x="${LEFT + 4}" y="${r(y(threshold) + 13)}">renewal starts at ${threshold} days left</text>` : null}
${source.length > 0 ? html`<path class="c-src" d="${linePath(source, start, now)}"/><path class="c-src c-proj" d="${linePath(source, now, end)}"/>` : null}
<path class="c-line" d="${linePath(posting, start, now)}"/>
<path class="c-line c-proj" d="${linePath(posting, now, end)}"/>
${expiryLabel}
<line class="c-now" x1="${nowX}" x2="${nowX}" y1="${NEVER_Y - 12}" y2="${LANE + 8}"/>
<text class="c-note" x="${nowX}" y="${NEVER_Y - 14 < 9 ? 9 : NEVER_Y - 14}" text-anchor="middle">now</text>
${eventMarks}
</svg>`;
}

function describe(
  status: ChartInput['status'],
  count: number,
  start: number,
  end: number,
  now: number,
): string {
  const exp = iso(status.expires_at);
  const expiry =
    exp === null
      ? 'The posting token never expires.'
      : exp === undefined
        ? ''
        : exp > now
          ? `The posting token expires ${formatDate(exp)}.`
          : `The posting token expired ${formatDate(exp)}.`;
  const src =
    status.source_token_type === null
      ? ''
      : status.source_expires_at === null
        ? ' The source token never expires.'
        : ` The source token expires ${formatDate(Date.parse(status.source_expires_at))}.`;
  return `Days until the token expires, from ${formatDay(start, true)} to ${formatDay(end, true)}, with ${count} event${count === 1 ? '' : 's'}. ${expiry}${src}`;
}

function r(n: number): string {
  return (Math.round(n * 10) / 10).toString();
}
