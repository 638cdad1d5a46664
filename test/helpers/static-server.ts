import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';

/** Content types of the files a built page has. */
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.png': 'image/png' };

/** A static file server on 127.0.0.1 (a free port) for the built web page; `urls` records every path asked for. */
export interface StaticServer {
  origin: string;
  urls: string[];
  close(): Promise<void>;
}

/** Serves the files of `root` (GET only, no listing, nothing outside root) on 127.0.0.1. */
export async function serveStatic(root: string): Promise<StaticServer> {
  const urls: string[] = [];
  const server: Server = createServer((req, res) => {
    urls.push(req.url ?? '');
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(root, path === '/' ? 'index.html' : path);
    if (req.method !== 'GET' || !file.startsWith(root)) {
      res.writeHead(405).end();
      return;
    }
    readFile(file).then(
      (body) => res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${port}`, urls, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
