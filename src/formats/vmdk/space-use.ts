import { roundUp } from '../../util/checked.js';
import { ENTRY_SIZE, GTE_ZEROED, SECTOR } from './constants.js';
import type { SparseExtent } from './sparse-extent.js';

/**
 * The unit in which unreferenced space is found: a grain, at least 64 KiB,
 * counted from overHead. A slot any structure touches counts as used, so
 * the map costs one bit per 64 KiB of file (4 MiB for a 2 TiB extent)
 * whatever the grain size, and space is reported only where a whole slot
 * belongs to nothing.
 */
const MIN_SLOT = 64 * 1024;

/** A byte range of an extent file. */
export interface FileRange {
  start: number;
  end: number;
}

/** Where an uncompressed sparse extent's structures lie. */
export interface SpaceUse {
  /** Where the last structure ends, rounded up to a sector: the bytes past it belong to nothing. */
  end: number;
  /** Whole slots before `end` that no structure touches: grains no table points to, in the order they lie. */
  unreferenced: FileRange[];
}

/**
 * Walks an uncompressed sparse extent's structures: the header, the
 * embedded descriptor and everything up to overHead, both directories,
 * every grain table they point to and every grain those tables point to
 * ("Hosted Sparse Extent Header", "Grain Directories and Grain Tables").
 * Bytes past the last one, or slots between them that none touches, belong
 * to nothing: grains appended by a run that crashed before its table was
 * stored, or freed by a tool that does not reuse them. Damaged pointers
 * are skipped (check reports them).
 */
export async function spaceUse(s: SparseExtent): Promise<SpaceUse> {
  const h = s.header;
  const size = s.file.size;
  const slot = Math.max(MIN_SLOT, s.grainBytes);
  // Slots count from overHead, where grains start: grains appended one after another fill whole slots.
  const metadataEnd = Math.max(h.headerBytes, (h.descriptorOffset + h.descriptorSize) * SECTOR, h.overHead * SECTOR);
  const origin = Math.min(h.overHead * SECTOR, size);
  const used = new Uint8Array(Math.ceil(Math.ceil((size - origin) / slot) / 8));
  let end = 0;
  const mark = (start: number, stop: number) => {
    end = Math.max(end, stop);
    const last = Math.min(stop, size) - origin;
    for (let k = Math.floor(Math.max(0, start - origin) / slot); k * slot < last; k++) used[k >> 3]! |= 1 << (k & 7);
  };
  mark(0, metadataEnd);
  for (const d of [s.primary, s.redundant]) {
    if (!d) continue;
    mark(d.gdSector * SECTOR, d.gdSector * SECTOR + d.entries * ENTRY_SIZE);
    for (let g = 0; g < d.entries; g++) {
      const sector = await d.tableSector(g);
      if (sector === 0 || !d.tableFitsAt(sector)) continue;
      const table = await d.table(g).catch(() => undefined);
      if (!table) continue;
      const at = sector * SECTOR;
      mark(at, at + d.tableBytes);
      for (const gte of table) if (gte > GTE_ZEROED) mark(gte * SECTOR, gte * SECTOR + s.grainBytes);
    }
  }
  end = roundUp(end, SECTOR);
  const unreferenced: FileRange[] = [];
  for (let k = 0; origin + k * slot < Math.min(end, size); k++) {
    if ((used[k >> 3]! & (1 << (k & 7))) !== 0) continue;
    const start = origin + k * slot;
    const stop = Math.min(start + slot, end, size);
    const last = unreferenced[unreferenced.length - 1];
    if (last?.end === start) last.end = stop;
    else unreferenced.push({ start, end: stop });
  }
  return { end, unreferenced };
}
