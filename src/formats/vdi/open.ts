import { DiskImageError } from '../../errors.js';
import type { ImageFile } from '../../io/image-file.js';
import { openSource } from '../../io/open-source.js';
import { zeroPastEnd } from '../../io/zero-past-end.js';
import type { OpenOptions } from '../types.js';
import { BlockMap } from './block-map.js';
import { PRE_HEADER_SIZE, VERSION_1_1 } from './constants.js';
import { headerBytesNeeded, parseVdiHeader, type VdiHeader } from './header.js';
import { vdiParentRef } from './parent-ref.js';
import { VdiLayer } from './reader.js';
import { WritableVdiLayer } from './writer.js';

/** Reads and parses the pre-header and header (as much as the version needs, or the whole of a shorter file). */
async function readHeader(file: ImageFile): Promise<VdiHeader> {
  const pre = new Uint8Array(Math.min(PRE_HEADER_SIZE + 4, file.size));
  await file.read(pre, 0);
  const buf = new Uint8Array(Math.min(pre.length < PRE_HEADER_SIZE ? pre.length : headerBytesNeeded(pre), file.size));
  await file.read(buf, 0);
  return parseVdiHeader(file.path, buf, file.size);
}

/** Opens one VDI layer (writable when `options.writable`, version 1.1 only); chain/ opens a differencing image's parent from the layer's parentRef. */
export async function openVdi(path: string, options: OpenOptions): Promise<VdiLayer> {
  const file = await (options.openFile ?? openSource)(path, options.writable ? 'write' : 'read');
  try {
    const header = await readHeader(file);
    if (options.writable && header.version !== VERSION_1_1) throw new DiskImageError('UNSUPPORTED', `${path}: writing a VDI ${header.version >>> 16}.${header.version & 0xffff} image is not supported (1.1 is)`, { path });
    const warnings: string[] = [];
    const blocks = await BlockMap.read(file, header, zeroPastEnd(file), warnings);
    const ref = header.type === 'diff' ? vdiParentRef(header) : undefined;
    return options.writable ? new WritableVdiLayer(file, header, blocks, warnings, ref) : new VdiLayer(file, header, blocks, warnings, ref);
  } catch (err) {
    await file.close();
    throw err;
  }
}
