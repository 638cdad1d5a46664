import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { streamThrough } from '../engine/stream-copy.js';
import type { ProgressFn } from '../engine/copy.js';
import { DiskImageError } from '../errors.js';
import { DiskFile } from '../io/file.js';
import { formatByName, formats, openImage } from '../formats/registry.js';
import type { DiskImage, OpenOptions } from '../formats/types.js';
import type { ByteSink } from '../formats/sequential.js';
import { CompressPool } from '../util/compress-pool.js';
import type { CompressPoolOptions } from '../util/compressor.js';
import { isAllZero } from '../util/zero.js';
import { outputPlan, type OutputPlan, type OutputRequest } from './output-plan.js';

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

/** Options of a conversion to a pipe: the output (`-O`, `-o`, `--target`, `--keep-uuid`) and how to open the source. */
export interface StreamOptions extends OpenOptions, OutputRequest {
  format?: string;
  onProgress?: ProgressFn;
}

/**
 * Writes the guest view of `src` as `plan` says to `sink`, in file order,
 * through the format's sequential writer (engine/stream-copy.ts), with the
 * worker pool as its compressor. Returns the bytes of data handed over.
 * `path`: the output file's, when it is one.
 */
export async function streamImage(src: DiskImage, plan: OutputPlan, sink: ByteSink, onProgress?: ProgressFn, path?: string): Promise<number> {
  const { format, virtualSize, options, uuid } = plan;
  const { sequentialWriter } = formatByName(format);
  if (!sequentialWriter) throw new DiskImageError('UNSUPPORTED', `${format} cannot be written to a pipe`);
  const compressor = (o: CompressPoolOptions) => new CompressPool(o);
  return streamThrough(src, (spans) => sequentialWriter(sink, { virtualSize, options, uuid, spans, path, compressor }), onProgress);
}

/** Writes SRC (seekable, any format, its whole chain) to a stream in `outputFormat`, in file order (streamImage). */
export async function convertToStream(srcPath: string, stream: Writable, opts: StreamOptions): Promise<void> {
  const src = await openImage(srcPath, { ...opts, writable: false });
  try {
    await imageToStream(src, stream, opts);
  } finally {
    await src.close();
  }
}

/** Writes an opened image (any DiskImage: a chain, a backup snapshot) to a stream in `outputFormat`, in file order (streamImage), and ends the stream. */
export async function imageToStream(src: DiskImage, stream: Writable, opts: StreamOptions): Promise<void> {
  const out = new PipeOut(stream);
  const plan = outputPlan(src.path, src, opts);
  for (const w of plan.warnings) opts.onWarning?.(w);
  await streamImage(src, plan, { write: (buf) => out.put(new Uint8Array(buf)) }, opts.onProgress);
  await out.end();
}

/** The formats stdin can carry, for messages ("-f raw|vhd"). */
export function pipeInputs(): string {
  return `-f ${formats().filter((f) => f.pipeInput).map((f) => f.name).join('|')}`;
}

/**
 * Reads an image from a stream (a format whose bytes come in guest order: `-f raw`, or a fixed VHD: data then footer)
 * into a sparse spool file (all-zero 64 KiB pieces are not written), and
 * returns its path in a new temporary directory under `dir` and a function
 * that removes it.
 */
export async function spoolStream(input: Readable, dir: string, format: string): Promise<{ path: string; remove: () => Promise<void> }> {
  if (!formatByName(format).pipeInput) throw new DiskImageError('USAGE', `stdin can carry ${pipeInputs()}, not ${format}`);
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
