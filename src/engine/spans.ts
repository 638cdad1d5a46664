import type { DiskImage } from '../formats/types.js';
import type { Span } from '../util/spans.js';

/** The ranges of an image's guest view (through its chain) that hold data, within [start, end). */
export async function dataSpans(image: DiskImage, start = 0, end = image.virtualSize): Promise<Span[]> {
  const out: Span[] = [];
  for await (const e of image.extents({ offset: start, length: Math.max(0, end - start) })) {
    if (e.kind === 'data') out.push({ start: e.offset, end: e.offset + e.length });
  }
  return out;
}
