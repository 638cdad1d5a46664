import type { DiskImage } from '../formats/types.js';
import type { SequentialWriter } from '../formats/sequential.js';
import { chunkSpans, spanBytes, type Span } from '../util/spans.js';
import { CHUNK } from './chunks.js';
import type { ProgressFn } from './copy.js';
import { nonZeroSpans } from './scan.js';

/**
 * Writes the guest view of `src` through a sequential writer, in file
 * order: the source's data is scanned for non-zero runs first (as measure
 * does), `start` makes the writer from them, then the data is read again
 * and handed over in guest order, one chunk at a time, so memory stays
 * bounded. On a failure the writer is aborted (its workers stop) before the
 * error goes on. Returns the bytes of data handed over. Used by the CLI's
 * pipes and files (ops/stream.ts) and by the browser page.
 */
export async function streamThrough(src: DiskImage, start: (spans: Span[]) => Promise<SequentialWriter>, onProgress?: ProgressFn): Promise<number> {
  const spans = await nonZeroSpans(src);
  const writer = await start(spans);
  const total = spanBytes(spans);
  const buf = new Uint8Array(CHUNK);
  let done = 0;
  try {
    for (const s of chunkSpans(spans, CHUNK)) {
      const piece = buf.subarray(0, s.end - s.start);
      await src.readAt(piece, s.start);
      await writer.put(piece, s.start);
      done += piece.length;
      onProgress?.(done, total);
    }
    await writer.finish();
  } catch (err) {
    await writer.abort?.();
    throw err;
  }
  return total;
}
