import type { ProgressFn } from '../engine/copy.js';
import { dataSpans } from '../engine/spans.js';
import type { DiskImage, WritableDiskImage } from '../formats/types.js';
import { chunkSpans, unionSpans, type Span } from '../util/spans.js';

/** Bytes read from each side at once. */
const CHUNK = 8 * 1024 * 1024;
/** Unit of comparison: a piece that differs is written whole. */
const PIECE = 64 * 1024;

/** Ranges where the child holds nothing of its own (its backing shows through). */
async function ownHoles(child: DiskImage): Promise<Span[]> {
  const out: Span[] = [];
  for await (const e of child.extents(undefined, true)) if (e.kind === 'unallocated') out.push({ start: e.offset, end: e.offset + e.length });
  return out;
}

/** Intersection of two sorted, disjoint span lists. */
function intersect(a: Span[], b: Span[]): Span[] {
  const out: Span[] = [];
  for (let i = 0, j = 0; i < a.length && j < b.length; ) {
    const start = Math.max(a[i]!.start, b[j]!.start);
    const end = Math.min(a[i]!.end, b[j]!.end);
    if (start < end) out.push({ start, end });
    if (a[i]!.end < b[j]!.end) i++;
    else j++;
  }
  return out;
}

/** Reads `buf.length` bytes of `image`'s guest view at `offset`; past its end, zeros. */
async function readZeroPastEnd(image: DiskImage, buf: Uint8Array, offset: number): Promise<void> {
  const inside = Math.max(0, Math.min(buf.length, image.virtualSize - offset));
  if (inside > 0) await image.readAt(buf.subarray(0, inside), offset);
  buf.fill(0, inside);
}

/**
 * Copies into the child every 64 KiB piece where `oldBase` and `newBase`
 * differ and the child holds nothing itself, with `oldBase`'s bytes, so its
 * guest view over `newBase` is what it was over `oldBase` (rebase), or, for
 * a new empty child over `newBase`, is `oldBase`'s guest view (convert -B).
 * An `oldBase` smaller than the child reads as zeros past its end (convert
 * -B over a backing of the rounded-up size). Reads only where either has
 * data; returns the bytes copied.
 */
export async function copyDifferences(child: WritableDiskImage, oldBase: DiskImage, newBase: DiskImage, onProgress?: ProgressFn): Promise<number> {
  const holes = await ownHoles(child);
  const data = unionSpans(await dataSpans(oldBase), await dataSpans(newBase));
  const work = intersect(holes, data);
  const total = work.reduce((n, s) => n + s.end - s.start, 0);
  const a = new Uint8Array(CHUNK);
  const b = new Uint8Array(CHUNK);
  let copied = 0;
  let done = 0;
  for (const { start, end } of chunkSpans(work, CHUNK)) {
    const n = end - start;
    await Promise.all([readZeroPastEnd(oldBase, a.subarray(0, n), start), newBase.readAt(b.subarray(0, n), start)]);
    for (let p = 0; p < n; p += PIECE) {
      const q = Math.min(n, p + PIECE);
      if (Buffer.compare(a.subarray(p, q), b.subarray(p, q)) !== 0) {
        await child.writeAt(a.subarray(p, q), start + p);
        copied += q - p;
      }
    }
    done += n;
    onProgress?.(done, total);
  }
  return copied;
}

