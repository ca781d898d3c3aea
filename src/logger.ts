/**
 * Structured JSON logs (pino), pretty in a terminal. Every field whose name could hold a secret is
 * replaced with `[REDACTED]` at any depth, in every line and every child logger's bindings; code
 * must still never log a token on purpose.
 *
 * Why a walk and not pino's `redact` paths: paths reach only the levels they name (`*.*.token` is
 * three), and with wildcards pino runs the redactor on every top-level value of every line — it
 * was about a quarter of an API request's CPU (docs/BENCHMARKS.md, API). The walk visits each
 * value once, copies nothing unless it replaces something, and has no depth it cannot see past.
 */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Field names whose values are never logged, wherever they appear. */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  'access_token',
  'accessToken',
  'token',
  'input_token',
  'fb_exchange_token',
  'app_secret',
  'appSecret',
  'client_secret',
  'appsecret_proof',
  'secret',
  'postingToken',
  'sourceToken',
  'api_key',
  'apiKey',
  'key',
  'password',
  'authorization',
  'cookie',
  'set-cookie',
]);

const CENSOR = '[REDACTED]';
/** Deeper than this is not logged at all (it is a cycle, or nothing a person reads). */
const MAX_DEPTH = 16;

/**
 * `value` with every secret field replaced; the same object when there is none, so a clean line
 * allocates nothing. Walks plain objects, arrays and errors (own enumerable fields, as JSON
 * shows them); leaves other objects (a Date, a Buffer) to JSON.
 */
export function scrubSecrets(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const s = scrubSecrets(v, depth + 1);
      if (s !== v) (out ??= value.slice())[i] = s;
    }
    return out ?? value;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null && !(value instanceof Error)) return value;
  const obj = value as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  for (const k in obj) {
    if (!Object.hasOwn(obj, k)) continue;
    const v = obj[k];
    const s = SECRET_KEYS.has(k) ? (v === undefined ? v : CENSOR) : scrubSecrets(v, depth + 1);
    if (s !== v) (out ??= { ...obj })[k] = s;
  }
  return out ?? value;
}

/**
 * The error under `err`, as pino's own serializer writes it (type, message and stack with causes,
 * its fields), then scrubbed. Done here, before the line is written, because serializers run after
 * the formatter: a field of an error would otherwise be written unscrubbed.
 */
function scrubLine(line: Record<string, unknown>): Record<string, unknown> {
  const err = line.err;
  if (err instanceof Error) {
    const { raw: _raw, ...plain } = pino.stdSerializers.err(err) as unknown as Record<string, unknown>;
    line = { ...line, err: plain };
  }
  return scrubSecrets(line) as Record<string, unknown>;
}

export interface LoggerOptions {
  level: string;
  format: 'json' | 'pretty' | 'auto';
  /** Where JSON goes; tests pass a stream they can read back and grep. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const pretty =
    options.format === 'pretty' ||
    (options.format === 'auto' && process.stdout.isTTY && !options.destination);
  const base = {
    level: options.level,
    base: { service: 'fb-token-keeper' },
    formatters: { log: scrubLine, bindings: scrubLine },
    // `err` is serialized by scrubLine already; pino's serializer would take the plain copy for a
    // new error (it looks like one) and name its type "Object".
    serializers: { err: (e: unknown) => e },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const logger = pretty
    ? pino({
        ...base,
        transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard' } },
      })
    : options.destination
      ? pino(base, options.destination)
      : pino(base);
  return scrubChildBindings(logger);
}

/**
 * pino applies `formatters.bindings` to the root's bindings only, not to a child's, so children
 * (Fastify makes one per request; modules make their own) have theirs scrubbed here. A child's
 * children inherit this `child`.
 */
function scrubChildBindings(logger: Logger): Logger {
  type Child = (this: Logger, bindings: unknown, ...rest: unknown[]) => Logger;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called with each child as `this`
  const original = logger.child as unknown as Child;
  const scrubbing: Child = function (bindings, ...rest) {
    return original.call(this, scrubSecrets(bindings), ...rest);
  };
  logger.child = scrubbing as unknown as Logger['child'];
  return logger;
}

export const silentLogger: Logger = pino({ level: 'silent' });
