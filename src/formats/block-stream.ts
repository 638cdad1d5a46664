import { DiskImageError } from '../errors.js';
import { ZERO_MIB } from '../util/zero.js';
import type { ByteSink, SequentialWriter } from './sequential.js';

/** The file layout of a block format written front to back. */
export interface BlockStreamSpec {
  virtualSize: number;
  blockSize: number;
  /** The metadata before the first block. */
  prefix?: Uint8Array;
  /** The guest blocks the file stores, in file order, which is guest order. */
  blocks: number[];
  /** What precedes the `k`th stored block's data (alignment padding, a sector bitmap). */
  blockHead?(k: number): Uint8Array;
  /** The metadata after the last block. */
  suffix?: Uint8Array;
}

/**
 * A sequential writer for layouts whose data blocks follow each other in
 * guest order between fixed metadata (raw, fixed and dynamic VHD, VHDX): the
 * prefix, then each stored block whole (its head, the data put into it and
 * zeros around it, the last one padded to a whole block), then the suffix.
 */
export class BlockStreamWriter implements SequentialWriter {
  /** Index in `spec.blocks` of the block being written, -1 before the first. */
  private k = -1;
  /** Guest offset up to which the current block has been emitted. */
  private pos = 0;

  private constructor(
    private readonly sink: ByteSink,
    private readonly spec: BlockStreamSpec,
  ) {}

  /** Starts a layout on `sink`: emits its prefix. */
  static async start(sink: ByteSink, spec: BlockStreamSpec): Promise<BlockStreamWriter> {
    if (spec.prefix) await sink.write(spec.prefix);
    return new BlockStreamWriter(sink, spec);
  }

  async put(data: Uint8Array, offset: number): Promise<void> {
    const bs = this.spec.blockSize;
    for (let at = 0; at < data.length; ) {
      const guest = offset + at;
      await this.enter(Math.floor(guest / bs));
      if (guest < this.pos) throw new DiskImageError('USAGE', `stream data at ${guest} comes after ${this.pos}: data must come in guest order`, { offset: guest });
      await this.zeros(guest - this.pos);
      const n = Math.min(data.length - at, (Math.floor(guest / bs) + 1) * bs - guest);
      await this.sink.write(data.subarray(at, at + n));
      this.pos = guest + n;
      at += n;
    }
  }

  async finish(): Promise<void> {
    while (this.k < this.spec.blocks.length) await this.next();
    if (this.spec.suffix) await this.sink.write(this.spec.suffix);
  }

  /** Moves on to guest block `b`, which must be a stored block not passed yet. */
  private async enter(b: number): Promise<void> {
    while (this.k < 0 || this.spec.blocks[this.k] !== b) {
      const upcoming = this.spec.blocks[this.k + 1];
      if (upcoming === undefined || upcoming > b) throw new DiskImageError('USAGE', `stream data in block ${b}, which the layout does not store`, { block: b });
      await this.next();
    }
  }

  /** Pads the current block to its end, then emits the next block's head. */
  private async next(): Promise<void> {
    const bs = this.spec.blockSize;
    if (this.k >= 0) await this.zeros((this.spec.blocks[this.k]! + 1) * bs - this.pos);
    this.k++;
    if (this.k >= this.spec.blocks.length) return;
    this.pos = this.spec.blocks[this.k]! * bs;
    const head = this.spec.blockHead?.(this.k);
    if (head && head.length > 0) await this.sink.write(head);
  }

  private async zeros(n: number): Promise<void> {
    for (let left = n; left > 0; left -= ZERO_MIB.length) await this.sink.write(ZERO_MIB.subarray(0, Math.min(ZERO_MIB.length, left)));
  }
}
