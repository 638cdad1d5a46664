import { realpathSync } from 'node:fs';
import { DiskImageError } from '../errors.js';
import { isUrl } from '../io/http-source.js';
import type { FileOpener } from '../io/image-file.js';
import { openSource } from '../io/open-source.js';
import { qcow2Format } from './qcow2/index.js';
import { rawFormat } from './raw/index.js';
import { vdiFormat } from './vdi/index.js';
import { WritableChainImage } from '../chain/chain-image.js';
import { readCompressed } from '../chain/decompress.js';
import { openChain, probeFormat, type ChainSetup } from '../chain/open-chain.js';
import { resolveBeside, resolveParent } from '../chain/resolve.js';
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

/** The names of the formats that pass `filter`, for option help and messages ("raw, vhd, vhdx"). */
export function formatNames(filter: (f: FormatDescriptor) => boolean): string {
  return formats()
    .filter(filter)
    .map((f) => f.name)
    .sort()
    .join(', ');
}

/** The descriptor of a format vdisk handles, or a USAGE/UNSUPPORTED error. */
export function formatByName(name: string): FormatDescriptor {
  const f = FORMATS.find((x) => x.name === name);
  if (f) return f;
  throw new DiskImageError('USAGE', `unknown format '${name}' (known: ${FORMATS.map((x) => x.name).join(', ')})`, { format: name });
}

/** Probes a file's (or URL's) format from its first 4 KiB and last 512 bytes. */
export async function detectFormat(path: string, openFile: FileOpener = openSource): Promise<string> {
  return probeFormat(FORMATS, path, openFile);
}

/** The chain setup of the CLI and library: every format, local files and URLs, parents found by the sandboxed directory resolver. */
function setupOf(options: OpenOptions): ChainSetup {
  return { formats: FORMATS, openFile: options.openFile ?? openSource, resolveParent, resolveBeside: options.resolveBeside ?? resolveBeside, decode: readCompressed };
}

/**
 * Opens an image (format probed unless given), with its whole parent chain:
 * a local path, or an http(s) URL read with Range requests (its parents are
 * looked for beside it, on the same server).
 */
export async function openImage(path: string, options: OpenOptions & { format?: string } = {}): Promise<DiskImage> {
  if (isUrl(path)) return openChain(path, options, setupOf(options), 0, new Set([path]));
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    throw new DiskImageError('IO', `cannot open ${path}: no such file`, { path });
  }
  return openChain(path, options, setupOf(options), 0, new Set([real]));
}

/** Creates a new image of `format` at `path` (which must not exist). */
export async function createImage(path: string, format: string, options: CreateOptions): Promise<WritableDiskImage> {
  const f = formatByName(format);
  if (!f.create) throw new DiskImageError('UNSUPPORTED', `writing ${format} is not supported yet`);
  if (options.parent && !f.differencing) throw new DiskImageError('UNSUPPORTED', `${format} images have no parent; a differencing child can be ${FORMATS.filter((x) => x.differencing).map((x) => x.name).join(' or ')}`);
  const unknown = Object.keys(options.options).filter((k) => !f.createOptions?.includes(k));
  if (unknown.length) throw new DiskImageError('USAGE', `${format} does not take option(s) ${unknown.join(', ')} (accepted: ${f.createOptions?.join(', ') || 'none'})`);
  return new WritableChainImage(await f.create(path, options), options.parent, readCompressed);
}
