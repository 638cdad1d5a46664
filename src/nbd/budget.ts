/**
 * A count of bytes that requests borrow while they are in flight, shared by
 * every connection of a server, so memory stays bounded however many clients
 * pipeline however much. Waiters are served in order; one asking for more
 * than the whole budget gets all of it once everything is back.
 */
export class ByteBudget {
  private available: number;
  private readonly waiters: { n: number; resolve: () => void }[] = [];

  constructor(readonly total: number) {
    this.available = total;
  }

  /** Takes `n` bytes (at most the whole budget), waiting until they are free; resolves to what to give back. */
  async acquire(n: number): Promise<number> {
    const want = Math.min(n, this.total);
    if (this.waiters.length === 0 && this.available >= want) {
      this.available -= want;
      return want;
    }
    await new Promise<void>((resolve) => this.waiters.push({ n: want, resolve }));
    return want;
  }

  /** Gives back what acquire returned, and wakes the waiters it now covers. */
  release(n: number): void {
    this.available += n;
    while (this.waiters.length && this.available >= this.waiters[0]!.n) {
      const w = this.waiters.shift()!;
      this.available -= w.n;
      w.resolve();
    }
  }
}
