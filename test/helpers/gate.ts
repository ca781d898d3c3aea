/**
 * A real HTTP proxy in front of the Graph emulator that can hold requests: "another instance is
 * in the middle of its Facebook call" as a fact of the network, not a mock. While `hold()` is on,
 * requests wait (the emulator has not seen them yet); `release()` lets them through.
 */
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GraphGate {
  url: string;
  hold(): void;
  /** Let every held request through, and stop holding. */
  release(): void;
  /** Resolves when a request is being held. */
  nextHeld(): Promise<void>;
  /** Requests being held now. */
  heldCount(): number;
  /** Let the oldest held request through (and keep holding the others). */
  releaseOne(): void;
  close(): Promise<void>;
}

export async function startGraphGate(target: string): Promise<GraphGate> {
  const upstream = new URL(target);
  let holding = false;
  let held: (() => void)[] = [];
  let waiters: (() => void)[] = [];
  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const out = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  };
  const server = createServer((req, res) => {
    if (!holding) {
      forward(req, res);
      return;
    }
    req.pause();
    held.push(() => {
      req.resume();
      forward(req, res);
    });
    for (const w of waiters) w();
    waiters = [];
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hold: () => {
      holding = true;
    },
    release: () => {
      holding = false;
      const go = held;
      held = [];
      for (const g of go) g();
    },
    heldCount: () => held.length,
    releaseOne: () => held.shift()?.(),
    nextHeld: () => (held.length > 0 ? Promise.resolve() : new Promise<void>((r) => waiters.push(r))),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
