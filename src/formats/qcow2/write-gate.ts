/**
 * Lets many writes run together and a flush run alone: a flush waits for the
 * writes in progress and holds new ones back until it is done, so it never
 * writes an L2 entry whose data write is still under way. Sections must not
 * nest (a shared section waiting behind a flush that waits for it).
 */
export class WriteGate {
  private active = 0;
  private idle?: () => void;
  private closed?: Promise<void>;

  /** Runs `fn` as one of many writes, after any flush in progress. */
  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.closed) await this.closed;
    this.active++;
    try {
      return await fn();
    } finally {
      if (--this.active === 0) this.idle?.();
    }
  }

  /** Runs `fn` alone: after the writes in progress, with new ones held back. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.closed) await this.closed;
    let open!: () => void;
    this.closed = new Promise<void>((r) => (open = r));
    try {
      if (this.active > 0) await new Promise<void>((r) => (this.idle = r));
      this.idle = undefined;
      return await fn();
    } finally {
      this.closed = undefined;
      open();
    }
  }
}
