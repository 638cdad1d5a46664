import type { DiskImage } from '../formats/types.js';

/** A cell with no byte allocated in any layer. */
export const UNALLOCATED = -2;
/** A cell whose allocated bytes all read as zeros. */
export const ZERO = -1;

/** A part of the guest view cut into cells: `cells[i]` covers [offset + i × cellBytes, offset + (i + 1) × cellBytes), the last cut at offset + length. */
export interface MapView {
  offset: number;
  length: number;
  cells: number[];
  cellBytes: number;
}

/**
 * The guest view from `offset` for `length` bytes (the whole disk by
 * default) cut into `cells` equal cells (the last may be shorter), for a
 * picture of the disk: each cell holds the depth of the shallowest layer
 * that has data in it (0 = the image itself, 1 = its parent, ...), or ZERO
 * when it holds only zeros, or UNALLOCATED when nothing is allocated there.
 * Data wins over zeros, so a cell with a single data byte shows as data.
 */
export async function allocationCells(image: DiskImage, cells: number, offset = 0, length = image.virtualSize - offset): Promise<MapView> {
  const cellBytes = Math.max(1, Math.ceil(length / cells));
  const out = new Array<number>(Math.ceil(length / cellBytes)).fill(UNALLOCATED);
  for await (const e of image.extents({ offset, length })) {
    const from = Math.max(e.offset, offset);
    const to = Math.min(e.offset + e.length, offset + length);
    if (e.kind === 'unallocated' || to <= from) continue;
    const value = e.kind === 'data' ? e.depth : ZERO;
    const last = Math.floor((to - offset - 1) / cellBytes);
    for (let c = Math.floor((from - offset) / cellBytes); c <= last; c++) {
      const cur = out[c]!;
      if (value >= 0 ? cur < 0 || value < cur : cur === UNALLOCATED) out[c] = value;
    }
  }
  return { offset, length, cells: out, cellBytes };
}
