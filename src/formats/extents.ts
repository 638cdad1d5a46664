import type { ImageFile } from '../io/image-file.js';
import type { DiskImage, Extent } from './types.js';

/** Coalesces adjacent extents of the same kind and depth; drops empty ones. */
export async function* mergeExtents(source: AsyncIterable<Extent>): AsyncIterable<Extent> {
  let cur: Extent | undefined;
  for await (const e of source) {
    if (e.length === 0) continue;
    if (cur && cur.kind === e.kind && cur.depth === e.depth && cur.offset + cur.length === e.offset) {
      cur.length += e.length;
    } else {
      if (cur) yield cur;
      cur = { ...e };
    }
  }
  if (cur) yield cur;
}

/** The parent's extents over a range, one level deeper. */
export async function* parentExtents(parent: DiskImage, offset: number, length: number): AsyncIterable<Extent> {
  for await (const e of parent.extents({ offset, length })) yield { ...e, depth: e.depth + 1 };
}

/** Clamps an optional range to [0, size). */
export function clampRange(size: number, range?: { offset: number; length: number }): { start: number; end: number } {
  const start = Math.max(0, range?.offset ?? 0);
  const end = Math.min(size, range ? range.offset + range.length : size);
  return { start, end: Math.max(start, end) };
}

/** Extents of a plain file region (raw image, fixed VHD data): its data runs, and zeros in its holes. */
export function* fileExtents(file: ImageFile, start: number, end: number): Iterable<Extent> {
  let pos = start;
  for (const r of file.dataRanges(start, end - start)) {
    if (r.offset > pos) yield { offset: pos, length: r.offset - pos, kind: 'zero', depth: 0 };
    yield { offset: r.offset, length: r.length, kind: 'data', depth: 0 };
    pos = r.offset + r.length;
  }
  if (pos < end) yield { offset: pos, length: end - pos, kind: 'zero', depth: 0 };
}
