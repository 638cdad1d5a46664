/**
 * A readers-writer lock: reads of an export run together, while a write,
 * zeroing or flush has the image to itself (a layer allocating a block must
 * not be read half-updated, and a flush covers every write completed before
 * it). Writers queue in order and are not starved: once one waits, new
 * readers wait behind it.
 */
export class RwLock {
  private readers = 0;
  private writing = false;
  private readonly queue: { write: boolean; resolve: () => void }[] = [];

  /** Runs `fn` alongside other readers. */
  async read<T>(fn: () => Promise<T>): Promise<T> {
    if (this.writing || this.queue.length) await new Promise<void>((resolve) => this.queue.push({ write: false, resolve }));
    else this.readers++;
    try {
      return await fn();
    } finally {
      this.readers--;
      this.wake();
    }
  }

  /** Runs `fn` alone. */
  async write<T>(fn: () => Promise<T>): Promise<T> {
    if (this.writing || this.readers || this.queue.length) await new Promise<void>((resolve) => this.queue.push({ write: true, resolve }));
    else this.writing = true;
    try {
      return await fn();
    } finally {
      this.writing = false;
      this.wake();
    }
  }

  /** Lets in the next writer when nothing runs, or every reader at the head of the queue when no writer does. */
  private wake(): void {
    while (this.queue.length && !this.writing) {
      const next = this.queue[0]!;
      if (next.write) {
        if (this.readers) return;
        this.writing = true;
      } else this.readers++;
      this.queue.shift();
      next.resolve();
    }
  }
}
