import { DiskImageError } from '../../errors.js';
import { assertWithin, roundUp } from '../../util/checked.js';
import type { ImageFile } from '../../io/image-file.js';
import { BAT_UNUSED, SECTOR } from './constants.js';
import type { DynamicHeader } from './dynamic-header.js';
import { MetadataBudget } from '../../util/metadata-budget.js';
import { limitNote, VHD_MAX_BAT_ENTRIES } from '../../limits.js';

/** Bytes of the sector bitmap in front of each block: one bit a sector, padded to a whole sector (Appendix A, "Block"). */
export function bitmapBytes(blockSize: number): number {
  return roundUp(blockSize / SECTOR / 8, SECTOR);
}

/**
 * Alignment of block data in the file. The spec lets a block start at any
 * sector; Windows (creator 'win ' 10.0) places each block's sector bitmap so
 * that the data after it starts on a 4 KiB boundary, padding between blocks.
 * vdisk does the same: guest 4 KiB pages map to whole host pages, and
 * converted data can be written with O_DIRECT (docs/formats/vhd.md).
 */
export const BLOCK_DATA_ALIGN = 4096;

/**
 * File offset of the k-th block (from 0) appended in a row at or after
 * `pos`: each block's data starts on a BLOCK_DATA_ALIGN boundary, so blocks
 * follow each other every blockSize + the bitmap rounded up to that alignment.
 */
export function appendedBlockOffset(pos: number, blockSize: number, k = 0): number {
  const bitmap = bitmapBytes(blockSize);
  return roundUp(pos + bitmap, BLOCK_DATA_ALIGN) - bitmap + k * (blockSize + roundUp(bitmap, BLOCK_DATA_ALIGN));
}

/** A byte range of the file that holds metadata (footer copy, header, BAT, locator data). */
export interface MetadataRange {
  what: string;
  offset: number;
  length: number;
}

/** Number of BAT entries needed for a virtual size. */
export function blockCountFor(virtualSize: number, blockSize: number): number {
  return Math.ceil(virtualSize / blockSize);
}

/**
 * Reads and validates the BAT entries that cover the virtual size. Refuses a
 * table too small for the disk, one that would need more than
 * VHD_MAX_BAT_ENTRIES in memory, blocks that end past `dataEnd`, and blocks that
 * overlap each other or a metadata range. The table (4 bytes an entry) is
 * charged to `budget` (the file's own unless given) before it is read.
 */
export async function readBat(
  file: ImageFile,
  header: DynamicHeader,
  virtualSize: number,
  dataEnd: number,
  metadata: MetadataRange[],
  budget = new MetadataBudget(file.path),
): Promise<Uint32Array> {
  const count = blockCountFor(virtualSize, header.blockSize);
  if (count > header.maxTableEntries) {
    throw new DiskImageError('CORRUPT', `BAT has ${header.maxTableEntries} entries, too few for a ${virtualSize}-byte disk of ${header.blockSize}-byte blocks (needs ${count})`, {
      field: 'maxTableEntries',
      value: header.maxTableEntries,
      needed: count,
    });
  }
  if (count > VHD_MAX_BAT_ENTRIES) {
    throw new DiskImageError('UNSUPPORTED', `BAT of ${count} entries (block size ${header.blockSize}) is larger than vdisk's limit of ${VHD_MAX_BAT_ENTRIES} (${limitNote('VHD_MAX_BAT_ENTRIES', VHD_MAX_BAT_ENTRIES)})`, {
      field: 'maxTableEntries',
      value: count,
    });
  }
  assertWithin('BAT', header.tableOffset, count * 4, file.size);
  budget.charge(count * 4, 'VHD BAT');
  const raw = new Uint8Array(count * 4);
  await file.read(raw, header.tableOffset);
  const view = new DataView(raw.buffer);
  const bat = new Uint32Array(count);
  for (let i = 0; i < count; i++) bat[i] = view.getUint32(i * 4);
  validateBlocks(bat, header.blockSize, dataEnd, metadata);
  return bat;
}

/** Checks every used entry: inside the data area, not overlapping metadata or another block. */
export function validateBlocks(bat: Uint32Array, blockSize: number, dataEnd: number, metadata: MetadataRange[]): void {
  const span = bitmapBytes(blockSize) + blockSize;
  const starts: number[] = [];
  for (let i = 0; i < bat.length; i++) {
    const e = bat[i]!;
    if (e === BAT_UNUSED) continue;
    const start = e * SECTOR;
    if (start + span > dataEnd) {
      throw new DiskImageError('CORRUPT', `BAT entry ${i} points to offset ${start}; the block ends at ${start + span}, past the data area (${dataEnd} bytes)`, {
        field: 'bat',
        index: i,
        value: e,
        limit: dataEnd,
      });
    }
    for (const m of metadata) {
      if (start < m.offset + m.length && m.offset < start + span) {
        throw new DiskImageError('CORRUPT', `BAT entry ${i} (block at ${start}) overlaps the ${m.what} at ${m.offset}`, { field: 'bat', index: i, value: e });
      }
    }
    starts.push(start);
  }
  const sorted = Float64Array.from(starts).sort();
  for (let k = 1; k < sorted.length; k++) {
    if (sorted[k - 1]! + span > sorted[k]!) {
      throw new DiskImageError('CORRUPT', `two BAT entries point to overlapping blocks at offsets ${sorted[k - 1]} and ${sorted[k]}`, {
        field: 'bat',
        value: [sorted[k - 1], sorted[k]],
      });
    }
  }
}

/** Encodes BAT entries as big-endian u32, padded with unused entries to `byteLength`. */
export function encodeBat(bat: Uint32Array, byteLength: number): Uint8Array {
  const out = new Uint8Array(byteLength).fill(0xff);
  const view = new DataView(out.buffer);
  for (let i = 0; i < bat.length; i++) view.setUint32(i * 4, bat[i]!);
  return out;
}
