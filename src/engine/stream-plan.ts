/**
 * A streamed image, in output order: literal bytes (metadata) and runs of the
 * source's guest view (data, read when emitted). `zeroPad` bytes of zeros
 * follow a guest run that ends before its block does.
 */
export type StreamPiece = { bytes: Uint8Array } | { guest: { offset: number; length: number }; zeroPad?: number };

/** Indices of the `blockSize` blocks that hold part of a span, in order. */
export function blocksWithData(spans: { start: number; end: number }[], blockSize: number): number[] {
  const out: number[] = [];
  for (const s of spans) {
    for (let b = Math.floor(s.start / blockSize); b * blockSize < s.end; b++) if (out[out.length - 1] !== b) out.push(b);
  }
  return out;
}
