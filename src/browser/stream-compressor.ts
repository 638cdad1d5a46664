import { DiskImageError } from '../errors.js';
import { compressBound, type CompressJob, type CompressPoolOptions, type CompressResult, type Compressor, type CompressedUnit } from '../util/compressor.js';

/**
 * The browser's compressor: each unit is deflated by the platform's
 * `CompressionStream('deflate')`, which writes a zlib stream (RFC 1950), as
 * a VMDK stream-optimized grain holds it (Virtual Disk Format 1.1,
 * "Stream-Optimized Compressed Sparse Extents"). Only `zlib` is offered: a
 * qcow2 compressed cluster needs DEFLATE with a 4 KiB window (qemu inflates
 * it with windowBits -12, docs/interop/qcow2.txt "Compressed Clusters
 * Descriptor"), which CompressionStream cannot be told to use, and browsers
 * have no zstd encoder. Units are compressed one after another on the
 * calling thread (the page's worker); results are framed as the Node pool
 * frames them (compress-pool.ts).
 */
export class StreamCompressor implements Compressor {
  readonly size = 1;
  private readonly head: number;
  private readonly align: number;

  constructor(private readonly opts: CompressPoolOptions) {
    if (opts.codec !== 'zlib') throw new DiskImageError('UNSUPPORTED', `the page compresses only zlib (VMDK grains); ${opts.codec} output needs the vdisk command`);
    this.head = opts.framing?.head ?? 0;
    this.align = opts.framing?.align ?? 1;
  }

  /** Bytes a batch of `count` units of `unitBytes` needs so that its result fits in a buffer of the same size (each unit at its compressBound, framed). */
  batchBytes(unitBytes: number, count: number): number {
    return count * Math.ceil((this.head + compressBound(unitBytes)) / this.align) * this.align;
  }

  /** Compresses each unit of `job` in turn into one framed buffer. */
  async run(job: CompressJob): Promise<CompressResult> {
    const ub = job.unitBytes;
    const out = new Uint8Array(Math.max(this.batchBytes(ub, job.count), job.data.byteLength));
    const units: CompressedUnit[] = [];
    let at = 0;
    for (let k = 0; k < job.count; k++) {
      const unit = job.data.subarray(k * ub, (k + 1) * ub);
      const packed = await deflate(unit);
      const stored = this.opts.storeFrom !== undefined && this.opts.storeFrom > 0 && packed.length >= this.opts.storeFrom;
      const bytes = stored ? unit : packed;
      out.set(bytes, at + this.head);
      units.push({ at, length: bytes.length, stored });
      at += Math.ceil((this.head + bytes.length) / this.align) * this.align;
    }
    return { out: out.subarray(0, at), units };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** `unit` as one zlib stream. */
async function deflate(unit: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([unit as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
