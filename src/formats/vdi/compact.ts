import { DiskImageError } from '../../errors.js';
import { fileRangeIsZero } from '../resize-common.js';
import type { OpenOptions } from '../types.js';
import { BlockMap } from './block-map.js';
import { BLOCK_FREE, BLOCK_ZERO } from './constants.js';
import { openVdiForChange, packBlocks, writeEntry } from './relocate.js';

/**
 * `vdisk compact` for a dynamic or differencing VDI, as VBoxManage modifyhd
 * --compact does: every data block whose guest bytes are all zeros is
 * dropped, its pointer set free in a base (reads zeros) or zero in a
 * differencing image (VDI_IMAGE_BLOCK_ZERO, which still hides the parent)
 * with 4-byte writes and one fsync; then the last data blocks are moved into
 * the holes (copy, fsync, repoint, fsync), cBlocksAllocated set and the file
 * cut (packBlocks). The guest view never changes, so every crash state reads
 * it. A fixed image is refused (UNSUPPORTED): it keeps every block.
 */
export async function compactVdi(path: string, opts: OpenOptions): Promise<{ blocksDropped: number }> {
  const layer = await openVdiForChange(path, opts);
  try {
    const { file, header, blocks: map } = layer;
    if (header.type === 'fixed') throw new DiskImageError('UNSUPPORTED', `${path}: a fixed VDI keeps every block; convert it to a dynamic VDI instead`, { path });
    const empty = header.type === 'diff' ? BLOCK_ZERO : BLOCK_FREE;
    const bs = header.blockSize;
    let dropped = 0;
    for (let b = 0; b < map.entries.length; b++) {
      const e = map.entries[b]!;
      if (!BlockMap.allocated(e) || !(await fileRangeIsZero(file, map.dataAt(e), Math.min(bs, header.diskSize - b * bs)))) continue;
      await writeEntry(file, map, b, empty);
      dropped++;
    }
    if (dropped > 0) await file.sync();
    await packBlocks(file, header, map);
    return { blocksDropped: dropped };
  } finally {
    await layer.close();
  }
}
