import { DiskImageError } from '../errors.js';
import { alignedBuffer, DIRECT_ALIGN } from '../io/aligned-buffer.js';
import type { DiskImage, WritableDiskImage } from '../formats/types.js';
import { roundUp } from '../util/checked.js';
import { CHUNK, dataChunks, dataTotal, gaps, nonZeroRuns } from './chunks.js';

/** Chunks in flight at once: one being read, one being scanned, one being written. */
const DEPTH = 3;

/** Progress callback: bytes of source data handled so far, of the total to handle. */
export type ProgressFn = (done: number, total: number) => void;

/** Options of a copy. */
export interface CopyOptions {
  onProgress?: ProgressFn;
  signal?: AbortSignal;
  /** Copy only data that comes from layers above this depth (commit: the layers above the base). */
  belowDepth?: number;
  /**
   * The target already holds data: write zeros where the source reads as
   * zeros (zero runs of data chunks, zero extents, and unallocated ranges at
   * the bottom of the chain) instead of skipping them.
   */
  overwrite?: boolean;
  /** Flush the target after about this many bytes (bounds its dirty metadata; each flush is a consistent point). */
  flushEvery?: number;
  /**
   * Buffers to read into, kept between copies: the copy takes its buffers
   * from this list and puts them back when it ends, so a caller that copies
   * many small images (the fuzzer) does not allocate and zero them on every
   * copy. Without it each copy makes its own.
   */
  buffers?: Uint8Array[];
}

/** What a copy did. */
export interface CopyStats {
  /** Bytes of the source that are data (read and scanned). */
  dataBytes: number;
  /** Bytes written to the target (data minus skipped zeros). */
  writtenBytes: number;
}

/**
 * Copies the guest view of `src` into `dst` (new and all-zero unless `overwrite`):
 * only the source's data extents are read, all-zero 64 KiB runs are not
 * written (the target stays sparse), reads and scans overlap with a bounded
 * pool of buffers (each made when first needed and grown, at least doubling,
 * when a chunk does not fit, up to 8 MiB or the guest size: a copy of small
 * extents does not allocate and zero 24 MiB), and writes are issued one
 * chunk at a time in offset order: the target allocates its blocks in
 * order, and writers never contend for the file's lock (parallel writes to
 * one file made the kernel spin on it, measurably slower). Does not flush.
 */
export async function copyImage(src: DiskImage, dst: WritableDiskImage, opts: CopyOptions = {}): Promise<CopyStats> {
  if (dst.virtualSize < src.virtualSize) {
    throw new DiskImageError('USAGE', `target is ${dst.virtualSize} bytes, smaller than the source (${src.virtualSize})`);
  }
  const belowDepth = opts.belowDepth ?? Infinity;
  const overwrite = opts.overwrite === true;
  const total = opts.onProgress ? await dataTotal(src, belowDepth) : 0;
  let sinceFlush = 0;
  const pool = opts.buffers ?? [];
  let made = pool.length;
  const bufferSize = Math.min(CHUNK, roundUp(src.virtualSize, DIRECT_ALIGN));
  const inFlight = new Set<Promise<void>>();
  const stats: CopyStats = { dataBytes: 0, writtenBytes: 0 };
  let written: Promise<void> = Promise.resolve();
  let failure: unknown;

  /** Runs `work` (which awaits `previous` before writing) as a tracked task; failures end the copy. */
  const track = (work: (previous: Promise<void>) => Promise<void>, onDone?: () => void) => {
    const previous = written;
    let markWritten!: () => void;
    written = new Promise((r) => (markWritten = r));
    const task = work(previous)
      .catch((err: unknown) => void (failure ??= err))
      .finally(() => {
        markWritten();
        onDone?.();
      });
    inFlight.add(task);
    void task.then(() => inFlight.delete(task));
  };

  for await (const chunk of dataChunks(src, belowDepth, overwrite)) {
    if (opts.signal?.aborted) throw new DiskImageError('IO', 'interrupted');
    if (failure) break;
    if (chunk.zero) {
      track(async (previous) => {
        await previous;
        await dst.writeZeroes(chunk.offset, chunk.length);
      });
      continue;
    }
    if (pool.length === 0 && made < DEPTH) {
      pool.push(new Uint8Array(0));
      made++;
    }
    while (pool.length === 0) await Promise.race(inFlight);
    if (failure) break;
    if (pool.at(-1)!.length < chunk.length) pool[pool.length - 1] = alignedBuffer(Math.min(bufferSize, roundUp(Math.max(chunk.length, 2 * pool.at(-1)!.length), DIRECT_ALIGN)));
    if (opts.flushEvery && sinceFlush >= opts.flushEvery) {
      await Promise.all(inFlight);
      await dst.flush();
      sinceFlush = 0;
    }
    sinceFlush += chunk.length;
    const buffer = pool.pop()!;
    const buf = buffer.subarray(0, chunk.length);
    track(
      async (previous) => {
        await src.readAt(buf, chunk.offset);
        const runs = nonZeroRuns(buf, chunk.offset);
        await previous;
        const writes = runs.map(([a, b]) => dst.writeAt(buf.subarray(a, b), chunk.offset + a));
        if (overwrite) for (const [a, b] of gaps(runs, buf.length)) writes.push(dst.writeZeroes(chunk.offset + a, b - a));
        await Promise.all(writes);
        stats.dataBytes += chunk.length;
        for (const [a, b] of runs) stats.writtenBytes += b - a;
        opts.onProgress?.(stats.dataBytes, total);
      },
      () => pool.push(buffer),
    );
  }
  await Promise.all(inFlight);
  if (failure) throw failure;
  return stats;
}
