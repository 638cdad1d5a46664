import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';

/** Content types of the files a built page has. */
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };

/** A running page server: its origin, and how to stop it. */
export interface WebServer {
  origin: string;
  close(): Promise<void>;
}

/**
 * Serves the built page (dist/web) from `root` on `host`:`port` (0: any
 * free port): GET only, no listing, nothing outside root, and the page's
 * scripts with a JavaScript type (module scripts need one). `onRequest` sees
 * every path asked for (the browser test records them).
 */
export async function serveWebPage(root: string, port: number, host = '127.0.0.1', onRequest?: (url: string) => void): Promise<WebServer> {
  const server = createServer((req, res) => {
    onRequest?.(req.url ?? '');
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    const file = join(root, path === sep ? 'index.html' : path);
    if (req.method !== 'GET') return void res.writeHead(405).end();
    if (!file.startsWith(root + sep) || !(extname(file) in TYPES)) return void res.writeHead(404).end();
    readFile(file).then(
      (body) => res.writeHead(200, { 'content-type': TYPES[extname(file)]!, 'x-content-type-options': 'nosniff' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const address = server.address() as AddressInfo;
  return { origin: `http://${host}:${address.port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
