/**
 * Keeping secrets out of messages. Graph URLs carry tokens and secrets in their query, and
 * Facebook sometimes echoes a token back in an error message ("Malformed access token EAA…"), so
 * every string that leaves `src/graph/` as an error message or cause passes through here
 * (no secret in logs or errors: docs/SECURITY.md).
 */

/** Query parameters whose values are secrets (or, for `code`, single-use credentials). */
export const SECRET_PARAMS: readonly string[] = [
  'access_token',
  'input_token',
  'fb_exchange_token',
  'client_secret',
  'appsecret_proof',
  'code',
];

const REDACTED = '[REDACTED]';
const SECRET_PARAM_RE = new RegExp(`([?&]|\\b)(${SECRET_PARAMS.join('|')})=[^&#\\s"']*`, 'gi');

/**
 * A URL that is safe to log: every secret query value replaced with `[REDACTED]`, the rest kept.
 * Works on relative or unparsable input too (a regex pass), and never throws.
 */
export function redactUrl(url: string | URL): string {
  const text = String(url);
  const q = text.indexOf('?');
  if (q < 0) return text;
  const hash = text.indexOf('#', q);
  const base = text.slice(0, q);
  const query = text.slice(q + 1, hash < 0 ? undefined : hash);
  const fragment = hash < 0 ? '' : text.slice(hash);
  const pairs = query.split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    let name = rawName;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' '));
    } catch {
      // keep the raw name
    }
    return eq >= 0 && SECRET_PARAMS.includes(name.toLowerCase()) ? `${rawName}=${REDACTED}` : pair;
  });
  return `${base}?${pairs.join('&')}${fragment.replace(SECRET_PARAM_RE, `$1$2=${REDACTED}`)}`;
}

/** Shapes that are secrets whatever the context: user/Page tokens, app tokens, 64-hex proofs. */
const SECRET_SHAPES: readonly RegExp[] = [
  /EAA[A-Za-z0-9_-]{10,}/g, // Facebook user / Page / system-user tokens
  /\b\d{5,}\|[A-Za-z0-9_-]{8,}/g, // app token APP_ID|APP_SECRET
  /\b[a-f0-9]{64}\b/gi, // appsecret_proof (hex HMAC-SHA256)
  /[A-Za-z0-9_-]{48,}/g, // any other long opaque string (codes, foreign tokens)
];

/**
 * Remove secrets from free text: the known secret strings of the call (exactly), URLs (their
 * secret query values), `name=value` pairs of secret parameters, and token-shaped strings.
 */
export function scrubSecrets(text: string, known: readonly string[] = []): string {
  let out = text;
  // Longest first, so a secret that contains another is removed whole.
  for (const s of [...known].filter((k) => k.length >= 4).sort((a, b) => b.length - a.length)) {
    out = out.split(s).join(REDACTED);
  }
  out = out.replace(/https?:\/\/[^\s"'<>]+/g, (u) => redactUrl(u));
  out = out.replace(SECRET_PARAM_RE, `$1$2=${REDACTED}`);
  for (const re of SECRET_SHAPES) out = out.replace(re, REDACTED);
  return out;
}

/**
 * A stand-in for a low-level error (undici, DNS, sockets) that is safe to attach as `cause`: its
 * name, its errno-style code and its scrubbed message, and nothing else (no nested cause, no
 * request options, no URL).
 */
export function safeCause(e: unknown, known: readonly string[] = []): Error {
  const name = e instanceof Error ? e.name : 'Error';
  const code =
    typeof (e as { code?: unknown } | null)?.code === 'string' ? (e as { code: string }).code : undefined;
  const message = e instanceof Error ? e.message : typeof e === 'string' ? e : 'non-error thrown';
  const err = new Error(scrubSecrets(`${code ? `${code}: ` : ''}${message}`, known).slice(0, 300));
  err.name = name;
  // The stack of a fresh Error points here; keep it short so it cannot carry anything else.
  err.stack = `${err.name}: ${err.message}`;
  return err;
}
