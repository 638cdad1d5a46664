import { serveWebPage } from '../../src/cli/web-server.js';

/** The built web page served on 127.0.0.1 (a free port) by `vdisk web`'s server; `urls` records every path asked for. */
export interface StaticServer {
  origin: string;
  urls: string[];
  close(): Promise<void>;
}

/** Serves the page in `root` as `vdisk web` does, recording the requests. */
export async function serveStatic(root: string): Promise<StaticServer> {
  const urls: string[] = [];
  const server = await serveWebPage(root, 0, '127.0.0.1', (url) => urls.push(url));
  return { ...server, urls };
}
