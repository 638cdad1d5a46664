/** Largest number of released buffers kept for reuse. */
const FREE_CAP = 16;

/** Sizes of pooled buffers are rounded up to this, so mutants a little longer or shorter than their seed reuse the same ones. */
const GRAIN = 1024 * 1024;

/**
 * SharedArrayBuffers for mutant files, reused. Posting a mutant to the
 * worker then shares its bytes instead of cloning them, and reusing a
 * buffer whose pages are already mapped avoids the page faults of a new
 * multi-MiB allocation on every mutant: cloning, then a fresh shared
 * allocation, each took most of a mutant's time for VHDX seeds.
 */
export class SharedPool {
  private readonly free: SharedArrayBuffer[] = [];

  /** A view of exactly `length` bytes of a pooled shared buffer; its bytes are whatever the buffer held before. */
  alloc(length: number): Uint8Array {
    const at = this.free.findIndex((b) => b.byteLength >= length && b.byteLength - length < 4 * GRAIN);
    const buffer = at >= 0 ? this.free.splice(at, 1)[0]! : new SharedArrayBuffer(Math.ceil(Math.max(1, length) / GRAIN) * GRAIN);
    return new Uint8Array(buffer, 0, length);
  }

  /** A copy of `bytes` in a pooled shared buffer (its view is exactly `bytes.length` long). */
  copy(bytes: Uint8Array): Uint8Array {
    const view = this.alloc(bytes.length);
    view.set(bytes);
    return view;
  }

  /** Gives back a buffer `copy` returned, once nothing reads it any more. */
  release(bytes: Uint8Array): void {
    if (this.free.length < FREE_CAP && bytes.buffer instanceof SharedArrayBuffer) this.free.push(bytes.buffer);
  }

  /** `files` with every file in shared memory: files already there are kept; the others are copied, and returned in the list of those copies. */
  share(files: Map<string, Uint8Array>): Uint8Array[] {
    const made: Uint8Array[] = [];
    for (const [name, bytes] of files) {
      if (bytes.buffer instanceof SharedArrayBuffer) continue;
      const copy = this.copy(bytes);
      files.set(name, copy);
      made.push(copy);
    }
    return made;
  }
}
