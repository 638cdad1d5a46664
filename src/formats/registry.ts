import { realpathSync } from 'node:fs';
import { DiskImageError, withContext } from '../errors.js';
import { isUrl } from '../io/http-source.js';
import type { FileOpener } from '../io/image-file.js';
import { openSource } from '../io/open-source.js';
import { qcow2Format } from './qcow2/index.js';
import { rawFormat } from './raw/index.js';
import { vdiFormat } from './vdi/index.js';
import { ChainImage, WritableChainImage } from '../chain/chain-image.js';
import { openMatchingParent, type ChainContext } from '../chain/open-parent.js';
import type { Layer, WritableLayer } from './layer.js';
import type { CreateOptions, DiskImage, FormatDescriptor, OpenOptions, WritableDiskImage } from './types.js';
import { vhdFormat } from './vhd/index.js';
import { vhdxFormat } from './vhdx/index.js';
import { vmdkFormat } from './vmdk/index.js';

/** Formats vdisk reads and writes, in probe order (raw, which matches anything, last). Adding a format is one line here. */
const FORMATS: readonly FormatDescriptor[] = [vhdxFormat, vhdFormat, vmdkFormat, qcow2Format, vdiFormat, rawFormat];

/** The descriptors of every format vdisk handles, in probe order. */
export function formats(): readonly FormatDescriptor[] {
  return FORMATS;
}

/** The descriptor of a format vdisk handles, or a USAGE/UNSUPPORTED error. */
export function formatByName(name: string): FormatDescriptor {
  const f = FORMATS.find((x) => x.name === name);
  if (f) return f;
  throw new DiskImageError('USAGE', `unknown format '${name}' (known: ${FORMATS.map((x) => x.name).join(', ')})`, { format: name });
}

/** Probes a file's (or URL's) format from its first 4 KiB and last 512 bytes. */
export async function detectFormat(path: string, openFile: FileOpener = openSource): Promise<string> {
  const file = await openFile(path, 'read');
  try {
    const head = Buffer.alloc(Math.min(4096, file.size));
    await file.read(head, 0);
    const tail = Buffer.alloc(Math.min(512, file.size));
    await file.read(tail, file.size - tail.length);
    return FORMATS.find((f) => f.probe(head, tail, file.size))!.name;
  } finally {
    await file.close();
  }
}

/** The guest view of `layer` over `parent`: writable when the layer is. */
function chainImage(layer: Layer, parent?: DiskImage): DiskImage {
  return 'writeAt' in layer ? new WritableChainImage(layer as WritableLayer, parent) : new ChainImage(layer, parent);
}

async function openAt(path: string, options: OpenOptions & { format?: string }, depth: number, visited: Set<string>): Promise<DiskImage> {
  const openFile = options.openFile ?? openSource;
  const name = options.format ?? (await detectFormat(path, openFile));
  const format = formatByName(name);
  if (!format.open) throw new DiskImageError('UNSUPPORTED', `reading ${name} is not supported yet`);
  if (options.snapshot !== undefined && !format.internalSnapshots) throw new DiskImageError('USAGE', `${path}: ${name} images hold no internal snapshots (snapshot '${options.snapshot}' asked for)`, { path });
  const layer = await format.open(path, { ...options, openFile }).catch((err: unknown) => {
    throw withContext(err, { path, operation: 'open' });
  });
  try {
    for (const w of layer.warnings) options.onWarning?.(`${path}: ${w}`);
    const chain: ChainContext = {
      depth,
      visited,
      openParent: (parentPath) => {
        visited.add(parentPath);
        const writable = options.writableParents?.includes(parentPath) === true;
        return openAt(parentPath, { ...options, format: undefined, snapshot: undefined, writable }, depth + 1, visited);
      },
    };
    const parent = layer.parentRef ? await openMatchingParent(layer, layer.parentRef, options, chain) : undefined;
    return chainImage(layer, parent);
  } catch (err) {
    await layer.close();
    throw err;
  }
}

/**
 * Opens an image (format probed unless given), with its whole parent chain:
 * a local path, or an http(s) URL read with Range requests (its parents are
 * looked for beside it, on the same server).
 */
export async function openImage(path: string, options: OpenOptions & { format?: string } = {}): Promise<DiskImage> {
  if (isUrl(path)) return openAt(path, options, 0, new Set([path]));
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    throw new DiskImageError('IO', `cannot open ${path}: no such file`, { path });
  }
  return openAt(path, options, 0, new Set([real]));
}

/** Creates a new image of `format` at `path` (which must not exist). */
export async function createImage(path: string, format: string, options: CreateOptions): Promise<WritableDiskImage> {
  const f = formatByName(format);
  if (!f.create) throw new DiskImageError('UNSUPPORTED', `writing ${format} is not supported yet`);
  if (options.parent && !f.differencing) throw new DiskImageError('UNSUPPORTED', `${format} images have no parent; a differencing child can be ${FORMATS.filter((x) => x.differencing).map((x) => x.name).join(' or ')}`);
  const unknown = Object.keys(options.options).filter((k) => !f.createOptions?.includes(k));
  if (unknown.length) throw new DiskImageError('USAGE', `${format} does not take option(s) ${unknown.join(', ')} (accepted: ${f.createOptions?.join(', ') || 'none'})`);
  return new WritableChainImage(await f.create(path, options), options.parent);
}
