import type { Readable } from 'node:stream';

/**
 * Reads exact byte counts from a stream (a socket), pulling chunks only as
 * they are needed, so the stream's own buffering stops the kernel from
 * handing over more while a request waits: memory held is what was asked for
 * plus one chunk.
 */
export class ByteReader {
  private readonly source: AsyncIterator<Buffer>;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;

  constructor(stream: Readable) {
    this.source = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** The next `n` bytes, or undefined when the stream ends (or fails) first. */
  async read(n: number): Promise<Buffer | undefined> {
    while (this.buffered < n) {
      if (!(await this.pull())) return undefined;
    }
    return this.take(n);
  }

  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    try {
      const r = await this.source.next();
      if (r.done) this.ended = true;
      else {
        this.chunks.push(r.value);
        this.buffered += r.value.length;
      }
    } catch {
      this.ended = true;
    }
    return !this.ended;
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let at = 0;
      while (at < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - at);
        c.copy(out, at, 0, k);
        at += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    return out;
  }
}
