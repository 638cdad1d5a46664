import { DiskImageError } from '../errors.js';
import type { ImageFile } from '../io/image-file.js';
import { isAllZero } from '../util/zero.js';
import type { DiskImage } from './types.js';

/**
 * Helpers the formats' in-place resize and compact share (docs/resize-compact.md):
 * size rounding and limits, the shrink guard, and zero handling of file ranges.
 */

/** Largest piece read or written at once. */
const PIECE = 1024 * 1024;

/** Granularity of zero detection in file ranges. */
const ZERO_GRAIN = 64 * 1024;

/**
 * The requested size rounded up to the format's unit (VHD: 512 bytes, VHDX:
 * the logical sector); USAGE for a size that is not a positive integer,
 * OUT_OF_RANGE past the format's maximum.
 */
export function roundNewSize(requested: number, unit: number, max: number, format: string, hint = ''): number {
  if (!Number.isSafeInteger(requested) || requested <= 0) throw new DiskImageError('USAGE', `the new size must be a positive number of bytes, not ${requested}`, { value: requested });
  const size = Math.ceil(requested / unit) * unit;
  if (size > max) throw new DiskImageError('OUT_OF_RANGE', `${format} holds at most ${max} bytes, not ${size}${hint}`, { value: size, limit: max });
  return size;
}

/** Offset of the first non-zero byte of the guest view in [start, end), or undefined. Reads only data extents. */
export async function firstNonZero(image: DiskImage, start: number, end: number): Promise<number | undefined> {
  if (end <= start) return undefined;
  const buf = new Uint8Array(PIECE);
  for await (const e of image.extents({ offset: start, length: end - start })) {
    if (e.kind !== 'data') continue;
    for (let pos = e.offset; pos < e.offset + e.length; pos += PIECE) {
      const piece = buf.subarray(0, Math.min(PIECE, e.offset + e.length - pos));
      await image.readAt(piece, pos);
      if (isAllZero(piece)) continue;
      return pos + piece.findIndex((x) => x !== 0);
    }
  }
  return undefined;
}

/** True when [offset, offset+length) of the file reads as zeros (holes and bytes past the end count as zeros). */
export async function fileRangeIsZero(file: ImageFile, offset: number, length: number): Promise<boolean> {
  const end = Math.min(offset + length, file.size);
  const buf = new Uint8Array(PIECE);
  for (const r of await file.dataRanges(offset, Math.max(0, end - offset))) {
    for (let pos = r.offset; pos < r.offset + r.length; pos += PIECE) {
      const piece = buf.subarray(0, Math.min(PIECE, r.offset + r.length - pos));
      await file.read(piece, pos);
      if (!isAllZero(piece)) return false;
    }
  }
  return true;
}

/**
 * Makes [offset, offset+length) of the file read as zeros, writing zeros only
 * over the 64 KiB pieces that are not zero already (holes stay holes).
 * Returns true when it wrote anything; the caller fsyncs.
 */
export async function zeroFileRange(file: ImageFile, offset: number, length: number): Promise<boolean> {
  const end = Math.min(offset + length, file.size);
  const buf = new Uint8Array(ZERO_GRAIN);
  let wrote = false;
  for (const r of await file.dataRanges(offset, Math.max(0, end - offset))) {
    for (let pos = r.offset; pos < r.offset + r.length; ) {
      const next = Math.min(r.offset + r.length, (Math.floor(pos / ZERO_GRAIN) + 1) * ZERO_GRAIN);
      const piece = buf.subarray(0, next - pos);
      await file.read(piece, pos);
      if (!isAllZero(piece)) {
        piece.fill(0);
        await file.write(piece, pos);
        wrote = true;
      }
      pos = next;
    }
  }
  return wrote;
}

/**
 * Copies `length` bytes inside a file from `from` to `to` (non-overlapping
 * ranges). Pieces that are holes or zeros in the source become holes in the
 * target where the file can punch them, else zeros, so the target never keeps
 * stale bytes and a sparse source stays sparse. The caller fsyncs.
 */
export async function copyWithinFile(file: ImageFile, from: number, to: number, length: number): Promise<void> {
  const buf = new Uint8Array(PIECE);
  const data = await file.dataRanges(from, length);
  for (let off = 0; off < length; ) {
    const n = Math.min(PIECE, length - off);
    const piece = buf.subarray(0, n);
    const hasData = data.some((r) => r.offset < from + off + n && from + off < r.offset + r.length);
    if (hasData) await file.read(piece, from + off);
    if (!hasData || isAllZero(piece)) {
      const inFile = Math.max(0, Math.min(n, file.size - (to + off)));
      if (inFile > 0 && !(file.punchHole && (await file.punchHole(to + off, inFile)))) {
        piece.fill(0);
        await file.write(piece.subarray(0, inFile), to + off);
      }
      if (inFile < n && to + off + n > file.size) await file.truncate(to + off + n);
    } else {
      await file.write(piece, to + off);
    }
    off += n;
  }
}
