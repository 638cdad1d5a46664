import { DiskImageError } from '../../errors.js';
import { openDiskFile } from '../../io/file.js';
import { isAllZero } from '../../util/zero.js';
import { checkShrink } from '../shrink-check.js';
import type { OpenOptions, ResizeOptions, ResizeResult } from '../types.js';
import { RawLayer } from './raw-layer.js';

/** Granularity of raw compaction: 64 KiB pieces, as the engine's zero detection. */
const PIECE = 64 * 1024;

/**
 * `vdisk resize` for raw: the file is the disk, so the size is exact (no
 * rounding) and one truncate (fsync) changes it: growing adds a hole that
 * reads as zeros; shrinking (with `shrink`, cut range all zeros) cuts the tail.
 * A truncate is atomic, so a crash leaves the old or the new size.
 */
export async function resizeRaw(path: string, size: number, opts: ResizeOptions): Promise<ResizeResult> {
  if (!Number.isSafeInteger(size) || size <= 0) throw new DiskImageError('USAGE', `the new size must be a positive number of bytes, not ${size}`, { value: size });
  const file = await (opts.openFile ?? openDiskFile)(path, 'write');
  try {
    const image = new RawLayer(file);
    const oldSize = image.virtualSize;
    await checkShrink(image, size, opts.shrink);
    if (size !== oldSize) {
      await file.truncate(size);
      await file.sync();
    }
    return { oldSize, newSize: size };
  } finally {
    await file.close();
  }
}

/**
 * `vdisk compact` for raw: every 64 KiB-aligned piece of the file's data
 * ranges that holds only zeros becomes a hole again (fallocate PUNCH_HOLE,
 * size kept). Zeros read as zeros before and after, so any crash state is
 * fine. Needs the native helper and a file system that punches holes; else
 * UNSUPPORTED (before anything changed, the first punch being the test).
 */
export async function compactRaw(path: string, opts: OpenOptions): Promise<{ blocksDropped: number }> {
  const file = await (opts.openFile ?? openDiskFile)(path, 'write');
  const unsupported = () => new DiskImageError('UNSUPPORTED', `${path}: compacting a raw image needs hole punching (the native helper, docs/native-helper.md, on a file system that supports it)`);
  try {
    if (!file.punchHole) throw unsupported();
    const buf = new Uint8Array(PIECE);
    let dropped = 0;
    for (const r of await file.dataRanges(0, file.size)) {
      for (let pos = r.offset; pos < r.offset + r.length; ) {
        const next = Math.min(r.offset + r.length, (Math.floor(pos / PIECE) + 1) * PIECE);
        const piece = buf.subarray(0, next - pos);
        await file.read(piece, pos);
        if (isAllZero(piece)) {
          if (!(await file.punchHole(pos, piece.length))) throw unsupported();
          dropped++;
        }
        pos = next;
      }
    }
    if (dropped > 0) await file.sync();
    return { blocksDropped: dropped };
  } finally {
    await file.close();
  }
}
