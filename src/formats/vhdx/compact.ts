import { DiskImageError } from '../../errors.js';
import { fileRangeIsZero } from '../resize-common.js';
import type { OpenOptions } from '../types.js';
import { MiB, PayloadState } from './constants.js';
import { normaliseRegionTables, openVhdxForChange, reclaimVhdxSpace, takeNewHeader, vhdxSpaceReclaimable, writePayloadEntry } from './reclaim.js';
import { encodeRegionTable } from './region-table.js';

/**
 * `vdisk compact` for a dynamic VHDX: a new header first (next sequence
 * number, other slot, new FileWriteGuid; the DataWriteGuid stays, since the
 * guest view does not change and children linked to it stay valid), fsync;
 * region tables made equal; every FULLY_PRESENT block whose bytes inside the
 * disk are all zeros set NOT_PRESENT (8-byte entries, one fsync); then the
 * space given back (`reclaimVhdxSpace`: the last blocks moved into the holes,
 * copy, fsync, entry, fsync, one by one; a BAT region that ends the file
 * moved down; the file cut after the last structure). The view never
 * changes, so every crash state reads it. Differencing VHDX is refused (a zero
 * block there hides the parent's data), and so is a fixed one (compacting
 * would make it dynamic).
 */
export async function compactVhdx(path: string, opts: OpenOptions): Promise<{ blocksDropped: number }> {
  const { file, layout: l } = await openVhdxForChange(path, opts, 'compact', "an all-zero block of a differencing disk hides its parent's data");
  try {
    if (l.metadata.leaveBlocksAllocated) {
      throw new DiskImageError('UNSUPPORTED', `${path}: a fixed VHDX keeps every block allocated; convert it to a dynamic VHDX instead`, { subformat: 'fixed' });
    }
    const { bat } = l;
    const bs = bat.geometry.blockSize;
    const zero: number[] = [];
    for (let b = 0; b < bat.states.length; b++) {
      if (bat.states[b] !== PayloadState.fullyPresent) continue;
      if (await fileRangeIsZero(file, bat.offsetsMb[b]! * MiB, Math.min(bs, l.metadata.virtualSize - b * bs))) zero.push(b);
    }
    const [t1, t2] = l.regionTables;
    const tablesEqual = t1 && t2 && Buffer.from(encodeRegionTable(t1)).equals(Buffer.from(encodeRegionTable(t2)));
    if (zero.length === 0 && tablesEqual && !vhdxSpaceReclaimable(file, l)) return { blocksDropped: 0 };
    await takeNewHeader(file, l, false);
    await normaliseRegionTables(file, l);
    for (const b of zero) {
      bat.states[b] = PayloadState.notPresent;
      bat.offsetsMb[b] = 0;
      await writePayloadEntry(file, l, b);
    }
    if (zero.length > 0) await file.sync();
    await reclaimVhdxSpace(file, l);
    return { blocksDropped: zero.length };
  } finally {
    await file.close();
  }
}
