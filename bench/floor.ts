/**
 * The machine's floors for a conversion (issue 21): how fast this machine can
 * read a source's data and write the same number of bytes, by the fastest
 * ways the bench knows. A conversion cannot beat max(read floor, write floor).
 *
 * Run as a child process, so that libuv's thread pool can be sized for the
 * deepest queue tried (UV_THREADPOOL_SIZE is read when the pool starts):
 *
 *   node dist/bench/floor.js read FILE          every data extent of FILE (SEEK_DATA/SEEK_HOLE), O_DIRECT
 *   node dist/bench/floor.js write DIR BYTES    BYTES to a new file in DIR: O_DIRECT, and buffered then fsync
 *   node dist/bench/floor.js copy FILE DIR      FILE's data extents read and written to a new file in DIR,
 *                                               each lane reading a request (O_DIRECT, or through the page
 *                                               cache after dropping FILE from it) then writing it (O_DIRECT,
 *                                               buffered, or buffered with vdisk's writeback window), fsync
 *
 * The copy floor exists because reads and writes may share one device's
 * bandwidth: on this project's VM, reading 625 MB (0.37 s) while writing as
 * much (0.34 s) took 0.69-0.83 s together, about the sum, so max(read,
 * write) was a floor no tool could reach (docs/bench.md).
 *
 * Each tries several request sizes and queue depths and prints one JSON line:
 * the best seconds, how it was done, and every variant's seconds.
 */
import { closeSync, constants, fdatasync, openSync, read, rmSync, write, fsync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { alignedBuffer, DIRECT_ALIGN } from '../src/io/aligned-buffer.js';
import { DiskFile } from '../src/io/file.js';
import { fileHelper } from '../src/io/native.js';
import { WritebackWindow } from '../src/io/writeback-window.js';
import { dropFromCache } from './page-cache.js';

const MiB = 1024 * 1024;
const readAsync = promisify(read);
const writeAsync = promisify(write);
const fsyncAsync = promisify(fsync);
const fdatasyncAsync = promisify(fdatasync);

/** Request sizes and queue depths tried. */
const REQUEST_SIZES = [2 * MiB, 8 * MiB];
const QUEUE_DEPTHS = [1, 2, 4, 8];

/** How a copy floor reads its source: O_DIRECT, or through the page cache (the source dropped from it first), with the kernel's readahead. */
type FloorReads = 'direct' | 'buffered';

/**
 * The copy floor's variants: request size, lanes, how the source is read
 * and how the target is written. The buffered-read ones are qemu-img's
 * way (strace of `qemu-img convert`: 2 MiB preads and pwrites through the
 * page cache from 8 coroutines in its thread pool, fdatasync at the end),
 * added because qemu-img beat the O_DIRECT-read floors on some pairs.
 */
const COPY_VARIANTS: [number, number, FloorReads, FloorWrites][] = [
  ...[2, 8].flatMap((m) => [2, 4].flatMap((lanes) => (['direct', 'window'] as const).map((w): [number, number, FloorReads, FloorWrites] => [m * MiB, lanes, 'direct', w]))),
  [2 * MiB, 8, 'buffered', 'buffered'],
  [2 * MiB, 8, 'buffered', 'window'],
  [2 * MiB, 4, 'buffered', 'buffered'],
];

/** One measured way of doing the transfer. */
interface Variant {
  how: string;
  seconds: number;
}

/** Byte ranges of the file's data (DiskFile.dataRanges: SEEK_DATA/SEEK_HOLE), widened to O_DIRECT alignment. */
async function dataRanges(path: string): Promise<[number, number][]> {
  const file = await DiskFile.open(path, 'read');
  try {
    const ranges = await file.dataRanges(0, file.size);
    return ranges.map((r) => [Math.floor(r.offset / DIRECT_ALIGN) * DIRECT_ALIGN, Math.ceil((r.offset + r.length) / DIRECT_ALIGN) * DIRECT_ALIGN]);
  } finally {
    await file.close();
  }
}

/** Cuts ranges into requests of at most `size` bytes. */
function requests(ranges: [number, number][], size: number): [number, number][] {
  return ranges.flatMap(([start, end]) => {
    const out: [number, number][] = [];
    for (let at = start; at < end; at += size) out.push([at, Math.min(size, end - at)]);
    return out;
  });
}

/** Runs `work` on every request with `depth` of them in flight, each lane with its own aligned buffer; returns seconds. */
async function inFlight(reqs: [number, number][], depth: number, size: number, work: (buf: Uint8Array, at: number, length: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = process.hrtime.bigint();
  const lane = async (): Promise<void> => {
    const buf = alignedBuffer(size);
    while (next < reqs.length) {
      const [at, length] = reqs[next++]!;
      await work(buf, at, length);
    }
  };
  await Promise.all(Array.from({ length: depth }, lane));
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** The read floor of `path`: its data extents read with O_DIRECT, best of the request sizes and queue depths. */
async function readFloor(path: string): Promise<{ bytes: number; variants: Variant[] }> {
  const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECT);
  try {
    const ranges = await dataRanges(path);
    const bytes = ranges.reduce((n, [s, e]) => n + e - s, 0);
    const variants: Variant[] = [];
    for (const size of REQUEST_SIZES) {
      for (const depth of QUEUE_DEPTHS) {
        const seconds = await inFlight(requests(ranges, size), depth, size, async (buf, at, length) => {
          await readAsync(fd, buf, 0, length, at);
        });
        variants.push({ how: `O_DIRECT read, ${size / MiB} MiB × ${depth} in flight`, seconds });
      }
    }
    return { bytes, variants };
  } finally {
    closeSync(fd);
  }
}

/** What each way of reading and writing is called in a variant's description. */
const HOW_READ: Record<FloorReads, string> = { direct: 'O_DIRECT read', buffered: 'buffered read' };
/** See HOW_READ. */
const HOW_WRITE: Record<FloorWrites, string> = { direct: 'O_DIRECT write', buffered: 'buffered write', window: 'buffered write with writeback window' };

/**
 * The copy floor of `path` into `dir`: each lane reads a request of its data
 * (O_DIRECT, or through the page cache) and writes it at the same offset of
 * a new file (O_DIRECT, buffered, or buffered through a writeback window,
 * src/io/writeback-window.ts), then fsync. Every variant finds the source
 * cold: O_DIRECT reads bypass the cache, and before a buffered-read variant
 * the source is dropped from it.
 */
async function copyFloor(path: string, dir: string): Promise<{ bytes: number; variants: Variant[] }> {
  const direct = openSync(path, constants.O_RDONLY | constants.O_DIRECT);
  const buffered = openSync(path, constants.O_RDONLY);
  const target = join(dir, `floor-copy-${process.pid}.tmp`);
  try {
    const ranges = await dataRanges(path);
    const variants: Variant[] = [];
    for (const [size, depth, reads, writes] of COPY_VARIANTS) {
      if (reads === 'buffered') dropFromCache(path);
      const fd = reads === 'direct' ? direct : buffered;
      const { fd: out, window } = openTarget(target, writes);
      try {
        const t0 = process.hrtime.bigint();
        await inFlight(requests(ranges, size), depth, size, async (buf, at, length) => {
          const { bytesRead } = await readAsync(fd, buf, 0, length, at);
          const written = writes === 'direct' ? Math.ceil(bytesRead / DIRECT_ALIGN) * DIRECT_ALIGN : bytesRead;
          await writeAsync(out, buf, 0, written, at);
          await window?.written({ offset: at, length: written });
        });
        await settle(out, window);
        variants.push({ how: `${HOW_READ[reads]}, ${HOW_WRITE[writes]}, ${size / MiB} MiB × ${depth} lanes, fsync`, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
      } finally {
        closeSync(out);
        rmSync(target, { force: true });
      }
    }
    return { bytes: ranges.reduce((n, [s, e]) => n + e - s, 0), variants };
  } finally {
    closeSync(direct);
    closeSync(buffered);
  }
}

/** How a floor writes its target: O_DIRECT, the page cache alone, or the page cache with vdisk's writeback window. */
type FloorWrites = 'direct' | 'buffered' | 'window';

/** Opens (creates or truncates) a floor's target for writing as `writes` says, with its writeback window under 'window'. */
function openTarget(path: string, writes: FloorWrites): { fd: number; window: WritebackWindow | undefined } {
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | (writes === 'direct' ? constants.O_DIRECT : 0), 0o600);
  return { fd, window: writes === 'window' ? WritebackWindow.for(fd, () => fdatasyncAsync(fd)) : undefined };
}

/** Waits for a target's window, then fsyncs it: the end of every timed write. */
async function settle(fd: number, window: WritebackWindow | undefined): Promise<void> {
  await window?.drain();
  await fsyncAsync(fd);
}

/** Writes `bytes` of non-zero data to a new file in `dir` in requests of `size`, `depth` in flight, then fsync; returns seconds. */
async function timedWrite(dir: string, bytes: number, size: number, depth: number, writes: FloorWrites): Promise<number> {
  const path = join(dir, `floor-write-${process.pid}.tmp`);
  const { fd, window } = openTarget(path, writes);
  try {
    const reqs = requests([[0, Math.ceil(bytes / DIRECT_ALIGN) * DIRECT_ALIGN]], size);
    const t0 = process.hrtime.bigint();
    await inFlight(reqs, depth, size, async (buf, at, length) => {
      buf.fill(0x5a);
      await writeAsync(fd, buf, 0, length, at);
      await window?.written({ offset: at, length });
    });
    await settle(fd, window);
    return Number(process.hrtime.bigint() - t0) / 1e9;
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
}

/** The write floor of `bytes` in `dir`: O_DIRECT at several queue depths, and buffered writes (plain or with the writeback window) then fsync. */
async function writeFloor(dir: string, bytes: number): Promise<{ bytes: number; variants: Variant[] }> {
  const variants: Variant[] = [];
  for (const size of REQUEST_SIZES) {
    for (const depth of [1, 4]) variants.push({ how: `O_DIRECT write, ${size / MiB} MiB × ${depth} in flight, fsync`, seconds: await timedWrite(dir, bytes, size, depth, 'direct') });
    variants.push({ how: `buffered write, ${size / MiB} MiB × 2 in flight, fsync`, seconds: await timedWrite(dir, bytes, size, 2, 'buffered') });
    variants.push({ how: `buffered write with writeback window, ${size / MiB} MiB × 2 in flight, fsync`, seconds: await timedWrite(dir, bytes, size, 2, 'window') });
  }
  return { bytes, variants };
}

async function main(argv: string[]): Promise<void> {
  const [mode, a, b] = argv;
  if (fileHelper.kind !== 'native') throw new Error('floor: the native helper is needed for SEEK_DATA and aligned buffers (npm ci builds it)');
  const result =
    mode === 'read' && a ? await readFloor(a) : mode === 'write' && a && b ? await writeFloor(a, Number(b)) : mode === 'copy' && a && b ? await copyFloor(a, b) : undefined;
  if (!result) throw new Error('usage: floor.js read FILE | floor.js write DIR BYTES | floor.js copy FILE DIR');
  const best = result.variants.reduce((x, y) => (y.seconds < x.seconds ? y : x));
  process.stdout.write(`${JSON.stringify({ bytes: result.bytes, seconds: best.seconds, how: best.how, variants: result.variants })}\n`);
}

await main(process.argv.slice(2));
