import { DiskImageError } from '../errors.js';
import type { Range } from './byte-source.js';
import type { ImageFile } from './image-file.js';

/** Page size of the sparse store. */
const PAGE = 64 * 1024;

/**
 * A sparse in-memory file: only written 64 KiB pages take memory, the rest
 * reads as zeros. Used to build an image's metadata without a file (streaming
 * output) and in tests.
 */
export class MemoryFile implements ImageFile {
  private readonly pages = new Map<number, Uint8Array>();
  private length = 0;

  constructor(readonly path = '(memory)') {}

  get size(): number {
    return this.length;
  }

  async read(buf: Uint8Array, offset: number): Promise<void> {
    if (offset + buf.length > this.length) {
      throw new DiskImageError('CORRUPT', `${this.path}: read of ${buf.length} bytes at ${offset} ran past the end (${this.length} bytes)`, { offset });
    }
    this.copy(buf, offset, false);
  }

  async write(buf: Uint8Array, offset: number): Promise<void> {
    this.copy(buf, offset, true);
    this.length = Math.max(this.length, offset + buf.length);
  }

  /** Copies between buf and the pages covering [offset, offset+buf.length). */
  private copy(buf: Uint8Array, offset: number, into: boolean): void {
    for (let pos = offset; pos < offset + buf.length; ) {
      const p = Math.floor(pos / PAGE);
      const inPage = pos - p * PAGE;
      const n = Math.min(PAGE - inPage, offset + buf.length - pos);
      let page = this.pages.get(p);
      if (into && !page) this.pages.set(p, (page = new Uint8Array(PAGE)));
      const part = buf.subarray(pos - offset, pos - offset + n);
      if (into) page!.set(part, inPage);
      else if (page) part.set(page.subarray(inPage, inPage + n));
      else part.fill(0);
      pos += n;
    }
  }

  async truncate(size: number): Promise<void> {
    for (const p of [...this.pages.keys()]) if (p * PAGE >= size) this.pages.delete(p);
    const last = this.pages.get(Math.floor(size / PAGE));
    last?.fill(0, size % PAGE);
    this.length = size;
  }

  async sync(): Promise<void> {}

  async dataRanges(offset: number, length: number): Promise<Range[]> {
    const out: Range[] = [];
    const end = Math.min(offset + length, this.length);
    for (const p of [...this.pages.keys()].sort((a, b) => a - b)) {
      const start = Math.max(offset, p * PAGE);
      const stop = Math.min(end, (p + 1) * PAGE);
      if (start >= stop) continue;
      const last = out[out.length - 1];
      if (last && last.offset + last.length === start) last.length += stop - start;
      else out.push({ offset: start, length: stop - start });
    }
    return out;
  }

  async close(): Promise<void> {}

  /** The bytes of [offset, offset+length) (zeros where never written). */
  bytes(offset: number, length: number): Uint8Array {
    const buf = new Uint8Array(length);
    this.copy(buf, offset, false);
    return buf;
  }
}
