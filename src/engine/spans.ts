import type { DiskImage } from '../formats/types.js';

/** A half-open byte range [start, end) of a guest view. */
export interface Span {
  start: number;
  end: number;
}

/** The ranges of an image's guest view (through its chain) that hold data, within [start, end). */
export async function dataSpans(image: DiskImage, start = 0, end = image.virtualSize): Promise<Span[]> {
  const out: Span[] = [];
  for await (const e of image.extents({ offset: start, length: Math.max(0, end - start) })) {
    if (e.kind === 'data') out.push({ start: e.offset, end: e.offset + e.length });
  }
  return out;
}

/** Sorted, merged union of span lists. */
export function unionSpans(...lists: Span[][]): Span[] {
  const all = lists.flat().sort((x, y) => x.start - y.start);
  const out: Span[] = [];
  for (const s of all) {
    const last = out[out.length - 1];
    if (last && s.start <= last.end) last.end = Math.max(last.end, s.end);
    else out.push({ ...s });
  }
  return out;
}

/** Cuts spans into pieces of at most `size` bytes. */
export function* chunkSpans(spans: Span[], size: number): Iterable<Span> {
  for (const s of spans) {
    for (let pos = s.start; pos < s.end; pos += size) yield { start: pos, end: Math.min(s.end, pos + size) };
  }
}
