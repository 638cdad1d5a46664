import type { ByteSource } from '../io/byte-source.js';
import type { Extent } from './types.js';

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

/** Clamps an optional range to [0, size). */
export function clampRange(size: number, range?: { offset: number; length: number }): { start: number; end: number } {
  const start = Math.max(0, range?.offset ?? 0);
  const end = Math.min(size, range ? range.offset + range.length : size);
  return { start, end: Math.max(start, end) };
}

/** Extents of a source's region [start, end): its data runs, and zeros in its holes (all data when it cannot tell). */
export async function fileExtents(source: ByteSource, start: number, end: number): Promise<Extent[]> {
  const out: Extent[] = [];
  let pos = start;
  const ranges = source.dataRanges ? await source.dataRanges(start, end - start) : [{ offset: start, length: end - start }];
  for (const r of ranges) {
    if (r.offset > pos) out.push({ offset: pos, length: r.offset - pos, kind: 'zero', depth: 0 });
    out.push({ offset: r.offset, length: r.length, kind: 'data', depth: 0 });
    pos = r.offset + r.length;
  }
  if (pos < end) out.push({ offset: pos, length: end - pos, kind: 'zero', depth: 0 });
  return out;
}
