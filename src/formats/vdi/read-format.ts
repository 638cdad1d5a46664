import { DiskImageError } from '../../errors.js';
import type { ImageFile } from '../../io/image-file.js';
import { zeroPastEnd } from '../../io/zero-past-end.js';
import { MetadataBudget } from '../../util/metadata-budget.js';
import type { OpenableFormat } from '../../chain/open-chain.js';
import type { ParentRef } from '../layer.js';
import { BlockMap } from './block-map.js';
import { PRE_HEADER_SIZE, VERSION_1_1 } from './constants.js';
import { hasVdiSignature, headerBytesNeeded, parseVdiHeader, type VdiHeader } from './header.js';
import { vdiParentRef } from './parent-ref.js';
import { VdiLayer } from './reader.js';

/** Reads and parses the pre-header and header (as much as the version needs, or the whole of a shorter file). */
async function readHeader(file: ImageFile): Promise<VdiHeader> {
  const pre = new Uint8Array(Math.min(PRE_HEADER_SIZE + 4, file.size));
  await file.read(pre, 0);
  const buf = new Uint8Array(Math.min(pre.length < PRE_HEADER_SIZE ? pre.length : headerBytesNeeded(pre), file.size));
  await file.read(buf, 0);
  return parseVdiHeader(file.path, buf, file.size);
}

/** What a VDI layer is built from: its open file, header, block map, warnings and parent reference. */
export type VdiLayerMaker<L> = (file: ImageFile, header: VdiHeader, blocks: BlockMap, warnings: string[], ref: ParentRef | undefined) => L;

/**
 * Reads a VDI's header and block map from an open file (version 1.1 only
 * when `writable`) and builds its layer with `make`, closing the file when
 * that fails. Kept apart from index.ts so that reading a VDI does not pull in
 * the writers (and through them node:fs): the browser build opens VDIs
 * through this file alone.
 */
export async function openVdiLayer<L>(path: string, file: ImageFile, writable: boolean, make: VdiLayerMaker<L>): Promise<L> {
  try {
    const header = await readHeader(file);
    if (writable && header.version !== VERSION_1_1) throw new DiskImageError('UNSUPPORTED', `${path}: writing a VDI ${header.version >>> 16}.${header.version & 0xffff} image is not supported (1.1 is)`, { path });
    const warnings: string[] = [];
    const blocks = await BlockMap.read(file, header, zeroPastEnd(file), warnings, new MetadataBudget(path));
    return make(file, header, blocks, warnings, header.type === 'diff' ? vdiParentRef(header) : undefined);
  } catch (err) {
    await file.close();
    throw err;
  }
}

/** The VDI format, read-only: probe and reader, without the writers. */
export const vdiReadFormat: OpenableFormat = {
  name: 'vdi',
  probe: (head) => hasVdiSignature(head),
  open: async (path, options) => openVdiLayer(path, await options.openFile(path, 'read'), false, (...parts) => new VdiLayer(...parts)),
};
