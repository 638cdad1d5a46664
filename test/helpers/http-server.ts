import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve, sep } from 'node:path';

/** How the test server behaves. */
export interface HttpServerOptions {
  /** Honour `Range: bytes=a-b` (206) and announce `Accept-Ranges: bytes`; when false every GET gets the whole file (200). Default true. */
  ranges?: boolean;
  /** Destroy the connection once this many body bytes have been sent in total over the server's life. */
  dropAfter?: number;
  /**
   * Send headers at once but hold each body back this many milliseconds, and
   * send none when the client hangs up meanwhile: what a client reads of a
   * reply it means to drop then no longer depends on socket buffer sizes.
   */
  bodyDelayMs?: number;
}

/** A running test server and what it has done so far. */
export interface TestHttpServer {
  /** Base URL ending in `/`; a file `root/a/b.vhd` is at `url + 'a/b.vhd'`. */
  url: string;
  /** Body bytes sent so far, over all requests. */
  bytesServed(): number;
  /** Requests received so far, HEAD included. */
  requests(): number;
  /** Stops the server, cutting open connections. */
  close(): Promise<void>;
}

/**
 * Starts a static file server on 127.0.0.1 (a free port) serving the files
 * under `root`: 403 for paths escaping it, 404 for missing files, single
 * byte ranges (206, 416 when unsatisfiable) unless `ranges` is false, and an
 * optional connection drop after `dropAfter` body bytes.
 */
export async function startHttpServer(root: string, opts: HttpServerOptions = {}): Promise<TestHttpServer> {
  const ranges = opts.ranges ?? true;
  const base = resolve(root);
  let served = 0;
  let count = 0;

  /** Streams [start, end] of `path` as the body, counting bytes and dropping the connection at `dropAfter`. */
  function sendBody(res: ServerResponse, path: string, start: number, end: number): void {
    res.flushHeaders();
    const stream = createReadStream(path, { start, end });
    res.on('close', () => stream.destroy());
    stream.on('error', () => res.destroy());
    stream.on('end', () => res.end());
    stream.on('data', (chunk) => {
      const data = chunk as Buffer;
      const room = opts.dropAfter === undefined ? data.length : Math.max(0, opts.dropAfter - served);
      const part = data.subarray(0, room);
      served += part.length;
      if (part.length < data.length) {
        stream.destroy();
        res.write(part, () => res.destroy());
      } else if (!res.write(part)) {
        stream.pause();
        res.once('drain', () => stream.resume());
      }
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405).end();
    let path: string;
    try {
      path = resolve(base, '.' + decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname));
    } catch {
      return void res.writeHead(400).end();
    }
    if (path !== base && !path.startsWith(base + sep)) return void res.writeHead(403).end();
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) return void res.writeHead(404).end();
    const size = info.size;
    const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream' };
    if (ranges) headers['accept-ranges'] = 'bytes';
    const range = ranges ? parseRange(req.headers.range, size) : undefined;
    if (range === 'unsatisfiable') return void res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
    const [start, end] = range ?? [0, size - 1];
    headers['content-length'] = end - start + 1;
    if (range) headers['content-range'] = `bytes ${start}-${end}/${size}`;
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === 'HEAD' || end < start) return void res.end();
    if (!opts.bodyDelayMs) return sendBody(res, path, start, end);
    res.flushHeaders();
    const timer = setTimeout(() => sendBody(res, path, start, end), opts.bodyDelayMs);
    res.on('close', () => clearTimeout(timer));
  }

  const server = createServer((req, res) => {
    count++;
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', done);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    bytesServed: () => served,
    requests: () => count,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/**
 * The [start, end] (inclusive) of a single `bytes=a-b`, `bytes=a-` or
 * `bytes=-n` range within `size`; undefined for no or an unparsable header
 * (served whole), 'unsatisfiable' for a range outside the file.
 */
function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? '');
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  const [start, end] = m[1] === '' ? [Math.max(0, size - Number(m[2])), size - 1] : [Number(m[1]), m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)];
  return start > end || start >= size ? 'unsatisfiable' : [start, end];
}
