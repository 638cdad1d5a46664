/**
 * Builders and on-disk patchers for VHDX tests. Offsets are those of files
 * vdisk creates ([MS-VHDX] 2.2; src/formats/vhdx/create.ts): headers at 64
 * and 128 KiB, region tables at 192 and 256 KiB, an empty 1 MiB log at 1 MiB,
 * the metadata region (1 MiB) at 2 MiB, the BAT at 3 MiB, blocks after.
 */
import { DiskImageError } from '../../src/errors.js';
import { createImage } from '../../src/formats/registry.js';
import type { WritableDiskImage } from '../../src/formats/types.js';
import { encodeBatEntry } from '../../src/formats/vhdx/bat.js';
import { decodeHeader, encodeHeader, type HeaderFields } from '../../src/formats/vhdx/header.js';
import { encodeMetadataEntry, metadataEntryOffset } from '../../src/formats/vhdx/metadata-writer.js';
import { encodeParentLocator } from '../../src/formats/vhdx/parent-locator.js';
import { decodeRegionTable, encodeRegionTable, type Region } from '../../src/formats/vhdx/region-table.js';
import type { Range } from '../../src/io/byte-source.js';
import type { ImageFile } from '../../src/io/image-file.js';
import { crc32cWithZeroField } from '../../src/util/crc32c.js';
import { fillPattern } from './pattern-disk.js';
import { patchBytes, readBytes } from './vhd.js';

/** The file patchers of helpers/vhd.ts, which work on any file. */
export { patchBytes, readBytes };

/** 1 MiB: VHDX regions, blocks and BAT offsets are multiples of it. */
export const MiB = 1024 * 1024;

/** Where vdisk's VHDX files keep their structures. */
export const VHDX = {
  headerOffsets: [64 * 1024, 128 * 1024],
  headerSize: 4096,
  regionTableOffsets: [192 * 1024, 256 * 1024],
  regionTableSize: 64 * 1024,
  logOffset: MiB,
  metadataOffset: 2 * MiB,
  metadataLength: MiB,
  batOffset: 3 * MiB,
  /** Metadata table entries, in the order vdisk writes them (metadata-writer.ts). */
  entry: { fileParameters: 0, virtualDiskSize: 1, page83Data: 2, logicalSectorSize: 3, physicalSectorSize: 4, parentLocator: 5 },
  /** Items start at 64 KiB into the region, each 4 KiB aligned, in entry order. */
  itemOffset: (i: number) => 64 * 1024 + i * 4096,
} as const;

/** Writes a little-endian integer of `width` bytes (1, 2, 4 or 8) into a file. */
export function patchLE(path: string, offset: number, width: 1 | 2 | 4 | 8, value: number | bigint): void {
  const b = Buffer.alloc(width);
  if (width === 8) b.writeBigUInt64LE(BigInt(value));
  else b.writeUIntLE(Number(value), 0, width);
  patchBytes(path, offset, b);
}

/** What createPatternVhdx made: the file and the guest bytes it must read back as. */
export interface PatternVhdx {
  path: string;
  model: Uint8Array;
  blockSize: number;
}

/**
 * Creates a VHDX of `size` bytes with `blockSize` blocks and fills the listed
 * blocks, in that order, with pattern bytes (so they sit in the file in the
 * order given: block k of the list at batOffset + BAT length + k blocks).
 */
export async function createPatternVhdx(
  path: string,
  { size = 8 * MiB, blockSize = MiB, blocks = [0, 2, 5], seed = 0x5eed, options = {} }: { size?: number; blockSize?: number; blocks?: number[]; seed?: number; options?: Record<string, string> } = {},
): Promise<PatternVhdx> {
  const image = await createImage(path, 'vhdx', { virtualSize: size, options: { block_size: String(blockSize), ...options } });
  const model = new Uint8Array(image.virtualSize);
  try {
    for (const b of blocks) {
      const piece = model.subarray(b * blockSize, Math.min(model.length, (b + 1) * blockSize));
      fillPattern(piece, b * blockSize, seed);
      await image.writeAt(piece, b * blockSize);
      await image.flush();
    }
  } finally {
    await image.close();
  }
  return { path, model, blockSize };
}

/** Creates a VHDX and returns it open for writing. */
export function createVhdx(path: string, size: number, options: Record<string, string> = {}): Promise<WritableDiskImage> {
  return createImage(path, 'vhdx', { virtualSize: size, options: { block_size: '1M', ...options } });
}

/** Rewrites header slot `slot` of a file with `patch` applied to its fields and a fresh CRC-32C. */
export function patchHeader(path: string, slot: number, patch: (f: HeaderFields) => HeaderFields): void {
  const h = decodeHeader(readBytes(path, VHDX.headerOffsets[slot]!, VHDX.headerSize), slot);
  if (!h) throw new Error(`header ${slot} of ${path} is not valid`);
  patchBytes(path, VHDX.headerOffsets[slot]!, encodeHeader(patch(h.fields)));
}

/** The fields of header slot `slot`, or undefined when it is damaged. */
export function headerFields(path: string, slot: number): HeaderFields | undefined {
  return decodeHeader(readBytes(path, VHDX.headerOffsets[slot]!, VHDX.headerSize), slot)?.fields;
}

/** Rewrites both region tables with `patch` applied to their entries, re-encoded with a fresh CRC-32C. */
export function patchRegions(path: string, patch: (regions: Region[]) => Region[]): void {
  for (const at of VHDX.regionTableOffsets) {
    const regions = decodeRegionTable(readBytes(path, at, VHDX.regionTableSize));
    if (!regions) throw new Error(`region table at ${at} of ${path} is not valid`);
    patchBytes(path, at, encodeRegionTable(patch(regions)));
  }
}

/** Recomputes, in an image held in memory, the CRC-32C of both headers and both region tables. */
export function fixCrcsInMemory(buf: Buffer): void {
  for (const [at, size] of [...VHDX.headerOffsets.map((o) => [o, VHDX.headerSize]), ...VHDX.regionTableOffsets.map((o) => [o, VHDX.regionTableSize])] as [number, number][]) {
    if (at + size <= buf.length) buf.writeUInt32LE(crc32cWithZeroField(buf.subarray(at, at + size), 4), at + 4);
  }
}

/** Writes BAT entry `index` of a vdisk-made VHDX: `state` and the file offset in MiB. */
export function setBatEntry(path: string, index: number, state: number, mb: number): void {
  patchBytes(path, VHDX.batOffset + index * 8, encodeBatEntry(state, mb));
}

/** Reads BAT entry `index` of a vdisk-made VHDX. */
export function batEntry(path: string, index: number): { state: number; mb: number } {
  const v = Buffer.from(readBytes(path, VHDX.batOffset + index * 8, 8)).readBigUInt64LE();
  return { state: Number(v & 7n), mb: Number(v >> 20n) };
}

/** Rewrites metadata table entry `i` of a vdisk-made VHDX (unchanged fields are kept). */
export function patchMetadataEntry(path: string, i: number, change: { itemId?: Uint8Array; offset?: number; length?: number; flags?: number }): void {
  const at = VHDX.metadataOffset + metadataEntryOffset(i);
  const old = Buffer.from(readBytes(path, at, 32));
  const entry = encodeMetadataEntry(change.itemId ?? old.subarray(0, 16), change.offset ?? old.readUInt32LE(16), change.length ?? old.readUInt32LE(20), change.flags ?? old.readUInt32LE(24));
  patchBytes(path, at, entry);
}

/** Offset of a fresh spot in the metadata region of a vdisk-made VHDX, far past the items vdisk writes. */
const SPARE_ITEM_OFFSET = 512 * 1024;

/**
 * Replaces a differencing VHDX's parent locator with `item` (raw bytes, or
 * key/value pairs to encode): written at a spare spot of the metadata region,
 * and the table entry pointed at it.
 */
export function replaceLocator(path: string, item: Uint8Array | [string, string][]): void {
  const bytes = item instanceof Uint8Array ? item : encodeParentLocator(item);
  patchBytes(path, VHDX.metadataOffset + SPARE_ITEM_OFFSET, bytes);
  patchMetadataEntry(path, VHDX.entry.parentLocator, { offset: SPARE_ITEM_OFFSET, length: bytes.length });
}

/**
 * An ImageFile over bytes in memory, for unit tests of the structure readers.
 * `size` may claim more than the bytes held (reads past them are CORRUPT), so
 * a BAT can point at offsets of a huge file without allocating one.
 */
export class MemoryFile implements ImageFile {
  readonly path = 'memory.vhdx';
  constructor(
    readonly bytes: Uint8Array,
    readonly size: number = bytes.length,
  ) {}

  async read(buf: Uint8Array, offset: number): Promise<void> {
    if (offset < 0 || offset + buf.length > this.bytes.length) throw new DiskImageError('CORRUPT', `read of ${buf.length} at ${offset} past the memory file`);
    buf.set(this.bytes.subarray(offset, offset + buf.length));
  }

  async write(): Promise<void> {
    throw new Error('MemoryFile is read-only');
  }

  async truncate(): Promise<void> {
    throw new Error('MemoryFile is read-only');
  }

  async sync(): Promise<void> {}

  async dataRanges(offset: number, length: number): Promise<Range[]> {
    return [{ offset, length }];
  }

  async close(): Promise<void> {}
}
