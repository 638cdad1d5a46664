import { DiskImageError } from '../../errors.js';
import type { ImageFile } from '../../io/image-file.js';
import type { OpenableFormat } from '../../chain/open-chain.js';
import type { ParentRef } from '../layer.js';
import { FOOTER_SIZE } from './constants.js';
import { hasFooterCookie } from './footer.js';
import { readVhdLayout, type VhdLayout } from './layout.js';
import { vhdParentRef } from './parent-ref.js';
import { VhdLayer } from './reader.js';

/**
 * Reads a VHD's layout from an open file and builds its layer with `make`,
 * closing the file when that fails. Kept apart from index.ts so that reading
 * a VHD does not pull in the writers (and through them node:fs and node:path):
 * the browser build opens VHDs through this file alone.
 */
export async function openVhdLayer<L>(path: string, file: ImageFile, make: (file: ImageFile, layout: VhdLayout, ref: ParentRef | undefined) => L): Promise<L> {
  try {
    if (file.size < FOOTER_SIZE) throw new DiskImageError('INVALID_FORMAT', `${path}: ${file.size} bytes is too small for a VHD`);
    const layout = await readVhdLayout(file);
    return make(file, layout, vhdParentRef(layout));
  } catch (err) {
    await file.close();
    throw err;
  }
}

/** The VHD format, read-only: probe and reader, without the writers. */
export const vhdReadFormat: OpenableFormat = {
  name: 'vhd',
  probe: (head, tail) => hasFooterCookie(tail) || hasFooterCookie(head),
  open: async (path, options) => openVhdLayer(path, await options.openFile(path, 'read'), (file, layout, ref) => new VhdLayer(file, layout, ref)),
};
