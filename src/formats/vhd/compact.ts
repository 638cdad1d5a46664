import { DiskImageError } from '../../errors.js';
import { fileRangeIsZero } from '../resize-common.js';
import type { OpenOptions } from '../types.js';
import { bitmapBytes } from './bat.js';
import { BAT_UNUSED, SECTOR } from './constants.js';
import { lowerBat, placeFooters, reclaimLeakedBlocks } from './reclaim.js';
import { openForChange } from './resize.js';

/**
 * `vdisk compact` for a dynamic VHD: every allocated block whose stored data
 * is all zeros (whatever its sector bitmap says, so qemu, which ignores the
 * bitmap, and vdisk/libvhdi, which honour it, both read zeros before and after)
 * gets its BAT entry set unused (4-byte writes, one fsync); then the freed
 * space is reclaimed as `check --repair` does: the last blocks moved into the
 * gaps one by one (copy, fsync, entry, fsync), a BAT that a resize put past the
 * blocks moved down behind them (table, fsync, header sector, fsync), the end
 * footer written after the last structure and the file cut there (fsync), the
 * copy at offset 0 last. The guest view never changes, so every crash state
 * reads it. Fixed disks have no blocks to drop and differencing ones are
 * refused: there a zero block hides the parent's data (UNSUPPORTED).
 */
export async function compactVhd(path: string, opts: OpenOptions): Promise<{ blocksDropped: number }> {
  const { file, layout: l } = await openForChange(path, opts, 'compact');
  try {
    if (!l.bat || !l.header) throw new DiskImageError('UNSUPPORTED', `${path}: a fixed VHD has no blocks to drop; convert it to a dynamic VHD instead`, { diskType: 'fixed' });
    const bs = l.header.blockSize;
    const dropped: number[] = [];
    for (let b = 0; b < l.bat.length; b++) {
      const e = l.bat[b]!;
      if (e === BAT_UNUSED) continue;
      if (await fileRangeIsZero(file, e * SECTOR + bitmapBytes(bs), Math.min(bs, l.virtualSize - b * bs))) dropped.push(b);
    }
    for (const b of dropped) {
      await file.write(new Uint8Array(4).fill(0xff), l.header.tableOffset + b * 4);
      l.bat[b] = BAT_UNUSED;
    }
    if (dropped.length > 0) await file.sync();
    await reclaimLeakedBlocks(file, l);
    if (await lowerBat(file, l)) await reclaimLeakedBlocks(file, l);
    await placeFooters(file, l, l.footer.fields);
    return { blocksDropped: dropped.length };
  } finally {
    await file.close();
  }
}
