/**
 * What reaches the log: a secret field is `[REDACTED]` at any depth (in objects, arrays, an error's
 * fields, a child logger's bindings, a Fastify request's logger), everything else is written as
 * given, and the caller's objects are left as they were.
 */
import { PassThrough } from 'node:stream';
import Fastify, { LogController } from 'fastify';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { createLogger, type Logger } from '../../src/logger.js';

function capture(): { logger: Logger; lines: () => Record<string, unknown>[]; text: () => string } {
  const sink = new PassThrough();
  let text = '';
  sink.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  const logger = createLogger({ level: 'trace', format: 'json', destination: sink });
  return {
    logger,
    text: () => text,
    lines: () =>
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const SECRET = 'EAAsecretvalue123';

describe('log lines', () => {
  it('redacts a secret field at any depth and in arrays, and keeps the rest', () => {
    const { logger, lines, text } = capture();
    const given = {
      token: SECRET,
      page: { id: '1', nested: { deeper: { evenDeeper: { access_token: SECRET, kept: 'yes' } } } },
      list: [{ app_secret: SECRET }, 'plain', 3],
      authorization: `Bearer ${SECRET}`,
      count: 7,
    };
    const before = JSON.stringify(given);
    logger.info(given, 'hello');
    expect(text()).not.toContain(SECRET);
    const [line] = lines();
    expect(line).toMatchObject({
      msg: 'hello',
      token: '[REDACTED]',
      page: { id: '1', nested: { deeper: { evenDeeper: { access_token: '[REDACTED]', kept: 'yes' } } } },
      list: [{ app_secret: '[REDACTED]' }, 'plain', 3],
      authorization: '[REDACTED]',
      count: 7,
    });
    // The caller's object is not changed by logging it.
    expect(JSON.stringify(given)).toBe(before);
  });

  it('writes an error with its type, message, stack and fields, its secret fields redacted', () => {
    const { logger, lines, text } = capture();
    const err = new AppError('validation_failed', 'bad input', {
      details: { fields: [{ field: 'x', secret: SECRET }] },
    });
    logger.error({ err, pageId: '42' }, 'failed');
    expect(text()).not.toContain(SECRET);
    const [line] = lines();
    expect(line?.pageId).toBe('42');
    expect(line?.err).toMatchObject({
      type: 'AppError',
      message: 'bad input',
      code: 'validation_failed',
      details: { fields: [{ field: 'x', secret: '[REDACTED]' }] },
    });
    expect(String((line?.err as { stack?: unknown }).stack)).toContain('AppError: bad input');
  });

  it('redacts secret bindings of a child logger and of its children', () => {
    const { logger, lines, text } = capture();
    const child = logger.child({ module: 'alerts', apiKey: SECRET });
    child.info({ n: 1 }, 'one');
    child.child({ nested: { password: SECRET } }).info('two');
    expect(text()).not.toContain(SECRET);
    expect(lines()).toMatchObject([
      { module: 'alerts', apiKey: '[REDACTED]', n: 1, msg: 'one' },
      { module: 'alerts', nested: { password: '[REDACTED]' }, msg: 'two' },
    ]);
  });

  it('redacts what a route logs through its Fastify request logger', async () => {
    const { logger, lines, text } = capture();
    const app = Fastify({
      loggerInstance: logger,
      logController: new LogController({ disableRequestLogging: true }),
    });
    app.get('/x', (request) => {
      request.log.info({ body: { fb_exchange_token: SECRET }, headers: { cookie: SECRET } }, 'route');
      return { ok: true };
    });
    const res = await app.inject({ method: 'GET', url: '/x' });
    await app.close();
    expect(res.statusCode).toBe(200);
    expect(text()).not.toContain(SECRET);
    const line = lines().find((l) => l.msg === 'route');
    expect(line).toMatchObject({
      body: { fb_exchange_token: '[REDACTED]' },
      headers: { cookie: '[REDACTED]' },
    });
    expect(typeof line?.reqId).toBe('string');
  });

  it('writes a cycle without looping and a Date as JSON does', () => {
    const { logger, lines } = capture();
    const a: Record<string, unknown> = { name: 'a', at: new Date(0) };
    a.self = a;
    logger.info({ a }, 'cycle');
    const [line] = lines();
    expect(line).toMatchObject({ a: { name: 'a', at: '1970-01-01T00:00:00.000Z' } });
  });
});
