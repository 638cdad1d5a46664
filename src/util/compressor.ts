/**
 * What a compressing writer needs from whatever compresses its units: the
 * Node worker pool (compress-pool.ts) or the browser's CompressionStream
 * (src/browser/stream-compressor.ts). A format that writes compressed data
 * takes a CompressorFactory from its caller, as a reader takes its
 * decompressor, so the formats stay free of node:worker_threads.
 */

/**
 * How each unit is compressed: `zlib` is a zlib stream (RFC 1950: header,
 * DEFLATE data, Adler-32), as a VMDK stream-optimized grain holds it
 * (Virtual Disk Format 1.1, "Stream-Optimized Compressed Sparse Extents",
 * COMPRESSION_DEFLATE); `deflate-raw` is bare DEFLATE data (RFC 1951) with
 * a 4 KiB window (windowBits 12), as a qcow2 compressed cluster holds it
 * (QEMU docs/interop/qcow2.txt, "Compressed Clusters Descriptor"; qemu
 * compresses with windowBits -12), both at zlib's default level; `zstd` is
 * one Zstandard frame (RFC 8878) per unit at level 3, zstd's default and
 * qemu's, as a qcow2 with compression_type 1 holds it.
 */
export type CompressCodec = 'zlib' | 'deflate-raw' | 'zstd';

/**
 * Room the caller keeps around each compressed unit: `head` bytes before it
 * (zeroed, for the caller's own marker), then the unit, then zeros up to a
 * multiple of `align` bytes from the unit's start. VMDK grains: head 12,
 * align 512; units stored back to back: head 0, align 1.
 */
export interface UnitFraming {
  head: number;
  align: number;
}

/** What a pool compresses with and how it frames units. */
export interface CompressPoolOptions {
  codec: CompressCodec;
  framing?: UnitFraming;
  /** Worker threads; one per core (os.availableParallelism) by default. */
  workers?: number;
  /**
   * A unit that does not compress to fewer bytes than this is copied into
   * the result as it is, flagged `stored` (qcow2 keeps such a cluster
   * uncompressed). Without it every unit comes back compressed.
   */
  storeFrom?: number;
}

/** A batch: `count` units of `unitBytes` each, back to back from `data`'s start. `data`'s buffer is transferred (the caller must not touch it again). */
export interface CompressJob {
  data: Uint8Array;
  unitBytes: number;
  count: number;
}

/** One unit of a result: its framed start within `out` (the head room), and its length after the head: compressed, or the unit's own when `stored`. */
export interface CompressedUnit {
  at: number;
  length: number;
  /** True when the unit did not compress below `storeFrom` and its bytes are the input's, uncompressed. */
  stored: boolean;
}

/** A compressed batch: the framed units back to back in `out`, in the job's order. */
export interface CompressResult {
  out: Uint8Array;
  units: CompressedUnit[];
}

/**
 * The most bytes one unit can compress to, with any zlib parameters: zlib's
 * conservative deflateBound (len + len/8 + len/64 + 5) plus the zlib
 * wrapper's 6 bytes. Incompressible data comes out in stored blocks, a few
 * bytes over its length, far below this.
 */
export function compressBound(unitBytes: number): number {
  return unitBytes + Math.ceil(unitBytes / 8) + Math.ceil(unitBytes / 64) + 11;
}

/** Compresses batches of units; results come back per job, so the caller keeps its own order. */
export interface Compressor {
  /** Jobs it compresses at once (worker threads). */
  readonly size: number;
  /** Bytes a batch of `count` units of `unitBytes` needs so that its result fits in a buffer of the same size. */
  batchBytes(unitBytes: number, count: number): number;
  /** Compresses `job`; `job.data`'s buffer is the compressor's from now on. */
  run(job: CompressJob): Promise<CompressResult>;
  /** Stops compressing and lets go of what it holds (threads). */
  close(): Promise<void>;
}

/** Makes a Compressor for a writer (a format that compresses refuses to write without one). */
export type CompressorFactory = (opts: CompressPoolOptions) => Compressor;
