import type { ImageFile } from '../../io/image-file.js';
import type { OpenableFormat } from '../../chain/open-chain.js';
import type { ParentRef } from '../layer.js';
import { FILE_SIGNATURE } from './constants.js';
import { readVhdxLayout, type VhdxLayout } from './layout.js';
import { vhdxParentRef } from './parent-ref.js';
import { VhdxLayer } from './reader.js';

/**
 * Reads a VHDX's layout from an open file (replaying its log in memory when
 * read-only) and builds its layer with `make`, closing the file when that
 * fails. Kept apart from index.ts so that reading a VHDX does not pull in the
 * writers (and through them node:path): the browser build opens VHDXs through
 * this file alone.
 */
export async function openVhdxLayer<L>(path: string, file: ImageFile, writable: boolean, make: (layout: VhdxLayout, ref: ParentRef | undefined) => L): Promise<L> {
  try {
    const layout = await readVhdxLayout(file, writable);
    return make(layout, vhdxParentRef(path, layout));
  } catch (err) {
    await file.close();
    throw err;
  }
}

/** Whether the first bytes are the VHDX file signature ("vhdxfile"). */
export function isVhdx(head: Uint8Array): boolean {
  return head.length >= 8 && String.fromCharCode(...head.subarray(0, 8)) === FILE_SIGNATURE;
}

/** The VHDX format, read-only: probe and reader, without the writers. */
export const vhdxReadFormat: OpenableFormat = {
  name: 'vhdx',
  probe: isVhdx,
  open: async (path, options) => openVhdxLayer(path, await options.openFile(path, 'read'), false, (layout, ref) => new VhdxLayer(path, layout, ref)),
};
