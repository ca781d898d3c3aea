/**
 * Structured JSON logs (pino), pretty in a terminal. Every field that could hold a secret is
 * redacted by name at any of the first three levels; code must still never log a token on purpose.
 */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

const SECRET_KEYS = [
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
];

export const REDACT_PATHS = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]).concat([
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
]);

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
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (pretty) {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard' } },
    });
  }
  return options.destination ? pino(base, options.destination) : pino(base);
}

export const silentLogger: Logger = pino({ level: 'silent' });
