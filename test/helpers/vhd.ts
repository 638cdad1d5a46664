import { closeSync, openSync, readSync, statSync, truncateSync, writeSync } from 'node:fs';
import { createImage, openImage } from '../../src/formats/registry.js';
import type { DiskImage, OpenOptions, WritableDiskImage } from '../../src/formats/types.js';
import { vhdChecksum } from '../../src/formats/vhd/checksum.js';
import { fillPattern } from './pattern-disk.js';

/** Spec offsets (VHD spec, Appendix A) the hostile tests patch. */
export const VHD = {
  footerSize: 512,
  footerChecksum: 64,
  footerCurrentSize: 48,
  footerDataOffset: 16,
  footerDiskType: 60,
  footerUuid: 68,
  headerOffset: 512,
  headerSize: 1024,
  headerTableOffset: 16,
  headerMaxEntries: 28,
  headerBlockSize: 32,
  headerChecksum: 36,
  headerParentName: 64,
  headerLocators: 576,
  batOffset: 1536,
} as const;

/** What `createPatternVhd` made: the file and the guest bytes it must read back as. */
export interface PatternVhd {
  path: string;
  model: Uint8Array;
  blockSize: number;
}

/**
 * Creates a dynamic VHD of `size` bytes with `blockSize` blocks (vdisk's
 * layout: footer copy, header at 512, BAT at 1536) and fills the listed
 * blocks, in that order, with pattern bytes (seed `seed`), so blocks sit in
 * the file in the order given. Returns the guest model.
 */
export async function createPatternVhd(
  path: string,
  { size = 4 << 20, blockSize = 512 << 10, blocks = [0, 2, 5], seed = 0x5eed }: { size?: number; blockSize?: number; blocks?: number[]; seed?: number } = {},
): Promise<PatternVhd> {
  const image = await createImage(path, 'vhd', { virtualSize: size, options: { block_size: String(blockSize) } });
  const model = new Uint8Array(size);
  try {
    for (const b of blocks) {
      const piece = model.subarray(b * blockSize, Math.min(size, (b + 1) * blockSize));
      fillPattern(piece, b * blockSize, seed);
      await image.writeAt(piece, b * blockSize);
    }
    await image.flush();
  } finally {
    await image.close();
  }
  return { path, model, blockSize };
}

/** Creates an empty dynamic VHD and returns it open for writing. */
export function createDynamic(path: string, size: number, blockSize = 512 << 10): Promise<WritableDiskImage> {
  return createImage(path, 'vhd', { virtualSize: size, options: { block_size: String(blockSize) } });
}

/** Reads `length` bytes of a file at `offset`. */
export function readBytes(path: string, offset: number, length: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const buf = new Uint8Array(length);
    const n = readSync(fd, buf, 0, length, offset);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** Overwrites bytes of a file at `offset`. */
export function patchBytes(path: string, offset: number, bytes: Uint8Array): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** Writes a big-endian u32 into a file at `offset`. */
export function patchU32(path: string, offset: number, value: number): void {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0);
  patchBytes(path, offset, b);
}

/** Writes a big-endian u64 into a file at `offset`. */
export function patchU64(path: string, offset: number, value: bigint): void {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(value);
  patchBytes(path, offset, b);
}

/** Offset of the end footer (file size - 512). */
export function endFooterOffset(path: string): number {
  return statSync(path).size - VHD.footerSize;
}

/** Applies `patch` to the footer at 0 and at the end (as `footerBase + field`), then fixes both checksums. */
export function patchBothFooters(path: string, patch: (footerBase: number) => void): void {
  for (const base of [0, endFooterOffset(path)]) patch(base);
  fixChecksums(path);
}

/** Recomputes the checksums of the footer copy, the end footer and the dynamic header (each only if its cookie is there). */
export function fixChecksums(path: string): void {
  const size = statSync(path).size;
  const spots: [number, number, string][] = [
    [0, VHD.footerSize, 'conectix'],
    [size - VHD.footerSize, VHD.footerSize, 'conectix'],
    [VHD.headerOffset, VHD.headerSize, 'cxsparse'],
  ];
  for (const [offset, length, cookie] of spots) {
    if (offset < 0) continue;
    const buf = readBytes(path, offset, length);
    if (buf.length !== length || Buffer.from(buf.subarray(0, 8)).toString('latin1') !== cookie) continue;
    const at = cookie === 'conectix' ? VHD.footerChecksum : VHD.headerChecksum;
    patchU32(path, offset + at, vhdChecksum(buf, at));
  }
}

/** Cuts a file to `size` bytes. */
export function truncateFile(path: string, size: number): void {
  truncateSync(path, size);
}

/** Opens an image collecting its warnings; returns both. */
export async function openWithWarnings(path: string, options: OpenOptions & { format?: string } = {}): Promise<{ image: DiskImage; warnings: string[] }> {
  const warnings: string[] = [];
  const image = await openImage(path, { ...options, onWarning: (w) => warnings.push(w) });
  return { image, warnings };
}
