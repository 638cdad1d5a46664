import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskImageError } from '../errors.js';
import { createImage, formats, openImage } from '../formats/registry.js';
import type { DiskImage, FormatDescriptor, OpenOptions, WritableDiskImage } from '../formats/types.js';
import { requireLocal } from '../io/open-source.js';
import { NbdExport } from '../nbd/export.js';
import { NbdServer, type ListenAddress } from '../nbd/server.js';
import type { ServeStats } from '../nbd/transmission.js';
import { checkOutputPath } from './output-file.js';

/**
 * One image to serve, under an export name ('' is the default export): an
 * image file opened through the registry, or a read-only image its caller
 * opens (`open`, such as a backup snapshot), described by `label` in errors.
 */
export type ExportSpec = { name: string; path: string } | { name: string; label: string; open: () => Promise<DiskImage> };

/** Options of `vdisk serve`. */
export interface ServeOptions extends OpenOptions {
  format?: string;
  /** Where to listen. */
  listen: ListenAddress;
  /** `--writable`: writes go into each image's top layer (opened with its exclusive lock). */
  writable?: boolean;
  /**
   * `--snapshot` (true): writes go into a new differencing child of each
   * image, deleted at exit; `--snapshot=FILE` (one export only) creates it
   * at FILE and keeps it. (OpenOptions.snapshot is another thing: the
   * internal snapshot to read, `-l`.)
   */
  overlay?: boolean | string;
  /** Told where the server listens once it accepts connections. */
  onReady?: (ready: ServeReady) => void;
  /** Serving stops (in-flight requests answered, writes flushed) when this aborts. */
  signal: AbortSignal;
}

/** Where the exports are, once the server listens. */
export interface ServeReady {
  /** One NBD URI per export (nbd+unix:///NAME?socket=PATH, or nbd://HOST:PORT/NAME). */
  exports: { name: string; uri: string; size: number; writable: boolean; snapshot?: string }[];
  /** The TCP port, when listening on TCP. */
  port?: number;
}

/** An export opened, with what to do at exit. */
interface Opened {
  exp: NbdExport;
  snapshot?: string;
}

/**
 * `vdisk serve`: exports the guest view of each image, through its chain,
 * over NBD until `signal` aborts; then answers what is in flight, flushes
 * writes, closes the images and removes a temporary snapshot child.
 */
export async function serve(specs: ExportSpec[], opts: ServeOptions): Promise<ServeStats> {
  if (specs.length === 0) throw new DiskImageError('USAGE', 'serve needs an image (or --export NAME=PATH)');
  if (new Set(specs.map((s) => s.name)).size !== specs.length) throw new DiskImageError('USAGE', 'two exports have the same name');
  if (opts.writable && opts.overlay) throw new DiskImageError('USAGE', '--writable and --snapshot exclude each other');
  if (typeof opts.overlay === 'string' && specs.length > 1) throw new DiskImageError('USAGE', '--snapshot=FILE keeps one child: serve one image with it, or use --snapshot');
  const tempDir = opts.overlay === true ? mkdtempSync(join(tmpdir(), 'vdisk-serve-')) : undefined;
  const opened: Opened[] = [];
  let server: NbdServer | undefined;
  let served = false;
  try {
    for (const [i, spec] of specs.entries()) opened.push(await openExport(spec, opts, tempDir && join(tempDir, `snapshot-${i}`)));
    server = new NbdServer(opened.map((o) => o.exp), { onWarning: opts.onWarning });
    const port = await server.listen(opts.listen);
    opts.onReady?.({
      exports: opened.map(({ exp, snapshot }) => ({ name: exp.name, uri: uriOf(opts.listen, port, exp.name), size: exp.size, writable: exp.writable, snapshot })),
      port: 'port' in opts.listen ? port : undefined,
    });
    served = true;
    await aborted(opts.signal);
    const { stats } = server;
    await server.close();
    server = undefined;
    for (const { exp } of opened) await exp.flush();
    return { ...stats };
  } finally {
    await server?.close();
    for (const { exp } of opened) await exp.image.close();
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    // A --snapshot=FILE child made for a server that never started serving holds nothing: it goes too.
    if (!served) for (const { snapshot } of opened) if (snapshot) rmSync(snapshot, { force: true });
  }
}

/** Opens one export: read-only, writable, or over a new snapshot child (`tempBase` names a temporary one, without its extension). */
async function openExport(spec: ExportSpec, opts: ServeOptions, tempBase: string | undefined): Promise<Opened> {
  if ('open' in spec) {
    if (opts.writable || opts.overlay) throw new DiskImageError('USAGE', `${spec.label} is served read-only: --writable and --snapshot take an image file`);
    return { exp: new NbdExport(spec.name, await spec.open()) };
  }
  if (opts.writable) {
    requireLocal(spec.path, 'serving an image --writable');
    const image = await openImage(spec.path, { ...opts, writable: true });
    if (!('writeAt' in image)) {
      await image.close();
      throw new DiskImageError('UNSUPPORTED', `${image.format} images cannot be written; serve it with --snapshot`, { path: spec.path });
    }
    return { exp: new NbdExport(spec.name, image, image as WritableDiskImage) };
  }
  const base = await openImage(spec.path, { ...opts, writable: false });
  if (!opts.overlay) return { exp: new NbdExport(spec.name, base) };
  try {
    const format = snapshotFormat(base);
    const child = tempBase ? `${tempBase}.${format.extension}` : (opts.overlay as string);
    checkOutputPath(child, [base]);
    const image = await createImage(child, format.name, { virtualSize: base.virtualSize, options: {}, parent: base });
    return { exp: new NbdExport(spec.name, image, image), snapshot: child };
  } catch (err) {
    await base.close();
    throw err;
  }
}

/** The format of a snapshot child: the base's, which must have differencing images vdisk writes (a child's parent is of its own format). */
function snapshotFormat(base: DiskImage): FormatDescriptor {
  const can = formats().filter((f) => f.differencing && f.create);
  const format = can.find((f) => f.name === base.format);
  if (format) return format;
  throw new DiskImageError('UNSUPPORTED', `--snapshot needs an image in a format with differencing images (${can.map((f) => f.name).join(', ')}); ${base.path} is ${base.format}`, { path: base.path });
}

/** The NBD URI of an export (the libnbd/qemu syntax: nbd+unix:///NAME?socket=PATH, nbd://HOST:PORT/NAME). */
function uriOf(listen: ListenAddress, port: number, name: string): string {
  const path = encodeURIComponent(name);
  if ('socket' in listen) return `nbd+unix:///${path}?socket=${encodeURIComponent(listen.socket).replace(/%2F/g, '/')}`;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return `nbd://${host}:${port}/${path}`;
}

/** Resolves when `signal` aborts (at once when it has). */
function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
