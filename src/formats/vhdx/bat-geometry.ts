import { SECTORS_PER_BITMAP_BLOCK } from './constants.js';

/** How BAT entries map to blocks (2.5): payload entries interleaved with one sector bitmap entry per chunk. */
export interface BatGeometry {
  blockSize: number;
  /** Payload blocks per chunk: 2^23 x logical sector size / block size (2.5). */
  chunkRatio: number;
  payloadBlocks: number;
  bitmapBlocks: number;
  /** Entries the BAT holds (2.5). */
  totalEntries: number;
  /**
   * Bytes of the last payload block inside the disk (the block size unless
   * the size is not a multiple of it): all of that block the file must hold.
   * qemu-img's fixed VHDX ends there, not at the block's end.
   */
  lastBlockBytes: number;
}

/** BAT geometry for a disk (2.5; differencing disks have a bitmap entry after every chunk, even the last). */
export function batGeometry(virtualSize: number, blockSize: number, logicalSectorSize: number, hasParent: boolean): BatGeometry {
  const chunkRatio = (SECTORS_PER_BITMAP_BLOCK * logicalSectorSize) / blockSize;
  const payloadBlocks = Math.ceil(virtualSize / blockSize);
  const bitmapBlocks = Math.ceil(payloadBlocks / chunkRatio);
  const totalEntries = hasParent ? bitmapBlocks * (chunkRatio + 1) : payloadBlocks + Math.floor((payloadBlocks - 1) / chunkRatio);
  return { blockSize, chunkRatio, payloadBlocks, bitmapBlocks, totalEntries, lastBlockBytes: virtualSize - (payloadBlocks - 1) * blockSize };
}

/** Index in the BAT of payload block `b`. */
export function payloadEntryIndex(g: BatGeometry, b: number): number {
  return b + Math.floor(b / g.chunkRatio);
}

/** Index in the BAT of the sector bitmap entry of chunk `c`. */
export function bitmapEntryIndex(g: BatGeometry, c: number): number {
  return c * (g.chunkRatio + 1) + g.chunkRatio;
}

/** The decoded BAT: per payload block its state and file offset; per chunk its bitmap block's offset (0: none). */
export interface Bat {
  geometry: BatGeometry;
  states: Uint8Array;
  /** File offset of each payload block in MiB (0 when the state has none). */
  offsetsMb: Float64Array;
  /** File offset of each chunk's sector bitmap block in MiB (0 when not present). */
  bitmapMb: Float64Array;
}

/** A range of the file that blocks must not overlap. */
export interface Reserved {
  what: string;
  offset: number;
  length: number;
}
