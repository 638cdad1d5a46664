import { requireLocal } from '../io/open-source.js';
import { realpathSync } from 'node:fs';
import type { ProgressFn } from '../engine/copy.js';
import { dataSpans } from '../engine/spans.js';
import { chunkSpans, unionSpans, type Span } from '../util/spans.js';
import { DiskImageError } from '../errors.js';
import { openImage } from '../formats/registry.js';
import type { DiskImage, OpenOptions, WritableDiskImage } from '../formats/types.js';
import { chainPaths } from './output-file.js';

/** Options of `vdisk rebase`. */
export interface RebaseOptions extends OpenOptions {
  /** Only rewrite the parent reference (`-u`); the guest view changes if the parents differ. */
  unsafe?: boolean;
  onProgress?: ProgressFn;
}

/** What a rebase did. */
export interface RebaseResult {
  /** Bytes copied into the child where the old and new backing differ. */
  copiedBytes: number;
}

const CHUNK = 8 * 1024 * 1024;
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

/**
 * Copies into the child every 64 KiB piece where its old and new backing
 * differ and the child holds nothing itself, so its guest view is the same
 * over either backing. Reads only where either backing has data.
 */
async function copyDifferences(child: WritableDiskImage, oldBase: DiskImage, newBase: DiskImage, onProgress?: ProgressFn): Promise<number> {
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
    await Promise.all([oldBase.readAt(a.subarray(0, n), start), newBase.readAt(b.subarray(0, n), start)]);
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

/**
 * Gives CHILD a new parent. Safe mode (default) first copies into the child
 * whatever differs between the old and new backing, flushes, and only then
 * rewrites the parent reference, so the guest view never changes and a crash
 * leaves the child readable over either parent. `unsafe` only rewrites the
 * reference, after checking the new parent's size.
 */
export async function rebase(childPath: string, newBasePath: string, opts: RebaseOptions = {}): Promise<RebaseResult> {
  requireLocal(childPath, 'rebase');
  requireLocal(newBasePath, 'a new base');
  const child = (await openImage(childPath, { ...opts, writable: true })) as WritableDiskImage;
  try {
    if (!child.parent || !child.setParent) throw new DiskImageError('USAGE', `${childPath} is not a differencing image`);
    const newBase = await openImage(newBasePath, { ...opts, writable: false });
    try {
      if (chainPaths(newBase).includes(realpathSync(childPath))) throw new DiskImageError('USAGE', `${newBasePath} is ${childPath} or based on it: that would make a loop`);
      if (newBase.virtualSize !== child.virtualSize) {
        throw new DiskImageError('PARENT', `new parent ${newBasePath} is ${newBase.virtualSize} bytes, the child ${child.virtualSize}`);
      }
      const copiedBytes = opts.unsafe ? 0 : await copyDifferences(child, child.parent, newBase, opts.onProgress);
      await child.flush();
      await child.setParent(newBase);
      return { copiedBytes };
    } finally {
      await newBase.close();
    }
  } finally {
    await child.close();
  }
}
