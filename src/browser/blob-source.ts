import { DiskImageError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';

/**
 * A Blob (a File the user picked in a browser) as a byte source: each read
 * slices the bytes it needs (`blob.slice(a, b).arrayBuffer()`), so a disk
 * image of any size is never loaded into memory whole.
 */
export class BlobSource implements ByteSource {
  constructor(
    readonly path: string,
    private readonly blob: Blob,
  ) {}

  get size(): number {
    return this.blob.size;
  }

  /** Reads exactly buf.length bytes at `offset`; past the end is `CORRUPT`, a failed read `IO`. */
  async read(buf: Uint8Array, offset: number): Promise<void> {
    if (offset < 0 || offset + buf.length > this.blob.size) {
      throw new DiskImageError('CORRUPT', `${this.path}: read of ${buf.length} bytes at ${offset} is past the end (${this.blob.size} bytes)`, { path: this.path, offset });
    }
    let bytes: ArrayBuffer;
    try {
      bytes = await this.blob.slice(offset, offset + buf.length).arrayBuffer();
    } catch (err) {
      throw new DiskImageError('IO', `${this.path}: reading ${buf.length} bytes at ${offset} failed: ${(err as Error).message}`, { path: this.path, offset });
    }
    buf.set(new Uint8Array(bytes));
  }

  /** Nothing to release: the Blob stays the page's. */
  async close(): Promise<void> {}
}
