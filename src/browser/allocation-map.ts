import type { DiskImage } from '../formats/types.js';

/** A cell with no byte allocated in any layer. */
export const UNALLOCATED = -2;
/** A cell whose allocated bytes all read as zeros. */
export const ZERO = -1;

/**
 * The guest view cut into `cells` equal cells (the last may be shorter), for
 * a picture of the disk: each cell holds the depth of the shallowest layer
 * that has data in it (0 = the image itself, 1 = its parent, ...), or ZERO
 * when it holds only zeros, or UNALLOCATED when nothing is allocated there.
 * Data wins over zeros, so a cell with a single data byte shows as data.
 */
export async function allocationCells(image: DiskImage, cells: number): Promise<{ cells: number[]; cellBytes: number }> {
  const cellBytes = Math.max(1, Math.ceil(image.virtualSize / cells));
  const out = new Array<number>(Math.ceil(image.virtualSize / cellBytes)).fill(UNALLOCATED);
  for await (const e of image.extents()) {
    if (e.kind === 'unallocated' || e.length === 0) continue;
    const value = e.kind === 'data' ? e.depth : ZERO;
    const last = Math.floor((e.offset + e.length - 1) / cellBytes);
    for (let c = Math.floor(e.offset / cellBytes); c <= last; c++) {
      const cur = out[c]!;
      if (value >= 0 ? cur < 0 || value < cur : cur === UNALLOCATED) out[c] = value;
    }
  }
  return { cells: out, cellBytes };
}
