import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { CHUNK } from '../engine/chunks.js';
import { chunkSpans, type Span } from '../engine/spans.js';
import { nonZeroSpans } from '../engine/scan.js';
import type { ProgressFn } from '../engine/copy.js';
import { DiskImageError } from '../errors.js';
import { DiskFile } from '../io/file.js';
import { MemoryFile } from '../io/memory-file.js';
import { createImage, formatByName, openImage } from '../formats/registry.js';
import type { DiskImage, OpenOptions } from '../formats/types.js';
import { isAllZero, ZERO_MIB } from '../util/zero.js';
import { outputPlan, type OutputRequest } from './output-plan.js';

const PIPE_CLOSED = 'the output pipe was closed before the image was complete (EPIPE)';

/**
 * A writable with backpressure that notices a reader going away: Node's
 * stdout never reports itself destroyed after EPIPE, it emits 'error' and
 * 'close' again on every write, so the first one is remembered here.
 */
class PipeOut {
  private closed = false;

  constructor(private readonly out: Writable) {
    const mark = () => (this.closed = true);
    out.on('error', mark);
    out.on('close', mark);
  }

  /** Writes buf, waiting for the reader when the buffer is full. */
  async put(buf: Uint8Array): Promise<void> {
    if (this.closed || this.out.destroyed) throw new DiskImageError('IO', PIPE_CLOSED);
    if (this.out.write(buf)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.out.off('drain', done);
        this.out.off('close', done);
        this.out.off('error', done);
        resolve();
      };
      this.out.on('drain', done);
      this.out.on('close', done);
      this.out.on('error', done);
    });
    if (this.closed) throw new DiskImageError('IO', PIPE_CLOSED);
  }

  /** Ends the stream once everything is written. */
  end(): Promise<void> {
    if (this.closed) return Promise.reject(new DiskImageError('IO', PIPE_CLOSED));
    return new Promise<void>((resolve, reject) => {
      const fail = () => reject(new DiskImageError('IO', PIPE_CLOSED));
      this.out.once('error', fail);
      this.out.end(() => {
        this.out.off('error', fail);
        resolve();
      });
    });
  }
}

/** Writes `n` zero bytes. */
async function putZeros(out: PipeOut, n: number): Promise<void> {
  for (let left = n; left > 0; left -= ZERO_MIB.length) await out.put(ZERO_MIB.subarray(0, Math.min(ZERO_MIB.length, left)));
}

/** The sorted non-zero spans, handed out range by range as the stream moves forward (each span looked at once or twice). */
class SpanCursor {
  private i = 0;

  constructor(private readonly spans: Span[]) {}

  /** The parts of the spans inside [start, end); ranges must be asked for in increasing order. */
  within(start: number, end: number): Span[] {
    while (this.i < this.spans.length && this.spans[this.i]!.end <= start) this.i++;
    const out: Span[] = [];
    for (let j = this.i; j < this.spans.length && this.spans[j]!.start < end; j++) {
      out.push({ start: Math.max(this.spans[j]!.start, start), end: Math.min(this.spans[j]!.end, end) });
    }
    return out;
  }
}

/** Emits `length` bytes of the guest view at `offset`: data where the spans say, zeros elsewhere (never read). */
async function emitGuest(src: DiskImage, spans: SpanCursor, offset: number, length: number, out: PipeOut, buf: Uint8Array): Promise<number> {
  const end = offset + length;
  let pos = offset;
  let emitted = 0;
  for (const s of [...chunkSpans(spans.within(offset, end), CHUNK), { start: end, end }]) {
    await putZeros(out, s.start - pos);
    if (s.end > s.start) {
      const piece = buf.subarray(0, s.end - s.start);
      await src.readAt(piece, s.start);
      await out.put(new Uint8Array(piece));
      emitted += piece.length;
    }
    pos = Math.max(pos, s.end);
  }
  return emitted;
}

/** Options of a conversion to a pipe: the output (`-O`, `-o`, `--target`, `--keep-uuid`) and how to open the source. */
export interface StreamOptions extends OpenOptions, OutputRequest {
  format?: string;
  onProgress?: ProgressFn;
}

/**
 * Writes SRC (seekable, any format, its whole chain) to a stream in
 * `outputFormat`, in file order: the source's data is scanned for non-zero
 * runs first (as measure does), the metadata is computed from them, then data
 * is read again and emitted block by block. Memory stays bounded.
 */
export async function convertToStream(srcPath: string, stream: Writable, opts: StreamOptions): Promise<void> {
  const out = new PipeOut(stream);
  const src = await openImage(srcPath, { ...opts, writable: false });
  try {
    const { format, virtualSize, options, uuid } = outputPlan(srcPath, src, opts);
    const f = formatByName(format);
    if (!f.streamPlan) throw new DiskImageError('UNSUPPORTED', `${format} cannot be written to a pipe`);
    const spans = await nonZeroSpans(src);
    const file = new MemoryFile();
    const image = await createImage('(stream)', format, { virtualSize, options, uuid, openFile: async () => file });
    const total = spans.reduce((n, s) => n + s.end - s.start, 0);
    const buf = new Uint8Array(CHUNK);
    let done = 0;
    const cursor = new SpanCursor(spans);
    for (const piece of f.streamPlan(image, file, spans)) {
      if ('bytes' in piece) {
        await out.put(piece.bytes);
        continue;
      }
      done += await emitGuest(src, cursor, piece.guest.offset, piece.guest.length, out, buf);
      if (piece.zeroPad) await putZeros(out, piece.zeroPad);
      opts.onProgress?.(done, total);
    }
    await out.end();
  } finally {
    await src.close();
  }
}

/**
 * Reads an image from a stream (`-f raw`, or a fixed VHD: data then footer)
 * into a sparse spool file (all-zero 64 KiB pieces are not written), and
 * returns its path in a new temporary directory under `dir` and a function
 * that removes it.
 */
export async function spoolStream(input: Readable, dir: string, format: string): Promise<{ path: string; remove: () => Promise<void> }> {
  if (format !== 'raw' && format !== 'vhd') throw new DiskImageError('USAGE', `stdin can carry a raw or fixed VHD stream (-f raw|vhd), not ${format}`);
  const tmp = await mkdtemp(join(dir || tmpdir(), '.vdisk-spool-'));
  const remove = () => rm(tmp, { recursive: true, force: true });
  const path = join(tmp, `spool.${format}`);
  const file = await DiskFile.open(path, 'create');
  try {
    let pos = 0;
    for await (const chunk of input as AsyncIterable<Buffer>) {
      for (let i = 0; i < chunk.length; i += 64 * 1024) {
        const piece = chunk.subarray(i, Math.min(chunk.length, i + 64 * 1024));
        if (!isAllZero(piece)) await file.write(piece, pos + i);
      }
      pos += chunk.length;
    }
    await file.truncate(pos);
    await file.sync();
  } catch (err) {
    await file.close();
    await remove();
    throw err;
  }
  await file.close();
  return { path, remove };
}
