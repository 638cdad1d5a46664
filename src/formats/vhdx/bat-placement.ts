import { DiskImageError } from '../../errors.js';
import type { Bat, Reserved } from './bat-geometry.js';
import { MiB } from './constants.js';

/**
 * Checks that no present payload block or sector bitmap block overlaps
 * another or a reserved range (headers, region tables, log, metadata, the
 * BAT itself). Blocks are sorted as one Float64Array of keys (offset in MiB
 * x 2, +1 for a bitmap), so a BAT of millions of present entries costs
 * 8 bytes each, not an object each.
 */
export function checkBatPlacement(bat: Bat, reserved: Reserved[]): void {
  const g = bat.geometry;
  const blockMb = g.blockSize / MiB;
  let count = 0;
  for (const mb of bat.offsetsMb) if (mb > 0) count++;
  for (const mb of bat.bitmapMb) if (mb > 0) count++;
  const keys = new Float64Array(count);
  let k = 0;
  for (const mb of bat.offsetsMb) if (mb > 0) keys[k++] = mb * 2;
  for (const mb of bat.bitmapMb) if (mb > 0) keys[k++] = mb * 2 + 1;
  keys.sort();
  const fixed = reserved.map((r) => ({ start: r.offset, end: r.offset + r.length, what: r.what })).sort((a, b) => a.start - b.start);
  /** Names a block or bitmap by its key (only for the error message: a linear search). */
  const describe = (key: number): string => {
    const mb = Math.floor(key / 2);
    return key % 2 === 1 ? `sector bitmap of chunk ${bat.bitmapMb.indexOf(mb)}` : `block ${bat.offsetsMb.indexOf(mb)}`;
  };
  let end = 0;
  let endWhat = () => '';
  for (let i = 0, r = 0; i < keys.length || r < fixed.length; ) {
    const key = i < keys.length ? keys[i]! : Infinity;
    const blockStart = Math.floor(key / 2) * MiB;
    let start: number;
    let stop: number;
    let what: () => string;
    if (r < fixed.length && fixed[r]!.start <= blockStart) {
      const f = fixed[r++]!;
      [start, stop, what] = [f.start, f.end, () => f.what];
    } else {
      i++;
      [start, stop, what] = [blockStart, blockStart + (key % 2 === 1 ? MiB : blockMb * MiB), () => describe(key)];
    }
    if (end > start) throw new DiskImageError('CORRUPT', `VHDX ${what()} at ${start} overlaps ${endWhat()}`, { field: 'bat', value: start });
    if (stop > end) [end, endWhat] = [stop, what];
  }
}
