import { DiskFile } from '../../src/io/file.js';

/** How to fill a generated disk: which blocks hold data, and how they are marked. */
export interface PatternSpec {
  size: number;
  /** Granularity of the choice of written blocks. */
  blockSize: number;
  /** Fraction of blocks that hold data, 0..1. */
  fraction: number;
  seed?: number;
}

/** True when block `i` holds data under `spec` (deterministic, spread evenly). */
export function blockHasData(i: number, spec: PatternSpec): boolean {
  const h = Math.imul(i ^ (spec.seed ?? 0x5eed), 0x9e3779b1) >>> 0;
  return h / 2 ** 32 < spec.fraction;
}

/**
 * Fills buf with the bytes of disk offset `offset` of a pattern disk: every
 * 32-bit word encodes its own position and the seed, so every sector of
 * every block is distinguishable and none is zero.
 */
export function fillPattern(buf: Uint8Array, offset: number, seed = 0x5eed): void {
  const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
  const base = offset / 4;
  for (let k = 0; k < words.length; k++) words[k] = (Math.imul((base + k) >>> 0, 0x2545f491) ^ seed ^ ((base + k) / 2 ** 32)) | 1;
}

/** Writes a sparse raw pattern disk at `path` (must not exist); returns the number of data blocks. */
export async function writePatternDisk(path: string, spec: PatternSpec): Promise<number> {
  const file = await DiskFile.open(path, 'create');
  const buf = new Uint8Array(spec.blockSize);
  let written = 0;
  try {
    await file.truncate(spec.size);
    for (let i = 0; i * spec.blockSize < spec.size; i++) {
      if (!blockHasData(i, spec)) continue;
      const n = Math.min(spec.blockSize, spec.size - i * spec.blockSize);
      fillPattern(buf.subarray(0, n), i * spec.blockSize, spec.seed);
      await file.write(buf.subarray(0, n), i * spec.blockSize);
      written++;
    }
    await file.sync();
  } finally {
    await file.close();
  }
  return written;
}
