import type { ProgressFn } from '../engine/copy.js';
import { dataSpans } from '../engine/spans.js';
import { chunkSpans, unionSpans } from '../util/spans.js';
import { openImage } from '../formats/registry.js';
import type { DiskImage, OpenOptions } from '../formats/types.js';

/** Result of comparing two guest views. */
export interface CompareResult {
  identical: boolean;
  /** First differing byte offset, when not identical. */
  mismatchOffset?: number;
  /** True when the sizes differ (the longer tail then had to be zero). */
  sizeMismatch: boolean;
}

const CHUNK = 8 * 1024 * 1024;

async function readOrZero(image: DiskImage, buf: Uint8Array, offset: number): Promise<void> {
  const inside = Math.max(0, Math.min(buf.length, image.virtualSize - offset));
  if (inside > 0) await image.readAt(buf.subarray(0, inside), offset);
  buf.fill(0, inside);
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/**
 * Compares the guest views of two images byte for byte, reading only where
 * either has data. As with qemu-img compare, images of different sizes are
 * equal when the longer one holds only zeros past the shorter one's end.
 */
export async function compareImages(a: DiskImage, b: DiskImage, onProgress?: ProgressFn): Promise<CompareResult> {
  const spans = unionSpans(await dataSpans(a), await dataSpans(b));
  const total = spans.reduce((n, s) => n + s.end - s.start, 0);
  const bufA = new Uint8Array(CHUNK);
  const bufB = new Uint8Array(CHUNK);
  const sizeMismatch = a.virtualSize !== b.virtualSize;
  let done = 0;
  for (const { start: pos, end } of chunkSpans(spans, CHUNK)) {
    const n = end - pos;
    const x = bufA.subarray(0, n);
    const y = bufB.subarray(0, n);
    await Promise.all([readOrZero(a, x, pos), readOrZero(b, y, pos)]);
    if (!Buffer.from(x.buffer, 0, n).equals(Buffer.from(y.buffer, 0, n))) {
      return { identical: false, mismatchOffset: pos + firstDifference(x, y), sizeMismatch };
    }
    done += n;
    onProgress?.(done, total);
  }
  return { identical: true, sizeMismatch };
}

/** Opens two images and compares them (`vdisk compare`). */
export async function compare(pathA: string, pathB: string, opts: OpenOptions & { onProgress?: ProgressFn } = {}): Promise<CompareResult> {
  const a = await openImage(pathA, { ...opts, writable: false });
  try {
    const b = await openImage(pathB, { ...opts, snapshot: undefined, writable: false });
    try {
      return await compareImages(a, b, opts.onProgress);
    } finally {
      await b.close();
    }
  } finally {
    await a.close();
  }
}
