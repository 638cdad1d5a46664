import { Option, type Command } from 'commander';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskImageError } from '../errors.js';
import { NBD_DEFAULT_PORT } from '../nbd/constants.js';
import type { ListenAddress } from '../nbd/server.js';
import type { ServeStats } from '../nbd/transmission.js';
import { serve, type ExportSpec, type ServeReady } from '../ops/serve.js';
import { openOptions, withOpenOptions, type RawOpenOptions } from './options.js';
import { warn } from './report.js';

/** Raw listen, write and output options, shared by `vdisk serve` and `vdisk backup serve`. */
export interface RawListenOptions {
  socket?: string;
  port?: string;
  bind?: string;
  writable?: boolean;
  snapshot?: boolean;
  snapshotFile?: string;
  json?: boolean;
}

/** Raw options of `vdisk serve`. */
interface RawServeOptions extends Omit<RawOpenOptions, 'snapshot'>, RawListenOptions {
  /** `-l`: the internal snapshot to serve (`--snapshot` is serve's own flag). */
  internalSnapshot?: string;
  export: string[];
}

/** True for an address only this machine reaches (127.0.0.0/8, ::1, localhost). */
function isLoopback(host: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1' || host === 'localhost';
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** The exports named on the command line: IMAGE as the default export '', and each --export NAME=PATH. */
function exportSpecs(image: string | undefined, raw: string[]): ExportSpec[] {
  const specs = raw.map((text) => {
    const eq = text.indexOf('=');
    if (eq < 0) throw new DiskImageError('USAGE', `--export '${text}' is not NAME=PATH`);
    return { name: text.slice(0, eq), path: text.slice(eq + 1) };
  });
  return image === undefined ? specs : [{ name: '', path: image }, ...specs];
}

/** Where to listen: --socket, TCP with --port/--bind (127.0.0.1:10809 by default), or a socket in the temporary directory. */
function listenAddress(o: RawListenOptions): ListenAddress {
  if (o.socket !== undefined && (o.port !== undefined || o.bind !== undefined)) throw new DiskImageError('USAGE', '--socket and --port/--bind exclude each other');
  if (o.socket !== undefined) return { socket: o.socket };
  if (o.port === undefined && o.bind === undefined) return { socket: join(tmpdir(), `vdisk-nbd-${process.pid}.sock`) };
  const port = o.port === undefined ? NBD_DEFAULT_PORT : Number(o.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new DiskImageError('USAGE', `--port ${o.port} is not a TCP port`);
  const host = o.bind ?? '127.0.0.1';
  if (!isLoopback(host)) warn(`listening on ${host}: NBD has no authentication or encryption, anyone who reaches this address can read${o.writable || o.snapshot || o.snapshotFile ? ' and write' : ''} the exports`);
  return { host, port };
}

/** The line(s) printed once the server accepts connections. */
function printReady(ready: ServeReady, json: boolean | undefined): void {
  if (json) process.stdout.write(`${JSON.stringify(ready)}\n`);
  else for (const e of ready.exports) process.stdout.write(`Serving ${e.name === '' ? 'the default export' : `'${e.name}'`} (${e.size} bytes, ${e.writable ? 'writable' : 'read-only'}${e.snapshot ? `, writes into ${e.snapshot}` : ''}) at ${e.uri}\n`);
}

/** Adds `-s`, `--port`, `--bind` and `--json` to a serving command. */
export function withListenOptions(cmd: Command): Command {
  return cmd
    .option('-s, --socket <path>', 'listen on this Unix socket (default: one in the temporary directory)')
    .option('--port <n>', `listen on TCP, 127.0.0.1 unless --bind (default port ${NBD_DEFAULT_PORT})`)
    .option('--bind <addr>', 'listen on TCP on this address (NBD has no authentication: a warning says so)')
    .option('--json', 'one JSON line with the exports and their URIs when ready, one with the counts at exit');
}

/**
 * Runs a server started by `start` on the address `o` names until it
 * returns (SIGINT, SIGTERM: `onSignalStop` makes that a normal end), printing
 * the ready line(s) and, at exit, the counts.
 */
export async function runServer(o: RawListenOptions, onSignalStop: () => void, start: (listen: ListenAddress, onReady: (ready: ServeReady) => void) => Promise<ServeStats>): Promise<void> {
  const listen = listenAddress(o);
  onSignalStop();
  const stats = await start(listen, (ready) => printReady(ready, o.json));
  if (o.json) process.stdout.write(`${JSON.stringify({ stats })}\n`);
  else process.stdout.write(`Served ${stats.connections} connection(s): ${stats.readBytes} bytes read, ${stats.writtenBytes} written.\n`);
}

/**
 * Adds `vdisk serve` to the program. It serves until `signal` aborts
 * (SIGINT, SIGTERM), which ends it normally: `onSignalStop` tells main not to
 * treat that signal as an interruption.
 */
export function addServeCommand(program: Command, signal: AbortSignal, onSignalStop: () => void): void {
  const cmd = withOpenOptions(program.command('serve').description('serve images over NBD until SIGINT/SIGTERM (docs/serve.md)').argument('[image]'), false)
    .option('-f, --format <fmt>', 'input format (probed when omitted)')
    .option('-l, --internal-snapshot <id|name>', "serve an internal snapshot's guest view (read-only)")
    .option('--export <name=path>', 'serve PATH under export NAME (repeatable)', collect, []);
  withListenOptions(cmd)
    .option('--writable', 'let clients write into the top layer (exclusive lock)')
    .option('--snapshot', 'let clients write into a new temporary differencing child (--snapshot=FILE: kept as FILE)')
    .addOption(new Option('--snapshot-file <file>').hideHelp())
    .action(async (image: string | undefined, o: RawServeOptions) => {
      const specs = exportSpecs(image, o.export);
      await runServer(o, onSignalStop, (listen, onReady) => serve(specs, { ...openOptions({ ...o, snapshot: o.internalSnapshot }), listen, writable: o.writable, overlay: o.snapshotFile ?? o.snapshot, signal, onReady }));
    });
}
