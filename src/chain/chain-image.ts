import { DiskImageError, withContext } from '../errors.js';
import { clampRange, fileExtents, mergeExtents } from '../formats/extents.js';
import { assertGuestRange } from '../formats/guest-range.js';
import type { CompressedRun, Layer, Run, StoredRun, WritableLayer } from '../formats/layer.js';
import type { DiskImage, Extent, Finding, ImageInfo, WritableDiskImage } from '../formats/types.js';
import { ZERO_MIB } from '../util/zero.js';
import { WriteOrder } from './write-order.js';

/**
 * Decompresses a compressed run into `out` (chain/decode-unit.ts compressedReader).
 * Passed in rather than imported so that the guest view does not tie every
 * reader to node:zlib: the browser build reads VHD and VHDX, which have no
 * compressed runs, without it.
 */
export type DecodeCompressed = (run: CompressedRun, out: Uint8Array) => Promise<void>;

/**
 * The guest view of a layer over its parent chain, built from the layers'
 * maps: stored runs are read from their source, compressed runs decompressed,
 * zero runs are zeros, and absent runs come from the parent (zeros without
 * one, and past the end of a parent smaller than the child). Every format
 * reads through this one class; none falls through to its parent itself.
 */
export class ChainImage implements DiskImage {
  /** `decode` reads compressed runs; without it, a compressed run is `UNSUPPORTED`. */
  constructor(
    readonly layer: Layer,
    readonly parent?: DiskImage,
    private readonly decode?: DecodeCompressed,
  ) {}

  get format(): string {
    return this.layer.format;
  }

  get path(): string {
    return this.layer.path;
  }

  get virtualSize(): number {
    return this.layer.virtualSize;
  }

  get grain(): number {
    return this.layer.grain;
  }

  get warnings(): string[] {
    return this.layer.warnings;
  }

  /** Reads the guest view; the runs a read spans are read concurrently. */
  async readAt(buf: Uint8Array, offset: number): Promise<void> {
    assertGuestRange('read', offset, buf.length, this.virtualSize);
    const reads: Promise<void>[] = [];
    try {
      for await (const run of this.layer.map({ offset, length: buf.length })) {
        const piece = buf.subarray(run.offset - offset, run.offset - offset + run.length);
        const read = this.readRun(run, piece);
        // Handled here at once: it may fail while later runs are still being mapped.
        read?.catch(() => undefined);
        if (read) reads.push(read);
      }
      await Promise.all(reads);
    } catch (err) {
      throw withContext(err, { path: this.path, offset, operation: 'read' });
    }
  }

  /** Fills `piece` with a run's bytes; a promise when that takes I/O. */
  private readRun(run: Run, piece: Uint8Array): Promise<void> | undefined {
    switch (run.kind) {
      case 'stored':
        return run.source.read(piece, run.at);
      case 'compressed':
        if (!this.decode) throw new DiskImageError('UNSUPPORTED', `${this.path}: compressed data cannot be read in this build`, { path: this.path });
        return this.decode(run, piece);
      case 'zero':
        piece.fill(0);
        return undefined;
      case 'absent':
        return this.readBelow(piece, run.offset);
    }
  }

  /** What shows through where this layer holds nothing: the parent (zeros past its end), or zeros. */
  private readBelow(piece: Uint8Array, offset: number): Promise<void> | undefined {
    const inParent = this.inParent(offset, piece.length);
    piece.fill(0, inParent);
    return inParent > 0 ? this.parent!.readAt(piece.subarray(0, inParent), offset) : undefined;
  }

  extents(range?: { offset: number; length: number }, own = false): AsyncIterable<Extent> {
    return mergeExtents(this.layerExtents(clampRange(this.virtualSize, range), own));
  }

  private async *layerExtents({ start, end }: { start: number; end: number }, own: boolean): AsyncIterable<Extent> {
    if (end <= start) return;
    for await (const run of this.layer.map({ offset: start, length: end - start })) {
      if (run.kind === 'stored' && run.sparse) yield* storedExtents(run);
      else if (run.kind === 'stored' || run.kind === 'compressed') yield { offset: run.offset, length: run.length, kind: 'data', depth: 0 };
      else if (run.kind === 'zero') yield { offset: run.offset, length: run.length, kind: 'zero', depth: 0 };
      else if (this.parent && !own) yield* this.parentExtents(run.offset, run.length);
      else yield { offset: run.offset, length: run.length, kind: 'unallocated', depth: 0 };
    }
  }

  /** The parent's extents over a range, one level deeper; past the parent's end, zeros at its depth. */
  private async *parentExtents(offset: number, length: number): AsyncIterable<Extent> {
    const inParent = this.inParent(offset, length);
    if (inParent > 0) for await (const e of this.parent!.extents({ offset, length: inParent })) yield { ...e, depth: e.depth + 1 };
    if (inParent < length) yield { offset: offset + inParent, length: length - inParent, kind: 'zero', depth: 1 };
  }

  /** How much of [offset, offset+length) lies inside the parent (none without one); the rest reads as zeros. */
  private inParent(offset: number, length: number): number {
    return this.parent ? Math.max(0, Math.min(length, this.parent.virtualSize - offset)) : 0;
  }

  describe(): ImageInfo {
    return { ...this.layer.describe(), backingFile: this.parent?.path };
  }

  check(): Promise<Finding[]> {
    return this.layer.check();
  }

  async close(): Promise<void> {
    await this.layer.close();
    await this.parent?.close();
  }
}

/** Extents of a sparse stored run: data where its source has data, zeros in its holes. */
async function* storedExtents(run: StoredRun): AsyncIterable<Extent> {
  const delta = run.at - run.offset;
  for (const e of await fileExtents(run.source, run.at, run.at + run.length)) yield { ...e, offset: e.offset - delta };
}

/** A writable layer over its chain: unaligned writes are read-modify-written through the chain, the rest goes to the layer. */
export class WritableChainImage extends ChainImage implements WritableDiskImage {
  constructor(
    override readonly layer: WritableLayer,
    parent?: DiskImage,
    decode?: DecodeCompressed,
  ) {
    super(layer, parent, decode);
  }

  get upcomingIdentity(): Uint8Array | undefined {
    return this.layer.upcomingIdentity;
  }

  /** Writes in flight, ordered where their write units overlap (write-order.ts). */
  private readonly order = new WriteOrder();

  /** Runs a write of [offset, offset+length) in order with the others that touch its write units. */
  private ordered(offset: number, length: number, work: () => Promise<void>): Promise<void> {
    const unit = this.layer.writeUnit;
    const start = Math.floor(offset / unit) * unit;
    return this.order.run(start, Math.max(start + 1, Math.ceil((offset + length) / unit) * unit), work);
  }

  /** Writes through the layer; an unaligned write reads its whole units through the chain first. */
  async writeAt(data: Uint8Array, offset: number): Promise<void> {
    assertGuestRange('write', offset, data.length, this.virtualSize);
    return this.ordered(offset, data.length, () => this.writeUnits(data, offset));
  }

  /** writeAt once ordered: the whole units straight to the layer, a partial one read-modify-written. */
  private async writeUnits(data: Uint8Array, offset: number): Promise<void> {
    const unit = this.layer.writeUnit;
    const end = offset + data.length;
    if (offset % unit === 0 && (end % unit === 0 || end === this.virtualSize)) return this.layer.writeAt(data, offset);
    const start = Math.floor(offset / unit) * unit;
    const buf = new Uint8Array(Math.min(this.virtualSize, Math.ceil(end / unit) * unit) - start);
    await this.readAt(buf, start);
    buf.set(data, offset - start);
    await this.layer.writeAt(buf, start);
  }

  /**
   * Zeroes the whole units inside the range through the layer, and the
   * partial units at its ends by writing zeros, unless this layer already
   * reads as zeros there on its own (zero runs, or absent ones without a
   * parent), so no block is allocated for them.
   */
  async writeZeroes(offset: number, length: number): Promise<void> {
    assertGuestRange('write', offset, length, this.virtualSize);
    return this.ordered(offset, length, () => this.zeroUnits(offset, length));
  }

  /** writeZeroes once ordered. */
  private async zeroUnits(offset: number, length: number): Promise<void> {
    const unit = this.layer.writeUnit;
    const end = offset + length;
    const innerStart = Math.min(end, Math.ceil(offset / unit) * unit);
    const innerEnd = end === this.virtualSize ? end : Math.max(innerStart, Math.floor(end / unit) * unit);
    if (innerStart > offset) await this.zeroPartial(offset, innerStart - offset);
    if (innerEnd > innerStart) await this.layer.writeZeroes(innerStart, innerEnd - innerStart);
    if (end > innerEnd) await this.zeroPartial(innerEnd, end - innerEnd);
  }

  /** Writes zeros over part of one unit, unless the layer reads as zeros there on its own. */
  private async zeroPartial(offset: number, length: number): Promise<void> {
    for await (const run of this.layer.map({ offset, length })) {
      if (run.kind === 'zero' || (run.kind === 'absent' && !this.parent)) continue;
      return this.writeUnits(ZERO_MIB.subarray(0, length), offset);
    }
  }

  flush(): Promise<void> {
    return this.layer.flush();
  }

  get setParent(): ((parent: DiskImage) => Promise<void>) | undefined {
    const layer = this.layer;
    return layer.setParent && ((parent) => layer.setParent!(parent.layer));
  }

  get acceptParentIdentity(): ((identity: Uint8Array) => Promise<void>) | undefined {
    const { layer, parent } = this;
    return layer.acceptParentIdentity && parent && ((identity) => layer.acceptParentIdentity!(identity, parent.layer));
  }

  get refreshParentLink(): ((parent: DiskImage) => Promise<void>) | undefined {
    const layer = this.layer;
    return layer.refreshParentLink && ((parent) => layer.refreshParentLink!(parent.layer));
  }
}
