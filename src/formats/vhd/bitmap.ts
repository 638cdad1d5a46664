/**
 * Sector bitmaps: one bit a sector, most significant bit first, in front of
 * each block (VHD spec, Appendix A, "Block Allocation Table and Data Blocks").
 */
import { SECTOR } from './constants.js';

/** A run of sectors inside one block that are all present (`set`) or all absent. */
interface SectorRun {
  start: number;
  end: number;
  set: boolean;
}

/** Splits [from, to) (bytes inside a block) into runs by the block's sector bitmap. */
export function bitmapRuns(bitmap: Uint8Array, from: number, to: number): SectorRun[] {
  const runs: SectorRun[] = [];
  let pos = from;
  while (pos < to) {
    const sector = Math.floor(pos / SECTOR);
    const set = ((bitmap[sector >> 3]! >> (7 - (sector & 7))) & 1) === 1;
    let s = sector + 1;
    while (s * SECTOR < to && ((bitmap[s >> 3]! >> (7 - (s & 7))) & 1) === (set ? 1 : 0)) s++;
    const end = Math.min(to, s * SECTOR);
    runs.push({ start: pos, end, set });
    pos = end;
  }
  return runs;
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
