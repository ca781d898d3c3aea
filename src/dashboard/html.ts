/**
 * HTML from template literals with escaping by default. Every interpolated value is escaped unless
 * it is already `Html` (the result of another `html` call, or `raw()` for text we produced
 * ourselves). Arrays are joined, each item escaped the same way; `null`, `undefined` and `false`
 * render as nothing, so `${cond && html`…`}` works.
 *
 * Attribute values must always be written in double quotes (`href="${url}"`): the escaper covers
 * `& < > " '`, which is enough inside a quoted attribute and in text, but not in an unquoted one,
 * in a `<script>` or `<style>` body, or in an event-handler attribute (we never write those).
 */

export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export type HtmlValue = Html | string | number | boolean | null | undefined | readonly HtmlValue[];

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

function render(v: HtmlValue): string {
  if (v instanceof Html) return v.value;
  if (v === null || v === undefined || v === false) return '';
  if (Array.isArray(v)) return v.map((x: HtmlValue) => render(x)).join('');
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return new Html(out);
}

/** Trusted markup, as is. Only for text this module's callers generated, never for input. */
export function raw(markup: string): Html {
  return new Html(markup);
}

/**
 * A URL safe to put in `href`: http(s) absolute URLs and same-site paths pass, anything else
 * (`javascript:`, `data:`, protocol-relative `//host`) becomes `#`.
 */
export function safeUrl(url: string): string {
  if (url.startsWith('/') && !url.startsWith('//') && !url.startsWith('/\\')) return url;
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : '#';
  } catch {
    return '#';
  }
}
