/** Span arithmetic shared by the formats (measure, stream layout) and the engine. */

/** A half-open byte range [start, end) of a guest view. */
export interface Span {
  start: number;
  end: number;
}

/** Indices of the `blockSize` blocks that hold part of a span, in order. */
export function blocksWithData(spans: Span[], blockSize: number): number[] {
  const out: number[] = [];
  for (const s of spans) {
    for (let b = Math.floor(s.start / blockSize); b * blockSize < s.end; b++) if (out[out.length - 1] !== b) out.push(b);
  }
  return out;
}

/** Total bytes of the spans. */
export function spanBytes(spans: Span[]): number {
  return spans.reduce((n, s) => n + s.end - s.start, 0);
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
