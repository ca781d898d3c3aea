/**
 * Real local alert receivers for tests: an HTTP webhook receiver that checks our signature (and can
 * be taken down), a server that accepts connections and never answers, a port nobody listens on,
 * and a real SMTP server (smtp-server). All on 127.0.0.1, port 0; `close()` them in `finally`.
 */
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { verifyWebhookSignature } from '../../src/alerts/channels.js';

export interface ReceivedRequest {
  headers: IncomingHttpHeaders;
  raw: string;
  body: Record<string, unknown>;
  /** The signature checked out (false when unsigned or wrong). */
  verified: boolean;
}

export interface WebhookReceiver {
  url: string;
  got: ReceivedRequest[];
  /** Answer 503 to everything while true. */
  down: boolean;
  /** Answer 503 to this many more requests. */
  downFor: number;
  /** Requests refused while down. */
  refused: number;
  /** Resolves at the next accepted request. */
  next(): Promise<ReceivedRequest>;
  close(): Promise<void>;
}

async function listen(server: Server | SMTPServer['server']): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/**
 * `secret` checks X-FBTK-Signature; `nowSec` is the receiver's idea of now (tests run on a manual
 * clock far from the real one), `toleranceSec` the allowed skew.
 */
export async function startWebhookReceiver(
  options: { secret?: string; nowSec?: () => number; toleranceSec?: number } = {},
): Promise<WebhookReceiver> {
  const waiters: ((r: ReceivedRequest) => void)[] = [];
  const sockets = new Set<Socket>();
  const receiver: WebhookReceiver = {
    url: '',
    got: [],
    down: false,
    downFor: 0,
    refused: 0,
    next: () => new Promise((resolve) => waiters.push(resolve)),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (receiver.down || receiver.downFor > 0) {
        if (receiver.downFor > 0) receiver.downFor--;
        receiver.refused++;
        res.writeHead(503).end();
        return;
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      const verified = options.secret
        ? verifyWebhookSignature(
            options.secret,
            req.headers['x-fbtk-timestamp'] as string | undefined,
            raw,
            req.headers['x-fbtk-signature'] as string | undefined,
            {
              ...(options.nowSec ? { nowSec: options.nowSec() } : {}),
              ...(options.toleranceSec !== undefined ? { toleranceSec: options.toleranceSec } : {}),
            },
          )
        : false;
      const r: ReceivedRequest = {
        headers: req.headers,
        raw,
        body: JSON.parse(raw) as Record<string, unknown>,
        verified,
      };
      receiver.got.push(r);
      res.writeHead(options.secret && !verified ? 401 : 204).end();
      for (const w of waiters.splice(0)) w(r);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const port = await listen(server);
  receiver.url = `http://127.0.0.1:${port}/hooks/fbtk?token=receiver-secret`;
  return receiver;
}

/** Accepts connections and reads requests, never answers: the dead channel that hangs. */
export async function startHangingServer(): Promise<{ url: string; hits: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const state = { url: '', hits: 0, close: (): Promise<void> => Promise.resolve() };
  const server = createServer(() => {
    state.hits++;
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const port = await listen(server);
  state.url = `http://127.0.0.1:${port}/hang`;
  state.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}

/** A URL on a port that was free a moment ago: connections are refused. */
export async function refusedUrl(): Promise<string> {
  const server = createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/refused`;
}

export interface Mail {
  from: string;
  to: string[];
  raw: string;
}

export interface MailReceiver {
  url: string;
  mails: Mail[];
  next(): Promise<Mail>;
  close(): Promise<void>;
}

/** A real SMTP server (no TLS, any or no auth) that keeps every message. */
export async function startSmtpReceiver(): Promise<MailReceiver> {
  const mails: Mail[] = [];
  const waiters: ((m: Mail) => void)[] = [];
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    logger: false,
    onAuth(_auth, _session, cb) {
      cb(null, { user: 'alerts' });
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const mail: Mail = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        };
        mails.push(mail);
        for (const w of waiters.splice(0)) w(mail);
        cb();
      });
    },
  });
  const port = await listen(smtp.server);
  return {
    url: `smtp://alerts:pw@127.0.0.1:${port}`,
    mails,
    next: () => new Promise((resolve) => waiters.push(resolve)),
    close: () => new Promise<void>((resolve) => smtp.close(() => resolve())),
  };
}

/** Quoted-printable soft line breaks and escapes undone, enough to search a mail body for a URL. */
export function decodeQuotedPrintable(raw: string): string {
  const bytes = Buffer.from(raw.replace(/=\r?\n/g, ''), 'utf8').toString('latin1');
  return Buffer.from(
    bytes.replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
    'latin1',
  ).toString('utf8');
}
