import type { DiskImage } from '../formats/types.js';
import { isAllZero } from '../util/zero.js';

/** Largest read the engine issues: 8 MiB, a multiple of every VHD block size up to 8 MiB. */
export const CHUNK = 8 * 1024 * 1024;

/** Granularity of zero detection: 64 KiB runs of zeros are not written. */
export const ZERO_GRAIN = 64 * 1024;

/** A piece of the source to copy: data to read, or (`zero`) a range that reads as zeros. */
export interface CopyPiece {
  offset: number;
  length: number;
  zero?: boolean;
}

/**
 * Data ranges of the source (through its chain, layers above `belowDepth`)
 * cut into chunks that never cross an 8 MiB boundary; with `zeros`, also its
 * ranges that read as zeros (zero extents of those layers, and unallocated
 * ones at the bottom of the chain), whole.
 */
export async function* dataChunks(src: DiskImage, belowDepth: number, zeros = false): AsyncIterable<CopyPiece> {
  for await (const e of src.extents()) {
    if (e.depth >= belowDepth) continue;
    if (e.kind !== 'data') {
      if (zeros) yield { offset: e.offset, length: e.length, zero: true };
      continue;
    }
    for (let pos = e.offset; pos < e.offset + e.length; ) {
      const next = Math.min(e.offset + e.length, (Math.floor(pos / CHUNK) + 1) * CHUNK);
      yield { offset: pos, length: next - pos };
      pos = next;
    }
  }
}

export async function dataTotal(src: DiskImage, belowDepth: number): Promise<number> {
  let total = 0;
  for await (const e of src.extents()) if (e.kind === 'data' && e.depth < belowDepth) total += e.length;
  return total;
}

/** The gaps between runs, as [start, end) pairs: the zero pieces of a chunk of `length` bytes. */
export function gaps(runs: [number, number][], length: number): [number, number][] {
  const out: [number, number][] = [];
  let pos = 0;
  for (const [a, b] of runs) {
    if (a > pos) out.push([pos, a]);
    pos = b;
  }
  if (pos < length) out.push([pos, length]);
  return out;
}

/** Runs of non-zero 64 KiB pieces in buf, as [start, end) pairs relative to buf. */
export function nonZeroRuns(buf: Uint8Array, base: number): [number, number][] {
  const runs: [number, number][] = [];
  for (let pos = 0; pos < buf.length; ) {
    const next = Math.min(buf.length, Math.floor((base + pos) / ZERO_GRAIN) * ZERO_GRAIN + ZERO_GRAIN - base);
    if (!isAllZero(buf.subarray(pos, next))) {
      const last = runs[runs.length - 1];
      if (last && last[1] === pos) last[1] = next;
      else runs.push([pos, next]);
    }
    pos = next;
  }
  return runs;
}

