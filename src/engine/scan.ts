import type { DiskImage } from '../formats/types.js';
import { CHUNK, dataChunks, dataTotal, nonZeroRuns } from './chunks.js';
import type { ProgressFn } from './copy.js';
import type { Span } from '../util/spans.js';

/**
 * The runs of a source's guest view that the engine would write: its data
 * extents read and cut into 64 KiB pieces, all-zero pieces dropped, adjacent
 * pieces merged. `measure` sizes an output from these without writing it.
 */
export async function nonZeroSpans(src: DiskImage, onProgress?: ProgressFn): Promise<Span[]> {
  const total = onProgress ? await dataTotal(src, Infinity) : 0;
  const buf = new Uint8Array(CHUNK);
  const out: Span[] = [];
  let done = 0;
  for await (const chunk of dataChunks(src, Infinity)) {
    const piece = buf.subarray(0, chunk.length);
    await src.readAt(piece, chunk.offset);
    for (const [a, b] of nonZeroRuns(piece, chunk.offset)) {
      const last = out[out.length - 1];
      if (last && last.end === chunk.offset + a) last.end = chunk.offset + b;
      else out.push({ start: chunk.offset + a, end: chunk.offset + b });
    }
    done += chunk.length;
    onProgress?.(done, total);
  }
  return out;
}
