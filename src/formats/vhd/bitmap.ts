/**
 * Sector bitmaps: one bit a sector, most significant bit first, in front of
 * each block (VHD spec, Appendix A, "Block Allocation Table and Data Blocks").
 */
import { bitRuns, type BitRun } from '../../util/bit-runs.js';
import { SECTOR } from './constants.js';

/** Splits [from, to) (bytes inside a block) into runs by the block's sector bitmap (most significant bit first). */
export function bitmapRuns(bitmap: Uint8Array, from: number, to: number): BitRun[] {
  return bitRuns(bitmap, from, to, SECTOR, true);
}

/** Sets the bitmap bits of the sectors in [from, to) (bytes inside the block); true if any bit changed. */
export function setBits(bitmap: Uint8Array, from: number, to: number): boolean {
  let changed = false;
  for (let s = Math.floor(from / SECTOR); s * SECTOR < to; s++) {
    const mask = 1 << (7 - (s & 7));
    if ((bitmap[s >> 3]! & mask) === 0) {
      bitmap[s >> 3]! |= mask;
      changed = true;
    }
  }
  return changed;
}
