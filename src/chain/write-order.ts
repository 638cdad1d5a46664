/** One write in flight: the byte range of the whole write units it touches, and when it is done. */
interface PendingWrite {
  start: number;
  end: number;
  done: Promise<unknown>;
}

/**
 * Orders writes whose write units overlap. A write that is not aligned to
 * its layer's write unit reads the whole unit through the chain, changes its
 * part and writes the unit back; two such writes in one unit at once both
 * read the old unit, and the one that lands last undoes the other. A VDI
 * differencing image (1 MiB units) lost data that way under the copy
 * engine's parallel writes (`convert -n` into a child). Each write waits
 * for the writes issued before it whose units overlap its own, so writes
 * to overlapping units apply in the order they were issued; writes to
 * other units still run at once.
 */
export class WriteOrder {
  private readonly pending: PendingWrite[] = [];

  /** Runs `work` after every earlier write that touches the units [start, end), and before any later one that does. */
  async run<T>(start: number, end: number, work: () => Promise<T>): Promise<T> {
    const before = this.pending.filter((p) => p.start < end && start < p.end).map((p) => p.done);
    const done = (before.length === 0 ? work() : Promise.allSettled(before).then(work));
    const entry: PendingWrite = { start, end, done };
    this.pending.push(entry);
    try {
      return await done;
    } finally {
      this.pending.splice(this.pending.indexOf(entry), 1);
    }
  }
}
