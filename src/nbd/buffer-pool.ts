import { alignedBuffer } from '../io/aligned-buffer.js';

/**
 * READ payload buffers kept for reuse, by size. A server streaming reads
 * would otherwise allocate a fresh buffer per request, and the garbage
 * outgrows what is in flight long before the collector runs (one nbdcopy
 * drove the resident size past 180 MiB). Buffers are page-aligned, so the
 * file layer can read uncached ranges into them with O_DIRECT. At most
 * `capacity` bytes are kept; a buffer given back past that is left to the
 * collector.
 */
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private kept = 0;

  constructor(private readonly capacity: number) {}

  /** A buffer of exactly `size` bytes (contents undefined). */
  take(size: number): Buffer {
    const list = this.free.get(size);
    const reused = list?.pop();
    if (reused) {
      this.kept -= size;
      return reused;
    }
    const u8 = alignedBuffer(size);
    return Buffer.from(u8.buffer, u8.byteOffset, u8.length);
  }

  /** Gives back a buffer from take() once nothing refers to it any more. */
  give(buf: Buffer): void {
    if (this.kept + buf.length > this.capacity) return;
    const list = this.free.get(buf.length);
    if (list) list.push(buf);
    else this.free.set(buf.length, [buf]);
    this.kept += buf.length;
  }
}
