import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DiskImageError } from '../errors.js';
import { serveWebPage } from './web-server.js';

/** dist/web, beside dist/src (this module and the CLI bundle both sit in dist/src/cli). */
const PAGE_DIR = fileURLToPath(new URL('../../web', import.meta.url));

/**
 * Adds `vdisk web`: serves the browser page (docs/web.md) on 127.0.0.1 and
 * prints its URL; the page reads the files picked in it, in the browser,
 * and this server sends only the page. It runs until `signal` (Ctrl-C), then
 * stops listening and exits 0 (`endsOnSignal` tells main so).
 */
export function addWebCommand(program: Command, signal: AbortSignal, endsOnSignal: () => void): void {
  program
    .command('web')
    .description('serve the browser page (inspect, check, convert for Azure) on 127.0.0.1 and print its URL')
    .option('--port <n>', 'port to listen on (0: any free one)', '0')
    .action(async (o: { port: string }) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new DiskImageError('USAGE', `--port ${o.port} is not a port number`);
      if (!existsSync(`${PAGE_DIR}/index.html`)) throw new DiskImageError('IO', `the page is not built (${PAGE_DIR}): run npm run build:web`, { path: PAGE_DIR });
      const server = await serveWebPage(PAGE_DIR, port).catch((err: Error) => {
        throw new DiskImageError('IO', `cannot listen on 127.0.0.1:${port}: ${err.message}`);
      });
      endsOnSignal();
      console.log(`vdisk web: ${server.origin}/ (the page reads your files in the browser; Ctrl-C stops)`);
      if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      await server.close();
    });
}
