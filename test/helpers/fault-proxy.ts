import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the proxy does with one request: forward it, forward it and lose the answer (cut the connection), never answer, or answer an S3 error itself. */
export type Fault = 'pass' | 'lose-answer' | 'hang' | { status: number; code: string };

/** A running fault proxy. */
export interface FaultProxy {
  /** Its base URL, without a trailing slash (an S3 endpoint). */
  url: string;
  /** Stops it, cutting open connections. */
  close(): Promise<void>;
}

/** The whole body of a request. */
async function bodyOf(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/**
 * Starts an HTTP proxy on 127.0.0.1 in front of `target` (an S3 endpoint)
 * that does to the n-th request (from 0) what `decide` says. Forwarded
 * requests keep their headers, Host included, so their signatures hold.
 */
export async function startFaultProxy(target: string, decide: (req: IncomingMessage, n: number) => Fault): Promise<FaultProxy> {
  let n = 0;
  const server = createServer((req, res) => {
    const fault = decide(req, n++);
    if (fault === 'hang') return;
    if (typeof fault === 'object') {
      res.writeHead(fault.status, { 'content-type': 'application/xml' }).end(`<?xml version="1.0"?><Error><Code>${fault.code}</Code></Error>`);
      return;
    }
    void bodyOf(req).then((body) => {
      const upstream = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
        if (fault === 'lose-answer') {
          answer.resume().on('end', () => req.socket.destroy());
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => req.socket.destroy());
      upstream.end(body);
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
