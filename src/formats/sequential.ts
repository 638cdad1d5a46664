import { DiskImageError } from '../errors.js';
import type { CompressorFactory } from '../util/compressor.js';
import type { Span } from '../util/spans.js';

/**
 * The sequential side of the contract (docs/architecture.md): a format that
 * can be streamed takes the source's data spans first, then the data in
 * guest order, and emits its file front to back. What it stores for a piece
 * of data (compressed, in a grain or cluster whose size is known only then)
 * and what it writes after the data (tables, a footer) is its own affair.
 */

/** Where a sequential writer's bytes go, in file order (a pipe, a file written front to back). */
export interface ByteSink {
  /** Appends `buf`; the sink is done with it when the promise resolves. */
  write(buf: Uint8Array): Promise<void>;
  /**
   * Overwrites bytes already written at `offset` (a file; a pipe has none):
   * for a format whose first bytes are known only at the end, such as a
   * compressed qcow2's header.
   */
  writeAt?(buf: Uint8Array, offset: number): Promise<void>;
}

/** A ByteSink with the count of bytes appended so far: the file's length once the writer is done. */
export interface AppendSink extends ByteSink {
  readonly size: number;
}

/**
 * A ByteSink over positioned writes into a file that starts empty (`put`):
 * `write` appends, and `writeAt` may rewrite only bytes already appended,
 * as a writer patching its header does. With `keep`, an appended piece for
 * which it answers false is counted but not written: the caller's file
 * reads as zeros there (sparse output).
 */
export function appendSink(put: (buf: Uint8Array, offset: number) => Promise<void> | void, keep?: (buf: Uint8Array) => boolean): AppendSink {
  let size = 0;
  return {
    get size() {
      return size;
    },
    async write(buf) {
      const at = size;
      size += buf.length;
      if (!keep || keep(buf)) await put(buf, at);
    },
    async writeAt(buf, offset) {
      if (offset + buf.length > size) throw new DiskImageError('USAGE', `a sink rewrites only bytes already written (${offset + buf.length} is past ${size})`);
      await put(buf, offset);
    },
  };
}

/** What a sequential writer is told before any data. */
export interface StreamLayout {
  virtualSize: number;
  /** `-o` options of the output. */
  options: Record<string, string>;
  /** The disk's UUID as text (`--keep-uuid`); a new one when absent. */
  uuid?: string;
  /** The source's non-zero runs, sorted and merged: all the data `put` will bring. */
  spans: Span[];
  /** The output's file path when it is a file (formats that record their own file name record its name). */
  path?: string;
  /** What compresses units for compressed output (a worker pool in Node, CompressionStream in a browser). */
  compressor?: CompressorFactory;
}

/** The layout's compressor; UNSUPPORTED when the caller gave none. */
export function compressorOf(l: StreamLayout): CompressorFactory {
  if (!l.compressor) throw new DiskImageError('UNSUPPORTED', 'compressed output needs a compressor, and this caller has none');
  return l.compressor;
}

/** A format writing itself to a sink in file order. */
export interface SequentialWriter {
  /** Guest data at `offset`: pieces come in increasing guest order, each inside the spans announced. */
  put(data: Uint8Array, offset: number): Promise<void>;
  /** Emits whatever follows the last data (padding, tables, a footer). */
  finish(): Promise<void>;
  /** Lets go of what the writer holds (compression workers) when the output is abandoned after a failure. */
  abort?(): Promise<void>;
}
