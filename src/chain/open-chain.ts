import { DiskImageError, withContext } from '../errors.js';
import type { FileOpener } from '../io/image-file.js';
import type { Layer, WritableLayer } from '../formats/layer.js';
import type { DiskImage, OpenOptions } from '../formats/types.js';
import { ChainImage, WritableChainImage, type DecodeCompressed } from './chain-image.js';
import { openMatchingParent, type ChainContext } from './open-parent.js';
import type { BesideResolver, ParentResolver } from './resolve-context.js';

/** What opening a chain needs of a format: its name, its probe and its reader. */
export interface OpenableFormat {
  readonly name: string;
  readonly internalSnapshots?: boolean;
  probe(head: Uint8Array, tail: Uint8Array, fileSize: number): boolean;
  open?(path: string, options: OpenOptions & { openFile: FileOpener; resolveBeside: BesideResolver }): Promise<Layer>;
}

/**
 * Where a chain is opened from, so this module reaches neither the file system
 * nor node: the CLI passes every format, DiskFile and the sandboxed directory
 * resolvers (formats/registry.ts); the browser build the formats it reads, the
 * picked Blobs and resolvers among their names (src/browser/).
 */
export interface ChainSetup {
  /** Formats in probe order; the first whose probe matches is the file's. */
  formats: readonly OpenableFormat[];
  openFile: FileOpener;
  /** The paths the candidates a child records for its parent lead to, best first (chain/resolve.ts resolveParent). */
  resolveParent: ParentResolver;
  /** Where files an image names beside itself (VMDK extents, a qcow2 data file) are found. */
  resolveBeside: BesideResolver;
  /** Decompresses compressed runs; absent, they are `UNSUPPORTED`. */
  decode?: DecodeCompressed;
}

/**
 * The name of the first of `formats` whose probe matches the file's first
 * 4 KiB and last 512 bytes; `INVALID_FORMAT` when none does. A probe may
 * throw a coded error to refuse the file outright (raw, for files of formats
 * vdisk knows it does not read); the error is given the path.
 */
export async function probeFormat(formats: readonly OpenableFormat[], path: string, openFile: FileOpener): Promise<string> {
  const file = await openFile(path, 'read');
  try {
    const head = new Uint8Array(Math.min(4096, file.size));
    await file.read(head, 0);
    const tail = new Uint8Array(Math.min(512, file.size));
    await file.read(tail, file.size - tail.length);
    let found: OpenableFormat | undefined;
    try {
      found = formats.find((f) => f.probe(head, tail, file.size));
    } catch (err) {
      if (err instanceof DiskImageError) throw new DiskImageError(err.code, `${path}: ${err.message}`, { ...err.details, path });
      throw err;
    }
    if (!found) throw new DiskImageError('INVALID_FORMAT', `${path}: not a ${formats.map((f) => f.name).join(' or ')} image`, { path, probed: formats.map((f) => f.name) });
    return found.name;
  } finally {
    await file.close();
  }
}

/**
 * Opens the image at `path` (format probed unless `options.format` names it)
 * with its whole parent chain, each parent found by `setup.resolveParent` and
 * matched by its identity; `visited` holds the real paths already in the chain.
 */
export async function openChain(path: string, options: OpenOptions & { format?: string }, setup: ChainSetup, depth: number, visited: Set<string>): Promise<DiskImage> {
  const name = options.format ?? (await probeFormat(setup.formats, path, setup.openFile));
  const format = setup.formats.find((f) => f.name === name);
  if (!format) throw new DiskImageError('USAGE', `unknown format '${name}' (known: ${setup.formats.map((x) => x.name).join(', ')})`, { format: name });
  if (!format.open) throw new DiskImageError('UNSUPPORTED', `reading ${name} is not supported yet`);
  if (options.snapshot !== undefined && !format.internalSnapshots) throw new DiskImageError('USAGE', `${path}: ${name} images hold no internal snapshots (snapshot '${options.snapshot}' asked for)`, { path });
  const layer = await format.open(path, { ...options, openFile: setup.openFile, resolveBeside: setup.resolveBeside }).catch((err: unknown) => {
    throw withContext(err, { path, operation: 'open' });
  });
  try {
    for (const w of layer.warnings) options.onWarning?.(`${path}: ${w}`);
    const chain: ChainContext = {
      depth,
      visited,
      openFile: setup.openFile,
      resolveParent: setup.resolveParent,
      openParent: (parentPath) => {
        visited.add(parentPath);
        const writable = options.writableParents?.includes(parentPath) === true;
        return openChain(parentPath, { ...options, format: undefined, snapshot: undefined, writable }, setup, depth + 1, visited);
      },
    };
    const parent = layer.parentRef ? await openMatchingParent(layer, layer.parentRef, options, chain) : undefined;
    return 'writeAt' in layer ? new WritableChainImage(layer as WritableLayer, parent, setup.decode) : new ChainImage(layer, parent, setup.decode);
  } catch (err) {
    await layer.close();
    throw err;
  }
}
