import { DiskImageError } from '../../errors.js';
import type { ByteSource } from '../../io/byte-source.js';
import { zeroPastEnd } from '../../io/zero-past-end.js';
import type { Layer, ParentRef, WritableLayer } from '../layer.js';
import { encodeBatEntry } from './bat.js';
import { bitmapEntryIndex, payloadEntryIndex } from './bat-geometry.js';
import { HEADER_OFFSETS, MiB, PayloadState } from './constants.js';
import { encodeHeader } from './header.js';
import type { VhdxLayout } from './layout.js';
import { VhdxLayer } from './reader.js';
import { blockPieces } from '../guest-range.js';
import { randomUuid } from '../../util/uuid.js';
import { setParentLocator } from './relink.js';
import { ZERO_MIB } from '../../util/zero.js';

/**
 * A VHDX open for writing. Metadata changes are ordered, not logged (the
 * log stays empty; docs/formats/vhdx.md): before the first change a new
 * header (fresh FileWriteGuid and DataWriteGuid) goes to the non-current slot
 * with the next sequence number; new blocks and sector bitmap blocks are
 * appended, 1 MiB aligned; `flush` then grows the file over them and fsyncs,
 * and only after that writes the BAT entries (8 bytes each, one sector) and
 * sector bitmap bits that make them visible, and fsyncs again.
 */
export class WritableVhdxLayer extends VhdxLayer implements WritableLayer {
  private nextFree: number;
  private headerUpdate: Promise<void> = Promise.resolve();
  private fileBegun = false;
  private dataBegun = false;
  private readonly nextDataWriteGuid = randomUuid();
  private readonly dirtyEntries = new Set<number>();
  private readonly dirtyBitmaps = new Map<number, Uint8Array>();

  /** The file as blocks are read from it: new blocks may lie past its end until flushed. */
  private readonly grown: ByteSource;

  constructor(path: string, layout: VhdxLayout, parentRef?: ParentRef) {
    super(path, layout, parentRef);
    this.grown = zeroPastEnd(layout.file);
    const { bat, regions, header } = layout;
    let end = Math.max(...regions.all.map((r) => r.offset + r.length), header.logOffset + header.logLength);
    bat.offsetsMb.forEach((mb) => (end = mb > 0 ? Math.max(end, mb * MiB + this.grain) : end));
    bat.bitmapMb.forEach((mb) => (end = mb > 0 ? Math.max(end, (mb + 1) * MiB) : end));
    this.nextFree = Math.ceil(end / MiB) * MiB;
  }

  /** The DataWriteGuid this image takes when its data first changes in this open (children may be pre-linked to it). */
  get upcomingIdentity(): Uint8Array {
    return this.nextDataWriteGuid;
  }

  /**
   * Before the first change of this open, a new header (next sequence number,
   * non-current slot, fsync) with a fresh FileWriteGuid; before the first
   * change of user-visible data, one with the new DataWriteGuid as well
   * (2.2.2: metadata-only changes, such as re-linking a parent, keep the
   * DataWriteGuid, so this image's own children stay linked).
   */
  private begin(data: boolean): Promise<void> {
    if (this.fileBegun && (!data || this.dataBegun)) return this.headerUpdate;
    const newData = data && !this.dataBegun;
    this.fileBegun = true;
    this.dataBegun ||= data;
    this.headerUpdate = this.headerUpdate.then(async () => {
      const h = this.layout.header;
      const fields = { ...h.fields, sequenceNumber: h.sequenceNumber + 1n, fileWriteGuid: randomUuid(), ...(newData && { dataWriteGuid: this.nextDataWriteGuid }) };
      const slot = 1 - h.slot;
      await this.layout.file.write(encodeHeader(fields), HEADER_OFFSETS[slot]!);
      await this.layout.file.sync();
      this.layout.header = { ...h, fields, slot, sequenceNumber: fields.sequenceNumber };
      if (this.layout.file.size > this.nextFree) await this.layout.file.truncate(this.nextFree);
    });
    return this.headerUpdate;
  }

  protected override get dataSource(): ByteSource {
    return this.grown;
  }

  /** The logical sector. */
  get writeUnit(): number {
    return this.layout.metadata.logicalSectorSize;
  }

  protected override blockBitmap(b: number): Promise<Uint8Array> {
    const dirty = this.dirtyBitmaps.get(b);
    return dirty ? Promise.resolve(dirty) : super.blockBitmap(b);
  }

  /** Gives block `b` space at the end of the file; a child also needs its chunk's sector bitmap block. */
  private allocate(b: number): void {
    const { bat } = this.layout;
    const g = bat.geometry;
    // Only a not-present block of a child shows its parent; zero, undefined and unmapped blocks read as
    // zeros, and a new block over them must too: fully present, its unwritten parts zeros in the file.
    const showsParent = this.layout.metadata.hasParent && bat.states[b] === PayloadState.notPresent;
    bat.offsetsMb[b] = this.nextFree / MiB;
    this.nextFree += this.grain;
    bat.states[b] = showsParent ? PayloadState.partiallyPresent : PayloadState.fullyPresent;
    this.dirtyEntries.add(payloadEntryIndex(g, b));
    const c = Math.floor(b / g.chunkRatio);
    if (showsParent && bat.bitmapMb[c] === 0) {
      bat.bitmapMb[c] = this.nextFree / MiB;
      this.nextFree += MiB;
      this.dirtyEntries.add(bitmapEntryIndex(g, c));
    }
  }

  async writeAt(data: Uint8Array, offset: number): Promise<void> {
    await this.begin(true);
    const pieces = blockPieces(offset, data.length, this.grain);
    for (const { block } of pieces) {
      const state = this.layout.bat.states[block];
      if (state !== PayloadState.fullyPresent && state !== PayloadState.partiallyPresent) this.allocate(block);
    }
    await Promise.all(pieces.map((p) => this.writeInBlock(p.block, data.subarray(p.at, p.at + p.length), p.inBlock)));
  }

  private async writeInBlock(b: number, piece: Uint8Array, inBlock: number): Promise<void> {
    if (this.layout.bat.states[b] === PayloadState.partiallyPresent) {
      const bitmap = await this.blockBitmap(b);
      const unit = this.layout.metadata.logicalSectorSize;
      for (let s = inBlock / unit; s < (inBlock + piece.length) / unit; s++) bitmap[s >> 3]! |= 1 << (s & 7);
      this.dirtyBitmaps.set(b, bitmap);
    }
    await this.layout.file.write(piece, this.layout.bat.offsetsMb[b]! * MiB + inBlock);
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    for (let pos = offset; pos < offset + length; ) {
      const b = Math.floor(pos / this.grain);
      const n = Math.min(ZERO_MIB.length, offset + length - pos, (b + 1) * this.grain - pos);
      const state = this.layout.bat.states[b];
      const readsZero = !this.layout.metadata.hasParent && state !== PayloadState.fullyPresent;
      if (!readsZero) await this.writeAt(ZERO_MIB.subarray(0, n), pos);
      pos += n;
    }
  }

  /** See the class comment: data durable first, then the BAT entries and bitmap bits that expose it. */
  async flush(): Promise<void> {
    if (!this.fileBegun) return;
    await this.headerUpdate;
    const file = this.layout.file;
    if (file.size < this.nextFree) await file.truncate(this.nextFree);
    await file.sync();
    const { bat, regions } = this.layout;
    const g = bat.geometry;
    for (const [b, bitmap] of this.dirtyBitmaps) {
      await file.write(bitmap, bat.bitmapMb[Math.floor(b / g.chunkRatio)]! * MiB + (b % g.chunkRatio) * bitmap.length);
    }
    const isBitmapEntry = (i: number) => (i + 1) % (g.chunkRatio + 1) === 0;
    const bitmapEntries = [...this.dirtyEntries].filter(isBitmapEntry);
    for (const i of bitmapEntries) await file.write(encodeBatEntry(6, bat.bitmapMb[(i + 1) / (g.chunkRatio + 1) - 1]!), regions.bat.offset + i * 8);
    // A partially present block must never be visible before its chunk's bitmap block is.
    if (bitmapEntries.length > 0) await file.sync();
    for (const i of this.dirtyEntries) {
      if (isBitmapEntry(i)) continue;
      const b = i - Math.floor(i / (g.chunkRatio + 1));
      await file.write(encodeBatEntry(bat.states[b]!, bat.offsetsMb[b]!), regions.bat.offset + i * 8);
    }
    this.dirtyBitmaps.clear();
    this.dirtyEntries.clear();
    await file.sync();
  }

  /** Points this differencing VHDX at another VHDX parent (rebase, or re-link after commit). */
  async setParent(parent: Layer): Promise<void> {
    await this.relink(parent);
  }

  /** Accepts `identity` (the DataWriteGuid the parent is about to take) as well as the parent's current one. */
  async acceptParentIdentity(identity: Uint8Array, parent: Layer): Promise<void> {
    await this.relink(parent, identity);
  }

  private async relink(parent: Layer, upcoming?: Uint8Array): Promise<void> {
    if (!this.layout.metadata.hasParent) throw new DiskImageError('UNSUPPORTED', `${this.path} is not a differencing VHDX`);
    if (!(parent instanceof VhdxLayer)) throw new DiskImageError('UNSUPPORTED', `a VHDX's parent must be a VHDX, not ${parent.format}`);
    await this.flush();
    await this.begin(false);
    await setParentLocator(this.path, this.layout, parent, upcoming);
  }
}
