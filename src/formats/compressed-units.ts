import { DiskImageError } from '../errors.js';
import type { Compressor, CompressResult } from '../util/compressor.js';
import { isAllZero } from '../util/zero.js';

/**
 * Bytes of units sent to a worker at once (8 units of 64 KiB, about 10 ms
 * of zlib): few enough messages, small batch buffers. 16 units of 64 KiB
 * with three batches per worker in flight peaked 6 MiB higher
 * (docs/bench.md). Larger units go one per batch: eight 2 MiB qcow2
 * clusters a batch took a conversion to 193-205 MiB of RSS.
 */
const BATCH_BYTES = 512 * 1024;

/** Batches compressing or waiting to be written, per worker: one compressing, one waiting, so every core stays busy. */
const IN_FLIGHT_PER_WORKER = 2;

/** What a compressed format does with the stream's output, in file order. */
export interface CompressedUnitTarget {
  /** Writes a batch of compressed units (`units[k]` is the guest unit of `r.units[k]`); the stream reuses `r.out` once this resolves. */
  units(units: number[], r: CompressResult): Promise<void>;
  /** Called once every unit of group `g` has been written (a grain table, an L2 table). */
  groupDone(g: number): Promise<void>;
}

/** What the stream emits, in order: a batch of units, or the end of a group. */
type Item = { kind: 'units'; units: number[]; result: Promise<CompressResult> } | { kind: 'group'; group: number };

/**
 * The guest data of a compressed format, cut into units (a VMDK grain, a
 * qcow2 cluster) and compressed by a worker pool while the target writes
 * earlier ones: data comes in guest order, all-zero units are dropped,
 * units are batched, and batches and group ends reach the target in guest
 * order. Units belong to groups of `groupUnits` (the units one table maps);
 * a group's end comes after its last unit. Memory is a few batch buffers
 * per worker, reused.
 */
export class CompressedUnitStream {
  private readonly items: Item[] = [];
  /** The batch being filled: slot k holds unit `batchUnits[k]`; the slot after them the unit being assembled. */
  private batch: Uint8Array;
  private batchUnits: number[] = [];
  /** Unit in the assembly slot (-1: none yet). */
  private current = -1;
  /** Group of the last unit placed in a batch (-1: none yet). */
  private lastGroup = -1;
  /** Batch buffers written out, to fill again. */
  private readonly spare: Uint8Array[] = [];
  /** Units in a full batch. */
  private readonly batchUnitCount: number;

  constructor(
    private readonly pool: Compressor,
    private readonly unitBytes: number,
    private readonly groupUnits: number,
    private readonly target: CompressedUnitTarget,
  ) {
    this.batchUnitCount = Math.max(1, Math.floor(BATCH_BYTES / unitBytes));
    this.batch = this.newBatch();
  }

  /** Bytes of a batch buffer: its units, with room for them compressed and framed, so results come back in buffers of this size. */
  private get batchBytes(): number {
    return this.pool.batchBytes(this.unitBytes, this.batchUnitCount);
  }

  /** An all-zero batch buffer: a spare one when there is one (nothing is allocated per batch once running). */
  private newBatch(): Uint8Array {
    return this.spare.pop()?.fill(0) ?? new Uint8Array(this.batchBytes);
  }

  /** Guest data at `offset`, after every byte put so far. */
  async put(data: Uint8Array, offset: number): Promise<void> {
    const ub = this.unitBytes;
    for (let at = 0; at < data.length; ) {
      const unit = Math.floor((offset + at) / ub);
      if (unit < this.current) throw new DiskImageError('USAGE', `stream data at ${offset + at} comes after unit ${this.current}: data must come in guest order`, { offset: offset + at });
      if (unit !== this.current) await this.closeUnit(unit);
      const within = offset + at - unit * ub;
      const n = Math.min(data.length - at, ub - within);
      this.batch.set(data.subarray(at, at + n), this.batchUnits.length * ub + within);
      at += n;
    }
  }

  /** Hands everything left to the target: the last batch, the last group's end. */
  async finish(): Promise<void> {
    await this.closeUnit(-1);
    this.submit();
    if (this.lastGroup >= 0) this.items.push({ kind: 'group', group: this.lastGroup });
    await this.drain(0);
  }

  /** Keeps the assembled unit when it holds a non-zero byte (an all-zero one leaves its slot zero for the next), and starts `next`. */
  private async closeUnit(next: number): Promise<void> {
    const ub = this.unitBytes;
    const k = this.batchUnits.length;
    const unit = this.current;
    this.current = next;
    if (unit < 0 || isAllZero(this.batch.subarray(k * ub, (k + 1) * ub))) return;
    const group = Math.floor(unit / this.groupUnits);
    if (group !== this.lastGroup && this.lastGroup >= 0) {
      // The last group's units go out first (the unit just kept moves to a new batch), then its end.
      this.submit();
      this.items.push({ kind: 'group', group: this.lastGroup });
    }
    this.lastGroup = group;
    this.batchUnits.push(unit);
    if (this.batchUnits.length === this.batchUnitCount) this.submit();
    await this.drain(this.pool.size * IN_FLIGHT_PER_WORKER);
  }

  /** Hands the filled slots of the batch to the pool; the assembly slot's bytes move to a new batch. */
  private submit(): void {
    const units = this.batchUnits;
    if (units.length === 0) return;
    const ub = this.unitBytes;
    const full = this.batch;
    this.batch = this.newBatch();
    if (units.length < this.batchUnitCount) this.batch.set(full.subarray(units.length * ub, (units.length + 1) * ub), 0);
    this.batchUnits = [];
    const result = this.pool.run({ data: full, unitBytes: ub, count: units.length });
    this.items.push({ kind: 'units', units, result });
  }

  /** Hands items to the target, oldest first, until at most `keep` are left. */
  private async drain(keep: number): Promise<void> {
    while (this.items.length > keep) {
      const item = this.items.shift()!;
      if (item.kind === 'group') {
        await this.target.groupDone(item.group);
        continue;
      }
      const r = await item.result;
      await this.target.units(item.units, r);
      if (r.out.buffer.byteLength === this.batchBytes && this.spare.length < IN_FLIGHT_PER_WORKER) this.spare.push(new Uint8Array(r.out.buffer));
    }
  }
}
